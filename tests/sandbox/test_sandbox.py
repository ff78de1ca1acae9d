"""The sandbox in-process: spec shapes, every endpoint and error, money, statuses,
callbacks (into MockTransport/ASGI receivers), faults, the pytest plugin, the docs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from devsms_async import (
    AsyncDevSMS,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    NotFoundError,
    OtpTemplate,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ServiceNameRejectedError,
    SmsStatus,
    ValidationError,
    parse_callback,
)
from devsms_async._converter import TASHKENT
from devsms_async.testing import (
    DEFAULT_TOKEN,
    CallbackOutcome,
    ManualClock,
    Sandbox,
    SandboxTransport,
)
from devsms_async.testing._callbacks import MAX_CONCURRENT_POSTS
from support import SPEC_DIR
from support.spec import (
    BALANCE,
    CALLBACK,
    HISTORY,
    OTP_BLOCKED,
    OTP_RESPONSE,
    SEND_INTL,
    SEND_UZ,
    STATUS,
)

BASE = "https://devsms.uz/api"
UZ = "998901234567"
US = "12025551234"
START = dt.datetime(2026, 3, 9, 10, 30, 0, tzinfo=TASHKENT)
SPEC_UZ = (SPEC_DIR / "devsms-api.original-uz.txt").read_text(encoding="utf-8")
# The original spec's four universal OTP templates, in order.
SPEC_TEMPLATES = [line for line in SPEC_UZ.splitlines() if line.startswith("MyService tizimi:")]


class CallbackSink:
    """Collects callback POSTs through an httpx.MockTransport."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.urls: list[str] = []
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        self.received.append(json.loads(request.content))
        return httpx.Response(self.status, text="ok")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sink() -> CallbackSink:
    return CallbackSink()


@pytest.fixture
def sandbox(clock: ManualClock, sink: CallbackSink) -> Sandbox:
    # The documented shape (money as JSON numbers): these tests hold the sandbox to the
    # spec's examples; tests/core/test_live_shapes.py covers the live flavour (the default).
    return Sandbox(
        clock=clock, balance=10_000, callback_transport=sink.transport, money="documented"
    )


@pytest.fixture
async def sms(sandbox: Sandbox) -> AsyncIterator[AsyncDevSMS]:
    async with sandbox.client() as client:
        yield client


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """Plain httpx against the sandbox: for what the SDK would refuse to send."""
    async with httpx.AsyncClient(
        transport=SandboxTransport(sandbox),
        base_url=BASE,
        headers={"Authorization": f"Bearer {sandbox.token}"},
    ) as client:
        yield client


def ucs2(n: int) -> str:
    return "ж" * n  # Cyrillic: forces UCS-2


# -- the spec's JSON shapes ----------------------------------------------------------------


async def test_send_answers_have_the_spec_shapes(raw: httpx.AsyncClient) -> None:
    uz = (await raw.post("/send_sms.php", json={"phone": UZ, "message": "Salom!"})).json()
    intl = (await raw.post("/send_sms.php", json={"phone": US, "message": "Hi"})).json()
    assert uz.keys() == SEND_UZ.keys()
    assert uz["data"].keys() == SEND_UZ["data"].keys()
    assert uz["message"] == SEND_UZ["message"] == "SMS muvaffaqiyatli yuborildi"
    assert intl["data"].keys() == SEND_INTL["data"].keys()
    assert (intl["data"]["country"], intl["data"]["country_code"]) == ("United States", "us")
    for answer in (uz, intl):
        data = answer["data"]
        assert data["status"] == "sent"
        assert data["type"] == "eskiz"
        assert re.fullmatch(r"[0-9a-f-]{36}", data["request_id"])
        assert all(type(data[k]) is int for k in ("sms_id", "parts_count", "total_cost", "balance"))


