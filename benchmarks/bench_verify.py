"""check() latency (p50/p99) and throughput on MemoryStore and RedisStore.

    python benchmarks/bench_verify.py              # both stores (RedisStore needs redis-server)
    python benchmarks/bench_verify.py --n 5000 --runs 5

Sends go to an in-memory fake (no HTTP): this measures the verifier and its store.
RedisStore runs against a redis-server this script starts on 127.0.0.1 (a free port)
and stops; a raw ``PING`` over the same client is the baseline round trip. Each
configuration runs ``--runs`` times, interleaved, and the medians are printed.
Scenarios: ``wrong`` (a wrong code: one store call) and ``right`` (a right code: two
calls, the verification is consumed), each sequential (latency) and with 50 tasks
(throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any

from devsms_async.models import SendResult, SmsStatus
from devsms_async.verify import MemoryStore, RedisStore, Store, Verifier

SECRET = "bench-secret-key-0123456789abcdef"
NOW = _dt.datetime(2026, 3, 9, 10, 30, tzinfo=_dt.timezone.utc)


class FakeSms:
    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.n = 0

    async def send_otp(self, phone: str, *, otp_code: str, **_: Any) -> SendResult:
        self.codes[phone] = otp_code
        self.n += 1
        return SendResult(
            sms_id=self.n,
            request_id="r",
            status=SmsStatus.SENT,
            status_raw="sent",
            parts_count=1,
            total_cost=50,
            balance=0,
            type="universal_otp",
        )


def verifier(store: Store, sms: FakeSms) -> Verifier:
    return Verifier(
        sms,
        store,
        service_name="Bench",
        secret_key=SECRET,
        max_attempts=100,
        per_phone=None,
        per_key=None,
        per_service=None,
        clock=lambda: NOW,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(store: Store, n: int, scenario: str, concurrency: int) -> dict[str, float]:
    sms = FakeSms()
    v = verifier(store, sms)
    phones = [f"99890{i:07d}" for i in range(n)]
    for phone in phones:
        await v.start(phone)
    codes = {
        p: (sms.codes[p] if scenario == "right" else f"{(int(sms.codes[p]) + 1) % 10**6:06d}")
        for p in phones
    }
    latencies: list[float] = []

    async def one(phone: str) -> None:
        t0 = time.perf_counter()
        await v.check(phone, codes[phone])
        latencies.append(time.perf_counter() - t0)

    if isinstance(store, RedisStore):
        # Open the pool's connections first: connecting is not what is measured.
        await asyncio.gather(*(store.redis.ping() for _ in range(concurrency)))
    queue = list(phones)

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "p50_us": pct(latencies, 0.5) * 1e6,
        "p99_us": pct(latencies, 0.99) * 1e6,
        "per_s": n / elapsed,
    }


async def ping_baseline(store: RedisStore, n: int) -> tuple[float, float]:
    """Raw redis-py on the same client: PING p50 (µs, one task) and PINGs/s (50 tasks)."""
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        await store.redis.ping()
        latencies.append(time.perf_counter() - t0)
    remaining = [n]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await store.redis.ping()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(50)))
    return pct(latencies, 0.5) * 1e6, n / (time.perf_counter() - t0)


def start_redis() -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return process, f"redis://127.0.0.1:{port}/0"
    process.kill()
    return None


async def main(opts: argparse.Namespace) -> None:
    redis_proc = start_redis() if not opts.memory_only else None
    stores = ["memory"] + (["redis"] if redis_proc else [])
    rows: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    pings: list[tuple[float, float]] = []
    try:
        for run in range(opts.runs):
            for store_name in stores:
                for scenario in ("wrong", "right"):
                    for concurrency in (1, 50):
                        if store_name == "memory":
                            result = await measure(
                                MemoryStore(max_entries=10 * opts.n), opts.n, scenario, concurrency
                            )
                        else:
                            assert redis_proc is not None
                            async with RedisStore(
                                url=redis_proc[1], prefix=f"b{run}{scenario}{concurrency}:"
                            ) as rs:
                                result = await measure(rs, opts.n, scenario, concurrency)
                                pings.append(await ping_baseline(rs, opts.n))
                        rows.setdefault((store_name, scenario, concurrency), []).append(result)
    finally:
        if redis_proc:
            redis_proc[0].terminate()
            redis_proc[0].wait()
    print(f"check() on {opts.n} verifications, median of {opts.runs} runs\n")
    print("| store | code | tasks | p50 µs | p99 µs | checks/s |")
    print("|---|---|---|---|---|---|")
    for (store_name, scenario, concurrency), results in rows.items():
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(
            f"| {store_name} | {scenario} | {concurrency} | {med['p50_us']:.0f} | "
            f"{med['p99_us']:.0f} | {med['per_s']:,.0f} |"
        )
    if pings:
        p50 = statistics.median(p[0] for p in pings)
        rate = statistics.median(p[1] for p in pings)
        print(f"\nraw redis-py PING, same client: p50 {p50:.0f} µs; {rate:,.0f}/s with 50 tasks")
    if not redis_proc and not opts.memory_only:
        print("\nredis-server not found: RedisStore skipped (apt-get install redis-server)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory-only", action="store_true")
    asyncio.run(main(parser.parse_args()))
