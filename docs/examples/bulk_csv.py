"""Send every row of a CSV file (``phone,message``, or an Excel export), safe to kill and to re-run.

See docs/bulk.md. The job runs with the library's write-ahead journal
(``FileJournal``): before each send, an ``attempting`` record of its row is on disk
(fsync'd), and the outcome follows as soon as it is known. So whatever stops the
script (Ctrl-C, ``kill -9``, a power cut), running it again:

* skips the rows the journal has as sent;
* first looks the rows left in doubt (``attempting``/``unknown``: they may have gone
  out) up in the history: found ones count as sent; ones provably absent, after
  ``--min-age`` seconds (the history may lag), are sent again; the rest stay in doubt
  for a later run and are never sent blindly;
* sends everything else.

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
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from devsms_async import AsyncDevSMS
from devsms_async.bulk import BulkMessage, BulkResult, FileJournal, read_csv


def read_messages(csv_path: Path, *, report: bool = False) -> Iterator[BulkMessage]:
    """One message per data row, in file order: the journal knows row ``n`` as index
    ``n - 1``. ``read_csv`` reads what Excel writes (``;``, a BOM, a header with other
    columns such as ``№;Ism;Telefon;Xabar``); pass ``encoding="cp1251"`` for Russian
    Windows exports."""
    for row in read_csv(csv_path):
        if row.message is None:
            if report:
                print(f"line {row.line}: {row.error}", file=sys.stderr)
            # It keeps its place (the indices of the rows after it) and fails alone.
            yield BulkMessage(phone="", message="")
        else:
            yield row.message


async def send_csv(
    sms: AsyncDevSMS,
    csv_path: Path,
    journal_path: Path,
    *,
    per_second: float | None = None,
    min_age: float = 120.0,
) -> collections.Counter[str]:
    """Settle the rows in doubt, then send the rest; returns counts by outcome."""
    counts: collections.Counter[str] = collections.Counter()

    def count(result: BulkResult) -> None:
        counts[result.outcome.value] += 1

    with FileJournal(journal_path, name=csv_path.name) as journal:
        await sms.reconcile_journal(
            journal, read_messages(csv_path), normalize=True, min_age=min_age
        )
        await sms.send_bulk(
            read_messages(csv_path, report=True),
            per_second=per_second,
            normalize=True,
            journal=journal,
            on_result=count,
        )
    return counts


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--per-second", type=float, default=None)
    parser.add_argument(
        "--min-age",
        type=float,
        default=120.0,
        help="seconds after an attempt before 'not in the history' means 'not sent'",
    )
    args = parser.parse_args(argv)
    base_url = os.environ.get("DEVSMS_BASE_URL", "https://devsms.uz/api")
    async with AsyncDevSMS(base_url=base_url) as sms:  # the token comes from DEVSMS_TOKEN
        counts = await send_csv(
            sms, args.csv, args.journal, per_second=args.per_second, min_age=args.min_age
        )
    print(", ".join(f"{outcome}: {n}" for outcome, n in sorted(counts.items())))
    return 0 if counts.keys() <= {"sent", "already_sent"} else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        # Every row attempted has its record in the journal; run again to go on.
        print("interrupted: run again to go on (nothing is sent twice)", file=sys.stderr)
        sys.exit(130)
