"""The retry policy: backoff math as pure functions, the send/read rules per exception,
and what the retry loop really waits (trio's MockClock: virtual time, no sleep).

A new retry test goes here, unless it is one row of the decision table (core/test_core.py)
or needs a server that breaks connections (transport/test_faults.py): tests/README.md.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import functools
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
import stamina
import trio
import trio.testing

from devsms_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncDevSMS,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)
from devsms_async._classify import RetryPolicy, fingerprint
from devsms_async._response import RETRY_AFTER_CAP, parse_retry_after
from devsms_async._transport import exception_never_sent, map_transport_error
from support import TOKEN, spec_json_examples

SEND_OK = next(e for e in spec_json_examples() if e.get("data", {}).get("sms_id") == 123)
BALANCE_OK = next(e for e in spec_json_examples() if "statistics" in e.get("data", {}))
PHONE = "998901234567"

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A MockTransport handler answering (or raising) each step in turn, then 200s."""
    seen: list[httpx.Request] = []
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0) if queue else None
        if isinstance(step, Exception):
            raise step
        if step is not None:
            return step
        ok = SEND_OK if request.url.path.endswith("send_sms.php") else BALANCE_OK
        return httpx.Response(200, json=ok)

    return handler, seen


def make(handler: Handler, **options: Any) -> AsyncDevSMS:
    return AsyncDevSMS(TOKEN, transport=httpx.MockTransport(handler), **options)


class _Waits(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        wait = getattr(record, "devsms_wait", None)
        if wait is not None:
            self.seen.append(wait)


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """The wait decided before each retry, from the SDK's one log line per retry."""
    handler = _Waits()
    ours = logging.getLogger("devsms_async")
    level = ours.level
    ours.setLevel(logging.INFO)
    ours.addHandler(handler)
    yield handler.seen
    ours.removeHandler(handler)
    ours.setLevel(level)


def too_many(retry_after: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": retry_after}, json={"success": False})


# -- backoff math ------------------------------------------------------------------------


def test_jitter_ceiling_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=8.0)
    assert [policy.jitter_ceiling(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert policy.jitter_ceiling(10_000) == 8.0  # no OverflowError on absurd counts


def test_full_jitter_draws_from_zero_to_the_ceiling() -> None:
    policy = RetryPolicy()
    calls: list[tuple[float, float]] = []

    def spy(low: float, high: float) -> float:
        calls.append((low, high))
        return high

    assert policy.full_jitter(3, spy) == 2.0
    assert calls == [(0.0, 2.0)]

    rng = random.Random(1234)
    samples = [policy.full_jitter(4, rng.uniform) for _ in range(500)]
    assert all(0.0 <= s <= 4.0 for s in samples)
    # Full jitter spreads over the whole range, not around the ceiling.
    assert min(samples) < 0.5
    assert max(samples) > 3.5


@pytest.mark.parametrize(
    ("retry_after", "jitter", "elapsed", "expected"),
    [
        (None, 0.3, 0.0, 0.3),  # jitter alone
        (5.0, 0.3, 0.0, 5.0),  # Retry-After is the minimum
        (0.1, 0.4, 0.0, 0.4),  # ...which the jitter may exceed
        (5.0, 0.3, 54.0, 5.0),  # 59 < 60: still in time
        (5.0, 0.3, 55.0, None),  # would start at the deadline: give up now
        (None, 0.3, 59.8, None),
        (60.0, 0.0, 0.0, None),  # a capped Retry-After of 60 never fits a 60 s deadline
    ],
)
def test_next_wait(
    retry_after: float | None, jitter: float, elapsed: float, expected: float | None
) -> None:
    policy = RetryPolicy(max_retries=5, deadline=60.0)
    assert policy.next_wait(1, elapsed, retry_after, lambda low, high: jitter) == expected


def test_next_wait_stops_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.next_wait(2, 0.0, None, lambda low, high: 0.0) == 0.0
    assert policy.next_wait(3, 0.0, None, lambda low, high: 0.0) is None


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("100000", RETRY_AFTER_CAP),
        ("1e400", RETRY_AFTER_CAP),
        ("nan", None),
        ("", None),
        (None, None),
        ("soon", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # in the past: now
        (email.utils.formatdate(NOW + 3600, usegmt=True), RETRY_AFTER_CAP),
        ("Wed, 21 Oct 2015 07:28:00", 0.0),  # no zone: read as GMT, long past
        ("Mon, 99 Foo 2015 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_http_date_uses_the_wall_clock_by_default() -> None:
    header = email.utils.format_datetime(
        _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=40), usegmt=True
    )
    seconds = parse_retry_after(header)
    assert seconds is not None
    assert 35.0 <= seconds <= 40.0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"retry_deadline": 0}, "retry_deadline"),
        ({"retry_deadline": -5}, "retry_deadline"),
        ({"retry_deadline": float("nan")}, "retry_deadline"),
        ({"retry_deadline": float("inf")}, "retry_deadline"),
        ({"retry_deadline": "60"}, "retry_deadline"),
    ],
)
def test_retry_options_are_validated(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncDevSMS(TOKEN, **options)
    assert info.value.field == field


def test_fingerprint_is_stable_short_and_keyed() -> None:
    one = fingerprint("Salom!", b"key-1")
    assert one == fingerprint("Salom!", b"key-1")
    assert len(one) == 16
    assert int(one, 16) >= 0
    assert one != fingerprint("Salom!", b"key-2")
    assert one != fingerprint("Salom?", b"key-1")


# -- what is retried ---------------------------------------------------------------------

NEVER_SENT = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("connect"),
    httpx.PoolTimeout("pool"),
]
MAYBE_SENT = [
    httpx.ReadTimeout("read"),
    httpx.WriteTimeout("write"),
    httpx.ReadError("reset"),
    httpx.WriteError("broken pipe"),
    httpx.RemoteProtocolError("server disconnected"),
    httpx.ProxyError("proxy"),
    httpx.DecodingError("bad gzip"),
]


