"""Static checks of devsms_async.verify's types: run by mypy, never executed."""

from __future__ import annotations

import datetime as _dt

from typing_extensions import assert_never, assert_type

from devsms_async import AsyncDevSMS
from devsms_async.verify import (
    Approved,
    CheckResult,
    Expired,
    MemoryStore,
    NoPendingVerification,
    Rate,
    RedisStore,
    Store,
    TooManyAttempts,
    Verification,
    Verifier,
    WrongCode,
)


async def check(sms: AsyncDevSMS, redis_store: RedisStore) -> None:
    store: Store = MemoryStore()
    store = redis_store
    verifier = Verifier(sms, store, service_name="Shop", secret_key="k" * 32, per_key=Rate(3))
    started = await verifier.start("998901234567", key="127.0.0.1")
    assert_type(started, Verification)
    assert_type(started.expires_at, _dt.datetime)
    assert_type(started.sms_id, int | None)
    result = await verifier.check("998901234567", "123456")
    assert_type(result, CheckResult)

    # isinstance narrows ...
    if isinstance(result, WrongCode):
        assert_type(result.attempts_left, int)
    # ... and so does the status tag.
    if result.status == "approved":
        assert_type(result, Approved)

    match result:
        case Approved():
            pass
        case WrongCode(attempts_left=left):
            assert_type(left, int)
        case Expired() | TooManyAttempts() | NoPendingVerification():
            pass
        case _:
            assert_never(result)
    assert_type(await verifier.cancel("998901234567"), bool)
