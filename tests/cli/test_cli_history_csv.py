"""``devsms history --format csv``: always well-formed CSV, and safe to open in a
spreadsheet unless ``--raw-cells`` asks for the cells verbatim. Read back with the csv
module from a real subprocess against a real server."""

from __future__ import annotations

import csv
import io
import subprocess

import pytest

from support.cli import CLI, env
from support.faultserver import FaultServer

TOKEN = "history-csv-token"
TEXTS = [
    "first\rsecond",  # a bare CR
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\tTAB at the start",
    "\rCR at the start",
    'line one\nline two, "quoted"; done',
    "plain Salom",
]


def _history_csv(*more: str) -> tuple[subprocess.CompletedProcess[bytes], list[dict[str, str]]]:
    with FaultServer(token=TOKEN) as server:
        for i, text in enumerate(TEXTS):
            server.api.add_record(f"99890{1000000 + i}", text)
        result = subprocess.run(
            [*CLI, "--base-url", server.base_url, "--token", TOKEN, "history", "-f", "csv", *more],
            capture_output=True,
            env=env(),
            timeout=60,
        )
    assert result.returncode == 0, result.stderr.decode()
    # Bytes as written, no newline translation: exactly what a spreadsheet reads.
    reader = csv.DictReader(io.StringIO(result.stdout.decode("utf-8"), newline=""))
    return result, list(reader)


def test_history_csv_is_well_formed_and_defuses_formulas() -> None:
    _, rows = _history_csv()
    # One row per SMS (newest first), every row with every column: no row was split.
    assert len(rows) == len(TEXTS)
    assert all(None not in row and len(row) == 15 for row in rows)
    messages = [row["message"] for row in reversed(rows)]
    assert messages[0] == "first\rsecond"
    assert messages[7] == 'line one\nline two, "quoted"; done'
    assert messages[8] == "plain Salom"
    for sent, written in zip(TEXTS[1:7], messages[1:7], strict=True):
        assert written == "'" + sent, written
    # Numbers stay numbers.
    assert {row["phone_number"][:5] for row in rows} == {"99890"}
    assert all(row["total_cost"] == "50" for row in rows)


def test_history_csv_raw_cells_writes_them_verbatim() -> None:
    _, rows = _history_csv("--raw-cells")
    assert [row["message"] for row in reversed(rows)] == TEXTS


def test_raw_cells_needs_the_csv_format() -> None:
    result = subprocess.run(
        [*CLI, "--sandbox", "history", "--raw-cells"], capture_output=True, text=True, env=env()
    )
    assert result.returncode == 2
    assert "--raw-cells is for --format csv" in result.stderr


@pytest.mark.parametrize("text", ["\x1b]0;PWNED\x07 title", "bidi \u202e reversed"])
def test_history_csv_shows_control_characters_as_escapes(text: str) -> None:
    with FaultServer(token=TOKEN) as server:
        server.api.add_record("998901234567", text)
        result = subprocess.run(
            [*CLI, "--base-url", server.base_url, "--token", TOKEN, "history", "-f", "csv"],
            capture_output=True,
            env=env(),
            timeout=60,
        )
    [row] = list(csv.DictReader(io.StringIO(result.stdout.decode(), newline="")))
    assert row["message"] == text.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace(
        "\u202e", "\\u202e"
    )
