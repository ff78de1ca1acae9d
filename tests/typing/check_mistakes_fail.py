"""Typos and impossible values fail mypy --strict, on both faces.

Each ``# type: ignore[code]`` below marks a mistake the type checker must catch. mypy's
``warn_unused_ignores`` (part of ``strict``) makes an ignore that is no longer needed
an error, so a change that lets one of these mistakes type-check again fails
``nox -s typecheck``. The correct spellings next to them must type-check as they are.
Run by mypy, never executed.
"""

from __future__ import annotations

from typing_extensions import assert_type

from devsms_async import (
    AsyncDevSMS,
    DevSMS,
    OtpTemplate,
    SendResult,
    SmsIdMissingError,
    SmsStatus,
    SmsType,
    normalize_phone,
)
from devsms_async.contrib.fastapi import DevSMSLifespan
from devsms_async.models import HistoryStatus

PHONE = "998901234567"


async def async_face(sms: AsyncDevSMS) -> None:
    await sms.get_history(status="delivrd")  # type: ignore[arg-type]
    await sms.get_history(status="pending")  # type: ignore[arg-type]
    await sms.get_history(status="delivered")
    await sms.get_history(status=SmsStatus.FAILED)
    sms.iter_history(status="sentt")  # type: ignore[arg-type]
    sms.iter_history_pages(status="fail")  # type: ignore[arg-type]
    sms.iter_history(status="sent")

    await sms.send_otp(PHONE, template=5, service_name="Shop", otp_code="1234")  # type: ignore[arg-type]
    await sms.send_otp(PHONE, template="4", service_name="Shop", otp_code="1234")  # type: ignore[arg-type]
    await sms.send_otp(PHONE, template=4, service_name="Shop", otp_code="1234")
    await sms.send_otp(PHONE, template=OtpTemplate.LOGIN, service_name="Shop", otp_code="1234")

    await sms.send_sms(PHONE, "Salom", type="simpel")  # type: ignore[arg-type]
    await sms.send_sms(PHONE, "Salom", type="universal_otp")  # type: ignore[arg-type]
    await sms.send_sms(PHONE, "Salom", type="simple")
    await sms.send_sms(PHONE, "Salom", type=SmsType.ESKIZ)


def sync_face(sms: DevSMS) -> None:
    sms.get_history(status="delivrd")  # type: ignore[arg-type]
    sms.get_history(status="delivered")
    sms.iter_history(status="sentt")  # type: ignore[arg-type]
    sms.iter_history_pages(status="fail")  # type: ignore[arg-type]
    sms.send_otp(PHONE, template=5, service_name="Shop", otp_code="1234")  # type: ignore[arg-type]
    sms.send_otp(PHONE, template=1, service_name="Shop", otp_code="1234")
    sms.send_sms(PHONE, "Salom", type="simpel")  # type: ignore[arg-type]
    sms.send_sms(PHONE, "Salom", type="eskiz")


def options() -> None:
    AsyncDevSMS("token", timeuot=3)  # type: ignore[call-arg]
    DevSMS("token", sendr="MyShop")  # type: ignore[call-arg]
    AsyncDevSMS("token", timeout=3, sender="MyShop", phone_check="possible")
    AsyncDevSMS("token", phone_check="loose")  # type: ignore[arg-type]
    DevSMS("token", phone_check="valid")

    DevSMSLifespan(sendr="MyShop")  # type: ignore[call-arg]
    DevSMSLifespan(timeuot=3)  # type: ignore[call-arg]
    DevSMSLifespan(sender="MyShop", timeout=3, max_retries="2")  # type: ignore[arg-type]
    DevSMSLifespan(sender="MyShop", timeout=3, max_retries=2, phone_check="possible")

    normalize_phone(PHONE, phone_check="loose")  # type: ignore[arg-type]
    assert_type(normalize_phone("8 90 123 45 67", phone_check="possible"), str)


def statuses(chosen: HistoryStatus) -> None:
    wanted: HistoryStatus = "delivrd"  # type: ignore[assignment]
    del wanted
    with DevSMS("token") as sms:
        sms.get_history(status=chosen)


def the_id_that_is_there(result: SendResult) -> None:
    stored: int = result.sms_id  # type: ignore[assignment]
    del stored
    assert_type(result.require_sms_id(), int)
    try:
        sms_id: int = result.require_sms_id()
    except SmsIdMissingError as exc:
        assert_type(exc.request_id, str | None)
    else:
        print(sms_id + 1)
