"""Values the API does not take are refused on both faces before any request (the types
say so too: tests/typing/check_mistakes_fail.py), and a sent SMS's id has a typed way
out: ``SendResult.require_sms_id()``."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from devsms_async import (
    AsyncDevSMS,
    DevSMS,
    DevSMSError,
    SmsIdMissingError,
    ValidationError,
)
from devsms_async.testing import Sandbox
from support import TOKEN

BASE = "https://devsms.uz/api"
PHONE = "998901234567"

BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("get_history", {"status": "delivrd"}, "status"),
    ("get_history", {"status": "pending"}, "status"),
    ("send_otp", {"template": 5, "service_name": "Shop", "otp_code": "1234"}, "template"),
    ("send_otp", {"template": "4", "service_name": "Shop", "otp_code": "1234"}, "template"),
    ("send_otp", {"template": True, "service_name": "Shop", "otp_code": "1234"}, "template"),
    ("send_sms", {"message": "Salom", "type": "simpel"}, "type"),
    ("send_sms", {"message": "Salom", "type": "universal_otp"}, "type"),
]


def call_args(method: str, kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if method == "get_history":
        return (), kwargs
    if method == "send_sms":
        rest = dict(kwargs)
        return (PHONE, rest.pop("message")), rest
    return (PHONE,), kwargs


@pytest.mark.parametrize(("method", "kwargs", "field"), BAD_CALLS)
async def test_the_async_face_refuses_values_the_api_does_not_take(
    method: str, kwargs: dict[str, Any], field: str
) -> None:
    args, kw = call_args(method, kwargs)
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        route = api.route()
        async with AsyncDevSMS(TOKEN) as sms:
            with pytest.raises(ValidationError) as info:
                await getattr(sms, method)(*args, **kw)
    assert info.value.field == field
    assert route.call_count == 0


@pytest.mark.parametrize(("method", "kwargs", "field"), BAD_CALLS)
def test_the_sync_face_refuses_values_the_api_does_not_take(
    method: str, kwargs: dict[str, Any], field: str
) -> None:
    args, kw = call_args(method, kwargs)
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        route = api.route()
        with DevSMS(TOKEN) as sms, pytest.raises(ValidationError) as info:
            getattr(sms, method)(*args, **kw)
    assert info.value.field == field
    assert route.call_count == 0


async def test_require_sms_id_gives_the_id_of_a_send() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as sms:
        sent = await sms.send_sms(PHONE, "Salom")
        sms_id = sent.require_sms_id()
        record = await sms.get_status(sms_id=sms_id)
    assert type(sms_id) is int
    assert sms_id == sent.sms_id == record.id


def test_require_sms_id_names_what_is_missing_and_how_to_find_it() -> None:
    # The live service may prove a send by its request_id alone.
    answer = {
        "success": True,
        "data": {"request_id": "req-7", "status": "sent", "parts_count": 1,
                 "total_cost": "50.00", "balance": "950.00", "type": "eskiz"},
    }  # fmt: skip
    with respx.mock(base_url=BASE) as api:
        api.post("/send_sms.php").respond(200, json=answer)
        with DevSMS(TOKEN) as sms:
            sent = sms.send_sms(PHONE, "Salom")
    assert sent.sms_id is None
    with pytest.raises(SmsIdMissingError) as info:
        sent.require_sms_id()
    error = info.value
    assert isinstance(error, DevSMSError)
    assert isinstance(error, LookupError)
    assert error.request_id == "req-7"
    assert "no sms_id" in str(error)
    assert "the SMS was sent" in str(error)
    assert "get_status(request_id=" in str(error)
    assert "4567" not in str(error)
