"""Scenario 6 worker: one process of a bulk job shared on PostgreSQL.

``--journal pg``: the process sends customers ``--start`` .. ``--stop - 1`` (keyed
messages) with ``PostgresJournal(--dsn, job=--job)``; ``--journal none``: the same sends
without a journal. It imports and warms up first (a few sends under another job), prints
``ready``, waits for ``go`` on stdin (so every process of a round starts together), then
prints one JSON line: sends, client CPU seconds, and the wall-clock start and end
(``time.time()``, comparable between the processes of a round).

The orchestration (the sandbox at ``--latency``, PostgreSQL, 1/2/4 processes in
alternating rounds) is ``scenario_scale`` in run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

TOKEN = "bench-token"


def messages(start: int, stop: int, tag: str) -> Iterator[Any]:
    from devsms_async.bulk import BulkMessage

    for i in range(start, stop):
        yield BulkMessage(
            phone=f"99890{i % 10_000_000:07d}",
            message=f"Aksiya! Mijoz #{i}: 20% chegirma",
            key=f"{tag}-{i}",
        )


async def send(args: argparse.Namespace, start: int, stop: int, job: str) -> int:
    from devsms_async import AsyncDevSMS

    async with AsyncDevSMS(TOKEN, base_url=args.base_url) as sms:
        batch = messages(start, stop, job)
        if args.journal == "pg":
            from devsms_async.bulk import PostgresJournal

            async with PostgresJournal(args.dsn, job=job) as journal:
                results = await sms.send_bulk(batch, journal=journal, concurrency=args.concurrency)
        else:
            results = await sms.send_bulk(batch, concurrency=args.concurrency)
    failed = [r for r in results if not r.ok]
    assert not failed, failed[:3]
    return len(results)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    # Warm-up: imports, the first connections, the journal's tables.
    await send(args, 0, 2 * args.concurrency, f"{args.job}-warm-{args.start}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    assert line.strip() == "go", line
    cpu0, wall0 = time.process_time(), time.time()
    sent = await send(args, args.start, args.stop, args.job)
    cpu, wall1 = time.process_time() - cpu0, time.time()
    return {"sent": sent, "cpu_s": cpu, "start": wall0, "end": wall1}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one worker of a shared bulk job")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--job", required=True)
    parser.add_argument("--journal", choices=("pg", "none"), default="pg")
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--stop", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
