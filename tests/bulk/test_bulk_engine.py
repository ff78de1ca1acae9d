"""The one bulk engine: the write-ahead journal, resume, the circuit breaker and a
raising ``on_result``, against a served sandbox."""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsms_async import AsyncDevSMS
from devsms_async.bulk import (
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


# -- on_result raising -------------------------------------------------------------------


def test_a_raising_on_result_loses_no_result(run: Run, http_backend: str) -> None:
    async def scenario() -> tuple[BulkCallbackError, list[BulkResult], int]:
        sandbox = Sandbox()
        reported: list[BulkResult] = []

        def on_result(result: BulkResult) -> None:
            if len(reported) == 3:
                raise OSError(28, "No space left on device")
            reported.append(result)

        async with (
            serve_sandbox(sandbox) as server,
            server.client(http_backend=http_backend) as sms,
        ):
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


# -- the write-ahead journal, in the library -------------------------------------------------


def messages_for(n: int) -> list[BulkMessage]:
    return [BulkMessage(phone=p, message=t) for p, t in numbered(n)]


def test_attempting_is_durable_before_each_request(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"

    async def scenario() -> list[str]:
        sandbox = Sandbox()
        seen: list[str] = []
        real_handle = sandbox._handle

        def handle(*args: Any) -> Any:
            # What the journal file says at the moment the provider gets the request.
            durable = [json.loads(line) for line in path.read_text().splitlines()[1:]]
            index = len(sandbox.messages)  # concurrency 1: requests arrive in order
            states = [r["state"] for r in durable if r["row"] == index + 1]
            seen.append(states[-1] if states else "nothing")
            return real_handle(*args)

        sandbox._handle = handle  # type: ignore[method-assign]
        async with serve_sandbox(sandbox) as server, server.client() as sms:
            with FileJournal(path) as journal:
                results = await sms.send_bulk(messages_for(5), concurrency=1, journal=journal)
        assert all(r.ok for r in results)
        return seen

    assert run(scenario) == ["attempting"] * 5
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    for row in range(1, 6):
        mine = [r["state"] for r in records if r["row"] == row]
        assert mine == ["attempting", "sent"]


def test_a_rerun_with_the_journal_resumes_by_the_rules(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    items = messages_for(6)
    sandbox = Sandbox()

    async def first() -> None:
        # An earlier run: 0 and 1 sent, 2 left in doubt, 3 refused, 4 not started.
        with FileJournal(path) as journal:
            async with sandbox.client() as sms:
                sent = await sms.send_bulk(items[:2], journal=journal)
            from devsms_async._journal import content_hash

            for index, state in [(2, "attempting"), (3, "failed"), (4, "not_started")]:
                m = items[index]
                await journal.write(
                    JournalEntry(
                        index=index, hash=content_hash(m.phone, m.message, None), state=state
                    )
                )
        assert all(r.ok for r in sent)

    async def again() -> list[BulkResult]:
        with FileJournal(path) as journal:
            async with sandbox.client() as sms:
                return await sms.send_bulk(items, journal=journal)

    run(first)
    results = run(again)
    outcomes = [r.outcome for r in results]
    assert outcomes == [
        BulkOutcome.ALREADY_SENT,
        BulkOutcome.ALREADY_SENT,
        BulkOutcome.UNKNOWN,  # may have gone out: never sent blindly
        BulkOutcome.SENT,
        BulkOutcome.SENT,
        BulkOutcome.SENT,
    ]
    assert results[0].previous is not None
    assert results[0].previous.sms_id is not None
    assert results[2].previous is not None
    assert results[2].previous.state == "attempting"
    assert sorted(sent_texts(sandbox)) == sorted(m.message for i, m in enumerate(items) if i != 2)
    # A third run sends nothing new.
    assert [r.outcome for r in run(again)].count(BulkOutcome.SENT) == 0
    assert len(sandbox.messages) == 5


def test_an_edited_message_is_refused_not_trusted(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    sandbox = Sandbox()
    items = messages_for(2)

    async def go(batch: list[BulkMessage]) -> list[BulkResult]:
        with FileJournal(path) as journal:
            async with sandbox.client() as sms:
                return await sms.send_bulk(batch, journal=journal)

    run(go, items)
    edited = [items[0], BulkMessage(phone=items[1].phone, message="another text"), items[0]]
    # The whole input is checked before the first send: the job stops, nothing more goes.
    with pytest.raises(JournalError) as caught:
        run(go, edited)
    assert caught.value.mismatched == (1,)
    assert len(sandbox.messages) == 2


def test_a_journal_that_cannot_be_written_stops_the_job(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = FileJournal(tmp_path / "job.jsonl")

    def disk_full(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "_write_sync", disk_full)
    sandbox = Sandbox()

    async def scenario() -> None:
        async with sandbox.client() as sms:
            await sms.send_bulk(messages_for(10), journal=journal)

    with pytest.raises(JournalError, match="No space left"):
        run(scenario)
    journal.close()
    assert sandbox.messages == []  # nothing is sent without its record


def test_the_circuit_breaker_stops_after_failures_in_a_row(run: Run) -> None:
    async def scenario() -> tuple[list[BulkResult], str | None, int]:
        sandbox = Sandbox()
        async with AsyncDevSMS("wrong", transport=sandbox.transport()) as sms:
            stream = sms.stream_bulk(messages_for(50), concurrency=2, stop_after_failures=3)
            got: list[BulkResult] = []
            async with stream as results:
                async for r in results:
                    got.append(r)
            return [*got, *stream.leftover], stream.stopped_because, len(sandbox.messages)

    results, why, stored = run(scenario)
    assert why is not None
    assert "refused the token" in why
    assert stored == 0
    counts = Counter(r.outcome for r in results)
    assert counts[BulkOutcome.FAILED] <= 2 + 1  # what was in flight when it tripped
    assert len(results) < 50


def test_reconcile_journal_settles_rows_in_doubt(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    items = messages_for(3)
    sandbox = Sandbox()

    async def scenario() -> tuple[Any, dict[int, str]]:
        from devsms_async._journal import content_hash

        async with sandbox.client() as sms:
            await sms.send_sms(items[0].phone, items[0].message)  # went out, unanswered
            with FileJournal(path) as journal:
                for index in (0, 1):
                    m = items[index]
                    await journal.write(
                        JournalEntry(
                            index=index,
                            hash=content_hash(m.phone, m.message, None),
                            state="attempting",
                            at=_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5),
                        )
                    )
                settled = await sms.reconcile_journal(journal, items)
                states = {i: e.state for i, e in journal.entries().items()}
        return settled, states

    settled, states = run(scenario)
    assert (settled.found, settled.not_sent, settled.in_doubt) == (1, 1, 0)
    assert states == {0: "sent", 1: "failed"}
