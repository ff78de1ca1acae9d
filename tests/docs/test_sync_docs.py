"""docs/sync.md runs: every Python block, against the sandbox; the Celery task is called
as Celery would call it (Celery is not installed: its few names are stubbed). The
Django views run under real Django in tests/docs/test_django_verify_docs.py."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import devsms_async
from devsms_async import SendOutcomeUnknownError
from devsms_async.testing import Sandbox

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
TOKEN = "your-token"
PHONE = "998901234567"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


def block(marker: str) -> str:
    [code] = [b for b in blocks() if marker in b]
    return code


class Task:
    """What ``@shared_task(...)`` returns: callable, with ``delay``; options kept."""

    def __init__(self, fn: Any, options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def delay(self, *args: Any) -> Any:
        return self.fn(*args)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Both clients wired to one sandbox (token from DEVSMS_TOKEN, as the examples say)."""
    box = Sandbox(token=TOKEN)
    monkeypatch.setenv("DEVSMS_TOKEN", TOKEN)

    class SyncClient(devsms_async.DevSMS):
        def __init__(self, token: str | None = None, **options: Any) -> None:
            options.setdefault("transport", box.transport())
            super().__init__(token, **options)

    class AsyncClient(devsms_async.AsyncDevSMS):
        def __init__(self, token: str | None = None, **options: Any) -> None:
            options.setdefault("transport", box.transport())
            options.pop("http_backend", None)
            super().__init__(token, **options)

    monkeypatch.setattr(devsms_async, "DevSMS", SyncClient)
    monkeypatch.setattr(devsms_async, "AsyncDevSMS", AsyncClient)
    stubs = {
        "celery": types.ModuleType("celery"),
    }
    stubs["celery"].shared_task = lambda **options: lambda fn: Task(fn, options)  # type: ignore[attr-defined]
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    return box


def run(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    exec(compile(code, str(PAGE), "exec"), namespace)
    return namespace


def test_every_block_runs_and_prints_what_it_says(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(blocks()) == 6
    for code in blocks():
        run(code)
        printed = capsys.readouterr().out.splitlines()
        expected = re.findall(r"^\s*print\(.*\)  # (.*)$", code, flags=re.MULTILINE)
        for line in expected:
            assert line in printed
    assert sandbox.requests


def test_the_celery_task(sandbox: Sandbox) -> None:
    task = run(block("shared_task"))["send_order_ready"]
    assert devsms_async.APIConnectionError in task.options["autoretry_for"]
    assert not issubclass(SendOutcomeUnknownError, devsms_async.APIConnectionError)

    sms_id = task.delay(PHONE, 42)
    assert sandbox.get_message(sms_id).text == "Buyurtma #42 tayyor. Rahmat!"

    # The answer is lost but the SMS went out: reconcile finds it, nothing is resent.
    sandbox.fail_next(502, path="send_sms.php", after_processing=True)
    found = task.delay(PHONE, 43)
    assert found is not None
    assert sandbox.get_message(found).text == "Buyurtma #43 tayyor. Rahmat!"
    assert len(sandbox.messages) == 2
