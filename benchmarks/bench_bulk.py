"""Scenario 2 worker: many sends from a generator.

``--mode time``: ``--messages`` sends to the loopback server; client CPU and wall time.

``sdk``            ``AsyncDevSMS.send_bulk`` on the default transport
``sdk-aiohttp``    the same with ``http_backend="aiohttp"``
``httpx-workers``  by hand: 10 worker tasks over one ``httpx.AsyncClient`` (10 connections)
``httpx-gather``   by hand, the obvious way: ``gather`` + ``Semaphore(10)``

``--mode memory``: ``stream_bulk`` over a generator of ``--messages`` messages, with
the answers served in-process by an ``httpx.MockTransport`` (the socket is not what
is measured, the job's pipeline is, and a million loopback requests would take
minutes): resident memory (``/proc/self/statm``) at checkpoints, and its growth from
the first checkpoint to the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from bench_send import TOKEN
from server import SEND_BODY

POOL = 10


def messages(n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        yield f"99890{i % 10_000_000:07d}", f"Salom! Buyurtmangiz #{i} tayyor."


def rss_mb() -> float:
    """Current resident set size, from /proc (Linux); ``ru_maxrss`` elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def sdk_bulk(base: str, n: int, backend: str) -> int:
    from devsms_async import AsyncDevSMS

    async with AsyncDevSMS(TOKEN, base_url=base, http_backend=backend) as sms:  # type: ignore[arg-type]
        results = await sms.send_bulk(messages(n))
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    return len(results)


async def httpx_workers(base: str, n: int) -> int:
    import httpx

    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    results: list[Any] = []
    source = messages(n)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:

        async def worker() -> None:
            for phone, text in source:
                body = {"phone": phone, "message": text, "type": "eskiz"}
                response = await client.post("send_sms.php", json=body)
                results.append(response.json()["data"])

        await asyncio.gather(*(worker() for _ in range(POOL)))
    return len(results)


async def httpx_gather(base: str, n: int) -> int:
    import httpx

    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    gate = asyncio.Semaphore(POOL)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:

        async def one(phone: str, text: str) -> Any:
            async with gate:
                body = {"phone": phone, "message": text, "type": "eskiz"}
                response = await client.post("send_sms.php", json=body)
                return response.json()["data"]

        results = await asyncio.gather(*(one(p, t) for p, t in messages(n)))
    return len(results)


async def timed(impl: str, base: str, n: int) -> dict[str, Any]:
    runners = {
        "sdk": lambda: sdk_bulk(base, n, "httpx"),
        "sdk-aiohttp": lambda: sdk_bulk(base, n, "aiohttp"),
        "httpx-workers": lambda: httpx_workers(base, n),
        "httpx-gather": lambda: httpx_gather(base, n),
    }
    await _warm(impl, base)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = await runners[impl]()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert done == n, (done, n)
    return {
        "impl": impl,
        "messages": n,
        "cpu_s": cpu,
        "cpu_ms_per_msg": cpu / n * 1000,
        "wall_s": wall,
        "msgs_per_s": n / wall,
        "max_rss_mb": rss_mb(),
    }


async def _warm(impl: str, base: str) -> None:
    """Import and set up everything once (a small job), so the timing is steady state."""
    if impl.startswith("sdk"):
        await sdk_bulk(base, 50, "aiohttp" if impl == "sdk-aiohttp" else "httpx")
    elif impl == "httpx-workers":
        await httpx_workers(base, 50)
    else:
        await httpx_gather(base, 50)


async def memory(n: int) -> dict[str, Any]:
    import httpx

    from devsms_async import AsyncDevSMS

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=SEND_BODY, headers={"content-type": "application/json"})

    checkpoints = sorted({n // 100, n // 10, n // 2, n})
    samples: list[dict[str, float]] = []
    ok = 0
    cpu0 = time.process_time()
    async with (
        AsyncDevSMS(
            TOKEN, base_url="http://127.0.0.1/api", transport=httpx.MockTransport(answer)
        ) as sms,
        sms.stream_bulk(messages(n)) as results,
    ):
        async for result in results:
            ok += result.ok
            if ok in checkpoints:
                samples.append({"messages": ok, "rss_mb": rss_mb()})
    assert ok == n, (ok, n)
    return {
        "messages": n,
        "samples": samples,
        "growth_mb": samples[-1]["rss_mb"] - samples[0]["rss_mb"],
        "cpu_s": time.process_time() - cpu0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bulk sending")
    parser.add_argument("--mode", choices=("time", "memory"), default="time")
    parser.add_argument("--impl", default="sdk")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.mode == "time":
        base = f"http://127.0.0.1:{args.port}/api"
        result = asyncio.run(timed(args.impl, base, args.messages))
    else:
        result = asyncio.run(memory(args.messages))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
