"""With logging unconfigured a retried read prints nothing; a retry is one
INFO line through the SDK's logger; the SDK never changes logging's or stamina's
global settings."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import stamina

from devsms_async.testing import Sandbox

SCRIPT = textwrap.dedent(
    """
    import anyio
    import stamina  # installed and imported: still nothing of it may print

    from devsms_async import DevSMS
    from devsms_async.testing import Sandbox

    sandbox = Sandbox()
    sandbox.fail_next(503, path="get_balance.php", headers={"Retry-After": "0"})
    sandbox.fail_next(502, path="get_balance.php", headers={"Retry-After": "0"})

    async def main():
        async with sandbox.client(retry_deadline=30) as sms:
            return await sms.get_balance()

    balance = anyio.run(main)
    with sandbox.sync_client() as sms:
        sms.get_balance()
    assert len(sandbox.requests) == 3 + 1, sandbox.requests
    print("ok", balance.balance)
    """
)


def test_a_retried_read_prints_nothing_with_logging_unconfigured() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
    assert done.stderr == ""


async def test_a_retry_is_one_info_line_with_endpoint_attempt_wait_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="devsms_async")
    sandbox = Sandbox()
    sandbox.fail_next(503, path="get_balance.php", headers={"Retry-After": "2"})
    async with sandbox.client() as sms:
        await sms.get_balance()
    [line] = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert line.name == "devsms_async"
    assert line.levelno == logging.INFO
    message = line.getMessage()
    assert message.startswith("retrying get_balance (attempt 1 failed: ServerError HTTP 503)")
    assert message.endswith(" s")
    assert line.devsms_endpoint == "get_balance"  # type: ignore[attr-defined]
    assert line.devsms_attempt == 1  # type: ignore[attr-defined]
    assert line.devsms_wait >= 2.0  # type: ignore[attr-defined]
    assert line.devsms_reason == "ServerError HTTP 503"  # type: ignore[attr-defined]
    assert [r for r in caplog.records if r.name.startswith("stamina")] == []


def global_settings() -> tuple[Any, ...]:
    """Logging's and stamina's process-wide settings, as the SDK must leave them."""
    root = logging.getLogger()
    ours = logging.getLogger("devsms_async")
    return (
        root.level,
        list(root.handlers),
        ours.level,
        list(ours.handlers),
        ours.propagate,
        stamina.is_testing(),
        logging.getLogger("stamina").handlers[:],
    )


async def test_the_sdk_changes_no_global_logging_or_stamina_setting() -> None:
    before = global_settings()
    sandbox = Sandbox()
    sandbox.fail_next(503, path="get_balance.php")
    async with sandbox.client() as sms:
        await sms.get_balance()
    with sandbox.sync_client() as sync_sms:
        sync_sms.get_balance()
    assert global_settings() == before
