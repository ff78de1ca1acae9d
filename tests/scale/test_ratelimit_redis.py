"""`RedisRateLimit` against a real redis-server on 127.0.0.1 that these tests start, stop
and restart (tests/support/redis_server.py), with real worker processes
(tests/scale/ratelimit_worker.py) sending to a sandbox served over HTTP.

The one timing assertion is the behaviour itself: counting sends per one-second window
at the sandbox.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
import redis as sync_redis

from devsms_async import DevSMS, RateLimitUnavailableError
from devsms_async.bulk import BulkMessage, BulkOutcome, FileJournal
from devsms_async.ratelimit import _GCRA_LUA, RedisRateLimit, _Gcra
from devsms_async.testing import Sandbox, SandboxServer, serve_sandbox
from support.redis_server import RedisServer

Run = Callable[..., Any]
WORKER = Path(__file__).with_name("ratelimit_worker.py")


def phone(i: int) -> str:
    return f"99891{i:07d}"


def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def most_in_one_second(times: list[_dt.datetime]) -> int:
    """The largest number of `times` in any window [t, t + 1 s) (sliding, from each one)."""
    ordered = sorted(times)
    most = 0
    end = 0
    for start, first in enumerate(ordered):
        while end < len(ordered) and ordered[end] - first < _dt.timedelta(seconds=1):
            end += 1
        most = max(most, end - start)
    return most


def send_times(sandbox: Sandbox) -> list[_dt.datetime]:
    times = [r.received_at for r in sandbox.requests if r.endpoint == "send_sms.php"]
    assert None not in times
    return times  # type: ignore[return-value]


@contextmanager
def served(sandbox: Sandbox) -> Iterator[SandboxServer]:
    """The sandbox over HTTP from a thread of this process, so the test reads its
    recorded requests directly while worker processes send to it."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as server,
    ):
        yield server


# -- the Lua script is the same arithmetic as the local limit -------------------------------


def test_the_script_reserves_slots_like_the_gcra_on_a_fake_clock(redis_url: str) -> None:
    limit = RedisRateLimit(redis_url, per_second=4, name=unique_name())
    local = _Gcra(250_000)
    now = 1_700_000_000_000_000  # microseconds
    steps = [0, 0, 0, 100_000, 900_000, 0, 5_000_000, 1, 250_000, 249_999]
    for step in steps:
        now += step
        assert limit._reserve_sync(now_us=now) == local.reserve(now) / 1_000_000
    limit.close()
    assert "redis.call('TIME')" in _GCRA_LUA  # without a fake now, the server's clock


def test_the_key_expires_once_idle(redis_url: str) -> None:
    name = unique_name()
    limit = RedisRateLimit(redis_url, per_second=2, name=name)
    limit.acquire_sync()
    with sync_redis.Redis.from_url(redis_url) as raw:
        ttl = raw.pttl(f"devsms:ratelimit:{name}")
    assert 0 < ttl <= 1500  # the next slot (0.5 s) plus a second: no key left behind
    limit.close()


# -- Done when: 4 processes share per_second=20 for 10 s -------------------------------------


def _four_workers_for_ten_seconds(redis_url: str) -> tuple[Sandbox, list[dict[str, int]]]:
    sandbox = Sandbox(latency=0.05, balance=10**9)
    name = unique_name()
    faces = ["bulk", "bulk-trio", "client", "sync"]
    with served(sandbox) as server:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    json.dumps(
                        {
                            "base_url": server.base_url,
                            "token": sandbox.token,
                            "redis_url": redis_url,
                            "name": name,
                            "per_second": 20,
                            "duration": 10,
                            "worker": worker,
                            "face": face,
                        }
                    ),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            for worker, face in enumerate(faces)
        ]
        try:
            for proc in procs:  # every worker has imported everything...
                assert proc.stdout is not None
                assert proc.stdout.readline() == b"ready\n"
            for proc in procs:  # ...then all start together
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
                proc.stdin.flush()
            reports = []
            for proc in procs:
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err.decode()
                reports.append(json.loads(out))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return sandbox, reports


