"""``devsms sandbox serve``: the sandbox over HTTP until Ctrl-C."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from .._transport import is_loopback
from ._runtime import EXIT_ERROR, EXIT_OK, CLIError


def serve_forever(
    *,
    host: str,
    port: int,
    token: str | None,
    balance: int,
    sms_price: int,
    advance_every: float | None,
    live: dict[str, Any] | None = None,
) -> int:
    import anyio

    from ..testing import DEFAULT_TOKEN, Sandbox, SandboxServer, serve

    sandbox = Sandbox(token or DEFAULT_TOKEN, balance=balance, sms_price=sms_price, **(live or {}))
    if not is_loopback(host):
        print(
            f"warning: serving on {host}: the sandbox is a test server, and the token "
            "travels in clear text over plain HTTP",
            file=sys.stderr,
        )

    def ready(server: SandboxServer) -> None:
        # The first line is the contract for scripts: the URL, alone after the colon.
        print(f"DevSMS sandbox serving at: {server.base_url}", flush=True)
        print(f"token: {sandbox.token}")
        print(f"try:   devsms --base-url {server.base_url} --token {sandbox.token} balance")
        moving = (
            f"statuses move one step every {advance_every:g} s"
            if advance_every
            else "statuses move only when told"
        )
        print(f"{moving}; Ctrl-C stops.", flush=True)

    try:
        anyio.run(
            lambda: serve(
                sandbox, host=host, port=port, advance_every=advance_every, on_ready=ready
            ),
            backend="asyncio",
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C: KeyboardInterrupt on Python 3.11+; on 3.10 anyio's runner cancels the
        # main task instead, and the CancelledError surfaces here, after the loop closed.
        print("sandbox stopped", file=sys.stderr)
    except OSError as exc:
        raise CLIError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}", EXIT_ERROR
        ) from None
    return EXIT_OK
