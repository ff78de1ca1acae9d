"""``send_bulk`` / ``stream_bulk``: concurrency bound, order, failures, laziness,
cancellation accounting, rate cap and the balance check, on asyncio and trio.

The server is a respx route whose async side effect counts requests in flight and
answers in the spec's shapes. The rate cap runs on virtual time only: trio's
``MockClock`` or, on asyncio, an injected autojump clock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import importlib.util
import itertools
import json
import math
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx
import trio.testing

from devsms_async import (
    APIError,
    AsyncDevSMS,
    BadRequestError,
    InsufficientBalanceError,
    SendOutcomeUnknownError,
    SendResult,
    UsageError,
    ValidationError,
)
from devsms_async._bulk import (
    DEFAULT_CONCURRENCY,
    BulkCallbackError,
    RateLimiter,
    send_bulk,
)
from devsms_async._redact import mask_phone
from devsms_async.bulk import BulkMessage, BulkOutcome, BulkResult, BulkStream
from support import ROOT as REPO
from support import TOKEN, spec_json_examples
from support.docs import run_doc_examples

Run = Callable[..., Any]
BASE = "https://devsms.uz/api"
SEND_OK = next(e for e in spec_json_examples() if e.get("data", {}).get("sms_id") == 123)
BALANCE_OK = next(e for e in spec_json_examples() if "sms_price" in e.get("data", {}))


def phone(i: int) -> str:
    return f"99890{i:07d}"


class SendServer:
    """``send_sms.php``: counts requests, the most in flight, and who got what.

    Each request stays in flight for ``hold`` scheduler turns. Phones in ``refuse`` get
    a 400, in ``break_`` a 500 (the outcome of a send is then unknown), in ``reset`` a
    connection reset after the request was sent (unknown), in ``refuse_connect`` a
    refused connection on the first attempt (never sent, so retried).
    """

    def __init__(
        self,
        *,
        hold: int = 3,
        refuse: set[str] = frozenset(),  # type: ignore[assignment]
        break_: set[str] = frozenset(),  # type: ignore[assignment]
        reset: set[str] = frozenset(),  # type: ignore[assignment]
        refuse_connect: set[str] = frozenset(),  # type: ignore[assignment]
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.hold = hold
        self.refuse, self.break_, self.reset = refuse, break_, reset
        self.refuse_connect = set(refuse_connect)
        self.clock = clock
        self.received: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.in_flight = 0
        self.peak = 0

    @property
    def count(self) -> int:
        return len(self.received)

    def per_phone(self) -> collections.Counter[str]:
        return collections.Counter(body["phone"] for body in self.received)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["phone"] in self.refuse_connect:
            self.refuse_connect.discard(body["phone"])
            raise httpx.ConnectError("connection refused", request=request)
        # Counted on arrival, before any await: a cancelled request still counts.
        self.received.append(body)
        if self.clock is not None:
            self.times.append(self.clock())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(self.hold):
                await anyio.sleep(0)
        finally:
            self.in_flight -= 1
        if body["phone"] in self.refuse:
            return httpx.Response(400, json={"success": False, "error": "Noto'g'ri raqam"})
        if body["phone"] in self.break_:
            return httpx.Response(500, json={"success": False, "error": "Server xatosi"})
        if body["phone"] in self.reset:
            raise httpx.ReadError("connection reset by peer", request=request)
        answer = json.loads(json.dumps(SEND_OK))
        answer["data"]["sms_id"] = self.count
        return httpx.Response(200, json=answer)


@contextlib.asynccontextmanager
async def client_for(server: SendServer, **options: Any) -> AsyncIterator[AsyncDevSMS]:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/send_sms.php").mock(side_effect=server)
    balance = router.get("/get_balance.php")
    balance.mock(return_value=httpx.Response(200, json=options.pop("balance", BALANCE_OK)))
    transport = httpx.MockTransport(router.async_handler)
    async with AsyncDevSMS(TOKEN, transport=transport, **options) as sms:
        sms.balance_route = balance  # type: ignore[attr-defined]
        yield sms


def messages(n: int) -> list[tuple[str, str]]:
    return [(phone(i), f"Salom #{i}") for i in range(n)]


def outcomes(results: list[BulkResult] | tuple[BulkResult, ...]) -> collections.Counter[str]:
    return collections.Counter(r.outcome.value for r in results)


# --- the happy path, on both backends -------------------------------------------------


def test_concurrency_is_bounded_and_results_come_in_input_order(run: Run) -> None:
    async def scenario() -> None:
        server = SendServer(hold=30)
        async with client_for(server) as sms:
            results = await sms.send_bulk(messages(60), concurrency=7)
        assert server.peak == 7  # reached, never exceeded
        assert [r.index for r in results] == list(range(60))
        assert [r.message.phone for r in results if r.message] == [phone(i) for i in range(60)]
        assert all(r.ok and r.outcome is BulkOutcome.SENT for r in results)
        assert all(isinstance(r.result, SendResult) and r.error is None for r in results)
        # Every message sent exactly once, with its own text.
        assert sorted(b["message"] for b in server.received) == sorted(
            f"Salom #{i}" for i in range(60)
        )
        assert server.per_phone() == collections.Counter(phone(i) for i in range(60))

    run(scenario)


def test_default_concurrency_is_ten_and_follows_a_smaller_pool(run: Run) -> None:
    async def scenario() -> None:
        server = SendServer(hold=30)
        async with client_for(server) as sms:
            assert sms.pool_size == 10
            assert sms.stream_bulk([]).concurrency == DEFAULT_CONCURRENCY == 10
            await sms.send_bulk(messages(40))
        assert server.peak == 10

        small = SendServer(hold=30)
        async with client_for(small, limits=httpx.Limits(max_connections=4)) as sms:
            assert sms.stream_bulk([]).concurrency == 4
            await sms.send_bulk(messages(20))
        assert small.peak == 4

    run(scenario)


def test_stream_yields_results_as_they_complete(run: Run) -> None:
    async def scenario() -> None:
        server = SendServer(hold=2)
        async with client_for(server) as sms:
            seen: list[BulkResult] = []
            async with sms.stream_bulk(messages(30), concurrency=5) as results:
                async for result in results:
                    # Each one is final when yielded, and arrives while others still run.
                    assert result.ok
                    seen.append(result)
            assert results.leftover == ()
            assert results.taken == 30
        assert sorted(r.index for r in seen) == list(range(30))
        assert server.count == 30

    run(scenario)


def test_async_iterable_input(run: Run) -> None:
    async def source() -> AsyncIterator[BulkMessage]:
        for i in range(12):
            await anyio.sleep(0)
            yield BulkMessage(phone=phone(i), message=f"m{i}")

    async def scenario() -> None:
        server = SendServer()
        async with client_for(server) as sms:
            results = await sms.send_bulk(source(), concurrency=3)
        assert [r.index for r in results] == list(range(12))
        assert all(r.ok for r in results)
        assert server.count == 12

    run(scenario)


async def test_message_fields_and_client_defaults_reach_the_request() -> None:
    server = SendServer()
    async with client_for(server, sender="DevShop", callback_url="https://a.uz/cb") as sms:
        results = await sms.send_bulk(
            [
                ("+998 90 000-00-01", "Salom"),
                BulkMessage(
                    phone="998900000002",
                    message="Toʻlov",
                    sender="4546",
                    callback_url="https://b.uz/cb",
                    type="simple",
                ),
            ],
            normalize=True,
        )
    assert all(r.ok for r in results)
    by_phone = {b["phone"]: b for b in server.received}
    assert by_phone["998900000001"] == {
        "phone": "998900000001",
        "message": "Salom",
        "from": "DevShop",
        "callback_url": "https://a.uz/cb",
        "type": "eskiz",
    }
    assert by_phone["998900000002"] == {
        "phone": "998900000002",
        "message": "To'lov",
        "from": "4546",
        "callback_url": "https://b.uz/cb",
        "type": "simple",
    }
    # The result keeps the message as given, not as normalised.
    assert results[1].message is not None
    assert results[1].message.message == "Toʻlov"


async def test_empty_input_sends_nothing() -> None:
    server = SendServer()
    async with client_for(server) as sms:
        assert await sms.send_bulk([]) == []
        assert await sms.send_bulk(iter(())) == []
    assert server.count == 0


# --- failures stay per message --------------------------------------------------------


def test_partial_failures_are_per_message_and_nothing_is_sent_twice(run: Run) -> None:
    refused, broken, reset, flaky = phone(3), phone(5), phone(7), phone(9)
    items: list[Any] = messages(12)
    items[1] = ("12", "too short a number")
    items[2] = (phone(2), "   ")
    items[4] = BulkMessage(phone="12025551234", message="hi", type="simple")
    items[6] = "not a message"
    items[8] = (998900000008, "not a string")

    async def scenario() -> None:
        server = SendServer(
            refuse={refused}, break_={broken}, reset={reset}, refuse_connect={flaky}
        )
        async with client_for(server) as sms:
            results = await sms.send_bulk(items, concurrency=4)
        by_index = {r.index: r for r in results}
        assert [r.index for r in results] == list(range(12))

        for index, field in [(1, "phone"), (2, "message"), (4, "type"), (8, "phone")]:
            error = by_index[index].error
            assert isinstance(error, ValidationError)
            assert error.field == field
        assert isinstance(by_index[6].error, ValidationError)
        assert by_index[6].error.field == "messages"
        assert by_index[6].message is None
        assert by_index[8].message is None
        assert by_index[4].message is items[4]

        assert isinstance(by_index[3].error, BadRequestError)
        assert by_index[3].outcome is BulkOutcome.FAILED
        for index in (5, 7):
            assert isinstance(by_index[index].error, SendOutcomeUnknownError)
            assert by_index[index].outcome is BulkOutcome.UNKNOWN
            assert not by_index[index].ok
        assert by_index[9].ok  # refused connection: provably unsent, retried once

        assert outcomes(results) == {"sent": 4, "failed": 6, "unknown": 2}
        # Invalid ones never reached the server; every other phone exactly once.
        assert server.per_phone() == collections.Counter(phone(i) for i in (0, 3, 5, 7, 9, 10, 11))

    run(scenario)


async def test_an_unknown_outcome_error_can_be_reconciled() -> None:
    server = SendServer(break_={phone(0)})
    async with client_for(server) as sms:
        [result] = await sms.send_bulk(messages(1))
    error = result.error
    assert isinstance(error, SendOutcomeUnknownError)
    assert error.phone == mask_phone(phone(0))
    assert error.fingerprint
    assert phone(0) not in str(error)
    assert phone(0) not in repr(result)


# --- laziness and memory --------------------------------------------------------------


def test_a_million_message_generator_is_read_only_as_sends_complete(run: Run) -> None:
    concurrency = 5

    async def scenario() -> None:
        pulled = 0
        consumed = 0
        ahead: list[int] = []

        def million() -> Iterator[tuple[str, str]]:
            nonlocal pulled
            for i in range(1_000_000):
                pulled += 1
                ahead.append(pulled - consumed)
                yield (phone(i % 10_000_000), f"m{i}")

        server = SendServer(hold=2)
        async with (
            client_for(server) as sms,
            sms.stream_bulk(million(), concurrency=concurrency) as results,
        ):
            async for _ in results:
                consumed += 1
                if consumed == 300:
                    break
        # Read ahead of the results taken: one per worker + the results buffer.
        assert max(ahead) <= 2 * concurrency
        assert pulled == results.taken <= 300 + 2 * concurrency
        # Every message read has exactly one final result: yielded or left over.
        assert consumed + len(results.leftover) == results.taken
        assert server.count == consumed + outcomes(results.leftover)["sent"]

    run(scenario)


def test_leaving_early_starts_nothing_new_and_lets_sends_in_flight_finish(run: Run) -> None:
    async def scenario() -> None:
        server = SendServer(hold=5)
        async with (
            client_for(server) as sms,
            sms.stream_bulk(messages(100), concurrency=6) as results,
        ):
            async for _ in results:
                break
        leftover = results.leftover
        counts = outcomes(leftover)
        assert set(counts) <= {"sent", "not_started"}
        assert counts["sent"] >= 1  # in flight at the break, finished, reported
        assert 1 + len(leftover) == results.taken < 100
        assert [r.index for r in leftover] == sorted(r.index for r in leftover)
        assert server.count == 1 + counts["sent"]
        for r in leftover:
            if r.outcome is BulkOutcome.NOT_STARTED:
                assert r.result is None
                assert r.error is None
                assert r.message is not None

    run(scenario)


# --- cancellation ---------------------------------------------------------------------


def test_cancellation_accounts_for_every_message(run: Run) -> None:
    total = 200
    items: list[Any] = messages(total)
    items[3] = ("123", "invalid: never sent")
    refused = {phone(i) for i in range(0, total, 11)}

    async def scenario() -> None:
        reported: list[BulkResult] = []
        pulled = 0

        def source() -> Iterator[Any]:
            nonlocal pulled
            for item in items:
                pulled += 1
                yield item

        server = SendServer(hold=6, refuse=refused)
        async with client_for(server) as sms:
            with anyio.CancelScope() as scope:

                def on_result(result: BulkResult) -> None:
                    reported.append(result)
                    if len(reported) == 40:
                        scope.cancel()

                await sms.send_bulk(source(), concurrency=6, on_result=on_result)
                pytest.fail("the job was not cancelled")
            assert scope.cancelled_caught

        # Every message read was reported exactly once; the rest were never read.
        assert sorted(r.index for r in reported) == list(range(pulled))
        assert 40 < pulled < total
        counts = outcomes(reported)
        assert sum(counts.values()) == pulled
        assert counts["unknown"] >= 1  # abandoned in flight
        for r in reported:
            if r.outcome is BulkOutcome.UNKNOWN:
                assert isinstance(r.error, SendOutcomeUnknownError)
                assert r.error.phone == mask_phone(r.message.phone) if r.message else False
                assert "cancelled" in str(r.error)
        # The server saw exactly the sends reported as sent, unknown or refused by it.
        refused_by_server = sum(
            1 for r in reported if r.outcome is BulkOutcome.FAILED and isinstance(r.error, APIError)
        )
        assert server.count == counts["sent"] + counts["unknown"] + refused_by_server
        assert max(server.per_phone().values()) == 1

    run(scenario)


def test_cancelled_stream_reports_the_rest_in_leftover(run: Run) -> None:
    async def scenario() -> None:
        server = SendServer(hold=6)
        yielded: list[BulkResult] = []
        async with client_for(server) as sms:
            stream = sms.stream_bulk(messages(50), concurrency=4)
            with anyio.CancelScope() as scope:
                async with stream:
                    async for result in stream:
                        yielded.append(result)
                        if len(yielded) == 10:
                            scope.cancel()
            assert scope.cancelled_caught
        leftover = stream.leftover
        assert sorted(r.index for r in [*yielded, *leftover]) == list(range(stream.taken))
        counts = outcomes(leftover)
        assert counts["unknown"] >= 1
        assert server.count == len(yielded) + counts["unknown"] + counts["sent"]
        assert not any(server.per_phone()[p] > 1 for p in server.per_phone())

    run(scenario)


# --- stopping on errors that are not per message --------------------------------------


async def test_a_failing_input_stops_the_job_after_the_sends_in_flight() -> None:
    class CsvBrokenError(Exception):
        pass

    def source() -> Iterator[tuple[str, str]]:
        yield from messages(8)
        raise CsvBrokenError("line 9: bad quoting")

    reported: list[BulkResult] = []
    server = SendServer()
    async with client_for(server) as sms:
        with pytest.raises(CsvBrokenError, match="line 9"):
            await sms.send_bulk(source(), concurrency=3, on_result=reported.append)
    assert sorted(r.index for r in reported) == list(range(8))
    assert all(r.ok for r in reported)
    assert server.count == 8


async def test_an_unexpected_exception_stops_the_job_and_is_raised() -> None:
    server = SendServer()
    reported: list[BulkResult] = []
    async with client_for(server) as sms:
        real_call = sms._call

        async def buggy(endpoint: Any, params: dict[str, Any], *args: Any) -> Any:
            if params["phone"] == phone(4):
                raise RuntimeError("a bug")
            return await real_call(endpoint, params, *args)

        sms._call = buggy  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="a bug"):
            await sms.send_bulk(messages(40), concurrency=2, on_result=reported.append)
    assert sorted(r.index for r in reported) == list(range(len(reported)))
    bug = next(r for r in reported if r.index == 4)
    assert bug.outcome is BulkOutcome.UNKNOWN
    assert isinstance(bug.error, SendOutcomeUnknownError)
    assert isinstance(bug.error.__cause__, RuntimeError)
    assert len(reported) < 40
    assert server.count == outcomes(reported)["sent"]


async def test_a_failing_on_result_callback_propagates() -> None:
    server = SendServer()
    calls = 0

    def callback(result: BulkResult) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("boom")

    async with client_for(server) as sms:
        with pytest.raises(BulkCallbackError) as caught:
            await sms.send_bulk(messages(20), concurrency=2, on_result=callback)
    assert calls == 1  # not called again for the leftovers
    assert isinstance(caught.value.__cause__, KeyError)
    # Everything read is in the error: the one it raised on and every later result.
    assert len(caught.value.unreported) == len(caught.value.results) >= 1


# --- rate cap, on virtual time only ---------------------------------------------------


async def _all_other_tasks_blocked() -> None:
    """``anyio.wait_all_tasks_blocked`` without its 0.1 s real-time polling (asyncio)."""
    this = asyncio.current_task()
    while True:
        await asyncio.sleep(0)
        if all(
            task is this or (task._fut_waiter is not None and not task._fut_waiter.done())  # type: ignore[attr-defined]
            for task in asyncio.all_tasks()
        ):
            return


class AutojumpClock:
    """Virtual time for asyncio: jumps to the next deadline once every task is blocked."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        event = anyio.Event()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), event))
        await event.wait()

    async def drive(self) -> None:
        while True:
            await _all_other_tasks_blocked()
            if self._sleepers:
                deadline, _, event = heapq.heappop(self._sleepers)
                self.time = max(self.time, deadline)
                event.set()
            else:
                await anyio.sleep(0)


