"""A real HTTP/1.1 server on 127.0.0.1 that misbehaves on command.

It runs in its own thread with its own asyncio loop, so the client under test may run
on asyncio or trio, and a stalled handler never blocks the client's loop::

    with FaultServer() as server:
        server.script(Reset(processed=True), Reply.html(502, "Bad Gateway"))
        async with AsyncDevSMS(TOKEN, base_url=server.base_url) as sms:
            ...
        server.wait_idle()          # every client connection was closed
        assert server.count("send_sms.php") == 1

Each request takes the next scripted fault; unscripted requests are answered by
``server.api``: the sandbox (``devsms_async.testing``), through its handler, so a test can
check both what the client saw and what "the provider" did. A fault with
``processed=True`` lets the API handle the request (the SMS is stored as sent) and then
misbehaves with the answer: the case of a send that went through while its answer was
lost.

Faults: :class:`Reply` (any status, headers and body: 429 with ``Retry-After``, an HTML
502, a PHP notice, truncated JSON, ...), :class:`Reset` (TCP RST instead of an answer),
:class:`Close` (FIN, no answer), :class:`ResetMidBody`, :class:`Stall`, :class:`Drip`
and :class:`Raw` (bytes that are not HTTP). Failures before a connection exists come
from :func:`refused_url` (nobody listens) and :func:`unaccepting_url` (connect timeout).

The ``fault_server`` fixture (tests/conftest.py) starts one server per test and, after
the test, fails it if any connection is still open.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as _dt
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from typing import Any

import attrs

from devsms_async.testing import Sandbox
from devsms_async.testing._app import HttpRequest
from devsms_async.testing._sandbox import handler
from support import TOKEN

TASHKENT = _dt.timezone(_dt.timedelta(hours=5), "Asia/Tashkent")

__all__ = [
    "Close",
    "Drip",
    "Endless",
    "Fault",
    "FaultServer",
    "Raw",
    "Received",
    "Reply",
    "Reset",
    "ResetMidBody",
    "SandboxAPI",
    "Stall",
    "StreamReport",
    "Trailing",
    "refused_url",
    "unaccepting_url",
]


# -- faults ------------------------------------------------------------------------------


@attrs.frozen
class Reply:
    """Answer this instead of the API (unless ``processed``, the API never sees it)."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    processed: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, *, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status,
            json.dumps(payload).encode(),
            (("Content-Type", "application/json"), *(headers or {}).items()),
        )

    @classmethod
    def html(cls, status: int, text: str, *, headers: dict[str, str] | None = None) -> Reply:
        page = f"<html><head><title>{status}</title></head><body><h1>{text}</h1></body></html>"
        return cls(
            status,
            page.encode(),
            (("Content-Type", "text/html"), *(headers or {}).items()),
        )


@attrs.frozen
class Reset:
    """Read the whole request, then reset the connection (RST) instead of answering."""

    processed: bool = False


@attrs.frozen
class Close:
    """Read the whole request, then close the connection cleanly (FIN), no answer."""

    processed: bool = False


@attrs.frozen
class ResetMidBody:
    """Send the status line, headers and ``keep`` bytes of the body, then reset."""

    keep: int = 10
    processed: bool = True
    reply: Reply | None = None
    """Whose body to cut; ``None``: the API's own answer."""


@attrs.frozen
class Stall:
    """Say nothing: until the client hangs up, or for ``seconds`` and then answer."""

    seconds: float | None = None
    processed: bool = False
    """With ``seconds=None``: whether the API handled the request it never answers."""


@attrs.frozen
class Drip:
    """Send the API's answer ``chunk`` bytes at a time, ``interval`` seconds apart."""

    interval: float = 0.001
    chunk: int = 8
    processed: bool = True


@attrs.frozen
class Raw:
    """Write these bytes (not HTTP), then close."""

    data: bytes = b"SSH-2.0-OpenSSH_9.6\r\n"
    processed: bool = False


