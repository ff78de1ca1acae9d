"""Where ``devsms bulk`` keeps its journal: the library's ``FileJournal`` beside the CSV.

The journal itself (write-ahead, fsync'd, locked, resumable) is
``devsms_async.bulk.FileJournal``; only the default path is the CLI's own.
"""

from __future__ import annotations

from pathlib import Path

from .._journal import FileJournal, JournalError, content_hash, read_entries

__all__ = [
    "JOURNAL_SUFFIX",
    "FileJournal",
    "JournalError",
    "content_hash",
    "default_path",
    "read_entries",
]

JOURNAL_SUFFIX = ".devsms-journal.jsonl"


def default_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + JOURNAL_SUFFIX)