def assert_rate(times: list[float], per_second: int, n: int) -> None:
    assert len(times) == n
    assert times == sorted(times)
    # n starts, evenly spaced: the last is (n - 1) / per_second after the first...
    assert times[-1] - times[0] >= (n - 1) / per_second - 1e-9
    # ...and no window of one second holds more than per_second starts.
    for i in range(n - per_second):
        assert times[i + per_second] - times[i] >= 1.0 - 1e-9


def test_per_second_caps_the_start_rate(run: Run, backend: str) -> None:
    async def scenario() -> float:
        if backend == "trio":
            server = SendServer(hold=1, clock=anyio.current_time)
            async with client_for(server) as sms:
                start = anyio.current_time()
                results = await sms.send_bulk(messages(20), concurrency=10, per_second=5)
                elapsed = anyio.current_time() - start
        else:
            clock = AutojumpClock()
            server = SendServer(hold=1, clock=clock.now)
            async with client_for(server) as sms, anyio.create_task_group() as tg:
                tg.start_soon(clock.drive)
                stream = BulkStream(
                    messages(20),
                    sms._bulk_sender(False, None),
                    concurrency=10,
                    per_second=5,
                    clock=clock,
                )
                results = await send_bulk(stream)
                elapsed = clock.now()
                tg.cancel_scope.cancel()
        assert all(r.ok for r in results)
        assert_rate(server.times, 5, 20)
        return elapsed

    if backend == "trio":
        elapsed = run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    else:
        elapsed = run(scenario)
    assert elapsed >= 3.8 - 1e-9


