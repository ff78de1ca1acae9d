"""The ``Store`` protocol behind a ``Verifier``, its records, and ``MemoryStore``.

A store keeps three kinds of keys: one code record per phone, fixed-window counters
for the caps, and flags (a blocked service name). Every method is one atomic step;
the verifier never reads, decides and writes in separate calls where another worker
could slip in between.

Times (``now``, ``expires_at``, ``resend_at``) are POSIX seconds from the verifier's
clock and are passed in, so a ``ManualClock`` drives a store like any other clock;
``ttl`` arguments are real seconds after which the store may forget a key.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import attrs

from .._fork import ForkGuard
from ..errors import ValidationError

__all__ = [
    "CodeRecord",
    "Limit",
    "MemoryStore",
    "Refusal",
    "Scope",
    "Store",
    "SyncMemoryStore",
    "SyncStore",
]

Scope = Literal["resend", "phone", "key", "service", "spend"]
"""Which limit refused a start: the resend cooldown, or the cap per phone, caller key,
service or hourly spend (``VerifyLimitError.scope``)."""


@attrs.frozen(kw_only=True)
class CodeRecord:
    """The pending code of one phone, as a store keeps it.

    ``digest`` is the hex HMAC-SHA256 of the code (never the code itself);
    ``attempts`` how many checks were counted against it.
    """

    verification_id: str
    digest: str = attrs.field(repr=False)
    expires_at: float
    resend_at: float
    attempts: int = 0
    max_attempts: int


@attrs.frozen(kw_only=True)
class Limit:
    """One fixed-window counter that ``Store.begin`` checks and bumps.

    The counter under ``key`` (the window's number is part of the key) may grow by
    ``amount`` only while it stays ``<= limit``; ``retry_after`` is the time left in
    the window, ``ttl`` how long the store must keep the counter.
    """

    scope: Scope
    key: str
    limit: int
    amount: int = 1
    retry_after: float
    ttl: float


@attrs.frozen
class Refusal:
    """Why ``Store.begin`` refused: the limit's ``scope`` and the seconds to wait."""

    scope: Scope
    retry_after: float


@runtime_checkable
class Store(Protocol):
    """What a ``Verifier`` needs from its storage.

    Implement these seven coroutines with each one atomic (one Lua script, one SQL
    transaction, one critical section without ``await`` inside) and any backend will
    do. ``tests/verify/test_verify.py`` runs the same claims against every store it knows.
    When the backend cannot be reached, raise ``StoreUnavailableError`` (from the
    cause): the verifier then fails closed and callers can answer 503.
    """

    async def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
        """Store ``record`` under ``key`` (replacing the old code) and bump every limit
        by its amount, or change nothing and return a ``Refusal``.

        Refuse with ``"resend"`` while the stored record's ``resend_at > now``, then with
        the first limit whose counter would pass its ``limit``. Keep the record
        ``ttl`` seconds.
        """
        ...

    async def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        """Count one check against the record under ``key``: add 1 to ``attempts`` if
        ``now < expires_at`` and ``attempts < max_attempts``.

        Returns the record as it is afterwards and whether the check was counted, or
        ``None`` when there is no record.
        """
        ...

    async def consume(self, key: str, verification_id: str) -> bool:
        """Delete the record under ``key`` if it is still ``verification_id``; ``True``
        for exactly one caller."""
        ...

    async def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        """Undo a ``begin`` whose SMS provably never left: ``consume`` and
        take every limit's amount back (never below 0)."""
        ...

    async def delete(self, key: str) -> bool:
        """Delete the record under ``key``; ``True`` if there was one."""
        ...

    async def set_flag(self, key: str, *, ttl: float) -> None:
        """Set a flag for ``ttl`` seconds."""
        ...

    async def has_flag(self, key: str) -> bool:
        """Whether the flag under ``key`` is set."""
        ...


@runtime_checkable
class SyncStore(Protocol):
    """The ``Store`` protocol for ``SyncVerifier``: the same seven methods, the same
    contract, as plain (blocking) methods that are safe to call from several threads."""

    def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None: ...

    def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None: ...

    def consume(self, key: str, verification_id: str) -> bool: ...

    def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None: ...

    def delete(self, key: str) -> bool: ...

    def set_flag(self, key: str, *, ttl: float) -> None: ...

    def has_flag(self, key: str) -> bool: ...


@attrs.define
class _Entry:
    value: CodeRecord | int | bool
    deadline: float


class _MemoryState:
    """The dict behind both memory stores; every method holds one lock, so each is
    atomic between threads as well as between tasks (there is no ``await`` inside)."""

    def __init__(self, max_entries: object) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 10:
            raise ValidationError("max_entries", f"must be an int >= 10, got {max_entries!r}")
        self.max_entries = max_entries
        self._data: dict[str, _Entry] = {}
        self._now = -math.inf
        self._next_purge = -math.inf
        self._guard = ForkGuard()
        self._lock_ = threading.Lock()

    @property
    def _lock(self) -> threading.Lock:
        # A fork while another thread held the lock would leave the child's copy held
        # forever: the child takes a new one (it has one thread right after the fork).
        if self._guard.forked():
            self._lock_ = threading.Lock()
            self._guard.renew()
        return self._lock_

    def __len__(self) -> int:
        return len(self._data)

    # The caller's clock is the only clock: each call moves "now" forward (never back),
    # and expiry is judged against it.
    def _tick(self, now: float | None) -> float:
        if now is not None and now > self._now:
            self._now = now
        if self._now >= self._next_purge:
            self._purge()
            self._next_purge = self._now + 60
        return self._now

    def _purge(self) -> None:
        dead = [key for key, entry in self._data.items() if entry.deadline <= self._now]
        for key in dead:
            del self._data[key]

    def _get(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.deadline <= self._now:
            del self._data[key]
            return None
        return entry

    def _put(self, key: str, value: CodeRecord | int | bool, ttl: float) -> None:
        self._data.pop(key, None)
        if len(self._data) >= self.max_entries:
            self._purge()
        while len(self._data) >= self.max_entries:
            del self._data[next(iter(self._data))]
        self._data[key] = _Entry(value, self._now + ttl)

    def _count(self, key: str) -> int:
        entry = self._get(key)
        return entry.value if entry is not None and isinstance(entry.value, int) else 0

    def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
        with self._lock:
            self._tick(now)
            entry = self._get(key)
            if (
                entry is not None
                and isinstance(entry.value, CodeRecord)
                and entry.value.resend_at > now
            ):
                return Refusal("resend", entry.value.resend_at - now)
            for limit in limits:
                if self._count(limit.key) + limit.amount > limit.limit:
                    return Refusal(limit.scope, limit.retry_after)
            for limit in limits:
                counter = self._get(limit.key)
                if counter is None:
                    self._put(limit.key, limit.amount, limit.ttl)
                else:
                    counter.value = self._count(limit.key) + limit.amount
            self._put(key, record, ttl)
            return None

    def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        with self._lock:
            self._tick(now)
            entry = self._get(key)
            if entry is None or not isinstance(entry.value, CodeRecord):
                return None
            record = entry.value
            if now < record.expires_at and record.attempts < record.max_attempts:
                record = attrs.evolve(record, attempts=record.attempts + 1)
                entry.value = record
                return record, True
            return record, False

    def _consume(self, key: str, verification_id: str) -> bool:
        self._tick(None)
        entry = self._get(key)
        if (
            entry is not None
            and isinstance(entry.value, CodeRecord)
            and entry.value.verification_id == verification_id
        ):
            del self._data[key]
            return True
        return False

    def consume(self, key: str, verification_id: str) -> bool:
        with self._lock:
            return self._consume(key, verification_id)

    def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        with self._lock:
            self._consume(key, verification_id)
            for limit in limits:
                counter = self._get(limit.key)
                if counter is not None:
                    counter.value = max(0, self._count(limit.key) - limit.amount)

    def delete(self, key: str) -> bool:
        with self._lock:
            self._tick(None)
            return self._get(key) is not None and self._data.pop(key, None) is not None

    def set_flag(self, key: str, *, ttl: float) -> None:
        with self._lock:
            self._tick(None)
            self._put(key, True, ttl)

    def has_flag(self, key: str) -> bool:
        with self._lock:
            self._tick(None)
            return self._get(key) is not None


class MemoryStore:
    """The default store: a dict in this process.

    For one process (one uvicorn worker, one bot process): every method runs without
    an ``await`` inside (and under a lock), so it is atomic between tasks on asyncio
    and trio alike. It keeps at most ``max_entries`` keys; expired ones are purged as
    time passes, and when it is still full the oldest key is dropped. A forked child
    gets a copy of the dict (nothing is shared with the parent after the fork).

    Several processes need a shared store: ``RedisStore``.
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._state = _MemoryState(max_entries)
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._state)

    def __repr__(self) -> str:
        return f"<MemoryStore entries={len(self._state)} max_entries={self.max_entries}>"

    async def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
        return self._state.begin(key, record, limits, now=now, ttl=ttl)

    async def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        return self._state.take_attempt(key, now=now)

    async def consume(self, key: str, verification_id: str) -> bool:
        return self._state.consume(key, verification_id)

    async def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        self._state.rollback(key, verification_id, limits)

    async def delete(self, key: str) -> bool:
        return self._state.delete(key)

    async def set_flag(self, key: str, *, ttl: float) -> None:
        self._state.set_flag(key, ttl=ttl)

    async def has_flag(self, key: str) -> bool:
        return self._state.has_flag(key)


class SyncMemoryStore(_MemoryState):
    """``MemoryStore`` for ``SyncVerifier``: the same dict and rules, with plain methods
    that are atomic between threads (each holds one lock). One process only; several
    (gunicorn workers, Celery) need ``SyncRedisStore``."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        super().__init__(max_entries)

    def __repr__(self) -> str:
        return f"<SyncMemoryStore entries={len(self)} max_entries={self.max_entries}>"
