"""What the ``devsms`` command shows: help without fake values, literal brackets, flags
(not Python arguments) in error texts, and a docs link a wheel user can open."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest
import typer

from devsms_async.cli import _app, _demo
from devsms_async.cli._runtime import Globals
from devsms_async.testing import Sandbox, serve_sandbox
from support.cli import Cli

ROOT = Path(__file__).resolve().parents[2]
PHONE = "998901234567"


def command_paths() -> list[list[str]]:
    """Every command and group of ``devsms``, as argv prefixes ([] is the root)."""
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(_app.app), [])
    return paths


PATHS = command_paths()


def test_every_command_is_walked() -> None:
    assert {"bulk", "send", "demo"} <= {p[0] for p in PATHS if p}
    assert ["sandbox", "serve"] in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "devsms")
def test_flags_show_no_value_in_the_help(cli: Cli, path: list[str]) -> None:
    result = cli(*path, "--help")
    assert result.code == 0, result.err
    assert "<bool>" not in result.out
    help_line = next(line for line in result.out.splitlines() if "--help" in line)
    if path == ["sandbox", "serve"]:
        # The serve command's own options, drawn in the look of the others.
        assert re.search(r"-h, --help\s+Show this message", help_line), help_line
        assert "--refusals-as-200 " in result.out or "--refusals-as-200\n" in result.out
    else:
        assert re.search(r"--help\s+-h\s+Show this message", help_line), help_line


def test_bulk_help_flags_and_values(cli: Cli) -> None:
    out = cli("bulk", "--help").out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ --")}
    assert re.search(r"--yes\s+-y\s+Send without asking", lines["--yes"])
    assert re.search(r"--dry-run\s+Check the file", lines["--dry-run"])
    assert "<str>" in lines["--sender"]  # options that take a value still say so
    assert "<int range>" in lines["--concurrency"]


def test_the_install_hint_keeps_its_brackets(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the aiohttp extra were not installed: bulk then runs on httpx and says so.
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    path = tmp_path / "job.csv"
    path.write_text(f"{PHONE},Salom\n", encoding="utf-8")
    box = Sandbox()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(box)) as server,
    ):
        result = cli(
            "--base-url", server.base_url, "--token", box.token, "bulk", str(path), "--yes"
        )
    assert result.code == 0, result.err
    assert "transport: httpx (pip install 'devsms-async[aiohttp]' is faster)" in result.err
    assert len(box.messages) == 1


def test_an_insecure_base_url_names_the_cli_flag(cli: Cli) -> None:
    result = cli("--base-url", "http://sms.example.uz/api", "--token", "t", "balance")
    assert result.code == 2
    assert result.err.strip() == (
        "error: --base-url: plain http:// would send the token in clear text; use https:// "
        "or pass --allow-insecure-http"
    )
    assert "allow_insecure_http" not in result.err


def test_allow_insecure_http_reaches_the_client() -> None:
    opts = Globals(token="t", base_url="http://sms.example.uz/api", allow_insecure_http=True)
    assert "http://sms.example.uz/api" in repr(opts.client())
    params = typer.main.get_command(_app.app).params
    assert any("--allow-insecure-http" in p.opts for p in params)


def test_a_bad_callback_url_names_the_cli_flag(cli: Cli) -> None:
    result = cli("--sandbox", "send", PHONE, "Salom", "--callback-url", "ftp://x.uz/cb")
    assert result.code == 2
    assert result.err.startswith("error: --callback-url: ")


def test_the_demo_points_to_the_docs_site(cli: Cli) -> None:
    result = cli("--sandbox", "demo")
    assert result.code == 0, result.err
    last = result.out.strip().splitlines()[-1]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    documentation = re.search(r'^Documentation = "(.+)"$', pyproject, re.MULTILINE)
    assert documentation is not None
    assert last.endswith(f"Docs: {documentation[1]}")
    assert "docs/cli.md" not in result.out
    assert documentation[1] == _demo.DOCS_URL  # the fallback is the same URL