async def test_rate_limiter_spacing_resets_after_idle_and_handles_fractions() -> None:
    clock = AutojumpClock()
    starts: list[float] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.drive)
        limiter = RateLimiter(0.5, clock=clock)  # one start every 2 s
        for _ in range(3):
            await limiter.wait()
            starts.append(clock.now())
        await clock.sleep_until(clock.now() + 10)  # idle: no burst is saved up
        idle_end = clock.now()
        for _ in range(2):
            await limiter.wait()
            starts.append(clock.now())
        tg.cancel_scope.cancel()
    assert starts == [0.0, 2.0, 4.0, idle_end, idle_end + 2.0]


async def test_rate_limiter_keeps_exact_spacing_over_many_slots() -> None:
    clock = AutojumpClock()
    starts: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.drive)
        limiter = RateLimiter(3, clock=clock)
        async with anyio.create_task_group() as workers:
            for _ in range(300):

                async def one() -> None:
                    await limiter.wait()
                    starts.append(clock.now())

                workers.start_soon(one)
        tg.cancel_scope.cancel()
    assert_rate(sorted(starts), 3, 300)
    assert math.isclose(max(starts), 299 / 3)


# --- check_balance --------------------------------------------------------------------


async def test_check_balance_sends_when_the_balance_covers_the_job() -> None:
    server = SendServer()
    async with client_for(server) as sms:  # balance 1000, sms_price 50: 20 parts fit
        results = await sms.send_bulk(messages(20), check_balance=True)
        assert sms.balance_route.call_count == 1  # type: ignore[attr-defined]
    assert all(r.ok for r in results)