_STALE_BODY = (
    b'{"success": true, "message": "stale", "data": {"sms_id": 999, "request_id": "stale", '
    b'"status": "sent", "parts_count": 1, "total_cost": 50, "balance": 1, "type": "eskiz"}}'
)
STALE_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_STALE_BODY), _STALE_BODY)
)
"""A complete second answer (``sms_id`` 999) that belongs to no request."""


@attrs.frozen
class Trailing:
    """The API's answer, then ``extra`` bytes past its ``Content-Length`` (a second
    response, a PHP warning): in the same write, or with ``separate`` in a second one."""

    extra: bytes = STALE_ANSWER
    separate: bool = False
    processed: bool = True


@attrs.frozen
class Endless:
    """A chunked answer (no ``Content-Length``) that goes on until the client hangs up,
    or until ``limit`` bytes, then ends properly. ``server.streams`` says how far each
    one got."""

    status: int = 200
    chunk: int = 64 * 1024
    limit: int = 64 * 1024 * 1024
    processed: bool = False


@attrs.frozen
class StreamReport:
    """How an :class:`Endless` answer ended."""

    written: int
    """Body bytes the server managed to hand to the kernel."""
    finished: bool
    """``True``: all ``limit`` bytes went out (the client read it all)."""


Fault = Reply | Reset | Close | ResetMidBody | Stall | Drip | Raw | Trailing | Endless


# -- what the server saw -----------------------------------------------------------------


@attrs.frozen
class Received:
    """One request as the server read it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    connection: int
    """Which connection (1-based, in accept order) carried it."""
    target: str = ""
    """The path with its query string, as sent."""

    @property
    def endpoint(self) -> str:
        """The last path segment: ``send_sms.php``."""
        return self.path.rsplit("/", 1)[-1]

    def json(self) -> Any:
        return json.loads(self.body)


# -- the well-behaved part: the sandbox -------------------------------------------------


class SandboxAPI:
    """The sandbox behind the fault server, and what it stored.

    Money is written as the documentation shows it (JSON numbers); ``balance`` starts
    at 1 000 000 so'm. Thread-safe: the server's thread and the test's share it.
    """

    def __init__(self, *, token: str = TOKEN, balance: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        self._pinned: _dt.datetime | None = None
        self.sandbox = Sandbox(token, balance=balance, money="documented", clock=self._now)
        self._handler = handler(self.sandbox)

    def _now(self) -> _dt.datetime:
        return self._pinned or _dt.datetime.now(TASHKENT)

    @property
    def balance(self) -> Decimal:
        return self.sandbox.balance

    @property
    def price(self) -> Decimal:
        return self.sandbox.sms_price

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every stored SMS as ``get_history`` shows it, oldest first."""
        with self._lock:
            return [message.to_api() for message in self.sandbox.messages]

    def add_record(
        self, phone: str, message: str, *, created_at: _dt.datetime | None = None
    ) -> dict[str, Any]:
        """Send one SMS past the faults, as if at ``created_at``; returns its record."""
        body = json.dumps({"phone": phone, "message": message}).encode()
        request = HttpRequest(
            "POST", "/api/send_sms.php", (("authorization", f"Bearer {self.sandbox.token}"),), body
        )
        with self._lock:
            self._pinned = created_at
            try:
                reply = self._handler(request)
            finally:
                self._pinned = None
            assert reply.status == 200, reply.body
            return self.sandbox.messages[-1].to_api()

    def reply(self, request: Received) -> Reply:
        """The sandbox's answer to one request."""
        headers = tuple(request.headers.items())
        with self._lock:
            answer = self._handler(
                HttpRequest(request.method, request.target, headers, request.body)
            )
        return Reply(answer.status, answer.body, answer.headers)

    def handle(self, request: Received) -> tuple[int, Any]:
        """Status and JSON payload of the sandbox's answer to one request."""
        answer = self.reply(request)
        return answer.status, json.loads(answer.body)


# -- the server --------------------------------------------------------------------------


