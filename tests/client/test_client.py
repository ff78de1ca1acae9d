"""Request shapes, lifecycle and error mapping of AsyncDevSMS (respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from devsms_async import (
    APIError,
    AsyncDevSMS,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SmsStatus,
    SmsType,
    UsageError,
)
from devsms_async._version import __version__
from support import TOKEN, spec_json_examples

BASE = "https://devsms.uz/api"
SEND_OK = next(e for e in spec_json_examples() if e.get("data", {}).get("sms_id") == 123)
STATUS_OK = next(e for e in spec_json_examples() if "updated_at" in e.get("data", {}))


def body(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


async def test_send_request_shape(api: respx.MockRouter) -> None:
    route = api.post("/send_sms.php").respond(200, json=SEND_OK)
    async with AsyncDevSMS(TOKEN) as sms:
        await sms.send_sms("+998 90 123 45 67", "Salom!")
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/send_sms.php"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == f"devsms-async/{__version__}"
    assert body(route) == {"phone": "998901234567", "message": "Salom!", "type": "eskiz"}


async def test_send_uses_client_defaults_and_per_call_overrides(api: respx.MockRouter) -> None:
    route = api.post("/send_sms.php").respond(200, json=SEND_OK)
    async with AsyncDevSMS(TOKEN, sender="DevShop", callback_url="https://a.uz/cb") as sms:
        await sms.send_sms("998901234567", "Salom!")
        assert body(route) == {
            "phone": "998901234567",
            "message": "Salom!",
            "from": "DevShop",
            "callback_url": "https://a.uz/cb",
            "type": "eskiz",
        }
        await sms.send_sms(
            "998901234567",
            "Salom!",
            sender="4546",
            callback_url="http://b.uz/cb?secret=1",
            type=SmsType.SIMPLE,
        )
        assert body(route) == {
            "phone": "998901234567",
            "message": "Salom!",
            "from": "4546",
            "callback_url": "http://b.uz/cb?secret=1",
            "type": "simple",
        }


async def sent_text(api: respx.MockRouter, text: str, **options: Any) -> str:
    """The message text the request carried when `text` was sent with `options`."""
    route = api.post("/send_sms.php").respond(200, json=SEND_OK)
    async with AsyncDevSMS(TOKEN) as sms:
        await sms.send_sms("998901234567", text, **options)
    return str(body(route)["message"])


async def test_message_text_is_sent_unchanged(api: respx.MockRouter) -> None:
    text = "  Oʻzbekiston — “salom” 😀\n2-qator  "
    assert await sent_text(api, text) == text


async def test_otp_callback_default_is_applied(api: respx.MockRouter) -> None:
    route = api.post("/send_sms.php").respond(200, json=SEND_OK)
    async with AsyncDevSMS(TOKEN, callback_url="https://a.uz/cb") as sms:
        await sms.send_otp("998901234567", template=4, service_name="Shop", otp_code="12345678")
    assert body(route) == {
        "phone": "998901234567",
        "type": "universal_otp",
        "template_type": 4,
        "service_name": "Shop",
        "otp_code": "12345678",
        "callback_url": "https://a.uz/cb",
    }


async def test_balance_and_history_defaults(api: respx.MockRouter) -> None:
    history = api.get("/get_history.php").respond(
        200, json={"success": True, "data": {"history": [], "count": 0, "limit": 50, "offset": 0}}
    )
    async with AsyncDevSMS(TOKEN) as sms:
        page = await sms.get_history()
    assert dict(history.calls.last.request.url.params) == {"limit": "50", "offset": "0"}
    assert page.items == []


async def test_per_call_timeout_reaches_the_request(api: respx.MockRouter) -> None:
    route = api.get("/get_status.php").respond(200, json=STATUS_OK)
    async with AsyncDevSMS(TOKEN, timeout=7) as sms:
        await sms.get_status(sms_id=1)
        assert route.calls.last.request.extensions["timeout"]["read"] == 7
        await sms.get_status(sms_id=1, timeout=httpx.Timeout(3.0, connect=1.0))
        timeout = route.calls.last.request.extensions["timeout"]
        assert (timeout["connect"], timeout["read"]) == (1.0, 3.0)


async def test_default_timeouts() -> None:
    async with AsyncDevSMS(
        TOKEN, transport=httpx.MockTransport(lambda r: httpx.Response(200))
    ) as sms:
        http = sms._client()
        assert http.timeout == httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)


# -- lifecycle ---------------------------------------------------------------------------


async def test_method_before_entering_is_a_usage_error() -> None:
    sms = AsyncDevSMS(TOKEN)
    with pytest.raises(UsageError, match="async with"):
        await sms.get_balance()


async def test_entering_twice_is_refused() -> None:
    sms = AsyncDevSMS(TOKEN)
    async with sms:
        with pytest.raises(UsageError, match="entered once"):
            await sms.__aenter__()
    with pytest.raises(UsageError, match="closed"):
        async with sms:
            pass


async def test_after_close_methods_fail_clearly_and_the_pool_is_closed() -> None:
    sms = AsyncDevSMS(TOKEN)
    async with sms:
        http = sms._client()
    assert http.is_closed
    assert sms.is_closed
    with pytest.raises(UsageError, match="closed"):
        await sms.get_balance()
    await sms.aclose()  # idempotent


async def test_aclose_without_context_manager_closes() -> None:
    sms = AsyncDevSMS(TOKEN)
    await sms.__aenter__()
    http = sms._client()
    await sms.aclose()
    assert http.is_closed


async def test_user_supplied_client_is_used_and_never_closed(api: respx.MockRouter) -> None:
    route = api.get("/get_status.php").respond(200, json=STATUS_OK)
    async with httpx.AsyncClient(headers={"X-Trace": "1"}) as http:
        async with AsyncDevSMS(TOKEN, http_client=http) as sms:
            await sms.get_status(sms_id=123)
        assert not http.is_closed
        request = route.calls.last.request
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["x-trace"] == "1"


def test_http_client_and_transport_together_are_refused() -> None:
    from devsms_async import ValidationError

    with pytest.raises(ValidationError, match="not both"):
        AsyncDevSMS(TOKEN, http_client=httpx.AsyncClient(), transport=httpx.MockTransport(print))


async def test_transport_seam_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=STATUS_OK)

    async with AsyncDevSMS(TOKEN, transport=httpx.MockTransport(handler)) as sms:
        record = await sms.get_status(request_id="uuid-here")
    assert record.eskiz_request_id == "uuid-here"
    assert [r.url.path for r in seen] == ["/api/get_status.php"]


def test_repr_shows_no_token() -> None:
    sms = AsyncDevSMS(TOKEN)
    assert TOKEN not in repr(sms)
    assert TOKEN not in repr(sms.__dict__)
    assert "state=new" in repr(sms)


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_error_status_codes(
    api: respx.MockRouter, status: int, error_type: type[APIError]
) -> None:
    # A text outside the refusal table: the status alone decides the class.
    route = api.get("/get_balance.php").respond(
        status, json={"success": False, "error": "Xatolik yuz berdi"}
    )
    async with AsyncDevSMS(TOKEN, max_retries=0) as sms:
        with pytest.raises(error_type) as info:
            await sms.get_balance()
    error = info.value
    assert type(error) is error_type
    assert (error.status_code, error.error) == (status, "Xatolik yuz berdi")
    assert (error.method, error.path) == ("GET", "get_balance.php")
    assert "Xatolik yuz berdi" in str(error)
    assert route.call_count == 1


async def test_retry_after_is_parsed_on_rate_limit(api: respx.MockRouter) -> None:
    api.get("/get_balance.php").respond(429, headers={"Retry-After": "7"}, json={})
    async with AsyncDevSMS(TOKEN, max_retries=0) as sms:
        with pytest.raises(RateLimitError) as info:
            await sms.get_balance()
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({**STATUS_OK["data"], "id": "123"}, None),
        ({**STATUS_OK["data"], "total_cost": "50"}, None),
        ({**STATUS_OK["data"], "total_cost": 50.0}, None),
        ({**STATUS_OK["data"], "brand_new_field": [1, 2]}, None),
        ({k: v for k, v in STATUS_OK["data"].items() if k != "id"}, "missing field 'id'"),
        ({**STATUS_OK["data"], "total_cost": "50.00"}, None),
        ({**STATUS_OK["data"], "total_cost": "5E+1"}, None),
        ({**STATUS_OK["data"], "total_cost": "fifty"}, "field 'total_cost': expected an amount"),
        ({**STATUS_OK["data"], "total_cost": True}, "field 'total_cost': expected an amount"),
        ({**STATUS_OK["data"], "total_cost": "NaN"}, "field 'total_cost'"),
        ({**STATUS_OK["data"], "parts_count": "1.5"}, "field 'parts_count': expected a whole"),
        ({**STATUS_OK["data"], "parts_count": True}, "field 'parts_count': expected an integer"),
        ({**STATUS_OK["data"], "message": ["x"]}, "expected a string"),
        ({**STATUS_OK["data"], "sent_at": "yesterday"}, "ValueError"),
        ({**STATUS_OK["data"], "sent_at": 1700000000}, "YYYY-MM-DD"),
        ({**STATUS_OK["data"], "status": None}, "status"),
    ],
)
async def test_structuring_is_lenient_on_form_strict_on_meaning(
    api: respx.MockRouter, data: dict[str, Any], fragment: str | None
) -> None:
    api.get("/get_status.php").respond(200, json={"success": True, "data": data})
    async with AsyncDevSMS(TOKEN) as sms:
        if fragment is None:
            record = await sms.get_status(sms_id=123)
            assert (record.id, record.total_cost) == (123, 50)
            return
        with pytest.raises(MalformedResponseError) as info:
            await sms.get_status(sms_id=123)
    assert fragment in str(info.value)
    assert info.value.status_code == 200


@pytest.mark.parametrize(
    ("raw", "status", "final"),
    [("queued", SmsStatus.UNKNOWN, False), ("DELIVERED", SmsStatus.DELIVERED, True)],
    ids=["unknown_status_keeps_the_raw_value", "status_case_is_normalised_but_raw_kept"],
)
async def test_a_status_is_read_and_its_raw_value_kept(
    api: respx.MockRouter, raw: str, status: SmsStatus, final: bool
) -> None:
    api.get("/get_status.php").respond(
        200, json={"success": True, "data": {**STATUS_OK["data"], "status": raw}}
    )
    async with AsyncDevSMS(TOKEN) as sms:
        record = await sms.get_status(sms_id=123)
    assert record.status is status
    assert record.status_raw == raw
    assert record.status.is_final is final


def test_model_reprs_mask_phone_and_text() -> None:
    from devsms_async._converter import structure
    from devsms_async.models import BulkMessage, SmsRecord

    record = structure(STATUS_OK["data"], SmsRecord)
    text = repr(record)
    assert "998901234567" not in text
    assert "99890***4567" in text
    assert "Salom!" not in text
    assert "<6 chars>" in text
    assert "998901234567" not in repr(BulkMessage(phone="998901234567", message="kod 5678"))
    assert "5678" not in repr(BulkMessage(phone="998901234567", message="kod 5678"))


@pytest.mark.parametrize("status", [301, 302, 307])
async def test_redirects_are_not_followed(api: respx.MockRouter, status: int) -> None:
    api.get("/get_balance.php").respond(status, headers={"Location": "https://evil.example/x"})
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(MalformedResponseError, match="redirect") as info:
            await sms.get_balance()
    assert info.value.status_code == status
    assert len(api.calls) == 1


async def test_normalize_is_opt_in(api: respx.MockRouter) -> None:
    text = "Oʻzbekiston gʻalabasi ‘bugun’ ʼ`"
    assert await sent_text(api, text) == text
    assert await sent_text(api, text, normalize=True) == "O'zbekiston g'alabasi 'bugun' ''"