async def test_check_balance_refuses_a_job_the_balance_cannot_cover() -> None:
    server = SendServer()
    async with client_for(server) as sms:
        with pytest.raises(InsufficientBalanceError, match=r"1050 so'm.*balance is 1000") as info:
            await sms.send_bulk(messages(21), check_balance=True)
        assert info.value.field == "messages"
        assert (info.value.needed, info.value.balance) == (1050, 1000)
        assert isinstance(info.value, ValidationError)
        with pytest.raises(ValidationError):
            async with sms.stream_bulk(messages(21), check_balance=True):
                pytest.fail("must not start")
    assert server.count == 0


async def test_check_balance_uses_the_accounts_own_price() -> None:
    balance = json.loads(json.dumps(BALANCE_OK))
    balance["data"].update(balance=1000, sms_price=100)
    server = SendServer()
    async with client_for(server, balance=balance) as sms:
        with pytest.raises(ValidationError, match="1100 so'm"):
            await sms.send_bulk(messages(11), check_balance=True)
        assert all(r.ok for r in await sms.send_bulk(messages(10), check_balance=True))
    assert server.count == 10


async def test_check_balance_needs_a_sequence() -> None:
    async def agen() -> AsyncIterator[tuple[str, str]]:
        yield (phone(1), "x")

    server = SendServer()
    async with client_for(server) as sms:
        for one_shot in (iter(messages(3)), (m for m in messages(3)), agen()):
            with pytest.raises(ValidationError, match="list or tuple"):
                await sms.send_bulk(one_shot, check_balance=True)
        assert sms.balance_route.call_count == 0  # type: ignore[attr-defined]
    assert server.count == 0


