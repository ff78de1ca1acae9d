"""The ``devsms`` command: typer commands over the SDK.

Each command is a thin function: parse options, run one coroutine, print the result.
Errors are not handled here; ``run_cli`` turns every one of them into one line on
stderr and an exit code (see ``_runtime``).
"""

from __future__ import annotations

import enum
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from .._version import __version__
from ..errors import DevSMSError
from ..models import SmsStatus, SmsType
from . import _render
from ._render import Format, OutFormat
from ._runtime import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    Globals,
    check_globals,
    configure_logging,
    describe_error,
    fail,
    run,
)

if TYPE_CHECKING:
    from .._client import AsyncDevSMS
    from ..models import SendResult, SmsRecord

# typer evaluates these annotations at run time, and typer 0.12 (our minimum) knows
# `Optional[X]` but not `X | None`. The help texts name the Uzbek apostrophe look-alikes.
# ruff: noqa: UP045, RUF001


def _flags_take_no_value(params: list[Any]) -> list[Any]:
    # Recent typer prints a type for every option in the help, `--yes <bool>` too, as if
    # it took a value: a flag (or a counter such as -v) gets an empty metavar instead.
    for param in params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # typer >= 0.2x writes a required argument as `{FILE}`: plain `FILE`, as
        # everywhere else (and in our docs).
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [
            p[1:-1] if p.startswith("{") and p.endswith("}") and "," not in p else p for p in pieces
        ]


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


app = typer.Typer(
    cls=_Group,
    name="devsms",
    help="Send SMS through DevSMS.uz from the command line.\n\n"
    "Try it without an account: [bold]devsms --sandbox demo[/]",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
sandbox_app = typer.Typer(
    cls=_Group, help="The sandbox: a fake DevSMS service for trying things out."
)
app.add_typer(sandbox_app, name="sandbox")


class Route(str, enum.Enum):
    ESKIZ = "eskiz"
    SIMPLE = "simple"


class Account(str, enum.Enum):
    LOCAL = "local"
    FOREIGN = "foreign"

    @property
    def literal(self) -> Literal["local", "foreign"]:
        return "local" if self is Account.LOCAL else "foreign"


class Template(str, enum.Enum):
    CONFIRM = "confirm"
    RESET = "reset"
    REGISTER = "register"
    LOGIN = "login"


WAIT_TIMEOUT_DEFAULT = 120.0
POLL_INITIAL = 0.5
POLL_MAX = 5.0
"""--wait polls at 0, 0.5, 1.5, 3.5, 7.5 s, then every 5 s: someone is watching."""
SANDBOX_TICK = 0.25
"""Seconds between status steps of the in-process sandbox while a command waits."""


def _described(help: str, *names: str, **settings: Any) -> Any:
    """An option whose ``help`` says its default (``--help`` shows no other)."""
    return typer.Option(*names, help=help, show_default=False, **settings)


def _env_option(envvar: str, help: str) -> Any:
    """An option that the environment variable ``envvar`` may give (``--help`` says so)."""
    return typer.Option(envvar=envvar, show_envvar=True, help=help)


def _column_help(what: str) -> str:
    return f"The column of the {what}: a header name (any case) or a 1-based position."


def _version(value: bool) -> None:
    if value:
        print(f"devsms {__version__}")
        raise typer.Exit()


@app.callback()
def _globals(
    ctx: typer.Context,
    token: Annotated[
        Optional[str],
        _env_option("DEVSMS_TOKEN", "API token (the env var keeps it out of your shell history)."),
    ] = None,
    base_url: Annotated[
        Optional[str],
        _env_option("DEVSMS_BASE_URL", "API root, e.g. the URL `devsms sandbox serve` prints."),
    ] = None,
    allow_insecure_http: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-http",
            help="Allow a plain http:// --base-url that is not on this machine (the token "
            "travels in clear text).",
        ),
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run against a fresh in-process sandbox (no account, no money, nothing "
            "kept after the command).",
        ),
    ] = False,
    timeout: Annotated[
        Optional[float], typer.Option(help="Per-request timeout in seconds.", min=0.001)
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries of a read (balance, status, history) after a network error or "
            "429/502/503/504. Sends are retried only when they provably never left.",
            min=0,
            max=10,
        ),
    ] = 2,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help="Log each request and retry to stderr."),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    opts: Globals = ctx.obj
    opts.token, opts.base_url, opts.allow_insecure_http = token, base_url, allow_insecure_http
    opts.sandbox, opts.timeout, opts.retries, opts.verbose = sandbox, timeout, retries, verbose
    opts.from_env = frozenset(name for name in ("token", "base_url") if _from_env(ctx, name))
    configure_logging(verbose)
    check_globals(opts)


