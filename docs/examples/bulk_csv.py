"""Send every row of a CSV file (``phone,message``), safe to interrupt and to re-run.

See docs/bulk.md. Each final result is appended to a journal (one JSON line per row) the
moment it is known, including when you press Ctrl-C: the rows sent in flight are then
journaled as ``unknown``, the rows read but not started as ``not_started``. Running the
script again skips the rows the journal has as ``sent`` or ``unknown`` (check those with
``sms.reconcile`` or in the history before sending them again) and sends the rest.

Try it against the sandbox, in two terminals::

    devsms sandbox serve --port 8000

    DEVSMS_BASE_URL=http://127.0.0.1:8000/api DEVSMS_TOKEN=sandbox-token \\
    python docs/examples/bulk_csv.py contacts.csv --journal contacts.jsonl --per-second 20

Against the real service, leave out DEVSMS_BASE_URL and use your token.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import itertools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from devsms_async import AsyncDevSMS, BulkMessage, BulkOutcome, BulkResult

DONE = {BulkOutcome.SENT.value, BulkOutcome.UNKNOWN.value}
"""Journal outcomes that must not be sent again blindly."""


def finished_rows(journal: Path) -> set[int]:
    """Rows the journal already has as sent or unknown (the last word per row counts)."""
    last: dict[int, str] = {}
    if journal.exists():
        with journal.open(encoding="utf-8") as lines:
            for line in lines:
                entry = json.loads(line)
                last[entry["row"]] = entry["outcome"]
    return {row for row, outcome in last.items() if outcome in DONE}


async def send_csv(
    sms: AsyncDevSMS,
    csv_path: Path,
    journal_path: Path,
    *,
    per_second: float | None = None,
) -> collections.Counter[str]:
    """Send the rows not done yet; journal every result. Returns counts by outcome."""
    skip = finished_rows(journal_path)
    # The job numbers the messages it is given (0, 1, 2, ...); remember which CSV row
    # each one is until its result comes. This holds only the messages in flight.
    row_of: dict[int, int] = {}
    job_index = itertools.count()
    counts: collections.Counter[str] = collections.Counter()

    def messages(rows: TextIO) -> Iterator[BulkMessage]:
        for row_number, row in enumerate(csv.reader(rows), start=1):
            if row_number in skip:
                continue
            phone, text, *_ = [*row, "", ""]  # short rows fail validation
            row_of[next(job_index)] = row_number
            yield BulkMessage(phone=phone, message=text)

    with (
        csv_path.open(newline="", encoding="utf-8") as rows,
        journal_path.open("a", encoding="utf-8", buffering=1) as journal,
    ):

        def record(result: BulkResult) -> None:
            row = row_of.pop(result.index)
            counts[result.outcome.value] += 1
            sent = result.result
            entry = {
                "row": row,
                "outcome": result.outcome.value,
                "sms_id": sent.sms_id if sent else None,
                # Money is a Decimal: written as a string, it stays exact ("50.00").
                "cost": str(sent.total_cost) if sent and sent.total_cost is not None else None,
                "error": str(result.error) if result.error else None,
            }
            journal.write(json.dumps(entry, ensure_ascii=False) + "\n")

        await sms.send_bulk(messages(rows), per_second=per_second, normalize=True, on_result=record)
    return counts


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--per-second", type=float, default=None)
    args = parser.parse_args(argv)
    base_url = os.environ.get("DEVSMS_BASE_URL", "https://devsms.uz/api")
    async with AsyncDevSMS(base_url=base_url) as sms:  # the token comes from DEVSMS_TOKEN
        counts = await send_csv(sms, args.csv, args.journal, per_second=args.per_second)
    print(", ".join(f"{outcome}: {n}" for outcome, n in sorted(counts.items())))
    return 0 if counts.keys() <= {"sent"} else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        # Every row read has its line in the journal; run again to send the rest.
        print("interrupted: see the journal, then run again", file=sys.stderr)
        sys.exit(130)