# --- arguments and lifecycle ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 11}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": "3"}, "concurrency"),
        ({"per_second": 0}, "per_second"),
        ({"per_second": -1}, "per_second"),
        ({"per_second": math.inf}, "per_second"),
        ({"per_second": True}, "per_second"),
        ({"normalize": "yes"}, "normalize"),
        ({"check_balance": 1}, "check_balance"),
        ({"timeout": 0}, "timeout"),
        ({"on_result": "print"}, "on_result"),
    ],
)
async def test_bad_arguments_fail_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    server = SendServer()
    async with client_for(server) as sms:
        with pytest.raises(ValidationError) as info:
            await sms.send_bulk(messages(3), **kwargs)
        assert info.value.field == field
    assert server.count == 0


async def test_concurrency_above_the_pool_is_refused_with_advice() -> None:
    async with client_for(SendServer()) as sms:
        with pytest.raises(ValidationError, match=r"pool \(10\).*max_connections=20"):
            sms.stream_bulk(messages(3), concurrency=20)
    big = SendServer(hold=50)
    async with client_for(big, limits=httpx.Limits(max_connections=20)) as sms:
        await sms.send_bulk(messages(40), concurrency=20)
    assert big.peak == 20


@pytest.mark.parametrize(
    "bad", ["998901234567", b"bytes", 42, None, BulkMessage(phone="1", message="x")]
)
async def test_messages_must_be_an_iterable_of_messages(bad: Any) -> None:
    async with client_for(SendServer()) as sms:
        with pytest.raises(ValidationError) as info:
            await sms.send_bulk(bad)
        assert info.value.field == "messages"


