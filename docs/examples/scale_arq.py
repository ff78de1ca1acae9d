"""A campaign on arq: chunks of keyed messages, one shared PostgreSQL journal, one Redis
rate limit for every worker. See docs/scale.md.

arq keeps a job in its queue until it finished: when the worker running it dies, the
job runs again once its in-progress mark expires (``job_timeout`` + 10 s). The journal
makes that second run skip what the first one sent and never resend what is in doubt;
``settle`` asks the provider's history about the messages in doubt and runs the chunks
again for the ones provably not sent. Run it::

    export REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgresql://127.0.0.1/app
    export DEVSMS_TOKEN=...            # and DEVSMS_BASE_URL for the sandbox
    arq scale_arq.WorkerSettings       # as many as you like, on any machine
    python scale_arq.py promo-2026-12 200000            # enqueue the campaign
    python scale_arq.py promo-2026-12 200000 --settle   # later: settle, resend the absent
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from devsms_async import AsyncDevSMS
from devsms_async.bulk import BulkMessage, PostgresJournal
from devsms_async.ratelimit import RedisRateLimit

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://127.0.0.1/app")
PER_SECOND = float(os.environ.get("DEVSMS_PER_SECOND", "20"))
CHUNK = int(os.environ.get("DEVSMS_CHUNK", "500"))
CONCURRENCY = 5  # sends in flight per job; PER_SECOND caps them all together
JOB_TIMEOUT = int(os.environ.get("DEVSMS_JOB_TIMEOUT", "600"))  # longer than any chunk

RATE_LIMIT = RedisRateLimit(REDIS_URL, per_second=PER_SECOND, name="promo")


def load(customer_ids: Iterable[int]) -> Iterator[BulkMessage]:
    """Your database: the message of each customer. The key is the customer's id."""
    for customer in customer_ids:
        yield BulkMessage(
            phone=f"99890{customer:07d}",
            message=f"Aksiya! Mijoz #{customer}: 20% chegirma",
            key=f"customer-{customer}",
        )


def chunks(total: int) -> list[tuple[int, int]]:
    """The campaign as ranges of customer ids: job arguments carry ids, not texts."""
    return [(start, min(start + CHUNK, total)) for start in range(0, total, CHUNK)]


async def startup(ctx: dict[str, Any]) -> None:
    # One client per worker process, shared by its jobs (arq runs them on one loop),
    # closed with the rate limit's connections when the worker stops.
    ctx["devsms_exit"] = exit_stack = contextlib.AsyncExitStack()
    exit_stack.push_async_callback(RATE_LIMIT.aclose)
    ctx["sms"] = await exit_stack.enter_async_context(AsyncDevSMS())


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["devsms_exit"].aclose()


async def send_chunk(ctx: dict[str, Any], job: str, start: int, stop: int) -> dict[str, int]:
    """Send customers ``start`` to ``stop - 1``; returns counts by outcome."""
    sms: AsyncDevSMS = ctx["sms"]
    async with PostgresJournal(DATABASE_URL, job=job) as journal:
        results = await sms.send_bulk(
            load(range(start, stop)),
            journal=journal,
            rate_limit=RATE_LIMIT,
            concurrency=CONCURRENCY,
        )
    return dict(collections.Counter(result.outcome.value for result in results))


async def settle(
    ctx: dict[str, Any], job: str, total: int, min_age: float = 120.0
) -> dict[str, object]:
    """Settle the messages in doubt from the history; if any message is provably not
    sent, run every chunk again (each skips what was sent). Run it after the chunks, or
    as an arq cron job."""
    sms: AsyncDevSMS = ctx["sms"]
    async with PostgresJournal(DATABASE_URL, job=job) as journal:
        doubtful = await journal.stored(in_doubt=True)
        customers = [int(entry.key.removeprefix("customer-")) for entry in doubtful if entry.key]
        report = await sms.reconcile_journal(journal, load(customers), min_age=min_age)
        counts = await journal.counts()
    unsent = counts.get("failed", 0) + counts.get("not_started", 0)
    requeued: list[str] = []
    if unsent:
        redis: ArqRedis = ctx["redis"]
        for start, stop in chunks(total):
            queued = await redis.enqueue_job("send_chunk", job, start, stop)
            if queued is not None:
                requeued.append(queued.job_id)
    return {
        "found": report.found,
        "not_sent": report.not_sent,
        "in_doubt": report.in_doubt,
        "unsent": unsent,
        "requeued": requeued,
    }


class WorkerSettings:
    functions: ClassVar = [send_chunk, settle]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    job_timeout = JOB_TIMEOUT
    max_tries = 5  # runs of one job: the first, and redeliveries after a dead worker


async def enqueue(job: str, total: int, *, settle_now: bool) -> None:
    redis = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    try:
        if settle_now:
            queued = await redis.enqueue_job("settle", job, total)
            assert queued is not None
            print(await queued.result(timeout=3600))
        else:
            for start, stop in chunks(total):
                await redis.enqueue_job("send_chunk", job, start, stop)
            print(f"{len(chunks(total))} chunks enqueued for {job}")
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="enqueue a campaign, or settle it")
    parser.add_argument("job", help="the campaign's journal job name")
    parser.add_argument("total", type=int, help="customers 0 .. total-1")
    parser.add_argument("--settle", action="store_true", help="settle and resend the absent")
    args = parser.parse_args()
    asyncio.run(enqueue(args.job, args.total, settle_now=args.settle))


if __name__ == "__main__":
    main()
