"""The guides say what the code does: signatures, counts, tables and commands in docs/
checked against the objects they describe."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import typer

import devsms_async.pricing
from devsms_async import AsyncDevSMS
from devsms_async.cli import _app
from devsms_async.cli._csv import ALIASES
from devsms_async.testing import Sandbox, pytest_plugin, serve
from devsms_async.verify import Verifier

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- inline signatures ---------------------------------------------------------------------

TARGETS: dict[str, Any] = {
    "estimate_cost": devsms_async.pricing.estimate_cost,
    "estimate_bulk": devsms_async.pricing.estimate_bulk,
    "reconcile": AsyncDevSMS.reconcile,
    "wait_for_status": AsyncDevSMS.wait_for_status,
    "serve": serve,
    "advance": Sandbox.advance,
    "start": Verifier.start,
}


def inline_signatures() -> list[tuple[str, str, str]]:
    """``name(a, *, b=1)`` in backticks (possibly over two lines): (page, name, params)."""
    found = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"`([a-z_]+)\(([^`]*?\*[^`]*?)\)`", text):
            found.append((path.name, match[1], " ".join(match[2].split())))
    return found


SIGNATURES = inline_signatures()


def test_inline_signatures_are_found() -> None:
    assert {name for _, name, _ in SIGNATURES} >= {"estimate_cost", "reconcile", "serve"}


@pytest.mark.parametrize(
    ("page_name", "name", "params"), SIGNATURES, ids=[f"{p}-{n}" for p, n, _ in SIGNATURES]
)
def test_an_inline_signature_matches_the_code(page_name: str, name: str, params: str) -> None:
    assert name in TARGETS, f"{page_name} shows {name}(...): add it to TARGETS"
    real = [p for p in inspect.signature(TARGETS[name]).parameters.values() if p.name != "self"]
    shown = [p.strip() for p in params.split(",")]
    assert [p.split("=")[0] for p in shown if p != "*"] == [p.name for p in real]
    star = shown.index("*")
    assert [p.name for p in real[star:]] == [
        p.name for p in real if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for text, parameter in zip([p for p in shown if p != "*"], real, strict=True):
        if "=" in text:
            assert ast.literal_eval(text.split("=", 1)[1]) == parameter.default, text


# -- counts, tables, commands --------------------------------------------------------------


def test_testing_page_names_every_fixture() -> None:
    text = page("testing.md")
    numbers = {"two": 2, "three": 3, "four": 4}
    said = re.search(r"pytest plugin \(`devsms_async`\) with (\w+) fixtures", text)
    assert said is not None
    rows = re.findall(r"^\| `(devsms_\w+)` \|", text, re.MULTILINE)
    assert numbers[said[1]] == len(rows)
    assert sorted(rows) == sorted(pytest_plugin.__all__)


def test_uvicorn_commands_drop_the_access_log() -> None:
    """The receiver's secret is in its URL: docs/fastapi.md warns to run uvicorn with
    --no-access-log, so its commands (and the example's) do."""
    texts = [page("fastapi.md"), (DOCS / "examples" / "fastapi_app.py").read_text("utf-8")]
    commands = [
        line for text in texts for line in text.splitlines() if "uvicorn fastapi_app" in line
    ]
    assert len(commands) == 2
    assert all("--no-access-log" in line for line in commands), commands


def test_cli_page_lists_the_accepted_header_names() -> None:
    text = page("cli.md")
    for column, names in ALIASES.items():
        row = re.search(rf"^\s*\| {column} \| (.*) \|$", text, re.MULTILINE)
        assert row is not None, column
        assert re.findall(r"`([^`]+)`", row[1]) == list(names)


def test_quickstart_lists_every_client_option() -> None:
    text = page("quickstart.md")
    table = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    listed = {
        name
        for cell in re.findall(r"^\| ([^|]+) \|", table, re.M)
        for name in re.findall(r"`(\w+)`", cell)
    }
    parameters = {
        p.name
        for p in inspect.signature(AsyncDevSMS).parameters.values()
        if p.kind is not p.VAR_KEYWORD  # **unknown: misspelt options, refused
    }
    assert parameters <= listed, sorted(parameters - listed)


def test_cli_page_lists_every_global_option() -> None:
    text = page("cli.md")
    table = text.split("## Where it sends", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"^\| `(-[-\w]+)`", table, re.MULTILINE))
    root = typer.main.get_command(_app.app)
    options = {max(p.opts, key=len) for p in root.params} - {"--version", "--help"}
    assert "-v" in listed  # --verbose, by its short name
    assert options - {"--verbose"} <= listed, sorted(options - listed)
