"""A worker process of a bulk job shared on PostgreSQL (tests/scale/test_postgres_journal.py).

    python tests/scale/pg_worker.py send|reconcile|counts DSN JOB BASE_URL TOKEN COUNT [PER_SECOND]

Sends (or reconciles) the job's COUNT keyed messages through ``PostgresJournal`` against
a served sandbox, and prints one JSON line: the outcomes, ``reconcile_journal``'s
result or the job's counts, or the error that stopped it.
"""

from __future__ import annotations

import collections
import json
import sys
from typing import Any

import anyio

from devsms_async import AsyncDevSMS
from devsms_async.bulk import BulkMessage, JournalError, PostgresJournal


def messages(job: str, count: int) -> list[BulkMessage]:
    return [
        BulkMessage(phone=f"9989{i % 10}{i:07d}", message=f"{job} #{i}", key=f"customer-{i}")
        for i in range(count)
    ]


async def main(mode: str, dsn: str, job: str, base_url: str, token: str, count: int) -> None:
    per_second = float(sys.argv[8]) if len(sys.argv) > 8 else None
    report: dict[str, Any] = {}
    try:
        async with (
            PostgresJournal(dsn, job=job, timeout=5) as journal,
            AsyncDevSMS(token, base_url=base_url) as sms,
        ):
            if mode == "send":
                results = await sms.send_bulk(
                    messages(job, count), journal=journal, per_second=per_second
                )
                report["outcomes"] = dict(collections.Counter(r.outcome.value for r in results))
            elif mode == "reconcile":
                settled = await sms.reconcile_journal(
                    journal, messages(job, count), skew=5, min_age=1.0
                )
                report["reconciled"] = [settled.found, settled.not_sent, settled.in_doubt]
            report["counts"] = await journal.counts()
    except JournalError as exc:
        report["error"] = {"type": "JournalError", "in_doubt": list(exc.in_doubt)}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    mode, dsn, job, base_url, token, count = sys.argv[1:7]
    anyio.run(main, mode, dsn, job, base_url, token, int(count))
