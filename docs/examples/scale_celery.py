"""A campaign on Celery: chunks of keyed messages, one shared PostgreSQL journal, one
Redis rate limit for every worker. See docs/scale.md.

Celery distributes the chunks and redelivers the chunk of a worker that died; the
journal decides, message by message, whether a send may start (so a redelivered chunk
skips what was sent and never resends what is in doubt); ``settle`` asks the provider's
history about the messages in doubt and runs the chunks again for the ones provably not
sent. Run it (Redis, PostgreSQL and the sandbox or the real service)::

    export REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgresql://127.0.0.1/app
    export DEVSMS_TOKEN=...            # and DEVSMS_BASE_URL for the sandbox
    celery -A scale_celery worker --pool prefork --concurrency 4
    python scale_celery.py promo-2026-12 200000     # enqueue the campaign
    python scale_celery.py promo-2026-12 200000 --settle   # later: settle, resend the absent
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
from collections.abc import Iterable, Iterator

from celery import Celery

from devsms_async import AsyncDevSMS
from devsms_async.bulk import BulkMessage, PostgresJournal
from devsms_async.ratelimit import RedisRateLimit

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://127.0.0.1/app")
PER_SECOND = float(os.environ.get("DEVSMS_PER_SECOND", "20"))
CHUNK = int(os.environ.get("DEVSMS_CHUNK", "500"))
CONCURRENCY = 5  # sends in flight per task; PER_SECOND caps them all together

app = Celery("scale_celery", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    # Acknowledge a chunk after it ran, and give it back to the queue when the child
    # running it dies (SIGKILL, the OOM killer): another worker runs it again, and the
    # journal makes that second run skip what the first one sent.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # A chunk that raised (PostgreSQL down past its retries ...) is acknowledged, not
    # redelivered in a loop (Celery's default); `settle` runs what is left.
    task_acks_on_failure_or_timeout=True,
    # One chunk at a time per child: a prefetched chunk waits for nothing.
    worker_prefetch_multiplier=1,
    # Redis redelivers a chunk unacknowledged for this long even if its first run still
    # lives: keep it far above the longest chunk (the journal keeps that safe anyway).
    broker_transport_options={"visibility_timeout": 3600},
    result_expires=24 * 3600,
)

# Made before the fork, used by every child: it connects lazily, per process.
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
    """The campaign as ranges of customer ids: task arguments carry ids, not texts."""
    return [(start, min(start + CHUNK, total)) for start in range(0, total, CHUNK)]


async def _send_chunk(job: str, start: int, stop: int) -> dict[str, int]:
    async with AsyncDevSMS() as sms, PostgresJournal(DATABASE_URL, job=job) as journal:
        results = await sms.send_bulk(
            load(range(start, stop)),
            journal=journal,
            rate_limit=RATE_LIMIT,
            concurrency=CONCURRENCY,
        )
    return dict(collections.Counter(result.outcome.value for result in results))


@app.task(name="sms.send_chunk")
def send_chunk(job: str, start: int, stop: int) -> dict[str, int]:
    """Send customers ``start`` to ``stop - 1``; returns counts by outcome."""
    # One event loop per task: nothing async outlives it, so nothing crosses a fork.
    return asyncio.run(_send_chunk(job, start, stop))


async def _settle(job: str, min_age: float) -> dict[str, int]:
    async with AsyncDevSMS() as sms, PostgresJournal(DATABASE_URL, job=job) as journal:
        doubtful = await journal.stored(in_doubt=True)
        customers = [int(entry.key.removeprefix("customer-")) for entry in doubtful if entry.key]
        report = await sms.reconcile_journal(journal, load(customers), min_age=min_age)
        counts = await journal.counts()
    return {
        "found": report.found,
        "not_sent": report.not_sent,
        "in_doubt": report.in_doubt,
        "unsent": counts.get("failed", 0) + counts.get("not_started", 0),
    }


@app.task(name="sms.settle")
def settle(job: str, total: int, min_age: float = 120.0) -> dict[str, object]:
    """Settle the messages in doubt from the history; if any message is provably not
    sent, run every chunk again (each skips what was sent). Run it after the chunks, or
    every few minutes from celery beat."""
    outcome: dict[str, object] = dict(asyncio.run(_settle(job, min_age)))
    requeued = []
    if outcome["unsent"]:
        requeued = [send_chunk.delay(job, start, stop).id for start, stop in chunks(total)]
    outcome["requeued"] = requeued
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description="enqueue a campaign, or settle it")
    parser.add_argument("job", help="the campaign's journal job name")
    parser.add_argument("total", type=int, help="customers 0 .. total-1")
    parser.add_argument("--settle", action="store_true", help="settle and resend the absent")
    args = parser.parse_args()
    if args.settle:
        print(settle.delay(args.job, args.total).get(timeout=3600))
    else:
        for start, stop in chunks(args.total):
            send_chunk.delay(args.job, start, stop)
        print(f"{len(chunks(args.total))} chunks enqueued for {args.job}")


if __name__ == "__main__":
    main()
