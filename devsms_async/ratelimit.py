"""Rate limits for sends: one process (`LocalRateLimit`) or every process that shares a
Redis server (`RedisRateLimit`).

A rate limit is anything with `async def acquire()` (`RateLimit`, for `AsyncDevSMS`,
`send_bulk` and `stream_bulk`) and/or `def acquire_sync()` (`SyncRateLimit`, for
`DevSMS`): the SDK awaits it before each send (`send_sms`, `send_otp`, every bulk
send; never before a read), and it returns when this send may start. Both classes here
have both methods, so one object can pace the async and the sync face together:

```python
limit = RedisRateLimit("redis://127.0.0.1:6379/0", per_second=20)
async with AsyncDevSMS(rate_limit=limit) as sms:   # in every worker process
    await sms.send_bulk(messages)
```

Both space the starts evenly, `1 / per_second` apart (GCRA without a burst), so the
provider sees a smooth flow: no one-second window holds more than `per_second` slots
(rounded up). A waiter that wakes more than one interval (at least 20 ms) after its
slot, because its process was not scheduled meanwhile, takes a new slot rather than
join a burst of late sends: any one-second window then holds at most one start more
than `per_second`. A caller cancelled while it waits gives its slot up (the rate only
gets lower). See docs/ratelimit.md.
"""

from __future__ import annotations

import math
import os
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio
from anyio.lowlevel import checkpoint

from ._closing import AsyncClosing, Closing
from ._fork import ForkGuard, abandon
from .errors import RateLimitUnavailableError, UsageError, ValidationError

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["LocalRateLimit", "RateLimit", "RedisRateLimit", "SyncRateLimit"]


@runtime_checkable
class RateLimit(Protocol):
    """What `AsyncDevSMS(rate_limit=)`, `send_bulk(rate_limit=)` and
    `stream_bulk(rate_limit=)` take: `await limit.acquire()` returns when one send may
    start. Raise `RateLimitUnavailableError` when that cannot be known (the send does
    not start)."""

    async def acquire(self) -> None: ...


@runtime_checkable
class SyncRateLimit(Protocol):
    """What `DevSMS(rate_limit=)` takes: `limit.acquire_sync()` blocks until one send
    may start."""

    def acquire_sync(self) -> None: ...


def _check_per_second(per_second: object) -> float:
    if (
        isinstance(per_second, bool)
        or not isinstance(per_second, int | float)
        or not math.isfinite(per_second)
        or per_second <= 0
    ):
        raise ValidationError("per_second", f"must be a positive number, got {per_second!r}")
    return float(per_second)


def _interval_us(per_second: float) -> int:
    """The spacing in whole microseconds, rounded up: never faster than asked (1/3 s
    rounded down would let a fourth start into some one-second window)."""
    return max(1, math.ceil(1_000_000 / per_second))


class _Gcra:
    """The arithmetic both limits share (the Lua script below does the same in Redis):
    one number, the theoretical arrival time (TAT) of the next start, in microseconds.

    `reserve(now)` gives the caller the slot `max(now, TAT)`, moves TAT one interval
    past it and returns how long the caller waits for its slot. No burst is saved up
    while idle: after a pause the next start is at once, the one after an interval later.
    """

    __slots__ = ("interval", "tat")

    def __init__(self, interval_us: int) -> None:
        self.interval = interval_us
        self.tat = 0

    def reserve(self, now_us: int) -> int:
        at = max(now_us, self.tat)
        self.tat = at + self.interval
        return at - now_us


_LATE = 0.02
"""Seconds a waiter may wake after its slot and still use it.

A process that was not scheduled for a while (a loaded machine, a GC pause) wakes
after the slots of its waiting sends have passed; if they all went at once, that burst
would break the limit. So a waiter later than this takes a new slot instead: every
start is within 20 ms of a slot of its own, and any one-second window holds at most
`per_second * 1.02 + 1` starts.
"""


async def _wait_for_slot(reserve: Callable[[], Awaitable[float]], late: float) -> None:
    while True:
        wait = await reserve()
        if wait <= 0:
            await checkpoint()
            return
        before = anyio.current_time()
        await anyio.sleep(wait)
        if anyio.current_time() - before - wait <= late:
            return