async def test_stream_lifecycle_is_checked() -> None:
    server = SendServer()
    outside = AsyncDevSMS(TOKEN)
    with pytest.raises(UsageError):
        async with outside.stream_bulk(messages(2)):
            pass

    async with client_for(server) as sms:
        stream = sms.stream_bulk(messages(2))
        with pytest.raises(UsageError, match="async with"):
            await stream.__anext__()
        async with stream:
            assert "running" in repr(stream)
            assert len([r async for r in stream]) == 2
        with pytest.raises(UsageError, match="runs once"):
            async with stream:
                pass
        assert [r async for r in stream] == []  # iterating after the block ends at once
        assert "closed" in repr(stream)


def test_bulk_result_outcomes_and_repr() -> None:
    message = BulkMessage(phone="998901234567", message="secret text")
    sent = BulkResult(index=0, message=message, result=object())  # type: ignore[arg-type]
    assert sent.outcome is BulkOutcome.SENT
    assert sent.ok
    failed = BulkResult(index=1, message=message, error=ValidationError("phone", "bad"))
    assert failed.outcome is BulkOutcome.FAILED
    assert not failed.ok
    unknown_error = SendOutcomeUnknownError(
        "x",
        phone="998901234567",
        fingerprint="f",
        started_at=None,  # type: ignore[arg-type]
    )
    unknown = BulkResult(index=2, message=message, error=unknown_error)
    assert unknown.outcome is BulkOutcome.UNKNOWN
    assert not unknown.ok
    idle = BulkResult(index=3, message=message)
    assert idle.outcome is BulkOutcome.NOT_STARTED
    assert not idle.ok
    assert str(BulkOutcome.NOT_STARTED) == "not_started"
    text = repr(failed)
    assert "998901234567" not in text
    assert "secret text" not in text


