"""``PostgresJournal``: one bulk job shared by any number of processes and machines.

Every worker runs the whole input through ``stream_bulk(journal=...)``; the journal
decides which worker sends which message. Before a send, the worker *claims* the
message: one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` statement, committed before
the request starts, that succeeds only if the message has no entry yet or its entry
proves it unsent (``failed``, ``not_started``) with the same content. PostgreSQL
takes the row's lock for the statement, so of two workers claiming at once exactly one
wins; the other gets the standing entry back and does not send (``CLAIMED_ELSEWHERE``,
``ALREADY_SENT``). A claim whose commit cannot be confirmed (the connection lost during
the statement) stops the job without sending: the message stays ``attempting`` at
worst, in doubt until ``reconcile_journal`` settles it. So a message is sent at most
once; it is sent at least once only after every doubt is settled and a run finishes.

Driver: psycopg 3's *synchronous* API with its connection pool, each statement in a
worker thread (``anyio.to_thread``). Why not psycopg's async API: it runs on asyncio
only, and the SDK claims anyio (asyncio and trio); a thread per statement costs tens
of microseconds against a network round trip, and a statement in a thread is never
abandoned on cancellation, so the engine always learns whether its claim committed.

Tables (created on first use under an advisory lock, or by ``devsms journal init``):
``devsms_schema`` (component, version) and ``devsms_journal`` (one row per message of
each job); see docs/bulk.md for the layout. A schema newer than this code knows is
refused, never written.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import anyio

from ._journal import STATES, JournalEntry, JournalError
from .errors import UsageError, ValidationError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

__all__ = ["SCHEMA_VERSION", "PostgresJournal", "init_schema"]

T = TypeVar("T")

SCHEMA_VERSION = 1
"""The version of the tables this code reads and writes (``devsms_schema``)."""

_LOCK = 0x64657673_6A6E6C  # pg_advisory_xact_lock key: "devsjnl"
MAX_JOB_LENGTH = 200

_CREATE = (
    """
    CREATE TABLE IF NOT EXISTS devsms_journal (
        job        text        NOT NULL,
        ident      text        NOT NULL,
        idx        integer     NOT NULL,
        msg_key    text,
        hash       text        NOT NULL,
        state      text        NOT NULL CHECK (state IN
                   ('attempting', 'sent', 'failed', 'unknown', 'not_started')),
        at         timestamptz NOT NULL,
        worker     text,
        sms_id     bigint,
        cost       numeric,
        error      text,
        reconciled boolean     NOT NULL DEFAULT false,
        claims     integer     NOT NULL DEFAULT 1,
        PRIMARY KEY (job, ident)
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS devsms_journal_in_doubt
        ON devsms_journal (job) WHERE state IN ('attempting', 'unknown')
    """,
)

_CLAIM = """
    INSERT INTO devsms_journal AS j (job, ident, idx, msg_key, hash, state, at, worker)
    VALUES (%(job)s, %(ident)s, %(idx)s, %(key)s, %(hash)s, 'attempting', %(at)s, %(worker)s)
    ON CONFLICT (job, ident) DO UPDATE
    SET idx = excluded.idx, state = 'attempting', at = excluded.at, worker = excluded.worker,
        sms_id = NULL, cost = NULL, error = NULL, reconciled = false, claims = j.claims + 1
    WHERE j.hash = excluded.hash
      AND (j.state IN ('failed', 'not_started')
           OR (%(takeover)s AND j.state IN ('attempting', 'unknown')))
    RETURNING 1
"""

_COLUMNS = "idx, msg_key, hash, state, at, worker, sms_id, cost, error, reconciled"

# One round trip for the common case: the claim, and the entry that stands if it fails.
# The outer SELECT reads the statement's snapshot: a row committed by another worker
# after it began is missed (then the caller reads it again). Constants only.
_CLAIM_OR_READ_SQL = f"""
    WITH claimed AS ({_CLAIM})
    SELECT (SELECT count(*) FROM claimed), {_COLUMNS}
    FROM (SELECT 1) AS one
    LEFT JOIN devsms_journal ON job = %(job)s AND ident = %(ident)s
"""  # noqa: S608

# An outcome is written only while this worker still holds the claim; a verdict of
# reconcile_journal only over an entry still in doubt.
_WRITE_OUTCOME = """
    UPDATE devsms_journal
    SET state = %(state)s, at = %(at)s, sms_id = %(sms_id)s, cost = %(cost)s,
        error = %(error)s, reconciled = false
    WHERE job = %(job)s AND ident = %(ident)s AND hash = %(hash)s
      AND worker = %(worker)s AND state = 'attempting'
"""
_WRITE_VERDICT = """
    UPDATE devsms_journal
    SET state = %(state)s, at = %(at)s, sms_id = %(sms_id)s, cost = %(cost)s,
        error = %(error)s, reconciled = true
    WHERE job = %(job)s AND ident = %(ident)s AND hash = %(hash)s
      AND state IN ('attempting', 'unknown')
"""


def _ident(entry: JournalEntry) -> str:
    return f"k:{entry.key}" if entry.key is not None else f"i:{entry.index}"


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    idx, key, digest, state, at, worker, sms_id, cost, error, reconciled = row
    return JournalEntry(
        index=idx,
        key=key,
        hash=digest,
        state=state,
        at=at,
        worker=worker,
        sms_id=sms_id,
        cost=Decimal(cost) if cost is not None else None,
        error=error,
        reconciled=reconciled,
    )


def _where(dsn: str) -> str:
    """The DSN without credentials or options: safe for messages and repr."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://…"
    return f"postgresql://{host}{port}{parts.path}"


def import_psycopg() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or a ``UsageError`` that names the extra to install."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise UsageError(
            "PostgresJournal needs psycopg 3 and psycopg-pool: pip install 'devsms-async[postgres]'"
        ) from exc
    return psycopg, psycopg_pool


