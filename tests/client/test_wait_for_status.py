"""``AsyncDevSMS.wait_for_status``: polling with backoff, on asyncio and trio.

On trio the backoff runs on ``trio.testing.MockClock`` (no wall time), so the exact
poll schedule is asserted; on asyncio the intervals are milliseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import httpx
import pytest
import trio.testing

from devsms_async import (
    AsyncDevSMS,
    DevSMSError,
    NotFoundError,
    SmsRecord,
    SmsStatus,
    ValidationError,
)
from devsms_async._polling import WaitTimeoutError
from support import TOKEN, history_record

Run = Callable[..., Any]


def record_json(status: str, sms_id: int = 123) -> dict[str, Any]:
    return history_record(
        id=sms_id, status=status, delivered_at=None, updated_at="2026-03-09 10:30:05"
    )


class StatusServer:
    """A ``MockTransport`` handler answering ``get_status`` with a status script.

    The last status repeats once the script runs out; ``times`` holds the clock
    (``anyio.current_time()``) of each poll and ``queries`` its query string.
    """

    def __init__(self, statuses: Iterable[str], *, hang_after: int | None = None) -> None:
        self.statuses = list(statuses)
        self.hang_after = hang_after
        self.times: list[float] = []
        self.queries: list[dict[str, str]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/get_status.php")
        self.times.append(anyio.current_time())
        self.queries.append(dict(request.url.params))
        if self.hang_after is not None and len(self.times) > self.hang_after:
            await anyio.sleep(math.inf)
        status = self.statuses[min(len(self.times), len(self.statuses)) - 1]
        body = {"success": True, "data": record_json(status)}
        return httpx.Response(200, content=json.dumps(body).encode())

    @property
    def polls(self) -> int:
        return len(self.times)

    def offsets(self) -> list[float]:
        return [t - self.times[0] for t in self.times]


def client(server: StatusServer) -> AsyncDevSMS:
    return AsyncDevSMS(TOKEN, transport=httpx.MockTransport(server))


@pytest.fixture
def fast(backend: str) -> dict[str, Any]:
    """Timing options and backend options: real-size intervals on trio's mock clock,
    milliseconds on asyncio."""
    if backend == "trio":
        return {
            "poll": {"poll_initial": 1.0, "poll_max": 10.0},
            "backend": {"clock": trio.testing.MockClock(autojump_threshold=0)},
            "scale": 1.0,
        }
    return {"poll": {"poll_initial": 0.001, "poll_max": 0.004}, "backend": {}, "scale": 0.001}


def test_returns_the_first_final_record(run: Run, fast: dict[str, Any]) -> None:
    server = StatusServer(["pending", "sent", "sent", "delivered", "failed"])

    async def scenario() -> SmsRecord:
        async with client(server) as sms:
            return await sms.wait_for_status(123, **fast["poll"])

    record = run(scenario, **fast["backend"])
    assert record.status is SmsStatus.DELIVERED
    assert server.polls == 4
    assert server.queries[0] == {"sms_id": "123"}


def test_backoff_doubles_up_to_poll_max() -> None:
    # The exact schedule needs trio's MockClock.
    server = StatusServer(["sent"] * 7 + ["delivered"])

    async def scenario() -> None:
        async with client(server) as sms:
            await sms.wait_for_status(sms_id=123, poll_initial=1.0, poll_max=10.0, timeout=None)

    clock = trio.testing.MockClock(autojump_threshold=0)
    anyio.run(scenario, backend="trio", backend_options={"clock": clock})
    # First poll at once, then gaps 1, 2, 4, 8, 10, 10, 10.
    assert server.offsets() == [0, 1, 3, 7, 15, 25, 35, 45]


def test_timeout_raises_with_the_last_record(run: Run, fast: dict[str, Any]) -> None:
    server = StatusServer(["pending", "sent"])
    scale = fast["scale"]
    timeout = 30 * scale
    elapsed: list[float] = []

    async def scenario() -> None:
        async with client(server) as sms:
            start = anyio.current_time()
            try:
                await sms.wait_for_status(123, timeout=timeout, **fast["poll"])
            finally:
                elapsed.append(anyio.current_time() - start)

    with pytest.raises(WaitTimeoutError) as info:
        run(scenario, **fast["backend"])
    error = info.value
    assert isinstance(error, DevSMSError)
    assert isinstance(error, TimeoutError)
    assert error.last is not None
    assert error.last.status is SmsStatus.SENT
    assert error.polls == server.polls
    assert error.sms_id == 123
    assert error.request_id is None
    assert error.timeout == timeout
    assert "sms_id=123" in str(error)
    assert "delivered/failed" in str(error)
    assert "last status: sent" in str(error)
    assert elapsed[0] >= timeout
    if fast["scale"] == 1.0:  # trio: exact, polls at 0, 1, 3, 7, 15, 25; next is 35 > 30
        assert server.offsets() == [0, 1, 3, 7, 15, 25]
        assert elapsed == [30]


def test_timeout_cancels_a_poll_in_flight(run: Run, fast: dict[str, Any]) -> None:
    # The second poll never answers: the deadline still holds.
    server = StatusServer(["sent"], hang_after=1)
    # On asyncio the clock is the wall clock: half a second leaves room for the first
    # poll on a loaded machine (5 ms did not), while the hung second poll still has to
    # be cancelled by the deadline for the test to end.
    timeout = 5.0 if fast["scale"] == 1.0 else 0.5

    async def scenario() -> None:
        async with client(server) as sms:
            await sms.wait_for_status(123, timeout=timeout, **fast["poll"])

    with pytest.raises(WaitTimeoutError) as info:
        run(scenario, **fast["backend"])
    assert server.polls == 2
    assert info.value.polls == 1
    assert info.value.last is not None


def test_timeout_before_any_answer_says_so(run: Run, fast: dict[str, Any]) -> None:
    server = StatusServer(["sent"], hang_after=0)

    async def scenario() -> None:
        async with client(server) as sms:
            await sms.wait_for_status(
                request_id="uuid-here", timeout=2 * fast["scale"], **fast["poll"]
            )

    with pytest.raises(WaitTimeoutError) as info:
        run(scenario, **fast["backend"])
    assert info.value.last is None
    assert info.value.polls == 0
    assert "request_id='uuid-here'" in str(info.value)
    assert "no poll answered" in str(info.value)


@pytest.mark.parametrize(
    "until",
    [{SmsStatus.SENT}, {"sent"}, [SmsStatus.SENT, SmsStatus.DELIVERED], ("sent",)],
)
def test_until_statuses(run: Run, fast: dict[str, Any], until: Any) -> None:
    server = StatusServer(["pending", "pending", "sent", "delivered"])

    async def scenario() -> SmsRecord:
        async with client(server) as sms:
            return await sms.wait_for_status(123, until=until, **fast["poll"])

    assert run(scenario, **fast["backend"]).status is SmsStatus.SENT
    assert server.polls == 3


def test_until_predicate_sees_the_record(run: Run, fast: dict[str, Any]) -> None:
    server = StatusServer(["pending", "sent", "sent", "delivered"])
    seen: list[SmsStatus] = []

    def second_sent(record: SmsRecord) -> bool:
        seen.append(record.status)
        return seen.count(SmsStatus.SENT) == 2

    async def scenario() -> SmsRecord:
        async with client(server) as sms:
            return await sms.wait_for_status(123, until=second_sent, **fast["poll"])

    assert run(scenario, **fast["backend"]).status is SmsStatus.SENT
    assert seen == [SmsStatus.PENDING, SmsStatus.SENT, SmsStatus.SENT]


def test_a_final_status_ends_the_wait_even_if_not_awaited(run: Run, fast: dict[str, Any]) -> None:
    # Waiting for "delivered" when the SMS failed: nothing will change, return now.
    server = StatusServer(["sent", "failed", "delivered"])

    async def scenario() -> SmsRecord:
        async with client(server) as sms:
            return await sms.wait_for_status(123, until={SmsStatus.DELIVERED}, **fast["poll"])

    assert run(scenario, **fast["backend"]).status is SmsStatus.FAILED
    assert server.polls == 2


def test_an_unknown_status_is_not_final(run: Run, fast: dict[str, Any]) -> None:
    server = StatusServer(["queued", "delivered"])

    async def scenario() -> SmsRecord:
        async with client(server) as sms:
            return await sms.wait_for_status(123, **fast["poll"])

    assert run(scenario, **fast["backend"]).status is SmsStatus.DELIVERED
    assert server.polls == 2


def test_poll_errors_propagate(run: Run) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json={"success": False, "error": "SMS topilmadi"})

    async def scenario() -> None:
        async with AsyncDevSMS(TOKEN, transport=httpx.MockTransport(handler)) as sms:
            await sms.wait_for_status(999)

    with pytest.raises(NotFoundError):
        run(scenario)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "sms_id"),
        ({"sms_id": 1, "request_id": "x"}, "sms_id"),
        ({"sms_id": 0}, "sms_id"),
        ({"sms_id": True}, "sms_id"),
        ({"request_id": " "}, "request_id"),
        ({"sms_id": 1, "until": "delivered"}, "until"),
        ({"sms_id": 1, "until": {"delivered", "read"}}, "until"),
        ({"sms_id": 1, "until": set()}, "until"),
        ({"sms_id": 1, "until": 3}, "until"),
        ({"sms_id": 1, "poll_initial": 0}, "poll_initial"),
        ({"sms_id": 1, "poll_initial": -1.0}, "poll_initial"),
        ({"sms_id": 1, "poll_initial": math.nan}, "poll_initial"),
        ({"sms_id": 1, "poll_initial": True}, "poll_initial"),
        ({"sms_id": 1, "poll_max": math.inf}, "poll_max"),
        ({"sms_id": 1, "poll_initial": 5.0, "poll_max": 1.0}, "poll_max"),
        ({"sms_id": 1, "timeout": 0}, "timeout"),
        ({"sms_id": 1, "timeout": -3}, "timeout"),
        ({"sms_id": 1, "timeout": math.nan}, "timeout"),
        ({"sms_id": 1, "timeout": "60"}, "timeout"),
    ],
)
async def test_bad_arguments_fail_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    server = StatusServer(["delivered"])
    async with client(server) as sms:
        with pytest.raises(ValidationError) as info:
            await sms.wait_for_status(**kwargs)
    assert info.value.field == field
    assert server.polls == 0


async def test_outside_the_context_is_a_usage_error() -> None:
    from devsms_async import UsageError

    sms = client(StatusServer(["delivered"]))
    with pytest.raises(UsageError):
        await sms.wait_for_status(1)
