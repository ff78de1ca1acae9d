"""The ``devsms`` command in-process: error paths, rendering and bulk's corner cases.

``tests/cli/test_cli.py`` runs the real entry point in subprocesses (what users run); here
``run_cli(argv)`` is called in this process, which is ~50x cheaper, lets a test hand
the command a sandbox it prepared (faults, balance), and makes ``--wait`` fast.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest

from devsms_async import AsyncDevSMS
from devsms_async.cli import _runtime
from devsms_async.cli._journal import JournalError, content_hash
from devsms_async.cli._render import RECORD_FIELDS, jsonable
from devsms_async.errors import UsageError
from devsms_async.models import SmsStatus
from devsms_async.testing import Sandbox
from support.cli import TTY, Cli, Served

PHONE = "998901234567"
FAILING = "998901230000"  # the sandbox fails delivery to numbers ending in 0000
QUEUED = "998901231111"  # ... and keeps numbers ending in 1111 pending
TRAP = "Oʻzbekiston " * 7  # U+02BB forces UCS-2: 84 units, 2 parts; 1 GSM-7 part with '


def send(box: Sandbox, *messages: tuple[str, str]) -> list[int]:
    async def go() -> list[int]:
        async with box.client() as sms:
            return [(await sms.send_sms(phone, text)).sms_id for phone, text in messages]

    return anyio.run(go)


# -- global options and the entry point ----------------------------------------------------


def test_no_command_shows_the_help_and_exits_2(cli: Cli) -> None:
    result = cli()
    assert result.code == 2
    assert "Usage: devsms" in result.out + result.err
    assert "send" in result.out + result.err
    assert "error:" not in result.err


@pytest.mark.parametrize("missing", ["typer", "rich"])
def test_without_the_cli_extra_devsms_says_what_to_install(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devsms_async.cli import main

    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    assert main(["balance"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err == "error: the devsms command needs the 'cli' extra: pip install 'devsms-async[cli]'\n"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sandbox", "--base-url", "http://127.0.0.1:1/api", "balance"], "exclude each other"),
        (["--sandbox", "--timeout", "nan", "balance"], "Invalid value for '--timeout'"),
        (["--sandbox", "--timeout", "0", "balance"], "Invalid value for '--timeout'"),
    ],
)
def test_bad_global_options_are_usage_errors(cli: Cli, args: list[str], words: str) -> None:
    result = cli(*args)
    assert result.code == 2
    assert words in result.error


def test_a_nan_timeout_never_reaches_the_client() -> None:
    # What older typer (click's FloatRange) lets through `min=0.001`.
    with pytest.raises(_runtime.CLIError, match="--timeout must be > 0 seconds, got nan"):
        _runtime.check_globals(_runtime.Globals(timeout=float("nan")))


def test_timeout_bounds_a_request_to_a_silent_service(cli: Cli) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        result = cli(
            "--base-url", url, "--token", "t", "--timeout", "0.2", "--retries", "0", "balance"
        )
    assert result.code == 1
    assert "timed out" in result.error.lower()
    assert "is the service reachable?" in result.error


def test_ctrl_c_while_typing_the_message_exits_130(cli: Cli) -> None:
    class Interrupted(TTY):
        def read(self, size: int | None = -1) -> str:
            raise KeyboardInterrupt

    result = cli("estimate", "-", stdin=Interrupted())
    assert result.code == 130
    assert result.out == ""
    assert "Traceback" not in result.err


def test_a_bug_is_one_line_and_a_traceback_only_with_v(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("devsms_async.pricing.estimate_cost", broken)
    quiet = cli("estimate", "Salom")
    assert quiet.code == 1
    assert quiet.error == "error: unexpected RuntimeError: boom (run with -v for a traceback)"
    loud = cli("-v", "estimate", "Salom")
    assert loud.code == 1
    assert "Traceback" in loud.err
    assert "RuntimeError: boom" in loud.err


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (JournalError("cannot write j.jsonl: disk full"), 3, "re-run with --reconcile"),
        (UsageError("the client is closed"), 2, "the client is closed"),
        (FileNotFoundError(2, "No such file or directory", "/x/j.jsonl"), 2, "directory: /x/j"),
        (OSError("no strerror"), 2, "no strerror"),
    ],
)
def test_errors_map_to_the_documented_exit_codes(exc: Exception, code: int, words: str) -> None:
    message, got = _runtime.describe_error(exc)
    assert got == code
    assert words in message
    assert "\n" not in message


def test_ctrl_c_inside_a_command_is_exit_130() -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(_runtime.CLIError) as caught:
        _runtime.run(_runtime.Globals(), interrupted)
    assert caught.value.code == 130


# -- send, otp, status ---------------------------------------------------------------------


def test_send_points_out_the_apostrophe_trap(cli: Cli, sandbox: Sandbox) -> None:
    result = cli("--sandbox", "send", PHONE, TRAP)
    assert result.code == 0, result.err
    assert "Sent" in result.out
    assert "100 so'm" in result.out  # 2 UCS-2 parts at 50
    assert "made this 2 UCS-2 parts; --normalize would send it as 1 (GSM-7)" in result.err
    assert [m.text for m in sandbox.messages] == [TRAP]  # sent as given


def test_send_normalize_sends_the_fixed_text(cli: Cli, sandbox: Sandbox) -> None:
    result = cli("--sandbox", "send", PHONE, TRAP, "--normalize", "-f", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["parts_count"] == 1
    assert "final" not in data
    assert result.err == ""
    assert [m.text for m in sandbox.messages] == [TRAP.replace("ʻ", "'")]


def test_otp_waits_for_the_final_status(cli: Cli, sandbox: Sandbox) -> None:
    args = ["--sandbox", "otp", "--code", "4821", "--service-name", "Acme", "--wait"]
    ok = cli(*args, PHONE)
    assert ok.code == 0, ok.err
    assert "OTP sent" in ok.out
    assert "final status: delivered" in ok.out

    failed = cli(*args, FAILING, "-f", "json")
    assert failed.code == 1
    data = json.loads(failed.out)
    assert data["final"]["status"] == "failed"
    assert data["final"]["phone_number"] == FAILING  # JSON is for programs: unmasked
    assert [m.phone for m in sandbox.messages] == [PHONE, FAILING]


def test_otp_without_wait_reports_the_send(cli: Cli, sandbox: Sandbox) -> None:
    args = ["--sandbox", "otp", PHONE, "-c", "4821", "-n", "Acme", "-t", "reset"]
    data = json.loads(cli(*args, "-f", "json").out)
    assert (data["status"], data["parts_count"]) == ("sent", 1)
    assert "final" not in data
    table = cli(*args)
    assert table.code == 0, table.err
    assert "OTP sent" in table.out
    assert "final status" not in table.out
    assert [m.phone for m in sandbox.messages] == [PHONE, PHONE]


def test_an_international_send_names_the_country(cli: Cli, sandbox: Sandbox) -> None:
    result = cli("--sandbox", "send", "79161234567", "Hello", "--yes")
    assert result.code == 0, result.err
    assert "Russia (ru)" in result.out
    assert "final status" not in result.out


@pytest.mark.parametrize("args", [[], ["5", "--request-id", "r"]], ids=["neither", "both"])
def test_status_needs_one_of_id_and_request_id(cli: Cli, args: list[str]) -> None:
    result = cli("--sandbox", "status", *args)
    assert result.code == 2
    assert "give an SMS_ID or --request-id" in result.error


def test_status_table_masks_on_request_and_waits(cli: Cli, sandbox: Sandbox) -> None:
    [sms_id] = send(sandbox, (PHONE, "Salom"))
    now = cli("--sandbox", "status", str(sms_id), "--mask")
    assert now.code == 0, now.err
    assert "99890***4567" in now.out
    assert PHONE not in now.out
    assert "sent" in now.out
    assert "delivered_at" not in now.out  # only the times that happened are shown

    data = json.loads(cli("--sandbox", "status", str(sms_id), "-f", "json").out)
    assert (data["id"], data["status"], data["phone_number"]) == (sms_id, "sent", PHONE)
    assert list(data) == list(RECORD_FIELDS)

    waited = cli("--sandbox", "status", str(sms_id), "--wait")
    assert waited.code == 0, waited.err
    assert PHONE in waited.out
    assert "delivered" in waited.out
    assert "delivered_at" in waited.out


def test_status_by_request_id_of_an_undelivered_sms_exits_1(cli: Cli, sandbox: Sandbox) -> None:
    [sms_id] = send(sandbox, (FAILING, "Salom"))
    request_id = sandbox.get_message(sms_id).request_id
    result = cli("--sandbox", "status", "--request-id", request_id, "--wait", "-f", "json")
    assert result.code == 1
    record = json.loads(result.out)
    assert (record["id"], record["status"]) == (sms_id, "failed")


def test_an_error_while_waiting_is_one_line(cli: Cli, sandbox: Sandbox) -> None:
    result = cli("--sandbox", "status", "999", "--wait")
    assert result.code == 1
    assert "HTTP 404" in result.error


def test_wait_against_a_real_service_times_out_with_exit_4(cli: Cli, served: Served) -> None:
    async def go() -> int:
        async with AsyncDevSMS(served.sandbox.token, base_url=served.base_url) as sms:
            return (await sms.send_sms(QUEUED, "Salom")).sms_id

    sms_id = anyio.run(go)
    result = cli(*served.args("status", str(sms_id), "--wait", "--wait-timeout", "0.05"))
    assert result.code == 4
    assert "pending" in result.error
    assert served.sandbox.get_message(sms_id).status.value == "pending"  # nobody moved it


def test_a_send_that_may_have_happened_exits_3(cli: Cli, sandbox: Sandbox) -> None:
    sandbox.disconnect_next(path="send_sms.php", after_processing=True)
    result = cli("--sandbox", "send", PHONE, "Salom")
    assert result.code == 3
    assert "look for it with `devsms history` before sending again" in result.error
    assert PHONE not in result.err
    assert len(sandbox.messages) == 1  # it did go out: the CLI must not send it again


def test_a_refused_permission_names_the_token(cli: Cli, sandbox: Sandbox) -> None:
    sandbox.fail_next(403, error="Ruxsat yo'q")
    result = cli("--sandbox", "balance")
    assert result.code == 1
    assert "HTTP 403" in result.error
    assert "(this token may not do that)" in result.error


# -- balance, history, estimate --------------------------------------------------------------


def test_balance_table(cli: Cli, sandbox: Sandbox) -> None:
    send(sandbox, (PHONE, "Salom"), (PHONE, "Salom"))
    result = cli("--sandbox", "balance")
    assert result.code == 0, result.err
    assert "99 900 so'm" in result.out
    assert "50 so'm/part" in result.out
    for label in ("Usage", "today", "this month", "total"):
        assert label in result.out
    data = json.loads(cli("--sandbox", "balance", "-f", "json").out)
    assert (data["balance"], data["sms_price"]) == (99_900, 50)
    assert (data["statistics"]["total_sms"], data["statistics"]["total_spent"]) == (2, 100)


def test_history_tables(cli: Cli, sandbox: Sandbox) -> None:
    empty = cli("--sandbox", "history")
    assert (empty.code, empty.out.strip()) == (0, "No SMS in the history.")
    assert cli("--sandbox", "history", "-f", "json").out == "[]\n"

    send(sandbox, (PHONE, "birinchi"), (FAILING, "ikkinchi"), (PHONE, "uchinchi"))
    page = cli("--sandbox", "history", "--mask")
    assert page.code == 0, page.err
    assert "History (3 SMS)" in page.out
    assert "99890***4567" in page.out
    assert PHONE not in page.out
    assert page.out.index("uchinchi") < page.out.index("birinchi")  # newest first

    offset = cli("--sandbox", "history", "--offset", "1", "--limit", "1")
    assert "History (1 SMS, from offset 1)" in offset.out
    assert "ikkinchi" in offset.out
    assert "uchinchi" not in offset.out

    walked = cli("--sandbox", "history", "--all", "--offset", "1")
    assert "History (2 SMS, from offset 1)" in walked.out

    none = cli("--sandbox", "history", "--status", "delivered")
    assert none.out.strip() == "No SMS in the history with that status."

    records = json.loads(cli("--sandbox", "history", "-f", "json", "--mask").out)
    assert [r["message"] for r in records] == ["uchinchi", "ikkinchi", "birinchi"]
    assert records[0]["phone_number"] == "99890***4567"
    rows = list(csv.reader(io.StringIO(cli("--sandbox", "history", "-f", "csv", "-n", "2").out)))
    assert rows[0] == list(RECORD_FIELDS)
    assert [row[2] for row in rows[1:]] == ["uchinchi", "ikkinchi"]


def test_history_all_excludes_limit(cli: Cli) -> None:
    result = cli("--sandbox", "history", "--all", "--limit", "5")
    assert result.code == 2
    assert "leave out --limit" in result.error


def test_estimate_shows_the_trap_and_the_fix(cli: Cli) -> None:
    result = cli("estimate", TRAP)
    assert result.code == 0, result.err
    assert "U+02BB MODIFIER LETTER TURNED COMMA" in result.out
    assert "Uzbekistan (pass --phone for another country)" in result.out
    assert "The Uzbek apostrophe trap" in result.out
    assert "GSM-7, 1 part(s), 50 so'm instead of 100 so'm" in result.out


def test_estimate_lists_eight_culprits_and_counts_the_rest(cli: Cli) -> None:
    cyrillic = "абвгдежзий"  # ten letters that force UCS-2
    result = cli("estimate", cyrillic, "--phone", "79161234567")
    assert result.code == 0, result.err
    assert "U+0437 CYRILLIC SMALL LETTER ZE" in result.out  # the 8th
    assert "U+0438" not in result.out
    assert "and 2 more" in result.out
    assert "Russia" in result.out
    assert "Uzbekistan" not in result.out


def test_estimate_mentions_no_fix_that_does_not_help(cli: Cli) -> None:
    # The apostrophe is not what forces UCS-2 here (Cyrillic is): --normalize saves nothing.
    result = cli("estimate", "Oʻzbekiston Ташкент", "-f", "json")
    data = json.loads(result.out)
    assert data["encoding"] == "UCS-2"
    assert data["normalized"] is None
    table = cli("estimate", "Oʻzbekiston Ташкент")
    assert "apostrophe trap" not in table.out


def test_estimate_reads_the_text_from_a_terminal(cli: Cli) -> None:
    result = cli("estimate", "-", "-f", "json", stdin=TTY("Salom dunyo\n"))
    assert result.code == 0
    assert "reading the message from stdin; end with Ctrl-D" in result.err
    assert json.loads(result.out)["units"] == len("Salom dunyo")  # the newline is dropped


def test_json_output_of_a_history_page_is_plain_data() -> None:
    box = Sandbox()
    send(box, (PHONE, "Salom"))

    async def page() -> Any:
        async with box.client() as sms:
            return await sms.get_history()

    data = jsonable({"page": anyio.run(page), "tags": ("a", SmsStatus.SENT)})
    assert json.loads(json.dumps(data)) == data  # nothing left that JSON cannot hold
    [record] = data["page"]["items"]
    assert (record["phone_number"], record["status"]) == (PHONE, "sent")
    assert _dt.datetime.fromisoformat(record["created_at"]).utcoffset() == _dt.timedelta(hours=5)
    assert data["tags"] == ["a", "sent"]


# -- sandbox serve -------------------------------------------------------------------------


def test_serve_warns_off_loopback_and_reports_a_bind_failure(cli: Cli) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the bind fails, nothing is exposed.
    result = cli("sandbox", "serve", "--host", "192.0.2.1", "--port", "0")
    assert result.code == 1
    assert "warning: serving on 192.0.2.1" in result.err
    assert "cannot serve on 192.0.2.1:0" in result.error


# -- bulk ------------------------------------------------------------------------------------


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows_csv(path: Path, n: int, *, first: int = 998902000000) -> Path:
    """``n`` rows ``phone,Salom i``, the phones counting up from ``first``."""
    lines = ["phone,message"] + [f"{first + i},Salom {i}" for i in range(n)]
    return write_csv(path, "\n".join(lines) + "\n")


def journal_for(csv_path: Path, rows: list[tuple[int, str, str, str]]) -> Path:
    """A journal as a crash leaves it: ``(row, phone, message, at)`` left attempting."""
    path = csv_path.with_name(csv_path.name + ".devsms-journal.jsonl")
    header = {"journal": "devsms-bulk", "version": 1, "csv": csv_path.name, "created_at": "x"}
    lines = [json.dumps(header)]
    for number, phone, message, at in rows:
        digest = content_hash(phone, message, None)
        lines.append(json.dumps({"row": number, "hash": digest, "state": "attempting", "at": at}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "has no rows to send"),
        (b"\n\n", "has no rows to send"),
        (b"phone,message\n998901234567,\xff\xfe\n", "is not UTF-8 text"),
        (b"phone,body\n998901234567,Salom\n", "unknown column(s) body"),
        (b"phone,sender\n998901234567,4546\n", "the header has no 'message' column"),
        (b"phone,message,phone\n998901234567,Salom,1\n", "a column is named twice"),
        (b"998901234567," + b"x" * 200_000 + b"\n", "not a readable CSV (field larger"),
    ],
    ids=["empty", "blank", "latin-1", "unknown-column", "no-message", "twice", "huge-field"],
)
def test_bulk_refuses_an_unusable_file(
    cli: Cli, sandbox: Sandbox, tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "job.csv"
    path.write_bytes(content)
    result = cli("--sandbox", "bulk", str(path), "--yes")
    assert result.code == 2
    assert words in result.error
    assert sandbox.messages == []


def test_bulk_reads_headers_in_any_case_a_bom_and_blank_lines(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "job.csv"
    path.write_text("\n Message , PHONE \n\nOʻzbekiston,998901234567\n", encoding="utf-8-sig")
    result = cli("--sandbox", "bulk", str(path), "--yes", "--normalize", "-f", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["sent"] == 1
    assert [(m.phone, m.text) for m in sandbox.messages] == [(PHONE, "O'zbekiston")]


def test_bulk_lists_ten_bad_rows_and_counts_the_rest(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = rows_csv(tmp_path / "job.csv", 12, first=12345)  # a phone has 7 digits at least
    result = cli("--sandbox", "bulk", str(path), "--yes")
    assert result.code == 2
    assert result.err.count("  row ") == 10
    assert "… and 2 more" in result.err
    assert "12 of 12 rows" in result.error
    assert sandbox.messages == []


def test_bulk_reconcile_and_retry_unknown_exclude_each_other(cli: Cli, tmp_path: Path) -> None:
    path = rows_csv(tmp_path / "job.csv", 1)
    result = cli("--sandbox", "bulk", str(path), "--reconcile", "--retry-unknown")
    assert result.code == 2
    assert "exclude each other" in result.error


def test_bulk_dry_run_without_a_token_prices_at_the_default(cli: Cli, tmp_path: Path) -> None:
    path = rows_csv(tmp_path / "job.csv", 3)
    result = cli("bulk", str(path), "--dry-run")
    assert result.code == 0, result.err
    assert "150 so'm" in result.out
    assert "balance" not in result.out
    assert "Dry run: nothing was sent." in result.out
    assert "no token, so Uzbek parts are priced at 50 so'm each" in result.err
    assert not path.with_name("job.csv.devsms-journal.jsonl").exists()


def test_bulk_dry_run_warns_when_the_balance_is_short(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.balance = 120
    path = rows_csv(tmp_path / "job.csv", 3)
    table = cli("--sandbox", "bulk", str(path), "--dry-run")
    assert table.code == 0, table.err
    assert "120 so'm  not enough for all of them" in table.out
    data = json.loads(cli("--sandbox", "bulk", str(path), "--dry-run", "-f", "json").out)
    assert (data["balance"], data["estimate"]["cost"], data["to_send"]) == (120, 150, 3)
    assert sandbox.messages == []


@pytest.mark.parametrize(
    ("answer", "code", "error"),
    [("n\n", 1, "not confirmed: nothing was sent"), ("", 130, "interrupted"), ("y\n", 0, None)],
    ids=["no", "ctrl-d", "yes"],
)
def test_bulk_asks_before_sending_on_a_terminal(
    cli: Cli, sandbox: Sandbox, tmp_path: Path, answer: str, code: int, error: str | None
) -> None:
    path = rows_csv(tmp_path / "job.csv", 2)
    result = cli("--sandbox", "bulk", str(path), stdin=TTY(answer))
    assert result.code == code, result.err
    assert "Send 2 SMS for about 100 so'm? [y/N]:" in result.err
    if error is None:
        assert len(sandbox.messages) == 2
    else:
        # The answer is not echoed here (no terminal): the error follows the prompt.
        assert result.err.endswith(f"error: {error}\n")
        assert sandbox.messages == []


def test_bulk_stops_when_the_token_is_refused(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    path = rows_csv(tmp_path / "job.csv", 5)
    sandbox.fail_next(401, error="Token noto'g'ri", path="send_sms.php", times=5)
    result = cli("--sandbox", "bulk", str(path), "--yes", "-c", "1")
    assert result.code == 1
    assert "the API refused the token (HTTP 401)" in result.out
    assert "failed  row 1 (line 2, 99890***0000)" in result.out
    assert "a re-run sends them" in result.out  # the rows never started
    assert sandbox.messages == []


def test_bulk_stops_after_five_failures_in_a_row(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = rows_csv(tmp_path / "job.csv", 8)
    sandbox.fail_next(400, error="Balans yetarli emas", path="send_sms.php", times=8)
    result = cli("--sandbox", "bulk", str(path), "--yes", "-c", "1", "-f", "json")
    assert result.code == 1
    summary = json.loads(result.out)
    assert summary["stopped_because"] == "5 sends in a row did not succeed"
    assert (summary["failed"], summary["sent"], summary["not_started"]) == (5, 0, 3)
    assert [r["row"] for r in summary["failed_rows"]] == [1, 2, 3, 4, 5]
    assert "Balans yetarli emas" in summary["failed_rows"][0]["error"]


def test_bulk_lists_twenty_doubtful_rows_and_counts_the_rest(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = rows_csv(tmp_path / "job.csv", 21)
    at = "2026-03-09T05:00:00+00:00"
    journal_for(path, [(i + 1, f"99890{2000000 + i}", f"Salom {i}", at) for i in range(21)])
    result = cli("--sandbox", "bulk", str(path), "--yes")
    assert result.code == 3
    assert result.out.count("unknown row ") == 20
    assert "… and 1 more (see --format json)" in result.out
    assert sandbox.messages == []  # never re-sent by themselves


def test_bulk_reconcile_sends_only_rows_proven_missing(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = rows_csv(tmp_path / "job.csv", 2)
    now = _dt.datetime.now(_dt.timezone.utc)
    old, recent = (now - _dt.timedelta(minutes=10)).isoformat(), now.isoformat()
    # Neither is in the (empty) history; only the old attempt is surely not on its way.
    journal_for(path, [(1, "998902000000", "Salom 0", old), (2, "998902000001", "Salom 1", recent)])
    result = cli("--sandbox", "bulk", str(path), "--yes", "--reconcile", "-f", "json")
    assert result.code == 3
    assert "0 found in the history (sent), 1 not there (sending them), 1 still unknown" in (
        result.err
    )
    summary = json.loads(result.out)
    assert (summary["sent"], summary["unknown"]) == (1, 1)
    assert [r["row"] for r in summary["unknown_rows"]] == [2]
    assert [(m.phone, m.text) for m in sandbox.messages] == [("998902000000", "Salom 0")]


def test_bulk_refuses_a_damaged_journal_before_sending(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = rows_csv(tmp_path / "job.csv", 1)
    path.with_name("job.csv.devsms-journal.jsonl").write_text("not a journal\n")
    result = cli("--sandbox", "bulk", str(path), "--yes")
    assert result.code == 2
    assert "is not a devsms bulk journal" in result.error
    assert sandbox.messages == []


def test_bulk_journal_in_a_missing_directory(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    path = rows_csv(tmp_path / "job.csv", 1)
    journal = tmp_path / "missing" / "j.jsonl"
    result = cli("--sandbox", "bulk", str(path), "--yes", "--journal", str(journal))
    assert result.code == 2
    assert f"cannot open the journal {journal}: No such file or directory" in result.error
    assert sandbox.messages == []
