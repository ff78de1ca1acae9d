"""docs/scale.md's campaigns end to end, with real processes: a Celery worker (prefork, two
children) and two arq workers run docs/examples/scale_celery.py and scale_arq.py against
a real Redis (broker and shared rate limit), a real PostgreSQL (the shared journal) and
the served sandbox (`python -m devsms_async.testing`), all started here.

A worker process is SIGKILLed in the middle of a chunk; the engine runs that chunk again;
then `settle` reconciles the messages in doubt and runs the chunks once more. The
sandbox must have received every message exactly once, and the journal's `counts()`
must say so. When exactly the kill lands varies from run to run; what is asserted
(duplicates, losses, the redelivery) does not.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import pytest

from devsms_async import AsyncDevSMS
from support.postgres_server import PostgresServer
from support.redis_server import RedisServer
from support.served import served_sandbox

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork, SIGKILL")

celery = pytest.importorskip("celery")
arq = pytest.importorskip("arq")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
TESTS = Path(__file__).resolve().parent
TOKEN = "campaign-token"
TOTAL = 240
CHUNK = 40
PER_SECOND = 60  # shared by every worker: about 4 s of sending in all
CHUNKS = [(start, min(start + CHUNK, TOTAL)) for start in range(0, TOTAL, CHUNK)]
DEADLINE = 90.0  # seconds for any one wait; a run takes 15-40 s on a loaded 2-core box


def expected() -> collections.Counter[tuple[str, str]]:
    """What the campaign of the examples sends: customer i, once each."""
    return collections.Counter(
        (f"99890{i:07d}", f"Aksiya! Mijoz #{i}: 20% chegirma") for i in range(TOTAL)
    )


SANDBOX = (
    *("--token", TOKEN, "--balance", "1000000000", "--no-inbox", "--advance-every", "0"),
    # Answers 50 ms late: a worker killed mid-chunk has requests in flight.
    *("--latency", "50"),
)


def received(base_url: str) -> collections.Counter[tuple[str, str]]:
    """Every SMS the sandbox received, by (number, text)."""

    async def walk() -> collections.Counter[tuple[str, str]]:
        seen: collections.Counter[tuple[str, str]] = collections.Counter()
        async with AsyncDevSMS(TOKEN, base_url=base_url) as sms:
            async for record in sms.iter_history():
                seen[record.phone_number, record.message] += 1
        return seen

    return anyio.run(walk)


def journal_counts(dsn: str, job: str) -> dict[str, int]:
    from devsms_async.bulk import PostgresJournal

    async def read() -> dict[str, int]:
        async with PostgresJournal(dsn, job=job) as journal:
            counts = await journal.counts()
        return {state: n for state, n in counts.items() if n}

    return anyio.run(read)


def campaign_env(redis_url: str, dsn: str, base_url: str, starts: Path) -> dict[str, str]:
    path = os.pathsep.join([str(TESTS), str(EXAMPLES), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": redis_url,
        "DATABASE_URL": dsn,
        "DEVSMS_BASE_URL": base_url,
        "DEVSMS_TOKEN": TOKEN,
        "DEVSMS_PER_SECOND": str(PER_SECOND),
        "DEVSMS_CHUNK": str(CHUNK),
        "DEVSMS_JOB_TIMEOUT": "8",
        "CAMPAIGN_STARTS": str(starts),
    }


@contextmanager
def worker(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker in a session of its own, so its children are stopped with it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=TESTS, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        # Whatever is left of this worker's own process group (prefork children).
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def read_starts(starts: Path) -> list[dict[str, Any]]:
    if not starts.exists():
        return []
    lines = starts.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def wait_for(what: str, check: Callable[[], Any], logs: list[Path]) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
    pytest.fail(f"timed out waiting for {what}\n{tails}")


def wait_until_sent_by(
    dsn: str,
    job: str,
    pid: int,
    keys: set[str],
    at_least: int,
    procs: list[subprocess.Popen[bytes]],
) -> bool:
    """Poll the shared journal until process ``pid`` has sent ``at_least`` of ``keys`` (a
    claim names its worker ``host:pid:run``)."""
    from devsms_async.bulk import PostgresJournal

    async def poll() -> bool:
        deadline = time.monotonic() + DEADLINE
        async with PostgresJournal(dsn, job=job) as journal:
            while time.monotonic() < deadline and all(p.poll() is None for p in procs):
                entries = await journal.stored()
                mine = [
                    e
                    for e in entries
                    if e.state == "sent"
                    and e.key in keys
                    and (e.worker or "").split(":")[1:2] == [str(pid)]
                ]
                if len(mine) >= at_least:
                    return True
                await anyio.sleep(0.05)
        return False

    return anyio.run(poll)


def kill_mid_chunk(
    dsn: str,
    job: str,
    starts: Path,
    is_running: Callable[[str], bool],
    chunk_of: Callable[[str], range],
    procs: list[subprocess.Popen[bytes]],
    logs: list[Path],
) -> dict[str, Any]:
    """SIGKILL the process running the first chunk that started, at a random moment once
    it has sent a few messages: it still holds claims then (in flight, or waiting for
    their rate slot), whatever the moment."""
    first: dict[str, Any] = wait_for("a chunk to start", lambda: read_starts(starts), logs)[0]
    keys = {f"customer-{i}" for i in chunk_of(first["id"])}
    if not wait_until_sent_by(dsn, job, first["pid"], keys, 3, procs):
        wait_for("the first chunk to send", lambda: False, logs)
    time.sleep(random.uniform(0.0, 0.3))
    assert is_running(first["id"]), "the chunk finished before the kill: make chunks longer"
    os.kill(first["pid"], signal.SIGKILL)
    return first


def assert_rerun_skipped(counts: dict[str, int]) -> None:
    """The chunk's second run sent none of what its first run sent or may have sent."""
    assert counts.get("already_sent", 0) >= 3, counts
    assert counts.get("claimed_elsewhere", 0) >= 1, counts
    assert sum(counts.values()) == CHUNK, counts