class StallWatch:
    """Notices when this machine stops running us for a while (the longest oversleep of
    a 5 ms sleep): a stall after a slot was granted puts late sends of every process
    into one window at the sandbox, a fault of the measurement, not of the limit."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            time.sleep(0.005)
            self.longest = max(self.longest, time.monotonic() - started - 0.005)

    def __enter__(self) -> StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_four_processes_share_twenty_a_second(redis_url: str) -> None:
    # Done when: no one-second window at the sandbox holds more than 22 sends, and at
    # least 180 are sent. A run during which the machine stalled for over 50 ms (a
    # shared, overloaded machine) and broke the bound is measured once more.
    for attempt in range(3):
        with StallWatch() as watch:
            sandbox, reports = _four_workers_for_ten_seconds(redis_url)
        times = send_times(sandbox)
        if most_in_one_second(times) <= 22 or watch.longest < 0.05 or attempt == 2:
            break
    sent = sum(report["sent"] for report in reports)
    assert [report["failed"] for report in reports] == [0, 0, 0, 0]
    assert all(report["sent"] > 0 for report in reports)  # every face took part
    assert len(times) == sent == len(sandbox.messages)
    assert sent >= 180
    assert most_in_one_second(times) <= 22


# -- Redis stopped and restarted mid-job ------------------------------------------------------


def test_a_redis_restart_mid_job_is_waited_out_and_nothing_is_sent_without_a_slot(
    run: Run, redis_server: RedisServer
) -> None:
    sandbox = Sandbox()
    limit = RedisRateLimit(redis_server.url, per_second=100, name=unique_name(), retry_for=30)
    messages = [(phone(i), f"m{i}") for i in range(60)]
    outage: dict[str, float] = {}

    def restart() -> None:
        time.sleep(2)
        outage["restart"] = time.time()
        redis_server.start()

    def on_result(result: object) -> None:
        if "stop" not in outage and len(sandbox.messages) >= 20:
            redis_server.stop()
            outage["stop"] = time.time()
            threading.Thread(target=restart).start()

    async def scenario() -> list[Any]:
        async with sandbox.client() as sms:
            results = await sms.send_bulk(messages, rate_limit=limit, on_result=on_result)
        await limit.aclose()
        return results

    results = run(scenario)
    assert [r.outcome for r in results] == [BulkOutcome.SENT] * 60
    phones = sorted(m.phone for m in sandbox.messages)
    assert phones == sorted(p for p, _ in messages)  # each exactly once
    # Slots reserved before the stop are at most 10 sends (0.1 s) ahead; after that,
    # nothing was sent until Redis was back.
    quiet_from = outage["stop"] + 0.7
    during = [t for t in send_times(sandbox) if quiet_from < t.timestamp() < outage["restart"]]
    assert during == []
    assert any(t.timestamp() >= outage["restart"] for t in send_times(sandbox))


def test_redis_down_past_retry_for_stops_the_job_typed_and_a_rerun_resumes_it(
    run: Run, redis_server: RedisServer, tmp_path: Path
) -> None:
    sandbox = Sandbox()
    name = unique_name()
    messages = [BulkMessage(phone=phone(i), message=f"m{i}") for i in range(40)]
    journal_path = tmp_path / "job.journal"

    def on_result(result: object) -> None:
        if redis_server.running and len(sandbox.messages) >= 10:
            redis_server.stop()

    async def first_run() -> tuple[list[Any], str | None]:
        limit = RedisRateLimit(redis_server.url, per_second=50, name=name, retry_for=0.3)
        with FileJournal(journal_path) as journal:
            async with sandbox.client() as sms:
                stream = sms.stream_bulk(messages, rate_limit=limit, journal=journal)
                async with stream as results:
                    seen = []
                    async for result in results:
                        on_result(result)
                        seen.append(result)
        await limit.aclose()
        return seen + list(stream.leftover), stream.stopped_because

    results, why = run(first_run)
    outcomes = [r.outcome for r in results]
    assert BulkOutcome.UNKNOWN not in outcomes
    sent = outcomes.count(BulkOutcome.SENT)
    failed = [r for r in results if r.outcome is BulkOutcome.FAILED]
    assert failed
    assert [type(r.error).__name__ for r in failed] == ["RateLimitUnavailableError"] * len(failed)
    assert "did not start" in str(failed[0].error)
    assert set(outcomes) <= {BulkOutcome.SENT, BulkOutcome.FAILED, BulkOutcome.NOT_STARTED}
    assert why is not None
    assert len(sandbox.messages) == sent < 40  # what was not SENT never reached the provider

    redis_server.start()

    async def second_run() -> list[Any]:
        limit = RedisRateLimit(redis_server.url, per_second=200, name=name)
        with FileJournal(journal_path) as journal:
            async with sandbox.client() as sms:
                done = await sms.send_bulk(messages, rate_limit=limit, journal=journal)
        await limit.aclose()
        return done

    again = run(second_run)
    first = {r.index: r.outcome for r in results}
    for r in again:  # what the first run sent is skipped, everything else is sent now
        sent_before = first.get(r.index) is BulkOutcome.SENT
        assert r.outcome is (BulkOutcome.ALREADY_SENT if sent_before else BulkOutcome.SENT)
    assert sorted(m.phone for m in sandbox.messages) == [phone(i) for i in range(40)]


def test_a_single_send_while_redis_is_down_is_a_typed_error_and_not_sent(
    run: Run, redis_server: RedisServer
) -> None:
    sandbox = Sandbox()
    url = redis_server.url
    redis_server.stop()
    limit = RedisRateLimit(url, per_second=5, name=unique_name(), retry_for=0.2, timeout=1)

    async def scenario() -> None:
        async with sandbox.client(rate_limit=limit) as sms:
            with pytest.raises(RateLimitUnavailableError, match="did not start"):
                await sms.send_sms(phone(1), "x")
        await limit.aclose()

    run(scenario)
    with (
        DevSMS(sandbox.token, transport=sandbox.transport(), rate_limit=limit) as sms,
        pytest.raises(RateLimitUnavailableError),
    ):
        sms.send_sms(phone(2), "x")
    assert sandbox.requests == []
    # Back up: the same limit object works again, no new one needed.
    redis_server.start()
    with DevSMS(sandbox.token, transport=sandbox.transport(), rate_limit=limit) as sms:
        sms.send_sms(phone(3), "x")
    assert [m.phone for m in sandbox.messages] == [phone(3)]
    limit.close()


def test_a_wrong_password_is_not_waited_on(redis_url: str) -> None:
    # The server has no password: AUTH fails at once, and retry_for is not spent on it.
    bad = redis_url.replace("redis://", "redis://someone:wrong-pw@")
    limit = RedisRateLimit(bad, per_second=5, name=unique_name(), retry_for=60)
    started = time.monotonic()
    with pytest.raises(RateLimitUnavailableError) as caught:
        limit.acquire_sync()
    assert time.monotonic() - started < 30
    assert "wrong-pw" not in str(caught.value)
    limit.close()


# -- the sync face ---------------------------------------------------------------------------


def test_the_sync_face_is_paced_by_the_shared_limit(redis_url: str) -> None:
    sandbox = Sandbox()
    limit = RedisRateLimit(redis_url, per_second=10, name=unique_name())
    with DevSMS(sandbox.token, transport=sandbox.transport(), rate_limit=limit) as sms:
        for i in range(14):
            sms.send_sms(phone(i), "x")
        sms.get_balance()
    limit.close()
    times = send_times(sandbox)
    assert len(times) == 14
    # 10 a second, evenly spaced: 13 intervals of 0.1 s at least (one send's own jitter
    # between its slot and its arrival may put one more in some window).
    assert (times[-1] - times[0]).total_seconds() >= 1.3 - 0.05
    assert most_in_one_second(times) <= 11


def test_one_limit_paces_both_faces_and_both_backends_together(run: Run, redis_url: str) -> None:
    name = unique_name()
    limit = RedisRateLimit(redis_url, per_second=20, name=name)
    other = RedisRateLimit(redis_url, per_second=20, name=name)  # another "process"
    starts: list[float] = []

    async def scenario() -> None:
        async with anyio.create_task_group() as tg:
            for lim in (limit, other) * 4:

                async def one(lim: RedisRateLimit = lim) -> None:
                    await lim.acquire()
                    starts.append(time.monotonic())

                tg.start_soon(one)
        for _ in range(4):
            await anyio.to_thread.run_sync(other.acquire_sync)
            starts.append(time.monotonic())
        await limit.aclose()
        await other.aclose()

    run(scenario)
    assert len(starts) == 12
    assert max(starts) - min(starts) >= 11 / 20 - 0.02  # one schedule for all of them


# -- fork --------------------------------------------------------------------------------------


def _child(limit: RedisRateLimit, url: str, backend: str, queue: Any) -> None:
    limit.acquire_sync()
    anyio.run(limit.acquire, backend=backend)
    with sync_redis.Redis.from_url(url) as raw:
        names = [client["name"] for client in raw.client_list()]
    anyio.run(limit.aclose, backend=backend)
    queue.put((os.getpid(), names))


def test_a_limit_made_before_fork_works_in_each_child_on_its_own_connections(
    redis_url: str,
) -> None:
    name = unique_name()
    limit = RedisRateLimit(redis_url, per_second=50, name=name)
    limit.acquire_sync()  # the parent has a connection open before forking

    async def parent_async() -> None:
        await limit.acquire()
        await limit.aclose()

    anyio.run(parent_async)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [
        context.Process(target=_child, args=(limit, redis_url, backend, queue))
        for backend in ("asyncio", "trio")
    ]
    for child in children:
        child.start()
    reports = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    for pid, names in reports:
        # Each child made its own connections (named with its pid), never used the
        # parent's (named with the parent's pid).
        assert f"devsms-ratelimit:{name}:{pid}" in names
    # The parent's own connection was not disturbed by the children.
    limit.acquire_sync()
    with sync_redis.Redis.from_url(redis_url) as raw:
        names = [client["name"] for client in raw.client_list()]
    assert names.count(f"devsms-ratelimit:{name}:{os.getpid()}") == 1
    limit.close()


def test_a_new_event_loop_gets_its_own_connection(redis_url: str) -> None:
    limit = RedisRateLimit(redis_url, per_second=1000, name=unique_name())

    async def task() -> None:
        await limit.acquire()
        await limit.aclose()  # the tidy way: close in the loop that used it

    with warnings.catch_warnings():
        # Like a Celery task that runs asyncio.run() and never closes the limit: the
        # first loop's connection is left behind, the next loop makes its own and
        # lets the ended loop's go (closed when collected, with a ResourceWarning).
        warnings.simplefilter("ignore", ResourceWarning)
        anyio.run(limit.acquire)
        first = weakref.ref(next(iter(limit._async)))
        anyio.run(task)
        gc.collect()
    assert first() is None  # the ended loop is not kept alive by the limit
    for backend in ("asyncio", "trio"):
        anyio.run(task, backend=backend)
    limit.close()
