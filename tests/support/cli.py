"""What the tests of the ``devsms`` command share that is not a fixture: running the real
entry point in a subprocess (`devsms`, `env`, `CLI`), reading its answers (`Result`,
`one_error_line`), the served sandbox it talks to (`Served`) and CSV files for bulk.
The fixtures (`cli`, `sandbox`, `served`) are in tests/cli/conftest.py."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from devsms_async import AsyncDevSMS
from devsms_async.testing import Sandbox

T = TypeVar("T")

CLI = [sys.executable, "-m", "devsms_async.cli"]
PHONE = "998901234567"


def env(**extra: str) -> dict[str, str]:
    """This process's environment without a token or base URL, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if k not in ("DEVSMS_TOKEN", "DEVSMS_BASE_URL")}
    # Wide, colourless output: what is asserted is the text, not the terminal.
    base.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    base.update(extra)
    return base


def devsms(*args: str, input: str | None = None, cwd: Path | None = None, **extra_env: str) -> Any:
    """Run the real ``devsms ARGS`` in a subprocess; the completed process (text)."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        input=input if input is not None else "",
        cwd=cwd,
        env=env(**extra_env),
        timeout=60,
    )


def one_error_line(result: Any) -> str:
    """stderr is exactly one line, ``error: ...``, and no traceback anywhere."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


@attrs.frozen
class Result:
    """What ``run_cli(argv)`` in this process returned and printed (the `cli` fixture)."""

    code: int
    out: str
    err: str

    @property
    def error(self) -> str:
        """The one ``error: ...`` line on stderr (and no traceback)."""
        assert "Traceback" not in self.err
        lines = [line for line in self.err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, self.err
        return lines[0]


Cli = Callable[..., Result]


class TTY(io.StringIO):
    """stdin as a terminal, with what the person types."""

    def isatty(self) -> bool:
        return True


@attrs.define
class Served:
    """A sandbox served over HTTP from a thread of this process (the `served` fixture)."""

    sandbox: Sandbox
    base_url: str
    portal: Any

    def args(self, *more: str) -> list[str]:
        """The global options that point ``devsms`` at this server, then `more`."""
        return ["--base-url", self.base_url, "--token", self.sandbox.token, *more]

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(fn, *args)  # type: ignore[no-any-return]

    def send(self, *messages: tuple[str, str]) -> None:
        async def go() -> None:
            async with AsyncDevSMS(self.sandbox.token, base_url=self.base_url) as sms:
                for phone, text in messages:
                    await sms.send_sms(phone, text)

        self.call(go)

    def sent(self) -> list[tuple[str, str]]:
        """(phone, text) of every message the server stored, oldest first."""
        return [(m.phone, m.text) for m in self.sandbox.messages]


def write_csv(
    path: Path, rows: list[tuple[str, ...]], header: str | None = "phone,message"
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        if header is not None:
            f.write(header + "\n")
        csv.writer(f).writerows(rows)
    return path


def numbered(n: int) -> list[tuple[str, str]]:
    """`n` rows of (phone, text), each to another customer."""
    return [(f"99890{2000000 + i}", f"Salom, mijoz {i}!") for i in range(n)]


def journal_lines(csv_path: Path) -> list[dict[str, Any]]:
    """The records of the journal ``devsms bulk`` keeps beside `csv_path`."""
    path = csv_path.with_name(csv_path.name + ".devsms-journal.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]