async def test_bulk_stream_is_exported_lazily() -> None:
    import devsms_async

    with pytest.warns(DeprecationWarning, match=r"devsms_async\.bulk\.BulkStream"):
        assert devsms_async.BulkStream is BulkStream


# --- the docs and the examples --------------------------------------------------------


def test_the_bulk_page_examples_print_what_they_say() -> None:
    assert run_doc_examples(REPO / "docs" / "bulk.md") == 8


def load_example(name: str) -> Any:
    path = REPO / "docs" / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_the_csv_example_journals_every_row_and_resumes(tmp_path: Path) -> None:
    from devsms_async._journal import content_hash
    from devsms_async.bulk import FileJournal, JournalEntry
    from devsms_async.testing import Sandbox

    example = load_example("bulk_csv")
    rows = [(f"99890{i:07d}", f"Salom #{i}") for i in range(1, 31)]
    rows[4] = ("12", "bad number")  # row 5
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text("".join(f"{p},{t}\n" for p, t in rows), encoding="utf-8")
    journal = tmp_path / "contacts.jsonl"
    # An earlier run was killed: rows 1-3 sent, row 4 in doubt, row 6 not started.
    with FileJournal(journal) as earlier:
        for row, state in [
            (1, "sent"),
            (2, "sent"),
            (3, "sent"),
            (4, "attempting"),
            (6, "not_started"),
        ]:
            digest = content_hash(*rows[row - 1], None)
            await earlier.write(JournalEntry(index=row - 1, hash=digest, state=state))  # type: ignore[arg-type]
    sandbox = Sandbox()
    async with sandbox.client() as sms:
        counts = await example.send_csv(sms, csv_path, journal)
    # Row 4 is too recent to call "not sent": it stays in doubt, never sent blindly.
    assert counts == {"already_sent": 3, "unknown": 1, "sent": 25, "failed": 1}
    sent_rows = sorted(int(m.text.removeprefix("Salom #")) for m in sandbox.messages)
    assert sent_rows == [r for r in range(1, 31) if r not in (1, 2, 3, 4, 5)]
    last = {entry["row"]: entry for entry in journal_lines(journal)[1:]}
    assert sorted(last) == [r for r in range(1, 31) if r != 5]  # invalid: never attempted
    assert last[6]["state"] == "sent"
    assert last[6]["sms_id"] is not None

    # Run again, once row 4 is old enough: absent from the history, so it goes out now.
    async with sandbox.client() as sms:
        counts = await example.send_csv(sms, csv_path, journal, min_age=0)
    assert counts == {"already_sent": 28, "sent": 1, "failed": 1}
    assert len(sandbox.messages) == 26


