"""The write-ahead journal of a bulk job: what was attempted and what came of it.

``stream_bulk(..., journal=...)`` records, for each message (known by its ``key``, or
else by its index ``i`` in the input):

* a *claim*, an ``attempting`` entry durable **before** the request starts, made only if
  the message may be sent (``claimable``: never attempted, or provably not sent);
* its outcome when it ends: ``sent`` (with ``sms_id``), ``failed`` (provably not sent),
  ``unknown`` (may have been sent) or ``not_started`` — the ``BulkOutcome`` values.

Run again with the same journal, the job resumes: ``sent`` is never sent again,
``attempting``/``unknown`` (in doubt) are not re-sent unless asked, ``failed`` and
``not_started`` are sent again. A message whose content differs from its entry (another
job's journal, an edited input) stops the job, never trusted.

``Journal`` is the protocol the engine needs; ``FileJournal`` keeps it in a
JSON Lines file, ``fsync``'d per group of records, locked for one run at a time (its
claims are local: one process holds the file); ``PostgresJournal`` (``_pgjournal``)
shares one job between processes.

Why JSON Lines and not SQLite: the engine needs exactly two things, "durable on
return" and "the last entry per message", which an append-only file gives with one
``write`` + ``fsync`` per group of concurrent records (a SQLite commit costs the same
fsyncs, and its own locks are per transaction, not per run, so a lock file would be
needed anyway). A line cut short by a crash is detectable and dropped, the file can be
read with ``tail``, and journals of ``devsms bulk`` 0.1 keep working.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeAlias, get_args

from ._closing import Closing
from ._fork import ForkGuard
from .errors import JournalError, UsageError
from .models import JournalEntry, JournalState

if TYPE_CHECKING:
    import anyio

__all__ = ["FileJournal", "Journal", "JournalError", "claimable", "content_hash"]

FORMAT = "devsms-bulk"
VERSION = 2
"""2: outcome states are the ``BulkOutcome`` values (version 1 wrote ``done`` for
``sent``; it is still read)."""

STATES: frozenset[str] = frozenset(get_args(JournalState))


def content_hash(phone: str, message: str, sender: str | None) -> str:
    """A short hash of what a message sends (number, text, sender): no secret in it."""
    data = "\x1f".join((phone, message, sender or "")).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:16]


Ident: TypeAlias = "int | str"
"""How a journal knows a message: its ``key`` when it has one, else its index."""


def claimable(current: JournalEntry | None, claim: JournalEntry, *, takeover: bool) -> bool:
    """May ``claim`` (``attempting``) replace ``current``, the message's last entry?

    Yes for a message never attempted, or provably not sent (``failed``,
    ``not_started``) with the same content; in doubt only with ``takeover``
    (``resend_in_doubt=True``); never once ``sent`` or for other content.
    """
    if current is None:
        return True
    if current.hash != claim.hash:
        return False
    return current.state in ("failed", "not_started") or (takeover and current.in_doubt)


class Journal(Protocol):
    """What ``stream_bulk(journal=...)`` needs from a journal (``FileJournal``,
    ``PostgresJournal``, or your own).

    Every method that returns has made its write durable (fsync'd, committed); one
    that raises must raise ``JournalError``, and the engine then treats the message as
    possibly claimed, never as free to send.
    """

    async def claim(self, entry: JournalEntry, *, takeover: bool = False) -> JournalEntry | None:
        """Record ``entry`` (state ``attempting``) if ``claimable`` from the message's
        last entry, atomically: ``None`` when this caller now holds the message, else
        the entry that stands (sent, held by another worker, other content ...)."""
        ...

    async def write(self, entry: JournalEntry) -> None:
        """Record an outcome (or ``reconcile_journal``'s verdict) for a claimed message."""
        ...

    async def stored(self, *, in_doubt: bool = False) -> list[JournalEntry]:
        """The last entry of every message of the job (only those in doubt, if asked)."""
        ...

    async def counts(self) -> dict[str, int]:
        """``{state: number of messages}`` for the whole job, every state present."""
        ...


def _encode(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _to_record(entry: JournalEntry) -> dict[str, Any]:
    record: dict[str, Any] = {
        "row": entry.index + 1,
        "hash": entry.hash,
        "state": entry.state,
        "at": entry.at.isoformat(timespec="milliseconds"),
    }
    for name in ("sms_id", "cost", "error"):
        value = getattr(entry, name)
        if value is not None:
            record[name] = str(value) if isinstance(value, Decimal) else value
    if entry.reconciled:
        record["reconciled"] = True
    if entry.key is not None:
        record["key"] = entry.key
    return record


class FileJournal(Closing):
    """A ``Journal`` in a JSON Lines file, locked while open.

    ``FileJournal(path)`` opens (or creates) the file and takes an exclusive lock on
    it (``JournalError`` if another process holds it; the lock dies with the process).
    Use it as a context manager, or call ``close``:

    ```python
    with FileJournal("job.journal.jsonl") as journal:
        results = await sms.send_bulk(messages, journal=journal)
    ```

    The journal holds no phone number or text: an index, a hash, a state, a time.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.path = Path(path)
        try:
            created = not self.path.exists()
            # Unbuffered: a write the disk refused leaves nothing behind in a buffer for
            # close() to retry (and fail on again, replacing the job's own error).
            file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise JournalError(
                f"cannot open the journal {self.path}: {exc.strerror or exc}",
                path=str(self.path),
            ) from exc
        try:
            _lock(file, self.path)
            entries, complete = read_entries(self.path)
            if file.seek(0, os.SEEK_END) != complete:
                file.truncate(complete)  # drop a record cut short by a crash
            if complete == 0:
                header: dict[str, Any] = {"journal": FORMAT, "version": VERSION}
                if name is not None:
                    header["csv"] = name
                header["created_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(
                    timespec="milliseconds"
                )
                _write_all(file, _encode(header))
                if created:
                    _fsync_dir(self.path.parent)
        except OSError as exc:
            file.close()
            raise JournalError(
                f"cannot use the journal {self.path}: {exc.strerror or exc}",
                path=str(self.path),
            ) from exc
        except BaseException:
            file.close()
            raise
        self._file = file
        self._guard = ForkGuard()
        self._entries: dict[Ident, JournalEntry] = entries
        self._pending: list[bytes] = []
        self._staged: list[JournalEntry] = []
        self._queued = 0
        self._durable = 0
        self._flushing = False
        self._flushed: anyio.Event | None = None  # made in the running loop
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        state = "closed" if self._file.closed else f"{len(self._entries)} entries"
        return f"<FileJournal {str(self.path)!r} {state}>"

    def entries(self) -> Mapping[Ident, JournalEntry]:
        """The last entry of every message, by ``ident`` (key, else index)."""
        return self._entries

    async def claim(self, entry: JournalEntry, *, takeover: bool = False) -> JournalEntry | None:
        """Write ``attempting`` for ``entry`` if the message may be sent (one process
        holds the file, so the check and the write cannot race with another run)."""
        current = self._entries.get(entry.ident)
        if not claimable(current, entry, takeover=takeover):
            return current
        await self.write(entry)
        return None

    async def stored(self, *, in_doubt: bool = False) -> list[JournalEntry]:
        return [e for e in self._entries.values() if e.in_doubt or not in_doubt]

    async def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(sorted(STATES), 0)
        for entry in self._entries.values():
            counts[entry.state] += 1
        return counts

    def close(self) -> None:
        """Close the file (which releases the lock). Idempotent.

        Never raises after a failed write (that failure was the job's error already);
        otherwise a failure to close is a ``JournalError``.
        """
        try:
            self._file.close()
        except OSError as exc:
            if self._error is None:
                raise JournalError(
                    f"cannot close the journal {self.path}: {exc.strerror or exc}",
                    path=str(self.path),
                ) from exc

    async def write(self, entry: JournalEntry) -> None:
        """Append ``entry``; it is on disk (fsync'd) when this returns.

        Records written while a flush is running are grouped into the next one: one
        ``write`` + ``fsync`` (in a worker thread) per group.
        """
        import anyio

        if self._file.closed:
            raise JournalError(f"{self.path} is closed")
        if self._guard.forked():
            # The child shares the parent's file and lock: two writers, one journal.
            raise UsageError(
                f"this FileJournal was opened in process {self._guard.pid}, and this is a forked "
                "child: the parent's journal (and its lock) is not the child's. Open the "
                "journal in the process that runs the job"
            )
        if self._flushed is None:
            self._flushed = anyio.Event()
        self._pending.append(_encode(_to_record(entry)))
        self._staged.append(entry)
        self._queued += 1
        mine = self._queued
        while self._durable < mine:
            if self._error is not None:
                reason = getattr(self._error, "strerror", None) or self._error
                raise JournalError(
                    f"cannot write the journal {self.path}: {reason}", path=str(self.path)
                ) from self._error
            if self._flushing:
                await self._flushed.wait()
                continue
            await self._flush()

    async def _flush(self) -> None:
        import anyio

        assert self._flushed is not None
        self._flushing = True
        batch, self._pending = b"".join(self._pending), []
        staged, self._staged = self._staged, []
        upto = self._queued
        try:
            # Not abandoned on cancellation: the thread always finishes, so we always
            # know whether the batch reached the disk.
            await anyio.to_thread.run_sync(self._write_sync, batch)
        except OSError as exc:
            self._error = exc
        else:
            self._durable = upto
            for entry in staged:
                self._entries[entry.ident] = entry
        finally:
            self._flushing = False
            done, self._flushed = self._flushed, anyio.Event()
            done.set()

    def _write_sync(self, data: bytes) -> None:
        _write_all(self._file, data)


def read_entries(path: Path) -> tuple[dict[Ident, JournalEntry], int]:
    """The last entry per message and the byte length of the complete records.

    A final line without its newline is a record cut short by a crash: its write never
    finished, so it never counted (an ``attempting`` record is durable before a send
    starts, never after); it is ignored. Any other bad line is an error.
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    lines = data[:end].splitlines()
    entries: dict[Ident, JournalEntry] = {}
    if not lines:
        return entries, end
    version = _check_header(path, lines[0])
    for number, raw in enumerate(lines[1:], start=2):
        entry = _parse_entry(path, number, raw, version)
        entries[entry.ident] = entry
    return entries, end


def _check_header(path: Path, raw: bytes) -> int:
    try:
        header = json.loads(raw)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("journal") != FORMAT:
        raise JournalError(f"{path} is not a devsms bulk journal (line 1)")
    version = header.get("version")
    if version not in (1, VERSION):
        raise JournalError(
            f"{path} has journal version {version!r}; this devsms reads 1 and {VERSION}"
        )
    return int(version)


def _cost(value: object) -> Decimal | None:
    """A journaled cost: a decimal string (v2) or an int (older files)."""
    if value is None:
        return None
    if type(value) is int:
        return Decimal(value)
    if isinstance(value, str):
        cost = Decimal(value)  # InvalidOperation is a ValueError: a bad record
        if cost.is_finite():
            return cost
    raise ValueError("not a cost")


def _parse_entry(path: Path, number: int, raw: bytes, version: int) -> JournalEntry:
    try:
        rec = json.loads(raw)
        row, digest, state, at = rec["row"], rec["hash"], rec["state"], rec["at"]
        if version == 1 and state == "done":
            state = "sent"
        sms_id, cost, error = rec.get("sms_id"), rec.get("cost"), rec.get("error")
        reconciled = rec.get("reconciled", False)
        key = rec.get("key")
        when = _timestamp(at)
        cost = _cost(cost)
        ok = (
            type(row) is int
            and row >= 1
            and isinstance(digest, str)
            and state in STATES
            and when is not None
            and (sms_id is None or type(sms_id) is int)
            and (error is None or isinstance(error, str))
            and isinstance(reconciled, bool)
            and (key is None or isinstance(key, str))
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise JournalError(f"{path} line {number} is not a valid journal record")
    assert when is not None
    return JournalEntry(
        index=row - 1,
        hash=digest,
        state=state,
        at=when,
        sms_id=sms_id,
        cost=cost,
        error=error,
        reconciled=reconciled,
        key=key,
    )


def _timestamp(text: object) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def _write_all(file: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:  # an unbuffered write may be short (a nearly full disk)
        written = file.write(view)
        if not written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
    os.fsync(file.fileno())


def _fsync_dir(directory: Path) -> None:
    # Makes the new file's directory entry durable too (POSIX; a no-op elsewhere).
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(file: IO[bytes], path: Path) -> None:
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            file.seek(0)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise JournalError(f"{path} is in use by another bulk run; wait for it to finish") from None
