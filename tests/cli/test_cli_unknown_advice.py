"""The CLI's message for a send in doubt names a command, not the library's Python call."""

from __future__ import annotations

import pytest

from devsms_async import SendOutcomeUnknownError
from devsms_async.cli import _runtime
from devsms_async.testing import Sandbox


async def test_an_unknown_send_at_the_terminal_points_to_devsms_history() -> None:
    sandbox = Sandbox()
    sandbox.fail_next(500, after_processing=True)
    async with sandbox.client() as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            await sms.send_sms("998901234567", "Salom")
    message, code = _runtime.describe_error(info.value)
    assert code == 3
    assert "may or may not have reached the provider" in message
    assert "it was NOT retried, to avoid a duplicate SMS" in message
    assert "look for it with `devsms history` before sending again" in message
    assert "reconcile(" not in message
    assert "await" not in message
