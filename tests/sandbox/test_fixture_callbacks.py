"""The pytest fixtures deliver callbacks into an application: ``devsms_sandbox``'s
``callback_transport`` set at the start of a test, as docs/testing.md shows (the
documented test is run here with this run's own fixtures)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devsms_async import AsyncDevSMS
from devsms_async.testing import Sandbox

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def fixture_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    found = [b for b in blocks if "devsms_sandbox.callback_transport" in b]
    assert len(found) == 1
    return found[0]


async def test_the_documented_fixture_pattern_delivers_callbacks_into_the_app(
    devsms_sandbox: Sandbox, devsms_client: AsyncDevSMS
) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_testing_example"}
    exec(compile(fixture_example(), "docs/testing.md", "exec"), namespace)
    await namespace["test_reports_reach_the_app"](devsms_sandbox, devsms_client)
    assert namespace["seen"] == ["sent", "delivered"]
    assert len(devsms_sandbox.callbacks) == 2
