"""A fast loopback stand-in for the DevSMS API, for benchmarks only.

A raw ``asyncio.Protocol`` HTTP/1.1 server: keep-alive, pipelining-safe, canned
answers in the spec's shapes, no framework. It must never be the bottleneck: it runs
in its own process, pinned to its own core, and does a few microseconds of work per
request (the send and balance answers are pre-rendered; history rows are formatted
from one template).

Routes (under any prefix): ``send_sms.php`` (POST), ``get_history.php`` (GET,
``limit``/``offset`` over ``--history-total`` records, newest first), ``get_balance.php``
(GET), ``get_status.php`` (GET). Anything else is a 404 in the API's error shape. A
base URL ending in ``/records/<N>`` serves a history of ``N`` records instead, so one
server answers walks of any size.

Run it alone: ``python benchmarks/server.py --port 8000`` (prints ``PORT <n>``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from urllib.parse import parse_qsl

SEND_BODY = json.dumps(
    {
        "success": True,
        "message": "SMS muvaffaqiyatli yuborildi",
        "data": {
            "sms_id": 123,
            "request_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "status": "sent",
            "parts_count": 1,
            "total_cost": 50,
            "balance": 950,
            "type": "eskiz",
        },
    },
    separators=(",", ":"),
).encode()

BALANCE_BODY = json.dumps(
    {
        "success": True,
        "data": {
            "balance": 1000,
            "sms_price": 50,
            "statistics": {
                "total_sms": 100,
                "total_spent": 5000,
                "today_sms": 10,
                "today_spent": 500,
                "month_sms": 50,
                "month_spent": 2500,
            },
        },
    },
    separators=(",", ":"),
).encode()

# One history row as the provider prints it; ids, phone and timestamps vary per row.
ROW_TEMPLATE = (
    '{"id":%d,"phone_number":"99890%07d","message":"Salom! Buyurtmangiz #%d tayyor.",'
    '"status":"delivered","parts_count":1,"total_cost":50,"from_number":"4546",'
    '"eskiz_request_id":"req-%d","eskiz_message_id":"msg-%d",'
    '"sent_at":"%s","delivered_at":"%s","failed_at":null,"created_at":"%s"}'
)


def stamp(seconds: int) -> str:
    """A ``YYYY-MM-DD HH:MM:SS`` time ``seconds`` into March 2026 (wraps after 28 days)."""
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    return f"2026-03-{1 + days % 28:02d} {hour:02d}:{minute:02d}:{second:02d}"


def history_row(record_id: int) -> str:
    return ROW_TEMPLATE % (
        record_id,
        record_id % 10_000_000,
        record_id,
        record_id,
        record_id,
        stamp(record_id),
        stamp(record_id + 5),
        stamp(record_id - 2),
    )


STATUS_BODY = (
    '{"success":true,"data":' + history_row(123)[:-1] + ',"updated_at":"2026-03-09 10:30:05"}}'
).encode()

NOT_FOUND_BODY = b'{"success":false,"error":"Topilmadi"}'


def history_body(total: int, limit: int, offset: int) -> bytes:
    """A page of ``total`` records, newest (highest id) first."""
    limit = max(1, min(limit, 200))
    stop = min(total, offset + limit)
    rows = ",".join(history_row(total - i) for i in range(offset, stop))
    count = max(stop - offset, 0)
    return (
        f'{{"success":true,"data":{{"history":[{rows}],"count":{count},'
        f'"limit":{limit},"offset":{offset}}}}}'
    ).encode()


def response(status: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


SEND_RESPONSE = response(b"200 OK", SEND_BODY)
BALANCE_RESPONSE = response(b"200 OK", BALANCE_BODY)
STATUS_RESPONSE = response(b"200 OK", STATUS_BODY)
NOT_FOUND_RESPONSE = response(b"404 Not Found", NOT_FOUND_BODY)
BAD_REQUEST_RESPONSE = response(b"400 Bad Request", b'{"success":false,"error":"bad"}')


class APIProtocol(asyncio.Protocol):
    """One connection: parse requests out of the byte stream, answer each in order."""

    history_total = 100_000

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        out = []
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buffer[:head_end]
            length = 0
            marker = head.find(b"ontent-Length:")
            if marker < 0:
                marker = head.find(b"ontent-length:")
            if marker >= 0:
                line_end = head.find(b"\r\n", marker)
                length = int(head[marker + 14 : line_end if line_end >= 0 else None])
            end = head_end + 4 + length
            if len(buffer) < end:
                break
            out.append(self.route(head))
            buffer = buffer[end:]
        self.buffer = buffer
        if out:
            assert self.transport is not None
            self.transport.write(b"".join(out))

    def route(self, head: bytes) -> bytes:
        line_end = head.find(b"\r\n")
        request_line = head[:line_end] if line_end >= 0 else head
        try:
            method, target, _ = request_line.split(b" ", 2)
        except ValueError:
            return BAD_REQUEST_RESPONSE
        path, _, query = target.partition(b"?")
        if path.endswith(b"/send_sms.php") and method == b"POST":
            return SEND_RESPONSE
        if path.endswith(b"/get_history.php"):
            params = dict(parse_qsl(query.decode("ascii")))
            total = self.history_total
            parts = path.split(b"/")
            if len(parts) >= 3 and parts[-3] == b"records" and parts[-2].isdigit():
                total = int(parts[-2])
            body = history_body(total, int(params.get("limit", 50)), int(params.get("offset", 0)))
            return response(b"200 OK", body)
        if path.endswith(b"/get_balance.php"):
            return BALANCE_RESPONSE
        if path.endswith(b"/get_status.php"):
            return STATUS_RESPONSE
        return NOT_FOUND_RESPONSE


async def serve(host: str, port: int, history_total: int) -> None:
    APIProtocol.history_total = history_total
    loop = asyncio.get_running_loop()
    server = await loop.create_server(APIProtocol, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--history-total", type=int, default=100_000)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.history_total))


if __name__ == "__main__":
    main()
