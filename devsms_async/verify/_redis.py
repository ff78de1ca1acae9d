"""``RedisStore`` (``redis.asyncio``) and ``SyncRedisStore`` (``redis``): the
verification store for many workers.

Every method is one Lua script (or one command), so it is atomic on the server
whichever process calls it. Every key gets a TTL. The verifier puts one hash tag
(``{...}``) in all the keys of one service name, so the keys a script touches always
live in one Redis Cluster slot.

Fork: a child never uses a connection its parent opened. redis-py's sync
``ConnectionPool`` resets itself in a child (it compares ``os.getpid()``), but
``redis.asyncio`` has no such check, so both stores check the pid themselves and, in
a child, open a new pool with the same settings. redis-py's own errors for a server
that cannot be reached become ``StoreUnavailableError``.

``redis.asyncio`` runs on asyncio only (not trio).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from .._fork import ForkGuard, abandon
from ..errors import StoreUnavailableError, ValidationError
from ._store import CodeRecord, Limit, Refusal, Scope

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["RedisStore", "SyncRedisStore"]

# KEYS[1] the record, KEYS[2..] the counters.
# ARGV: now, ttl_ms, id, digest, expires_at, resend_at, max_attempts,
#       then per counter: limit, amount, retry_after, ttl_ms, scope.
_BEGIN = """
local now = tonumber(ARGV[1])
local resend = redis.call('HGET', KEYS[1], 'resend')
if resend and tonumber(resend) > now then
  return {'resend', tostring(tonumber(resend) - now)}
end
for i = 2, #KEYS do
  local base = 7 + (i - 2) * 5
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current + tonumber(ARGV[base + 2]) > tonumber(ARGV[base + 1]) then
    return {ARGV[base + 5], ARGV[base + 3]}
  end
end
for i = 2, #KEYS do
  local base = 7 + (i - 2) * 5
  redis.call('INCRBY', KEYS[i], ARGV[base + 2])
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[base + 4])
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'digest', ARGV[4], 'exp', ARGV[5],
           'resend', ARGV[6], 'att', '0', 'max', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return false
"""

_TAKE_ATTEMPT = """
local r = redis.call('HMGET', KEYS[1], 'id', 'digest', 'exp', 'resend', 'att', 'max')
if not r[1] then
  return false
end
local counted = '0'
if tonumber(ARGV[1]) < tonumber(r[3]) and tonumber(r[5]) < tonumber(r[6]) then
  r[5] = tostring(redis.call('HINCRBY', KEYS[1], 'att', 1))
  counted = '1'
end
return {r[1], r[2], r[3], r[4], r[5], r[6], counted}
"""

_CONSUME = """
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS[1] the record, KEYS[2..] counters; ARGV[1] the id, ARGV[2..] the amounts.
_ROLLBACK = """
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
for i = 2, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current > 0 then
    redis.call('DECRBY', KEYS[i], math.min(current, tonumber(ARGV[i])))
  end
end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions as rex

    # ReadOnlyError: a replica promoted away from under us, not a bug of ours.
    return (rex.ConnectionError, rex.TimeoutError, rex.ReadOnlyError, OSError)


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except StoreUnavailableError:
        raise
    except _unavailable_errors() as exc:
        raise StoreUnavailableError(
            f"the verification store (Redis) is unavailable: {type(exc).__name__}; nothing "
            "was verified or sent"
        ) from exc


def _begin_args(
    prefix: str, key: str, record: CodeRecord, limits: Sequence[Limit], now: float, ttl: float
) -> tuple[list[str], list[str | int]]:
    args: list[str | int] = [
        repr(now),
        _ms(ttl),
        record.verification_id,
        record.digest,
        repr(record.expires_at),
        repr(record.resend_at),
        record.max_attempts,
    ]
    for limit in limits:
        args += [limit.limit, limit.amount, repr(limit.retry_after), _ms(limit.ttl), limit.scope]
    return [prefix + key, *(prefix + limit.key for limit in limits)], args


def _refusal(answer: Any) -> Refusal | None:
    if not answer:
        return None
    scope: Scope = _text(answer[0])  # type: ignore[assignment]
    return Refusal(scope, float(_text(answer[1])))


def _taken(answer: Any) -> tuple[CodeRecord, bool] | None:
    if not answer:
        return None
    vid, digest, expires, resend, attempts, maximum, counted = map(_text, answer)
    record = CodeRecord(
        verification_id=vid,
        digest=digest,
        expires_at=float(expires),
        resend_at=float(resend),
        attempts=int(attempts),
        max_attempts=int(maximum),
    )
    return record, counted == "1"


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ValidationError("prefix", "must be a string without '{' or '}'")
    return prefix


class _Face(NamedTuple):
    """The words and the client class of one face, for its checks' messages."""

    store: str
    module: str
    either: str
    other: str


