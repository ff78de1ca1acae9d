"""Text from the network never reaches the terminal raw: every line ``devsms`` prints
from a server's answer shows control characters as escapes (``\\x1b``), and rich markup
in it prints literally. Read back from a real subprocess against a real server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from support.cli import PHONE, devsms, write_csv
from support.faultserver import FaultServer, Reply

TOKEN = "escapes-test-token"
EVIL = "Rad etildi \x1b]0;PWNED\x07\x1b[2J\x9b31m\u202eKO-TAF [red]FAKE-OK[/] \x7f"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must never be printed raw (a newline between lines is ours)."""


def _clean(text: str) -> None:
    assert not RAW.search(text), repr(text)


def _shows_evil(text: str) -> None:
    _clean(text)
    assert "\\x1b]0;PWNED\\x07\\x1b[2J\\x9b31m\\u202eKO-TAF [red]FAKE-OK[/] \\x7f" in text


def test_a_server_error_text_is_printed_with_visible_escapes() -> None:
    with FaultServer(token=TOKEN) as server:
        server.script(Reply.json(400, {"success": False, "error": EVIL}))
        result = devsms("--base-url", server.base_url, "--token", TOKEN, "send", PHONE, "Salom")
    assert result.returncode == 1
    _shows_evil(result.stderr)
    _clean(result.stdout)


def test_message_texts_in_status_and_history_are_printed_with_visible_escapes() -> None:
    with FaultServer(token=TOKEN) as server:
        server.api.add_record(PHONE, EVIL)
        base = ("--base-url", server.base_url, "--token", TOKEN)
        status = devsms(*base, "status", "1")
        history = devsms(*base, "history")
        status_json = devsms(*base, "status", "1", "-f", "json")
        history_json = devsms(*base, "history", "-f", "json")
    assert status.returncode == 0, status.stderr
    _shows_evil(status.stdout)
    assert history.returncode == 0, history.stderr
    _clean(history.stdout)
    assert "\\x1b]0;PWNED" in history.stdout
    assert "[red]FAKE-OK[/]" in history.stdout
    # JSON escapes them the JSON way and reads back as the very text.
    for result, record in ((status_json, None), (history_json, 0)):
        _clean(result.stdout)
        data = json.loads(result.stdout)
        assert (data if record is None else data[record])["message"] == EVIL


def test_bulk_summary_shows_server_errors_with_visible_escapes(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "job.csv", [(PHONE, "Salom")])
    with FaultServer(token=TOKEN) as server:
        server.fault_for = lambda request: (
            Reply.json(400, {"success": False, "error": EVIL})
            if request.endpoint == "send_sms.php"
            else None
        )
        result = devsms("--base-url", server.base_url, "--token", TOKEN, "bulk", str(data), "--yes")
    assert result.returncode == 1, result.stderr
    _clean(result.stdout + result.stderr.replace("\r", ""))
    assert "\\x1b]0;PWNED" in result.stdout
    assert "[red]FAKE-OK[/]" in result.stdout
