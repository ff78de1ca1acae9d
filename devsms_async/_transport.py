"""The only module that imports httpx: its configuration types and the two httpx
backends (async and sync) that drive the sans-IO core.

httpx has had no release since 0.28.1 and a fork exists; keeping every ``import httpx``
here means switching is one file. Other modules import the names they need from here.
A backend turns a plain ``WireRequest`` into an ``httpx.Request`` on the client's pool,
reads the answer with the body capped while it streams, and hands back a plain
``WireResponse`` or ``TransportFailure``; it decides nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

import httpx
from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncClient,
    BaseTransport,
    Client,
    ConnectError,
    Headers,
    Limits,
    MockTransport,
    RemoteProtocolError,
    Request,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
)

from ._classify import body_limit, head
from ._wire import JSON_HEADERS, TransportFailure, WireRequest, WireResponse
from .errors import APIConnectionError, APITimeoutError, ValidationError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_TIMEOUT",
    "AsyncBaseTransport",
    "AsyncClient",
    "BaseTransport",
    "Client",
    "ConnectError",
    "HttpxAsyncBackend",
    "HttpxSyncBackend",
    "Headers",
    "HTTPBackend",
    "Limits",
    "MockTransport",
    "RemoteProtocolError",
    "Request",
    "Response",
    "Timeout",
    "TimeoutException",
    "TimeoutTypes",
    "TransportError",
    "URL",
    "check_base_url",
    "check_client_timeout",
    "exception_never_sent",
    "is_loopback",
    "make_client",
    "make_sync_client",
    "map_transport_error",
    "mark_if_desynchronised",
    "preferred_backend",
    "resolve_backend",
    "to_timeout",
    "transport_failure",
]

HTTPBackend = Literal["httpx", "aiohttp", "auto"]
"""``auto``: aiohttp when the extra is installed and the loop is asyncio, else httpx."""
TimeoutTypes = float | Timeout

DEFAULT_TIMEOUT = Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
"""connect 5 s, read 30 s (the provider talks to Eskiz while we wait), write 10 s, and
10 s to get a pooled connection: bulk sends never ask for more connections than the pool
holds, so a long pool wait means something is wrong."""

DEFAULT_POOL_SIZE = 10
"""Measured: at 100 requests in flight, ``Limits(10, 10)`` beat ``Limits(100, 100)`` by
1.4x on httpcore 1.0.9, whose pool polls every socket on each request."""

DEFAULT_LIMITS = Limits(
    max_connections=DEFAULT_POOL_SIZE,
    max_keepalive_connections=DEFAULT_POOL_SIZE,
    keepalive_expiry=30.0,
)


def to_timeout(value: TimeoutTypes | None) -> Timeout | None:
    if value is None or isinstance(value, Timeout):
        return value
    given: object = value  # callers may pass anything at run time
    if (
        isinstance(given, bool)
        or not isinstance(given, int | float)
        or not math.isfinite(given)
        or given <= 0
    ):
        raise ValidationError(
            "timeout", f"must be a positive number of seconds or an httpx.Timeout, got {value!r}"
        )
    return Timeout(float(given))


def check_client_timeout(value: object) -> Timeout:
    """The client's ``timeout=``: ``None`` is refused rather than read as httpx reads
    it ("no timeout"): a send with no limit at all can hang for ever on a stalled
    connection, so waiting for ever takes an explicit ``httpx.Timeout(None)``."""
    if value is None:
        raise ValidationError(
            "timeout",
            "None would let a request wait for ever; pass seconds (e.g. 30), an "
            "httpx.Timeout, or httpx.Timeout(None) if you really mean no limit",
        )
    timeout = to_timeout(value)  # type: ignore[arg-type]
    assert timeout is not None
    return timeout


def check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    """Validate ``base_url``; plain http is refused for non-loopback hosts.

    No error text quotes the URL: it is refused *because* it may hold a secret.
    """
    if not isinstance(base_url, str):
        raise ValidationError(
            "base_url", f"must be an http:// or https:// URL (a str), not {type(base_url).__name__}"
        )
    try:
        parts = urllib.parse.urlsplit(base_url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise ValidationError("base_url", "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValidationError("base_url", "must be an absolute http:// or https:// URL")
    if "@" in parts.netloc:
        # httpx would send these as Basic auth instead of the Bearer token, and log them.
        raise ValidationError(
            "base_url",
            "must not contain a user name or password (user:password@host); the SDK "
            "authenticates with the token: remove that part",
        )
    if "?" in base_url or "#" in base_url:
        raise ValidationError(
            "base_url",
            "must not contain a query (?...) or fragment (#...): the endpoint paths are "
            "added after it, e.g. https://devsms.uz/api",
        )
    if any(ch.isspace() or not ch.isprintable() for ch in base_url):
        raise ValidationError("base_url", "must not contain spaces or control characters")
    try:
        URL(base_url).host  # noqa: B018 - the host decodes its IDNA labels ("xn--") here
    except Exception:  # httpx.InvalidURL, or an IDNA error on a bad host name
        raise ValidationError("base_url", "is not a valid URL") from None
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(hostname):
        raise ValidationError(
            "base_url",
            "plain http:// would send the token in clear text; use https:// or pass "
            "allow_insecure_http=True",
        )
    return base_url.rstrip("/")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_backend(http_backend: HTTPBackend) -> Literal["httpx", "aiohttp"]:
    """The backend ``http_backend`` means here and now (inside the running loop)."""
    if http_backend != "auto":
        return http_backend
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        return "httpx"
    return "aiohttp" if preferred_backend() == "aiohttp" else "httpx"


def make_client(
    *,
    transport: AsyncBaseTransport | None,
    timeout: Timeout,
    limits: Limits,
    headers: Mapping[str, str],
) -> AsyncClient:
    """The pooled client owned by ``AsyncDevSMS`` (created inside ``__aenter__``)."""
    return AsyncClient(
        transport=transport,
        timeout=timeout,
        limits=limits,
        headers=headers,
        follow_redirects=False,
        trust_env=True,
    )


def make_sync_client(
    *,
    transport: BaseTransport | None,
    timeout: Timeout,
    limits: Limits,
    headers: Mapping[str, str],
) -> Client:
    """The pooled client owned by ``DevSMS`` (created inside ``__enter__``)."""
    return Client(
        transport=transport,
        timeout=timeout,
        limits=limits,
        headers=headers,
        follow_redirects=False,
        trust_env=True,
    )


def preferred_backend() -> Literal["httpx", "aiohttp"]:
    """``"aiohttp"`` when the ``devsms-async[aiohttp]`` extra is installed, else ``"httpx"``.

    For bulk jobs: with many requests in flight, the aiohttp transport costs the event
    loop several times less CPU per request (``docs/performance.md``). Nothing is
    imported to find out.
    """
    import importlib.util

    if importlib.util.find_spec("aiohttp") is not None:
        return "aiohttp"
    return "httpx"


def exception_never_sent(exc: BaseException) -> bool:
    """True when the request provably never reached the server.

    A refused connection, a connect timeout and a pool timeout all fail before a byte
    of the request is written; anything later may have been received.

    httpx-aiohttp maps *every* ``aiohttp.ClientConnectionError`` to
    ``httpx.ConnectTimeout``, including "server disconnected" and a reset after the
    request was written. So for that backend the original aiohttp error decides: only
    its connector errors and its connect timeout prove that nothing was sent.
    """
    origin = _aiohttp_origin(exc)
    if origin is not None:
        import aiohttp

        never_sent: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError,)
        connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp >= 3.10
        if connect_timeout is not None:
            never_sent += (connect_timeout,)
        return isinstance(origin, never_sent)
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def map_transport_error(exc: BaseException) -> APIConnectionError | None:
    """The SDK's error for a failure to send or to read the answer (chain it with
    ``from``), or ``None`` when ``exc`` is no such failure (a bug, a cancellation).
    """
    origin = _aiohttp_origin(exc)
    if origin is not None:
        return _map_aiohttp_error(origin)
    kind = _describe(exc)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"request timed out ({kind})")
    if isinstance(exc, httpx.TransportError):
        return APIConnectionError(f"connection failed ({kind})")
    if isinstance(exc, httpx.RequestError):
        # DecodingError: the status line arrived, the (compressed) body is garbage.
        return APIConnectionError(f"the answer could not be read ({kind})")
    return None


def _describe(exc: BaseException) -> str:
    """``ReadError: [Errno 104] ...``, or just ``ReadError`` when there is no text."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _aiohttp_origin(exc: BaseException) -> BaseException | None:
    """The aiohttp exception behind ``exc`` (raised as is, or mapped by httpx-aiohttp)."""
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else None
    for candidate in (exc, cause):
        if candidate is not None and type(candidate).__module__.partition(".")[0] == "aiohttp":
            return candidate
    return None


