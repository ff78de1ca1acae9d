"""Static checks of the public API's types: run by mypy (``nox -s typecheck``), never executed."""

from __future__ import annotations

from typing_extensions import assert_type

from devsms_async import (
    AsyncDevSMS,
    Balance,
    DeliveryReport,
    HistoryPage,
    OtpTemplate,
    SendResult,
    SmsParts,
    SmsRecord,
    SmsStatus,
    count_parts,
    parse_callback,
)
from devsms_async.pricing import CostEstimate, estimate_cost


async def check(sms: AsyncDevSMS) -> None:
    assert_type(await sms.send_sms("998901234567", "Salom!"), SendResult)
    assert_type(
        await sms.send_otp(
            "998901234567", template=OtpTemplate.LOGIN, service_name="Shop", otp_code="1234"
        ),
        SendResult,
    )
    assert_type(await sms.get_history(limit=10, status=SmsStatus.DELIVERED), HistoryPage)
    assert_type(await sms.get_balance(), Balance)
    assert_type(await sms.get_status(sms_id=1), SmsRecord)
    assert_type(parse_callback(b"{}"), DeliveryReport)
    assert_type(count_parts("Salom"), SmsParts)
    assert_type(estimate_cost("998901234567", "Salom"), CostEstimate)
    page = await sms.get_history()
    assert_type(page.items, list[SmsRecord])
    assert_type(page.items[0].status, SmsStatus)


async def check_context_manager() -> None:
    async with AsyncDevSMS("token") as sms:
        assert_type(sms, AsyncDevSMS)
