"""The code in README.md, docs/index.md, docs/quickstart.md and docs/errors.md runs.

Examples written for the real service run against the sandbox: ``AsyncDevSMS`` is swapped
for one wired to a ``Sandbox`` whose token is the placeholder the page uses.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

import devsms_async
from devsms_async.testing import Sandbox

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "docs" / "index.md", ROOT / "docs" / "quickstart.md"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


CASES = [(p, i, code) for p in PAGES for i, code in enumerate(python_blocks(p))]


def test_the_pages_have_examples() -> None:
    assert {p.name for p, _, _ in CASES} == {"README.md", "index.md", "quickstart.md"}


@pytest.mark.parametrize(
    ("page", "index", "code"), CASES, ids=[f"{p.name}-{i}" for p, i, _ in CASES]
)
def test_example_runs(
    page: Path, index: int, code: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    sandbox = Sandbox(token="your-token", balance=1_000_000)

    class SandboxedClient(devsms_async.AsyncDevSMS):
        def __init__(self, token: str | None = None, **options: Any) -> None:
            options.setdefault("transport", sandbox.transport())
            super().__init__(token or "your-token", **options)

    class SandboxedSyncClient(devsms_async.DevSMS):
        def __init__(self, token: str | None = None, **options: Any) -> None:
            options.setdefault("transport", sandbox.transport())
            super().__init__(token or "your-token", **options)

    monkeypatch.setattr(devsms_async, "AsyncDevSMS", SandboxedClient)
    monkeypatch.setattr(devsms_async, "DevSMS", SandboxedSyncClient)
    exec(compile(code, f"{page.name}[{index}]", "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out.strip(), "the example printed nothing"
    if "AsyncDevSMS(" in code or "DevSMS(" in code:
        assert sandbox.requests, "the example made no request"


# -- docs/errors.md ----------------------------------------------------------------------


def test_docs_examples_run_and_print_what_they_say(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ```python block of docs/errors.md runs; each ``print(...)  # text`` prints it."""
    docs = ROOT / "docs" / "errors.md"
    blocks = re.findall(r"```python\n(.*?)```", docs.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 3
    ours = logging.getLogger("devsms_async")
    level, root_handlers = ours.level, logging.getLogger().handlers[:]
    try:
        for block in blocks:
            exec(compile(block, str(docs), "exec"), {"__name__": "__main__"})
            printed = capsys.readouterr().out.splitlines()
            expected = re.findall(r"^\s*print\(.*\)  # (.*)$", block, flags=re.MULTILINE)
            assert printed == expected
    finally:  # the logging example configures logging: leave it as it was
        ours.setLevel(level)
        logging.getLogger().handlers[:] = root_handlers