def assert_exactly_once(base_url: str, dsn: str, job: str) -> None:
    seen = received(base_url)
    duplicates = {message: n for message, n in seen.items() if n > 1}
    lost = set(expected()) - set(seen)
    assert not duplicates, f"{len(duplicates)} messages sent more than once"
    assert not lost, f"{len(lost)} messages never sent"
    assert seen == expected()
    assert journal_counts(dsn, job) == {"sent": TOTAL}


# -- Celery -------------------------------------------------------------------------------


def test_celery_campaign_survives_a_killed_child_exactly_once(
    redis_server: RedisServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    from celery import Celery

    dsn = postgres_server.new_database()
    starts, log = tmp_path / "starts.jsonl", tmp_path / "celery.log"
    job = f"promo-{uuid.uuid4().hex[:8]}"
    client = Celery("test-client", broker=redis_server.url, backend=redis_server.url)
    cmd = [sys.executable, "-m", "celery", "-A", "campaign_celery", "worker"]
    cmd += ["--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO"]
    cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "w1@%h"]
    with served_sandbox(*SANDBOX) as sandbox:
        base_url = sandbox.base_url
        env = campaign_env(redis_server.url, dsn, base_url, starts)
        with worker(cmd, env, log) as celery_worker:
            results = [client.send_task("sms.send_chunk", args=(job, *chunk)) for chunk in CHUNKS]
            by_id = {result.id: result for result in results}
            chunk_by_id = {result.id: chunk for result, chunk in zip(results, CHUNKS, strict=True)}
            killed = kill_mid_chunk(
                dsn,
                job,
                starts,
                lambda task_id: not by_id[task_id].ready(),
                lambda task_id: range(*chunk_by_id[task_id]),
                [celery_worker],
                [log],
            )
            for result in results:
                result.get(timeout=DEADLINE)
            assert_rerun_skipped(by_id[killed["id"]].get())
            # The killed chunk was given back to the queue and ran again, in another child.
            runs = [s for s in read_starts(starts) if s["id"] == killed["id"]]
            assert len(runs) >= 2, runs
            assert runs[-1]["pid"] != killed["pid"]

            settled = client.send_task(
                "sms.settle", args=(job, TOTAL), kwargs={"min_age": 0.5}
            ).get(timeout=DEADLINE)
            # The kill left claims in doubt, and the history settled every one of them.
            assert settled["found"] + settled["not_sent"] >= 1, settled
            assert settled["in_doubt"] == 0, settled
            for task_id in settled["requeued"]:
                client.AsyncResult(task_id).get(timeout=DEADLINE)
            # Results unsubscribe from Redis when collected: while it still runs.
            results.clear()
            by_id.clear()
            gc.collect()
            client.close()
        assert_exactly_once(base_url, dsn, job)