def _map_aiohttp_error(origin: BaseException) -> APIConnectionError | None:
    import aiohttp

    kind = _describe(origin)
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)
    if connect_timeout is not None and isinstance(origin, connect_timeout):
        return APITimeoutError(f"connect timed out ({kind})")
    if isinstance(origin, aiohttp.ServerTimeoutError):
        return APITimeoutError(f"request timed out ({kind})")
    if isinstance(origin, aiohttp.ClientError):
        return APIConnectionError(f"connection failed ({kind})")
    return None


def transport_failure(exc: BaseException) -> TransportFailure | None:
    """``exc`` as a plain failure (the SDK's error chained to it), or ``None`` when it is
    no transport failure (a bug, a cancellation): then it propagates unchanged."""
    error = map_transport_error(exc)
    if error is None:
        return None
    error.__cause__ = exc
    return TransportFailure(error, exception_never_sent(exc))


_DRAIN_CHUNKS = 1024
"""After a cut, at most this many chunks already buffered are read (and dropped) while
the stream ends; a stream that does not end by then (a custom transport that ignores
``aclose``) is left to the garbage collector."""


def mark_if_desynchronised(response: Response) -> bool | None:
    """After a complete body: were there bytes after it on the connection?

    A server that writes past its ``Content-Length`` (a second response, a PHP warning)
    leaves those bytes in h11's buffer, and httpcore keeps them for the next request on
    the connection, which then reads them as *its* answer. So the connection is marked
    failed here, before the response is closed, and httpcore closes it instead of
    pooling it (h11's ``send_failed``: the cycle cannot start again). Bytes that arrive
    later, while the connection is idle, are caught by httpcore itself (a readable idle
    socket counts as expired).

    Returns ``None`` when nothing followed the body (or the transport is not httpx's
    own), else whether the connection had carried earlier requests: on a fresh
    connection the first answer is the request's own; on a reused one it may be a
    stale answer to someone else's request.
    """
    connection = _h11_connection(response)
    if connection is None:
        return None
    h11_state: Any = connection._h11_state
    leftover, _closed = h11_state.trailing_data
    if not leftover:
        return None
    h11_state.send_failed()
    reused: bool = connection._request_count > 1
    return reused


