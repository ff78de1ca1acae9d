"""The benchmarks' loopback DevSMS service: the sandbox itself, for benchmarks only.

The sandbox's pure handler and state answer, over the sandbox's own HTTP server (the
one ``devsms sandbox serve`` runs), so the SDK and raw httpx/aiohttp are measured against
the very answers the test suite checks, not against a second fake. It runs in its own
process, pinned to its own core; the benchmarks measure the client's CPU, so the
server's speed matters less than its answers being right.

Routes: the sandbox's, under any prefix (``<prefix>/send_sms.php`` is the sandbox's
``/api/send_sms.php``). A base URL ending in ``/records/<N>`` serves the history of a
sandbox holding ``N`` messages (made on first use; ``--history-total`` is made at start),
so one server answers walks of any size. The account never runs out of money, and the
recorded requests are dropped as they come (a benchmark sends many thousands).

Run it alone: ``python benchmarks/server.py --port 8000`` (prints ``PORT <n>``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable

import anyio

from devsms_async.models import SmsStatus, SmsType
from devsms_async.testing import Sandbox, SandboxServer, serve
from devsms_async.testing._app import Reply

TOKEN = "bench-token-0123456789abcdef"
BALANCE = 10**15
RECORD_TEXT = "Salom! Buyurtmangiz #{n} tayyor."


AUTH = (("authorization", f"Bearer {TOKEN}"),)


def seed(sandbox: Sandbox, count: int) -> None:
    """Store ``count`` delivered messages, as sends and their delivery would."""
    state = sandbox._state
    for _ in range(count):
        n = state._next_id
        message = state.store(
            phone=f"99890{n % 10_000_000:07d}",
            text=RECORD_TEXT.format(n=n),
            sender="4546",
            sms_type=SmsType.ESKIZ,
            parts_count=1,
            total_cost=50,
            country="Uzbekistan",
            country_code="uz",
            callback_url=None,
        )
        state.transition(message.sms_id, SmsStatus.DELIVERED)


def history_body(total: int, limit: int, offset: int = 0) -> bytes:
    """The first page (``offset`` 0) of a ``total``-record history, as the sandbox
    answers it; only that page's records are made, with the ids they would have."""
    if offset != 0:
        raise ValueError("only the first page is made here")
    limit = max(1, min(limit, 200))
    rows = min(limit, total)
    box = Sandbox(TOKEN, balance=BALANCE, first_sms_id=max(1, total - rows + 1))
    seed(box, rows)
    return box._handle("GET", f"/api/get_history.php?limit={limit}", AUTH, b"").body


def _send_body() -> bytes:
    box = Sandbox(TOKEN, balance=BALANCE, first_sms_id=123)
    payload = {"phone": "998901234567", "message": "Salom!", "type": "eskiz"}
    return box._handle("POST", "/api/send_sms.php", AUTH, json.dumps(payload).encode()).body


SEND_BODY = _send_body()
"""A send's answer exactly as the sandbox gives it (for in-process benchmarks)."""


class BenchSandbox(Sandbox):
    """One sandbox for sends, balance and status; one per history size for walks."""

    def __init__(self, history_total: int) -> None:
        super().__init__(TOKEN, balance=BALANCE)
        self.history_total = history_total
        self._histories: dict[int, Sandbox] = {}
        self._history(history_total)

    def _history(self, records: int) -> Sandbox:
        found = self._histories.get(records)
        if found is None:
            found = Sandbox(TOKEN, balance=BALANCE)
            seed(found, records)
            self._histories[records] = found
        return found

    def _handle(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Reply:
        path, sep, query = target.partition("?")
        parts = path.split("/")
        script = parts[-1]
        api_target = f"/api/{script}{sep}{query}"
        if script == "get_history.php":
            records = self.history_total
            if len(parts) >= 3 and parts[-3] == "records" and parts[-2].isdigit():
                records = int(parts[-2])
            box = self._history(records)
            reply = box._handle(method, api_target, headers, body)
            box.requests.clear()
            return reply
        reply = super()._handle(method, api_target, headers, body)
        self.requests.clear()
        return reply


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--history-total", type=int, default=0)
    args = parser.parse_args(argv)
    sandbox = BenchSandbox(args.history_total)

    def ready(server: SandboxServer) -> None:
        print(f"PORT {server.port}", flush=True)

    # Stopped by SIGTERM from benchmarks/_common.py (the default action ends the process).
    anyio.run(lambda: serve(sandbox, host=args.host, port=args.port, on_ready=ready))


if __name__ == "__main__":
    main()
