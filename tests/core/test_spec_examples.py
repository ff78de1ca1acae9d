"""Every JSON example of the spec parses, as written, into the right typed values."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import respx

from devsms_async import (
    AsyncDevSMS,
    Balance,
    OtpTemplate,
    ServiceNameRejectedError,
    SmsStatus,
    parse_callback,
)
from devsms_async._converter import TASHKENT
from support import SHARED_SPEC_DIR, SPEC_DIR, TOKEN
from support.spec import (
    BALANCE,
    CALLBACK,
    EXAMPLES,
    HISTORY,
    OTP_BLOCKED,
    OTP_REQUEST,
    OTP_RESPONSE,
    SEND_INTL,
    SEND_UZ,
    STATUS,
)

BASE = "https://devsms.uz/api"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TASHKENT)


def test_the_spec_has_the_nine_examples_we_test() -> None:
    assert len(EXAMPLES) == 9


def test_spec_copy_matches_the_shared_spec() -> None:
    if not SHARED_SPEC_DIR.is_dir():
        pytest.skip("../shared/spec is not beside this checkout")
    for name in ("devsms-api.md", "devsms-api.original-uz.txt"):
        assert (SPEC_DIR / name).read_bytes() == (SHARED_SPEC_DIR / name).read_bytes(), name


async def test_send_uzbek_example(api: respx.MockRouter) -> None:
    api.post("/send_sms.php").respond(200, json=SEND_UZ)
    async with AsyncDevSMS(TOKEN) as sms:
        result = await sms.send_sms("998901234567", "Salom!")
    assert (result.sms_id, result.request_id, result.status) == (123, "uuid-here", SmsStatus.SENT)
    assert (result.parts_count, result.total_cost, result.balance) == (1, 50, 950)
    assert result.type == "eskiz"
    assert result.country is None
    assert result.country_code is None


async def test_send_international_example(api: respx.MockRouter) -> None:
    api.post("/send_sms.php").respond(200, json=SEND_INTL)
    async with AsyncDevSMS(TOKEN) as sms:
        result = await sms.send_sms("12025551234", "Hello from Uzbekistan!")
    assert (result.sms_id, result.total_cost, result.balance) == (124, 112, 838)
    assert (result.country, result.country_code) == ("United States", "us")


async def test_otp_request_example_is_what_send_otp_sends(api: respx.MockRouter) -> None:
    route = api.post("/send_sms.php").respond(200, json=OTP_RESPONSE)
    async with AsyncDevSMS(TOKEN) as sms:
        result = await sms.send_otp(
            OTP_REQUEST["phone"],
            template=OtpTemplate(OTP_REQUEST["template_type"]),
            service_name=OTP_REQUEST["service_name"],
            otp_code=OTP_REQUEST["otp_code"],
        )
    assert json.loads(route.calls.last.request.content) == OTP_REQUEST
    assert (result.sms_id, result.type, result.total_cost) == (456, "universal_otp", 50)


@pytest.mark.parametrize("status_code", [200, 400])
async def test_blocked_otp_example(api: respx.MockRouter, status_code: int) -> None:
    api.post("/send_sms.php").respond(status_code, json=OTP_BLOCKED)
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(ServiceNameRejectedError) as info:
            await sms.send_otp("998901234567", template=1, service_name="Bad", otp_code="5678")
    error = info.value
    assert error.charged is True
    assert error.status_code == status_code
    assert error.error == OTP_BLOCKED["error"]
    assert "charged" in str(error)
    assert "NOT sent" in str(error)


async def test_history_example(api: respx.MockRouter) -> None:
    route = api.get("/get_history.php").respond(200, json=HISTORY)
    async with AsyncDevSMS(TOKEN) as sms:
        page = await sms.get_history(limit=10, offset=0, status="delivered")
    assert dict(route.calls.last.request.url.params) == {
        "limit": "10",
        "offset": "0",
        "status": "delivered",
    }
    assert (page.count, page.limit, page.offset) == (1, 10, 0)
    [record] = page.items
    raw = HISTORY["data"]["history"][0]
    assert record.id == raw["id"] == 123
    assert record.phone_number == "998901234567"
    assert record.message == "Salom!"
    assert record.status is SmsStatus.DELIVERED
    assert (record.parts_count, record.total_cost) == (1, 50)
    assert (record.from_number, record.eskiz_request_id, record.eskiz_message_id) == (
        "4546",
        "uuid-here",
        "msg-id",
    )
    assert record.sent_at == at("2026-03-09 10:30:00")
    assert record.delivered_at == at("2026-03-09 10:30:05")
    assert record.failed_at is None
    assert record.created_at == at("2026-03-09 10:29:58")
    assert record.updated_at is None


async def test_balance_example(api: respx.MockRouter) -> None:
    api.get("/get_balance.php").respond(200, json=BALANCE)
    async with AsyncDevSMS(TOKEN) as sms:
        balance = await sms.get_balance()
    assert isinstance(balance, Balance)
    assert (balance.balance, balance.sms_price) == (1000, 50)
    stats = balance.statistics
    assert (stats.total_sms, stats.total_spent) == (100, 5000)
    assert (stats.today_sms, stats.today_spent) == (10, 500)
    assert (stats.month_sms, stats.month_spent) == (50, 2500)


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({"sms_id": 123}, {"sms_id": "123"}),
        ({"request_id": "uuid-here"}, {"request_id": "uuid-here"}),
    ],
)
async def test_status_example(
    api: respx.MockRouter, kwargs: dict[str, Any], query: dict[str, str]
) -> None:
    route = api.get("/get_status.php").respond(200, json=STATUS)
    async with AsyncDevSMS(TOKEN) as sms:
        record = await sms.get_status(**kwargs)
    assert dict(route.calls.last.request.url.params) == query
    assert record.id == 123
    assert record.status is SmsStatus.DELIVERED
    assert record.updated_at == at("2026-03-09 10:30:05")
    assert record.delivered_at is not None
    assert record.delivered_at.utcoffset() == dt.timedelta(hours=5)


@pytest.mark.parametrize("form", ["bytes", "str", "mapping"])
def test_callback_example(form: str) -> None:
    text = (Path(SPEC_DIR) / "devsms-api.md").read_text(encoding="utf-8")
    block = text.split("```json\n")[-1].split("```")[0]
    payload: Any = {"bytes": block.encode(), "str": block, "mapping": CALLBACK}[form]
    report = parse_callback(payload)
    assert (report.sms_id, report.request_id, report.phone) == (123, "uuid-here", "998901234567")
    assert report.status is SmsStatus.DELIVERED
    assert report.sent_at == at("2026-03-09 10:30:00")
    assert report.delivered_at == at("2026-03-09 10:30:05")
    assert report.failed_at is None
    assert report.timestamp == at("2026-03-09 10:30:05")


async def test_naive_timestamps_when_timezone_is_none(api: respx.MockRouter) -> None:
    api.get("/get_status.php").respond(200, json=STATUS)
    async with AsyncDevSMS(TOKEN, timezone=None) as sms:
        record = await sms.get_status(sms_id=123)
    assert record.created_at == dt.datetime(2026, 3, 9, 10, 29, 58)
    assert record.created_at is not None
    assert record.created_at.tzinfo is None


async def test_other_timezone_is_applied(api: respx.MockRouter) -> None:
    api.get("/get_status.php").respond(200, json=STATUS)
    utc = dt.timezone.utc
    async with AsyncDevSMS(TOKEN, timezone=utc) as sms:
        record = await sms.get_status(sms_id=123)
    assert record.created_at == dt.datetime(2026, 3, 9, 10, 29, 58, tzinfo=utc)
