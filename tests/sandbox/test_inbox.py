"""The sandbox's web inbox: its JSON API and static files (in-process, and over a real
server on 127.0.0.1 for the long poll and the routing). The page itself is driven in a
real browser in tests/sandbox/test_inbox_browser.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from devsms_async import APIConnectionError, ServerError
from devsms_async.testing import ManualClock, Sandbox, serve_sandbox
from devsms_async.testing._inbox import Inbox

TOKEN = "inbox-T0ken-SECRET"
UZ = "998901234567"
HOST = (("host", "127.0.0.1:8000"),)
CHANGE = (*HOST, ("x-devsms-inbox", "1"), ("content-type", "application/json"))


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    inbox: Inbox,
    method: str,
    target: str,
    body: Any = None,
    headers: tuple[tuple[str, str], ...] | None = None,
) -> Answer:
    if headers is None:
        headers = HOST if method in ("GET", "HEAD") else CHANGE
    raw = b"" if body is None else json.dumps(body).encode()
    reply = await inbox.handle(method, target, headers, raw)
    return Answer(reply.status, dict(reply.headers), reply.body)


async def state(inbox: Inbox, query: str = "") -> dict[str, Any]:
    answer = await call(inbox, "GET", "/inbox/api/state" + query)
    assert answer.status == 200, answer.body
    data: dict[str, Any] = answer.json
    return data


class Receiver:
    """An in-process callback receiver (an httpx transport) answering ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(json.loads(request.content))
        return httpx.Response(self.status)


def make(**options: Any) -> tuple[Sandbox, Inbox, Receiver]:
    receiver = Receiver(options.pop("status", 200))
    sandbox = Sandbox(TOKEN, clock=ManualClock(), callback_transport=httpx.MockTransport(receiver))
    return sandbox, Inbox(sandbox, **options), receiver


# -- what the page shows ---------------------------------------------------------------------


async def test_state_shows_every_sms_newest_first_as_the_phone_and_the_bill_see_it() -> None:
    sandbox, inbox, _ = make()
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Salom!")
        await sms.send_sms("998935550000", "Oʻzbekiston: " + "x" * 60, sender="MyShop")

    data = await state(inbox)

    assert [m["sms_id"] for m in data["messages"]] == [2, 1]
    assert (data["total"], data["matched"], data["balance"]) == (2, 2, str(sandbox.balance))
    assert data["requests"] == 2
    ucs2, gsm = data["messages"]
    assert (gsm["encoding"], gsm["parts"], gsm["cost"], gsm["sender"]) == ("GSM-7", 1, "50", "4546")
    assert gsm["segments"] == [[["Salom!", False]]]
    assert gsm["ucs2_characters"] == []
    assert gsm["normalized"] is None
    # The Uzbek apostrophe trap: one look-alike makes a 73-character text two UCS-2 parts.
    assert (ucs2["encoding"], ucs2["parts"], ucs2["cost"]) == ("UCS-2", 2, "100")
    assert ucs2["ucs2_characters"] == [{"char": "ʻ", "code": "U+02BB", "apostrophe": True}]
    assert ucs2["segments"][0][:3] == [["O", False], ["ʻ", True], ["zbekiston: " + "x" * 54, False]]
    assert "".join(run[0] for part in ucs2["segments"] for run in part) == ucs2["text"]
    assert len(ucs2["segments"]) == 2
    assert ucs2["normalized"] == {"encoding": "GSM-7", "parts": 1}
    assert ucs2["sender"] == "MyShop"
    assert [t["event"] for t in ucs2["timeline"]] == ["created", "sent"]
    assert ucs2["timeline"][0]["at"] == "2026-03-09 10:30:00"
    assert ucs2["status"] == "sent"
    assert ucs2["final"] is False


