"""``RedisStore``: the verification store on ``redis.asyncio`` for many workers.

Every method is one Lua script (or one command), so it is atomic on the server
whichever process calls it. Every key gets a TTL. The verifier puts one hash tag
(``{...}``) in all the keys of one service name, so the keys a script touches always
live in one Redis Cluster slot.

``redis.asyncio`` runs on asyncio only (not trio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ._store import CodeRecord, Limit, Refusal, Scope

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

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


class RedisStore:
    """A ``Store`` in Redis, shared by every process.

    Pass a ``redis.asyncio.Redis`` client (yours: you close it) or a ``url``
    (``redis://127.0.0.1:6379/0``; the store owns that client: ``await store.aclose()``).
    ``prefix`` starts every key (no ``{`` or ``}``: the hash tag comes after it).
    Needs the ``redis`` extra: ``pip install 'devsms-async[redis]'``. asyncio only.
    """

    def __init__(
        self,
        client: Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = "devsms:verify:",
    ) -> None:
        if (client is None) == (url is None):
            raise ValidationError("client", "pass either a redis.asyncio client or url=")
        given: object = prefix
        if not isinstance(given, str) or "{" in given or "}" in given:
            raise ValidationError("prefix", "must be a string without '{' or '}'")
        try:
            import redis.asyncio
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise ValidationError(
                "store", "RedisStore needs redis-py: pip install 'devsms-async[redis]'"
            ) from exc
        self._owned = client is None
        self._redis: Redis = (
            client if client is not None else redis.asyncio.Redis.from_url(str(url))
        )
        self.prefix = prefix
        self._begin = self._redis.register_script(_BEGIN)
        self._take = self._redis.register_script(_TAKE_ATTEMPT)
        self._consume = self._redis.register_script(_CONSUME)
        self._rollback = self._redis.register_script(_ROLLBACK)

    def __repr__(self) -> str:
        return f"<RedisStore prefix={self.prefix!r}>"

    @property
    def redis(self) -> Redis:
        """The ``redis.asyncio`` client."""
        return self._redis

    async def aclose(self) -> None:
        """Close the client if the store made it (from ``url=``)."""
        if self._owned:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
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
            args += [
                limit.limit,
                limit.amount,
                repr(limit.retry_after),
                _ms(limit.ttl),
                limit.scope,
            ]
        keys = [self._key(key), *(self._key(limit.key) for limit in limits)]
        answer = await self._begin(keys=keys, args=args)
        if not answer:
            return None
        scope: Scope = _text(answer[0])  # type: ignore[assignment]
        return Refusal(scope, float(_text(answer[1])))

    async def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        answer = await self._take(keys=[self._key(key)], args=[repr(now)])
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

    async def consume(self, key: str, verification_id: str) -> bool:
        return bool(await self._consume(keys=[self._key(key)], args=[verification_id]))

    async def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        keys = [self._key(key), *(self._key(limit.key) for limit in limits)]
        await self._rollback(keys=keys, args=[verification_id, *(lim.amount for lim in limits)])

    async def delete(self, key: str) -> bool:
        return bool(await self._redis.delete(self._key(key)))

    async def set_flag(self, key: str, *, ttl: float) -> None:
        await self._redis.set(self._key(key), "1", px=_ms(ttl))

    async def has_flag(self, key: str) -> bool:
        return bool(await self._redis.exists(self._key(key)))
