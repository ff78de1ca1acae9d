"""Natural bulk and reconcile code type-checks under mypy --strict:
``ok``/``outcome``/``found`` narrow the result. Run by mypy, never executed."""

from __future__ import annotations

from typing_extensions import assert_type

from devsms_async import AsyncDevSMS, SendOutcomeUnknownError, SendResult, SmsRecord, SmsStatus
from devsms_async.bulk import BulkOutcome, FileJournal


async def check(sms: AsyncDevSMS) -> None:
    results = await sms.send_bulk([("998901234567", "Salom!")])
    for result in results:
        if result.ok:
            assert_type(result.result, SendResult)
            print(result.result.sms_id)
        if result.outcome is BulkOutcome.UNKNOWN:
            assert_type(result.error, SendOutcomeUnknownError)
            found = await sms.reconcile(result.error)
            if found.found:
                assert_type(found.record, SmsRecord)
                assert_type(found.record.status, SmsStatus)
    with FileJournal("job.jsonl") as journal:
        async with sms.stream_bulk([("998901234567", "Salom!")], journal=journal) as stream:
            async for r in stream:
                if r.ok:
                    print(r.result.total_cost)
