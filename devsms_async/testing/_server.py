"""The sandbox over real HTTP/1.1 on a TCP port (what ``devsms sandbox serve`` runs).

A small anyio server with h11 doing the HTTP, rather than uvicorn plus an ASGI
adapter, because it is the sturdier choice here:

* no new dependency: h11 already comes with httpx (through httpcore), while uvicorn
  would have to be an extra and the core sandbox could not serve without it;
* anyio all the way down, so it serves on asyncio and trio alike, inside a test's own
  event loop, with no signal handlers or logging set-up taken over;
* h11 is a complete, strict HTTP/1.1 parser (keep-alive, chunked bodies, ``Expect:
  100-continue``, HTTP/1.0): PHP's curl and the cURL CLI get a real server, not a
  hand-rolled approximation;
* it can do what a fake needs and ASGI cannot express: drop a connection without an
  answer (``Sandbox.disconnect_next``), bind port 0 and say which port it got.

It is a test server: one process, loopback by default, bodies up to 1 MiB.
"""

from __future__ import annotations

import email.utils
import http
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import h11

from . import _app
from ._hosts import AllowedHosts, parse_allowed_host
from ._sandbox import Sandbox, handler, step

if TYPE_CHECKING:
    from .._client import AsyncDevSMS
    from ._inbox import Inbox

__all__ = ["SandboxServer", "serve", "serve_sandbox"]

logger = logging.getLogger("devsms_async.testing")

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT = 30.0
"""Seconds a connection may sit without sending a byte (between or within requests)."""

_CONNECTION_GONE = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    TimeoutError,
)


