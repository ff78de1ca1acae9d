"""The body of ``devsms bulk``: the steps in order, each from ``_bulk``."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..models import BulkOutcome
from . import _bulk, _render
from ._journal import FileJournal, JournalError, default_path, read_entries
from ._render import OutFormat
from ._runtime import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CLIError, Globals, run

if TYPE_CHECKING:
    from .._journal import Journal, JournalEntry

SHARED_SCHEMES = ("postgresql://", "postgres://")

MAX_ROW_ERRORS_SHOWN = 10


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
    job: str | None = None,
) -> int:
    from .._validation import check_callback_url, check_sender

    check_sender(sender)
    check_callback_url(callback_url)
    if reconcile and retry_unknown:
        raise CLIError("--reconcile and --retry-unknown exclude each other")
    out, err = _render.consoles()

    from ._csv import parse_delimiter

    rows, errors = _bulk.load_rows(
        file, default_sender=sender, normalize=normalize, delimiter=parse_delimiter(delimiter)
    )
    if errors:
        for e in errors[:MAX_ROW_ERRORS_SHOWN]:
            err.print(
                f"  row {e.number} (line {e.line}): {_render._escape(e.message)}", soft_wrap=True
            )
        if len(errors) > MAX_ROW_ERRORS_SHOWN:
            err.print(f"  … and {len(errors) - MAX_ROW_ERRORS_SHOWN} more")
        raise CLIError(
            f"{len(errors)} of {len(rows) + len(errors)} rows of {file} are invalid; "
            "nothing was sent. Fix them and run again",
            EXIT_USAGE,
        )

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
        return _shared(opts, rows, journal_path, name, dry_run=dry_run, **send_options)
    if job is not None:
        raise CLIError(
            "--job names a job shared on PostgreSQL: use it with --journal postgresql://…"
        )
    path = Path(journal_path) if journal_path is not None else default_path(file)

    if dry_run:
        entries = read_entries(path)[0] if path.exists() else {}
        plan = _bulk.make_plan(rows, entries, retry_unknown=retry_unknown)
        return _show_plan(opts, plan, path, account=account, fmt=fmt, file=file)

    try:
        journal = FileJournal(path, name=file.name)
    except JournalError as exc:
        raise CLIError(str(exc)) from None
    try:
        # Checked before anything is sent: an edited CSV stops here.
        plan = _bulk.make_plan(rows, journal.entries(), retry_unknown=retry_unknown)
        return run(opts, lambda: _send(opts, plan, journal, where=str(path), **send_options))
    finally:
        journal.close()


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
        # Checked before anything is sent: another CSV's job stops here.
        return _bulk.make_plan(rows, await _entries(journal), retry_unknown=retry_unknown)

    async def send() -> int:
        try:
            plan = await load()
            return await _send(
                opts,
                plan,
                journal,
                where=where,
                retry_unknown=retry_unknown,
                account=account,
                fmt=fmt,
                file=file,
                **send_options,
            )
        finally:
            await journal.aclose()

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
    from .._pgjournal import SCHEMA_VERSION, _import, init_schema

    if not url.startswith(SHARED_SCHEMES):
        raise CLIError("expected a postgresql:// URL", EXIT_USAGE)
    psycopg, _ = _import()
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
        _render.consoles()[0].print(_render.key_values(f"Job {_render._escape(job)}", rows))
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
) -> int:
    import anyio
    import typer

    # Bulk is where the transport's CPU cost adds up: aiohttp when installed.
    async with opts.client(http_backend="auto") as sms:
        if reconcile and plan.unknown:
            settled = await _bulk.reconcile_unknown(
                sms, plan.rows, journal, callback_url=callback_url
            )
            plan = _bulk.make_plan(plan.rows, await _entries(journal), retry_unknown=retry_unknown)
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
            return _finish(plan, _bulk.Run(balance=bal.balance), where, fmt, out)
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
            err.print(f"transport: {sms.http_backend}{_render._escape(hint)}")
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
        return _finish(plan, result, where, fmt, out)


def _finish(plan: _bulk.Plan, result: _bulk.Run, path: str, fmt: OutFormat, out: Any) -> int:
    summary = _bulk.run_summary(plan, result, path)
    if fmt is OutFormat.JSON:
        _render.write_json(summary)
    else:
        _bulk.print_summary(out, summary)
    return _bulk.exit_code(summary, result)


def _progress(err: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Sends finished per second (rich's own speed columns count bytes)."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-- SMS/s" if speed is None else f"{speed:.1f} SMS/s")

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]{task.fields[sent]} sent[/], [red]{task.fields[failed]} failed[/], "
            "[magenta]{task.fields[unknown]} unknown[/]"
        ),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
