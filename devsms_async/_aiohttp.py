"""The aiohttp backend: drives the sans-IO core on an ``aiohttp.ClientSession``.

Only bytes move here: a plain ``WireRequest`` goes to ``session.request``, the body
goes through the core's ``BodyReader`` (capped while it streams), and what comes back
is a plain ``WireResponse``, or a ``TransportFailure`` mapped from aiohttp's errors by
the table below. No httpx object is on this path; the face's httpx settings arrive as
plain values (``_transport.make_aiohttp_backend``). aiohttp is imported only when this
backend is chosen; it runs on asyncio only.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._body import NEED_DATA, TOO_LARGE, BodyReader
from ._wire import Timeouts, TransportFailure, WireRequest, WireResponse, failure
from .errors import APIConnectionError, APITimeoutError, ValidationError

if TYPE_CHECKING:
    import ssl

    import aiohttp

__all__ = ["AiohttpBackend", "transport_failure"]


class AiohttpBackend:
    """One aiohttp session (created in ``open``, inside the running loop) shaped
    like the httpx pool: the same size, keep-alive expiry and trusted certificates."""

    name = "aiohttp"

    def __init__(
        self,
        headers: Mapping[str, str],
        base_url: str,
        *,
        timeouts: Timeouts,
        pool_size: int,
        keepalive_expiry: float,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._default_timeouts = timeouts
        self._headers = dict(headers)
        self._pool_size = pool_size
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._base_url = base_url
        self._proxy: Any = None
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, Any] = {}

    @property
    def session(self) -> aiohttp.ClientSession | None:
        return self._session

    def open(self) -> None:
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            raise ValidationError(
                "http_backend", "'aiohttp' runs on asyncio only; on trio use 'httpx' (the default)"
            )
        try:
            import aiohttp
        except ImportError as exc:
            raise ValidationError(
                "http_backend", "'aiohttp' needs the extra: pip install 'devsms-async[aiohttp]'"
            ) from exc
        connector = _connector_class()(
            limit=self._pool_size,
            limit_per_host=self._pool_size,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl_context,
        )
        # The proxy from the environment (HTTPS_PROXY, NO_PROXY...), looked up once:
        # aiohttp's trust_env=True would look it up (and ~/.netrc) in a worker thread
        # on every request, two thread hops that cost more than the rest of a send,
        # and a netrc entry would clash with our Authorization header.
        with contextlib.suppress(LookupError):
            self._proxy, _ = aiohttp.helpers.get_env_proxy_for_url(self._url(self._base_url))
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )

    def _timeout(self, timeouts: Timeouts | None) -> aiohttp.ClientTimeout:
        timeout = self._default_timeouts if timeouts is None else timeouts
        found = self._timeouts.get(timeout)
        if found is None:
            import aiohttp

            # aiohttp's `connect` covers the wait for a pooled connection (httpx's pool
            # timeout); it has no write timeout.
            found = aiohttp.ClientTimeout(
                total=None,
                connect=timeout.pool,
                sock_connect=timeout.connect,
                sock_read=timeout.read,
            )
            if len(self._timeouts) < 16:
                self._timeouts[timeout] = found
        return found

    def _url(self, url: str) -> Any:
        found = self._urls.get(url)
        if found is None:
            import yarl

            found = yarl.URL(url, encoded="?" in url)
            if "?" not in url and len(self._urls) < 64:
                self._urls[url] = found
        return found

    async def send(
        self, request: WireRequest, timeouts: Timeouts | None
    ) -> WireResponse | TransportFailure:
        session = self._session
        assert session is not None, "open() first"
        try:
            async with session.request(
                request.method,
                self._url(request.url),
                data=request.body,
                headers=request.headers or None,
                timeout=self._timeout(timeouts),
                allow_redirects=False,
                proxy=self._proxy,
            ) as response:
                return await _read(response)
        except Exception as exc:
            mapped = transport_failure(exc)
            if mapped is None:
                raise  # not a transport failure: a bug, let it through unchanged
            return mapped

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


@functools.cache
def _connector_class() -> type[aiohttp.TCPConnector]:
    """aiohttp's connector, minus the reuse of a connection that received bytes while
    idle in the pool.

    A server that writes past its answer after it (a PHP warning, a second response)
    leaves those bytes parsed and waiting on the idle connection, and aiohttp hands
    them to the next request on it as *its* answer: a send would get another send's
    result. aiohttp checks ``should_close`` only when a connection is released; this
    checks it again when one is taken (a private hook: ``_get`` and ``_conns``, which
    the desync tests would catch changing).
    """
    import aiohttp

    class Connector(aiohttp.TCPConnector):
        async def _get(self, key: Any, traces: Any) -> Any:
            idle = self._conns.get(key)
            if idle:
                for entry in [e for e in idle if e[0].should_close]:
                    idle.remove(entry)
                    entry[0].close()
                if not idle:
                    del self._conns[key]
            return await super()._get(key, traces)

    return Connector


async def _read(response: aiohttp.ClientResponse) -> WireResponse:
    """The answer, its body through the core's ``BodyReader``. A cut answer's
    connection is closed, never put back in the pool."""
    body = BodyReader(response.status, response.headers)
    event = body.next_event()
    if body.expected is not None and event is not TOO_LARGE:
        body.receive_data(await response.read())  # all of it, in one read
        body.receive_data(b"")
        event = body.next_event()
    while event is NEED_DATA:
        # readchunk hands over one buffered piece; readany would join them all first.
        chunk, _ = await response.content.readchunk()
        body.receive_data(chunk)
        event = body.next_event()
    if event is TOO_LARGE:
        response.close()
    return body.answer()


def transport_failure(exc: BaseException) -> TransportFailure | None:
    """An aiohttp error as a plain failure (the SDK's error chained to it), or ``None``
    when ``exc`` is no aiohttp failure (a bug, a cancellation): then it propagates.

    Only a connector error and a connect timeout prove that nothing was sent; a
    disconnect or a reset may come after the request was written.
    """
    if type(exc).__module__.partition(".")[0] != "aiohttp":
        return None
    for kind, error, what, never_sent in _errors():
        if isinstance(exc, kind):
            return failure(exc, error, what, never_sent=never_sent)
    return None


_ErrorRow = tuple[type[BaseException], type[APIConnectionError], str, bool]


@functools.cache
def _errors() -> tuple[_ErrorRow, ...]:
    """aiohttp's errors, most specific first: (type, SDK error, wording, never sent)."""
    import aiohttp

    rows: list[_ErrorRow] = []
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp >= 3.10
    if connect_timeout is not None:
        rows.append((connect_timeout, APITimeoutError, "connect timed out", True))
    rows += [
        (aiohttp.ServerTimeoutError, APITimeoutError, "request timed out", False),
        (aiohttp.ClientConnectorError, APIConnectionError, "connection failed", True),
        (aiohttp.ClientError, APIConnectionError, "connection failed", False),
    ]
    return tuple(rows)