def test_the_csv_example_can_be_interrupted_and_rerun_without_double_sends(
    run: Run, tmp_path: Path
) -> None:
    from devsms_async.testing import Sandbox

    example = load_example("bulk_csv")
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text(
        "".join(f"99890{i:07d},Salom #{i}\n" for i in range(1, 101)), encoding="utf-8"
    )
    journal = tmp_path / "contacts.jsonl"

    async def scenario() -> None:
        sandbox = Sandbox()
        real_handle = sandbox._handle
        with anyio.CancelScope() as scope:

            def handle(*args: Any) -> Any:
                # Ctrl-C, as it were, while the 30th send is being answered.
                if len(sandbox.messages) == 29:
                    scope.cancel()
                return real_handle(*args)

            sandbox._handle = handle  # type: ignore[method-assign, assignment]
            async with sandbox.client() as sms:
                await example.send_csv(sms, csv_path, journal)
        assert scope.cancelled_caught
        first_run = journal_lines(journal)[1:]
        assert 30 <= len(first_run) < 200

        sandbox._handle = real_handle  # type: ignore[method-assign]
        async with sandbox.client() as sms:
            await example.send_csv(sms, csv_path, journal, min_age=0)
        texts = [m.text for m in sandbox.messages]
        assert sorted(texts) == sorted(f"Salom #{i}" for i in range(1, 101))  # once each

    run(scenario)


async def test_the_fastapi_example_runs_a_campaign_in_the_background() -> None:
    from devsms_async.testing import Sandbox

    example = load_example("bulk_fastapi")
    sandbox = Sandbox()
    app = example.create_app(sandbox.client)
    phones = [f"99890{i:07d}" for i in range(1, 6)] + ["12"]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
    ):
        started = await client.post("/campaigns", json={"text": "Toʻlov!", "phones": phones})
        assert started.status_code == 202
        assert started.json() == {"id": 1, "progress": "/campaigns/1"}
        # The in-process transport returns once the background task is done.
        report = (await client.get("/campaigns/1")).json()
        assert (await client.get("/campaigns/2")).status_code == 404
        refused = await client.post("/campaigns", json={"text": "x", "phones": []})
        assert refused.status_code == 422
    assert report["finished"] is True
    assert report["counts"] == {"sent": 5, "failed": 1}
    assert Decimal(report["spent"]) == 5 * 50  # money stays exact: "250.00"
    assert report["problems"][0]["index"] == 5
    assert [m.text for m in sandbox.messages] == ["To'lov!"] * 5  # normalised