def _h11_connection(response: Response) -> Any:
    """httpcore's HTTP/1.1 connection (async or sync) under a streamed response of
    httpx's default transport, or ``None`` (another transport; a future layout, which
    tests/client/test_reliability_round2.py would catch).

    The path is private (client stream, transport stream, pool stream, connection
    stream): httpx and httpcore offer no public way to the h11 state.
    """
    import httpcore

    node: Any = response.stream
    for name in ("_stream", "_httpcore_stream", "_stream", "_connection"):
        node = getattr(node, name, None)
    kinds = (httpcore.AsyncHTTP11Connection, httpcore.HTTP11Connection)
    return node if isinstance(node, kinds) else None


def _stale_answer() -> TransportFailure:
    """The answer came on a reused connection with bytes after it: it may be an answer
    left over from an earlier request, and ours the bytes after it."""
    return TransportFailure(
        APIConnectionError(
            "the server wrote more than its answer on a reused connection, so the answer "
            "read may belong to an earlier request (the connection was closed)"
        ),
        never_sent=False,
    )


def _not_read(announced: int) -> bytes:
    return f"<{announced:,} bytes, not read>".encode()


class _HttpxRequests:
    """``WireRequest`` -> ``httpx.Request``, with the parsed URLs and headers cached."""

    def __init__(self, headers: Mapping[str, str], *, user_client: bool) -> None:
        self._user_client = user_client
        self._plain = Headers(headers)
        self._json = Headers({**headers, **dict(JSON_HEADERS)})
        # httpx re-parses a str URL on every request (~13 µs of ~100): parse each
        # query-less URL once.
        self._urls: dict[str, URL] = {}

    def build(
        self, client: AsyncClient | Client, request: WireRequest, timeout: Timeout | None
    ) -> Request:
        url = self._urls.get(request.url)
        if url is None:
            url = URL(request.url)
            if "?" not in request.url and len(self._urls) < 64:
                self._urls[request.url] = url
        if request.headers is JSON_HEADERS:
            headers = self._json
        elif request.headers:
            headers = Headers([*self._plain.multi_items(), *request.headers])
        else:
            headers = self._plain
        if self._user_client:
            # A user's client keeps its own default headers, cookies and event hooks.
            return client.build_request(
                request.method,
                url,
                headers=headers,
                content=request.body,
                timeout=client.timeout if timeout is None else timeout,
            )
        # Our own client has our headers already; a Request built directly skips the
        # merging that build_request does on every call.
        return Request(
            request.method,
            url,
            headers=headers,
            content=request.body,
            extensions={"timeout": (client.timeout if timeout is None else timeout).as_dict()},
        )