async def test_a_universal_otp_is_shown_with_its_code() -> None:
    sandbox, inbox, _ = make()
    async with sandbox.client() as sms:
        await sms.send_otp(UZ, template=3, service_name="Mening Dokon-2", otp_code="04821")
        await sms.send_sms(UZ, "Kod: 1234")

    plain, otp = (await state(inbox))["messages"]

    assert otp["type"] == "universal_otp"
    assert otp["otp"] == {"code": "04821", "template": 3, "service_name": "Mening Dokon-2"}
    assert plain["otp"] is None  # digits in an ordinary text are not an OTP


async def test_numbers_are_masked_unless_show_numbers() -> None:
    sandbox, masked, _ = make()
    shown = Inbox(sandbox, show_numbers=True)
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Salom", callback_url="http://127.0.0.1:9/cb")
    await sandbox.advance()

    hidden = await call(masked, "GET", "/inbox/api/state")
    assert UZ.encode() not in hidden.body  # neither the message, nor a callback, nor its payload
    assert hidden.json["messages"][0]["phone"] == "99890***4567"
    assert hidden.json["show_numbers"] is False
    assert (await state(shown))["messages"][0]["phone"] == UZ


@pytest.mark.parametrize(
    ("q", "masked_hits", "shown_hits"),
    [
        ("", [3, 2, 1], [3, 2, 1]),
        ("4567", [2, 1], [2, 1]),  # the shown end of the number
        ("+998 90 123 45 67", [1], [1]),  # a whole number, written any way
        ("99893", [3], [3]),  # the shown start
        ("1234", [], [1]),  # hidden digits: searching them would reveal them one by one
        ("abc", [], []),
    ],
)
async def test_search_by_number(q: str, masked_hits: list[int], shown_hits: list[int]) -> None:
    sandbox, masked, _ = make()
    shown = Inbox(sandbox, show_numbers=True)
    async with sandbox.client() as sms:
        for phone in (UZ, "998977654567", "998935550000"):
            await sms.send_sms(phone, "Salom")
    query = "?" + httpx.QueryParams({"q": q}).__str__()

    masked_state = await state(masked, query)
    assert [m["sms_id"] for m in masked_state["messages"]] == masked_hits
    assert masked_state["matched"] == len(masked_hits)
    assert masked_state["total"] == 3
    assert [m["sms_id"] for m in (await state(shown, query))["messages"]] == shown_hits


async def test_limit_keeps_the_newest() -> None:
    sandbox, inbox, _ = make()
    async with sandbox.client() as sms:
        for i in range(5):
            await sms.send_sms(UZ, f"Salom {i}")
    data = await state(inbox, "?limit=2")
    assert [m["sms_id"] for m in data["messages"]] == [5, 4]
    assert (data["total"], data["matched"]) == (5, 5)


# -- actions ---------------------------------------------------------------------------------


async def test_deliver_and_fail_now_post_the_reports_and_show_what_the_receiver_said() -> None:
    sandbox, inbox, receiver = make(status=500)
    async with sandbox.client() as sms:
        first = await sms.send_sms(UZ, "Salom", callback_url="http://127.0.0.1:9/cb?key=s3cr3t")
        queued = await sms.send_sms("998901231111", "Navbatda")  # ...1111 waits: pending

    delivered = await call(inbox, "POST", f"/inbox/api/messages/{first.sms_id}/deliver")
    failed = await call(inbox, "POST", f"/inbox/api/messages/{queued.sms_id}/fail")

    assert delivered.status == 200
    view = delivered.json["message"]
    assert view["status"] == "delivered"
    assert view["final"] is True
    assert [t["event"] for t in view["timeline"]] == ["created", "sent", "delivered"]
    assert view["callback_url"] == "http://127.0.0.1:9/cb?…"  # the receiver's secret stays hidden
    assert [(c["status"], c["outcome"], c["status_code"]) for c in view["callbacks"]] == [
        ("sent", "http_error", 500),
        ("delivered", "http_error", 500),
    ]
    assert all(c["elapsed_ms"] >= 0 and "500" in c["error"] for c in view["callbacks"])
    assert [p["status"] for p in receiver.seen] == ["sent", "delivered"]
    assert failed.json["message"]["status"] == "failed"
    assert [t["event"] for t in failed.json["message"]["timeline"]] == ["created", "sent", "failed"]
    assert sandbox.get_message(queued.sms_id).status.value == "failed"

    again = await call(inbox, "POST", f"/inbox/api/messages/{first.sms_id}/fail")
    assert again.status == 409
    assert again.json == {"error": "SMS 1 is already delivered"}
    missing = await call(inbox, "POST", "/inbox/api/messages/99/deliver")
    assert missing.status == 404
    assert "sms_id=99" in missing.json["error"]


