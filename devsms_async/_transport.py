"""The only module that imports httpx.

httpx has had no release since 0.28.1 and a fork exists; keeping every ``import httpx``
here means switching is one file. Other modules import the names they need from here.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncClient,
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

from .errors import APIConnectionError, APITimeoutError, ValidationError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_TIMEOUT",
    "AsyncBaseTransport",
    "AsyncClient",
    "ConnectError",
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
    "abandon_body",
    "check_base_url",
    "exception_never_sent",
    "is_loopback",
    "make_client",
    "map_transport_error",
    "close_if_desynchronised",
    "preferred_backend",
    "resolve_backend",
    "to_timeout",
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
    if isinstance(given, bool) or not isinstance(given, int | float) or given <= 0:
        raise ValidationError(
            "timeout", f"must be a positive number or httpx.Timeout, got {value!r}"
        )
    return Timeout(float(given))


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """Validate ``base_url``; plain http is refused for non-loopback hosts."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("base_url", "must be an absolute http:// or https:// URL")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
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
    headers: Headers,
    http_backend: Literal["httpx", "aiohttp"],
) -> AsyncClient:
    """The pooled client owned by ``AsyncDevSMS`` (created inside ``__aenter__``)."""
    if transport is None and http_backend == "aiohttp":
        transport = _aiohttp_transport(limits)
    return AsyncClient(
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

    if all(importlib.util.find_spec(name) is not None for name in ("aiohttp", "httpx_aiohttp")):
        return "aiohttp"
    return "httpx"


def _aiohttp_transport(limits: Limits) -> AsyncBaseTransport:
    """httpx-aiohttp's transport on an aiohttp session shaped like our httpx pool.

    httpx-aiohttp calls ``new_session`` on the first request, so the session and its
    connector are created inside the running loop (as aiohttp requires), and closes
    the session in ``aclose``: ``AsyncClient.aclose()`` (our ``__aexit__``) ends both.
    """
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        raise ValidationError(
            "http_backend", "'aiohttp' runs on asyncio only; on trio use 'httpx' (the default)"
        )
    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport
    except ImportError as exc:
        raise ValidationError(
            "http_backend", "'aiohttp' needs the extra: pip install 'devsms-async[aiohttp]'"
        ) from exc
    size = limits.max_connections or DEFAULT_POOL_SIZE
    keepalive = limits.keepalive_expiry
    # The certificates httpx would trust: certifi, or SSL_CERT_FILE / SSL_CERT_DIR.
    ssl_context = httpx.create_ssl_context(trust_env=True)

    def new_session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=size,
            limit_per_host=size,
            keepalive_timeout=keepalive,
            ssl=ssl_context,
        )
        # Cookies stay with httpx's jar, as on the default backend: a second jar here
        # would add each stored cookie to the Cookie header httpx already wrote.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(client=new_session)


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


async def abandon_body(response: Response, chunks: AsyncIterator[bytes]) -> None:
    """Stop reading ``response`` midway (an answer over the size limit), closing its
    connection, and leave no async generator unfinalised.

    Breaking out of ``aiter_bytes`` would leave httpx's and httpcore's nested body
    generators suspended until the garbage collector finds them (a ``ResourceWarning``
    on trio). Closing the response first closes the connection under them (httpcore and
    aiohttp both close, never pool, a connection whose body was not read to the end);
    the iteration then ends at once with a read error (at most what was already
    buffered comes first), so every generator runs to its end.
    """
    await response.aclose()
    try:
        async for _ in chunks:
            pass
    except (httpx.HTTPError, httpx.StreamError):
        pass


async def close_if_desynchronised(response: Response) -> bool | None:
    """After a complete body: were there bytes after it on the connection?

    A server that writes past its ``Content-Length`` (a second response, a PHP warning)
    leaves those bytes in h11's buffer, and httpcore keeps them for the next request on
    the connection, which then reads them as *its* answer. So such a connection is
    closed here, right after its body was read. Bytes that arrive
    later, while the connection is idle, are caught by httpcore itself (a readable idle
    socket counts as expired); bytes that arrive only after the next request was
    written cannot be told from its answer by any HTTP/1.1 client.

    Returns ``None`` when nothing followed the body (or the transport is not httpx's
    own: aiohttp closes such a connection itself), else whether the connection had
    carried earlier requests: on a fresh connection the first answer is the
    request's own; on a reused one it may be a stale answer to someone else.
    """
    connection = _h11_connection(response)
    if connection is None:
        return None
    h11_state: Any = connection._h11_state
    leftover, _closed = h11_state.trailing_data
    if not leftover:
        return None
    reused: bool = connection._request_count > 1
    # Closed, never pooled again: a request the pool already gave it to gets httpcore's
    # ConnectionNotAvailable and is put on another connection.
    await connection.aclose()
    return reused


def _h11_connection(response: Response) -> Any:
    """httpcore's HTTP/1.1 connection under a streamed response of httpx's default
    transport, or ``None`` (another transport; a future httpx/httpcore layout, which
    tests/test_reliability_round2.py would catch).

    The path is private (client stream, transport stream, pool stream, connection
    stream): httpx and httpcore offer no public way to the h11 state.
    """
    import httpcore

    node: Any = response.stream
    for name in ("_stream", "_httpcore_stream", "_stream", "_connection"):
        node = getattr(node, name, None)
    return node if isinstance(node, httpcore.AsyncHTTP11Connection) else None