# -- arq ----------------------------------------------------------------------------------


def test_arq_campaign_survives_a_killed_worker_exactly_once(
    redis_server: RedisServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.jobs import Job, JobStatus

    dsn = postgres_server.new_database()
    starts = tmp_path / "starts.jsonl"
    logs = [tmp_path / "arq-1.log", tmp_path / "arq-2.log"]
    job = f"promo-{uuid.uuid4().hex[:8]}"
    settings = RedisSettings.from_dsn(redis_server.url)
    cmd = [sys.executable, "-m", "arq", "campaign_arq.WorkerSettings"]

    async def enqueue() -> list[str]:
        redis = await create_pool(settings)
        try:
            ids = []
            for start, stop in CHUNKS:
                queued = await redis.enqueue_job("send_chunk", job, start, stop)
                assert queued is not None
                ids.append(queued.job_id)
            return ids
        finally:
            await redis.aclose()

    async def finished(job_ids: list[str]) -> list[Any]:
        redis = await create_pool(settings)
        try:
            return [
                await Job(job_id, redis).result(timeout=DEADLINE, poll_delay=0.2)
                for job_id in job_ids
            ]
        finally:
            await redis.aclose()

    async def status(job_id: str) -> JobStatus:
        redis = await create_pool(settings)
        try:
            return await Job(job_id, redis).status()
        finally:
            await redis.aclose()

    async def settle() -> dict[str, Any]:
        redis = await create_pool(settings)
        try:
            queued = await redis.enqueue_job("settle", job, TOTAL, 0.5)
            assert queued is not None
            outcome: dict[str, Any] = await queued.result(timeout=DEADLINE, poll_delay=0.2)
            return outcome
        finally:
            await redis.aclose()

    with served_sandbox(*SANDBOX) as sandbox:
        base_url = sandbox.base_url
        env = campaign_env(redis_server.url, dsn, base_url, starts)
        with worker(cmd, env, logs[0]) as one, worker(cmd, env, logs[1]) as two:
            job_ids = anyio.run(enqueue)
            chunk_by_id = dict(zip(job_ids, CHUNKS, strict=True))
            killed = kill_mid_chunk(
                dsn,
                job,
                starts,
                lambda job_id: anyio.run(status, job_id) is not JobStatus.complete,
                lambda job_id: range(*chunk_by_id[job_id]),
                [one, two],
                logs,
            )
            outcomes = dict(zip(job_ids, anyio.run(finished, job_ids), strict=True))
            assert_rerun_skipped(outcomes[killed["id"]])
            # The killed job stayed queued and ran again (arq's next try) in the other worker.
            runs = [s for s in read_starts(starts) if s["id"] == killed["id"]]
            assert [run["try"] for run in runs][:2] == [1, 2], runs
            assert runs[-1]["pid"] != killed["pid"]
            [dead] = [proc for proc in (one, two) if proc.pid == killed["pid"]]
            assert dead.wait(timeout=5) == -signal.SIGKILL

            settled = anyio.run(settle)
            assert settled["found"] + settled["not_sent"] >= 1, settled
            assert settled["in_doubt"] == 0, settled
            anyio.run(finished, settled["requeued"])
        assert_exactly_once(base_url, dsn, job)