async def test_otp_answer_and_blocked_answer_have_the_spec_shapes(
    raw: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    otp = {"phone": UZ, "type": "universal_otp", "template_type": 1, "otp_code": "5678"}
    ok = await raw.post("/send_sms.php", json={**otp, "service_name": "TechShop"})
    assert ok.json()["data"].keys() == OTP_RESPONSE["data"].keys()
    assert ok.json()["data"]["type"] == "universal_otp"
    sandbox.blocked_service_names.add("TechShop")
    blocked = await raw.post("/send_sms.php", json={**otp, "service_name": "TechShop"})
    assert blocked.status_code == 400
    # The provider's text, with the name where the documentation prints "...".
    assert blocked.json() == {
        **OTP_BLOCKED,
        "error": OTP_BLOCKED["error"].replace("...", "TechShop."),
    }


async def test_read_answers_have_the_spec_shapes(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await raw.post(
        "/send_sms.php", json={"phone": UZ, "message": "Salom!", "callback_url": "http://x/cb"}
    )
    await sandbox.advance()
    history = (await raw.get("/get_history.php", params={"limit": 10})).json()
    balance = (await raw.get("/get_balance.php")).json()
    status = (await raw.get("/get_status.php", params={"sms_id": 1})).json()
    assert history.keys() == HISTORY.keys()
    assert history["data"].keys() == HISTORY["data"].keys()
    assert history["data"]["history"][0].keys() == HISTORY["data"]["history"][0].keys()
    assert balance["data"].keys() == BALANCE["data"].keys()
    assert balance["data"]["statistics"].keys() == BALANCE["data"]["statistics"].keys()
    assert status["data"].keys() == STATUS["data"].keys()
    [callback, _] = (a.payload for a in sandbox.callbacks)
    assert callback.keys() == CALLBACK.keys()
    for stamp in ("sent_at", "delivered_at", "created_at", "updated_at"):
        assert status["data"][stamp] == "2026-03-09 10:30:00"
    assert status["data"]["failed_at"] is None


async def test_errors_have_the_spec_shape(raw: httpx.AsyncClient) -> None:
    answers = [
        await raw.get("/get_balance.php", headers={"Authorization": "Bearer nope"}),
        await raw.post("/send_sms.php", json={"phone": UZ}),
        await raw.get("/get_status.php", params={"sms_id": 9}),
        await raw.get("/nothing.php"),
    ]
    assert [a.status_code for a in answers] == [401, 400, 404, 404]
    for answer in answers:
        assert answer.json().keys() == OTP_BLOCKED.keys()
        assert answer.json()["success"] is False
        assert answer.headers["content-type"] == "application/json; charset=utf-8"


# -- every endpoint through the SDK -------------------------------------------------------


async def test_round_trip_of_every_endpoint(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    sent = await sms.send_sms(UZ, "Salom!", sender="MyShop")
    assert (sent.sms_id, sent.status, sent.parts_count, sent.total_cost) == (1, "sent", 1, 50)
    assert sent.balance == 10_000 - 50 == sandbox.balance
    otp = await sms.send_otp(
        UZ, template=OtpTemplate.LOGIN, service_name="TechShop", otp_code="5678"
    )
    assert (otp.sms_id, otp.type) == (2, "universal_otp")

    by_id = await sms.get_status(sms_id=sent.sms_id)
    by_request = await sms.get_status(request_id=sent.request_id)
    assert by_id == by_request
    assert (by_id.id, by_id.phone_number, by_id.message) == (1, UZ, "Salom!")
    assert (by_id.from_number, by_id.eskiz_request_id) == ("MyShop", sent.request_id)
    assert by_id.created_at == by_id.sent_at == by_id.updated_at == START
    assert by_id.eskiz_message_id is not None

    page = await sms.get_history()
    assert [r.id for r in page.items] == [2, 1]
    assert (page.count, page.limit, page.offset) == (2, 50, 0)
    assert page.items[0].from_number == "4546"

    balance = await sms.get_balance()
    assert (balance.balance, balance.sms_price) == (10_000 - 100, 50)
    assert (balance.statistics.total_sms, balance.statistics.total_spent) == (2, 100)
    assert [(r.method, r.endpoint) for r in sandbox.requests] == [
        ("POST", "send_sms.php"),
        ("POST", "send_sms.php"),
        ("GET", "get_status.php"),
        ("GET", "get_status.php"),
        ("GET", "get_history.php"),
        ("GET", "get_balance.php"),
    ]


async def test_requests_are_recorded_with_headers_and_body(
    sms: AsyncDevSMS, sandbox: Sandbox
) -> None:
    await sms.send_sms(UZ, "Salom!", callback_url="https://example.uz/cb")
    [request] = sandbox.requests
    assert request.headers["authorization"] == f"Bearer {sandbox.token}"
    assert request.json == {
        "phone": UZ,
        "message": "Salom!",
        "callback_url": "https://example.uz/cb",
        "type": "eskiz",
    }
    assert (request.status, request.path, dict(request.query)) == (200, "/api/send_sms.php", {})
    assert sandbox.token not in repr(request)
    assert UZ not in repr(request)


async def test_the_host_is_ignored_and_the_default_token_works() -> None:
    sandbox = Sandbox()
    assert sandbox.token == DEFAULT_TOKEN
    async with AsyncDevSMS(
        DEFAULT_TOKEN, base_url="https://other.example/api", transport=sandbox.transport()
    ) as sms:
        assert (await sms.get_balance()).balance == 100_000


# -- errors ---------------------------------------------------------------------------------


async def test_wrong_token_is_a_401_with_the_uzbek_text(sandbox: Sandbox) -> None:
    async with AsyncDevSMS("wrong", transport=sandbox.transport()) as sms:
        with pytest.raises(AuthenticationError) as info:
            await sms.get_balance()
    assert (info.value.status_code, info.value.error) == (401, "Token noto'g'ri")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic c2FuZGJveC10b2tlbg==", "sandbox-token"],
)
async def test_missing_token_is_a_401(sandbox: Sandbox, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE) as client:
        answer = await client.get("/get_balance.php", headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"success": False, "error": "Token topilmadi"}


async def test_bearer_scheme_is_case_insensitive(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    answer = await raw.get("/get_balance.php", headers={"Authorization": f"bearer {sandbox.token}"})
    assert answer.status_code == 200


async def test_unknown_path_and_wrong_method(raw: httpx.AsyncClient) -> None:
    unknown = await raw.get("/send_sms")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Endpoint topilmadi")
    get_send = await raw.get("/send_sms.php")
    assert get_send.status_code == 405
    assert get_send.headers["allow"] == "POST"
    assert get_send.json()["error"] == "Faqat POST so'rov qabul qilinadi"
    post_read = await raw.post("/get_balance.php")
    assert (post_read.status_code, post_read.headers["allow"]) == (405, "GET")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "Noto'g'ri JSON format"),
        (b"[1, 2]", "Noto'g'ri JSON format"),
        (b"", "Noto'g'ri JSON format"),
        ({"message": "Salom"}, "Telefon raqam kiritilmagan"),
        ({"phone": "", "message": "Salom"}, "Telefon raqam kiritilmagan"),
        ({"phone": "+998901234567", "message": "Salom"}, "Telefon raqam noto'g'ri formatda"),
        ({"phone": "0901234567", "message": "Salom"}, "Telefon raqam noto'g'ri formatda"),
        ({"phone": "99890123456", "message": "Salom"}, "Telefon raqam noto'g'ri formatda"),
        ({"phone": "998 90 123 45 67", "message": "Salom"}, "Telefon raqam noto'g'ri formatda"),
        ({"phone": ["998901234567"], "message": "Salom"}, "Telefon raqam noto'g'ri formatda"),
        ({"phone": UZ}, "SMS matni kiritilmagan"),
        ({"phone": UZ, "message": "   "}, "SMS matni kiritilmagan"),
        ({"phone": UZ, "message": "Salom", "type": "fast"}, "Noto'g'ri SMS turi"),
        (
            {"phone": US, "message": "Hi", "type": "simple"},
            "Simple SMS faqat O'zbekiston raqamlariga yuboriladi",
        ),
        ({"phone": "84912345678", "message": "Xin chao"}, "Bu davlatga SMS yuborib bo'lmaydi"),
        ({"phone": UZ, "message": "Salom", "callback_url": "ftp://x/cb"}, "callback_url http://"),
        ({"phone": UZ, "message": "Salom", "callback_url": "http://"}, "callback_url http://"),
        ({"phone": UZ, "message": "Salom", "from": {"a": 1}}, "from noto'g'ri"),
    ],
)
async def test_send_refusals(
    raw: httpx.AsyncClient, sandbox: Sandbox, body: Any, error: str
) -> None:
    if isinstance(body, bytes):
        answer = await raw.post("/send_sms.php", content=body)
    else:
        answer = await raw.post("/send_sms.php", json=body)
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    assert answer.json()["error"].startswith(error)
    assert sandbox.messages == []
    assert sandbox.balance == 10_000


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"template_type": 5}, "template_type 1, 2, 3 yoki 4"),
        ({"template_type": None}, "template_type 1, 2, 3 yoki 4"),
        ({"template_type": True}, "template_type 1, 2, 3 yoki 4"),
        ({"service_name": "T"}, "service_name 2-50 belgi"),
        ({"service_name": "x" * 51}, "service_name 2-50 belgi"),
        ({"service_name": "Tech_Shop"}, "service_name 2-50 belgi"),
        ({"service_name": "Tech!"}, "service_name 2-50 belgi"),
        ({"otp_code": "12a4"}, "otp_code 4-8 ta raqam"),
        ({"otp_code": "123"}, "otp_code 4-8 ta raqam"),
        ({"otp_code": "123456789"}, "otp_code 4-8 ta raqam"),
        ({"otp_code": None}, "otp_code 4-8 ta raqam"),
    ],
)
async def test_otp_refusals(
    raw: httpx.AsyncClient, sandbox: Sandbox, fields: dict[str, Any], error: str
) -> None:
    body = {
        "phone": UZ,
        "type": "universal_otp",
        "template_type": 1,
        "service_name": "TechShop",
        "otp_code": "5678",
        **fields,
    }
    answer = await raw.post("/send_sms.php", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error)
    assert sandbox.balance == 10_000


