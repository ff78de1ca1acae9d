"""Redis goes down during verification: a typed ``StoreUnavailableError`` (chained from
redis-py's error), failing closed: no code approved that could not be checked, no code
sent that could not be recorded. A real redis-server that the test kills mid-way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions

from devsms_async import DevSMSError
from devsms_async.testing import ManualClock, Sandbox
from devsms_async.verify import (
    Approved,
    RedisStore,
    StoreUnavailableError,
    SyncRedisStore,
    SyncVerifier,
    VerificationError,
    Verifier,
)
from support.redis_server import RedisServer, running_redis

PHONE = "998901234567"
SECRET = "outage-test-secret-0123456789ab"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as running:
        yield running


def _sends(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "send_sms.php")


def _is_typed(error: StoreUnavailableError) -> None:
    assert isinstance(error, DevSMSError)
    assert not isinstance(error, VerificationError)  # not "refused": a 503, not a 403
    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)
    assert PHONE not in str(error)
    assert PHONE[-4:] not in str(error)


async def test_redis_down_mid_way_is_a_typed_error_and_fails_closed(
    server: RedisServer,
) -> None:
    sandbox = Sandbox(clock=ManualClock())
    async with sandbox.client() as sms, RedisStore(url=server.url, prefix="o:") as store:
        verifier = Verifier(sms, store, service_name="MyShop", secret_key=SECRET)
        await verifier.start(PHONE)
        code = sandbox.last_otp(PHONE)
        server.stop()
        with pytest.raises(StoreUnavailableError) as checked:
            await verifier.check(PHONE, code)  # the right code: never approved unchecked
        _is_typed(checked.value)
        with pytest.raises(StoreUnavailableError) as started:
            await verifier.start("998901000002")
        _is_typed(started.value)
        assert _sends(sandbox) == 1  # nothing sent that could not be recorded
        server.start()  # back, empty (no persistence): the old code is gone, not approved
        assert not isinstance(await verifier.check(PHONE, code), Approved)
        await verifier.start("998901000002")
        assert _sends(sandbox) == 2


def test_redis_down_mid_way_on_the_sync_verifier(server: RedisServer) -> None:
    sandbox = Sandbox(clock=ManualClock())
    with sandbox.sync_client() as sms, SyncRedisStore(url=server.url, prefix="o:") as store:
        verifier = SyncVerifier(sms, store, service_name="MyShop", secret_key=SECRET)
        verifier.start(PHONE)
        code = sandbox.last_otp(PHONE)
        server.stop()
        with pytest.raises(StoreUnavailableError) as checked:
            verifier.check(PHONE, code)
        _is_typed(checked.value)
        with pytest.raises(StoreUnavailableError) as started:
            verifier.start("998901000002")
        _is_typed(started.value)
        with pytest.raises(StoreUnavailableError):
            verifier.cancel(PHONE)
        assert _sends(sandbox) == 1
        server.start()
        verifier.start("998901000002")
        assert _sends(sandbox) == 2