@pytest.mark.parametrize("exc", NEVER_SENT, ids=lambda e: type(e).__name__)
async def test_send_is_retried_when_it_provably_never_left(exc: Exception) -> None:
    handler, seen = scripted(exc, exc)
    async with make(handler) as sms:
        result = await sms.send_sms(PHONE, "Salom!")
    assert result.sms_id == 123
    assert len(seen) == 3


@pytest.mark.parametrize("exc", NEVER_SENT, ids=lambda e: type(e).__name__)
async def test_send_that_never_left_fails_definitely(exc: Exception) -> None:
    handler, seen = scripted(exc, exc, exc)
    async with make(handler) as sms:
        with pytest.raises(APIConnectionError) as info:
            await sms.send_sms(PHONE, "Salom!")
    assert isinstance(info.value.__cause__, type(exc))
    assert isinstance(info.value, APITimeoutError) == isinstance(exc, httpx.TimeoutException)
    assert len(seen) == 3


@pytest.mark.parametrize("exc", MAYBE_SENT, ids=lambda e: type(e).__name__)
async def test_send_that_may_have_arrived_is_not_retried(exc: Exception) -> None:
    handler, seen = scripted(exc)
    async with make(handler) as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            await sms.send_sms(PHONE, "Salom!")
    cause = info.value.__cause__
    assert isinstance(cause, APIConnectionError)
    assert isinstance(cause.__cause__, type(exc))
    assert isinstance(cause, APITimeoutError) == isinstance(exc, httpx.TimeoutException)
    assert len(seen) == 1


@pytest.mark.parametrize("exc", NEVER_SENT + MAYBE_SENT, ids=lambda e: type(e).__name__)
async def test_reads_are_retried_on_any_transport_failure(exc: Exception) -> None:
    handler, seen = scripted(exc, exc)
    async with make(handler) as sms:
        balance = await sms.get_balance()
    assert balance.balance == BALANCE_OK["data"]["balance"]
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("status", "retried"),
    [(429, True), (500, False), (502, True), (503, True), (504, True), (400, False)],
)
async def test_read_statuses(status: int, retried: bool) -> None:
    answer = httpx.Response(status, json={"success": False, "error": "x"})
    handler, seen = scripted(answer, answer, answer)
    async with make(handler) as sms:
        with pytest.raises(Exception) as info:
            await sms.get_balance()
    assert getattr(info.value, "status_code", None) == status
    assert len(seen) == (3 if retried else 1)


async def test_a_bug_in_the_transport_is_not_retried_nor_disguised() -> None:
    handler, seen = scripted(KeyError("oops"))
    async with make(handler) as sms:
        with pytest.raises(KeyError):
            await sms.get_balance()
    assert len(seen) == 1


async def test_max_retries_zero_means_one_attempt() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"))
    async with make(handler, max_retries=0) as sms:
        with pytest.raises(APIConnectionError):
            await sms.send_sms(PHONE, "Salom!")
    assert len(seen) == 1


# -- the aiohttp backend's exceptions ------------------------------------------------


def mapped(origin: BaseException, as_: type[httpx.HTTPError]) -> httpx.HTTPError:
    """What httpx-aiohttp raises: an httpx error chained to the aiohttp one."""
    try:
        raise as_("mapped") from origin
    except httpx.HTTPError as exc:
        return exc