def _from_env(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "ENVIRONMENT"


def _opts(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    assert isinstance(obj, Globals)
    return obj


def _read_text(value: str, what: str) -> str:
    """``-`` reads the text from stdin (a trailing newline is dropped)."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        print(f"reading the {what} from stdin; end with Ctrl-D", file=sys.stderr)
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


# -- send, otp, status -----------------------------------------------------------------------

FormatOpt = Annotated[
    OutFormat, typer.Option("--format", "-f", help="table for people, json for programs.")
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", "-w", help="Wait until delivered or failed (polls the status).")
]
CallbackOpt = Annotated[Optional[str], typer.Option(help="URL that receives the delivery reports.")]
PhoneArg = Annotated[
    str, typer.Argument(help="International number, e.g. 998901234567.", metavar="PHONE")
]
WaitTimeoutOpt = Annotated[
    float, typer.Option(help="How long --wait waits, in seconds.", min=0.001)
]


@app.command(cls=_Command)
def send(
    ctx: typer.Context,
    phone: PhoneArg,
    message: Annotated[
        str, typer.Argument(help="The text; '-' reads it from stdin.", metavar="TEXT")
    ],
    sender: Annotated[
        Optional[str], typer.Option("--sender", "-s", help="Sender name (default 4546).")
    ] = None,
    callback_url: CallbackOpt = None,
    sms_type: Annotated[
        Route, typer.Option("--type", help="Route: eskiz, or simple (Uzbek numbers only).")
    ] = Route.ESKIZ,
    normalize: Annotated[
        bool,
        typer.Option(
            "--normalize",
            help="Replace Uzbek apostrophe look-alikes (ʻ ‘ ’ ʼ `) with ' first: fewer parts.",
        ),
    ] = False,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = WAIT_TIMEOUT_DEFAULT,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Send without asking, even when it costs over 1 000 so'm."
        ),
    ] = False,
    fmt: FormatOpt = OutFormat.TABLE,
) -> int:
    """Send one SMS."""
    opts = _opts(ctx)
    text = _read_text(message, "message")
    if not yes:
        _confirm_cost(phone, text, normalize=normalize, stdin_used=message == "-")

    result, final = _send_one(
        opts,
        lambda sms: sms.send_sms(
            phone,
            text,
            sender=sender,
            callback_url=callback_url,
            type=SmsType(sms_type.value),
            normalize=normalize,
        ),
        wait,
        wait_timeout,
    )
    _print_sent(result, final, fmt, title="Sent")
    if not normalize:
        _hint_normalize(_render.consoles()[1], text)
    return _final_code(final)


def _send_one(
    opts: Globals,
    send: Callable[[AsyncDevSMS], Awaitable[SendResult]],
    wait: bool,
    wait_timeout: float,
) -> tuple[SendResult, SmsRecord | None]:
    """One send (``send(sms)``) on a new client, then ``--wait``'s polls if asked;
    Ctrl-C says where the send stood (``_Flight``)."""
    flight = _Flight()

    async def go() -> tuple[SendResult, SmsRecord | None]:
        async with opts.client() as sms:
            with flight:
                result = flight.done(await send(sms))
            final = await _maybe_wait(opts, sms, result, wait, wait_timeout)
            return result, final

    outcome: tuple[SendResult, SmsRecord | None] = flight.run(opts, go)
    return outcome


class _Flight:
    """Where a single send stands, so that Ctrl-C can say what it means: before the
    send nothing went out; during it the request may have reached the service (as
    with an unknown outcome); after it the SMS was sent."""

    def __init__(self) -> None:
        self.started: Any = None
        self.result: SendResult | None = None

    def __enter__(self) -> None:
        import datetime as _dt

        self.started = _dt.datetime.now(_dt.timezone.utc)

    def __exit__(self, *exc: object) -> None:
        return None

    def done(self, result: SendResult) -> SendResult:
        self.result = result
        return result

    def run(self, opts: Globals, fn: Any) -> Any:
        try:
            return run(opts, fn)
        except CLIError as exc:
            if exc.code != EXIT_INTERRUPTED or self.started is None:
                raise
            if self.result is not None:
                sent = self.result
                ids = f"sms_id {sent.sms_id}" if sent.sms_id is not None else sent.request_id
                raise CLIError(
                    f"interrupted while waiting; the SMS was sent ({ids}): "
                    f"`devsms status` follows it",
                    EXIT_INTERRUPTED,
                ) from None
            raise CLIError(
                "interrupted while the send was in flight: it may have gone out (started "
                f"{self.started:%Y-%m-%d %H:%M:%S} UTC; look for it with `devsms history` "
                "before sending again)",
                EXIT_INTERRUPTED,
            ) from None


CONFIRM_ABOVE = 1000
"""So'm: a single send estimated above this asks first, as bulk does (an SMS abroad
costs thousands of so'm; an Uzbek one, 50 a part)."""


def _confirm_cost(phone: str, text: str, *, normalize: bool, stdin_used: bool) -> None:
    from ..pricing import estimate_cost

    try:
        est = estimate_cost(phone, text, normalize=normalize)
    except DevSMSError:
        return  # an invalid number or text: the send refuses it with the reason
    if est.total <= CONFIRM_ABOVE:
        return
    what = (
        f"about {_render.money(est.total)} ({est.country.name}, {est.parts.parts} part(s) at "
        f"{_render.money(est.price_per_part)})"
    )
    if stdin_used or not sys.stdin.isatty():
        fail(
            f"this SMS costs {what}: not sending without confirmation; pass --yes "
            "(or run it in a terminal to be asked). Nothing was sent"
        )
    if not typer.confirm(f"This SMS costs {what}. Send it?", default=False, err=True):
        fail("not confirmed: nothing was sent", EXIT_ERROR)


def _print_sent(result: SendResult, final: SmsRecord | None, fmt: OutFormat, *, title: str) -> None:
    """The answer of ``send``/``otp`` (and the final record after ``--wait``)."""
    out, _ = _render.consoles()
    if fmt is OutFormat.JSON:
        data = _render.jsonable(result)
        if final is not None:
            data["final"] = _render.record_dict(final, mask=False)
        _render.write_json(data)
        return
    out.print(_render.send_result_table(result, title=title))
    if final is not None:
        out.print(f"final status: {_render.styled_status(final.status_raw)}")


@app.command(cls=_Command)
def otp(
    ctx: typer.Context,
    phone: PhoneArg,
    code: Annotated[str, typer.Option("--code", "-c", help="The code: 4-8 digits.")],
    service_name: Annotated[
        str,
        typer.Option(
            "--service-name",
            "-n",
            help="Your business name, 2-50 letters/digits/space/.-  (moderated: a "
            "rejected name is still charged).",
        ),
    ],
    template: Annotated[
        Template,
        typer.Option(
            "--template", "-t", help="Which approved text: confirm, reset, register or login."
        ),
    ] = Template.LOGIN,
    callback_url: CallbackOpt = None,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = WAIT_TIMEOUT_DEFAULT,
    fmt: FormatOpt = OutFormat.TABLE,
) -> int:
    """Send a verification code through an Eskiz-approved template."""
    from ..models import OtpTemplate

    opts = _opts(ctx)
    chosen = {
        Template.CONFIRM: OtpTemplate.CONFIRM_OPERATION,
        Template.RESET: OtpTemplate.PASSWORD_RESET,
        Template.REGISTER: OtpTemplate.REGISTRATION,
        Template.LOGIN: OtpTemplate.LOGIN,
    }[template]

    result, final = _send_one(
        opts,
        lambda sms: sms.send_otp(
            phone,
            template=chosen,
            service_name=service_name,
            otp_code=code,
            callback_url=callback_url,
        ),
        wait,
        wait_timeout,
    )
    _print_sent(result, final, fmt, title="OTP sent")
    return _final_code(final)


@app.command(cls=_Command)
def status(
    ctx: typer.Context,
    sms_id: Annotated[
        Optional[int],
        typer.Argument(help="The sms_id a send returned.", min=1, metavar="SMS_ID"),
    ] = None,
    request_id: Annotated[
        Optional[str], typer.Option(help="Look up by request_id instead.")
    ] = None,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = WAIT_TIMEOUT_DEFAULT,
    mask: Annotated[
        bool, typer.Option("--mask/--no-mask", help="Mask the phone number (99890***4567).")
    ] = False,
    fmt: FormatOpt = OutFormat.TABLE,
) -> int:
    """The status of one SMS (by sms_id or --request-id)."""
    opts = _opts(ctx)
    if (sms_id is None) == (request_id is None):
        fail("give an SMS_ID or --request-id (one of them)")

    async def go() -> SmsRecord:
        async with opts.client() as sms:
            if wait:
                async with _sandbox_ticker(opts):
                    return await sms.wait_for_status(
                        sms_id,
                        request_id=request_id,
                        timeout=wait_timeout,
                        poll_initial=POLL_INITIAL,
                        poll_max=POLL_MAX,
                    )
            return await sms.get_status(sms_id=sms_id, request_id=request_id)

    record = run(opts, go)
    out, _ = _render.consoles()
    if fmt is OutFormat.JSON:
        _render.write_json(_render.record_dict(record, mask=mask))
    else:
        out.print(_render.record_table(record, mask=mask))
    return _final_code(record) if wait else EXIT_OK


async def _maybe_wait(
    opts: Globals, sms: AsyncDevSMS, sent: SendResult, wait: bool, timeout: float
) -> SmsRecord | None:
    if not wait:
        return None
    # A confirmed send may carry only one of the two ids (docs/live-service.md).
    by_id = {"request_id": sent.request_id} if sent.sms_id is None else {}
    async with _sandbox_ticker(opts):
        return await sms.wait_for_status(
            sent.sms_id,
            **by_id,
            timeout=timeout,
            poll_initial=POLL_INITIAL,
            poll_max=POLL_MAX,
        )


def _sandbox_ticker(opts: Globals) -> Any:
    """While waiting on the in-process sandbox, let its statuses move on."""
    import contextlib

    import anyio

    @contextlib.asynccontextmanager
    async def ticker() -> Any:
        if not opts.sandbox:
            yield
            return
        sandbox = opts.get_sandbox()

        async def tick() -> None:
            while True:
                await anyio.sleep(SANDBOX_TICK)
                await sandbox.advance()

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    return ticker()


def _final_code(record: SmsRecord | None) -> int:
    from ..models import SmsStatus

    if record is not None and record.status is SmsStatus.FAILED:
        return EXIT_ERROR
    return EXIT_OK


def _hint_normalize(err: Any, text: str) -> None:
    from ..sms_parts import count_parts, normalize_uzbek

    before, after = count_parts(text), count_parts(normalize_uzbek(text))
    if after.parts < before.parts:
        err.print(
            f"note: Uzbek apostrophe look-alikes made this {before.parts} UCS-2 parts; "
            f"--normalize would send it as {after.parts} ({after.encoding}).",
            soft_wrap=True,
        )


# -- balance, history ------------------------------------------------------------------------


@app.command(cls=_Command)
def balance(ctx: typer.Context, fmt: FormatOpt = OutFormat.TABLE) -> int:
    """Balance, the price of one SMS part, and usage."""
    opts = _opts(ctx)

    async def go() -> Any:
        async with opts.client() as sms:
            return await sms.get_balance()

    result = run(opts, go)
    if fmt is OutFormat.JSON:
        _render.write_json(_render.jsonable(result))
    else:
        _render.consoles()[0].print(_render.balance_table(result))
    return EXIT_OK


class StatusFilter(str, enum.Enum):
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


@app.command(cls=_Command)
def history(
    ctx: typer.Context,
    limit: Annotated[
        Optional[int],
        typer.Option("--limit", "-n", help="How many (1-200; default 20).", min=1, max=200),
    ] = None,
    offset: Annotated[
        int,
        _described("Skip this many, newest first (default: none).", min=0),
    ] = 0,
    status_filter: Annotated[
        Optional[StatusFilter], typer.Option("--status", help="Only SMS with this status.")
    ] = None,
    walk_all: Annotated[
        bool, typer.Option("--all", help="Walk every page (from --offset) to the end.")
    ] = False,
    mask: Annotated[
        bool, typer.Option("--mask/--no-mask", help="Mask phone numbers (99890***4567).")
    ] = False,
    fmt: Annotated[
        Format,
        typer.Option("--format", "-f", help="table for people; json or csv for programs."),
    ] = Format.TABLE,
    raw_cells: Annotated[
        bool,
        typer.Option(
            "--raw-cells",
            help="With --format csv: write every cell exactly as the service sent it (by "
            "default a cell that a spreadsheet would run as a formula, =... +... -... @..., "
            "gets a leading ' and control characters are shown as escapes).",
        ),
    ] = False,
) -> int:
    """Sent SMS, newest first: one page, or every page with --all."""
    opts = _opts(ctx)
    if raw_cells and fmt is not Format.CSV:
        fail("--raw-cells is for --format csv")
    wanted = SmsStatus(status_filter.value) if status_filter is not None else None
    if walk_all and limit is not None:
        fail("--all walks every page; leave out --limit")
    page_size = limit if limit is not None else 20

    if fmt is Format.TABLE:

        async def collect() -> list[SmsRecord]:
            async with opts.client() as sms:
                if walk_all:
                    return [r async for r in sms.iter_history(status=wanted, start_offset=offset)]
                page = await sms.get_history(limit=page_size, offset=offset, status=wanted)
                return page.items

        records = run(opts, collect)
        title = f"History ({len(records)} SMS" + (f", from offset {offset})" if offset else ")")
        out, _ = _render.consoles()
        if records:
            out.print(_render.history_table(records, mask=mask, title=title))
        else:
            out.print("No SMS in the history" + (" with that status." if status_filter else "."))
        return EXIT_OK

    import csv as _csv

    if fmt is Format.CSV and hasattr(sys.stdout, "reconfigure"):
        # The writer ends rows with CRLF itself (RFC 4180); no newline translation.
        sys.stdout.reconfigure(newline="")
    # CRLF: the csv module quotes a cell holding any character of the line terminator,
    # so with "\n" alone a bare "\r" in a message would split the row.
    writer = _csv.writer(sys.stdout, lineterminator="\r\n", quoting=_csv.QUOTE_MINIMAL)

    def verbatim(value: Any) -> Any:
        return "" if value is None else value

    cell = verbatim if raw_cells else _render.csv_cell
    emitted: list[int] = []

    def emit_csv_header() -> None:
        writer.writerow(_render.RECORD_FIELDS)

    def emit(record: SmsRecord, first: bool) -> None:
        data = _render.record_dict(record, mask=mask)
        if fmt is Format.CSV:
            writer.writerow([cell(data[k]) for k in _render.RECORD_FIELDS])
        else:
            sys.stdout.write(("[\n  " if first else ",\n  ") + _render.dumps(data))
        emitted.append(record.id)

    async def stream() -> None:
        # Records are written as they arrive: a long history is never all in memory.
        async with opts.client() as sms:
            if walk_all:
                source: Any = sms.iter_history(status=wanted, start_offset=offset)
            else:
                source = _one_page(sms, page_size, offset, wanted)
            async for record in source:
                emit(record, not emitted)

    if fmt is Format.CSV:
        emit_csv_header()
    run(opts, stream)
    if fmt is Format.JSON:
        sys.stdout.write("\n]\n" if emitted else "[]\n")
    return EXIT_OK


async def _one_page(
    sms: AsyncDevSMS, limit: int, offset: int, status: SmsStatus | None
) -> Any:  # an async generator of SmsRecord
    page = await sms.get_history(limit=limit, offset=offset, status=status)
    for record in page.items:
        yield record


# -- estimate ----------------------------------------------------------------------------------


@app.command(cls=_Command)
def estimate(
    message: Annotated[
        str, typer.Argument(help="The text; '-' reads it from stdin.", metavar="TEXT")
    ],
    phone: Annotated[
        Optional[str],
        typer.Option("--phone", "-p", help="Recipient, for the country's price (default: UZ)."),
    ] = None,
    account: Annotated[Account, typer.Option(help="Your account's price list.")] = Account.LOCAL,
    uz_price: Annotated[
        int, typer.Option(help="Your price of one Uzbek SMS part (see `devsms balance`).", min=0)
    ] = 50,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Count the text after --normalize.")
    ] = False,
    fmt: FormatOpt = OutFormat.TABLE,
) -> int:
    """Parts, encoding, the characters that force UCS-2, and the price. Offline."""
    from ..pricing import estimate_cost
    from ..sms_parts import normalize_uzbek

    text = _read_text(message, "message")
    target = phone if phone is not None else "998900000000"
    est = estimate_cost(
        target, text, account=account.literal, uz_price=uz_price, normalize=normalize
    )
    better = None
    if not normalize and normalize_uzbek(text) != text:
        candidate = estimate_cost(
            target,
            text,
            account=account.literal,
            uz_price=uz_price,
            normalize=True,
        )
        if candidate.total < est.total:
            better = candidate
    if fmt is OutFormat.JSON:
        data = _render.estimate_json(est)
        data["normalized"] = _render.estimate_json(better) if better is not None else None
        _render.write_json(data)
        return EXIT_OK
    out, _ = _render.consoles()
    default_country = "Uzbekistan (pass --phone for another country)"
    rows = _render.estimate_rows(est, country=default_country if phone is None else None)
    out.print(_render.key_values("Estimate", rows))
    if better is not None:
        out.print(
            f"\n[yellow]The Uzbek apostrophe trap:[/] look-alike apostrophes force UCS-2. "
            f"With --normalize (ʻ ‘ ’ ʼ ` → ') this is {better.parts.encoding}, "
            f"{better.parts.parts} part(s), {_render.money(better.total)} instead of "
            f"{_render.money(est.total)}.",
            soft_wrap=True,
        )
    return EXIT_OK


# -- bulk ------------------------------------------------------------------------------------


@app.command(cls=_Command)
def bulk(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with the columns phone,message[,sender] (a header row is optional; "
            "tel, text, telefon, matn, ... are accepted too, other columns are ignored).",
            exists=True,
            dir_okay=False,
            readable=True,
            metavar="FILE.csv",
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Start even when the balance covers only part of the job.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file and show the estimate only.")
    ] = False,
    sender: Annotated[
        Optional[str],
        typer.Option("--sender", "-s", help="Sender for rows that name none."),
    ] = None,
    callback_url: CallbackOpt = None,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Replace Uzbek apostrophe look-alikes first.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Sends in flight at once.", min=1, max=10)
    ] = 4,
    per_second: Annotated[
        Optional[float], typer.Option(help="At most this many sends per second.", min=0.001)
    ] = None,
    journal_path: Annotated[
        Optional[str],
        typer.Option(
            "--journal",
            help="Journal file (default: FILE.csv.devsms-journal.jsonl), or a "
            "postgresql:// URL: one job shared by every machine that runs it.",
        ),
    ] = None,
    job: Annotated[
        Optional[str],
        typer.Option(
            "--job",
            help="With a postgresql:// journal: the job's name (default: csv- and the "
            "hash of the file's content).",
        ),
    ] = None,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="Look rows with an unknown outcome up in the history first: found ones "
            "count as sent, missing ones are sent now.",
        ),
    ] = False,
    retry_unknown: Annotated[
        bool,
        typer.Option(
            "--retry-unknown",
            help="Send rows with an unknown outcome again. Only after checking that they "
            "did not go out: otherwise they arrive twice.",
        ),
    ] = False,
    account: Annotated[
        Account, typer.Option(help="Your account's price list, for the estimate.")
    ] = Account.LOCAL,
    fmt: FormatOpt = OutFormat.TABLE,
    delimiter: Annotated[
        Optional[str], _described("Cell separator: , ; | or tab (default: detected from the file).")
    ] = None,
    encoding: Annotated[
        str,
        _described(
            "The file's encoding: utf-8 (with or without a BOM), or e.g. cp1251 for "
            "Excel on Russian Windows."
        ),
    ] = "utf-8-sig",
    phone_column: Annotated[Optional[str], _described(_column_help("numbers"))] = None,
    text_column: Annotated[Optional[str], _described(_column_help("texts"))] = None,
    text: Annotated[
        Optional[str],
        _described(
            "One text for every row, a template over its columns: 'Hurmatli {Ism}, "
            "buyurtmangiz tayyor' ({2}: by position; {{ and }}: literal braces).",
            "--text",
        ),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", help="Send the valid rows and skip (and list) the invalid ones."
        ),
    ] = False,
    rejects: Annotated[
        Optional[Path],
        _described(
            "Write the invalid rows (line, row, column, reason) to this CSV, in the "
            "input's delimiter and encoding.",
            "--rejects",
            dir_okay=False,
        ),
    ] = None,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe",
            help="Send one SMS per number and text: skip rows that repeat an earlier one "
            "(the same number in any format).",
        ),
    ] = False,
) -> int:
    """Send every row of a CSV: estimate, confirm, send with a journal, summarise.

    Re-running the same command after a crash or Ctrl-C resumes: rows already sent are
    skipped, and rows that may have been sent are never sent again by themselves.
    """
    from . import _bulk_command

    return _bulk_command.bulk(
        _opts(ctx),
        file,
        yes=yes,
        allow_partial=allow_partial,
        dry_run=dry_run,
        sender=sender,
        callback_url=callback_url,
        normalize=normalize,
        concurrency=concurrency,
        per_second=per_second,
        journal_path=journal_path,
        job=job,
        reconcile=reconcile,
        retry_unknown=retry_unknown,
        account=account.literal,
        delimiter=delimiter,
        fmt=fmt,
        rerun=[
            *(["--sender", sender] if sender is not None else []),
            *(["--normalize"] if normalize else []),
            *(["--delimiter", delimiter] if delimiter is not None else []),
            *(["--encoding", encoding] if encoding != "utf-8-sig" else []),
            *(["--phone-column", phone_column] if phone_column is not None else []),
            *(["--text-column", text_column] if text_column is not None else []),
            *(["--text", text] if text is not None else []),
            *(["--skip-invalid"] if skip_invalid else []),
            *(["--dedupe"] if dedupe else []),
        ],
        reading=_bulk_command.Reading.of(ctx.params),
    )