async def test_php_like_scalars_are_accepted(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    otp = {
        "phone": int(UZ),
        "type": "universal_otp",
        "template_type": "2",
        "service_name": "TechShop",
        "otp_code": 123456,
    }
    answer = await raw.post("/send_sms.php", json=otp)
    assert answer.status_code == 200
    assert sandbox.messages[0].text == SPEC_TEMPLATES[1].format(
        service_name="TechShop", otp_code="123456"
    )
    status = await raw.get("/get_status.php", params={"sms_id": " 1 "})
    assert status.json()["data"]["id"] == 1


async def test_sdk_refuses_simple_abroad_before_sending(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    with pytest.raises(ValidationError):
        await sms.send_sms(US, "Hi", type="simple")
    assert sandbox.requests == []
    sent = await sms.send_sms(UZ, "Salom", type="simple")
    assert (sent.type, sandbox.messages[0].type) == ("simple", "simple")


async def test_status_errors(sms: AsyncDevSMS, raw: httpx.AsyncClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await sms.get_status(sms_id=41)
    assert info.value.error == "SMS topilmadi"
    with pytest.raises(NotFoundError):
        await sms.get_status(request_id="no-such-request")
    for params, error in [
        ({}, "sms_id yoki request_id kiritilmagan"),
        ({"sms_id": ""}, "sms_id yoki request_id kiritilmagan"),
        ({"sms_id": "abc"}, "sms_id musbat butun son bo'lishi kerak"),
        ({"sms_id": "0"}, "sms_id musbat butun son bo'lishi kerak"),
    ]:
        answer = await raw.get("/get_status.php", params=params)
        assert (answer.status_code, answer.json()["error"]) == (400, error), params


async def test_sms_id_wins_over_request_id(raw: httpx.AsyncClient) -> None:
    for text in ("one", "two"):
        await raw.post("/send_sms.php", json={"phone": UZ, "message": text})
    second = (await raw.get("/get_status.php", params={"sms_id": 2})).json()["data"]
    first = (await raw.get("/get_status.php", params={"sms_id": 1})).json()["data"]
    both = await raw.get(
        "/get_status.php", params={"sms_id": 1, "request_id": second["eskiz_request_id"]}
    )
    assert both.json()["data"] == first


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": "0"}, "limit musbat butun son"),
        ({"limit": "-1"}, "limit musbat butun son"),
        ({"limit": "ten"}, "limit musbat butun son"),
        ({"offset": "-1"}, "offset 0 yoki undan katta"),
        ({"offset": "x"}, "offset 0 yoki undan katta"),
        ({"status": "lost"}, "Noto'g'ri status"),
        ({"status": "unknown"}, "Noto'g'ri status"),
    ],
)
async def test_history_refusals(raw: httpx.AsyncClient, params: dict[str, str], error: str) -> None:
    answer = await raw.get("/get_history.php", params=params)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error)


