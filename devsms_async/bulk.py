"""Bulk sending: messages, results, the CSV reader, and the journals that make each
send at most once.

The public home of the bulk names (``from devsms_async.bulk import BulkMessage,
FileJournal``); ``send_bulk`` and ``stream_bulk`` are methods of the clients. Nothing
here imports a database driver: ``PostgresJournal`` loads psycopg when it is opened.
See docs/bulk.md.
"""

from __future__ import annotations

from ._bulk import (
    DEFAULT_CONCURRENCY,
    BulkCallbackError,
    BulkItem,
    BulkStream,
    JournalReconcileResult,
)
from ._csvread import CsvRow, read_csv
from ._journal import FileJournal, Journal, JournalError
from ._pgjournal import SCHEMA_VERSION, PostgresJournal
from .models import (
    AnyBulkResult,
    BulkFailed,
    BulkMessage,
    BulkOutcome,
    BulkResult,
    BulkSent,
    BulkSkipped,
    BulkUnknown,
    JournalEntry,
    JournalState,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "SCHEMA_VERSION",
    "AnyBulkResult",
    "BulkCallbackError",
    "BulkFailed",
    "BulkItem",
    "BulkMessage",
    "BulkOutcome",
    "BulkResult",
    "BulkSent",
    "BulkSkipped",
    "BulkStream",
    "BulkUnknown",
    "CsvRow",
    "FileJournal",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalReconcileResult",
    "JournalState",
    "PostgresJournal",
    "read_csv",
]