class SandboxServer:
    """A running sandbox HTTP server (made by ``serve_sandbox``)."""

    def __init__(
        self, sandbox: Sandbox, host: str, port: int, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self.hosts = AllowedHosts(allowed_hosts, port=port, bound=host)
        """The ``Host`` check every request passes first (the API's and the inbox's)."""
        self._wake_dispatcher = anyio.Event()
        self.inbox: Inbox | None = None
        """The web inbox served at ``/`` (``serve_sandbox(inbox=True)``), or ``None``."""

    def __repr__(self) -> str:
        return f"<SandboxServer {self.base_url}>"

    @property
    def base_url(self) -> str:
        """The API root to give a client, e.g. ``http://127.0.0.1:8000/api``."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(  # noqa: S104
            self.host, self.host
        )
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/api"

    @property
    def inbox_url(self) -> str | None:
        """The web inbox's address, e.g. ``http://127.0.0.1:8000/``; ``None`` without one."""
        return None if self.inbox is None else self.base_url[: -len("api")]

    def client(self, **options: Any) -> AsyncDevSMS:
        """A not-yet-entered ``AsyncDevSMS`` talking to this server over HTTP."""
        from .._client import AsyncDevSMS

        return AsyncDevSMS(self.sandbox.token, base_url=self.base_url, **options)

    # -- background work -------------------------------------------------------------

    def _wake(self) -> None:
        if self.inbox is not None:
            self.inbox.notify()
        if self.sandbox.pending_callbacks:
            self._wake_dispatcher.set()

    async def _dispatch_callbacks(self) -> None:
        # One dispatcher delivers every batch, in order: a `sent` report never overtakes
        # its `delivered`, and a stalled receiver never holds up an API answer.
        while True:
            await self._wake_dispatcher.wait()
            self._wake_dispatcher = anyio.Event()
            try:
                await self.sandbox.deliver_callbacks()
            except Exception:
                logger.exception("delivering callbacks failed")
            if self.inbox is not None:
                self.inbox.notify()

    async def _tick(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            step(self.sandbox)
            self._wake()

    # -- one connection --------------------------------------------------------------

    async def _serve_connection(self, stream: anyio.abc.ByteStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        async with stream:
            try:
                while await self._exchange(conn, stream):
                    conn.start_next_cycle()
            except _CONNECTION_GONE:
                pass
            except h11.RemoteProtocolError:
                await self._try_send(conn, stream, _app.error_reply(400, _app.ERR_BAD_HTTP))
            except Exception:
                logger.exception("the sandbox failed on a request")
                await self._try_send(conn, stream, _app.error_reply(500, _app.ERR_SERVER))

    async def _exchange(self, conn: h11.Connection, stream: anyio.abc.ByteStream) -> bool:
        """Serve one request; ``True`` when the connection may carry another."""
        request = await _next_event(conn, stream)
        if not isinstance(request, h11.Request):
            return False
        method = request.method.decode("ascii")
        declared = _content_length(request.headers)
        if declared is not None and declared > MAX_BODY_BYTES:
            await _send(conn, stream, _app.error_reply(413, _app.ERR_TOO_LARGE), method)
            return False
        body = bytearray()
        while True:
            event = await _next_event(conn, stream)
            if isinstance(event, h11.EndOfMessage):
                break
            if not isinstance(event, h11.Data):
                return False
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                await _send(conn, stream, _app.error_reply(413, _app.ERR_TOO_LARGE), method)
                return False
        headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers
        )
        target = request.target.decode("latin-1")
        logged = target
        started = time.perf_counter()
        if self.inbox is not None and self.inbox.owns(target.partition("?")[0]):
            # The page's own requests never reach the fake API: not recorded, and an
            # armed fault stays armed for the code under test. The inbox checks Host
            # itself, with this server's `hosts`.
            reply = await self.inbox.handle(method, target, headers, bytes(body))
            level = logging.DEBUG
            logged = target.partition("?")[0]  # a search may hold a whole phone number
        elif not self.hosts.allows(host := _single_host(headers)):
            # Before the fake API sees it: not recorded, no armed fault used up.
            reply = _app.error_reply(403, self.hosts.refusal(host))
            level = logging.WARNING
        else:
            reply = handler(self.sandbox)(_app.HttpRequest(method, target, headers, bytes(body)))
            level = logging.INFO
            if self.sandbox.latency:
                # Handled on arrival, answered later: only this connection waits.
                await anyio.sleep(self.sandbox.latency)
        logger.log(
            level,
            "%s %s %s %.1f ms",
            method,
            logged,
            "-" if reply.disconnect else reply.status,
            (time.perf_counter() - started) * 1000,
        )
        if reply.disconnect:
            return False
        await _send(conn, stream, reply, method)
        self._wake()
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _try_send(
        self, conn: h11.Connection, stream: anyio.abc.ByteStream, reply: _app.Reply
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        try:
            await _send(conn, stream, reply, "GET")
        except (h11.LocalProtocolError, *_CONNECTION_GONE):
            pass


async def _next_event(conn: h11.Connection, stream: anyio.abc.ByteStream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        if conn.they_are_waiting_for_100_continue:
            await stream.send(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        with anyio.fail_after(IDLE_TIMEOUT):
            try:
                data = await stream.receive(65536)
            except anyio.EndOfStream:
                data = b""
        conn.receive_data(data)


async def _send(
    conn: h11.Connection, stream: anyio.abc.ByteStream, reply: _app.Reply, method: str
) -> None:
    headers = [
        *reply.headers,
        ("content-length", str(len(reply.body))),
        ("date", email.utils.formatdate(usegmt=True)),
        ("server", "devsms-sandbox"),
    ]
    try:
        reason = http.HTTPStatus(reply.status).phrase
    except ValueError:
        reason = ""
    data = conn.send(h11.Response(status_code=reply.status, headers=headers, reason=reason))
    if method != "HEAD":
        data += conn.send(h11.Data(data=reply.body))
    data += conn.send(h11.EndOfMessage())
    await stream.send(data)


def _single_host(headers: Iterable[tuple[str, str]]) -> str | None:
    """The one ``Host`` header's value; ``None`` without one or with several."""
    values = [value for name, value in headers if name.lower() == "host"]
    return values[0] if len(values) == 1 else None


def _content_length(headers: Any) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is a number
    return None


# -- public entry points ---------------------------------------------------------------


@asynccontextmanager
async def serve_sandbox(
    sandbox: Sandbox | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    advance_every: float | None = None,
    inbox: bool = False,
    show_numbers: bool = False,
    allowed_hosts: Iterable[str] = (),
) -> AsyncIterator[SandboxServer]:
    """Serve ``sandbox`` (a new default one if ``None``) over HTTP while the block runs.

    ``port=0`` picks a free port; read it from the yielded server's ``port`` or
    ``base_url``. Callbacks are POSTed in the background right after each answer.
    ``advance_every`` (seconds) moves statuses one step at that interval, for demos and
    hand-testing; leave it ``None`` and call ``sandbox.advance()`` in tests.
    ``inbox=True`` serves the web inbox at ``/`` too (numbers masked unless
    ``show_numbers``); see ``server.inbox_url``. The API and the inbox answer only
    requests whose ``Host`` is a loopback name or the bound address with the bound port
    (a guard against DNS rebinding); ``allowed_hosts`` adds names (``"sandbox"``,
    ``"sandbox:8000"``; ``"*"`` answers any):

    ```python
    async with serve_sandbox(Sandbox(token="T")) as server:
        async with server.client() as sms:      # or: curl server.base_url + ...
            await sms.send_sms("998901234567", "Salom!")
    ```
    """
    if advance_every is not None and not advance_every > 0:
        raise ValueError("advance_every must be a positive number of seconds or None")
    if isinstance(allowed_hosts, str):
        allowed_hosts = [allowed_hosts]
    allowed_hosts = list(allowed_hosts)
    for value in allowed_hosts:
        parse_allowed_host(value)  # refused before the port is bound
    sandbox = sandbox if sandbox is not None else Sandbox()
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener:
        bound = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        server = SandboxServer(sandbox, host, bound, allowed_hosts)
        if inbox:
            from ._inbox import Inbox

            server.inbox = Inbox(
                sandbox,
                show_numbers=show_numbers,
                advance_every=advance_every,
                wake=server._wake,
                hosts=server.hosts,
            )
        # The task group is entered and left by hand so that an exception raised in the
        # `async with` body reaches the caller as itself, not inside an ExceptionGroup:
        # it never passes through the group, which only ever sees its own tasks.
        tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            tg.start_soon(_serve_forever, listener, server)
            tg.start_soon(server._dispatch_callbacks)
            if advance_every is not None:
                tg.start_soon(server._tick, advance_every)
            yield server
        finally:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)


async def _serve_forever(listener: anyio.abc.Listener[Any], server: SandboxServer) -> None:
    await listener.serve(server._serve_connection)


async def serve(
    sandbox: Sandbox | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    advance_every: float | None = None,
    inbox: bool = False,
    show_numbers: bool = False,
    on_ready: Callable[[SandboxServer], object] | None = None,
    allowed_hosts: Iterable[str] = (),
) -> None:
    """Serve until cancelled (Ctrl+C): the body of ``devsms sandbox serve``.

    ``on_ready(server)`` is called once the port is bound (print the URL there).
    """
    async with serve_sandbox(
        sandbox,
        host=host,
        port=port,
        advance_every=advance_every,
        inbox=inbox,
        show_numbers=show_numbers,
        allowed_hosts=allowed_hosts,
    ) as srv:
        if on_ready is not None:
            on_ready(srv)
        await anyio.sleep_forever()