# -- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "text", "parts", "cost"),
    [
        (UZ, "a" * 160, 1, 50),  # GSM-7: 160 in one part
        (UZ, "a" * 161, 2, 100),  # then 153 per part
        (UZ, "a" * 307, 3, 150),
        (UZ, "{" * 80, 1, 50),  # extension characters count twice: 160 septets
        (UZ, "{" * 81, 2, 100),
        (UZ, ucs2(70), 1, 50),  # UCS-2: 70 in one part
        (UZ, ucs2(71), 2, 100),  # then 67 per part
        (US, "Hello from Uzbekistan!", 1, 140),  # the spec's table: United States 140
        (US, "a" * 161, 2, 280),
        ("12423591234", "Hi", 1, 140),  # Bahamas +1242
        ("77011234567", "Salom Qozog'istondan!", 1, 10_398),  # Kazakhstan +77, not Russia +7
        ("79161234567", "Privet iz Uzbekistana!", 1, 10_398),  # Russia
        ("447400123456", "Hi", 1, 933),  # United Kingdom
    ],
)
async def test_charges_parts_times_price(
    sms: AsyncDevSMS, sandbox: Sandbox, phone: str, text: str, parts: int, cost: int
) -> None:
    sandbox.balance = 20_000
    sent = await sms.send_sms(phone, text)
    assert (sent.parts_count, sent.total_cost) == (parts, cost)
    assert sent.balance == sandbox.balance == 20_000 - cost
    assert sandbox.messages[0].parts_count == parts


async def test_foreign_account_prices() -> None:
    sandbox = Sandbox(account="foreign", sms_price=70)
    async with sandbox.client() as sms:
        us = await sms.send_sms(US, "Hi")
        uz = await sms.send_sms(UZ, "Salom")
    assert (us.total_cost, uz.total_cost) == (163, 70)  # foreign column; Uzbek at sms_price
    assert us.country_code == "us"
    assert (uz.country, uz.country_code) == (None, None)