# -- journal ----------------------------------------------------------------------------------

journal_app = typer.Typer(
    cls=_Group, help="Bulk jobs shared on PostgreSQL: create the tables, show a job's counts."
)
app.add_typer(journal_app, name="journal")


@journal_app.command("init", cls=_Command)
def journal_init(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="postgresql://user@host/database")],
) -> int:
    """Create the journal's tables (they are also created on first use)."""
    from . import _bulk_command

    return _bulk_command.journal_init(_opts(ctx), url)


@journal_app.command("status", cls=_Command)
def journal_status(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="postgresql://user@host/database")],
    job: Annotated[str, typer.Option("--job", help="The job's name.")],
    fmt: FormatOpt = OutFormat.TABLE,
) -> int:
    """How many messages of a shared job are in each state (every machine's)."""
    from . import _bulk_command

    return _bulk_command.journal_status(_opts(ctx), url, job, fmt)


# -- demo, sandbox ---------------------------------------------------------------------------


@app.command(cls=_Command)
def demo(ctx: typer.Context) -> int:
    """A short guided tour against the sandbox: run it as `devsms --sandbox demo`."""
    opts = _opts(ctx)
    if not opts.sandbox:
        fail("the demo sends SMS: run it against the sandbox, `devsms --sandbox demo`")
    from ._demo import tour

    run(opts, lambda: tour(opts.get_sandbox()))
    return EXIT_OK


