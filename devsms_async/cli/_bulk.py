"""``devsms bulk FILE.csv``: read, check, estimate, confirm, send with a journal, report.

Resume rules (the journal is described in ``_journal``):

* a row whose last record is ``done`` is never sent again;
* ``attempting`` (the run died mid-send) or ``unknown`` (no answer proved it either
  way): never re-sent automatically; listed, with how to check. ``--retry-unknown``
  sends them again once you have checked that they did not go out;
* ``failed`` (refused by the API, or the connection never opened): sent again;
* a row whose content changed since the journal was written stops the run (edited
  CSV, or other ``--normalize``/``--sender``): nothing is sent.
"""

from __future__ import annotations

import csv
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._redact import mask_phone
from ..errors import AuthenticationError, DevSMSError, PermissionDeniedError, ValidationError
from . import _render
from ._journal import Entry, Journal, content_hash, utc_now
from ._runtime import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNKNOWN, CLIError

if TYPE_CHECKING:
    from rich.console import Console

    from .._client import AsyncDevSMS
    from ..models import BulkMessage, BulkResult
    from ..pricing import BulkEstimate

COLUMNS = ("phone", "message", "sender")
MAX_LISTED = 20
STOP_AFTER_CONSECUTIVE_ERRORS = 5


@attrs.frozen
class Row:
    """One CSV row, checked: what will be sent."""

    number: int
    """1-based number among the data rows (blank lines and the header not counted)."""
    line: int
    """Line in the file where the row starts."""
    phone: str
    message: str
    sender: str | None
    hash: str


@attrs.frozen
class RowError:
    number: int
    line: int
    message: str


# -- reading the CSV -------------------------------------------------------------------------


def load_rows(
    path: Path, *, default_sender: str | None, normalize: bool
) -> tuple[list[Row], list[RowError]]:
    """Read and check every row; nothing is sent here."""
    from .._validation import check_message, check_sender, normalize_phone
    from ..sms_parts import normalize_uzbek

    rows: list[Row] = []
    errors: list[RowError] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            for number, line, cells in _records(path, f):
                if "_columns" in cells:
                    errors.append(
                        RowError(number, line, f"expected the columns {cells['_columns']}")
                    )
                    continue
                try:
                    phone = normalize_phone(cells.get("phone", ""))
                    message = check_message(cells.get("message", ""))
                    if normalize:
                        message = normalize_uzbek(message)
                    sender = check_sender(cells.get("sender") or None) or default_sender
                except ValidationError as exc:
                    errors.append(RowError(number, line, str(exc)))
                    continue
                rows.append(
                    Row(number, line, phone, message, sender, content_hash(phone, message, sender))
                )
    except UnicodeDecodeError:
        raise CLIError(f"{path} is not UTF-8 text (save the CSV as UTF-8)") from None
    except csv.Error as exc:
        raise CLIError(f"{path}: not a readable CSV ({exc})") from None
    if not rows and not errors:
        raise CLIError(f"{path} has no rows to send (expected columns phone,message[,sender])")
    return rows, errors


def _records(path: Path, f: Any) -> Iterator[tuple[int, int, dict[str, str]]]:
    reader = csv.reader(f)
    columns: tuple[str, ...] | None = None
    number = 0
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        if not any(cell.strip() for cell in cells):
            continue
        if columns is None:
            names = tuple(cell.strip().lower() for cell in cells)
            if "phone" in names:
                columns = _header(path, line, names)
                continue
            columns = COLUMNS  # no header: phone,message[,sender]
        number += 1
        if len(cells) > len(columns) or len(cells) < 2:
            expected = ",".join(columns) if columns is not COLUMNS else "phone,message[,sender]"
            yield number, line, {"_columns": f"{expected}, got {len(cells)} cell(s)"}
            continue
        yield number, line, dict(zip(columns, cells, strict=False))


