"""The journal of ``devsms bulk``: what was attempted and what came of it, on disk.

A JSON Lines file beside the CSV (``FILE.csv.devsms-journal.jsonl``), append-only.
Each record is written and ``fsync``'d before the run goes on, so the file survives a
crash, a ``kill -9`` or a power cut as far as the disk keeps its promises:

* ``{"row": 7, "hash": "…", "state": "attempting", "at": "…"}`` is durable **before**
  the send of row 7 starts;
* ``"done"`` (with ``sms_id``, ``request_id``, ``parts``, ``cost``), ``"failed"``
  (provably not sent: refused by the API, or never connected; with ``error``) or
  ``"unknown"`` (may have been sent; with ``error``) is written when it ends.

The first line is a header (``{"journal": "devsms-bulk", "version": 1, ...}``). Rows
are keyed by their number in the CSV *and* a hash of what would be sent (phone,
text, sender), so a CSV edited between two runs is detected rather than trusted. The
journal holds no phone numbers or texts. A run holds an exclusive lock on it, so two
runs cannot send the same file at once; the lock dies with the process.

Records from concurrent sends are written in groups: one ``write`` + ``fsync`` (in a
worker thread) covers every record queued while the previous one was in progress.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    import anyio

JOURNAL_SUFFIX = ".devsms-journal.jsonl"
FORMAT = "devsms-bulk"
VERSION = 1

State = Literal["attempting", "done", "failed", "unknown"]
STATES: frozenset[str] = frozenset({"attempting", "done", "failed", "unknown"})


class JournalError(Exception):
    """The journal cannot be used: corrupt, locked by another run, for another CSV, or
    the disk refused a write."""


def default_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + JOURNAL_SUFFIX)


def content_hash(phone: str, message: str, sender: str | None) -> str:
    """A short hash of what a row sends (phone, text, sender)."""
    data = "\x1f".join((phone, message, sender or "")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@attrs.frozen
class Entry:
    """The last record of one row."""

    row: int
    hash: str
    state: State
    at: str
    sms_id: int | None = None
    error: str | None = None


def read_entries(path: Path) -> tuple[dict[int, Entry], int]:
    """The last entry per row and the byte length of the complete records.

    A final line without its newline is a record cut short by a crash: its write never
    finished, so it never counted (an ``attempting`` record is durable before a send
    starts, never after); it is ignored. Any other bad line is an error.
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    lines = data[:end].splitlines()
    entries: dict[int, Entry] = {}
    if not lines:
        return entries, end
    _check_header(path, lines[0])
    for number, raw in enumerate(lines[1:], start=2):
        entry = _parse_entry(path, number, raw)
        entries[entry.row] = entry
    return entries, end


def _check_header(path: Path, raw: bytes) -> None:
    try:
        header = json.loads(raw)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("journal") != FORMAT:
        raise JournalError(f"{path} is not a devsms bulk journal (line 1)")
    if header.get("version") != VERSION:
        raise JournalError(
            f"{path} has journal version {header.get('version')!r}; this devsms reads {VERSION}"
        )


def _parse_entry(path: Path, number: int, raw: bytes) -> Entry:
    try:
        rec = json.loads(raw)
        row, digest, state, at = rec["row"], rec["hash"], rec["state"], rec["at"]
        sms_id, error = rec.get("sms_id"), rec.get("error")
        ok = (
            type(row) is int
            and row >= 1
            and isinstance(digest, str)
            and state in STATES
            and isinstance(at, str)
            and _is_timestamp(at)
            and (sms_id is None or type(sms_id) is int)
            and (error is None or isinstance(error, str))
        )
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise JournalError(f"{path} line {number} is not a valid journal record")
    return Entry(row, digest, state, at, sms_id, error)


def _is_timestamp(text: str) -> bool:
    try:
        _dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


class Journal:
    """An open, locked journal. Create it with ``open``; ``append`` records."""

    def __init__(self, path: Path, file: IO[bytes], entries: dict[int, Entry]) -> None:
        self.path = path
        self.entries = entries
        """The last entry per row, as read at open time (not updated by appends)."""
        self._file = file
        self._pending: list[bytes] = []
        self._queued = 0
        self._durable = 0
        self._flushing = False
        self._flushed: anyio.Event | None = None  # made in the running loop
        self._error: BaseException | None = None

    @classmethod
    def open(cls, path: Path, *, csv_name: str) -> Journal:
        """Open (or create) and lock the journal at ``path``."""
        created = not path.exists()
        file = open(path, "a+b")  # noqa: SIM115 - owned by the Journal, closed by close()
        try:
            _lock(file, path)
            entries, complete = read_entries(path)
            if file.seek(0, os.SEEK_END) != complete:
                file.truncate(complete)  # drop a record cut short by a crash
            if complete == 0:
                header = {
                    "journal": FORMAT,
                    "version": VERSION,
                    "csv": csv_name,
                    "created_at": utc_now(),
                }
                _write_all(file, _encode(header))
                if created:
                    _fsync_dir(path.parent)
        except BaseException:
            file.close()
            raise
        return cls(path, file, entries)

    def close(self) -> None:
        self._file.close()  # also releases the lock

    async def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record``; it is on disk (fsync'd) when this returns."""
        import anyio

        if self._flushed is None:
            self._flushed = anyio.Event()
        self._pending.append(_encode(record))
        self._queued += 1
        mine = self._queued
        while self._durable < mine:
            if self._error is not None:
                raise JournalError(f"cannot write {self.path}: {self._error}") from self._error
            if self._flushing:
                await self._flushed.wait()
                continue
            await self._flush()

    async def _flush(self) -> None:
        import anyio

        assert self._flushed is not None
        self._flushing = True
        batch, self._pending = b"".join(self._pending), []
        upto = self._queued
        try:
            # Not abandoned on cancellation: the thread always finishes, so we always
            # know whether the batch reached the disk.
            await anyio.to_thread.run_sync(self._write_sync, batch)
        except OSError as exc:
            self._error = exc
        else:
            self._durable = upto
        finally:
            self._flushing = False
            done, self._flushed = self._flushed, anyio.Event()
            done.set()

    def _write_sync(self, data: bytes) -> None:
        _write_all(self._file, data)


def _encode(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _write_all(file: IO[bytes], data: bytes) -> None:
    file.write(data)
    file.flush()
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
        raise JournalError(
            f"{path} is in use by another `devsms bulk` run; wait for it to finish"
        ) from None
