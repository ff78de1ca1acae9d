"""Scenario 3 worker: walking the whole history, 200 records per page.

``--impl sdk`` / ``sdk-aiohttp``: ``async for record in sms.iter_history()`` over
``--records`` records served by the loopback server (``/records/<N>`` base URL).
``--impl httpx``: the same walk by hand with raw httpx and ``json.loads`` (dicts, no
models, no checks): a floor for the I/O and decoding part.

Without ``--trace``: CPU per record, and resident memory (``/proc/self/statm``) at 1%,
10%, 50% and 100% of the walk. ``--trace``: the same walk under ``tracemalloc``,
reporting the peak of traced memory (``tracemalloc`` slows the walk several times, so
the timing comes from the walk without it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from typing import Any

from bench_bulk import rss_mb
from bench_send import TOKEN

PAGE = 200


class Checkpoints:
    """Resident memory at 1%, 10%, 50% and 100% of the walk."""

    def __init__(self, total: int) -> None:
        self.at = {total // 100, total // 10, total // 2, total}
        self.samples: list[dict[str, float]] = []

    def __call__(self, n: int) -> None:
        if n in self.at:
            self.samples.append({"records": n, "rss_mb": rss_mb()})


async def walk_sdk(base: str, backend: str, checkpoint: Checkpoints | None = None) -> int:
    from devsms_async import AsyncDevSMS

    n = 0
    async with AsyncDevSMS(TOKEN, base_url=base, http_backend=backend) as sms:  # type: ignore[arg-type]
        async for record in sms.iter_history(page_size=PAGE):
            n += record.parts_count > 0  # touch each record
            if checkpoint is not None:
                checkpoint(n)
    return n


async def walk_httpx(base: str, checkpoint: Checkpoints | None = None) -> int:
    import httpx

    n = 0
    offset = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        while True:
            response = await client.get("get_history.php", params={"limit": PAGE, "offset": offset})
            rows = json.loads(response.content)["data"]["history"]
            for row in rows:
                n += row["parts_count"] > 0
                if checkpoint is not None:
                    checkpoint(n)
            if len(rows) < PAGE:
                return n
            offset += PAGE


async def measure(impl: str, base: str, records: int, trace: bool) -> dict[str, Any]:
    def walk(url: str, checkpoint: Checkpoints | None = None) -> Any:
        if impl == "httpx":
            return walk_httpx(url, checkpoint)
        return walk_sdk(url, "aiohttp" if impl == "sdk-aiohttp" else "httpx", checkpoint)

    # A short walk first: imports, converters and connections are set up before the
    # measured walk, so neither its time nor its traced memory includes them.
    warm = base.rsplit("/", 1)[0] + f"/{2 * PAGE}"
    assert await walk(warm) == 2 * PAGE
    if trace:
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    checkpoints = Checkpoints(records)
    seen = await walk(base, None if trace else checkpoints)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert seen == records, (seen, records)
    result: dict[str, Any] = {
        "impl": impl,
        "records": records,
        "traced": trace,
        "cpu_s": cpu,
        "us_per_record": cpu / records * 1e6,
        "wall_s": wall,
        "max_rss_mb": rss_mb(),
    }
    if not trace:
        result["rss_samples"] = checkpoints.samples
        result["rss_growth_mb"] = (
            checkpoints.samples[-1]["rss_mb"] - checkpoints.samples[0]["rss_mb"]
        )
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["peak_traced_mb"] = (peak - baseline) / 2**20
        result["left_traced_mb"] = (current - baseline) / 2**20
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="history walk")
    parser.add_argument("--impl", choices=("sdk", "sdk-aiohttp", "httpx"), default="sdk")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}/records/{args.records}"
    result = asyncio.run(measure(args.impl, base, args.records, args.trace))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
