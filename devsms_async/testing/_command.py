"""The one command that serves the sandbox: ``devsms sandbox serve`` and
``python -m devsms_async.testing`` both run ``main`` (one parser, one first line,
one set of defaults). argparse, not typer, so it works without the ``[cli]`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._transport import is_loopback
from ._sandbox import DEFAULT_BALANCE, DEFAULT_SMS_PRICE, DEFAULT_TOKEN, Sandbox

__all__ = ["DEFAULT_ADVANCE_EVERY", "DEFAULT_PORT", "FIRST_LINE", "build_parser", "main"]

DEFAULT_PORT = 8000
DEFAULT_ADVANCE_EVERY = 2.0
FIRST_LINE = "DevSMS sandbox serving at: {url}"
"""The first line printed, a contract for scripts: the API root alone after the colon."""

EXIT_OK = 0
EXIT_ERROR = 1


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve a fake DevSMS API (the sandbox) over HTTP, with a web inbox of every "
            "SMS it received at / (open the printed inbox URL in a browser)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port ({DEFAULT_PORT}); 0 picks a free one",
    )
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the one Bearer token it accepts")
    parser.add_argument(
        "--balance", type=_money, default=DEFAULT_BALANCE, help=f"so'm ({DEFAULT_BALANCE})"
    )
    parser.add_argument(
        "--sms-price",
        type=_money,
        default=DEFAULT_SMS_PRICE,
        help=f"so'm per Uzbek SMS part ({DEFAULT_SMS_PRICE})",
    )
    parser.add_argument(
        "--advance-every",
        type=_seconds,
        default=DEFAULT_ADVANCE_EVERY,
        metavar="SECONDS",
        help=f"move statuses one step every SECONDS ({DEFAULT_ADVANCE_EVERY:g}); 0: only "
        "when told (the inbox's buttons, Sandbox.advance)",
    )
    parser.add_argument(
        "--show-numbers",
        action="store_true",
        help="show whole phone numbers in the inbox (masked by default: 99890***4567)",
    )
    parser.add_argument("--no-inbox", action="store_true", help="serve the API only")
    parser.add_argument(
        "--allow-host",
        action="append",
        type=_allowed_host,
        default=[],
        metavar="HOST[:PORT]",
        help="also answer requests addressed to HOST (the Host header; the bound port "
        "unless PORT is given), e.g. a Docker service name; repeat it; '*' answers any. "
        "By default only 127.0.0.1, localhost, [::1] and the --host address are answered",
    )
    # The live-service switches (docs/live-service.md).
    parser.add_argument(
        "--money",
        choices=("live", "documented"),
        default="live",
        help='money as the live service writes it ("50.00", default) or as documented (50)',
    )
    parser.add_argument(
        "--refusals-as-200",
        action="store_true",
        help="refuse with HTTP 200 and success: false, as the live service does",
    )
    parser.add_argument(
        "--template",
        action="append",
        metavar="TEXT",
        help="turn on free-text moderation and approve this template ({} is any text); "
        "repeat it for more",
    )
    parser.add_argument(
        "--registered-number",
        action="append",
        metavar="PHONE",
        help="turn on the test-sender rule: 4546 delivers only to these numbers; repeat it",
    )
    # Rehearsing a campaign (docs/testing.md): a provider that is slow, and one that limits.
    parser.add_argument(
        "--latency",
        type=_milliseconds,
        default=0.0,
        metavar="MS",
        help="answer every API request MS milliseconds late (0); other requests are "
        "served meanwhile",
    )
    parser.add_argument(
        "--rate-limit",
        type=_per_second,
        default=None,
        metavar="N",
        help="at most N API requests (sends and reads) in any one second; beyond it "
        "answer HTTP 429 with Retry-After, as a provider would (off)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log each API request to stderr (-vv: the inbox's requests too)",
    )
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # deprecated
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return value


def _allowed_host(text: str) -> str:
    from ..errors import ValidationError
    from ._hosts import parse_allowed_host

    try:
        parse_allowed_host(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(
            f"must be a host name or address with an optional port (sandbox, "
            f"sandbox:8000, 192.168.1.5) or '*', got {text!r}"
        ) from None
    return text


def _at_least(parse: Callable[[str], float], low: float, what: str) -> Callable[[str], Any]:
    """An argparse ``type``: ``parse(text)``, finite and at least ``low``, or an error
    that says ``must be {what} >= {low}``."""

    def check(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            value = low - 1
        if not low <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be {what} >= {low}, got {text!r}")
        return value

    return check


_money = _at_least(int, 0, "a whole number of so'm")
_seconds = _at_least(float, 0, "a number of seconds")
_per_second = _at_least(int, 1, "a whole number of requests")
_number_of_ms = _at_least(float, 0, "a number of milliseconds")


def _milliseconds(text: str) -> float:
    return float(_number_of_ms(text)) / 1000


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m devsms_async.testing") -> int:
    """Serve until Ctrl-C; returns the exit code (0 on Ctrl-C, 1 if it cannot bind,
    2 for bad arguments)."""
    import anyio

    from ._server import SandboxServer, serve

    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if args.quiet:
        print(
            "warning: --quiet is deprecated and does nothing: the request log is off "
            "unless -v is given",
            file=sys.stderr,
        )
    if not args.token or any(ch.isspace() for ch in args.token):
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: --token must be non-empty, without spaces", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        args.token,
        balance=args.balance,
        sms_price=args.sms_price,
        money=args.money,
        refusals_as_200=args.refusals_as_200,
        templates=args.template,
        registered_numbers=args.registered_number,
        latency=args.latency,
        rate_limit=args.rate_limit,
    )
    advance_every = args.advance_every or None
    if not is_loopback(args.host):
        print(
            f"warning: serving on {args.host}: the sandbox is a test server, the token "
            "travels in clear text over plain HTTP, and it answers only requests "
            "addressed to a loopback name or the --host address (add others with "
            "--allow-host)",
            file=sys.stderr,
        )

    def ready(server: SandboxServer) -> None:
        print(FIRST_LINE.format(url=server.base_url), flush=True)
        if server.inbox_url is not None:
            masked = "" if args.show_numbers else " (numbers masked; --show-numbers shows them)"
            print(f"inbox: {server.inbox_url}{masked}")
        # The well-known test token may be printed; one the user chose is theirs.
        shown = sandbox.token if sandbox.token == DEFAULT_TOKEN else "<your --token>"
        print(f"token: {shown}")
        print(f"try:   devsms --base-url {server.base_url} --token {shown} balance")
        moving = (
            f"statuses move one step every {advance_every:g} s"
            if advance_every
            else "statuses move only when told"
        )
        pace = []
        if args.latency:
            pace.append(f"answers take {args.latency * 1000:g} ms")
        if args.rate_limit is not None:
            pace.append(f"more than {args.rate_limit} requests a second get HTTP 429")
        if pace:
            print("; ".join(pace))
        print(f"{moving}; Ctrl-C stops.", flush=True)

    with _request_log(args.verbose):
        try:
            anyio.run(
                lambda: serve(
                    sandbox,
                    host=args.host,
                    port=args.port,
                    advance_every=advance_every,
                    inbox=not args.no_inbox,
                    show_numbers=args.show_numbers,
                    on_ready=ready,
                    allowed_hosts=args.allow_host,
                ),
                backend="asyncio",
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            # Ctrl-C: KeyboardInterrupt on Python 3.11+; on 3.10 anyio's runner cancels
            # the main task instead, and the CancelledError surfaces here.
            print("sandbox stopped", file=sys.stderr)
        except OSError as exc:
            print(
                f"error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return EXIT_ERROR
    return EXIT_OK


@contextlib.contextmanager
def _request_log(verbose: int) -> Iterator[None]:
    """``-v``: one line per API request on stderr (``-vv`` adds the inbox's). Only our
    own logger is touched, and put back afterwards (``run_cli`` may run in-process)."""
    logger = logging.getLogger("devsms_async.testing")
    saved = logger.level, logger.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    handler.setLevel(logging.INFO if verbose < 2 else logging.DEBUG)
    logger.addHandler(handler)
    # Errors (a bug in the sandbox) are always shown; requests only with -v.
    logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.ERROR)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