async def test_advance_set_balance_and_clear() -> None:
    sandbox, inbox, _ = make()
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Salom")
        await sms.send_sms("998901230000", "Yetmaydi")  # ...0000 is not delivered
        await sms.send_sms("998901231111", "Navbatda")

    moved = await call(inbox, "POST", "/inbox/api/advance")
    assert moved.json == {"moved": [1, 2, 3]}
    assert [m.status.value for m in sandbox.messages] == ["delivered", "failed", "sent"]

    balance = await call(inbox, "POST", "/inbox/api/balance", {"balance": 777})
    assert (balance.status, balance.json, sandbox.balance) == (200, {"balance": "777"}, 777)
    for bad in ({"balance": -1}, {"balance": "many"}, {"balance": True}, {}, [1]):
        refused = await call(inbox, "POST", "/inbox/api/balance", bad)
        assert refused.status == 400, bad
        assert refused.json["error"]
    assert sandbox.balance == 777

    cleared = await call(inbox, "POST", "/inbox/api/clear")
    assert cleared.json == {"cleared": 3}
    assert (sandbox.messages, sandbox.requests, sandbox.callbacks) == ([], [], [])
    assert (await state(inbox))["messages"] == []
    async with sandbox.client() as sms:
        after = await sms.send_sms(UZ, "Yana")
    assert after.sms_id == 4  # ids go on: an old id never means a new message
    assert sandbox.balance == 727


async def test_faults_armed_from_the_page_strike_the_next_api_request() -> None:
    sandbox, inbox, _ = make()
    armed = await call(
        inbox,
        "POST",
        "/inbox/api/faults",
        {"kind": "http", "status": 503, "path": "get_balance.php", "retry_after": 7},
    )
    assert armed.json == {
        "faults": [
            {"path": "get_balance.php", "kind": "http", "status": 503, "after_processing": False}
        ]
    }
    await call(inbox, "POST", "/inbox/api/faults", {"kind": "disconnect", "path": "send_sms.php"})
    await call(inbox, "POST", "/inbox/api/faults", {"kind": "html", "status": 502, "times": 2})
    assert len((await state(inbox))["faults"]) == 4

    async with sandbox.client(max_retries=0) as sms:
        with pytest.raises(ServerError) as caught:
            await sms.get_balance()
        assert caught.value.status_code == 503
        assert sandbox.requests[-1].status == 503
        with pytest.raises(APIConnectionError):
            await sms.send_sms(UZ, "Salom")
        with pytest.raises(ServerError) as html:
            await sms.get_balance()
        assert html.value.status_code == 502
    assert sandbox.messages == []  # the dropped send never arrived

    cleared = await call(inbox, "DELETE", "/inbox/api/faults")
    assert cleared.json == {"faults": []}
    async with sandbox.client(max_retries=0) as sms:
        assert (await sms.get_balance()).balance == sandbox.balance


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "teapot"}, "kind must be"),
        ({"kind": "http", "status": 99}, "status"),
        ({"kind": "http", "path": "index.php"}, "path must be one of"),
        ({"kind": "http", "times": 0}, "times"),
        ({"kind": "http", "after_processing": "yes"}, "after_processing"),
        ({"kind": "http", "retry_after": "soon"}, "retry_after"),
        ({"kind": "http", "error": 5}, "error must be a string"),
    ],
)
async def test_a_bad_fault_is_refused_and_nothing_is_armed(body: Any, words: str) -> None:
    _, inbox, _ = make()
    answer = await call(inbox, "POST", "/inbox/api/faults", body)
    assert answer.status == 400
    assert words in answer.json["error"]
    assert (await state(inbox))["faults"] == []


