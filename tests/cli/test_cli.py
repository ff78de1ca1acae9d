"""The ``devsms`` command, run as users run it: the real entry point in a subprocess.

Commands that talk to a service point ``--base-url`` at a sandbox served on 127.0.0.1
by this test process (in a thread), so every message can be counted at the server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.from_thread
import pytest

from devsms_async import _journal as _lib_journal
from devsms_async.bulk import FileJournal, JournalEntry, JournalError
from support.cli import (
    CLI,
    PHONE,
    Served,
    devsms,
    env,
    journal_lines,
    numbered,
    one_error_line,
    write_csv,
)
from support.served import CLI_SERVE, served_sandbox

# -- the basics ----------------------------------------------------------------------------


def test_demo_is_a_readable_tour() -> None:
    result = devsms("--sandbox", "demo")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    for step in (
        "1. Balance",
        "2. Send an SMS",
        "3. A status change",
        "4. A one-time code",
        "5. A page of history",
        "6. A cost estimate",
    ):
        assert step in out
    assert "status delivered" in out
    assert "U+02BB" in out
    assert "UCS-2" in out
    assert "GSM-7" in out


def test_demo_refuses_to_run_without_the_sandbox() -> None:
    result = devsms("demo", DEVSMS_TOKEN="real-token")
    assert result.returncode == 2
    assert "--sandbox demo" in one_error_line(result)


def test_help_and_version_and_the_console_script() -> None:
    script = Path(sys.executable).with_name("devsms")
    if not script.exists():
        pytest.skip("the devsms console script is not installed next to this Python")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=env(), timeout=60
    )
    assert result.returncode == 0
    for command in ("send", "otp", "status", "balance", "history", "estimate", "bulk", "demo"):
        assert command in result.stdout
    version = devsms("--version")
    assert version.returncode == 0
    from devsms_async import __version__

    assert version.stdout.strip() == f"devsms {__version__}"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["balance"], 2, "no API token"),
        (["--sandbox", "send", "99890123", "hi"], 2, "12 digits"),
        (["--sandbox", "send", PHONE, "hi", "--bogus"], 2, "--bogus"),
        (["--sandbox", "status", "5"], 1, "HTTP 404"),
        (["--sandbox", "otp", PHONE, "-c", "1234", "-n", "casino"], 1, "WAS charged"),
    ],
)
def test_errors_are_one_line_and_an_exit_code(args: list[str], code: int, words: str) -> None:
    result = devsms(*args)
    assert result.returncode == code
    assert words in one_error_line(result)
    assert result.stdout == ""


def test_an_unreachable_service_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    # A port nobody listens on: bind one, note it, close it.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/api"
    result = devsms("--token", "t", "--base-url", base_url, "--retries", "0", "balance")
    assert result.returncode == 1
    assert "connection failed" in one_error_line(result)


def test_send_then_status_json(served: Served) -> None:
    sent = devsms(*served.args("send", "+998 90 123-45-67", "Salom!", "-f", "json"))
    assert sent.returncode == 0, sent.stderr
    data = json.loads(sent.stdout)
    assert data["status"] == "sent"
    assert data["parts_count"] == 1
    assert served.sent() == [(PHONE, "Salom!")]

    served.call(served.sandbox.advance)
    status = devsms(*served.args("status", str(data["sms_id"]), "-f", "json", "--mask"))
    assert status.returncode == 0, status.stderr
    record = json.loads(status.stdout)
    assert record["status"] == "delivered"
    assert record["phone_number"] == "99890***4567"
    assert record["message"] == "Salom!"


def test_send_wait_follows_the_status_to_the_end() -> None:
    # In-process sandbox: its statuses move on by themselves while the command waits.
    ok = devsms("--sandbox", "send", PHONE, "Salom", "--wait", "-f", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["final"]["status"] == "delivered"


def test_a_failed_delivery_under_wait_exits_1() -> None:
    # Sandbox numbers ending in 0000 are never delivered.
    failed = devsms("--sandbox", "send", "998901230000", "Salom", "--wait")
    assert failed.returncode == 1
    assert "final status: failed" in failed.stdout


def test_balance_reads_the_account(served: Served) -> None:
    served.sandbox.balance = 12_345
    result = devsms(*served.args("balance", "-f", "json"))
    assert result.returncode == 0
    assert json.loads(result.stdout)["balance"] == 12_345


def test_history_formats_and_all_pages(served: Served) -> None:
    served.send(*((f"99890{1000000 + i}", f"xabar {i}") for i in range(25)))

    page = devsms(*served.args("history", "--limit", "5", "-f", "json"))
    assert page.returncode == 0, page.stderr
    assert [r["message"] for r in json.loads(page.stdout)] == [
        f"xabar {i}" for i in range(24, 19, -1)
    ]

    every = devsms(*served.args("history", "--all", "-f", "csv"))
    assert every.returncode == 0, every.stderr
    rows = list(csv.DictReader(io.StringIO(every.stdout)))
    assert len(rows) == 25
    assert {r["message"] for r in rows} == {f"xabar {i}" for i in range(25)}
    assert rows[0]["phone_number"] == "998901000024"
    assert list(rows[0]) == [
        "id",
        "phone_number",
        "message",
        "status",
        "status_raw",
        "parts_count",
        "total_cost",
        "from_number",
        "eskiz_request_id",
        "eskiz_message_id",
        "created_at",
        "sent_at",
        "delivered_at",
        "failed_at",
        "updated_at",
    ]

    table = devsms(*served.args("history", "--limit", "3", "--mask"))
    assert table.returncode == 0
    assert "99890***0024" in table.stdout
    assert "998901000024" not in table.stdout


def test_estimate_names_the_culprits_and_the_fix() -> None:
    text = "Hurmatli mijoz, buyurtmangiz Oʻzbekiston boʻylab 2 kun ichida yetkaziladi. Rahmat!"
    result = devsms("estimate", text, "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["encoding"] == "UCS-2"
    assert data["parts"] == 2
    assert [c["codepoint"] for c in data["ucs2_characters"]] == ["U+02BB"]
    assert data["total"] == 100
    assert data["normalized"]["encoding"] == "GSM-7"
    assert data["normalized"]["total"] == 50

    abroad = devsms("estimate", "-", "--phone", "12025551234", input="Hello\n")
    assert abroad.returncode == 0
    assert "United States" in abroad.stdout
    assert "GSM-7" in abroad.stdout


def test_retries_stay_out_of_the_output(served: Served) -> None:
    # A 503, then the answer: the retry is logged at INFO, shown only with -v.
    served.sandbox.fail_next(503, path="get_balance.php")
    quiet = devsms(*served.args("balance", "-f", "json"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["balance"] == served.sandbox.balance

    served.sandbox.fail_next(503, path="get_balance.php", times=1)
    loud = devsms(*served.args("-v", "balance", "-f", "json"))
    assert loud.returncode == 0
    assert "retry" in loud.stderr.lower()
    assert served.sandbox.token not in loud.stderr


def test_sandbox_serve_runs_until_ctrl_c() -> None:
    with served_sandbox("--token", "T0K", command=CLI_SERVE, env=env()) as sandbox:
        base_url = sandbox.base_url
        result = devsms("--base-url", base_url, "--token", "T0K", "balance", "-f", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["balance"] == 100_000
        wrong = devsms("--base-url", base_url, "--token", "nope", "balance")
        assert wrong.returncode == 1
        assert "HTTP 401" in one_error_line(wrong)
    assert sandbox.returncode == 0
    assert "Traceback" not in sandbox.err


# -- bulk ------------------------------------------------------------------------------------


def test_bulk_sends_every_row_once_and_a_rerun_sends_nothing(
    served: Served, tmp_path: Path
) -> None:
    rows = numbered(6)
    data = write_csv(tmp_path / "job.csv", rows)
    first = devsms(*served.args("bulk", str(data), "--yes", "-f", "json"))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["sent"], summary["failed"], summary["unknown"]) == (6, 0, 0)
    assert summary["cost"] == 6 * 50
    assert sorted(served.sent()) == sorted(rows)

    journal = journal_lines(data)
    assert journal[0]["journal"] == "devsms-bulk"
    states = [(r["row"], r["state"]) for r in journal[1:]]
    for n in range(1, 7):
        assert states.index((n, "attempting")) < states.index((n, "sent"))
    assert PHONE[:5] not in (tmp_path / "job.csv.devsms-journal.jsonl").read_text()

    again = devsms(*served.args("bulk", str(data), "--yes", "-f", "json"))
    assert again.returncode == 0
    assert json.loads(again.stdout)["already_sent"] == 6
    assert len(served.sent()) == 6


def test_bulk_shows_the_estimate_and_asks_first(served: Served, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "job.csv", [(PHONE, "Oʻzbekiston " * 10)], header=None)
    dry = devsms(*served.args("bulk", str(data), "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert "estimated cost" in dry.stdout
    assert "100 so'm" in dry.stdout  # 120 UCS-2 units: 2 parts of 67, at 50 so'm
    unasked = devsms(*served.args("bulk", str(data)))  # stdin is not a terminal
    assert unasked.returncode == 2
    assert "--yes" in one_error_line(unasked)
    assert served.sent() == []
    assert journal_lines(data)[1:] == []  # the journal has its header, and nothing else


def test_bulk_refuses_a_file_with_bad_rows_before_sending(served: Served, tmp_path: Path) -> None:
    data = write_csv(
        tmp_path / "bad.csv",
        [(PHONE, "ok"), ("12345", "short number"), (PHONE, "  "), (PHONE, "x", "y", "z")],
        header="phone,message,sender",
    )
    result = devsms(*served.args("bulk", str(data), "--yes"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "row 2 (line 3)" in result.stderr
    assert "row 3 (line 4)" in result.stderr
    assert "row 4 (line 5)" in result.stderr
    assert "3 of 4 rows" in result.stderr.splitlines()[-1]
    assert served.sent() == []


def test_bulk_detects_an_edited_csv(served: Served, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "job.csv", numbered(3))
    assert devsms(*served.args("bulk", str(data), "--yes")).returncode == 0
    rows = numbered(3)
    rows[1] = (rows[1][0], "a different text")
    write_csv(data, rows)
    result = devsms(*served.args("bulk", str(data), "--yes"))
    assert result.returncode == 2
    assert "row(s) 2" in one_error_line(result)
    assert len(served.sent()) == 3


def test_bulk_retries_refused_rows_but_never_unknown_ones(served: Served, tmp_path: Path) -> None:
    rows = numbered(4)
    data = write_csv(tmp_path / "job.csv", rows)
    sandbox = served.sandbox
    # Row order is not guaranteed under concurrency: one send at a time here.
    sandbox.fail_next(400, error="Balans yetarli emas", path="send_sms.php")
    sandbox.fail_next(502, path="send_sms.php", after_processing=True)  # stored, then 502
    first = devsms(*served.args("bulk", str(data), "--yes", "-c", "1", "-f", "json"))
    assert first.returncode == 3, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["sent"], summary["failed"], summary["unknown"]) == (2, 1, 1)
    assert [r["row"] for r in summary["failed_rows"]] == [1]
    assert [r["row"] for r in summary["unknown_rows"]] == [2]
    assert summary["unknown_rows"][0]["phone"] == "99890***0001"
    assert sorted(served.sent()) == sorted([rows[1], rows[2], rows[3]])

    second = devsms(*served.args("bulk", str(data), "--yes"))
    assert second.returncode == 3  # row 2 is still unknown: reported, not re-sent
    assert sorted(served.sent()) == sorted(rows)  # row 1 sent now; row 2 still once
    assert "unknown row 2" in second.stdout
    assert "--retry-unknown" in second.stdout


def test_bulk_reconcile_finds_unknown_rows_in_the_history(served: Served, tmp_path: Path) -> None:
    rows = numbered(2)
    data = write_csv(tmp_path / "job.csv", rows)
    served.sandbox.fail_next(500, path="send_sms.php", after_processing=True)
    first = devsms(*served.args("bulk", str(data), "--yes", "-c", "1"))
    assert first.returncode == 3
    assert len(served.sent()) == 2

    reconciled = devsms(*served.args("bulk", str(data), "--yes", "--reconcile", "-f", "json"))
    assert reconciled.returncode == 0, reconciled.stderr
    summary = json.loads(reconciled.stdout)
    assert (summary["already_sent"], summary["unknown"], summary["sent"]) == (2, 0, 0)
    assert "1 found in the history" in reconciled.stderr
    assert len(served.sent()) == 2
    last = journal_lines(data)[-1]
    assert (last["row"], last["state"], last["reconciled"]) == (1, "sent", True)


def test_bulk_never_resends_a_row_left_attempting_unless_told(
    served: Served, tmp_path: Path
) -> None:
    # A journal as a crash leaves it: row 1 attempting (sent or not, nobody knows),
    # plus the start of a record cut short mid-write.
    rows = numbered(3)
    data = write_csv(tmp_path / "job.csv", rows)
    from devsms_async.cli._journal import content_hash

    journal = tmp_path / "job.csv.devsms-journal.jsonl"
    header = {"journal": "devsms-bulk", "version": 1, "csv": "job.csv", "created_at": "x"}
    attempting = {
        "row": 1,
        "hash": content_hash(*rows[0], None),
        "state": "attempting",
        "at": "2026-03-09T05:00:00+00:00",
    }
    journal.write_text(json.dumps(header) + "\n" + json.dumps(attempting) + '\n{"row": 2, "ha')

    result = devsms(*served.args("bulk", str(data), "--yes", "-f", "json"))
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["unknown"]) == (2, 1)
    assert [r["row"] for r in summary["unknown_rows"]] == [1]
    assert sorted(served.sent()) == sorted(rows[1:])

    forced = devsms(*served.args("bulk", str(data), "--yes", "--retry-unknown"))
    assert forced.returncode == 0, forced.stderr
    assert sorted(served.sent()) == sorted(rows)


def _run_and_kill(served: Served, data: Path, sig: int) -> subprocess.Popen[str]:
    """Start a slow bulk run; send ``sig`` once some rows are done."""
    proc = subprocess.Popen(
        [*CLI, *served.args("bulk", str(data), "--yes", "-c", "3", "--per-second", "40")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    journal = data.with_name(data.name + ".devsms-journal.jsonl")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"sent"') >= 10:
            break
        time.sleep(0.01)
    else:
        proc.kill()
        pytest.fail("the bulk run did not get going")
    proc.send_signal(sig)
    proc.communicate(timeout=20)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_bulk_resumes_after_being_killed_without_sending_twice(
    served: Served, tmp_path: Path, sig: int
) -> None:
    rows = numbered(60)
    data = write_csv(tmp_path / "job.csv", rows)
    killed = _run_and_kill(served, data, sig)
    before = served.sent()
    assert len(before) < len(rows), "the run finished before it was killed"
    if sig == signal.SIGINT:
        assert killed.returncode == 130
        states: dict[int, str] = {}
        for record in journal_lines(data)[1:]:
            states[record["row"]] = record["state"]
        # Ctrl-C lets the sends in flight finish: nothing is left in doubt.
        assert "attempting" not in states.values()
    else:
        assert killed.returncode == -signal.SIGKILL

    resumed = devsms(*served.args("bulk", str(data), "--yes", "-f", "json"))
    summary = json.loads(resumed.stdout)
    after = served.sent()
    assert len(after) == len(set(after)), "a message was sent twice"
    assert set(before) <= set(after)
    unknown = {r["row"] for r in summary["unknown_rows"]}
    # Every row went out exactly once, except rows the kill left in doubt, which are
    # reported and never re-sent (they went out before the kill, or not at all).
    for number, row in enumerate(rows, start=1):
        if number not in unknown:
            assert after.count(row) == 1, number
    assert summary["already_sent"] + summary["sent"] + len(unknown) == len(rows)
    assert resumed.returncode == (3 if unknown else 0)
    if sig == signal.SIGINT:
        assert not unknown
        assert sorted(after) == sorted(rows)


# -- the journal itself (in-process) ------------------------------------------------------------


JOURNAL_HEADER = '{"journal": "devsms-bulk", "version": 1}\n'
AT = "2026-03-09T05:30:00.000+00:00"


async def test_journal_appends_are_durable_on_return_and_grouped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(_lib_journal.os, "fsync", counting_fsync)
    path = tmp_path / "j.jsonl"
    journal = FileJournal(path, name="x.csv")
    header_syncs = len(synced)

    async def append(n: int) -> None:
        await journal.write(JournalEntry(index=n - 1, hash="h", state="attempting"))
        # On return the record is in a file size that was fsync'd.
        assert f'"row":{n},'.encode() in path.read_bytes()[: synced[-1]]

    async with anyio.create_task_group() as tg:
        for n in range(1, 51):
            tg.start_soon(append, n)
    journal.close()
    data_syncs = len(synced) - header_syncs
    assert 1 <= data_syncs < 50  # concurrent records share a write + fsync
    entries, _ = _lib_journal.read_entries(path)
    assert sorted(entries) == list(range(50))


def test_journal_drops_a_record_cut_short_and_appends_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    header = json.dumps({"journal": "devsms-bulk", "version": 1})
    done = json.dumps({"row": 1, "hash": "h1", "state": "sent", "at": AT, "sms_id": 7})
    path.write_text(f'{header}\n{done}\n{{"row": 2, "hash": "h2", "st')
    journal = FileJournal(path, name="x.csv")
    assert set(journal.entries()) == {0}
    assert journal.entries()[0].sms_id == 7

    async def add() -> None:
        await journal.write(JournalEntry(index=1, hash="h2", state="failed"))

    anyio.run(add)
    journal.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[-1])["state"] == "failed"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"journal": "something else"}\n', "not a devsms bulk journal"),
        ('{"journal": "devsms-bulk", "version": 99}\n', "version 99"),
        (JOURNAL_HEADER + 'not json\n{"row": 1}\n', "line 2"),
        (
            JOURNAL_HEADER + json.dumps({"row": 1, "hash": "h", "state": "gone", "at": AT}) + "\n",
            "line 2",
        ),
        (
            JOURNAL_HEADER + json.dumps({"row": 0, "hash": "h", "state": "sent", "at": AT}) + "\n",
            "line 2",
        ),
        (JOURNAL_HEADER + '{"row": 1, "hash": "h", "state": "sent", "at": "soon"}\n', "line 2"),
    ],
)
def test_a_damaged_journal_is_refused(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(content)
    with pytest.raises(JournalError, match=words):
        FileJournal(path, name="x.csv")


def test_one_run_at_a_time_per_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = FileJournal(path, name="x.csv")
    with pytest.raises(JournalError, match="in use"):
        FileJournal(path, name="x.csv")
    first.close()
    FileJournal(path, name="x.csv").close()


async def test_a_failed_write_fails_every_waiter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = FileJournal(tmp_path / "j.jsonl", name="x.csv")

    def disk_full(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "_write_sync", disk_full)
    errors: list[BaseException] = []

    async def append(n: int) -> None:
        try:
            await journal.write(JournalEntry(index=n - 1, hash="h", state="attempting"))
        except JournalError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(append, n)
    journal.close()
    assert len(errors) == 5
    assert "No space left" in str(errors[0])
