"""The one bulk engine: the write-ahead journal, resume, the circuit breaker and a
raising ``on_result`` (issue 11 item 8, issue 12 item 4), against a served sandbox."""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest

from devsms_async import (
    AsyncDevSMS,
    BulkCallbackError,
    BulkMessage,
    BulkOutcome,
    BulkResult,
    FileJournal,
    JournalEntry,
    JournalError,
)
from devsms_async.testing import Sandbox, serve_sandbox

Run = Callable[..., Any]


def numbered(n: int) -> list[tuple[str, str]]:
    return [(f"99890{3000000 + i}", f"Bulk {i}") for i in range(n)]


def sent_texts(sandbox: Sandbox) -> list[str]:
    return [m.text for m in sandbox.messages]


@pytest.fixture(params=["httpx", "aiohttp"])
def http_backend(request: pytest.FixtureRequest, backend: str) -> str:
    if request.param == "aiohttp" and backend == "trio":
        pytest.skip("aiohttp runs on asyncio only")
    return str(request.param)


# -- issue 11 item 8: on_result raising ----------------------------------------------------


def test_a_raising_on_result_loses_no_result(run: Run, http_backend: str) -> None:
    async def scenario() -> tuple[BulkCallbackError, list[BulkResult], int]:
        sandbox = Sandbox()
        reported: list[BulkResult] = []

        def on_result(result: BulkResult) -> None:
            if len(reported) == 3:
                raise OSError(28, "No space left on device")
            reported.append(result)

        async with serve_sandbox(sandbox) as server:
            async with server.client(http_backend=http_backend) as sms:
                with pytest.raises(BulkCallbackError) as caught:
                    await sms.send_bulk(numbered(30), concurrency=10, on_result=on_result)
        return caught.value, reported, len(sandbox.messages)

    error, reported, stored = run(scenario)
    assert isinstance(error.__cause__, OSError)
    unreported = error.unreported
    # Every message read is accounted for exactly once: reported, or in the error.
    indices = [r.index for r in reported] + [r.index for r in unreported]
    assert len(indices) == len(set(indices))
    assert sorted(indices) == [r.index for r in error.results]
    assert [r.index for r in error.results] == list(range(len(error.results)))
    assert len(unreported) > 1  # results in flight or buffered when it raised
    # The job stopped gracefully: what it sent is known, nothing is in doubt.
    counts = Counter(r.outcome for r in error.results)
    assert counts[BulkOutcome.UNKNOWN] == 0
    assert counts[BulkOutcome.SENT] == stored