# -- the HTTP surface and its guards ------------------------------------------------------


async def test_the_page_is_served_from_the_package_with_a_strict_policy() -> None:
    _, inbox, _ = make()
    page = await call(inbox, "GET", "/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b'src="/inbox/static/inbox.js"' in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for name, kind in [("inbox.js", "text/javascript"), ("inbox.css", "text/css")]:
        asset = await call(inbox, "GET", f"/inbox/static/{name}")
        assert asset.status == 200
        assert asset.headers["content-type"].startswith(kind)
        assert b"http://" not in asset.body  # no CDN: everything comes from this server
        assert b"https://" not in asset.body
    for missing in ("/inbox/static/../_inbox.py", "/inbox/static/nope.js", "/favicon.ico"):
        assert (await call(inbox, "GET", missing)).status == 404
    assert (await call(inbox, "HEAD", "/")).status == 200
    wrong = await call(inbox, "POST", "/", headers=CHANGE)
    assert (wrong.status, wrong.headers["allow"]) == (405, "GET, HEAD")
    assert (await call(inbox, "GET", "/inbox/api/advance")).status == 405
    assert (await call(inbox, "GET", "/inbox/api/nothing")).status == 404
    assert (await call(inbox, "POST", "/inbox/api/nothing")).status == 404


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "10.0.0.5:8000", "", "[2001:db8::1]:80"]
)
async def test_only_a_loopback_host_is_answered(host: str) -> None:
    # DNS rebinding: a page from elsewhere that resolves its own name to 127.0.0.1.
    _, inbox, _ = make()
    for target in ("/", "/inbox/api/state"):
        answer = await call(inbox, "GET", target, headers=(("host", host),))
        assert answer.status == 403
        assert b"messages" not in answer.body


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "127.8.9.1:1"])
async def test_every_loopback_name_is_answered(host: str) -> None:
    _, inbox, _ = make()
    assert (await call(inbox, "GET", "/inbox/api/state", headers=(("host", host),))).status == 200


async def test_a_change_needs_the_inbox_header_and_a_loopback_origin() -> None:
    sandbox, inbox, _ = make()
    plain_form = await call(inbox, "POST", "/inbox/api/balance", {"balance": 1}, headers=HOST)
    assert plain_form.status == 403
    cross_site = await call(
        inbox,
        "POST",
        "/inbox/api/clear",
        headers=(*CHANGE, ("origin", "https://evil.example")),
    )
    assert cross_site.status == 403
    same = await call(
        inbox,
        "POST",
        "/inbox/api/balance",
        {"balance": 1},
        headers=(*CHANGE, ("origin", "http://127.0.0.1:8000")),
    )
    assert same.status == 200
    assert sandbox.balance == 1


async def test_the_token_and_request_headers_are_never_served() -> None:
    sandbox, inbox, _ = make(show_numbers=True)
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Salom", callback_url="http://127.0.0.1:9/cb")
    await sandbox.advance()
    bodies = [
        (await call(inbox, "GET", target)).body
        for target in ("/", "/inbox/static/inbox.js", "/inbox/api/state")
    ]
    bodies.append((await call(inbox, "POST", "/inbox/api/messages/1/fail")).body)
    for body in bodies:
        assert TOKEN.encode() not in body
        assert b"authorization" not in body.lower()


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=x", "?after=-2", "?wait=-1", "?wait=nan", "?wait=soon"]
)
async def test_bad_state_parameters_are_refused(query: str) -> None:
    _, inbox, _ = make()
    answer = await call(inbox, "GET", "/inbox/api/state" + query)
    assert answer.status == 400
    assert answer.json["error"]


async def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    _, inbox, _ = make()
    for raw in (b"[", b"[1]", b"\xff"):
        reply = await inbox.handle("POST", "/inbox/api/balance", CHANGE, raw)
        assert reply.status == 400
        assert json.loads(reply.body) == {"error": "the body must be a JSON object"}