def init_schema(connection: Connection[Any]) -> bool:
    """Create the tables if missing (under an advisory lock); ``True`` if created.

    Refuses (``JournalError``) a schema newer than ``SCHEMA_VERSION``.
    """
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS devsms_schema ("
            " component text PRIMARY KEY, version integer NOT NULL,"
            " installed_at timestamptz NOT NULL DEFAULT now())"
        )
        row = connection.execute(
            "SELECT version FROM devsms_schema WHERE component = 'journal'"
        ).fetchone()
        if row is not None:
            if row[0] > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal tables have schema version {row[0]}, made by a newer "
                    f"devsms-async; this one knows version {SCHEMA_VERSION}: upgrade "
                    "devsms-async on this machine (nothing was written)"
                )
            return False
        for statement in _CREATE:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO devsms_schema (component, version) VALUES ('journal', %s)",
            (SCHEMA_VERSION,),
        )
        return True


def check_job(job: object) -> str:
    if not isinstance(job, str) or not 1 <= len(job) <= MAX_JOB_LENGTH or not job.isprintable():
        raise ValidationError(
            "job", f"must be a str of 1-{MAX_JOB_LENGTH} printable characters (the job's name)"
        )
    return job


class PostgresJournal:
    """A ``Journal`` in PostgreSQL, shared by every process that opens the same ``job``.

    ```python
    async with PostgresJournal("postgresql://app@db/app", job="promo-2026-03") as journal:
        results = await sms.send_bulk(messages, journal=journal)
        print(await journal.counts())
    ```

    Start the same code with the same input on any number of machines: each message is
    claimed (committed ``attempting``, with this worker's host, pid and a random run
    id) before it is sent, so it is sent by at most one of them. A message another
    worker holds is ``CLAIMED_ELSEWHERE`` here, one it sent ``ALREADY_SENT``. A worker
    that dies mid-send leaves its message ``attempting``: in doubt, never sent again
    until ``sms.reconcile_journal(journal, messages)`` settles it from the history.

    Needs ``pip install 'devsms-async[postgres]'`` (psycopg 3, psycopg-pool; loaded on
    first use). ``pool_size`` caps the connections of this process; ``timeout``
    (seconds) bounds waiting for a connection. PostgreSQL down or restarted mid-job:
    the job stops with ``JournalError`` (never a psycopg exception, never a send
    without a committed claim) and can be resumed. Open it in the process that uses
    it: after ``fork()`` the child gets ``UsageError`` and opens its own.
    """

    def __init__(self, dsn: str, *, job: str, pool_size: int = 10, timeout: float = 10.0) -> None:
        checked: object = dsn  # checked at run time, whatever the annotation says
        if not isinstance(checked, str) or urlsplit(dsn).scheme not in ("postgresql", "postgres"):
            raise ValidationError("dsn", "must be a postgresql:// (or postgres://) URL")
        self.job = check_job(job)
        size: object = pool_size
        if isinstance(size, bool) or not isinstance(size, int) or pool_size < 1:
            raise ValidationError("pool_size", f"must be an int >= 1, got {pool_size!r}")
        limit: object = timeout
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not timeout > 0:
            raise ValidationError("timeout", f"must be a positive number, got {timeout!r}")
        self._dsn = dsn
        self.path = _where(dsn)
        """Where the journal is, without credentials (for messages)."""
        self._pool_size = pool_size
        self._timeout = float(timeout)
        self._pool: ConnectionPool[Any] | None = None
        self._pid: int | None = None
        self.worker = ""
        """This process's identity in its claims: ``host:pid:run-id`` (set on entry)."""

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<PostgresJournal {self.path} job={self.job!r} {state}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> PostgresJournal:
        if self._pool is not None:
            raise UsageError("this PostgresJournal is open already")
        psycopg, psycopg_pool = import_psycopg()
        pool = psycopg_pool.ConnectionPool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            timeout=self._timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(self._timeout))},
            check=psycopg_pool.ConnectionPool.check_connection,
            name="devsms-journal",
        )
        self._pid = os.getpid()
        self.worker = f"{socket.gethostname()}:{self._pid}:{secrets.token_hex(4)}"
        try:
            await anyio.to_thread.run_sync(lambda: pool.open(wait=True, timeout=self._timeout))
            self._pool = pool
            await self._run(init_schema)
        except psycopg.Error as exc:
            await self._discard(pool)
            raise self._error("cannot open the journal", exc) from exc
        except BaseException:
            await self._discard(pool)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _discard(self, pool: ConnectionPool[Any]) -> None:
        self._pool = None
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(pool.close)

    async def aclose(self) -> None:
        """Close the connections (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pool.close)

    # -- the Journal protocol ------------------------------------------------------------

    async def claim(self, entry: JournalEntry, *, takeover: bool = False) -> JournalEntry | None:
        """Claim ``entry``'s message (committed ``attempting``) if it may be sent."""
        params = {
            "job": self.job,
            "ident": _ident(entry),
            "idx": entry.index,
            "key": entry.key,
            "hash": entry.hash,
            "at": entry.at,
            "worker": self.worker,
            "takeover": takeover,
        }

        def claim(connection: Connection[Any]) -> JournalEntry | None:
            first = connection.execute(_CLAIM_OR_READ_SQL, params).fetchone()
            assert first is not None
            if first[0]:
                return None
            if first[3] is not None:  # hash: the row that stands
                return _entry(first[1:])
            for _ in range(3):
                if connection.execute(_CLAIM, params).fetchone() is not None:
                    return None
                row = connection.execute(
                    f"SELECT {_COLUMNS} FROM devsms_journal WHERE job = %s AND ident = %s",  # noqa: S608 - constants
                    (self.job, params["ident"]),
                ).fetchone()
                if row is not None:
                    return _entry(row)
                # Deleted in between (by hand): claim again.
            raise JournalError(f"{self.path}: the entry of message {entry.ident!r} keeps changing")

        return await self._run(claim)

    async def write(self, entry: JournalEntry) -> None:
        """Record this worker's outcome of a message it claimed, or a reconcile verdict."""
        params = {
            "job": self.job,
            "ident": _ident(entry),
            "hash": entry.hash,
            "state": entry.state,
            "at": entry.at,
            "sms_id": entry.sms_id,
            "cost": entry.cost,
            "error": entry.error,
            "worker": self.worker,
        }
        sql = _WRITE_VERDICT if entry.reconciled else _WRITE_OUTCOME

        def write(connection: Connection[Any]) -> None:
            connection.execute(sql, params)

        await self._run(write)

    async def stored(self, *, in_doubt: bool = False) -> list[JournalEntry]:
        """Every message's entry of this job (only those in doubt, if asked)."""
        where = " AND state IN ('attempting', 'unknown')" if in_doubt else ""

        def stored(connection: Connection[Any]) -> list[JournalEntry]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM devsms_journal WHERE job = %s{where}",  # noqa: S608
                (self.job,),
            )
            return [_entry(row) for row in rows]

        return await self._run(stored)

    async def counts(self) -> dict[str, int]:
        """``{state: messages}`` for the whole job (all workers), every state present."""

        def counts(connection: Connection[Any]) -> dict[str, int]:
            rows = connection.execute(
                "SELECT state, count(*) FROM devsms_journal WHERE job = %s GROUP BY state",
                (self.job,),
            )
            found = dict.fromkeys(sorted(STATES), 0)
            found.update({state: int(n) for state, n in rows})
            return found

        return await self._run(counts)

    # -- plumbing ------------------------------------------------------------------------

    async def _run(self, operation: Callable[[Connection[Any]], T]) -> T:
        """``operation(connection)`` in a worker thread; psycopg's errors as JournalError."""
        pool = self._pool
        if pool is None:
            raise UsageError("use the journal inside `async with PostgresJournal(...) as journal:`")
        if self._pid != os.getpid():
            raise UsageError(
                f"this PostgresJournal was opened in process {self._pid}, and this is a "
                "forked child: its connections belong to the parent. Open a new "
                "PostgresJournal in the child"
            )
        psycopg, _ = import_psycopg()

        def run() -> T:
            with pool.connection() as connection:
                return operation(connection)

        try:
            # Never abandoned on cancellation: the statement's result is always known.
            return await anyio.to_thread.run_sync(run)
        except psycopg.Error as exc:
            raise self._error("the journal failed", exc) from exc

    def _error(self, what: str, exc: BaseException) -> JournalError:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        return JournalError(
            f"{what} ({self.path}, job {self.job!r}): PostgreSQL: {type(exc).__name__}: {detail}",
            path=self.path,
        )
