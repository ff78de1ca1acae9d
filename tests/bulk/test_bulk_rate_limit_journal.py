"""A journaled bulk job whose rate limit cannot give a slot: the message was claimed
(the journal's claim comes before the rate wait) but never sent, so the journal must
say `failed` (provably not sent), never leave it `attempting` (in doubt): the next run
sends it, and nothing is sent twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from devsms_async import RateLimitUnavailableError
from devsms_async.bulk import BulkMessage, BulkOutcome, FileJournal
from devsms_async.testing import Sandbox


class DownAfter:
    """A shared rate limit whose server goes away after ``slots`` slots."""

    def __init__(self, slots: int) -> None:
        self.slots = slots

    async def acquire(self) -> None:
        if self.slots <= 0:
            raise RateLimitUnavailableError("the shared rate limit cannot be reached")
        self.slots -= 1


MESSAGES = [
    BulkMessage(phone=f"99890{i:07d}", message=f"Aksiya #{i}", key=f"customer-{i}")
    for i in range(6)
]


def test_a_claimed_message_without_a_rate_slot_is_journaled_failed_and_sent_next_run(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    sandbox = Sandbox()
    path = tmp_path / "job.journal.jsonl"

    async def first_run() -> tuple[list[str], dict[str, int]]:
        async with sandbox.client() as sms:
            with FileJournal(path) as journal:
                results = await sms.send_bulk(
                    MESSAGES, journal=journal, rate_limit=DownAfter(2), concurrency=1
                )
                return [r.outcome.value for r in results], await journal.counts()

    outcomes, counts = run(first_run)
    assert outcomes[:3] == ["sent", "sent", "failed"]
    assert set(outcomes[3:]) <= {"not_started"}
    assert counts.get("attempting", 0) == counts.get("unknown", 0) == 0, counts
    assert counts["failed"] == 1

    async def second_run() -> list[BulkOutcome]:
        async with sandbox.client() as sms:
            with FileJournal(path) as journal:
                results = await sms.send_bulk(MESSAGES, journal=journal, concurrency=1)
                return [r.outcome for r in results]

    assert run(second_run)[:3] == [BulkOutcome.ALREADY_SENT] * 2 + [BulkOutcome.SENT]
    texts = [m.text for m in sandbox.messages]
    assert sorted(texts) == sorted(m.message for m in MESSAGES)  # each exactly once