def _header(path: Path, line: int, names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise CLIError(
            f"{path} line {line}: unknown column(s) {', '.join(unknown)}; "
            "the columns are phone, message and optionally sender"
        )
    if "message" not in names:
        raise CLIError(f"{path} line {line}: the header has no 'message' column")
    if len(set(names)) != len(names):
        raise CLIError(f"{path} line {line}: a column is named twice")
    return names


# -- the plan ------------------------------------------------------------------------------


@attrs.define
class Plan:
    rows: list[Row]
    done: list[Row] = attrs.Factory(list)
    unknown: list[tuple[Row, Entry]] = attrs.Factory(list)
    retry: list[Row] = attrs.Factory(list)
    """Failed before, sent again now."""
    to_send: list[Row] = attrs.Factory(list)


def make_plan(rows: list[Row], entries: dict[int, Entry], *, retry_unknown: bool) -> Plan:
    by_number = {row.number: row for row in rows}
    changed = sorted(
        number
        for number, entry in entries.items()
        if number not in by_number or by_number[number].hash != entry.hash
    )
    if changed:
        listed = ", ".join(map(str, changed[:MAX_LISTED]))
        more = f" and {len(changed) - MAX_LISTED} more" if len(changed) > MAX_LISTED else ""
        raise CLIError(
            f"the CSV no longer matches its journal at row(s) {listed}{more} (edited file, or "
            "other --normalize/--sender): nothing was sent. Restore the file, or start a new "
            "job with --journal NEW_PATH (rows sent before would be sent again)"
        )
    plan = Plan(rows)
    for row in rows:
        entry = entries.get(row.number)
        if entry is None:
            plan.to_send.append(row)
        elif entry.state == "done":
            plan.done.append(row)
        elif entry.state == "failed":
            plan.retry.append(row)
            plan.to_send.append(row)
        elif retry_unknown:
            plan.to_send.append(row)
        else:
            plan.unknown.append((row, entry))
    return plan


# -- sending -------------------------------------------------------------------------------


@attrs.define
class Outcome:
    row: Row
    state: str  # done | failed | unknown
    sms_id: int | None = None
    cost: int = 0
    error: str | None = None


@attrs.define
class Run:
    outcomes: list[Outcome] = attrs.Factory(list)
    sent: int = 0
    bad: int = 0
    stopped_because: str | None = None
    interrupted: bool = False
    abandoned: bool = False
    balance: int | None = None

    @property
    def not_started(self) -> int:
        return sum(o.state == "failed" and o.error == NOT_STARTED for o in self.outcomes)


NOT_STARTED = "not started: the run stopped first"


class _Feed:
    """The rows as an async iterator for ``stream_bulk``.

    Each row's ``attempting`` record is on disk before the row is handed over, so
    before its send can start. A row whose record was written but which was never
    handed over (the job stopped while writing it) is kept in ``unhanded``: it was
    certainly not sent.
    """

    def __init__(self, rows: list[Row], journal: Journal, callback_url: str | None) -> None:
        self.rows = rows
        self.journal = journal
        self.callback_url = callback_url
        self.handed = 0
        self.unhanded: list[Row] = []

    def __aiter__(self) -> _Feed:
        return self

    async def __anext__(self) -> BulkMessage:
        from ..models import BulkMessage

        if self.handed >= len(self.rows):
            raise StopAsyncIteration
        row = self.rows[self.handed]
        try:
            await self.journal.append(_record(row, "attempting"))
        except BaseException:
            self.unhanded.append(row)
            raise
        self.handed += 1
        return BulkMessage(
            phone=row.phone, message=row.message, sender=row.sender, callback_url=self.callback_url
        )


def _record(row: Row, state: str, **extra: Any) -> dict[str, Any]:
    return {"row": row.number, "hash": row.hash, "state": state, "at": utc_now(), **extra}


class Sender:
    """Sends the planned rows through ``stream_bulk``, journaling each one.

    Ctrl-C once: no new send starts, the sends in flight finish and are journaled.
    Twice: the sends in flight are abandoned (journaled ``unknown``: they may have
    gone out). The run also stops by itself when the token is refused, or after
    ``STOP_AFTER_CONSECUTIVE_ERRORS`` results in a row that are not a success.
    """

    def __init__(
        self,
        sms: AsyncDevSMS,
        journal: Journal,
        *,
        concurrency: int,
        per_second: float | None,
        callback_url: str | None,
        on_result: Callable[[Run], object],
        err: Console,
    ) -> None:
        self.sms = sms
        self.journal = journal
        self.concurrency = concurrency
        self.per_second = per_second
        self.callback_url = callback_url
        self.on_result = on_result
        self.err = err
        self.run = Run()
        self._stopping = False
        self._consecutive_errors = 0

    def stop(self, reason: str) -> None:
        if not self._stopping:
            self._stopping = True
            self.run.stopped_because = reason

    async def send_all(self, rows: list[Row]) -> Run:
        import anyio

        feed = _Feed(rows, self.journal, self.callback_url)
        async with anyio.create_task_group() as watchers:
            job_scope = anyio.CancelScope()
            if sys.platform != "win32":
                watchers.start_soon(self._watch_interrupts, job_scope)
            stream = self.sms.stream_bulk(
                feed, concurrency=self.concurrency, per_second=self.per_second
            )
            with job_scope:
                async with stream as results:
                    async for result in results:
                        await self._record(rows[result.index], result)
                        if self._stopping:
                            break
            watchers.cancel_scope.cancel()
        # The rest is bookkeeping that must reach the disk whatever happens now.
        with anyio.CancelScope(shield=True):
            for result in stream.leftover:
                await self._record(rows[result.index], result)
            for row in feed.unhanded:
                await self._record_outcome(Outcome(row, "failed", error=NOT_STARTED))
        return self.run

    async def _watch_interrupts(self, job_scope: Any) -> None:
        import anyio

        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                self.run.interrupted = True
                if not self._stopping:
                    self.stop("interrupted (Ctrl-C)")
                    self.err.print(
                        "[yellow]Ctrl-C: no new sends; waiting for the ones in flight "
                        "(Ctrl-C again to abandon them)[/]"
                    )
                else:
                    self.run.abandoned = True
                    job_scope.cancel()
                    return

    async def _record(self, row: Row, result: BulkResult) -> None:
        from ..models import BulkOutcome

        outcome = result.outcome
        if outcome is BulkOutcome.SENT:
            assert result.result is not None
            self.run.balance = result.result.balance
            out = Outcome(row, "done", sms_id=result.result.sms_id, cost=result.result.total_cost)
        elif outcome is BulkOutcome.NOT_STARTED:
            out = Outcome(row, "failed", error=NOT_STARTED)
        else:
            assert result.error is not None
            error = _render_error(result.error)
            if outcome is BulkOutcome.UNKNOWN:
                out = Outcome(row, "unknown", error=error)
            else:
                out = Outcome(row, "failed", error=error)
                if isinstance(result.error, AuthenticationError | PermissionDeniedError):
                    self.stop(f"the API refused the token (HTTP {result.error.status_code})")
        await self._record_outcome(out)

    async def _record_outcome(self, out: Outcome) -> None:
        import anyio

        extra: dict[str, Any] = {}
        if out.sms_id is not None:
            extra = {"sms_id": out.sms_id, "cost": out.cost}
        if out.error is not None:
            extra["error"] = out.error
        # Once an answer is in, it must reach the journal even under a second Ctrl-C.
        with anyio.CancelScope(shield=True):
            await self.journal.append(_record(out.row, out.state, **extra))
        self.run.outcomes.append(out)
        if out.state == "done":
            self.run.sent += 1
            self._consecutive_errors = 0
        elif out.error != NOT_STARTED:
            self.run.bad += 1
            self._consecutive_errors += 1
            if self._consecutive_errors >= STOP_AFTER_CONSECUTIVE_ERRORS:
                self.stop(f"{STOP_AFTER_CONSECUTIVE_ERRORS} sends in a row did not succeed")
        self.on_result(self.run)


def _render_error(exc: DevSMSError) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


# -- reconciling ---------------------------------------------------------------------------

RECONCILE_MIN_AGE = 120.0
"""Seconds after an attempt before "not in the history" is taken as "not sent"."""


async def reconcile_unknown(
    sms: AsyncDevSMS, plan: Plan, journal: Journal, *, total_rows: int
) -> tuple[int, int]:
    """Look every unknown row up in the history (``sms.reconcile``).

    Found: journaled ``done`` (never sent again). Not found, with the search complete
    and the attempt older than ``RECONCILE_MIN_AGE``: journaled ``failed`` and sent in
    this run. Otherwise it stays unknown. Returns ``(found, not_sent)``.
    """
    import datetime as _dt

    from ..errors import SendOutcomeUnknownError

    found = not_sent = 0
    still: list[tuple[Row, Entry]] = []
    now = _dt.datetime.now(_dt.timezone.utc)
    window = min(max(200, 2 * total_rows), 20_000)
    for row, entry in plan.unknown:
        started = _dt.datetime.fromisoformat(entry.at)
        error = SendOutcomeUnknownError(
            "from the bulk journal",
            phone=row.phone,
            fingerprint="",
            started_at=started,
            text=row.message,
            key=sms._token.key,  # the error keeps keyed digests, never the text
        )
        result = await sms.reconcile(error, window=window)
        if result.record is not None:
            await journal.append(_record(row, "done", sms_id=result.record.id, reconciled=True))
            plan.done.append(row)
            found += 1
        elif result.complete and (now - started).total_seconds() >= RECONCILE_MIN_AGE:
            await journal.append(_record(row, "failed", error="not in the history (reconciled)"))
            plan.retry.append(row)
            plan.to_send.append(row)
            not_sent += 1
        else:
            still.append((row, entry))
    plan.to_send.sort(key=lambda r: r.number)
    plan.unknown = still
    return found, not_sent


# -- reporting -----------------------------------------------------------------------------


def estimate(
    rows: list[Row], *, account: Literal["local", "foreign"], uz_price: int
) -> BulkEstimate:
    from ..models import BulkMessage
    from ..pricing import estimate_bulk

    return estimate_bulk(
        (BulkMessage(phone=r.phone, message=r.message, sender=r.sender) for r in rows),
        account=account,
        uz_price=uz_price,
    )


def plan_summary(plan: Plan, est: BulkEstimate, balance: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rows": len(plan.rows),
        "already_sent": len(plan.done),
        "unknown": len(plan.unknown),
        "retrying_failed": len(plan.retry),
        "to_send": len(plan.to_send),
        "estimate": {
            "messages": est.messages,
            "parts": est.parts,
            "cost": est.total,
            "by_country": {
                iso: {"messages": t.messages, "parts": t.parts, "cost": t.cost}
                for iso, t in est.by_country.items()
            },
        },
    }
    if balance is not None:
        data["balance"] = balance
    return data


def unknown_rows(plan: Plan, run: Run) -> list[dict[str, Any]]:
    """Rows left unknown by an earlier run (``since``) or by this one (``error``)."""
    items = [
        {"row": row.number, "line": row.line, "phone": mask_phone(row.phone), "since": entry.at}
        for row, entry in plan.unknown
    ]
    items += [
        {
            "row": o.row.number,
            "line": o.row.line,
            "phone": mask_phone(o.row.phone),
            "error": o.error,
        }
        for o in run.outcomes
        if o.state == "unknown"
    ]
    return sorted(items, key=lambda item: item["row"])


def run_summary(plan: Plan, run: Run, journal: Path) -> dict[str, Any]:
    count = {"done": 0, "failed": 0, "unknown": 0}
    for o in run.outcomes:
        if o.error != NOT_STARTED:
            count[o.state] += 1
    not_started = run.not_started + (len(plan.to_send) - len(run.outcomes))
    return {
        "rows": len(plan.rows),
        "already_sent": len(plan.done),
        "sent": count["done"],
        "failed": count["failed"],
        "unknown": count["unknown"] + len(plan.unknown),
        "not_started": not_started,
        "cost": sum(o.cost for o in run.outcomes),
        "balance": run.balance,
        "stopped_because": run.stopped_because,
        "journal": str(journal),
        "failed_rows": [
            {
                "row": o.row.number,
                "line": o.row.line,
                "phone": mask_phone(o.row.phone),
                "error": o.error,
            }
            for o in sorted(run.outcomes, key=lambda o: o.row.number)
            if o.state == "failed" and o.error != NOT_STARTED
        ],
        "unknown_rows": unknown_rows(plan, run),
    }


def exit_code(summary: dict[str, Any], run: Run) -> int:
    if run.interrupted:
        return EXIT_INTERRUPTED
    if summary["unknown"]:
        return EXIT_UNKNOWN
    if summary["failed"] or summary["not_started"]:
        return EXIT_ERROR
    return EXIT_OK


def print_plan(out: Console, data: dict[str, Any], path: Path) -> None:
    rows: list[tuple[str, Any]] = [
        ("file", _render._escape(str(path))),
        ("rows", str(data["rows"])),
    ]
    if data["already_sent"]:
        rows.append(("already sent", f"{data['already_sent']} (skipped)"))
    if data["unknown"]:
        rows.append(("outcome unknown", f"[magenta]{data['unknown']}[/] (not sent again)"))
    if data["retrying_failed"]:
        rows.append(("failed before", f"{data['retrying_failed']} (sent again)"))
    rows.append(("to send", f"[bold]{data['to_send']}[/]"))
    est = data["estimate"]
    if data["to_send"]:
        countries = ", ".join(
            f"{iso} {c['messages']}" for iso, c in list(est["by_country"].items())[:6]
        )
        rows.append(("parts", f"{est['parts']}  ({countries})"))
        rows.append(("estimated cost", f"[bold]{_render.money(est['cost'])}[/]"))
    if "balance" in data:
        note = ""
        if est["cost"] > data["balance"]:
            note = "  [red]not enough for all of them[/]"
        rows.append(("balance", _render.money(data["balance"]) + note))
    out.print(_render.key_values("Bulk send", rows))


def print_summary(out: Console, data: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = [("rows", str(data["rows"]))]
    if data["already_sent"]:
        rows.append(("sent before", str(data["already_sent"])))
    rows.append(("sent now", f"[green]{data['sent']}[/]"))
    if data["failed"]:
        rows.append(("failed", f"[red]{data['failed']}[/] (not sent; a re-run retries them)"))
    if data["unknown"]:
        rows.append(("outcome unknown", f"[magenta]{data['unknown']}[/] (never re-sent by itself)"))
    if data["not_started"]:
        rows.append(("not started", f"{data['not_started']} (a re-run sends them)"))
    rows.append(("cost", _render.money(data["cost"])))
    if data["balance"] is not None:
        rows.append(("balance", _render.money(data["balance"])))
    if data["stopped_because"]:
        rows.append(("stopped", f"[yellow]{data['stopped_because']}[/]"))
    rows.append(("journal", _render._escape(data["journal"])))
    out.print(_render.key_values("Summary", rows))
    for item in data["failed_rows"][:MAX_LISTED]:
        out.print(
            f"  [red]failed[/]  row {item['row']} (line {item['line']}, {item['phone']}): "
            f"{_render._escape(item['error'] or '')}",
            soft_wrap=True,
        )
    _more(out, data["failed_rows"])
    if data["unknown_rows"]:
        for item in data["unknown_rows"][:MAX_LISTED]:
            out.print(
                f"  [magenta]unknown[/] row {item['row']} (line {item['line']}, {item['phone']})",
                soft_wrap=True,
            )
        _more(out, data["unknown_rows"])
        out.print(
            "These may or may not have been sent, so they are not sent again. Look them up "
            "with `devsms history` (or `devsms status ID`); if they did not go out, re-run "
            "with --retry-unknown.",
            soft_wrap=True,
        )


def _more(out: Console, items: list[Any]) -> None:
    if len(items) > MAX_LISTED:
        out.print(f"  … and {len(items) - MAX_LISTED} more (see --format json)")