def _wait_for_slot_sync(
    reserve: Callable[[], float],
    late: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    while True:
        wait = reserve()
        if wait <= 0:
            return
        before = clock()
        sleep(wait)
        if clock() - before - wait <= late:
            return


class LocalRateLimit:
    """Paces the sends of **this process**: at most `per_second` starts a second,
    evenly spaced, across every client, job and thread that uses this object.

    `send_bulk(per_second=N)` is a shortcut for a new `LocalRateLimit(N)` per job. Each
    process has its own: after `fork()` a child starts with a fresh, unused limit, so N
    processes send up to N times `per_second` together; use `RedisRateLimit` to share.

    Safe to create anywhere (at import time too): nothing is bound to an event loop.
    `clock` and `sleep` (seconds, monotonic) are for tests.
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._per_second = _check_per_second(per_second)
        self._clock = clock
        self._sleep = sleep
        self._guard = ForkGuard()
        self._lock = threading.Lock()
        self._gcra = _Gcra(_interval_us(self._per_second))
        self._late = _LATE

    def __repr__(self) -> str:
        return f"<LocalRateLimit per_second={self._per_second:g}>"

    @property
    def per_second(self) -> float:
        """Starts a second at most."""
        return self._per_second

    def _reserve(self) -> float:
        """Seconds until this caller's slot (0: go now); the slot is taken."""
        if self._guard.forked():
            # A forked child: the parent's lock may have been held by another thread at
            # fork time, and its schedule is the parent's. Start afresh.
            self._guard.renew()
            self._lock = threading.Lock()
            self._gcra = _Gcra(self._gcra.interval)
        with self._lock:
            return self._gcra.reserve(round(self._clock() * 1_000_000)) / 1_000_000

    async def _reserve_async(self) -> float:
        return self._reserve()

    async def acquire(self) -> None:
        """Return when one send may start (at once if the rate allows it)."""
        await _wait_for_slot(self._reserve_async, self._late)

    def acquire_sync(self) -> None:
        """Block until one send may start."""
        _wait_for_slot_sync(self._reserve, self._late, self._clock, self._sleep)


# Why a script of our own rather than a kept library (both were read, Dec 2026):
# - `limits` (5.x) answers hit/deny only (`hit`, `test`, `get_window_stats`): it has
#   no "wait until my slot" and no reservation, so N processes that were denied poll and
#   race for the same freed slot; its Redis strategies stamp entries with each client's
#   `time.time()`, so the windows are only as good as the clocks of the machines.
# - `pyrate-limiter` (4.x) waits by sleeping and trying again (a retry loop with a
#   buffer), again without reserving a slot, and its `RedisBucket.now()` is the local
#   clock (a TODO in its source says to use Redis time); its async path is asyncio only.
# A GCRA needs one key and one atomic step: reserve `max(now, TAT)`, move TAT on, say
# how long to wait. The caller sleeps without holding anything, every waiter has its own
# slot (no herd), and `now` is the Redis server's TIME, so process clocks do not matter.
_GCRA_LUA = """
-- KEYS[1]: the theoretical arrival time (TAT) of the next start, microseconds of the
-- server's clock. ARGV[1]: the interval (us). ARGV[2] (tests only): a fake now (us).
if redis.replicate_commands then pcall(redis.replicate_commands) end  -- Redis < 5
local interval = tonumber(ARGV[1])
local now
if ARGV[2] then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local at = math.max(now, tat)
local ttl = math.ceil((at + interval - now) / 1000) + 1000
-- %.0f: tostring() would print a 16-digit number as 1.7e+15 and lose the microseconds
redis.call('SET', KEYS[1], string.format('%.0f', at + interval), 'PX', ttl)
return at - now
"""

# Errors worth trying again within `retry_for`: Redis down, restarting or loading
# (BusyLoadingError is a ConnectionError); not a refused password, which stays wrong.
_RETRYABLE = ("ConnectionError", "TimeoutError", "TryAgainError")
_FINAL = ("AuthenticationError", "AuthorizationError")


def _redact_url(url: str) -> str:
    """The URL without a password (`redis://:***@host:6379/0`)."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<redis url>"


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(
            "url", f"must be a Redis URL such as redis://host:6379/0, got {type(url).__name__}"
        )
    scheme = url.partition("://")[0].lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValidationError(
            "url", f"must start with redis://, rediss:// or unix://, got {_redact_url(url)!r}"
        )
    return url


def _check_seconds(name: str, value: object, *, allow_zero: bool) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise ValidationError(name, f"must be a number of seconds, got {value!r}")
    return float(value)


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - the extra is installed in the tests
        raise UsageError(
            "RedisRateLimit needs redis-py: pip install 'devsms-async[redis]'"
        ) from None
    return redis


class RedisRateLimit(Closing, AsyncClosing):
    """Paces the sends of **every process** that uses the same Redis and `name`: at
    most `per_second` starts a second among them all, evenly spaced.

    ```python
    limit = RedisRateLimit("redis://127.0.0.1:6379/0", per_second=20)
    ```

    Each send reserves its slot in one atomic Lua step (GCRA on the Redis server's
    clock, key `devsms:ratelimit:{name}`), then sleeps until it, holding nothing.
    Give every process the same `per_second` for a `name`.

    Redis down: **no send starts** without a slot. The limit retries for up to
    `retry_for` seconds (a restart goes unnoticed), then raises
    `RateLimitUnavailableError`: a send that raised it never started (a bulk job marks
    that message `FAILED` and stops starting sends). `timeout` bounds each Redis call.

    Safe to create anywhere, before `fork()` too (Celery prefork, `gunicorn --preload`):
    connections are made lazily, per process and per event loop; a child never uses its
    parent's. On asyncio the calls use `redis.asyncio`; on trio (which redis-py does not
    support) the blocking client runs in a worker thread. Needs the `redis` extra.
    """

    def __init__(
        self,
        url: str,
        *,
        per_second: float,
        name: str = "devsms",
        timeout: float = 5.0,
        retry_for: float = 10.0,
    ) -> None:
        self._url = _check_url(url)
        self._per_second = _check_per_second(per_second)
        given: object = name  # callers may pass anything at run time
        if not isinstance(given, str) or not name or any(c.isspace() for c in name):
            raise ValidationError("name", f"must be a non-empty name without spaces, got {name!r}")
        self._name = name
        self._key = f"devsms:ratelimit:{name}"
        self._interval = _interval_us(self._per_second)
        self._late = _LATE
        self._timeout = _check_seconds("timeout", timeout, allow_zero=False)
        self._retry_for = _check_seconds("retry_for", retry_for, allow_zero=True)
        _import_redis()  # a missing extra is a clear error now, not at the first send
        self._lock = threading.Lock()
        self._guard = ForkGuard()
        # Made lazily, per process: the blocking client, and one asyncio client per
        # event loop (redis.asyncio connections belong to the loop that made them).
        self._sync: tuple[redis.Redis, Any] | None = None
        self._async: dict[Any, tuple[redis.asyncio.Redis, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"<RedisRateLimit {_redact_url(self._url)} name={self._name!r} "
            f"per_second={self._per_second:g}>"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Picklable as its settings only (a Celery task argument): no connections.
        return {
            "url": self._url,
            "per_second": self._per_second,
            "name": self._name,
            "timeout": self._timeout,
            "retry_for": self._retry_for,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["url"],
            per_second=state["per_second"],
            name=state["name"],
            timeout=state["timeout"],
            retry_for=state["retry_for"],
        )

    @property
    def per_second(self) -> float:
        """Starts a second at most, among all the processes."""
        return self._per_second

    @property
    def name(self) -> str:
        """The shared limit's name (processes with the same Redis and name share it)."""
        return self._name

    # -- connections -------------------------------------------------------------------

    def _check_fork(self) -> None:
        """After `fork()`: leave the parent's clients alone and make new ones."""
        if self._guard.forked():
            # Kept, never used or closed: closing an inherited asyncio client would
            # unregister its sockets from the epoll set the child shares with the parent
            # (and a finalizer would do the same if it were collected). The descriptors
            # go when the process exits. (The same rule as the clients' fork guard.)
            abandon((self._sync, self._async))
            self._guard.renew()
            self._lock = threading.Lock()
            self._sync = None
            self._async = {}

    def _options(self) -> dict[str, Any]:
        return {
            "socket_timeout": self._timeout,
            "socket_connect_timeout": self._timeout,
            # CLIENT LIST then says which process holds which connection.
            "client_name": f"devsms-ratelimit:{self._name}:{os.getpid()}",
        }

    def _sync_script(self) -> Any:
        self._check_fork()
        with self._lock:
            if self._sync is None:
                redis = _import_redis()
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                # Retries are ours (bounded by retry_for), not redis-py's.
                client = redis.Redis.from_url(
                    self._url, retry=Retry(NoBackoff(), 0), **self._options()
                )
                self._sync = (client, client.register_script(_GCRA_LUA))
            return self._sync[1]

    def _async_script(self) -> Any:
        import asyncio

        self._check_fork()
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            # Forget the clients of loops that have ended (asyncio.run() per task): their
            # connections close when collected. A client refers to its loop, so a weak
            # mapping alone would keep both alive for as long as this limit.
            for ended in [old for old in self._async if old.is_closed()]:
                del self._async[ended]
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            client = redis.asyncio.Redis.from_url(
                self._url, retry=Retry(NoBackoff(), 0), **self._options()
            )
            entry = self._async[loop] = (client, client.register_script(_GCRA_LUA))
        return entry[1]

    # -- one reservation ---------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> RateLimitUnavailableError:
        return RateLimitUnavailableError(
            f"the shared rate limit {self._name!r} at {_redact_url(self._url)} cannot be "
            f"reached ({type(exc).__name__}: {exc}); the send did not start"
        )

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        from redis import exceptions

        def kinds(names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
            return tuple(getattr(exceptions, name) for name in names if hasattr(exceptions, name))

        return isinstance(exc, kinds(_RETRYABLE)) and not isinstance(exc, kinds(_FINAL))

    def _reserve_sync(self, now_us: int | None = None) -> float:
        """Reserve the next slot; seconds to wait for it. Raises redis errors."""
        args: list[int] = [self._interval] if now_us is None else [self._interval, now_us]
        wait_us = self._sync_script()(keys=[self._key], args=args)
        return int(wait_us) / 1_000_000

    async def _reserve_async(self) -> float:
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            # redis.asyncio is asyncio only; trio gets the blocking client in a thread
            # (one short script call per send, far from the cost of the send itself).
            return await anyio.to_thread.run_sync(self._reserve_sync)
        wait_us = await self._async_script()(keys=[self._key], args=[self._interval])
        return int(wait_us) / 1_000_000

    async def _reserve_retrying(self) -> float:
        """Reserve a slot, trying again while Redis is down for up to `retry_for`."""
        redis = _import_redis()
        deadline = time.monotonic() + self._retry_for
        pause = 0.05
        while True:
            try:
                return await self._reserve_async()
            except redis.RedisError as exc:
                if not self._retryable(exc) or time.monotonic() + pause > deadline:
                    raise self._unavailable(exc) from exc
            await anyio.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _reserve_retrying_sync(self) -> float:
        redis = _import_redis()
        deadline = time.monotonic() + self._retry_for
        pause = 0.05
        while True:
            try:
                return self._reserve_sync()
            except redis.RedisError as exc:
                if not self._retryable(exc) or time.monotonic() + pause > deadline:
                    raise self._unavailable(exc) from exc
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def acquire(self) -> None:
        """Return when one send may start (on asyncio or trio)."""
        await _wait_for_slot(self._reserve_retrying, self._late)

    def acquire_sync(self) -> None:
        """Block until one send may start."""
        _wait_for_slot_sync(self._reserve_retrying_sync, self._late)

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the blocking client's connections (made again if used later)."""
        self._check_fork()
        with self._lock:
            sync, self._sync = self._sync, None
        if sync is not None:
            sync[0].close()

    async def aclose(self) -> None:
        """Close this event loop's connections and the blocking client's."""
        import sniffio

        self._check_fork()
        if sniffio.current_async_library() == "asyncio":
            import asyncio

            entry = self._async.pop(asyncio.get_running_loop(), None)
            if entry is not None:
                await entry[0].aclose()
        self.close()