@pytest.mark.parametrize(
    ("origin", "never_sent", "error"),
    [
        (aiohttp.ServerDisconnectedError(), False, APIConnectionError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), False, APIConnectionError),
        (aiohttp.ClientPayloadError("cut"), False, APIConnectionError),
        (aiohttp.SocketTimeoutError("read"), False, APITimeoutError),
        (aiohttp.ConnectionTimeoutError("connect"), True, APITimeoutError),
        (
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                OSError(111, "refused"),
            ),
            True,
            APIConnectionError,
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_aiohttp_errors_are_judged_by_their_origin(
    origin: BaseException, never_sent: bool, error: type[APIConnectionError]
) -> None:
    # httpx-aiohttp maps all of these to ConnectTimeout or ReadError: the origin decides.
    for as_ in (httpx.ConnectTimeout, httpx.ReadError):
        exc = mapped(origin, as_)
        assert exception_never_sent(exc) is never_sent
        assert type(map_transport_error(exc)) is error
    assert type(map_transport_error(origin)) is error  # raised unmapped


def test_non_transport_errors_are_not_mapped() -> None:
    assert map_transport_error(KeyError("x")) is None
    assert map_transport_error(ValueError("x")) is None
    assert not exception_never_sent(KeyError("x"))


# -- the loop: testing mode, real waits on a virtual clock, the deadline ---------------


def on_a_virtual_clock(
    client: Callable[[], AsyncDevSMS], raises: type[Exception] | None = None
) -> float:
    """Read the balance with a new `client()` on trio's MockClock (real waits, no sleep);
    the virtual seconds it took. `raises`: the error the read must end with."""
    elapsed: list[float] = []

    async def scenario() -> None:
        start = trio.current_time()
        async with client() as sms:
            if raises is None:
                await sms.get_balance()
            else:
                with pytest.raises(raises):
                    await sms.get_balance()
        elapsed.append(trio.current_time() - start)

    anyio.run(
        scenario,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    return elapsed[0]


def test_testing_mode_keeps_the_decisions_and_drops_the_waits(waits: list[float]) -> None:
    # stamina.set_testing(True) (the conftest's) is honoured: every wait is decided and
    # logged as in production, and none is slept (no virtual time passes either).
    handler, seen = scripted(too_many("5"), httpx.Response(503, json={}))
    elapsed = on_a_virtual_clock(lambda: make(handler))
    assert len(seen) == 3
    assert waits[0] == 5.0
    assert 0.0 <= waits[1] <= 1.0
    assert elapsed == 0.0


def test_production_waits_are_ours_retry_after_then_jitter(waits: list[float]) -> None:
    stamina.set_testing(False)  # real waits; trio's MockClock makes them virtual
    handler, seen = scripted(too_many("5"), httpx.Response(503, json={}))
    elapsed = on_a_virtual_clock(lambda: make(handler))
    assert len(seen) == 3
    assert waits[0] == 5.0  # Retry-After (the jitter of retry 1 is at most 0.5)
    assert 0.0 <= waits[1] <= 1.0  # full jitter of retry 2
    assert elapsed == pytest.approx(sum(waits))


def test_production_deadline_stops_retries_that_would_start_too_late(
    waits: list[float],
) -> None:
    stamina.set_testing(False)
    handler, seen = scripted(*[too_many("6")] * 20)
    client = functools.partial(make, handler, max_retries=10, retry_deadline=20.0)
    elapsed = on_a_virtual_clock(client, raises=RateLimitError)
    # Attempts at 0, 6, 12 and 18 s; the next would start at 24 > 20.
    assert len(seen) == 4
    assert waits == [6.0, 6.0, 6.0]
    assert elapsed == pytest.approx(18.0)


async def test_deadline_applies_in_testing_mode_too() -> None:
    handler, seen = scripted(too_many("30"), too_many("30"))
    async with make(handler, retry_deadline=10.0) as sms:
        with pytest.raises(RateLimitError) as info:
            await sms.get_balance()
    assert len(seen) == 1
    assert info.value.retry_after == 30.0


async def test_server_error_retry_after_is_honoured_on_503(waits: list[float]) -> None:
    answer = httpx.Response(503, headers={"Retry-After": "45"}, json={})
    handler, seen = scripted(answer, answer)
    async with make(handler, retry_deadline=30.0) as sms:
        with pytest.raises(ServerError):
            await sms.get_balance()
    assert len(seen) == 1  # 45 s would cross the 30 s deadline
    assert waits == []