class HttpxAsyncBackend:
    """Drives the core over an ``httpx.AsyncClient`` (ours, or the user's)."""

    def __init__(
        self, client: AsyncClient, headers: Mapping[str, str], *, owned: bool, name: str
    ) -> None:
        self.client = client
        self.name = name
        self._owned = owned
        self._requests = _HttpxRequests(headers, user_client=not owned)

    async def send(
        self, request: WireRequest, timeout: Timeout | None
    ) -> WireResponse | TransportFailure:
        built = self._requests.build(self.client, request, timeout)
        try:
            response = await self.client.send(built, stream=True)
            try:
                body, complete, stale = await _aread_capped(response)
            finally:
                await response.aclose()
        except Exception as exc:
            failure = transport_failure(exc)
            if failure is None:
                raise  # not a transport failure: a bug, let it through unchanged
            return failure
        if stale:
            return _stale_answer()
        return WireResponse(response.status_code, response.headers, body, complete)

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()


async def _aread_capped(response: Response) -> tuple[bytes, bool, bool | None]:
    """The body, cut at the limit for its status while it streams: ``(body, complete,
    stale)``, ``stale`` as ``mark_if_desynchronised`` says (checked once the
    announced length is in, before httpcore could pool the connection again).

    A ``Content-Length`` over the limit is refused without reading a byte. A body cut
    short closes its connection first, and then the stream is read to its failure:
    httpx and httpcore read through a chain of async generators, and one abandoned
    half-way is a ``ResourceWarning`` on trio; once the socket is closed the chain
    ends at the next read, holding nothing more than what was already buffered.
    """
    limit = body_limit(response.status_code)
    announced = response.headers.get("content-length", "")
    expected = int(announced) if announced.isdigit() else None
    if expected is not None and expected > limit:
        return _not_read(expected), False, None
    chunks: list[bytes] = []
    size = 0
    stale: bool | None = None
    stream = response.aiter_bytes()
    async for chunk in stream:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
        if size == expected:
            stale = mark_if_desynchronised(response)
    else:
        return b"".join(chunks), True, stale
    kept = head(chunks)
    await response.aclose()
    with contextlib.suppress(Exception):
        for _ in range(_DRAIN_CHUNKS):
            await stream.__anext__()
    return kept, False, None


class HttpxSyncBackend:
    """Drives the core over an ``httpx.Client`` (ours, or the user's)."""

    def __init__(
        self, client: Client, headers: Mapping[str, str], *, owned: bool, name: str
    ) -> None:
        self.client = client
        self.name = name
        self._owned = owned
        self._requests = _HttpxRequests(headers, user_client=not owned)

    def send(
        self, request: WireRequest, timeout: Timeout | None
    ) -> WireResponse | TransportFailure:
        built = self._requests.build(self.client, request, timeout)
        try:
            response = self.client.send(built, stream=True)
            try:
                body, complete, stale = _read_capped(response)
            finally:
                response.close()
        except Exception as exc:
            failure = transport_failure(exc)
            if failure is None:
                raise
            return failure
        if stale:
            return _stale_answer()
        return WireResponse(response.status_code, response.headers, body, complete)

    def close(self) -> None:
        if self._owned:
            self.client.close()


def _read_capped(response: Response) -> tuple[bytes, bool, bool | None]:
    """``_aread_capped`` for the sync client (a sync generator may be dropped)."""
    limit = body_limit(response.status_code)
    announced = response.headers.get("content-length", "")
    expected = int(announced) if announced.isdigit() else None
    if expected is not None and expected > limit:
        return _not_read(expected), False, None
    chunks: list[bytes] = []
    size = 0
    stale: bool | None = None
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return head(chunks), False, None
        if size == expected:
            stale = mark_if_desynchronised(response)
    return b"".join(chunks), True, stale
