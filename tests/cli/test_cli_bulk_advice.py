"""The bulk summary's advice for rows in doubt: the command that settles them at once
(``--reconcile``, with this job's file and journal) comes first; ``--retry-unknown`` only
after checking."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import anyio

from devsms_async._journal import content_hash
from devsms_async.bulk import FileJournal, JournalEntry
from support.cli import Served, devsms, write_csv

ROWS = [("998901234567", "Salom"), ("998911234568", "Rahmat")]


def _row_one_in_doubt(journal: Path) -> None:
    async def write() -> None:
        with FileJournal(journal, name="job.csv") as j:
            await j.write(
                JournalEntry(index=0, hash=content_hash(*ROWS[0], None), state="attempting")
            )

    anyio.run(write)


def test_the_summary_offers_reconcile_first_with_the_exact_command(
    served: Served, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "job.csv", ROWS)
    journal = tmp_path / "my journal.jsonl"
    _row_one_in_doubt(journal)

    result = devsms(*served.args("bulk", str(data), "--yes", "--journal", str(journal)))

    assert result.returncode == 3, result.stderr
    out = result.stdout
    assert out.index("--reconcile") < out.index("--retry-unknown")
    [command] = [line.strip() for line in out.splitlines() if line.strip().startswith("devsms ")]
    words = shlex.split(command)
    assert words[-1] == "--reconcile"
    assert words[words.index("--journal") + 1] == str(journal)
    assert str(data) in words

    as_json = devsms(
        *served.args("bulk", str(data), "--yes", "--journal", str(journal), "-f", "json")
    )
    assert json.loads(as_json.stdout)["recover"] == command
