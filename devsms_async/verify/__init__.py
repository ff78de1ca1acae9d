"""Phone verification on top of the provider's universal OTP.

    verifier = Verifier(sms, service_name="MyShop", secret_key=SECRET)
    verification = await verifier.start("998901234567", key=client_ip)
    result = await verifier.check("998901234567", code_from_the_user)
    if isinstance(result, Approved): ...

``MemoryStore`` (the default) serves one process; ``RedisStore`` (the ``redis`` extra,
asyncio only) many. The ``Verifier`` with ``MemoryStore`` runs on asyncio and trio.
``SyncVerifier`` is the same for ``DevSMS`` (``SyncMemoryStore``, ``SyncRedisStore``).
See ``docs/verify.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import (
    CountryNotAllowedError,
    KeyLimitError,
    NumberTypeNotAllowedError,
    PhoneLimitError,
    ResendTooSoonError,
    ServiceLimitError,
    ServiceNameBlockedError,
    SpendLimitError,
    StoreUnavailableError,
    VerificationError,
    VerifyLimitError,
)
from ._core import NUMBER_TYPES
from ._results import (
    Approved,
    CheckResult,
    Expired,
    NoPendingVerification,
    TooManyAttempts,
    Verification,
    WrongCode,
)
from ._store import (
    CodeRecord,
    Limit,
    MemoryStore,
    Refusal,
    Scope,
    Store,
    SyncMemoryStore,
    SyncStore,
)
from ._sync import SyncOtpSender, SyncVerifier
from ._verifier import OtpSender, Rate, Verifier

if TYPE_CHECKING:
    from ._redis import RedisStore, SyncRedisStore

__all__ = [
    "Approved",
    "CheckResult",
    "CodeRecord",
    "CountryNotAllowedError",
    "Expired",
    "KeyLimitError",
    "Limit",
    "MemoryStore",
    "NUMBER_TYPES",
    "NoPendingVerification",
    "NumberTypeNotAllowedError",
    "OtpSender",
    "PhoneLimitError",
    "Rate",
    "RedisStore",
    "Refusal",
    "ResendTooSoonError",
    "Scope",
    "ServiceLimitError",
    "ServiceNameBlockedError",
    "SpendLimitError",
    "Store",
    "StoreUnavailableError",
    "SyncMemoryStore",
    "SyncOtpSender",
    "SyncRedisStore",
    "SyncStore",
    "SyncVerifier",
    "TooManyAttempts",
    "Verification",
    "VerificationError",
    "Verifier",
    "VerifyLimitError",
    "WrongCode",
]


def __getattr__(name: str) -> Any:
    # redis-py is an optional extra: import it only when RedisStore is asked for.
    if name in ("RedisStore", "SyncRedisStore"):
        from . import _redis

        value = getattr(_redis, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'devsms_async.verify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
