"""Bulk across processes: ``devsms bulk --reconcile`` with duplicate rows, reconcile
against a history served oldest first, the CSV example killed with SIGKILL and re-run,
the balance check of ``--yes`` and the progress bar."""

from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsms_async import SendOutcomeUnknownError
from devsms_async._classify import fingerprint
from devsms_async._journal import content_hash
from devsms_async.bulk import FileJournal, JournalEntry
from devsms_async.testing import ManualClock, Sandbox, serve_sandbox
from support.cli import Served, devsms, env, journal_lines, write_csv

Run = Callable[..., Any]
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "bulk_csv.py"
PHONE = "998901234567"


def _journal_with(path: Path, *entries: JournalEntry) -> None:
    async def write() -> None:
        with FileJournal(path, name="job.csv") as journal:
            for entry in entries:
                await journal.write(entry)

    import anyio

    anyio.run(write)


# -- one history record proves at most one row ---------------------------


def test_reconcile_of_duplicate_rows_takes_each_record_once(served: Served, tmp_path: Path) -> None:
    row = (PHONE, "Aksiya: bugun 20% chegirma")
    data = write_csv(tmp_path / "job.csv", [row, row])
    # Row 1 went out (its SMS is in the history); row 2 was interrupted while attempting,
    # long enough ago that "not in the history" means "not sent".
    served.send(row)
    [first] = served.sandbox.messages
    digest = content_hash(*row, None)
    attempted = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=150)
    _journal_with(
        tmp_path / "job.csv.devsms-journal.jsonl",
        JournalEntry(index=0, hash=digest, state="attempting", at=attempted),
        JournalEntry(index=0, hash=digest, state="sent", sms_id=first.sms_id),
        JournalEntry(index=1, hash=digest, state="attempting", at=attempted),
    )

    result = devsms(*served.args("bulk", str(data), "--yes", "--reconcile", "-f", "json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["already_sent"], summary["sent"], summary["unknown"]) == (1, 1, 0)
    assert "0 found in the history" in result.stderr
    # Both rows are delivered, each exactly once.
    assert served.sent() == [row, row]
    states = {r["row"]: r for r in journal_lines(data)[1:]}
    assert states[2]["state"] == "sent"
    assert states[2]["sms_id"] != first.sms_id


def test_reconcile_of_two_doubtful_duplicates_finds_one_each(
    served: Served, tmp_path: Path
) -> None:
    row = (PHONE, "Ikki marta")
    data = write_csv(tmp_path / "job.csv", [row, row])
    served.send(row)  # one of the two went out, nobody knows which
    digest = content_hash(*row, None)
    attempted = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=150)
    _journal_with(
        tmp_path / "job.csv.devsms-journal.jsonl",
        JournalEntry(index=0, hash=digest, state="attempting", at=attempted),
        JournalEntry(index=1, hash=digest, state="attempting", at=attempted),
    )
    result = devsms(*served.args("bulk", str(data), "--yes", "--reconcile", "-f", "json"))
    assert result.returncode == 0, result.stderr
    assert "1 found in the history (sent), 1 not there" in result.stderr
    assert served.sent() == [row, row]


# -- the history's order is checked, not assumed -------------------------


def _reconcile_scenario(order: str, older: int, newer: int) -> Any:
    """``older`` SMS an hour before ours, ours, then ``newer`` SMS; reconcile ours."""

    async def scenario() -> Any:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock, history_order=order)  # type: ignore[arg-type]
        async with serve_sandbox(sandbox) as server, server.client() as sms:
            for i in range(older):
                await sms.send_sms(PHONE, f"eski {i}")
            clock.advance(3600)
            started = clock()
            await sms.send_sms(PHONE, "bizniki")
            for i in range(newer):
                await sms.send_sms(PHONE, f"yangi {i}")
            error = SendOutcomeUnknownError(
                "lost",
                phone=PHONE,
                fingerprint=fingerprint("bizniki", sandbox.token.encode()),
                started_at=started,
            )
            return await sms.reconcile(error, window=20)

    return scenario


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_reconcile_finds_the_send_in_either_order(run: Run, order: str) -> None:
    result = run(_reconcile_scenario(order, older=5, newer=3))
    assert result.found
    assert result.record is not None
    assert result.record.message == "bizniki"
    assert result.complete
    assert result.order == order


def test_reconcile_never_claims_complete_past_its_window_oldest_first(run: Run) -> None:
    # 30 old records first: ours is beyond the window of 20.
    result = run(_reconcile_scenario("oldest_first", older=30, newer=0))
    assert not result.found
    assert not result.complete
    assert result.order == "oldest_first"
    assert result.searched == 20


def test_the_cli_does_not_resend_a_row_found_in_an_oldest_first_history(tmp_path: Path) -> None:
    import anyio.from_thread

    now = _dt.datetime.now(_dt.timezone.utc)
    clock = ManualClock(now - _dt.timedelta(hours=1))
    sandbox = Sandbox(clock=clock, history_order="oldest_first")
    row = (PHONE, "Tartib muhim")
    data = write_csv(tmp_path / "job.csv", [row])
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as server,
    ):
        live = Served(sandbox, server.base_url, portal)
        live.send(*[(PHONE, f"eski {i}") for i in range(3)])  # old traffic, read first
        clock.set(now)
        live.send(row)  # the row went out, but the run died before its answer
        _journal_with(
            tmp_path / "job.csv.devsms-journal.jsonl",
            JournalEntry(
                index=0,
                hash=content_hash(*row, None),
                state="attempting",
                at=now - _dt.timedelta(seconds=150),
            ),
        )
        result = devsms(*live.args("bulk", str(data), "--yes", "--reconcile", "-f", "json"))
        assert result.returncode == 0, result.stderr
        assert "1 found in the history" in result.stderr
        assert live.sent().count(row) == 1