class FaultServer:
    """The misbehaving server; use it as a context manager (or ``start``/``stop``)."""

    def __init__(self, api: SandboxAPI | None = None, *, token: str = TOKEN) -> None:
        self.api = api or SandboxAPI(token=token)
        self.port = 0
        self._script: collections.deque[Fault] = collections.deque()
        self._requests: list[Received] = []
        self._open = 0
        self._accepted = 0
        self._state = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._listener: asyncio.Server
        self._writers: set[asyncio.StreamWriter] = set()
        self._error: BaseException | None = None
        self.fault_for: Callable[[Received], Fault | None] | None = None
        """Picks a fault by the request itself, for requests the script does not cover
        (concurrent requests arrive in any order)."""
        self.errors: list[Exception] = []
        """Unexpected exceptions in connection handlers (the fixture fails on any)."""
        self.streams: list[StreamReport] = []
        """One per :class:`Endless` answer, once it ended."""
        self.trailers_sent = 0
        """:class:`Trailing` answers dealt with (written, or cut by the client)."""

    # public API --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def script(self, *faults: Fault) -> None:
        """What the next requests get, in order (then the API answers normally)."""
        with self._state:
            self._script.extend(faults)

    def clear_script(self) -> None:
        """Forget the faults not used yet."""
        with self._state:
            self._script.clear()

    @property
    def requests(self) -> list[Received]:
        with self._state:
            return list(self._requests)

    def count(self, endpoint: str | None = None) -> int:
        """Requests received (read in full), all or for one endpoint (``send_sms.php``)."""
        return sum(1 for r in self.requests if endpoint is None or r.endpoint == endpoint)

    @property
    def sends(self) -> list[Any]:
        """The JSON bodies of every send request received, processed or not."""
        return [r.json() for r in self.requests if r.endpoint == "send_sms.php"]

    @property
    def open_connections(self) -> int:
        with self._state:
            return self._open

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._state:
            return self._accepted

    def wait_idle(self, timeout: float = 3.0) -> None:
        """Block until no client connection is open; ``AssertionError`` after ``timeout``."""
        with self._state:
            if not self._state.wait_for(lambda: self._open == 0, timeout):
                raise AssertionError(
                    f"{self._open} client connection(s) still open {timeout}s after the test"
                )

    async def wait_for_requests(self, n: int, endpoint: str | None = None) -> None:
        """Poll (from any event loop) until ``n`` matching requests have arrived."""
        import anyio

        with anyio.fail_after(5):
            while self.count(endpoint) < n:
                await anyio.sleep(0.005)

    # lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fault-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the fault server did not start")
        if self._error is not None:
            raise RuntimeError("the fault server failed to start") from self._error

    def stop(self) -> None:
        if self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        self._thread.join(5)
        self._thread = None
        if self._error is not None:
            raise RuntimeError("the fault server crashed") from self._error

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._listener = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        self._listener.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for _ in range(3):  # let the handlers see their connections end
            await asyncio.sleep(0)

    def pause(self) -> None:
        """Stop listening: new connections are refused (by the kernel) until ``resume``."""
        self._in_loop(self._pause())

    def resume(self) -> None:
        """Listen again, on the same port."""
        self._in_loop(self._resume())

    async def _pause(self) -> None:
        self._listener.close()

    async def _resume(self) -> None:
        self._listener = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    def _in_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    # one connection ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._state:
            self._open += 1
            self._accepted += 1
            connection = self._accepted
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader, connection)
                if request is None:
                    break
                with self._state:
                    self._requests.append(request)
                    fault = self._script.popleft() if self._script else None
                if fault is None and self.fault_for is not None:
                    fault = self.fault_for(request)
                if not await self._respond(request, fault, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # a bug in a test's script: fail the test, loudly
            self.errors.append(exc)
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()
            with self._state:
                self._open -= 1
                self._state.notify_all()

    async def _respond(
        self,
        request: Received,
        fault: Fault | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer (or not); ``False`` when the connection is done."""
        if fault is None:
            writer.write(self._api_reply(request))
            await writer.drain()
            return True
        processed = self._api_reply(request) if fault.processed else None
        match fault:
            case Reply():
                writer.write(_render(fault))
                await writer.drain()
                return True
            case Reset():
                _reset(writer)
                return False
            case Close():
                writer.close()
                return False
            case ResetMidBody():
                whole = _render(fault.reply) if fault.reply else (processed or b"")
                head, _, body = whole.partition(b"\r\n\r\n")
                writer.write(head + b"\r\n\r\n" + body[: fault.keep])
                await writer.drain()
                _reset(writer)
                return False
            case Stall(seconds=None):
                await _until_hangup(reader)
                return False
            case Stall(seconds=seconds):
                assert seconds is not None
                if await _hung_up_within(reader, seconds):
                    return False
                writer.write(processed or self._api_reply(request))
                await writer.drain()
                return True
            case Drip():
                data = processed or self._api_reply(request)
                for i in range(0, len(data), fault.chunk):
                    writer.write(data[i : i + fault.chunk])
                    await writer.drain()
                    if await _hung_up_within(reader, fault.interval):
                        return False
                return True
            case Raw():
                writer.write(fault.data)
                await writer.drain()
                writer.close()
                return False
            case Trailing():
                answer = processed or b""
                try:
                    if fault.separate:
                        writer.write(answer)
                        await writer.drain()
                        writer.write(fault.extra)
                    else:
                        writer.write(answer + fault.extra)
                    await writer.drain()
                finally:  # done, or the client hung up on it first (aiohttp may)
                    with self._state:
                        self.trailers_sent += 1
                return True
            case Endless():
                return await self._endless(fault, writer)
        raise AssertionError(f"unknown fault {fault!r}")  # pragma: no cover

    async def _endless(self, fault: Endless, writer: asyncio.StreamWriter) -> bool:
        reason = _REASONS.get(fault.status, "Status")
        writer.write(
            f"HTTP/1.1 {fault.status} {reason}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        start = b'{"success": true, "data": {"pad": "'
        frame = b"%x\r\n" % fault.chunk + b"x" * fault.chunk + b"\r\n"  # one object, reused
        written, finished = 0, False
        try:
            writer.write(b"%x\r\n" % len(start) + start + b"\r\n")
            while written < fault.limit:
                writer.write(frame)
                await writer.drain()
                written += fault.chunk
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            finished = True
        except ConnectionError:
            pass
        finally:
            with self._state:
                self.streams.append(StreamReport(written, finished))
        return finished

    def _api_reply(self, request: Received) -> bytes:
        return _render(self.api.reply(request))


# -- wire helpers ------------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def _render(reply: Reply) -> bytes:
    reason = _REASONS.get(reply.status, "Status")
    lines = [f"HTTP/1.1 {reply.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    framed = {"content-length", "transfer-encoding"}
    if not any(name.lower() in framed for name, _ in reply.headers):
        lines.append(f"Content-Length: {len(reply.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed the connection between requests
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    url = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(url.query))
    return Received(method, url.path, query, headers, body, connection, target)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with SO_LINGER 0: the kernel sends RST, not FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _until_hangup(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _hung_up_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait ``seconds``; ``True`` as soon as the client closes the connection."""
    try:
        await asyncio.wait_for(_until_hangup(reader), seconds)
    except asyncio.TimeoutError:
        return False
    return True


# -- failures before a connection exists -------------------------------------------------


def refused_url() -> str:
    """A base URL whose port nobody listens on: connecting is refused by the kernel."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


@contextlib.contextmanager
def unaccepting_url() -> Iterator[str]:
    """A base URL where connecting times out: a listener that never accepts, with its
    backlog already full, so the kernel drops further SYNs."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.02)  # let the handshakes fill the queue
        yield f"http://127.0.0.1:{port}/api"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
