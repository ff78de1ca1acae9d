"""The aiohttp backend: drives the sans-IO core on an ``aiohttp.ClientSession``.

No httpx objects on this path (that is where the old httpx-aiohttp route spent its
CPU): a plain ``WireRequest`` goes to ``session.request``, the answer comes back as a
plain ``WireResponse`` with the body capped while it streams. aiohttp is imported only
when this backend is chosen; it runs on asyncio only.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._classify import body_limit, head
from ._transport import DEFAULT_POOL_SIZE, Limits, Timeout, transport_failure
from ._wire import TransportFailure, WireRequest, WireResponse
from .errors import ValidationError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpBackend"]


class AiohttpBackend:
    """One aiohttp session (created in ``open``, inside the running loop) shaped
    like the httpx pool: the same size, keep-alive expiry and trusted certificates."""

    name = "aiohttp"

    def __init__(
        self, headers: Mapping[str, str], limits: Limits, base_url: str, timeout: Timeout
    ) -> None:
        self._default_timeout = timeout
        self._headers = dict(headers)
        self._limits = limits
        self._base_url = base_url
        self._proxy: Any = None
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
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
        import httpx  # only for the certificates httpx would trust (certifi, SSL_CERT_*)

        size = self._limits.max_connections or DEFAULT_POOL_SIZE
        connector = _connector_class()(
            limit=size,
            limit_per_host=size,
            keepalive_timeout=self._limits.keepalive_expiry or 30.0,
            ssl=httpx.create_ssl_context(trust_env=True),
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

    def _timeout(self, timeout: Timeout | None) -> aiohttp.ClientTimeout:
        if timeout is None:
            timeout = self._default_timeout
        key = (timeout.connect, timeout.read, timeout.write, timeout.pool)
        found = self._timeouts.get(key)
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
                self._timeouts[key] = found
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
        self, request: WireRequest, timeout: Timeout | None
    ) -> WireResponse | TransportFailure:
        session = self._session
        assert session is not None, "open() first"
        try:
            async with session.request(
                request.method,
                self._url(request.url),
                data=request.body,
                headers=request.headers or None,
                timeout=self._timeout(timeout),
                allow_redirects=False,
                proxy=self._proxy,
            ) as response:
                body, complete = await _read_capped(response)
                return WireResponse(response.status, response.headers, body, complete)
        except Exception as exc:
            failure = transport_failure(exc)
            if failure is None:
                raise
            return failure

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


async def _read_capped(response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """The body, cut at the limit for its status while it streams; ``False`` if cut.

    A cut answer's connection is closed, never put back in the pool.
    """
    limit = body_limit(response.status)
    announced = response.content_length
    if announced is not None:
        if announced > limit:
            response.close()
            return f"<{announced:,} bytes, not read>".encode(), False
        return await response.read(), True
    chunks: list[bytes] = []
    size = 0
    while True:
        # readchunk hands over one buffered piece; readany would join them all first.
        chunk, _ = await response.content.readchunk()
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            response.close()
            return head(chunks), False