# -- the CSV example survives kill -9 ------------------------------------


def _example(served: Served, data: Path, journal: Path, *more: str) -> list[str]:
    return [sys.executable, str(EXAMPLE), str(data), "--journal", str(journal), *more]


def _example_env(served: Served) -> dict[str, str]:
    return env(DEVSMS_BASE_URL=served.base_url, DEVSMS_TOKEN=served.sandbox.token)


@pytest.mark.parametrize("kill_after", [1, 12, 30])
def test_the_csv_example_killed_and_rerun_sends_each_row_once(
    served: Served, tmp_path: Path, kill_after: int
) -> None:
    rows = [(f"99890{5000000 + i}", f"Salom #{i}") for i in range(40)]
    data = write_csv(tmp_path / "contacts.csv", rows, header=None)
    journal = tmp_path / "contacts.jsonl"
    proc = subprocess.Popen(
        _example(served, data, journal, "--per-second", "40"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_example_env(served),
    )
    deadline = time.monotonic() + 30
    while len(served.sent()) < kill_after:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the example did not get going: {proc.communicate()[1]}")
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL
    before = served.sent()
    assert len(before) < len(rows), "the run finished before it was killed"

    # Re-run (rows in doubt are settled from the history: min-age 0 here, since the
    # sandbox's history never lags) until it reports nothing left.
    for _ in range(3):
        again = subprocess.run(
            _example(served, data, journal, "--min-age", "0"),
            capture_output=True,
            text=True,
            env=_example_env(served),
            timeout=60,
        )
        if again.returncode == 0:
            break
    assert again.returncode == 0, again.stdout + again.stderr
    after = served.sent()
    assert len(after) == len(set(after)), "a row was sent twice"
    assert sorted(after) == sorted(rows), "a row was lost"


# -- --yes and a balance that cannot cover the job -----------------------


def test_yes_refuses_a_job_the_balance_cannot_cover(tmp_path: Path) -> None:
    import anyio.from_thread

    rows = [(f"99890{6000000 + i}", f"Xabar {i}") for i in range(10)]
    data = write_csv(tmp_path / "job.csv", rows)
    sandbox = Sandbox(balance=200, sms_price=50)  # 4 of the 10
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as server,
    ):
        live = Served(sandbox, server.base_url, portal)
        refused = devsms(*live.args("bulk", str(data), "--yes"))
        assert refused.returncode == 1
        assert "does not cover" in refused.stderr
        assert "--allow-partial" in refused.stderr
        assert live.sent() == []

        partial = devsms(*live.args("bulk", str(data), "--yes", "--allow-partial", "-f", "json"))
        summary = json.loads(partial.stdout)
        assert summary["sent"] == 4
        assert summary["failed"] >= 1
        assert len(live.sent()) == 4


# -- the progress bar says what it counts, and agrees with the summary --


def test_the_bar_names_each_count_shows_a_rate_and_matches_the_summary(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from devsms_async import SendResult, SmsStatus, ValidationError
    from devsms_async.bulk import BulkMessage, BulkOutcome
    from devsms_async.cli import _bulk, _bulk_command
    from devsms_async.models import bulk_result

    rows, errors = _bulk.load_rows(
        write_csv(tmp_path / "job.csv", [(PHONE, f"x{i}") for i in range(5)]),
        default_sender=None,
        normalize=False,
    )
    assert not errors
    plan = _bulk.make_plan(rows, {}, retry_unknown=False)
    run = _bulk.Run()
    sent = SendResult(
        sms_id=1,
        request_id="r",
        status=SmsStatus.SENT,
        status_raw="sent",
        parts_count=1,
        total_cost=50,
        balance=9950,
        type="eskiz",
    )
    message = BulkMessage(phone=PHONE, message="x")
    run.add(rows[0], bulk_result(0, message, result=sent))
    run.add(rows[1], bulk_result(1, message, error=ValidationError("phone", "bad")))
    run.add(rows[2], bulk_result(2, message))  # not started: not on the bar
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, color_system=None)
    progress = _bulk_command._progress(console)
    task = progress.add_task("sending", total=len(plan.to_send), sent=0, failed=0, unknown=0)
    progress.update(
        task,
        completed=run.finished,
        sent=run.count(BulkOutcome.SENT),
        failed=run.count(BulkOutcome.FAILED),
        unknown=run.count(BulkOutcome.UNKNOWN),
    )
    console.print(progress.make_tasks_table(progress.tasks))
    bar = out.getvalue()
    assert "2/5" in bar
    assert "1 sent 1 failed 0 unknown" in bar
    assert "/s elapsed " in bar
    assert " left " in bar
    assert " not" not in bar
    summary = _bulk.run_summary(plan, run, tmp_path / "j")
    assert (summary["sent"], summary["failed"], summary["not_started"]) == (1, 1, 3)
    assert summary["sent"] + summary["failed"] + summary["unknown"] == run.finished
