"""One worker process of the shared rate limit tests (run by tests/scale/test_ratelimit_redis.py).

    python tests/scale/ratelimit_worker.py SPEC_JSON

Opens its client and warms its connections up (reads on every pooled connection, and a
slot of a warm-up limit: the first sends must not wait for connections to open),
prints `ready`, waits for a line on stdin (so every worker starts at once), then sends
unique messages to a served sandbox for `duration` seconds through one face, paced by a
`RedisRateLimit` that every worker shares, and prints `{"sent": N, "failed": N}`.

Faces: `bulk` (asyncio, `send_bulk(rate_limit=)`), `bulk-trio` (the same on trio),
`client` (asyncio, `AsyncDevSMS(rate_limit=)`), `sync` (`DevSMS(rate_limit=)`, one
send after another).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread

from devsms_async import AsyncDevSMS, DevSMS, DevSMSError
from devsms_async.ratelimit import RedisRateLimit


def messages(spec: dict[str, Any], end: float) -> Iterator[tuple[str, str]]:
    i = 0
    while time.monotonic() < end:
        yield f"99890{spec['worker']}{i:06d}", f"worker {spec['worker']} message {i}"
        i += 1


def limits(spec: dict[str, Any]) -> tuple[RedisRateLimit, RedisRateLimit]:
    shared = RedisRateLimit(spec["redis_url"], per_second=spec["per_second"], name=spec["name"])
    warm = RedisRateLimit(spec["redis_url"], per_second=1000, name=spec["name"] + "-warm-up")
    return shared, warm


def ready() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


async def run_async(spec: dict[str, Any]) -> dict[str, int]:
    limit, warm = limits(spec)
    client_limit = limit if spec["face"] == "client" else None
    job_limit = None if spec["face"] == "client" else limit
    async with AsyncDevSMS(
        spec["token"], base_url=spec["base_url"], rate_limit=client_limit
    ) as sms:
        async with anyio.create_task_group() as tg:  # open the pool's 10 connections
            for _ in range(10):
                tg.start_soon(sms.get_balance)
        await warm.acquire()
        await anyio.to_thread.run_sync(ready)
        end = time.monotonic() + spec["duration"]
        results = await sms.send_bulk(messages(spec, end), concurrency=10, rate_limit=job_limit)
    await limit.aclose()
    await warm.aclose()
    return {"sent": sum(r.ok for r in results), "failed": sum(not r.ok for r in results)}


def run_sync(spec: dict[str, Any]) -> dict[str, int]:
    limit, warm = limits(spec)
    sent = failed = 0
    with DevSMS(spec["token"], base_url=spec["base_url"], rate_limit=limit) as sms:
        sms.get_balance()
        warm.acquire_sync()
        ready()
        for phone, text in messages(spec, time.monotonic() + spec["duration"]):
            try:
                sms.send_sms(phone, text)
                sent += 1
            except DevSMSError:
                failed += 1
    limit.close()
    warm.close()
    return {"sent": sent, "failed": failed}


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["face"] == "sync":
        outcome = run_sync(spec)
    else:
        backend = "trio" if spec["face"] == "bulk-trio" else "asyncio"
        outcome = anyio.run(run_async, spec, backend=backend)
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
