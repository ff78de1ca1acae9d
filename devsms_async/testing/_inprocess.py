"""``SandboxTransport``: the sandbox as an ``httpx`` transport, no sockets involved.

It is both an async and a sync httpx transport, so ``AsyncDevSMS`` and ``DevSMS`` take
the same object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._transport import (
    AsyncBaseTransport,
    BaseTransport,
    ConnectError,
    RemoteProtocolError,
    Request,
    Response,
)
from ._app import HttpRequest
from ._sandbox import handler

if TYPE_CHECKING:
    from . import _app
    from ._sandbox import Sandbox

__all__ = ["SandboxTransport"]


class SandboxTransport(AsyncBaseTransport, BaseTransport):
    """Answers ``httpx`` requests from a ``Sandbox``, in-process.

    The host of the URL is ignored, so the SDK's default base URL works as is:

    ```python
    async with AsyncDevSMS(sandbox.token, transport=SandboxTransport(sandbox)) as sms:
        ...
    with DevSMS(sandbox.token, transport=SandboxTransport(sandbox)) as sms:
        ...
    ```

    Callbacks are not POSTed behind your back: they wait until you call
    ``sandbox.advance()``, ``sandbox.set_status()`` or ``sandbox.deliver_callbacks()``.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __repr__(self) -> str:
        return f"<SandboxTransport {self.sandbox!r}>"

    async def handle_async_request(self, request: Request) -> Response:
        reply = self._reply(request, await request.aread())
        if self.sandbox.latency:
            import anyio

            await anyio.sleep(self.sandbox.latency)
        return self._answer(request, reply)

    def handle_request(self, request: Request) -> Response:
        reply = self._reply(request, request.read())
        if self.sandbox.latency:
            import time

            time.sleep(self.sandbox.latency)
        return self._answer(request, reply)

    def _reply(self, request: Request, body: bytes) -> _app.Reply:
        return handler(self.sandbox)(
            HttpRequest(
                request.method,
                request.url.raw_path.decode("ascii"),
                tuple(request.headers.multi_items()),
                body,
            )
        )

    def _answer(self, request: Request, reply: _app.Reply) -> Response:
        if reply.disconnect:
            if reply.processed:
                # httpcore's words when a server hangs up instead of answering.
                raise RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            raise ConnectError("the sandbox refused the connection", request=request)
        return Response(
            reply.status,
            headers=list(reply.headers),
            content=reply.body,
            request=request,
        )

    def close(self) -> None:
        """Nothing to close (the sync transport protocol asks for it)."""

    async def aclose(self) -> None:
        """Nothing to close."""
