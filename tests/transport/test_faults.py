"""Fault injection against a real server on 127.0.0.1 (``faultserver.FaultServer``).

For every fault: the exception, the number of attempts (the client's DEBUG log has one
line per attempt; the server counts what reached it), and that the server received
exactly as many send requests as the client issued: a send is never replayed once it
may have arrived. Each test runs on httpx+asyncio, httpx+trio and aiohttp+asyncio.
The ``fault_server`` fixture fails a test that leaves a connection open. Backoff is off
(stamina's testing mode, which the SDK's retry loop honours; see conftest), so nothing
here sleeps through a retry.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
import httpx
import pytest

from devsms_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncDevSMS,
    AuthenticationError,
    BadRequestError,
    DevSMSError,
    MalformedResponseError,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)
from devsms_async._classify import fingerprint
from support import TOKEN
from support.faultserver import (
    TASHKENT,
    Close,
    Drip,
    Fault,
    FaultServer,
    Raw,
    Reply,
    Reset,
    ResetMidBody,
    Stall,
    refused_url,
    unaccepting_url,
)

PHONE = "998901234567"
TEXT = "Buyurtmangiz #1042 yo'lda"
MAX_RETRIES = 2
ATTEMPTS = MAX_RETRIES + 1
SAFE = httpx.Timeout(5.0)
"""Generous: only the faults below may time out, never a loaded test machine."""
SHORT_READ = httpx.Timeout(5.0, read=0.2)


@attrs.frozen
class Flavour:
    """An event loop and an HTTP backend to run a scenario on."""

    loop: str
    http_backend: str

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        anyio.run(scenario, backend=self.loop)

    @property
    def aiohttp(self) -> bool:
        return self.http_backend == "aiohttp"


FLAVOURS = [
    Flavour("asyncio", "httpx"),
    Flavour("trio", "httpx"),
    Flavour("asyncio", "aiohttp"),
]


@pytest.fixture(params=FLAVOURS, ids=lambda f: f"{f.http_backend}-{f.loop}")
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="devsms_async")
    return caplog


def attempts(log: pytest.LogCaptureFixture, endpoint: str) -> int:
    """Attempts the client made: one DEBUG line each (``POST send_sms.php status=...``)."""
    return sum(
        1 for r in log.records if r.name == "devsms_async" and r.getMessage().split()[1] == endpoint
    )


def client(flavour: Flavour, base_url: str, **options: Any) -> AsyncDevSMS:
    options.setdefault("timeout", SAFE)
    options.setdefault("max_retries", MAX_RETRIES)
    return AsyncDevSMS(
        TOKEN,
        base_url=base_url,
        http_backend=flavour.http_backend,  # type: ignore[arg-type]
        **options,
    )


async def send(sms: AsyncDevSMS) -> Any:
    return await sms.send_sms(PHONE, TEXT)


async def read(sms: AsyncDevSMS) -> Any:
    return await sms.get_balance()


# -- the matrix: faults at the server --------------------------------------------------


@attrs.frozen
class Case:
    """One fault, repeated for every attempt, and what a send and a read must see."""

    name: str
    fault: Fault
    send_error: type[DevSMSError]
    """``SendOutcomeUnknownError`` when the send may have arrived."""
    read_error: type[DevSMSError]
    read_retried: bool
    send_cause: type[DevSMSError] | None = None
    """For unknown outcomes: the underlying error."""
    timeout: httpx.Timeout = SAFE
    aiohttp_repeats_get: bool = False
    """aiohttp itself repeats a GET (never a POST) once when the connection drops."""
    marks: tuple[pytest.MarkDecorator, ...] = ()


def lost(
    name: str, fault: Fault, cause: type[DevSMSError], *, read_retried: bool = True, **options: Any
) -> Case:
    """A fault after which a send may have arrived: unknown, caused by ``cause``; a read
    gets ``cause`` (after its retries, when ``read_retried``)."""
    return Case(
        name,
        fault,
        SendOutcomeUnknownError,
        cause,
        read_retried=read_retried,
        send_cause=cause,
        **options,
    )


def refusal(name: str, status: int, error: str, raised: type[DevSMSError]) -> Case:
    """A refusal: the same typed error for a send and a read, neither retried."""
    payload = {"success": False, "error": error}
    return Case(name, Reply.json(status, payload), raised, raised, read_retried=False)


HTTPX_TRIO_DECODE_LEAK = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object:pytest.PytestUnraisableExceptionWarning"
)


def cases(*, read_retried_only: bool = False) -> list[Any]:
    return [
        pytest.param(case, id=case.name, marks=case.marks)
        for case in CASES
        if case.read_retried or not read_retried_only
    ]


HTML_502 = Reply.html(502, "502 Bad Gateway")
CASES = [
    lost(
        "reset before the response",
        Reset(),
        APIConnectionError,
        aiohttp_repeats_get=True,
    ),
    lost(
        "closed before the response",
        Close(),
        APIConnectionError,
        aiohttp_repeats_get=True,
    ),
    lost("reset mid-body", ResetMidBody(keep=20), APIConnectionError),
    lost(
        "stall past the read timeout",
        Stall(),
        APITimeoutError,
        timeout=SHORT_READ,
    ),
    lost(
        "drip slower than the read timeout",
        Drip(interval=0.6, chunk=40),
        APITimeoutError,
        timeout=SHORT_READ,
    ),
    lost("not HTTP at all", Raw(), APIConnectionError),
    lost(
        "gzip header, garbage body",
        Reply(200, b"\x1f\x8bnot gzip at all", (("Content-Encoding", "gzip"),)),
        APIConnectionError,
        # httpx leaves its body generators unfinalised when decoding fails (with or
        # without this SDK); trio reports that as a ResourceWarning.
        marks=(HTTPX_TRIO_DECODE_LEAK,),
    ),
    Case(
        "429 with Retry-After",
        Reply.json(429, {"success": False, "error": "Juda ko'p"}, headers={"Retry-After": "1"}),
        RateLimitError,
        RateLimitError,
        read_retried=True,
    ),
    lost("502 HTML from the proxy", HTML_502, ServerError),
    lost("503", Reply.html(503, "Service Unavailable", headers={"Retry-After": "2"}), ServerError),
    lost("504", Reply.html(504, "Gateway Timeout"), ServerError),
    lost(
        "500 with a JSON error",
        Reply.json(500, {"success": False, "error": "Ichki xato"}),
        ServerError,
        read_retried=False,
    ),
    lost(
        "200 with an HTML page",
        Reply.html(200, "Hello from the proxy"),
        MalformedResponseError,
        read_retried=False,
    ),
    refusal("400: refused", 400, "Telefon raqam noto'g'ri", BadRequestError),
    refusal("401: bad token", 401, "Token noto'g'ri", AuthenticationError),
    refusal("success: false with 200", 200, "Balans yetarli emas", BadRequestError),
]


@pytest.mark.parametrize("case", cases())
def test_send_under_fault_is_never_replayed(
    case: Case, flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    # Scripted for every possible attempt: a wrongly retried send would hit it again.
    fault_server.script(*[case.fault] * ATTEMPTS)
    before = _dt.datetime.now(_dt.timezone.utc)

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url, timeout=case.timeout) as sms:
            with pytest.raises(case.send_error) as info:
                await send(sms)
        error = info.value
        if isinstance(error, SendOutcomeUnknownError):
            assert case.send_cause is not None
            assert isinstance(error.__cause__, case.send_cause)
            assert error.phone == "99890***4567"  # masked: the error keeps no full number
            assert error.fingerprint == fingerprint(TEXT, TOKEN.encode())
            assert before <= error.started_at <= _dt.datetime.now(_dt.timezone.utc)
            assert error.started_at.tzinfo is not None
            if isinstance(error.__cause__, ServerError | MalformedResponseError):
                assert error.status_code == error.__cause__.status_code
            else:
                assert error.status_code is None

    flavour.run(scenario)
    assert attempts(log, "send_sms.php") == 1
    assert fault_server.count("send_sms.php") == 1
    assert fault_server.sends == [{"phone": PHONE, "message": TEXT, "type": "eskiz"}]


@pytest.mark.parametrize("case", cases())
def test_read_under_fault(
    case: Case, flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    fault_server.script(*[case.fault] * (2 * ATTEMPTS))

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url, timeout=case.timeout) as sms:
            with pytest.raises(case.read_error):
                await read(sms)

    flavour.run(scenario)
    expected = ATTEMPTS if case.read_retried else 1
    assert attempts(log, "get_balance.php") == expected
    repeats = 2 if flavour.aiohttp and case.aiohttp_repeats_get else 1
    assert fault_server.count("get_balance.php") == expected * repeats


@pytest.mark.parametrize("case", cases(read_retried_only=True))
def test_read_recovers_after_one_fault(
    case: Case, flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    fault_server.script(case.fault)

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url, timeout=case.timeout) as sms:
            balance = await read(sms)
        assert balance.balance == fault_server.api.balance
        assert balance.sms_price == fault_server.api.price

    flavour.run(scenario)
    if flavour.aiohttp and case.aiohttp_repeats_get:
        # aiohttp repeated the GET itself: one attempt for the SDK, two requests.
        assert attempts(log, "get_balance.php") == 1
    else:
        assert attempts(log, "get_balance.php") == 2
    assert fault_server.count("get_balance.php") == 2


def test_retry_after_and_the_error_reach_the_caller(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    fault_server.script(*[CASES[7].fault] * ATTEMPTS)

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            with pytest.raises(RateLimitError) as info:
                await send(sms)
        assert info.value.retry_after == 1.0
        assert info.value.status_code == 429
        assert info.value.error == "Juda ko'p"

    flavour.run(scenario)


def test_processed_send_whose_answer_is_lost(flavour: Flavour, fault_server: FaultServer) -> None:
    """The provider sent the SMS, then the connection died: unknown, and sent once."""
    fault_server.script(Reset(processed=True), Reset(processed=True))

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            with pytest.raises(SendOutcomeUnknownError):
                await send(sms)

    flavour.run(scenario)
    assert [r["message"] for r in fault_server.api.records] == [TEXT]
    assert fault_server.count("send_sms.php") == 1


# -- faults before a connection exists: provably not sent, so sends are retried -------


def test_refused_connection(flavour: Flavour, log: pytest.LogCaptureFixture) -> None:
    url = refused_url()

    async def scenario() -> None:
        async with client(flavour, url) as sms:
            with pytest.raises(APIConnectionError) as send_info:
                await send(sms)
            with pytest.raises(APIConnectionError):
                await read(sms)
        # Definite: the send did not happen, so it is not an unknown outcome.
        assert not isinstance(send_info.value, SendOutcomeUnknownError)
        assert not isinstance(send_info.value, APITimeoutError)

    flavour.run(scenario)
    assert attempts(log, "send_sms.php") == ATTEMPTS
    assert attempts(log, "get_balance.php") == ATTEMPTS


def test_connect_timeout(flavour: Flavour, log: pytest.LogCaptureFixture) -> None:
    async def scenario(url: str) -> None:
        quick_connect = httpx.Timeout(5.0, connect=0.1)
        async with client(flavour, url, timeout=quick_connect) as sms:
            with pytest.raises(APITimeoutError):
                await send(sms)
            with pytest.raises(APITimeoutError):
                await read(sms)

    with unaccepting_url() as url:
        anyio.run(scenario, url, backend=flavour.loop)
    assert attempts(log, "send_sms.php") == ATTEMPTS
    assert attempts(log, "get_balance.php") == ATTEMPTS


def test_pool_timeout_retries_the_send_that_never_left(
    flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    # One connection, held by a stalled read; the send waits for the pool and gives up.
    fault_server.script(Stall())

    async def scenario() -> None:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with (
            client(flavour, fault_server.base_url, limits=one) as sms,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(read, sms)
            await fault_server.wait_for_requests(1, "get_balance.php")
            with pytest.raises(APITimeoutError) as info:
                await sms.send_sms(PHONE, TEXT, timeout=httpx.Timeout(5.0, pool=0.05))
            tg.cancel_scope.cancel()  # give up the stalled read: its connection closes
        assert not isinstance(info.value, SendOutcomeUnknownError)

    flavour.run(scenario)
    assert attempts(log, "send_sms.php") == ATTEMPTS
    assert fault_server.count("send_sms.php") == 0
    assert fault_server.count("get_balance.php") == 1


def test_send_refused_then_accepted_is_sent_exactly_once(
    flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    # The kernel refuses the first connection; the listener is back before the retry.
    fault_server.pause()

    class ResumeOnRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if hasattr(record, "devsms_wait"):  # the SDK's one line per retry
                fault_server.resume()

    hook = ResumeOnRetry(logging.INFO)
    ours = logging.getLogger("devsms_async")

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            result = await send(sms)
        assert result.sms_id == fault_server.api.records[0]["id"]

    ours.addHandler(hook)
    try:
        flavour.run(scenario)
    finally:
        ours.removeHandler(hook)
    assert attempts(log, "send_sms.php") == 2
    assert fault_server.count("send_sms.php") == 1
    assert len(fault_server.api.records) == 1


# -- slow but healthy ------------------------------------------------------------------


def test_slow_drip_within_the_read_timeout_succeeds(
    flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    """The read timeout bounds each read, not the whole answer: ~300 bytes in 32-byte
    chunks 0.05 s apart take ~0.5 s, longer than the 0.3 s read timeout, yet every gap
    is six times shorter than it."""
    fault_server.script(Drip(interval=0.05, chunk=32))

    async def scenario() -> None:
        timeout = httpx.Timeout(5.0, read=0.3)
        async with client(flavour, fault_server.base_url, timeout=timeout) as sms:
            result = await send(sms)
        assert result.sms_id == 1
        assert result.balance == fault_server.api.balance

    flavour.run(scenario)
    assert attempts(log, "send_sms.php") == 1


def test_per_call_timeout_overrides_the_client(
    flavour: Flavour, fault_server: FaultServer, log: pytest.LogCaptureFixture
) -> None:
    fault_server.script(Stall(), Stall(), Stall())

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url, timeout=30.0) as sms:
            with pytest.raises(APITimeoutError):
                await sms.get_status(sms_id=1, timeout=httpx.Timeout(5.0, read=0.1))

    flavour.run(scenario)
    assert fault_server.count("get_status.php") == ATTEMPTS


def test_connections_are_reused(flavour: Flavour, fault_server: FaultServer) -> None:
    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            for _ in range(5):
                await send(sms)
                await read(sms)

    flavour.run(scenario)
    assert fault_server.connections == 1


def test_huge_answer_is_cut_and_refused(flavour: Flavour, fault_server: FaultServer) -> None:
    big = b'{"success": true, "data": {"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}}'
    fault_server.script(Reply(200, big), Reply(502, b"<html>" + b"y" * (5 * 1024 * 1024)))

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url, max_retries=0) as sms:
            with pytest.raises(SendOutcomeUnknownError) as sent:
                await send(sms)
            with pytest.raises(ServerError) as read_error:
                await read(sms)
        cause = sent.value.__cause__
        assert isinstance(cause, MalformedResponseError)
        assert "larger than" in str(cause)
        assert len(cause.body_snippet) <= 201
        assert len(read_error.value.body_snippet) <= 201
        assert len(str(read_error.value)) < 1000

    flavour.run(scenario)


# -- a bulk run with injected faults ---------------------------------------------------


def test_bulk_500_sends_with_10_percent_faults(flavour: Flavour, fault_server: FaultServer) -> None:
    """Every message ends sent, failed or unknown; none is sent twice, none is lost."""
    from devsms_async.models import BulkOutcome

    faults: list[Fault | None] = [None] * 500
    kinds: list[Fault] = [
        Reset(),
        Reset(processed=True),
        Close(processed=True),
        HTML_502,
        Reply.json(400, {"success": False, "error": "Rad etildi"}),
        Reply.json(429, {"success": False, "error": "Juda ko'p"}),
        ResetMidBody(),
        Raw(),
    ]
    for i in range(0, 500, 10):
        faults[i + 3] = kinds[(i // 10) % len(kinds)]
    fault_by_text = {f"xabar {i}": f for i, f in enumerate(faults)}
    messages = [(PHONE, f"xabar {i}") for i in range(500)]
    outcome_of: dict[type[Fault], BulkOutcome] = {
        Reset: BulkOutcome.UNKNOWN,
        Close: BulkOutcome.UNKNOWN,
        ResetMidBody: BulkOutcome.UNKNOWN,
        Raw: BulkOutcome.UNKNOWN,
    }

    # Sends arrive in any order (10 in flight): the fault goes by the message.
    fault_server.fault_for = lambda request: fault_by_text.get(request.json()["message"])
    results: list[Any] = []

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            results.extend(await sms.send_bulk(messages))

    flavour.run(scenario)

    assert [r.index for r in results] == list(range(500))
    assert [r.message.message for r in results] == [m for _, m in messages]
    sent_texts = [s["message"] for s in fault_server.sends]
    assert len(sent_texts) == len(set(sent_texts)) == 500, "a message was sent twice or lost"
    recorded = {r["message"] for r in fault_server.api.records}
    for result, fault in zip(results, faults, strict=True):
        text = result.message.message
        if fault is None:
            assert result.outcome is BulkOutcome.SENT
            assert text in recorded
        elif isinstance(fault, Reply):
            expected = BulkOutcome.UNKNOWN if fault.status >= 500 else BulkOutcome.FAILED
            assert result.outcome is expected, (text, fault)
        else:
            assert result.outcome is outcome_of[type(fault)], (text, fault)
    counts = {o: sum(r.outcome is o for r in results) for o in BulkOutcome}
    assert counts[BulkOutcome.SENT] == 450
    assert counts[BulkOutcome.NOT_STARTED] == 0
    assert (
        counts[BulkOutcome.SENT] + counts[BulkOutcome.FAILED] + counts[BulkOutcome.UNKNOWN] == 500
    )


# -- reconcile against the server ------------------------------------------------------


def test_reconcile_finds_a_send_that_went_through(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    fault_server.api.add_record(
        PHONE, TEXT, created_at=_dt.datetime.now(TASHKENT) - _dt.timedelta(hours=1)
    )
    fault_server.script(Reset(processed=True))

    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            with pytest.raises(SendOutcomeUnknownError) as info:
                await send(sms)
            for i in range(3):  # newer traffic on top of it
                await sms.send_sms(PHONE, f"boshqa {i}")
            found = await sms.reconcile(info.value)
        assert found.found
        assert found.record is not None
        assert found.record.id == 2  # not the identical message an hour earlier
        assert found.record.message == TEXT
        assert [m.id for m in found.matches] == [2]
        assert found.complete
        assert found.searched == 5  # 3 newer, ours, then the old one ends the search

    flavour.run(scenario)


def test_reconcile_reports_a_send_that_did_not_happen(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    async def scenario() -> None:
        async with client(flavour, fault_server.base_url) as sms:
            await sms.send_sms(PHONE, "boshqa")
            fault_server.script(Reset(processed=False))
            with pytest.raises(SendOutcomeUnknownError) as info:
                await send(sms)
            found = await sms.reconcile(info.value)
        assert not found.found
        assert found.record is None
        assert found.matches == ()
        assert found.complete  # the whole history was read
        assert found.searched == 1

    flavour.run(scenario)


def unknown_error(started_at: _dt.datetime, *, text: str | None = TEXT) -> SendOutcomeUnknownError:
    """An unknown outcome as the SDK makes it (text kept privately, fingerprint keyed)."""
    return SendOutcomeUnknownError(
        "lost",
        phone=PHONE,
        fingerprint=fingerprint(TEXT, TOKEN.encode()),
        started_at=started_at,
        text=text,
    )


@pytest.mark.parametrize("timezone", [TASHKENT, None], ids=["aware", "naive"])
@pytest.mark.parametrize("text", [TEXT, None], ids=["by-text", "by-fingerprint"])
async def test_reconcile_matches_number_text_and_time(
    fault_server: FaultServer, timezone: _dt.tzinfo | None, text: str | None
) -> None:
    started = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=1)
    api = fault_server.api
    api.add_record(PHONE, TEXT, created_at=started - _dt.timedelta(minutes=10))  # too old
    api.add_record(PHONE, TEXT, created_at=started - _dt.timedelta(seconds=20))  # skew
    api.add_record(PHONE, TEXT + "!", created_at=started + _dt.timedelta(seconds=1))
    api.add_record("998901234568", TEXT, created_at=started + _dt.timedelta(seconds=1))
    api.add_record(PHONE, TEXT, created_at=started + _dt.timedelta(seconds=2))  # ours
    api.add_record(PHONE, TEXT, created_at=started + _dt.timedelta(minutes=5))  # a resend
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url, timezone=timezone) as sms:
        result = await sms.reconcile(unknown_error(started, text=text))
    assert result.found
    assert result.record is not None
    assert result.record.id == 5  # the match closest to the send
    assert [m.id for m in result.matches] == [6, 5, 2]  # newest first
    assert result.complete
    assert result.searched == 6  # stopped at the record older than started - skew


async def test_reconcile_window_too_small_is_not_complete(fault_server: FaultServer) -> None:
    started = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=1)
    fault_server.api.add_record(PHONE, TEXT, created_at=started + _dt.timedelta(seconds=1))
    for i in range(30):
        fault_server.api.add_record(
            PHONE, f"keyin {i}", created_at=started + _dt.timedelta(minutes=1)
        )
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        narrow = await sms.reconcile(unknown_error(started), window=25)
        wide = await sms.reconcile(unknown_error(started), window=40)
    assert (narrow.found, narrow.complete, narrow.searched) == (False, False, 25)
    assert (wide.found, wide.complete, wide.searched) == (True, True, 31)
    assert fault_server.count("get_history.php") == 2  # one page each


async def test_reconcile_with_an_error_from_another_process(fault_server: FaultServer) -> None:
    import pickle

    fault_server.script(Reset(processed=True))
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            await send(sms)
        revived = pickle.loads(pickle.dumps(info.value))
        assert (revived.phone, revived.fingerprint) == (info.value.phone, info.value.fingerprint)
        assert revived.started_at == info.value.started_at
        result = await sms.reconcile(revived)
    assert result.found


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"window": 0}, "window"),
        ({"window": True}, "window"),
        ({"window": 2.5}, "window"),
        ({"skew": -1}, "skew"),
        ({"skew": float("nan")}, "skew"),
        ({"skew": "5"}, "skew"),
    ],
)
async def test_reconcile_arguments_are_checked_before_any_request(
    fault_server: FaultServer, kwargs: dict[str, Any], field: str
) -> None:
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        with pytest.raises(ValidationError) as info:
            await sms.reconcile(unknown_error(_dt.datetime.now(_dt.timezone.utc)), **kwargs)
        assert info.value.field == field
        with pytest.raises(ValidationError) as info:
            await sms.reconcile(RuntimeError("nope"))  # type: ignore[arg-type]
        assert info.value.field == "error"
    assert fault_server.count() == 0
