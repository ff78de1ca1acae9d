"""``python -m devsms_async.testing``: serve a sandbox over HTTP (no CLI extra needed)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import anyio

from ._sandbox import DEFAULT_BALANCE, DEFAULT_SMS_PRICE, DEFAULT_TOKEN, Sandbox
from ._server import SandboxServer, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devsms_async.testing",
        description="Serve a fake DevSMS API (the sandbox) over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the Bearer token to accept")
    parser.add_argument("--balance", type=int, default=DEFAULT_BALANCE, help="so'm")
    parser.add_argument("--sms-price", type=int, default=DEFAULT_SMS_PRICE, help="so'm per part")
    parser.add_argument(
        "--advance-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="move statuses one step every SECONDS (default: never)",
    )
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)
    sandbox = Sandbox(args.token, balance=args.balance, sms_price=args.sms_price)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    def ready(server: SandboxServer) -> None:
        print(f"DevSMS sandbox serving at {server.base_url}", flush=True)

    # Ctrl-C: KeyboardInterrupt on 3.11+; on 3.10 anyio's runner cancels the main task.
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        anyio.run(
            lambda: serve(
                sandbox,
                host=args.host,
                port=args.port,
                advance_every=args.advance_every,
                on_ready=ready,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