# -- over a real server: routing and the long poll --------------------------------------------


async def test_the_page_s_requests_never_reach_the_fake_api() -> None:
    sandbox = Sandbox(TOKEN)
    sandbox.fail_next(500)  # for ANY path: the code under test must get it, not the page
    async with serve_sandbox(sandbox, inbox=True) as server:
        assert server.inbox_url == f"http://127.0.0.1:{server.port}/"
        async with httpx.AsyncClient(base_url=server.inbox_url) as http:
            for path in ("/", "/inbox/static/inbox.js", "/inbox/api/state", "/favicon.ico"):
                answer = await http.get(path)
                assert answer.status_code in (200, 404), path
                assert "Endpoint topilmadi" not in answer.text
        assert sandbox.requests == []
        async with server.client(max_retries=0) as sms:
            with pytest.raises(ServerError):
                await sms.get_balance()


async def test_without_the_inbox_the_root_is_the_api_s_404() -> None:
    sandbox = Sandbox(TOKEN)
    async with serve_sandbox(sandbox) as server, httpx.AsyncClient() as http:
        assert server.inbox_url is None
        answer = await http.get(server.base_url.removesuffix("api"))
    assert answer.status_code == 404
    assert answer.json()["error"] == "Endpoint topilmadi"


def test_a_long_poll_answers_when_an_sms_arrives(run: Callable[..., Any]) -> None:
    async def scenario() -> tuple[int, int, list[int], int]:
        sandbox = Sandbox(TOKEN)
        async with (
            serve_sandbox(sandbox, inbox=True) as server,
            httpx.AsyncClient(base_url=server.inbox_url or "", timeout=30) as http,
        ):
            first = (await http.get("/inbox/api/state")).json()
            answers: list[dict[str, Any]] = []

            async def poll() -> None:
                url = f"/inbox/api/state?after={first['version']}&wait=20"
                answers.append((await http.get(url)).json())

            async with anyio.create_task_group() as tg:
                tg.start_soon(poll)
                await anyio.sleep(0.05)
                assert answers == []  # it waits: nothing changed yet
                async with server.client() as sms:
                    await sms.send_sms(UZ, "Salom")
            [changed] = answers
            # No change: the poll answers the same version when its wait is over.
            idle = (await http.get(f"/inbox/api/state?after={changed['version']}&wait=0.05")).json()
            return (
                first["version"],
                changed["version"],
                [m["sms_id"] for m in changed["messages"]],
                idle["version"],
            )

    before, after, ids, idle = run(scenario)
    assert after != before
    assert ids == [1]
    assert idle == after


async def test_a_change_made_in_process_is_seen_by_a_long_poll() -> None:
    sandbox = Sandbox(TOKEN)
    inbox = Inbox(sandbox)
    version = inbox.version()
    assert inbox.version() == version  # stable while nothing changes
    async with anyio.create_task_group() as tg:
        seen: list[int] = []

        async def poll() -> None:
            seen.append(await inbox.wait_for_change(version, 10))

        tg.start_soon(poll)
        await anyio.sleep(0.01)
        sandbox.balance = 5  # nobody calls notify(): the recheck finds it
    assert seen == [version + 1]
    assert repr(inbox) == f"<Inbox version={version + 1} show_numbers=False>"


async def test_the_inbox_s_requests_are_logged_at_debug_without_their_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = Sandbox(TOKEN)
    with caplog.at_level(logging.DEBUG, logger="devsms_async.testing"):
        async with serve_sandbox(sandbox, inbox=True) as server, httpx.AsyncClient() as http:
            await http.get(f"{server.inbox_url}inbox/api/state?q={UZ}")
            async with server.client() as sms:
                await sms.get_balance()
    lines = [(r.levelno, r.getMessage().rsplit(" ", 2)[0]) for r in caplog.records]
    assert (logging.DEBUG, "GET /inbox/api/state 200") in lines
    assert (logging.INFO, "GET /api/get_balance.php 200") in lines
    assert UZ not in caplog.text
