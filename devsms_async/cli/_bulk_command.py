"""The body of ``devsms bulk``: the steps in order, each from ``_bulk``."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ..models import BulkOutcome
from . import _bulk, _render
from ._journal import FileJournal, JournalError, default_path, read_entries
from ._render import OutFormat
from ._runtime import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    CLIError,
    Globals,
    run,
)

if TYPE_CHECKING:
    from .._journal import Journal, JournalEntry

SHARED_SCHEMES = ("postgresql://", "postgres://")

MAX_ROW_ERRORS_SHOWN = 10


@attrs.frozen
class Reading:
    """How to read the CSV: the options of ``devsms bulk`` that pick the cells."""

    encoding: str = "utf-8-sig"
    phone_column: str | None = None
    text_column: str | None = None
    text: str | None = None
    skip_invalid: bool = False
    rejects: Path | None = None
    dedupe: bool = False


def bulk(
    opts: Globals,
    file: Path,
    *,
    yes: bool,
    dry_run: bool,
    sender: str | None,
    callback_url: str | None,
    normalize: bool,
    concurrency: int,
    per_second: float | None,
    journal_path: str | Path | None,
    reconcile: bool,
    retry_unknown: bool,
    account: Literal["local", "foreign"],
    fmt: OutFormat,
    allow_partial: bool = False,
    delimiter: str | None = None,
    rerun: list[str] | None = None,
    reading: Reading | None = None,
    job: str | None = None,
) -> int:
    from .._validation import check_callback_url, check_sender

    check_sender(sender)
    check_callback_url(callback_url)
    if reconcile and retry_unknown:
        raise CLIError("--reconcile and --retry-unknown exclude each other")
    reading = reading or Reading()
    if reading.text is not None and reading.text_column is not None:
        raise CLIError("--text (a template) and --text-column exclude each other")
    if reading.rejects is not None and reading.rejects.resolve() == file.resolve():
        raise CLIError("--rejects must not be the CSV itself")
    out, err = _render.consoles()

    from ._csv import parse_delimiter, read_rows, write_rejects

    loaded = read_rows(
        file,
        default_sender=sender,
        normalize=normalize,
        delimiter=parse_delimiter(delimiter),
        encoding=reading.encoding,
        phone_column=reading.phone_column,
        text_column=reading.text_column,
        text=reading.text,
    )
    errors = loaded.errors
    if reading.rejects is not None:
        write_rejects(reading.rejects, errors, delimiter=loaded.delimiter, encoding=loaded.encoding)
    if errors:
        for e in errors[:MAX_ROW_ERRORS_SHOWN]:
            where = f", column {e.column}" if e.column else ""
            err.print(
                f"  row {e.number} (line {e.line}){_render.safe(where)}: {_render.safe(e.message)}",
                soft_wrap=True,
            )
        if len(errors) > MAX_ROW_ERRORS_SHOWN:
            more = f"--rejects {reading.rejects}" if reading.rejects else "-f json, --rejects PATH"
            err.print(f"  … and {len(errors) - MAX_ROW_ERRORS_SHOWN} more (all: {more})")
    total = len(loaded.rows) + len(errors)
    if errors and not reading.skip_invalid:
        message = (
            f"{len(errors)} of {total} rows of {file} are invalid; nothing was sent. Fix "
            "them, or pass --skip-invalid to send the others"
            + ("" if reading.rejects else " (--rejects PATH lists them in a CSV)")
        )
        if fmt is OutFormat.JSON:
            _render.write_json({"error": message, "invalid_rows": _bulk.invalid_items(errors)})
        raise CLIError(message, EXIT_USAGE)
    if not loaded.rows:
        raise CLIError(f"none of the {total} rows of {file} is valid; nothing was sent")
    notes = _bulk.file_notes(loaded, dedupe=reading.dedupe)
    rows = loaded.rows
    if reading.dedupe:
        repeated = {row.number for row, _ in loaded.duplicates}
        rows = [row for row in rows if row.number not in repeated]

    send_options: dict[str, Any] = {
        "file": file,
        "yes": yes,
        "allow_partial": allow_partial,
        "retry_unknown": retry_unknown,
        "callback_url": callback_url,
        "concurrency": concurrency,
        "per_second": per_second,
        "reconcile": reconcile,
        "account": account,
        "fmt": fmt,
        "out": out,
        "err": err,
    }
    if isinstance(journal_path, str) and journal_path.startswith(SHARED_SCHEMES):
        name = job if job is not None else default_job(file)
        return _shared(
            opts,
            rows,
            journal_path,
            name,
            dry_run=dry_run,
            known=loaded.rows,
            notes=notes,
            recover=_bulk.recover_command(opts, file, journal_path, rerun or [], job=name),
            **send_options,
        )
    if job is not None:
        raise CLIError(
            "--job names a job shared on PostgreSQL: use it with --journal postgresql://…"
        )
    path = Path(journal_path) if journal_path is not None else default_path(file)

    if dry_run:
        entries = read_entries(path)[0] if path.exists() else {}
        plan = _bulk.make_plan(rows, entries, retry_unknown=retry_unknown, known=loaded.rows)
        plan.notes = notes
        return _show_plan(opts, plan, path, account=account, fmt=fmt, file=file)

    recover = _bulk.recover_command(opts, file, path, rerun or [])
    try:
        journal = FileJournal(path, name=file.name)
    except JournalError as exc:
        raise CLIError(str(exc)) from None
    code: int | None = None
    try:
        # Checked before anything is sent: an edited CSV stops here.
        plan = _bulk.make_plan(
            rows, journal.entries(), retry_unknown=retry_unknown, known=loaded.rows
        )
        plan.notes = notes
        code = run(
            opts,
            lambda: _send(opts, plan, journal, where=str(path), recover=recover, **send_options),
        )
        return code
    finally:
        try:
            journal.close()
        except (OSError, JournalError) as exc:
            # Records the disk refused: rows this run sent may be "attempting" in the
            # journal. Never hide it, never let it replace the summary's exit code.
            if code is not None:
                _close_failed(err, exc, recover)
                return max(code, EXIT_UNKNOWN) if code != EXIT_INTERRUPTED else code


def _close_failed(err: Any, exc: BaseException, recover: str) -> None:
    err.print(
        f"[red]error:[/] the journal could not be closed cleanly "
        f"({_render.safe(exc)}); rows sent may show as in doubt: settle them "
        f"with {_render.safe(recover)}",
        soft_wrap=True,
    )


def default_job(file: Path) -> str:
    """A shared job's default name: the hash of the CSV's bytes (same file, same job)."""
    digest = hashlib.sha256()
    with file.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return "csv-" + digest.hexdigest()[:16]


async def _entries(journal: Journal) -> Mapping[int | str, JournalEntry]:
    return {entry.ident: entry for entry in await journal.stored()}


def _shared(
    opts: Globals,
    rows: list[_bulk.Row],
    url: str,
    job: str,
    *,
    dry_run: bool,
    known: list[_bulk.Row],
    notes: dict[str, Any],
    recover: str,
    retry_unknown: bool,
    account: Literal["local", "foreign"],
    fmt: OutFormat,
    file: Path,
    **send_options: Any,
) -> int:
    """``devsms bulk`` on a job shared on PostgreSQL (``--journal postgresql://…``)."""
    from ..bulk import PostgresJournal

    journal = PostgresJournal(url, job=job)
    where = f"{journal.path} (job {job})"

    async def load() -> _bulk.Plan:
        try:
            await journal.__aenter__()
        except JournalError as exc:
            raise CLIError(str(exc)) from None
        # Checked before anything is sent: another CSV's job stops here. The entries are
        # keyed by row index, like the file journal's: send_rows and reconcile_unknown
        # map the job's positions to row indices (RowJournal), so skipped rows
        # (--skip-invalid, --dedupe) keep their records on every machine.
        plan = _bulk.make_plan(
            rows, await _entries(journal), retry_unknown=retry_unknown, known=known
        )
        plan.notes = notes
        return plan

    async def send() -> int:
        code: int | None = None
        try:
            plan = await load()
            code = await _send(
                opts,
                plan,
                journal,
                where=where,
                recover=recover,
                retry_unknown=retry_unknown,
                account=account,
                fmt=fmt,
                file=file,
                **send_options,
            )
            return code
        finally:
            try:
                await journal.aclose()
            except (OSError, JournalError) as exc:
                if code is not None:
                    _close_failed(send_options["err"], exc, recover)
                    return max(code, EXIT_UNKNOWN) if code != EXIT_INTERRUPTED else code

    if dry_run:

        async def plan_only() -> _bulk.Plan:
            try:
                return await load()
            finally:
                await journal.aclose()

        plan = run(opts, plan_only)
        return _show_plan(opts, plan, where, account=account, fmt=fmt, file=file)
    return run(opts, send)


def journal_init(opts: Globals, url: str) -> int:
    """``devsms journal init URL``: create the tables of the shared journal."""
    from .._pgjournal import SCHEMA_VERSION, import_psycopg, init_schema

    if not url.startswith(SHARED_SCHEMES):
        raise CLIError("expected a postgresql:// URL", EXIT_USAGE)
    psycopg, _ = import_psycopg()
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
            created = init_schema(connection)
    except psycopg.Error as exc:
        raise CLIError(f"PostgreSQL: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    except JournalError as exc:
        raise CLIError(str(exc)) from None
    what = "created the journal tables" if created else "the journal tables are there"
    _render.consoles()[0].print(f"{what} (schema version {SCHEMA_VERSION})")
    return EXIT_OK


def journal_status(opts: Globals, url: str, job: str, fmt: OutFormat) -> int:
    """``devsms journal status URL --job NAME``: the job's counts, every machine's."""
    from ..bulk import PostgresJournal

    if not url.startswith(SHARED_SCHEMES):
        raise CLIError("expected a postgresql:// URL", EXIT_USAGE)

    async def counts() -> dict[str, int]:
        try:
            async with PostgresJournal(url, job=job) as journal:
                return await journal.counts()
        except JournalError as exc:
            raise CLIError(str(exc)) from None

    found = run(opts, counts)
    if fmt is OutFormat.JSON:
        _render.write_json({"job": job, "counts": found, "total": sum(found.values())})
    else:
        rows = [(state, str(n)) for state, n in found.items()]
        rows.append(("total", str(sum(found.values()))))
        _render.consoles()[0].print(_render.key_values(f"Job {_render.safe(job)}", rows))
    return EXIT_OK


def _show_plan(
    opts: Globals,
    plan: _bulk.Plan,
    path: Path | str,
    *,
    account: Literal["local", "foreign"],
    fmt: OutFormat,
    file: Path,
) -> int:
    # Without a token the estimate still works, at the default Uzbek price.
    offline = not opts.sandbox and opts.token is None

    async def balance() -> tuple[Decimal, Decimal] | None:
        if offline:
            return None
        async with opts.client() as sms:
            b = await sms.get_balance()
            return b.balance, b.sms_price

    got = run(opts, balance)
    uz_price = got[1] if got is not None else Decimal(50)
    est = _bulk.estimate(plan.to_send, account=account, uz_price=uz_price)
    data = _bulk.plan_summary(plan, est, got[0] if got is not None else None)
    data["journal"] = str(path)
    if fmt is OutFormat.JSON:
        _render.write_json(data)
    else:
        out, err = _render.consoles()
        _bulk.print_plan(out, data, file)
        if offline:
            err.print("note: no token, so Uzbek parts are priced at 50 so'm each")
        out.print("Dry run: nothing was sent.")
    return EXIT_OK


async def _send(
    opts: Globals,
    plan: _bulk.Plan,
    journal: Journal,
    *,
    where: str,
    file: Path,
    yes: bool,
    allow_partial: bool,
    retry_unknown: bool,
    callback_url: str | None,
    concurrency: int,
    per_second: float | None,
    reconcile: bool,
    account: Literal["local", "foreign"],
    fmt: OutFormat,
    out: Any,
    err: Any,
    recover: str,
) -> int:
    import anyio
    import typer

    # Bulk is where the transport's CPU cost adds up: aiohttp when installed.
    async with opts.client(http_backend="auto") as sms:
        if reconcile and plan.unknown:
            settled = await _bulk.reconcile_unknown(
                sms, plan.rows, journal, callback_url=callback_url
            )
            notes = plan.notes
            plan = _bulk.make_plan(
                plan.rows, await _entries(journal), retry_unknown=retry_unknown, known=plan.known
            )
            plan.notes = notes
            err.print(
                f"reconciled: {settled.found} found in the history (sent), {settled.not_sent} "
                f"not there (sending them), {settled.in_doubt} still unknown"
            )
        bal = await sms.get_balance()
        est = _bulk.estimate(plan.to_send, account=account, uz_price=bal.sms_price)
        data = _bulk.plan_summary(plan, est, bal.balance)
        # With --format json the plan is for the person at the prompt: on stderr.
        _bulk.print_plan(out if fmt is OutFormat.TABLE else err, data, file)
        if not plan.to_send:
            return _finish(plan, _bulk.Run(balance=bal.balance), where, fmt, out, recover)
        if est.total > bal.balance and not allow_partial:
            raise CLIError(
                f"the balance ({_render.money(bal.balance)}) does not cover this job (about "
                f"{_render.money(est.total)}): nothing was sent. Top up, or pass "
                "--allow-partial to send until the balance runs out",
                EXIT_ERROR,
            )
        if not yes:
            if not sys.stdin.isatty():
                raise CLIError(
                    "not sending without confirmation: run it in a terminal, or pass --yes"
                )
            prompt = f"Send {len(plan.to_send)} SMS for about {_render.money(est.total)}?"
            confirmed = await anyio.to_thread.run_sync(
                lambda: typer.confirm(prompt, default=False, err=True)
            )
            if not confirmed:
                raise CLIError("not confirmed: nothing was sent", EXIT_ERROR)

        if sms.http_backend in ("httpx", "aiohttp"):
            hint = (
                ""
                if sms.http_backend == "aiohttp"
                else " (pip install 'devsms-async[aiohttp]' is faster)"
            )
            err.print(f"transport: {sms.http_backend}{_render.safe(hint)}")
        progress = _progress(err)
        task = progress.add_task("sending", total=len(plan.to_send), sent=0, failed=0, unknown=0)

        def on_result(state: _bulk.Run) -> None:
            progress.update(
                task,
                completed=state.finished,
                sent=state.count(BulkOutcome.SENT),
                failed=state.count(BulkOutcome.FAILED),
                unknown=state.count(BulkOutcome.UNKNOWN),
            )

        with progress:
            result = await _bulk.send_rows(
                sms,
                plan.rows,
                journal,
                concurrency=min(concurrency, sms.pool_size),
                per_second=per_second,
                callback_url=callback_url,
                retry_unknown=retry_unknown,
                on_result=on_result,
                err=err,
                planned={row.number - 1 for row in plan.to_send},
            )
            # The bar ends on the numbers of the summary, even after Ctrl-C.
            on_result(result)
        if result.balance is None:
            result.balance = bal.balance
        return _finish(plan, result, where, fmt, out, recover)


def _finish(
    plan: _bulk.Plan, result: _bulk.Run, path: str, fmt: OutFormat, out: Any, recover: str
) -> int:
    summary = _bulk.run_summary(plan, result, path, recover=recover)
    if fmt is OutFormat.JSON:
        _render.write_json(summary)
    else:
        _bulk.print_summary(out, summary)
    return _bulk.exit_code(summary, result)


def _progress(err: Any) -> Any:
    from rich.progress import Progress, ProgressColumn
    from rich.text import Text

    def clock(seconds: float | None) -> str:
        if seconds is None:
            return "-:--:--"
        whole = int(seconds)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    class Line(ProgressColumn):
        """The whole line, fitted to the terminal (80 columns and up): the bar takes
        what the labelled numbers leave (rich's own columns overflow a narrow one)."""

        def render(self, task: Any) -> Text:
            f = task.fields
            speed = task.finished_speed or task.speed
            total = int(task.total or 0)
            text = Text()
            text.append(f"{int(task.completed)}/{total} ")
            text.append(f"{f['sent']} sent", "green")
            text.append(" ")
            text.append(f"{f['failed']} failed", "red")
            text.append(" ")
            text.append(f"{f['unknown']} unknown", "magenta")
            text.append(" --/s" if speed is None else f" {speed:.0f}/s")
            text.append(f" elapsed {clock(task.finished_time or task.elapsed)}")
            text.append(f" left {clock(task.time_remaining)}")
            room = min(30, err.width - 1 - len(text) - 1)
            if room >= 5:
                done = round(room * (task.completed / total)) if total else room
                bar = Text("━" * done, "green") + Text("━" * (room - done), "grey37")
                text = bar + Text(" ") + text
            return text

    return Progress(Line(), console=err)
