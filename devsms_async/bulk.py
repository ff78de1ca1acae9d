"""Bulk sending: messages, results, and the journals that make each send at most once.

The public home of the bulk names (``from devsms_async.bulk import PostgresJournal``);
the ones that ``devsms_async`` itself exports stay importable from there too. Nothing
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
from ._journal import FileJournal, Journal, JournalEntry, JournalError, JournalState
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
    "FileJournal",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalReconcileResult",
    "JournalState",
    "PostgresJournal",
]
