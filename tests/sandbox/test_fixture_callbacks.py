"""The pytest fixtures: they deliver callbacks into an application (``devsms_sandbox``'s
``callback_transport`` set at the start of a test, as docs/testing.md shows; the
documented test is run here with this run's own fixtures), and they retry without
waiting only while their test runs."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
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


# -- the sandbox fixtures turn stamina's testing mode on, scoped, attempts kept ---------


def test_sandbox_fixtures_retry_without_waiting_and_restore_stamina(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import stamina
            from devsms_async import AsyncDevSMS
            from devsms_async.testing import Sandbox

            def test_before():
                assert not stamina.is_testing()

            async def test_one_503_is_retried(devsms_sandbox: Sandbox, devsms_client: AsyncDevSMS):
                assert stamina.is_testing()
                devsms_sandbox.fail_next(503, path="get_balance.php")
                balance = await devsms_client.get_balance()  # attempt 2 answers
                assert balance.balance == devsms_sandbox.balance

            def test_after():
                assert not stamina.is_testing()
            """
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            str(tmp_path / "test_user.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
