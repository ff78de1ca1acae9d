"""RedisStore against a real redis-server on 127.0.0.1 that these tests start and stop.

``redis.asyncio`` is asyncio-only, so these run on asyncio (pytest-asyncio). The
cross-process claims run two worker processes (tests/verify/verify_worker.py) that share
the server with this one and start together at a barrier.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from redis.crc import key_slot

from devsms_async import AsyncDevSMS, BadRequestError, ServiceNameRejectedError, ValidationError
from devsms_async.testing import ManualClock, Sandbox
from devsms_async.verify import (
    Approved,
    CheckResult,
    Expired,
    KeyLimitError,
    NoPendingVerification,
    PhoneLimitError,
    Rate,
    RedisStore,
    ResendTooSoonError,
    ServiceNameBlockedError,
    Store,
    TooManyAttempts,
    Verifier,
    WrongCode,
)

PHONE = "998901234567"
SECRET = "redis-test-secret-key-0123456789"
WORKER = Path(__file__).with_name("verify_worker.py")


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.from_url(redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def store(client: redis.asyncio.Redis, prefix: str) -> RedisStore:
    return RedisStore(client, prefix=prefix)


def make(sms: Any, store: Store, clock: ManualClock, **options: Any) -> Verifier:
    options.setdefault("service_name", "Redis App")
    return Verifier(sms, store, secret_key=SECRET, clock=clock, **options)


async def test_the_flow_on_redis(
    store: RedisStore,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
) -> None:
    verifier = make(devsms_client, store, devsms_clock, max_attempts=3)
    started = await verifier.start(PHONE)
    code = devsms_sandbox.last_otp(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    result = await verifier.check(PHONE, wrong)
    assert result == WrongCode(verification_id=started.id, attempts_left=2)
    assert await verifier.check(PHONE, code) == Approved(verification_id=started.id)
    assert await verifier.check(PHONE, code) == NoPendingVerification()
    devsms_clock.advance(60)
    again = await verifier.start(PHONE)
    for _ in range(3):
        await verifier.check(PHONE, wrong if devsms_sandbox.last_otp(PHONE) != wrong else "222222")
    assert await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)) == TooManyAttempts(
        verification_id=again.id
    )
    devsms_clock.advance(300)
    assert await verifier.check(PHONE, code) == Expired(verification_id=again.id)
    assert await verifier.cancel(PHONE) is True
    assert await verifier.cancel(PHONE) is False


async def test_cooldown_caps_and_rollback_on_redis(
    store: RedisStore,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
) -> None:
    verifier = make(
        devsms_client, store, devsms_clock, per_phone=Rate(2, 3600), per_key=Rate(3, 3600)
    )
    devsms_sandbox.fail_next(400, path="send_sms.php", error="Xatolik")
    with pytest.raises(BadRequestError):
        await verifier.start(PHONE, key="ip")
    await verifier.start(PHONE, key="ip")  # the refused send used up nothing
    with pytest.raises(ResendTooSoonError) as soon:
        await verifier.start(PHONE, key="ip")
    assert soon.value.retry_after == 60
    devsms_clock.advance(60)
    await verifier.start(PHONE, key="ip")
    devsms_clock.advance(60)
    with pytest.raises(PhoneLimitError) as capped:
        await verifier.start(PHONE, key="ip")
    assert 0 < capped.value.retry_after <= 3600
    await verifier.start("998901000002", key="ip")
    with pytest.raises(KeyLimitError):
        await verifier.start("998901000003", key="ip")


async def test_every_key_has_a_ttl_a_prefix_and_one_hash_tag(
    store: RedisStore,
    client: redis.asyncio.Redis,
    prefix: str,
    devsms_client: AsyncDevSMS,
    devsms_clock: ManualClock,
) -> None:
    verifier = make(
        devsms_client,
        store,
        devsms_clock,
        allowed_countries=["UZ", "KZ"],
        max_spend_per_hour=50_000,
    )
    await verifier.start(PHONE, key="203.0.113.9")
    await verifier.start("77012345678")
    blocked = make(devsms_client, store, devsms_clock, service_name="Casino Royal")
    with pytest.raises(ServiceNameRejectedError):
        await blocked.start(PHONE)
    keys = [k.decode() async for k in client.scan_iter(match=f"{prefix}*")]
    own = [k for k in keys if "{" in k]
    assert len(own) == len(keys) >= 7
    for key in keys:
        assert await client.pttl(key) > 0, key
        assert PHONE not in key
        assert "77012345678" not in key
    # One slot per service name: a script's keys never span two Cluster nodes.
    tags = {key[key.index("{") : key.index("}") + 1] for key in keys}
    assert len(tags) == 2
    for tag in tags:
        assert len({key_slot(k.encode()) for k in keys if tag in k}) == 1
    # Only the digest is stored.
    records = [k for k in keys if ":code:" in k]
    assert records
    for key in records:
        fields = await client.hgetall(key)
        assert set(fields) == {b"id", b"digest", b"exp", b"resend", b"att", b"max"}
        assert len(fields[b"digest"]) == 64


async def test_a_rejected_name_is_blocked_for_every_process(
    store: RedisStore,
    redis_url: str,
    prefix: str,
    devsms_client: AsyncDevSMS,
    devsms_clock: ManualClock,
) -> None:
    first = make(devsms_client, store, devsms_clock, service_name="Kazino")
    with pytest.raises(ServiceNameRejectedError):
        await first.start(PHONE)
    async with RedisStore(url=redis_url, prefix=prefix) as other_store:
        other = make(devsms_client, other_store, devsms_clock, service_name="Kazino")
        with pytest.raises(ServiceNameBlockedError):
            await other.start("998901000002")


async def test_decoded_responses_work_too(
    redis_url: str,
    prefix: str,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
) -> None:
    connection = redis.asyncio.from_url(redis_url, decode_responses=True)
    try:
        verifier = make(devsms_client, RedisStore(connection, prefix=prefix), devsms_clock)
        await verifier.start(PHONE)
        with pytest.raises(ResendTooSoonError):
            await verifier.start(PHONE)
        assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)
    finally:
        await connection.aclose()


def test_redis_store_arguments(redis_url: str) -> None:
    with pytest.raises(ValidationError):
        RedisStore()
    with pytest.raises(ValidationError):
        RedisStore(url=redis_url, prefix="a{b}:")
    store = RedisStore(url=redis_url, prefix="p:")
    assert repr(store) == "<RedisStore prefix='p:'>"
    assert isinstance(store, Store)


# -- concurrency: tasks ------------------------------------------------------------------


async def _checks(verifier: Verifier, codes: list[str]) -> list[CheckResult]:
    import asyncio

    return list(await asyncio.gather(*(verifier.check(PHONE, c) for c in codes)))


async def test_fifty_concurrent_right_codes_on_redis(
    store: RedisStore,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
) -> None:
    verifier = make(devsms_client, store, devsms_clock, max_attempts=100)
    await verifier.start(PHONE)
    results = await _checks(verifier, [devsms_sandbox.last_otp(PHONE)] * 50)
    assert sum(isinstance(r, Approved) for r in results) == 1
    assert sum(isinstance(r, NoPendingVerification) for r in results) == 49


async def test_a_hundred_concurrent_wrong_guesses_on_redis(
    store: RedisStore,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
) -> None:
    verifier = make(devsms_client, store, devsms_clock)
    await verifier.start(PHONE)
    code = devsms_sandbox.last_otp(PHONE)
    results = await _checks(verifier, [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 101)])
    assert sum(isinstance(r, WrongCode) for r in results) == 5
    assert sum(isinstance(r, TooManyAttempts) for r in results) == 95
    assert isinstance(await verifier.check(PHONE, code), TooManyAttempts)


async def test_concurrent_starts_respect_the_caps_on_redis(
    store: RedisStore,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
) -> None:
    import asyncio

    verifier = make(devsms_client, store, devsms_clock, per_service=Rate(9, 3600))
    outcomes = await asyncio.gather(
        *(verifier.start(f"99890100{n:04d}") for n in range(30)), return_exceptions=True
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 9
    assert sum(1 for r in devsms_sandbox.requests if r.endpoint == "send_sms.php") == 9


# -- concurrency: processes ----------------------------------------------------------------


def _run_workers(
    redis_url: str, spec: dict[str, Any], codes: list[list[str]], field: str = "codes"
) -> list[str]:
    import redis as sync_redis

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_url, json.dumps({**spec, field: mine})],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for mine in codes
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        with sync_redis.Redis.from_url(redis_url) as connection:
            connection.rpush(spec["barrier"], *["go"] * len(workers))
        statuses: list[str] = []
        for worker in workers:
            out, _ = worker.communicate(timeout=120)
            assert worker.returncode == 0
            statuses += json.loads(out.strip().splitlines()[-1])
        return statuses
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.fixture
async def started(
    store: RedisStore,
    devsms_client: AsyncDevSMS,
    devsms_sandbox: Sandbox,
    devsms_clock: ManualClock,
    prefix: str,
) -> tuple[str, dict[str, Any]]:
    """A verification started for PHONE: its code, and the spec the workers run with."""
    clock, sandbox = devsms_clock, devsms_sandbox
    verifier = make(devsms_client, store, clock)
    await verifier.start(PHONE)
    spec = {
        "now": clock().timestamp(),
        "prefix": prefix,
        "service_name": "Redis App",
        "secret_key": SECRET,
        "max_attempts": 5,
        "phone": PHONE,
        "barrier": f"{prefix}barrier",
    }
    return sandbox.last_otp(PHONE), spec


def test_two_processes_fifty_right_codes_exactly_one_approved(
    redis_url: str, started: tuple[str, dict[str, Any]]
) -> None:
    code, spec = started
    spec["max_attempts"] = 100  # the record's own limit (5) applies: it was stored at start
    statuses = _run_workers(redis_url, spec, [[code] * 25, [code] * 25])
    assert len(statuses) == 50
    assert statuses.count("approved") == 1
    assert set(statuses) <= {"approved", "no_pending", "too_many_attempts"}


async def test_two_processes_a_hundred_wrong_guesses_count_max_attempts(
    store: RedisStore,
    redis_url: str,
    started: tuple[str, dict[str, Any]],
    devsms_client: AsyncDevSMS,
    devsms_clock: ManualClock,
) -> None:
    code, spec = started
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 101)]
    statuses = _run_workers(redis_url, spec, [guesses[:50], guesses[50:]])
    assert statuses.count("wrong_code") == 5
    assert statuses.count("too_many_attempts") == 95
    verifier = make(devsms_client, store, devsms_clock)
    assert isinstance(await verifier.check(PHONE, code), TooManyAttempts)


def test_two_processes_a_right_code_among_wrong_ones(
    redis_url: str, started: tuple[str, dict[str, Any]]
) -> None:
    """However the processes interleave, at most five checks compare against the code."""
    code, spec = started
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 40)]
    statuses = _run_workers(redis_url, spec, [[*guesses[:20], code], [code, *guesses[20:]]])
    compared = statuses.count("wrong_code") + statuses.count("approved")
    assert compared <= 5
    assert statuses.count("approved") <= 1
    assert statuses.count("too_many_attempts") + statuses.count("no_pending") == 41 - compared


def test_two_processes_share_the_caps(redis_url: str, prefix: str) -> None:
    """60 concurrent starts from two processes: the caps hold across them."""
    spec = {
        "now": ManualClock()().timestamp(),
        "prefix": prefix,
        "service_name": "Redis App",
        "secret_key": SECRET,
        "max_attempts": 5,
        "barrier": f"{prefix}barrier",
        "per_phone": (3, 3600),
        "per_key": (7, 3600),
        "per_service": (20, 3600),
    }
    # Worker 1: 30 different phones for caller "a" -> per_key lets 7 through.
    # Worker 2: 10 phones x 3 tries with no key -> the cooldown lets one per phone.
    starts_a = [[f"99890100{n:04d}", "a"] for n in range(30)]
    starts_b = [[f"99890200{n % 10:04d}", None] for n in range(30)]
    outcomes = _run_workers(redis_url, spec, [starts_a, starts_b], field="starts")
    first, second = outcomes[:30], outcomes[30:]
    assert first.count("sent") == 7
    assert first.count("KeyLimitError") == 23
    assert second.count("sent") == 10
    assert second.count("ResendTooSoonError") == 20
    # The whole service is capped at 20: 17 were sent, so 3 more go, then it refuses.
    spec["per_key"] = (100, 3600)
    more = [[f"99890300{n:04d}", "c"] for n in range(10)]
    outcomes = _run_workers(redis_url, spec, [more[:5], more[5:]], field="starts")
    assert outcomes.count("sent") == 3
    assert outcomes.count("ServiceLimitError") == 7


def test_the_fixture_gives_a_real_server(redis_url: str) -> None:
    import redis as sync_redis

    with sync_redis.Redis.from_url(redis_url) as connection:
        info = connection.info("server")
    assert info["redis_version"]
    assert _dt.datetime.now() is not None


async def test_a_given_client_stays_open(client: redis.asyncio.Redis) -> None:
    async with RedisStore(client, prefix="x:") as store:
        assert store.redis is client
    assert await client.ping() is True
