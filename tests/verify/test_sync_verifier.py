"""``SyncVerifier`` over ``DevSMS`` against the served sandbox (real HTTP on 127.0.0.1),
on ``SyncMemoryStore`` and on ``SyncRedisStore`` with a real redis-server: the same
rules as ``Verifier``, across threads and across processes."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest

from devsms_async import BadRequestError, DevSMS, ServiceNameRejectedError
from devsms_async.testing import ManualClock, Sandbox, serve_sandbox
from devsms_async.verify import (
    Approved,
    CheckResult,
    Expired,
    NoPendingVerification,
    PhoneLimitError,
    Rate,
    ResendTooSoonError,
    ServiceNameBlockedError,
    SyncMemoryStore,
    SyncRedisStore,
    SyncStore,
    SyncVerifier,
    TooManyAttempts,
    WrongCode,
)
from support.redis_server import RedisServer, running_redis

PHONE = "998901234567"
SECRET = "sync-verifier-secret-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis-sync")) as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Sandbox:
    return Sandbox(clock=clock)


@pytest.fixture
def sms(sandbox: Sandbox) -> Iterator[DevSMS]:
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as served,
        DevSMS(sandbox.token, base_url=served.base_url) as client,
    ):
        yield client


_counter = iter(range(10**6))


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncStore]:
    if request.param == "memory":
        yield SyncMemoryStore()
        return
    server: RedisServer = request.getfixturevalue("server")
    with SyncRedisStore(url=server.url, prefix=f"s{next(_counter)}:") as redis_store:
        yield redis_store


def make(sms: DevSMS, store: SyncStore, clock: ManualClock, **options: Any) -> SyncVerifier:
    options.setdefault("service_name", "Sync App")
    return SyncVerifier(sms, store, secret_key=SECRET, clock=clock, **options)


def _wrong(code: str, n: int = 1) -> str:
    return f"{(int(code) + n) % 1_000_000:06d}"


def test_the_flow(sms: DevSMS, store: SyncStore, sandbox: Sandbox, clock: ManualClock) -> None:
    verifier = make(sms, store, clock, max_attempts=3)
    started = verifier.start("+998 90 123 45 67")
    assert started.masked_phone == "99890***4567"
    assert started.sms_id is not None
    code = sandbox.last_otp(PHONE)
    with pytest.raises(ResendTooSoonError):
        verifier.start(PHONE)  # the cooldown
    assert verifier.check(PHONE, _wrong(code)) == WrongCode(
        verification_id=started.id, attempts_left=2
    )
    assert verifier.check(PHONE, code) == Approved(verification_id=started.id)
    assert verifier.check(PHONE, code) == NoPendingVerification()  # single use
    clock.advance(60)
    again = verifier.start(PHONE)
    for n in range(1, 4):
        verifier.check(PHONE, _wrong(sandbox.last_otp(PHONE), n))
    assert verifier.check(PHONE, sandbox.last_otp(PHONE)) == TooManyAttempts(
        verification_id=again.id
    )
    clock.advance(300)
    assert verifier.check(PHONE, code) == Expired(verification_id=again.id)
    assert verifier.cancel(PHONE) is True
    assert verifier.cancel(PHONE) is False


def test_caps_and_rollback(
    sms: DevSMS, store: SyncStore, sandbox: Sandbox, clock: ManualClock
) -> None:
    verifier = make(sms, store, clock, per_phone=Rate(2, 3600))
    sandbox.fail_next(400, path="send_sms.php", error="Xatolik")
    with pytest.raises(BadRequestError):
        verifier.start(PHONE)
    verifier.start(PHONE)  # the refused send used up nothing
    clock.advance(60)
    verifier.start(PHONE)
    clock.advance(60)
    with pytest.raises(PhoneLimitError):
        verifier.start(PHONE)


def test_fifty_threads_with_the_right_code_approve_once(
    sms: DevSMS, store: SyncStore, sandbox: Sandbox, clock: ManualClock
) -> None:
    verifier = make(sms, store, clock, max_attempts=100)
    verifier.start(PHONE)
    code = sandbox.last_otp(PHONE)
    barrier = threading.Barrier(50)

    def check(_: int) -> CheckResult:
        barrier.wait()
        return verifier.check(PHONE, code)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(check, range(50)))
    assert sum(isinstance(r, Approved) for r in results) == 1
    assert sum(isinstance(r, NoPendingVerification) for r in results) == 49


def test_a_hundred_wrong_guesses_from_threads_count_max_attempts(
    sms: DevSMS, store: SyncStore, sandbox: Sandbox, clock: ManualClock
) -> None:
    verifier = make(sms, store, clock)
    verifier.start(PHONE)
    code = sandbox.last_otp(PHONE)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda n: verifier.check(PHONE, _wrong(code, n)), range(1, 101)))
    assert sum(isinstance(r, WrongCode) for r in results) == 5
    assert sum(isinstance(r, TooManyAttempts) for r in results) == 95
    assert isinstance(verifier.check(PHONE, code), TooManyAttempts)


def _in_child(work: Callable[[], object]) -> object:
    """Run ``work`` in a forked child process; return what it returned (as JSON)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            payload = json.dumps({"ok": work()})
        except BaseException as exc:
            payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
        os.write(write, payload.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = json.loads(pipe.read() or "{}")
    os.waitpid(pid, 0)
    assert "ok" in answer, answer
    return answer["ok"]


def test_two_processes_share_the_code_and_the_block(
    sms: DevSMS, server: RedisServer, sandbox: Sandbox, clock: ManualClock
) -> None:
    with SyncRedisStore(url=server.url, prefix="xproc:") as store:
        verifier = make(sms, store, clock)
        verifier.start(PHONE)
        code = sandbox.last_otp(PHONE)

        def approve_in_child() -> str:
            return verifier.check(PHONE, code).status

        assert _in_child(approve_in_child) == "approved"
        assert verifier.check(PHONE, code) == NoPendingVerification()  # used up there

        casino = make(sms, store, clock, service_name="Lucky Casino")
        with pytest.raises(ServiceNameRejectedError):
            casino.start(PHONE)
        sends = len(sandbox.requests)
        other = SyncRedisStore(url=server.url, prefix="xproc:")

        def blocked_in_child() -> str:
            fresh = make(sms, other, clock, service_name="Lucky Casino")
            try:
                fresh.start("998901000002")
            except ServiceNameBlockedError as exc:
                return type(exc).__name__
            return "sent"

        assert _in_child(blocked_in_child) == "ServiceNameBlockedError"
        assert len(sandbox.requests) == sends  # refused without paying
        other.close()


def test_sync_and_async_stores_share_one_layout(server: RedisServer) -> None:
    import redis

    with SyncRedisStore(url=server.url, prefix="p:") as store:
        assert repr(store) == "<SyncRedisStore prefix='p:'>"
        assert isinstance(store.redis, redis.Redis)
    given = redis.Redis.from_url(server.url)
    with SyncRedisStore(given, prefix="p:"):
        pass
    assert given.ping() is True  # a given client stays open
    given.close()
