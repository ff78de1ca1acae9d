"""Rate limits for sends (`devsms_async.ratelimit`) without Redis: the GCRA arithmetic on
a fake clock, `LocalRateLimit`, and what `rate_limit=` paces on both faces and in bulk
(sends, never reads; a slot before anything is journaled or sent; no slot, no send).

The shared `RedisRateLimit` against a real redis-server: tests/scale/test_ratelimit_redis.py.
"""

from __future__ import annotations

import itertools
import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing

from devsms_async import (
    AsyncDevSMS,
    DevSMS,
    DevSMSError,
    OtpTemplate,
    RateLimitUnavailableError,
    ValidationError,
)
from devsms_async.bulk import BulkMessage, BulkOutcome, FileJournal
from devsms_async.ratelimit import (
    LocalRateLimit,
    RateLimit,
    RedisRateLimit,
    SyncRateLimit,
)
from devsms_async.testing import Sandbox

Run = Callable[..., Any]


def phone(i: int) -> str:
    return f"99890{i:07d}"


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


# -- the arithmetic ----------------------------------------------------------------------------


def test_starts_are_spaced_evenly_and_no_burst_is_saved_up_while_idle() -> None:
    time = FakeTime()
    limit = LocalRateLimit(4, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(5):
        limit.acquire_sync()
        starts.append(time.now - 1000)
    assert starts == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    time.now += 10  # idle for 10 s: the next start is at once, the one after 0.25 s later
    limit.acquire_sync()
    limit.acquire_sync()
    assert time.slept == pytest.approx([0.25, 0.25, 0.25, 0.25, 0.25])


def test_callers_arriving_together_each_get_their_own_later_slot() -> None:
    time = FakeTime()
    limit = LocalRateLimit(10, clock=time.clock, sleep=lambda s: None)
    # Five callers reserve at the same instant (none has slept yet): 0, 0.1, ... 0.4 s.
    waits = [limit._reserve() for _ in range(5)]
    assert waits == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("per_second", [3, 7, 0.5, 1000])
def test_the_interval_is_rounded_up_so_no_window_holds_one_too_many(per_second: float) -> None:
    time = FakeTime()
    limit = LocalRateLimit(per_second, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(int(per_second * 3) + 2):
        limit.acquire_sync()
        starts.append(time.now)
    most = math.ceil(per_second)
    for i in range(len(starts) - most):
        # Any one second holds <= per_second (1e-9: the fake clock adds floats).
        assert starts[i + most] - starts[i] >= 1.0 - 1e-9


def test_async_acquire_spaces_the_starts_on_trio_virtual_time() -> None:
    async def scenario() -> list[float]:
        limit = LocalRateLimit(5, clock=anyio.current_time)
        starts: list[float] = []

        async def one() -> None:
            await limit.acquire()
            starts.append(anyio.current_time())

        async with anyio.create_task_group() as tg:
            for _ in range(11):
                tg.start_soon(one)
        return sorted(starts)

    starts = anyio.run(
        scenario,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.2] * 10)


def test_async_acquire_on_both_backends_in_real_time(run: Run) -> None:
    async def scenario() -> list[float]:
        limit = LocalRateLimit(50)
        starts = []
        for _ in range(6):
            await limit.acquire()
            starts.append(anyio.current_time())
        return starts

    starts = run(scenario)
    assert starts[-1] - starts[0] >= 5 / 50 - 0.002  # never faster than the limit


def test_a_local_limit_after_fork_starts_afresh() -> None:
    import os

    time = FakeTime()
    limit = LocalRateLimit(1, clock=time.clock, sleep=lambda s: None)
    assert limit._reserve() == 0
    assert limit._reserve() == 1.0
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, repr(limit._reserve()).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert (status, child) == (0, "0.0")  # its own schedule: the parent's slots are not its
    assert limit._reserve() == 2.0  # the parent's is untouched


# -- the objects -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, True, "5", None])
def test_per_second_must_be_a_positive_number(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        LocalRateLimit(bad)
    assert caught.value.field == "per_second"
    with pytest.raises(ValidationError):
        RedisRateLimit("redis://127.0.0.1:6379/0", per_second=bad)


@pytest.mark.parametrize(
    ("url", "options", "field"),
    [
        ("http://127.0.0.1:6379", {}, "url"),
        ("", {}, "url"),
        (6379, {}, "url"),
        ("redis://h", {"name": ""}, "name"),
        ("redis://h", {"name": "two words"}, "name"),
        ("redis://h", {"name": 5}, "name"),
        ("redis://h", {"timeout": 0}, "timeout"),
        ("redis://h", {"retry_for": -1}, "retry_for"),
    ],
)
def test_redis_rate_limit_arguments(url: Any, options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RedisRateLimit(url, per_second=5, **options)
    assert caught.value.field == field


def test_the_password_of_a_redis_url_is_never_shown() -> None:
    limit = RedisRateLimit("redis://user:s3cret-pw@redis.internal:6380/2", per_second=20)
    assert "s3cret-pw" not in repr(limit)
    assert repr(limit) == (
        "<RedisRateLimit redis://user:***@redis.internal:6380/2 name='devsms' per_second=20>"
    )
    with pytest.raises(ValidationError) as caught:
        RedisRateLimit("http://user:s3cret-pw@h/", per_second=1)
    assert "s3cret-pw" not in str(caught.value)


def test_a_redis_limit_pickles_as_its_settings() -> None:
    limit = RedisRateLimit("redis://:pw@127.0.0.1:1/0", per_second=7, name="promo")
    copy = pickle.loads(pickle.dumps(limit))
    assert repr(copy) == repr(limit)
    assert (copy.per_second, copy.name) == (7, "promo")


def test_both_limits_are_both_kinds() -> None:
    for limit in (LocalRateLimit(1), RedisRateLimit("redis://h", per_second=1)):
        assert isinstance(limit, RateLimit)
        assert isinstance(limit, SyncRateLimit)


# -- what rate_limit= paces ---------------------------------------------------------------------


class Counting:
    """A rate limit that counts the slots taken (both kinds)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.taken = 0
        self.fail_after = fail_after

    def _take(self) -> None:
        if self.fail_after is not None and self.taken >= self.fail_after:
            raise RateLimitUnavailableError("no slot today")
        self.taken += 1

    async def acquire(self) -> None:
        self._take()

    def acquire_sync(self) -> None:
        self._take()


def test_sends_take_a_slot_and_reads_do_not_on_the_async_face(run: Run) -> None:
    sandbox = Sandbox()
    limit = Counting()

    async def scenario() -> None:
        async with AsyncDevSMS(
            sandbox.token, transport=sandbox.transport(), rate_limit=limit
        ) as sms:
            sent = await sms.send_sms(phone(1), "one")
            assert limit.taken == 1
            await sms.send_otp(
                phone(2), template=OtpTemplate.LOGIN, service_name="App", otp_code="1234"
            )
            assert limit.taken == 2
            await sms.get_balance()
            await sms.get_history()
            await sms.get_status(sms_id=sent.sms_id)
            assert limit.taken == 2
            with pytest.raises(ValidationError):
                await sms.send_sms("not a phone", "x")  # bad input never takes a slot
            assert limit.taken == 2
            results = await sms.send_bulk([(phone(i), "bulk") for i in range(5)])
            assert all(r.ok for r in results)
            assert limit.taken == 7
            assert sms.rate_limit is limit

    run(scenario)


def test_sends_take_a_slot_and_reads_do_not_on_the_sync_face() -> None:
    sandbox = Sandbox()
    limit = Counting()
    with DevSMS(sandbox.token, transport=sandbox.transport(), rate_limit=limit) as sms:
        sms.send_sms(phone(1), "one")
        sms.send_otp(phone(2), template=OtpTemplate.LOGIN, service_name="App", otp_code="1234")
        sms.get_balance()
        sms.get_history()
        with pytest.raises(ValidationError):
            sms.send_sms("not a phone", "x")
    assert limit.taken == 2
    assert len(sandbox.messages) == 2


def test_a_send_without_a_slot_does_not_start() -> None:
    sandbox = Sandbox()
    with (
        DevSMS(sandbox.token, transport=sandbox.transport(), rate_limit=Counting(0)) as sms,
        pytest.raises(RateLimitUnavailableError),
    ):
        sms.send_sms(phone(1), "x")
    assert sandbox.requests == []

    async def scenario() -> None:
        async with sandbox.client(rate_limit=Counting(0)) as sms:
            with pytest.raises(RateLimitUnavailableError) as caught:
                await sms.send_sms(phone(1), "x")
            assert isinstance(caught.value, DevSMSError)

    anyio.run(scenario)
    assert sandbox.requests == []


def test_the_job_limit_and_the_client_limit_both_apply(run: Run) -> None:
    sandbox = Sandbox()
    client_limit, job_limit = Counting(), Counting()

    async def scenario() -> None:
        async with sandbox.client(rate_limit=client_limit) as sms:
            await sms.send_bulk([(phone(i), "x") for i in range(4)], rate_limit=job_limit)
            async with sms.stream_bulk([(phone(9), "y")], rate_limit=job_limit) as results:
                assert [r.outcome async for r in results] == [BulkOutcome.SENT]

    run(scenario)
    assert (client_limit.taken, job_limit.taken) == (5, 5)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda s: s.client(rate_limit=object()), "rate_limit"),
        (lambda s: s.sync_client(rate_limit=object()), "rate_limit"),
    ],
)
def test_a_rate_limit_without_the_face_s_method_is_refused(make: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make(Sandbox())
    assert caught.value.field == field


def test_the_sync_face_refuses_an_async_only_limit_and_bulk_checks_its_options() -> None:
    class AsyncOnly:
        async def acquire(self) -> None:
            pass

    sandbox = Sandbox()
    with pytest.raises(ValidationError, match="acquire_sync"):
        sandbox.sync_client(rate_limit=AsyncOnly())
    sms = sandbox.client()
    with pytest.raises(ValidationError, match="not both"):
        sms.stream_bulk([], per_second=5, rate_limit=LocalRateLimit(5))
    with pytest.raises(ValidationError, match="acquire"):
        sms.stream_bulk([], rate_limit=object())  # type: ignore[arg-type]


def test_a_bulk_job_without_a_slot_fails_that_message_and_starts_no_new_send(
    run: Run, tmp_path: Path
) -> None:
    sandbox = Sandbox()
    messages = [BulkMessage(phone=phone(i), message=f"m{i}") for i in range(10)]
    journal_path = tmp_path / "job.journal"

    async def first_run() -> tuple[list[Any], str | None]:
        with FileJournal(journal_path) as journal:
            async with sandbox.client() as sms:
                stream = sms.stream_bulk(
                    messages, concurrency=1, rate_limit=Counting(fail_after=3), journal=journal
                )
                async with stream as results:
                    seen = [r async for r in results]
                return seen + list(stream.leftover), stream.stopped_because

    results, why = run(first_run)
    outcomes = [r.outcome for r in results]
    assert outcomes == [BulkOutcome.SENT] * 3 + [BulkOutcome.FAILED]
    assert isinstance(results[3].error, RateLimitUnavailableError)
    assert why is not None
    assert "rate limit" in why
    assert [m.phone for m in sandbox.messages] == [phone(i) for i in range(3)]

    async def second_run() -> list[Any]:
        with FileJournal(journal_path) as journal:
            async with sandbox.client() as sms:
                return await sms.send_bulk(
                    messages, journal=journal, rate_limit=LocalRateLimit(1000)
                )

    again = run(second_run)
    # The FAILED one had no attempt journaled: it is sent now, with the rest, once each.
    assert [r.outcome for r in again] == [BulkOutcome.ALREADY_SENT] * 3 + [BulkOutcome.SENT] * 7
    assert sorted(m.phone for m in sandbox.messages) == [phone(i) for i in range(10)]


def test_a_waiter_that_wakes_too_late_takes_a_new_slot_rather_than_burst() -> None:
    time = FakeTime()
    oversleep = [0.3]

    def sleep(seconds: float) -> None:  # the process was not scheduled for 0.3 s once
        time.sleep(seconds + (oversleep.pop() if oversleep else 0))

    limit = LocalRateLimit(10, clock=time.clock, sleep=sleep)
    limit.acquire_sync()  # at 0
    limit.acquire_sync()  # its slot was 0.1, it woke at 0.4: too late, it starts at 0.4...
    assert time.now - 1000 == pytest.approx(0.4)
    limit.acquire_sync()  # ...on a new slot, so the next one is a full interval later
    assert time.now - 1000 == pytest.approx(0.5)