@sandbox_app.command(
    "serve",
    cls=_Command,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sandbox_serve(ctx: typer.Context) -> int:
    """Serve a sandbox over HTTP, with a web inbox at / (`devsms sandbox serve --help`)."""
    from ._serve import serve_forever

    return serve_forever(ctx.args, verbose=_opts(ctx).verbose)


# -- the entry point ---------------------------------------------------------------------------


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run ``devsms`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    opts = Globals()
    usage_errors = _usage_error_types()
    try:
        command = typer.main.get_command(app)
        code = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="devsms",
            standalone_mode=False,
            obj=opts,
        )
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # `devsms` alone: the help, not an error
            return EXIT_USAGE
        ctx = getattr(exc, "ctx", None)
        where = getattr(ctx, "command_path", None) or "devsms"
        message = _plain_usage(exc.format_message())  # type: ignore[attr-defined]
        _error_line(f"{message} (see '{where} --help')")
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-D at a prompt; Ctrl-C (older typer)
        _error_line("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        leaf = _leaf(exc)
        message, code = describe_error(leaf, opts)
        _error_line(message)
        if opts.verbose and not isinstance(leaf, DevSMSError | CLIError):
            traceback.print_exception(type(leaf), leaf, leaf.__traceback__, file=sys.stderr)
        return code
    finally:
        sys.stdout.flush()
    return code if isinstance(code, int) else EXIT_OK


def _plain_usage(message: str) -> str:
    """Recent typer words a bad choice as pydantic does (``Value error, 'lgoin' is not
    one of 'confirm', ...``): say it plainly, with the nearest choice."""
    import difflib
    import re

    message = message.replace("Value error, ", "")
    match = re.search(r"'([^']*)' is not one of ((?:'[^']*'(?:, )?)+)", message)
    if match is None:
        return message
    given, choices = match.group(1), re.findall(r"'([^']*)'", match.group(2))
    close = difflib.get_close_matches(given, choices, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    start, end = match.span()
    plain = f"{given!r} is not one of {', '.join(choices)}{hint}"
    return (message[:start] + plain + message[end:]).rstrip(".").replace(hint + ".", hint)


def _usage_error_types() -> tuple[type[Exception], ...]:
    """The exceptions typer raises for bad usage: its own ``TyperException`` (typer >=
    0.20 carries its own copy of click) or click's ``ClickException`` (before)."""
    types: list[type[Exception]] = []
    own = getattr(typer, "TyperException", None)
    if isinstance(own, type) and issubclass(own, Exception):
        types.append(own)
    try:
        import click
    except ImportError:  # pragma: no cover - typer without click
        pass
    else:
        types.append(click.ClickException)
    return tuple(types)


def _error_line(message: str) -> None:
    sys.stdout.flush()
    # Error texts carry the server's words and the user's data: never raw escapes.
    line = _render.visible(" ".join(message.split()))
    print(f"error: {line}", file=sys.stderr, flush=True)


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not (isinstance(inner, tuple) and len(inner) == 1):
            return exc
        exc = inner[0]
