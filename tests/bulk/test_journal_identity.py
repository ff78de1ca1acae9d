"""Which message a journal entry belongs to: another job's journal, and keyed messages.

A journal that belongs to another job stops the job at the first difference, before
any further send, and its advice never leads to a second send. ``BulkMessage(key=)``
makes a journal know a message by the caller's id instead of its position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devsms_async import ValidationError
from devsms_async.bulk import BulkMessage, BulkOutcome, FileJournal, JournalError
from devsms_async.testing import Sandbox

Run = Callable[..., Any]


def job(name: str, count: int, *, keyed: bool = False) -> list[BulkMessage]:
    return [
        BulkMessage(
            phone=f"99890{i:07d}",
            message=f"{name} #{i}",
            key=f"customer-{i}" if keyed else None,
        )
        for i in range(count)
    ]


def texts(sandbox: Sandbox) -> list[str]:
    return [m.text for m in sandbox.messages]


@pytest.mark.parametrize("lazy", [False, True], ids=["list", "generator"])
def test_another_jobs_journal_stops_the_job_before_any_send(
    run: Run, tmp_path: Path, lazy: bool
) -> None:
    path = tmp_path / "a.journal.jsonl"
    sandbox = Sandbox()
    job_a, job_b = job("A", 3), job("B", 6)

    async def send(messages: list[BulkMessage], journal_path: Path) -> list[Any]:
        items: Any = iter(messages) if lazy else messages
        with FileJournal(journal_path) as journal:
            async with sandbox.client() as sms:
                return await sms.send_bulk(items, journal=journal)

    run(send, job_a, path)
    with pytest.raises(JournalError) as caught:
        run(send, job_b, path)
    assert sorted(texts(sandbox)) == ["A #0", "A #1", "A #2"]  # none of job B went
    error = caught.value
    assert error.mismatched[0] == 0
    assert "another job" in str(error)
    assert "do not start a new journal for that job" in str(error)

    # Following the advice: job B gets a journal of its own, job A keeps its journal.
    run(send, job_b, tmp_path / "b.journal.jsonl")
    again = run(send, job_a, path)
    assert {r.outcome for r in again} == {BulkOutcome.ALREADY_SENT}
    sent = texts(sandbox)
    assert sorted(sent) == sorted(m.message for m in job_a + job_b)  # each exactly once


def test_a_keyed_message_is_known_by_its_key_wherever_it_is(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "job.journal.jsonl"
    sandbox = Sandbox()
    messages = job("K", 6, keyed=True)

    async def send(items: list[BulkMessage]) -> list[Any]:
        with FileJournal(path) as journal:
            async with sandbox.client() as sms:
                return await sms.send_bulk(items, journal=journal)

    run(send, messages[:3])
    # The same job again, in another order and with the rest: the first three are
    # recognised by their keys at their new positions.
    results = run(send, list(reversed(messages)))
    outcomes = {r.message.key: r.outcome for r in results if r.message is not None}
    assert outcomes == {
        **{f"customer-{i}": BulkOutcome.ALREADY_SENT for i in range(3)},
        **{f"customer-{i}": BulkOutcome.SENT for i in range(3, 6)},
    }
    assert sorted(texts(sandbox)) == sorted(m.message for m in messages)
    with FileJournal(path) as journal:
        assert set(journal.entries()) == {f"customer-{i}" for i in range(6)}


def test_a_key_twice_in_one_job_fails_the_second_message_unsent(run: Run) -> None:
    sandbox = Sandbox()
    messages = [
        BulkMessage(phone="998900000001", message="first", key="order-7"),
        BulkMessage(phone="998900000002", message="second", key="order-7"),
        BulkMessage(phone="998900000003", message="third", key="order-8"),
    ]

    async def send() -> list[Any]:
        async with sandbox.client() as sms:
            return await sms.send_bulk(messages, concurrency=1)

    results = run(send)
    assert [r.outcome for r in results] == [
        BulkOutcome.SENT,
        BulkOutcome.FAILED,
        BulkOutcome.SENT,
    ]
    assert isinstance(results[1].error, ValidationError)
    assert results[1].error.field == "key"
    assert "message 0" in str(results[1].error)
    assert texts(sandbox) == ["first", "third"]


@pytest.mark.parametrize("key", [7, b"bytes", "", "x" * 201, "tab\there"])
def test_a_key_that_is_not_a_short_printable_str_is_refused(run: Run, key: Any) -> None:
    sandbox = Sandbox()

    async def send() -> list[Any]:
        async with sandbox.client() as sms:
            return await sms.send_bulk([BulkMessage(phone="998900000001", message="x", key=key)])

    [result] = run(send)
    assert result.outcome is BulkOutcome.FAILED
    assert isinstance(result.error, ValidationError)
    assert result.error.field == "key"
    assert sandbox.messages == []


def test_a_lazy_input_stops_at_the_first_difference(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "job.journal.jsonl"
    sandbox = Sandbox()
    original = job("A", 6)
    read: list[int] = []

    def edited() -> Iterator[BulkMessage]:
        for i, message in enumerate(original):
            read.append(i)
            yield BulkMessage(phone=message.phone, message="edited") if i == 2 else message

    async def send(items: Any) -> list[Any]:
        with FileJournal(path) as journal:
            async with sandbox.client() as sms:
                return await sms.send_bulk(items, journal=journal, concurrency=1)

    run(send, original[:4])
    with pytest.raises(JournalError) as caught:
        run(send, edited())
    assert caught.value.mismatched == (2,)
    assert len(sandbox.messages) == 4  # rows 4 and 5 were not sent after the difference
    assert read == [0, 1, 2]


def test_reconcile_journal_reaches_an_attempt_behind_hundreds_of_newer_sends(
    run: Run, tmp_path: Path
) -> None:
    from devsms_async.bulk import JournalEntry

    path = tmp_path / "job.journal.jsonl"
    sandbox = Sandbox()
    messages = job("R", 1)

    async def scenario() -> tuple[int, int, int]:
        async with sandbox.client() as sms:
            with FileJournal(path) as journal:
                [sent] = await sms.send_bulk(messages, journal=journal)
                # As if killed after the request left: the journal has only the attempt.
                await journal.write(
                    JournalEntry(index=0, hash=journal.entries()[0].hash, state="attempting")
                )
                # 450 later sends push it far below one page of the history.
                await sms.send_bulk([(f"99891{i:07d}", f"later #{i}") for i in range(450)])
                settled = await sms.reconcile_journal(journal, messages)
                assert journal.entries()[0].sms_id == sent.result.sms_id  # type: ignore[union-attr]
                return settled.found, settled.not_sent, settled.in_doubt

    assert run(scenario) == (1, 0, 0)
