"""One worker process of the cross-process verify tests (run by tests/test_verify_redis.py).

    python tests/verify_worker.py URL SPEC_JSON

Connects a ``Verifier`` on ``RedisStore`` to the test's redis-server, waits at a
barrier (a Redis list) so every worker starts together, runs its checks concurrently
and prints the statuses as JSON.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sys
from typing import Any

from devsms_async.verify import RedisStore, Verifier


class _NoSms:
    async def send_otp(self, phone: str, **kwargs: Any) -> Any:
        raise AssertionError("a checking worker sends nothing")


async def main(url: str, spec: dict[str, Any]) -> list[str]:
    when = _dt.datetime.fromtimestamp(spec["now"], _dt.timezone.utc)
    async with RedisStore(url=url, prefix=spec["prefix"]) as store:
        verifier = Verifier(
            _NoSms(),
            store,
            service_name=spec["service_name"],
            secret_key=spec["secret_key"],
            max_attempts=spec["max_attempts"],
            clock=lambda: when,
        )
        await store.redis.ping()
        print("ready", flush=True)
        await store.redis.blpop([spec["barrier"]], timeout=60)
        results = await asyncio.gather(
            *(verifier.check(spec["phone"], code) for code in spec["codes"])
        )
        return [result.status for result in results]


if __name__ == "__main__":
    statuses = asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    print(json.dumps(statuses), flush=True)
