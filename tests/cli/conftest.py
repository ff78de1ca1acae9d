"""Fixtures of the ``devsms`` command's tests; the plain helpers are in tests/support/cli.py."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import anyio.from_thread
import pytest
import stamina.instrumentation

from devsms_async.cli import _app, _runtime
from devsms_async.cli._app import run_cli
from devsms_async.testing import Sandbox, serve_sandbox
from support.cli import Cli, Result, Served


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """``cli(*argv, stdin=...)`` runs ``devsms argv`` here and returns code, stdout, stderr."""
    for name in ("DEVSMS_TOKEN", "DEVSMS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}.items():
        monkeypatch.setenv(name, value)
    # --wait: the sandbox moves on and the status is polled every few milliseconds.
    monkeypatch.setattr(_app, "SANDBOX_TICK", 0.002)
    monkeypatch.setattr(_app, "POLL_INITIAL", 0.001)
    monkeypatch.setattr(_app, "POLL_MAX", 0.005)
    # run_cli sets up logging and retry hooks for its process: put them back.
    root, ours = logging.getLogger(), logging.getLogger("devsms_async")
    handlers, level, our_level = root.handlers[:], root.level, ours.level
    hooks = stamina.instrumentation.get_on_retry_hooks()

    def invoke(*argv: str, stdin: str | io.StringIO = "") -> Result:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        code = run_cli(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield invoke
    root.handlers[:] = handlers
    root.setLevel(level)
    ours.setLevel(our_level)
    stamina.instrumentation.set_on_retry_hooks(hooks)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox ``devsms --sandbox`` talks to in `cli` (faults can be set)."""
    box = Sandbox()
    monkeypatch.setattr(_runtime.Globals, "get_sandbox", lambda self: box)
    return box


@pytest.fixture
def served() -> Iterator[Served]:
    """A sandbox served over HTTP on 127.0.0.1 (port 0) from a thread of this process;
    nothing moves its statuses."""
    box = Sandbox()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(box)) as server,
    ):
        yield Served(box, server.base_url, portal)