async def test_insufficient_balance(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    sandbox.balance = 99
    with pytest.raises(BadRequestError) as info:
        await sms.send_sms(UZ, "a" * 161)  # 2 parts: 100 so'm
    assert (info.value.status_code, info.value.error) == (400, "Balans yetarli emas")
    assert (sandbox.balance, sandbox.messages) == (99, [])
    sandbox.balance = 49
    with pytest.raises(BadRequestError) as info:
        await sms.send_otp(UZ, template=1, service_name="Casino", otp_code="1234")
    assert info.value.error == "Balans yetarli emas"  # no money: no moderation, no charge
    assert sandbox.balance == 49
    sandbox.balance = 50
    sent = await sms.send_sms(UZ, "exactly enough")
    assert (sent.balance, sandbox.balance) == (0, 0)


async def test_statistics_follow_the_sends(
    sms: AsyncDevSMS, sandbox: Sandbox, clock: ManualClock
) -> None:
    clock.set(dt.datetime(2026, 2, 27, 9, 0))  # last month
    await sms.send_sms(UZ, "a" * 161)  # 100
    clock.set(dt.datetime(2026, 3, 8, 23, 59, 59))  # this month, yesterday
    await sms.send_sms(US, "Hi")  # 140
    clock.set(dt.datetime(2026, 3, 9, 0, 0, 0))  # today
    await sms.send_sms(UZ, "Salom")  # 50
    sandbox.blocked_service_names.add("TechShop")
    with pytest.raises(ServiceNameRejectedError):
        await sms.send_otp(UZ, template=1, service_name="TechShop", otp_code="5678")  # 50
    stats = (await sms.get_balance()).statistics
    assert (stats.total_sms, stats.total_spent) == (4, 340)
    assert (stats.month_sms, stats.month_spent) == (3, 240)
    assert (stats.today_sms, stats.today_spent) == (2, 100)
    assert sandbox.balance == 10_000 - 340
    clock.set(dt.datetime(2026, 4, 1, 8, 0))
    stats = (await sms.get_balance()).statistics
    assert (stats.total_sms, stats.month_sms, stats.today_sms) == (4, 0, 0)


async def test_balance_and_price_are_adjustable(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    sandbox.sms_price = 80
    sandbox.balance = 1_000
    sent = await sms.send_sms(UZ, "Salom")
    balance = await sms.get_balance()
    assert (sent.total_cost, balance.balance, balance.sms_price) == (80, 920, 80)
    with pytest.raises(ValidationError):
        sandbox.balance = -1
    with pytest.raises(ValidationError):
        sandbox.sms_price = 1.5  # type: ignore[assignment]


# -- universal OTP and moderation -----------------------------------------------------------


def test_the_spec_has_four_templates() -> None:
    assert len(SPEC_TEMPLATES) == 4


@pytest.mark.parametrize("template", list(OtpTemplate))
async def test_otp_templates_are_rendered_into_the_message(
    sms: AsyncDevSMS, template: OtpTemplate
) -> None:
    sent = await sms.send_otp(UZ, template=template, service_name="Tech Shop.uz", otp_code="00451")
    record = await sms.get_status(sms_id=sent.sms_id)
    expected = SPEC_TEMPLATES[template - 1].format(service_name="Tech Shop.uz", otp_code="00451")
    assert record.message == expected
    assert record.from_number == "4546"
    assert sent.parts_count == 1
    assert sent.total_cost == 50


async def test_blocked_service_name_is_refused_and_still_charged(
    sms: AsyncDevSMS, sandbox: Sandbox
) -> None:
    with pytest.raises(ServiceNameRejectedError) as info:
        await sms.send_otp(
            UZ,
            template=OtpTemplate.LOGIN,
            service_name="Lucky CASINO",
            otp_code="5678",
            callback_url="https://example.uz/cb",
        )
    assert info.value.status_code == 400
    assert info.value.error == OTP_BLOCKED["error"].replace("...", "Lucky CASINO.")
    assert sandbox.balance == 10_000 - 50
    [stored] = sandbox.messages
    assert stored.blocked
    assert stored.status is SmsStatus.FAILED
    assert (stored.failed_at, stored.sent_at) == (START, None)
    assert stored.text == SPEC_TEMPLATES[3].format(service_name="Lucky CASINO", otp_code="5678")
    # It shows in the history where the money went; it was never sent, so no callback.
    [record] = (await sms.get_history(status="failed")).items
    assert (record.id, record.total_cost, record.status) == (stored.sms_id, 50, SmsStatus.FAILED)
    assert sandbox.pending_callbacks == 0


@pytest.mark.parametrize(
    ("name", "blocked"),
    [
        ("Scam", True),
        ("best scam shop", True),
        ("Scamper", False),
        ("TechShop", False),
        ("kazino-24", True),
        ("BLOCKED", True),
    ],
)
async def test_moderation_matches_whole_words_ignoring_case(
    sms: AsyncDevSMS, sandbox: Sandbox, name: str, blocked: bool
) -> None:
    if blocked:
        with pytest.raises(ServiceNameRejectedError):
            await sms.send_otp(UZ, template=1, service_name=name, otp_code="5678")
    else:
        await sms.send_otp(UZ, template=1, service_name=name, otp_code="5678")
    assert sandbox.messages[0].blocked is blocked
    assert sandbox.balance == 10_000 - 50


async def test_the_moderation_list_is_configurable(sms: AsyncDevSMS) -> None:
    sandbox = Sandbox(blocked_service_names=["Bad Shop"])
    async with sandbox.client() as client:
        await client.send_otp(UZ, template=1, service_name="Casino", otp_code="5678")
        with pytest.raises(ServiceNameRejectedError):
            await client.send_otp(UZ, template=1, service_name="very bad shop", otp_code="5678")
    assert [m.blocked for m in sandbox.messages] == [False, True]


# -- statuses ---------------------------------------------------------------------------------


async def test_status_progression(sms: AsyncDevSMS, sandbox: Sandbox, clock: ManualClock) -> None:
    ok = await sms.send_sms(UZ, "Salom")
    bad = await sms.send_sms("998901230000", "Salom")  # ends in 0000: not delivered
    queued = await sms.send_sms("998901231111", "Salom")  # ends in 1111: waits in the queue
    assert (ok.status, bad.status, queued.status) == ("sent", "sent", "pending")
    assert (await sms.get_status(sms_id=queued.sms_id)).sent_at is None
    assert (await sms.get_status(sms_id=queued.sms_id)).eskiz_message_id is None

    clock.advance(5)
    changed = await sandbox.advance()
    assert [(m.sms_id, m.status) for m in changed] == [(1, "delivered"), (2, "failed"), (3, "sent")]
    delivered = await sms.get_status(sms_id=ok.sms_id)
    failed = await sms.get_status(sms_id=bad.sms_id)
    assert (delivered.status, delivered.delivered_at, delivered.updated_at) == (
        "delivered",
        START + dt.timedelta(seconds=5),
        START + dt.timedelta(seconds=5),
    )
    assert (failed.status, failed.failed_at, failed.delivered_at) == (
        "failed",
        START + dt.timedelta(seconds=5),
        None,
    )
    assert (await sms.get_status(sms_id=queued.sms_id)).sent_at == START + dt.timedelta(seconds=5)

    clock.advance(5)
    assert [m.sms_id for m in await sandbox.advance()] == [3]
    assert (await sms.get_status(sms_id=3)).status == "delivered"
    assert await sandbox.advance() == []  # everything is final


async def test_advance_one_message_and_several_steps(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    await sms.send_sms("998901231111", "a")
    await sms.send_sms("998901231111", "b")
    [moved] = await sandbox.advance(sms_id=2)
    assert (moved.sms_id, moved.status) == (2, "sent")
    assert sandbox.get_message(1).status == "pending"
    changed = await sandbox.advance(steps=2)
    assert {m.sms_id: m.status for m in changed} == {1: "delivered", 2: "delivered"}
    with pytest.raises(ValidationError):
        await sandbox.advance(steps=0)
    with pytest.raises(ValidationError):
        await sandbox.advance(sms_id=99)


async def test_set_status_moves_forward_only(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    await sms.send_sms("998901231111", "Salom", callback_url="https://example.uz/cb")
    message = await sandbox.set_status(1, "failed")  # through sent
    assert (message.status, message.sent_at, message.failed_at) == ("failed", START, START)
    assert [a.status for a in sandbox.callbacks] == ["sent", "failed"]
    with pytest.raises(ValidationError, match="only move forward"):
        await sandbox.set_status(1, SmsStatus.SENT)
    with pytest.raises(ValidationError):
        await sandbox.set_status(1, "lost")
    with pytest.raises(ValidationError):
        await sandbox.set_status(7, "sent")


async def test_history_newest_first_with_paging_and_filter(
    sms: AsyncDevSMS, sandbox: Sandbox
) -> None:
    for i in range(7):
        phone = "998901230000" if i % 3 == 0 else UZ  # ids 1, 4, 7 will fail
        await sms.send_sms(phone, f"message {i + 1}")
    await sandbox.advance(sms_id=1)
    await sandbox.advance(sms_id=2)
    await sandbox.advance(sms_id=4)
    everything = await sms.get_history()
    assert [r.id for r in everything.items] == [7, 6, 5, 4, 3, 2, 1]
    page = await sms.get_history(limit=3, offset=2)
    assert [r.id for r in page.items] == [5, 4, 3]
    assert (page.count, page.limit, page.offset) == (3, 3, 2)
    assert [r.id for r in (await sms.get_history(status="failed")).items] == [4, 1]
    assert [r.id for r in (await sms.get_history(status="delivered")).items] == [2]
    assert [r.id for r in (await sms.get_history(status="sent", limit=2, offset=1)).items] == [6, 5]
    assert (await sms.get_history(offset=7)).items == []
    assert (await sms.get_history(offset=7)).count == 0


async def test_history_limit_is_capped_at_200(raw: httpx.AsyncClient) -> None:
    answer = (await raw.get("/get_history.php", params={"limit": 1000})).json()
    assert answer["data"]["limit"] == 200


# -- callbacks (in-process receivers) ------------------------------------------------------


async def test_callbacks_wait_for_advance_and_go_in_order(
    sms: AsyncDevSMS, sandbox: Sandbox, sink: CallbackSink, clock: ManualClock
) -> None:
    sent = await sms.send_sms(UZ, "Salom", callback_url="https://shop.example/cb?key=s3cret")
    await sms.send_sms(UZ, "no callback")
    assert (sandbox.pending_callbacks, sink.received) == (1, [])  # nothing behind your back
    clock.advance(5)
    await sandbox.advance()
    assert sink.urls == ["https://shop.example/cb?key=s3cret"] * 2
    sent_report, delivered_report = (parse_callback(body) for body in sink.received)
    assert (sent_report.status, delivered_report.status) == ("sent", "delivered")
    assert sent_report.sms_id == delivered_report.sms_id == sent.sms_id
    assert sent_report.request_id == sent.request_id
    assert sent_report.phone == UZ
    assert (sent_report.timestamp, sent_report.sent_at, sent_report.delivered_at) == (
        START,
        START,
        None,
    )
    later = START + dt.timedelta(seconds=5)
    assert (delivered_report.timestamp, delivered_report.delivered_at) == (later, later)
    assert [(a.status, a.outcome, a.status_code) for a in sandbox.callbacks] == [
        ("sent", CallbackOutcome.DELIVERED, 200),
        ("delivered", CallbackOutcome.DELIVERED, 200),
    ]
    assert all(a.delivered and a.error is None for a in sandbox.callbacks)
    assert [a.payload for a in sandbox.callbacks] == sink.received
    assert "s3cret" not in repr(sandbox.callbacks[0])
    assert sandbox.pending_callbacks == 0


async def test_deliver_callbacks_without_advancing(
    sms: AsyncDevSMS, sandbox: Sandbox, sink: CallbackSink
) -> None:
    await sms.send_sms(UZ, "Salom", callback_url="https://shop.example/cb")
    [attempt] = await sandbox.deliver_callbacks()
    assert attempt.status == "sent"
    assert sandbox.get_message(1).status == "sent"
    assert await sandbox.deliver_callbacks() == []
    assert len(sink.received) == 1


async def test_failed_message_reports_failed(
    sms: AsyncDevSMS, sandbox: Sandbox, sink: CallbackSink
) -> None:
    await sms.send_sms("998901230000", "Salom", callback_url="https://shop.example/cb")
    await sandbox.advance()
    report = parse_callback(sink.received[-1])
    assert (report.status, report.failed_at, report.delivered_at) == ("failed", START, None)


async def test_receiver_errors_are_recorded_not_retried(sms: AsyncDevSMS) -> None:
    sink = CallbackSink(status=500)
    sandbox = Sandbox(callback_transport=sink.transport)
    async with sandbox.client() as client:
        await client.send_sms(UZ, "Salom", callback_url="https://shop.example/cb")
    await sandbox.advance()
    assert len(sink.received) == 2  # sent + delivered, each once
    assert [(a.outcome, a.status_code) for a in sandbox.callbacks] == [
        (CallbackOutcome.HTTP_ERROR, 500)
    ] * 2
    assert sandbox.callbacks[0].error == "the receiver answered HTTP 500"


async def test_callbacks_into_an_asgi_app() -> None:
    received: list[dict[str, Any]] = []

    async def app(
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/broken":
            raise RuntimeError("receiver bug")
        received.append({"path": scope["path"], **json.loads(body)})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sandbox = Sandbox(callback_transport=httpx.ASGITransport(app=app))
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Salom", callback_url="http://testserver/sms/callback")
        await sms.send_sms(UZ, "Salom", callback_url="http://testserver/broken")
    await sandbox.advance()
    assert [(r["path"], r["status"]) for r in received] == [
        ("/sms/callback", "sent"),
        ("/sms/callback", "delivered"),
    ]
    broken = [a for a in sandbox.callbacks if a.sms_id == 2]
    assert [a.outcome for a in broken] == [CallbackOutcome.ERROR] * 2
    assert broken[0].error == "RuntimeError: receiver bug"


async def test_callback_transport_is_lent_not_closed() -> None:
    closed = []

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200)

        async def aclose(self) -> None:
            closed.append(True)

    sandbox = Sandbox(callback_transport=Transport())
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "a", callback_url="http://x/cb")
        await sandbox.advance()
        await sms.send_sms(UZ, "b", callback_url="http://x/cb")
        await sandbox.advance()
    assert [a.outcome for a in sandbox.callbacks] == [CallbackOutcome.DELIVERED] * 4
    assert closed == []


async def test_callback_that_cannot_connect_is_refused() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sandbox = Sandbox(callback_transport=httpx.MockTransport(refuse))
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "a", callback_url="http://x/cb")
    [attempt] = await sandbox.deliver_callbacks()
    assert attempt.outcome is CallbackOutcome.REFUSED
    assert attempt.error == "ConnectError: connection refused"


async def test_many_callbacks_go_out_concurrently_within_a_bound() -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200)

    sandbox = Sandbox(callback_transport=httpx.MockTransport(slow))
    async with sandbox.client() as sms:
        for _ in range(25):
            await sms.send_sms(UZ, "Salom", callback_url="http://x/cb")
    await sandbox.advance()
    assert len(sandbox.callbacks) == 50
    assert all(a.delivered for a in sandbox.callbacks)
    # Recorded in the order of the changes: every `sent` (queued by the sends) first.
    order = [(a.sms_id, a.status) for a in sandbox.callbacks]
    assert order == [(i, "sent") for i in range(1, 26)] + [(i, "delivered") for i in range(1, 26)]
    assert peak == MAX_CONCURRENT_POSTS


def test_the_sandbox_is_bound_to_no_event_loop(run: Callable[..., Any]) -> None:
    """Made in sync code, driven from two event loops in turn (asyncio and trio)."""
    got: list[str] = []

    async def receive(request: httpx.Request) -> httpx.Response:
        got.append(json.loads(request.content)["status"])
        return httpx.Response(200)

    sandbox = Sandbox(callback_transport=httpx.MockTransport(receive))

    async def scenario() -> None:
        async with sandbox.client() as sms:
            await sms.send_sms(UZ, "Salom", callback_url="http://x/cb")
        await sandbox.advance()

    run(scenario)
    run(scenario)
    assert got == ["sent", "delivered"] * 2
    assert [m.status for m in sandbox.messages] == ["delivered", "delivered"]


# -- faults ------------------------------------------------------------------------------------


async def test_fail_next_on_reads_is_retried(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    sandbox.fail_next(503, path="get_balance.php", times=2)
    balance = await sms.get_balance()  # max_retries=2: the third try succeeds
    assert balance.balance == 10_000
    assert [r.status for r in sandbox.requests] == [503, 503, 200]


async def test_fail_next_on_a_send(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    sandbox.fail_next(500)
    with pytest.raises(SendOutcomeUnknownError):
        await sms.send_sms(UZ, "Salom")
    assert (sandbox.messages, sandbox.balance) == ([], 10_000)  # it failed before the service
    sandbox.fail_next(502, after_processing=True)
    with pytest.raises(SendOutcomeUnknownError):
        await sms.send_sms(UZ, "Salom")
    assert [m.sms_id for m in sandbox.messages] == [1]  # went out, the answer was lost
    assert sandbox.balance == 10_000 - 50
    assert [r.status for r in sandbox.requests] == [500, 502]


async def test_fail_next_with_a_raw_body_and_headers(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    sandbox.fail_next(200, body="<br />\n<b>Notice</b>: Undefined index", path="get_balance.php")
    with pytest.raises(MalformedResponseError):
        await sms.get_balance()
    async with sandbox.client(max_retries=0) as once:
        sandbox.fail_next(429, headers={"Retry-After": "7"})
        with pytest.raises(RateLimitError) as info:
            await once.get_history()
    assert info.value.retry_after == 7
    assert info.value.error == "Server xatosi"
    sandbox.fail_next(500, error="Ichki xato")
    async with sandbox.client(max_retries=0) as once:
        with pytest.raises(ServerError) as server_error:
            await once.get_balance()
    assert server_error.value.error == "Ichki xato"


async def test_faults_match_their_path_in_order(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.fail_next(500, path="send_sms.php")
    sandbox.fail_next(418, path="/api/get_balance.php")
    assert (await raw.get("/get_history.php")).status_code == 200
    assert (await raw.get("/get_balance.php")).status_code == 418
    assert (await raw.get("/get_balance.php")).status_code == 200
    assert (await raw.post("/send_sms.php", json={})).status_code == 500


async def test_disconnect_before_processing_is_retried_even_for_a_send(
    sms: AsyncDevSMS, sandbox: Sandbox
) -> None:
    sandbox.disconnect_next(path="send_sms.php")
    sent = await sms.send_sms(UZ, "Salom")  # provably never sent: safe to retry
    assert [m.sms_id for m in sandbox.messages] == [sent.sms_id]
    assert [r.status for r in sandbox.requests] == [None, 200]


async def test_disconnect_after_processing_makes_the_outcome_unknown(
    sms: AsyncDevSMS, sandbox: Sandbox
) -> None:
    sandbox.disconnect_next(after_processing=True)
    with pytest.raises(SendOutcomeUnknownError):
        await sms.send_sms(UZ, "Salom")
    assert len(sandbox.messages) == 1
    assert sandbox.balance == 10_000 - 50


def test_fault_arguments_are_checked() -> None:
    sandbox = Sandbox()
    with pytest.raises(ValidationError):
        sandbox.fail_next(99)
    with pytest.raises(ValidationError):
        sandbox.fail_next(500, times=0)
    with pytest.raises(ValidationError):
        sandbox.disconnect_next(times=True)  # type: ignore[arg-type]


# -- the objects themselves ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token": ""}, "token"),
        ({"token": "has space"}, "token"),
        ({"token": 5}, "token"),
        ({"balance": -1}, "balance"),
        ({"sms_price": True}, "sms_price"),
        ({"account": "offshore"}, "account"),
        ({"blocked_service_names": "Casino"}, "blocked_service_names"),
        ({"callback_timeout": 0}, "callback_timeout"),
        ({"first_sms_id": 0}, "first_sms_id"),
    ],
)
def test_constructor_checks(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Sandbox(**kwargs)
    assert info.value.field == field


async def test_first_sms_id_and_lookups(raw: httpx.AsyncClient) -> None:
    sandbox = Sandbox(first_sms_id=1000)
    async with sandbox.client() as sms:
        sent = await sms.send_sms(UZ, "Salom")
    assert sent.sms_id == 1000
    assert sandbox.get_message(request_id=sent.request_id).sms_id == 1000
    with pytest.raises(ValidationError):
        sandbox.get_message(request_id="nope")


def test_manual_clock() -> None:
    clock = ManualClock(dt.datetime(2026, 1, 1, 12, 0))  # naive: Tashkent
    assert clock() == dt.datetime(2026, 1, 1, 12, 0, tzinfo=TASHKENT)
    assert clock.advance(90) == dt.datetime(2026, 1, 1, 12, 1, 30, tzinfo=TASHKENT)
    assert clock.advance(dt.timedelta(hours=1)).hour == 13
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    clock.set(dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.timezone.utc))
    assert clock() == dt.datetime(2026, 1, 1, 12, 0, tzinfo=TASHKENT)
    assert repr(clock) == "ManualClock('2026-01-01 12:00:00')"


async def test_any_clock_is_reported_in_tashkent_time(raw: httpx.AsyncClient) -> None:
    utc = dt.datetime(2026, 3, 9, 19, 30, 15, 999_999, tzinfo=dt.timezone.utc)
    sandbox = Sandbox(clock=lambda: utc)
    async with httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=BASE,
        headers={"Authorization": f"Bearer {sandbox.token}"},
    ) as client:
        await client.post("/send_sms.php", json={"phone": UZ, "message": "Salom"})
        data = (await client.get("/get_status.php", params={"sms_id": 1})).json()["data"]
    assert data["created_at"] == "2026-03-10 00:30:15"  # next day in Tashkent, no fraction


async def test_reprs_hide_secrets(sms: AsyncDevSMS, sandbox: Sandbox) -> None:
    await sms.send_sms(UZ, "my secret text", callback_url="https://x/cb?key=k3y")
    text = (
        repr(sandbox) + repr(sandbox.messages) + repr(sandbox.requests) + repr(sandbox.transport())
    )
    for secret in (sandbox.token, UZ, "my secret text", "k3y"):
        assert secret not in text
    assert "99890***4567" in repr(sandbox.messages[0])


# -- the pytest plugin and the docs ------------------------------------------------------------


def test_the_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "test_user_code.py").write_text(
        textwrap.dedent(
            """
        import pytest

        @pytest.mark.asyncio
        async def test_user_code(devsms_sandbox, devsms_client, devsms_clock):
            sent = await devsms_client.send_sms("998901234567", "Salom!")
            assert (sent.sms_id, sent.total_cost) == (1, 50)
            devsms_clock.advance(5)
            await devsms_sandbox.advance()
            message = devsms_sandbox.get_message(sent.sms_id)
            assert message.status == "delivered"
            assert message.sent_at.isoformat() == "2026-03-09T10:30:00+05:00"
            assert message.delivered_at.isoformat() == "2026-03-09T10:30:05+05:00"

        def test_fresh_sandbox_each_test(devsms_sandbox):
            assert devsms_sandbox.messages == []
            assert devsms_sandbox.balance == 100_000
        """
        )
    )
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-W",
            "error",
            "-p",
            "no:cacheprovider",
            "-p",
            "pytest_asyncio.plugin",
            "-p",
            "devsms_async.testing.pytest_plugin",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_docs_examples_run() -> None:
    """Every ```python block of docs/testing.md runs as written."""
    docs = Path(__file__).parents[2] / "docs" / "testing.md"
    blocks = re.findall(r"```python\n(.*?)```", docs.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 4
    for block in blocks:
        exec(compile(block, str(docs), "exec"), {"__name__": "__main__"})