class _Base:
    """What both faces share: the scripts, the pid guard and the key prefix."""

    _redis: Any
    _FACE: ClassVar[_Face]

    def _setup(self, client: object, url: str | None, prefix: str) -> None:
        face = self._FACE
        if (client is None) == (url is None):
            raise ValidationError("client", f"pass either a {face.either} client or url=")
        checked = _check_prefix(prefix)
        try:
            redis_class = importlib.import_module(face.module).Redis
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise ValidationError(
                "store", f"{face.store} needs redis-py: pip install 'devsms-async[redis]'"
            ) from exc
        if client is not None and not isinstance(client, redis_class):
            raise ValidationError(
                "client",
                f"must be a {face.module}.Redis (for {face.other}), not {type(client).__name__}",
            )
        self._owned = client is None
        self.prefix = checked
        self._guard = ForkGuard()
        self._bind(client if client is not None else redis_class.from_url(str(url)))

    def _bind(self, client: Any) -> None:
        self._redis = client
        self._begin = client.register_script(_BEGIN)
        self._take = client.register_script(_TAKE_ATTEMPT)
        self._consume = client.register_script(_CONSUME)
        self._rollback = client.register_script(_ROLLBACK)

    def _forked(self) -> None:
        """In a forked child: a new pool with the parent's settings, never its sockets.

        The parent's client is abandoned, not closed: in a child, closing a
        ``redis.asyncio`` connection unregisters the parent's socket from the epoll
        instance both share (and a write there can take the parent's answer).
        """
        if not self._guard.forked():
            return
        old = self._redis
        abandon(old)
        pool = old.connection_pool
        fresh = type(pool)(connection_class=pool.connection_class, **pool.connection_kwargs)
        self._bind(type(old).from_pool(fresh))
        self._owned = True  # the new pool is ours to close; the parent's client is not
        self._guard.renew()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r}>"


class RedisStore(_Base):
    """A ``Store`` in Redis, shared by every process.

    Pass a ``redis.asyncio.Redis`` client (yours: you close it) or a ``url``
    (``redis://127.0.0.1:6379/0``; the store owns that client: ``await store.aclose()``).
    ``prefix`` starts every key (no ``{`` or ``}``: the hash tag comes after it).
    Needs the ``redis`` extra: ``pip install 'devsms-async[redis]'``. asyncio only.
    In a forked child the store opens its own connections (same settings). A server
    that cannot be reached raises ``StoreUnavailableError``.
    """

    _FACE = _Face("RedisStore", "redis.asyncio", "redis.asyncio", "redis.Redis: SyncRedisStore")

    def __init__(
        self,
        client: redis.asyncio.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = "devsms:verify:",
    ) -> None:
        self._setup(client, url, prefix)

    @property
    def redis(self) -> redis.asyncio.Redis:
        """The ``redis.asyncio`` client (in a forked child: the store's own one)."""
        self._forked()
        client: redis.asyncio.Redis = self._redis
        return client

    async def aclose(self) -> None:
        """Close the client if the store made it (from ``url=``, or in a forked child)."""
        if not self._guard.forked() and self._owned:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
        keys, args = _begin_args(self.prefix, key, record, limits, now, ttl)
        self._forked()
        with _mapped():
            return _refusal(await self._begin(keys=keys, args=args))

    async def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        self._forked()
        with _mapped():
            return _taken(await self._take(keys=[self.prefix + key], args=[repr(now)]))

    async def consume(self, key: str, verification_id: str) -> bool:
        self._forked()
        with _mapped():
            return bool(await self._consume(keys=[self.prefix + key], args=[verification_id]))

    async def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        keys = [self.prefix + key, *(self.prefix + limit.key for limit in limits)]
        self._forked()
        with _mapped():
            await self._rollback(keys=keys, args=[verification_id, *(lim.amount for lim in limits)])

    async def delete(self, key: str) -> bool:
        self._forked()
        with _mapped():
            return bool(await self._redis.delete(self.prefix + key))

    async def set_flag(self, key: str, *, ttl: float) -> None:
        self._forked()
        with _mapped():
            await self._redis.set(self.prefix + key, "1", px=_ms(ttl))

    async def has_flag(self, key: str) -> bool:
        self._forked()
        with _mapped():
            return bool(await self._redis.exists(self.prefix + key))


class SyncRedisStore(_Base):
    """``RedisStore`` for ``SyncVerifier``, on redis-py's sync client: the same keys and
    scripts (a ``RedisStore`` and a ``SyncRedisStore`` with one prefix share state), safe
    to share between threads (redis-py's pool) and across ``fork()``.

    Pass a ``redis.Redis`` client (yours: you close it) or a ``url`` (the store owns the
    client: ``store.close()`` or ``with``). A server that cannot be reached raises
    ``StoreUnavailableError``.
    """

    _FACE = _Face("SyncRedisStore", "redis", "redis.Redis", "redis.asyncio: RedisStore")

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = "devsms:verify:",
    ) -> None:
        self._setup(client, url, prefix)

    @property
    def redis(self) -> redis.Redis:
        """The ``redis`` client (in a forked child: the store's own one)."""
        self._forked()
        client: redis.Redis = self._redis
        return client

    def close(self) -> None:
        """Close the client if the store made it (from ``url=``, or in a forked child)."""
        if not self._guard.forked() and self._owned:
            self._redis.close()

    def __enter__(self) -> SyncRedisStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
        keys, args = _begin_args(self.prefix, key, record, limits, now, ttl)
        self._forked()
        with _mapped():
            return _refusal(self._begin(keys=keys, args=args))

    def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        self._forked()
        with _mapped():
            return _taken(self._take(keys=[self.prefix + key], args=[repr(now)]))

    def consume(self, key: str, verification_id: str) -> bool:
        self._forked()
        with _mapped():
            return bool(self._consume(keys=[self.prefix + key], args=[verification_id]))

    def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        keys = [self.prefix + key, *(self.prefix + limit.key for limit in limits)]
        self._forked()
        with _mapped():
            self._rollback(keys=keys, args=[verification_id, *(lim.amount for lim in limits)])

    def delete(self, key: str) -> bool:
        self._forked()
        with _mapped():
            return bool(self._redis.delete(self.prefix + key))

    def set_flag(self, key: str, *, ttl: float) -> None:
        self._forked()
        with _mapped():
            self._redis.set(self.prefix + key, "1", px=_ms(ttl))

    def has_flag(self, key: str) -> bool:
        self._forked()
        with _mapped():
            return bool(self._redis.exists(self.prefix + key))
