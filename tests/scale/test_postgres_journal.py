"""PostgresJournal against a real PostgreSQL that the tests start and stop
(tests/support/postgres_server.py), with real worker processes and a served sandbox.

The chaos test: three worker processes share one job of 3,000 keyed messages; one is
SIGKILLed at random moments (three seeds) and restarted; after ``reconcile_journal``
and one more run the sandbox received every message exactly once.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from devsms_async import AsyncDevSMS, UsageError
from devsms_async.bulk import BulkMessage, BulkOutcome, JournalError, PostgresJournal
from devsms_async.testing import Sandbox
from support.postgres_server import PostgresServer
from support.served import ServedProcess, served_sandbox

Run = Callable[..., Any]
WORKER = Path(__file__).with_name("pg_worker.py")
TOKEN = "pg-chaos-T0KEN"


def keyed(job: str, count: int) -> list[BulkMessage]:
    return [
        BulkMessage(phone=f"99890{i:07d}", message=f"{job} #{i}", key=f"customer-{i}")
        for i in range(count)
    ]


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


# -- in one process ------------------------------------------------------------------------


def test_a_job_resumes_and_counts_on_postgresql(run: Run, dsn: str) -> None:
    sandbox = Sandbox()
    messages = keyed("resume", 40)

    async def send(items: list[BulkMessage]) -> tuple[list[BulkOutcome], dict[str, int]]:
        async with PostgresJournal(dsn, job="resume") as journal, sandbox.client() as sms:
            results = await sms.send_bulk(items, journal=journal)
            return [r.outcome for r in results], await journal.counts()

    first, counts = run(send, messages[:25])
    assert set(first) == {BulkOutcome.SENT}
    assert counts == {"attempting": 0, "failed": 0, "not_started": 0, "sent": 25, "unknown": 0}
    again, counts = run(send, list(reversed(messages)))
    assert collections.Counter(again) == {BulkOutcome.ALREADY_SENT: 25, BulkOutcome.SENT: 15}
    assert counts["sent"] == 40
    assert sorted(m.text for m in sandbox.messages) == sorted(m.message for m in messages)


def test_a_message_claimed_by_another_worker_is_not_sent_here(run: Run, dsn: str) -> None:
    sandbox = Sandbox()
    messages = keyed("claims", 3)

    async def scenario() -> list[BulkOutcome]:
        async with (
            PostgresJournal(dsn, job="claims") as other,
            PostgresJournal(dsn, job="claims") as mine,
            sandbox.client() as sms,
        ):
            from devsms_async.bulk import JournalEntry

            # Another worker claimed message 1 (and is sending it, or died doing so).
            held = await other.claim(
                JournalEntry(index=1, key="customer-1", hash=await _hash(sms, messages[1]),
                             state="attempting")
            )  # fmt: skip
            assert held is None
            results = await sms.send_bulk(messages, journal=mine)
            assert results[1].previous is not None
            assert results[1].previous.worker == other.worker != mine.worker
            return [r.outcome for r in results]

    outcomes = run(scenario)
    assert outcomes == [BulkOutcome.SENT, BulkOutcome.CLAIMED_ELSEWHERE, BulkOutcome.SENT]
    assert sorted(m.text for m in sandbox.messages) == ["claims #0", "claims #2"]


async def _hash(sms: AsyncDevSMS, message: BulkMessage) -> str:
    from devsms_async._journal import content_hash

    body = sms._send_params(message.phone, message.message, None, None, message.type, False)
    return content_hash(body["phone"], body["message"], body.get("sender"))


def test_another_jobs_content_stops_a_shared_job_before_any_send(run: Run, dsn: str) -> None:
    sandbox = Sandbox()

    async def send(name: str) -> Any:
        async with PostgresJournal(dsn, job="shared") as journal, sandbox.client() as sms:
            return await sms.send_bulk(iter(keyed(name, 6)), journal=journal, concurrency=1)

    run(send, "first")
    with pytest.raises(JournalError) as caught:
        run(send, "second")
    assert caught.value.mismatched == (0,)
    assert len(sandbox.messages) == 6


def test_a_newer_schema_is_refused_and_not_written(
    run: Run, dsn: str, postgres_server: PostgresServer
) -> None:
    async def open_it() -> None:
        async with PostgresJournal(dsn, job="j"):
            pass

    run(open_it)  # creates the tables
    database = dsn.rsplit("/", 1)[1]
    postgres_server.psql("UPDATE devsms_schema SET version = 99", database)
    with pytest.raises(JournalError, match="schema version 99"):
        run(open_it)


def test_an_unreachable_database_is_a_journal_error(
    run: Run, postgres_server: PostgresServer
) -> None:
    async def open_it() -> None:
        url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/none"
        async with PostgresJournal(url, job="j", timeout=1):
            pass

    with pytest.raises(JournalError) as caught:
        run(open_it)
    assert "s3cret-pw" not in str(caught.value)
    assert "s3cret-pw" not in repr(PostgresJournal("postgresql://u:s3cret-pw@h/db", job="j"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_journal_opened_before_fork_is_refused_in_the_child(dsn: str) -> None:
    async def scenario() -> None:
        async with PostgresJournal(dsn, job="fork") as journal:
            await journal.counts()
            pid = os.fork()
            if pid == 0:  # the child: its parent's connections are not its own
                code = 3
                try:
                    await journal.counts()
                except UsageError:
                    code = 0
                except BaseException:
                    code = 4
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert (await journal.counts())["sent"] == 0  # the parent's still work

    anyio.run(scenario)


# -- many processes ------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[ServedProcess]:
    """``python -m devsms_async.testing`` on a free port, answering at once."""
    args = ("--token", TOKEN, "--balance", "100000000", "--advance-every", "0", "--no-inbox")
    with served_sandbox(*args) as sandbox:
        yield sandbox


def worker(mode: str, dsn: str, job: str, served: ServedProcess, count: int, *extra: str) -> Any:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, dsn, job, served.base_url, TOKEN, str(count), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> dict[str, Any]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def received(served: ServedProcess) -> collections.Counter[str]:
    async def history() -> collections.Counter[str]:
        async with AsyncDevSMS(TOKEN, base_url=served.base_url) as sms:
            return collections.Counter([r.message async for r in sms.iter_history()])

    return anyio.run(history)


def settle(dsn: str, job: str, served: ServedProcess, count: int) -> dict[str, Any]:
    """reconcile_journal until nothing is in doubt (an attempt must be 1 s old)."""
    for _ in range(10):
        report = finish(worker("reconcile", dsn, job, served, count))
        if report["reconciled"][2] == 0:
            return report
        time.sleep(1)
    raise AssertionError(f"still in doubt: {report}")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_workers_one_killed_and_restarted_send_each_message_once(
    dsn: str, served: ServedProcess, seed: int
) -> None:
    count = 3000
    job = f"chaos-{seed}"
    rng = random.Random(seed)
    workers = [worker("send", dsn, job, served, count) for _ in range(3)]
    everyone = list(workers)
    kills = 0
    try:
        for _ in range(2):  # twice: a random worker dies at a random moment, and restarts
            time.sleep(rng.uniform(0.5, 2.5))
            victim = rng.randrange(3)
            if workers[victim].poll() is None:
                workers[victim].kill()
                workers[victim].communicate()
                kills += 1
            workers[victim] = worker("send", dsn, job, served, count)
            everyone.append(workers[victim])
        reports = [finish(w) for w in workers]
    finally:
        for process in everyone:
            if process.poll() is None:
                process.kill()
            process.communicate()
    assert kills >= 1, "every worker ended before its kill: the test proved nothing"
    assert all("error" not in r for r in reports), reports

    settle(dsn, job, served, count)
    last = finish(worker("send", dsn, job, served, count))
    got = received(served)
    texts = [f"{job} #{i}" for i in range(count)]
    duplicates = {t: n for t, n in got.items() if t.startswith(f"{job} #") and n > 1}
    lost = [t for t in texts if got[t] == 0]
    assert duplicates == {}
    assert lost == []
    assert last["counts"] == {
        "attempting": 0,
        "failed": 0,
        "not_started": 0,
        "sent": count,
        "unknown": 0,
    }


def test_postgresql_stopped_mid_job_stops_it_typed_and_it_resumes(
    dsn: str, served: ServedProcess, postgres_server: PostgresServer
) -> None:
    count = 400
    job = "restart"
    running = worker("send", dsn, job, served, count, "50")  # 50 a second: 8 s
    deadline = time.monotonic() + 120
    while not received(served) and time.monotonic() < deadline:  # the job is under way
        time.sleep(0.2)
    time.sleep(0.5)
    postgres_server.stop("fast")
    try:
        report = finish(running)
    finally:
        postgres_server.start()
    assert report["error"]["type"] == "JournalError", report  # no psycopg error escaped
    partial = received(served)
    assert 0 < sum(partial.values()) < count
    assert max(partial.values()) == 1

    settle(dsn, job, served, count)
    last = finish(worker("send", dsn, job, served, count))
    got = received(served)
    assert [t for t in (f"{job} #{i}" for i in range(count)) if got[t] != 1] == []
    assert last["counts"]["sent"] == count


# -- the CLI ---------------------------------------------------------------------------------


def devsms(served: ServedProcess, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DEVSMS_TOKEN": TOKEN, "DEVSMS_BASE_URL": served.base_url}
    return subprocess.Popen(
        [sys.executable, "-m", "devsms_async.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_devsms_bulk_on_three_machines_shares_one_job(
    dsn: str, served: ServedProcess, tmp_path: Path
) -> None:
    count = 300
    csv = tmp_path / "promo.csv"
    csv.write_text(
        "phone,message\n" + "".join(f"99890{i:07d},promo #{i}\n" for i in range(count)),
        encoding="utf-8",
    )
    init = devsms(served, "journal", "init", dsn)
    out, err = init.communicate(timeout=60)
    assert init.returncode == 0, err
    assert "schema version 1" in out

    machines = [
        devsms(served, "bulk", str(csv), "--yes", "--journal", dsn, "--format", "json")
        for _ in range(3)
    ]
    summaries = []
    for machine in machines:
        out, err = machine.communicate(timeout=120)
        assert machine.returncode == 0, err
        summaries.append(json.loads(out))
    got = received(served)
    assert [i for i in range(count) if got[f"promo #{i}"] != 1] == []
    # Each machine sent its share; together exactly the job.
    assert sum(s["sent"] + s["already_sent"] for s in summaries) >= count
    assert sum(s["sent"] for s in summaries) == count
    assert all(s["not_started"] == 0 for s in summaries)

    job = "csv-" + hashlib.sha256(csv.read_bytes()).hexdigest()[:16]  # the default name
    assert job in summaries[0]["journal"]
    status = devsms(served, "journal", "status", dsn, "--job", job, "-f", "json")
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    assert json.loads(out)["counts"]["sent"] == count


def test_job_goes_with_a_shared_journal_only(served: ServedProcess, tmp_path: Path) -> None:
    csv = tmp_path / "promo.csv"
    csv.write_text("phone,message\n998900000001,x\n", encoding="utf-8")
    done = devsms(served, "bulk", str(csv), "--yes", "--job", "x")
    _, err = done.communicate(timeout=60)
    assert done.returncode != 0
    assert "--job" in err
    assert received(served) == collections.Counter()


def test_the_bulk_module_loads_no_database_driver() -> None:
    code = (
        "import sys, devsms_async, devsms_async.bulk; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_shared_job_keeps_skipped_rows_records_by_row(
    dsn: str, served: ServedProcess, tmp_path: Path
) -> None:
    """--skip-invalid on a shared job: the rows after an invalid one are journaled under
    their own row (RowJournal), so the next run finds them sent instead of "changed"."""
    csv = tmp_path / "promo.csv"
    csv.write_text(
        "phone,message\n998900000001,a\nnot-a-number,b\n998900000003,c\n998900000004,d\n",
        encoding="utf-8",
    )
    args = ("bulk", str(csv), "--yes", "--skip-invalid", "--journal", dsn, "-f", "json")
    first = devsms(served, *args)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert json.loads(out)["sent"] == 3
    again = devsms(served, *args)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    summary = json.loads(out)
    assert (summary["sent"], summary["already_sent"]) == (0, 3)
    got = received(served)
    assert sorted(got.values()) == [1, 1, 1]


def test_the_recovery_command_of_a_shared_job_carries_no_password(tmp_path: Path) -> None:
    from devsms_async.cli import _bulk

    class Opts:
        sandbox = True
        base_url = None

    url = "postgresql://app:s3cret@db.example:5432/sms?password=s3cret&sslmode=require"
    command = _bulk.recover_command(Opts(), tmp_path / "p.csv", url, ["--dedupe"], job="promo")
    assert "s3cret" not in command
    journal = "--journal 'postgresql://app@db.example:5432/sms?sslmode=require' --job promo"
    assert journal in command
    assert command.endswith("--dedupe --reconcile")
