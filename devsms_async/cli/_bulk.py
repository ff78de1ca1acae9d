"""``devsms bulk FILE.csv``: read, check, estimate, confirm, send, report.

Thin glue over the library: the CSV rows become ``BulkMessage`` objects (message ``i``
is data row ``i + 1``) sent by ``stream_bulk(journal=FileJournal(path))``, which writes
``attempting`` before each send and resumes by the same rules as any library job
(``devsms_async._journal``):

* a row whose last record is ``sent`` is never sent again;
* ``attempting`` (the run died mid-send) or ``unknown`` (no answer proved it either
  way): never re-sent automatically; listed, with how to check. ``--retry-unknown``
  sends them again once you have checked that they did not go out;
* ``failed`` (refused by the API, or the connection never opened) or ``not_started``:
  sent again;
* a row whose content changed since the journal was written stops the run (edited
  CSV, or other ``--normalize``/``--sender``): nothing is sent.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._journal import JournalError
from .._redact import mask_phone
from ..models import BulkOutcome, JournalEntry
from . import _render

# The CSV reading lives in _csv; these names stay importable from here.
from ._csv import COLUMNS as COLUMNS
from ._csv import Row as Row
from ._csv import RowError as RowError
from ._csv import load_rows as load_rows
from ._runtime import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNKNOWN, CLIError

if TYPE_CHECKING:
    from rich.console import Console

    from .._bulk import BulkStream, JournalReconcileResult
    from .._client import AsyncDevSMS
    from .._journal import Journal
    from ..models import BulkMessage, BulkResult
    from ..pricing import BulkEstimate

MAX_LISTED = 20
STOP_AFTER_CONSECUTIVE_ERRORS = 5


# -- the plan ------------------------------------------------------------------------------


@attrs.define
class Plan:
    """What a run will do, from the journal: the rows by their journal state."""

    rows: list[Row]
    done: list[Row] = attrs.Factory(list)
    unknown: list[tuple[Row, JournalEntry]] = attrs.Factory(list)
    retry: list[Row] = attrs.Factory(list)
    """Failed (or not started) before, sent again now."""
    to_send: list[Row] = attrs.Factory(list)
    notes: dict[str, Any] = attrs.Factory(dict)
    """What reading the file found: ignored columns, invalid rows, duplicates."""
    known: list[Row] | None = None
    """Every valid row of the file (``make_plan``'s ``known``), for planning again."""


def make_plan(
    rows: list[Row],
    entries: Mapping[int | str, JournalEntry],
    *,
    retry_unknown: bool,
    known: list[Row] | None = None,
) -> Plan:
    """Check the CSV against its journal (nothing is sent if a row changed) and plan.

    ``entries``: the journal's last entry of every message by ``ident``, the row's index
    (``number - 1``) for the CLI's rows; keyed entries (``str``) are not the CLI's and
    are left alone. ``known``: every valid row of the file, also those this run skips
    (``--dedupe``): their records are not a change of the file."""
    by_index = {row.number - 1: row for row in (known if known is not None else rows)}
    changed = sorted(
        index + 1
        for index, entry in entries.items()
        if isinstance(index, int) and (index not in by_index or by_index[index].hash != entry.hash)
    )
    if changed:
        listed = ", ".join(map(str, changed[:MAX_LISTED]))
        more = f" and {len(changed) - MAX_LISTED} more" if len(changed) > MAX_LISTED else ""
        raise CLIError(
            f"the CSV no longer matches its journal at row(s) {listed}{more}: nothing was "
            "sent. Either the file was edited (or --normalize/--sender changed): restore it. "
            "Or this journal belongs to another job: give this file a journal of its own "
            "(--journal NEW_PATH), and never start a new journal for the job this one "
            "belongs to (its rows that may have gone out would be sent again); run that job "
            "on this journal, with --reconcile first"
        )
    plan = Plan(rows, known=known)
    for row in rows:
        entry = entries.get(row.number - 1)
        if entry is None:
            plan.to_send.append(row)
        elif entry.state == "sent":
            plan.done.append(row)
        elif not entry.in_doubt:
            plan.retry.append(row)
            plan.to_send.append(row)
        elif retry_unknown:
            plan.to_send.append(row)
        else:
            plan.unknown.append((row, entry))
    return plan


def messages(rows: list[Row], callback_url: str | None) -> list[BulkMessage]:
    """The rows as the library's messages: message ``i`` is data row ``i + 1``."""
    from ..models import BulkMessage

    return [
        BulkMessage(phone=r.phone, message=r.message, sender=r.sender, callback_url=callback_url)
        for r in rows
    ]


class RowJournal:
    """The job's journal as the library sees it: message ``i`` of the job is row
    ``rows[i]``, recorded under the row's own index (``number - 1``). Rows skipped
    (invalid, duplicates) leave gaps, so a row keeps its record when the rows around
    it change their fate.

    The ``Journal`` protocol (``claim``/``write``/``stored``/``counts``) over any journal,
    a ``FileJournal`` or a shared ``PostgresJournal``: positions go in as row indices
    and come back as positions; entries of rows this run does not send are left out of
    ``stored()``; keyed entries (``BulkMessage(key=...)``, never the CLI's) pass through.
    """

    def __init__(self, journal: Journal, rows: list[Row]) -> None:
        self.journal = journal
        self._row_index = [row.number - 1 for row in rows]
        self._position = {index: i for i, index in enumerate(self._row_index)}

    def _to_row(self, entry: JournalEntry) -> JournalEntry:
        if entry.key is not None:
            return entry
        return attrs.evolve(entry, index=self._row_index[entry.index])

    def _to_position(self, entry: JournalEntry) -> JournalEntry | None:
        if entry.key is not None:
            return entry
        position = self._position.get(entry.index)
        if position is None:
            return None
        return attrs.evolve(entry, index=position)

    async def claim(self, entry: JournalEntry, *, takeover: bool = False) -> JournalEntry | None:
        current = await self.journal.claim(self._to_row(entry), takeover=takeover)
        if current is None:
            return None
        return self._to_position(current) or attrs.evolve(current, index=entry.index)

    async def write(self, entry: JournalEntry) -> None:
        await self.journal.write(self._to_row(entry))

    async def stored(self, *, in_doubt: bool = False) -> list[JournalEntry]:
        found = (self._to_position(e) for e in await self.journal.stored(in_doubt=in_doubt))
        return [entry for entry in found if entry is not None]

    async def counts(self) -> dict[str, int]:
        """The whole job's counts (every row, every machine's): not by position."""
        return await self.journal.counts()


# -- sending -------------------------------------------------------------------------------


@attrs.define
class Run:
    """This run's results (``BulkResult`` of the rows it tried), for the bar and summary."""

    results: list[tuple[Row, BulkResult]] = attrs.Factory(list)
    counts: dict[BulkOutcome, int] = attrs.Factory(dict)
    cost: Decimal = Decimal(0)
    stopped_because: str | None = None
    interrupted: bool = False
    abandoned: bool = False
    balance: Decimal | None = None
    error: Exception | None = None
    """What stopped the job after it started (the journal failed, a bug): sends may
    have gone out before it, so it is reported with the summary, never as "nothing
    was sent"."""
    unrecorded: int = 0
    """Rows sent by this run whose ``sent`` record never reached the journal."""
    elsewhere: int = 0
    """Rows planned here that another machine of a shared job sent or holds."""

    def count(self, outcome: BulkOutcome) -> int:
        return self.counts.get(outcome, 0)

    @property
    def finished(self) -> int:
        """Rows this run has an outcome for (sent, failed or unknown): the bar's count."""
        return sum(
            self.count(o) for o in (BulkOutcome.SENT, BulkOutcome.FAILED, BulkOutcome.UNKNOWN)
        )

    def add(self, row: Row, result: BulkResult) -> None:
        self.results.append((row, result))
        outcome = result.outcome
        self.counts[outcome] = self.count(outcome) + 1
        sent = result.result
        if sent is not None:
            # None: a confirmed send whose cost or balance the answer did not say readably.
            if sent.total_cost is not None:
                self.cost += sent.total_cost
            if sent.balance is not None:
                self.balance = sent.balance


async def send_rows(
    sms: AsyncDevSMS,
    rows: list[Row],
    journal: Journal,
    *,
    concurrency: int,
    per_second: float | None,
    callback_url: str | None,
    retry_unknown: bool,
    on_result: Callable[[Run], object],
    err: Console,
    planned: Collection[int] = (),
) -> Run:
    """Every row through ``stream_bulk(journal=...)``; the rows the journal settles
    (sent before, or left in doubt) are skipped by the library itself.

    Ctrl-C once: no new send starts, the sends in flight finish and are journaled.
    Twice: the sends in flight are abandoned (journaled ``unknown``). The run also
    stops by itself when the token is refused, or after
    ``STOP_AFTER_CONSECUTIVE_ERRORS`` results in a row that are not a success.
    """
    import anyio

    run = Run()
    stream = sms.stream_bulk(
        messages(rows, callback_url),
        concurrency=concurrency,
        per_second=per_second,
        journal=RowJournal(journal, rows),
        resend_in_doubt=retry_unknown,
        stop_after_failures=STOP_AFTER_CONSECUTIVE_ERRORS,
    )

    elsewhere = (BulkOutcome.ALREADY_SENT, BulkOutcome.CLAIMED_ELSEWHERE)

    def take(result: BulkResult) -> None:
        if result.previous is None:  # settled by an earlier run: in the plan already
            run.add(rows[result.index], result)
            on_result(run)
        elif result.outcome in elsewhere and rows[result.index].number - 1 in planned:
            run.elsewhere += 1  # another machine of a shared job took it meanwhile

    async with anyio.create_task_group() as watchers:
        job_scope = anyio.CancelScope()
        if sys.platform != "win32":
            watchers.start_soon(_watch_interrupts, run, stream, job_scope, err)
        with job_scope:
            try:
                async with stream as results:
                    async for result in results:
                        take(result)
            except Exception as exc:
                # A full disk (JournalError) or any other failure once sending began:
                # rows may have gone out, so the run is summarised, not just an error.
                run.error = exc
        watchers.cancel_scope.cancel()
    for result in stream.leftover:
        take(result)
    if run.error is not None:
        what = "the journal failed" if isinstance(run.error, JournalError) else "an error"
        run.stopped_because = f"{what}: {error_text(run.error)}"
    run.stopped_because = run.stopped_because or stream.stopped_because
    sent = [row for row, r in run.results if r.outcome is BulkOutcome.SENT]
    if sent:
        try:
            entries = {entry.ident: entry for entry in await journal.stored()}
        except Exception:
            # The journal cannot be read back (a shared journal's server is down): its
            # records of these sends are unproven, and --reconcile settles them.
            entries = {}
        run.unrecorded = sum(
            1 for row in sent if getattr(entries.get(row.number - 1), "state", None) != "sent"
        )
    return run


async def _watch_interrupts(run: Run, stream: BulkStream, job_scope: Any, err: Console) -> None:
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            if not run.interrupted:
                run.interrupted = True
                run.stopped_because = "interrupted (Ctrl-C)"
                stream.stop()
                err.print(
                    "[yellow]Ctrl-C: no new sends; waiting for the ones in flight "
                    "(Ctrl-C again to abandon them)[/]"
                )
            else:
                run.abandoned = True
                job_scope.cancel()
                return


def error_text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return _render.visible(" ".join(f"{type(exc).__name__}: {exc}".split())[:300])


# -- reconciling ---------------------------------------------------------------------------

RECONCILE_MIN_AGE = 120.0
"""Seconds after an attempt before "not in the history" is taken as "not sent"."""


async def reconcile_unknown(
    sms: AsyncDevSMS, rows: list[Row], journal: Journal, *, callback_url: str | None
) -> JournalReconcileResult:
    """Settle the rows in doubt from the history (``sms.reconcile_journal``)."""
    window = min(max(200, 2 * len(rows)), 20_000)
    return await sms.reconcile_journal(
        RowJournal(journal, rows),
        messages(rows, callback_url),
        window=window,
        min_age=RECONCILE_MIN_AGE,
    )


# -- reporting -----------------------------------------------------------------------------


def estimate(
    rows: list[Row], *, account: Literal["local", "foreign"], uz_price: Decimal | int
) -> BulkEstimate:
    from ..models import BulkMessage
    from ..pricing import estimate_bulk

    return estimate_bulk(
        (BulkMessage(phone=r.phone, message=r.message, sender=r.sender) for r in rows),
        account=account,
        uz_price=uz_price,
    )


def invalid_items(errors: list[RowError]) -> list[dict[str, Any]]:
    return [
        {"row": e.number, "line": e.line, "column": e.column or None, "reason": e.message}
        for e in errors
    ]


def file_notes(loaded: Any, *, dedupe: bool) -> dict[str, Any]:
    """What reading the file found, for the plan and the summary (JSON keys)."""
    return {
        "ignored_columns": list(loaded.ignored),
        "invalid_rows": invalid_items(loaded.errors),
        "duplicates": [
            {"row": row.number, "line": row.line, "same_as_row": first}
            for row, first in loaded.duplicates
        ],
        "deduped": dedupe,
    }


def plan_summary(plan: Plan, est: BulkEstimate, balance: Decimal | None) -> dict[str, Any]:
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
    data.update(plan.notes)
    return data


def _row_item(row: Row, **more: Any) -> dict[str, Any]:
    return {"row": row.number, "line": row.line, "phone": mask_phone(row.phone), **more}


def unknown_rows(plan: Plan, run: Run) -> list[dict[str, Any]]:
    """Rows left unknown by an earlier run (``since``) or by this one (``error``)."""
    items = [
        _row_item(row, since=entry.at.isoformat(timespec="milliseconds"))
        for row, entry in plan.unknown
    ]
    items += [
        _row_item(row, error=error_text(r.error))
        for row, r in run.results
        if r.outcome is BulkOutcome.UNKNOWN
    ]
    return sorted(items, key=lambda item: item["row"])


def recover_command(
    opts: Any, file: Path, journal: Path | str, rerun: list[str], *, job: str | None = None
) -> str:
    """The command that settles this job's rows in doubt: the same file, journal (and
    ``--job`` on a shared one) and content options, with ``--reconcile``. The token is
    never in it, nor a PostgreSQL URL's password (``safe_url``)."""
    import shlex

    words = ["devsms"]
    if opts.sandbox:
        words.append("--sandbox")
    elif opts.base_url is not None:
        words += ["--base-url", opts.base_url]
    where = safe_url(journal) if isinstance(journal, str) else str(journal)
    words += ["bulk", str(file), "--journal", where]
    if job is not None:
        words += ["--job", job]
    words += [*rerun, "--reconcile"]
    return shlex.join(words)


def safe_url(url: str) -> str:
    """A ``postgresql://`` URL fit to print and to run again: without its password
    (in the netloc or as ``password=`` in the query), which the run then takes from
    ``PGPASSWORD`` or ``~/.pgpass``. Anything unparsable is cut to the scheme."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = userinfo.split(":", 1)[0] + "@" + host
        query = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"
        ]
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
    except ValueError:
        return url.split("://", 1)[0] + "://…"


def run_summary(plan: Plan, run: Run, journal: Path | str, *, recover: str = "") -> dict[str, Any]:
    # A row planned but never read by the job counts as not started, like a row read
    # and stopped before its send.
    not_started = len(plan.to_send) - run.finished - run.elsewhere
    return {
        "elsewhere": run.elsewhere,
        "rows": len(plan.rows),
        "already_sent": len(plan.done),
        "sent": run.count(BulkOutcome.SENT),
        "failed": run.count(BulkOutcome.FAILED),
        "unknown": run.count(BulkOutcome.UNKNOWN) + len(plan.unknown),
        "not_started": not_started,
        "cost": run.cost,
        "balance": run.balance,
        "stopped_because": run.stopped_because,
        "error": error_text(run.error) or None,
        "unrecorded": run.unrecorded,
        "journal": str(journal),
        "recover": recover
        if (
            run.error is not None
            or run.unrecorded
            or run.count(BulkOutcome.UNKNOWN)
            or plan.unknown
        )
        else None,
        "failed_rows": [
            _row_item(row, error=error_text(r.error))
            for row, r in sorted(run.results, key=lambda item: item[0].number)
            if r.outcome is BulkOutcome.FAILED
        ],
        "unknown_rows": unknown_rows(plan, run),
        **plan.notes,
    }


def exit_code(summary: dict[str, Any], run: Run) -> int:
    if run.interrupted:
        return EXIT_INTERRUPTED
    if summary["unknown"] or summary["unrecorded"]:
        return EXIT_UNKNOWN
    if run.error is not None and (summary["sent"] or summary["failed"]):
        # The job broke after sending began: not "nothing was sent" (2), and the
        # journal may hold rows as "attempting" that only --reconcile settles.
        return EXIT_UNKNOWN
    if summary["failed"] or summary["not_started"]:
        return EXIT_ERROR
    return EXIT_OK


def print_plan(out: Console, data: dict[str, Any], path: Path) -> None:
    rows: list[tuple[str, Any]] = [
        ("file", _render.safe(str(path))),
        ("rows", str(data["rows"])),
    ]
    rows += _note_rows(data)
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


def _note_rows(data: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    if data.get("ignored_columns"):
        rows.append(("ignored columns", _render.safe(", ".join(data["ignored_columns"]))))
    if data.get("invalid_rows"):
        rows.append(("invalid", f"[red]{len(data['invalid_rows'])}[/] (skipped, not sent)"))
    duplicates = data.get("duplicates") or []
    if duplicates:
        listed = ", ".join(str(d["row"]) for d in duplicates[:8])
        more = f" and {len(duplicates) - 8} more" if len(duplicates) > 8 else ""
        if data.get("deduped"):
            rows.append(
                ("duplicates", f"{len(duplicates)} (rows {listed}{more}: not sent, --dedupe)")
            )
        else:
            rows.append(
                (
                    "duplicates",
                    f"[yellow]{len(duplicates)}[/] rows repeat an earlier row's number and text "
                    f"(rows {listed}{more}): that customer gets it again. --dedupe sends one",
                )
            )
    return rows


def print_summary(out: Console, data: dict[str, Any]) -> None:
    rows: list[tuple[str, Any]] = [("rows", str(data["rows"]))]
    rows += [r for r in _note_rows(data) if r[0] != "ignored columns"]
    if data["already_sent"]:
        rows.append(("sent before", str(data["already_sent"])))
    rows.append(("sent now", f"[green]{data['sent']}[/]"))
    if data["failed"]:
        rows.append(("failed", f"[red]{data['failed']}[/] (not sent; a re-run retries them)"))
    if data["unknown"]:
        rows.append(("outcome unknown", f"[magenta]{data['unknown']}[/] (never re-sent by itself)"))
    if data.get("elsewhere"):
        rows.append(("other machines", f"{data['elsewhere']} (sent or held by them)"))
    if data["not_started"]:
        rows.append(("not started", f"{data['not_started']} (a re-run sends them)"))
    rows.append(("cost", _render.money(data["cost"])))
    if data["balance"] is not None:
        rows.append(("balance", _render.money(data["balance"])))
    if data["unrecorded"]:
        rows.append(
            (
                "not journaled",
                f"[magenta]{data['unrecorded']}[/] (sent, but the journal could "
                "not record it: --reconcile finds them)",
            )
        )
    if data["stopped_because"]:
        rows.append(("stopped", f"[yellow]{_render.safe(data['stopped_because'])}[/]"))
    rows.append(("journal", _render.safe(data["journal"])))
    out.print(_render.key_values("Summary", rows))
    for item in data["failed_rows"][:MAX_LISTED]:
        out.print(
            f"  [red]failed[/]  row {item['row']} (line {item['line']}, {item['phone']}): "
            f"{_render.safe(item['error'] or '')}",
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
            "These may or may not have been sent, so they are not sent again by themselves.",
            soft_wrap=True,
        )
    if data["error"] is not None:
        out.print(
            f"[red]The job stopped after sending began[/] ({_render.safe(data['error'])}): "
            f"{data['sent']} sent by this run ({data['unrecorded']} of them missing from the "
            f"journal), {data['unknown']} in doubt. Do not start it "
            "again with a new journal: rows would be sent twice.",
            soft_wrap=True,
        )
    if data["recover"]:
        fix = (
            "When the journal can be written again (a full disk: free space; PostgreSQL: "
            "reachable), settle"
            if data["error"]
            else "Settle"
        )
        password = (
            "(the PostgreSQL password is never printed: give it in PGPASSWORD or ~/.pgpass)\n"
            if " --job " in data["recover"]
            else ""
        )
        out.print(
            f"{fix} the rows in doubt at once (found in the history: sent; missing: sent "
            f"now):\n  {_render.safe(data['recover'])}\n{password}or look them up with "
            "`devsms history` and, only if they did not go out, re-run with --retry-unknown.",
            soft_wrap=True,
        )


def _more(out: Console, items: list[Any]) -> None:
    if len(items) > MAX_LISTED:
        out.print(f"  … and {len(items) - MAX_LISTED} more (see --format json)")
