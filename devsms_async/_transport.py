"""The httpx backend (async and sync), and the httpx types the faces take as settings.

Every ``import httpx`` of the package is here: httpx has had no release since 0.28.1
and a fork exists, so switching is one file. Other modules import the names they need
from here. A backend turns a plain ``WireRequest`` into an ``httpx.Request`` on the
client's pool, feeds the body to the core's ``BodyReader`` (capped while it streams),
and hands back a plain ``WireResponse``, or a ``TransportFailure`` mapped from httpx's
errors by the table below; it decides nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

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

from ._body import DONE, TOO_LARGE, BodyReader
from ._wire import (
    JSON_HEADERS,
    PhaseTimeouts,
    Timeouts,
    TransportFailure,
    WireRequest,
    WireResponse,
    failure,
)
from .errors import APIConnectionError, APITimeoutError, ValidationError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._aiohttp import AiohttpBackend

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
    "make_aiohttp_backend",
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


class ClientSettings(TypedDict):
    """What the pooled clients take from the face's options."""

    timeout: Timeout
    limits: Limits
    headers: Mapping[str, str]


def make_client(
    *, transport: AsyncBaseTransport | None, **settings: Unpack[ClientSettings]
) -> AsyncClient:
    """The pooled client owned by ``AsyncDevSMS`` (created inside ``__aenter__``)."""
    return AsyncClient(transport=transport, follow_redirects=False, trust_env=True, **settings)


def make_sync_client(
    *, transport: BaseTransport | None, **settings: Unpack[ClientSettings]
) -> Client:
    """The pooled client owned by ``DevSMS`` (created inside ``__enter__``)."""
    return Client(transport=transport, follow_redirects=False, trust_env=True, **settings)


def make_aiohttp_backend(
    headers: Mapping[str, str], limits: Limits, base_url: str, timeout: Timeout
) -> AiohttpBackend:
    """The aiohttp backend with this client's httpx settings as plain values: the same
    pool size, keep-alive expiry, default timeouts and trusted certificates (httpx's:
    certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``)."""
    from ._aiohttp import AiohttpBackend

    return AiohttpBackend(
        headers,
        base_url,
        timeouts=Timeouts.of(timeout),
        pool_size=limits.max_connections or DEFAULT_POOL_SIZE,
        keepalive_expiry=limits.keepalive_expiry or 30.0,
        ssl_context=httpx.create_ssl_context(trust_env=True),
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


_ERRORS: tuple[tuple[type[Exception], type[APIConnectionError], str], ...] = (
    (httpx.TimeoutException, APITimeoutError, "request timed out"),
    (httpx.TransportError, APIConnectionError, "connection failed"),
    # DecodingError: the status line arrived, the (compressed) body is garbage.
    (httpx.RequestError, APIConnectionError, "the answer could not be read"),
)
"""httpx's errors, most specific first: (type, SDK error, wording)."""

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""A refused connection, a connect timeout and a pool timeout all fail before a byte
of the request is written; anything later may have been received."""


def transport_failure(exc: BaseException) -> TransportFailure | None:
    """``exc`` as a plain failure (the SDK's error chained to it), or ``None`` when it is
    no transport failure (a bug, a cancellation): then it propagates unchanged.

    An httpx client may run on an aiohttp transport (httpx-aiohttp), which raises
    aiohttp's errors, or httpx errors chained to them: it maps *every*
    ``aiohttp.ClientConnectionError`` to ``httpx.ConnectTimeout``, including "server
    disconnected" and a reset after the request was written. So the aiohttp error
    decides, judged by the aiohttp backend's own table.
    """
    origin = _aiohttp_origin(exc)
    if origin is not None:
        from ._aiohttp import transport_failure as aiohttp_failure

        found = aiohttp_failure(origin)
        if found is not None:
            found.error.__cause__ = exc
        return found
    for kind, error, what in _ERRORS:
        if isinstance(exc, kind):
            return failure(exc, error, what, never_sent=isinstance(exc, _NEVER_SENT))
    return None


def map_transport_error(exc: BaseException) -> APIConnectionError | None:
    """The SDK's error for ``exc`` (chained to it), or ``None`` (no transport failure)."""
    found = transport_failure(exc)
    return None if found is None else found.error


def exception_never_sent(exc: BaseException) -> bool:
    """True when the request that raised ``exc`` provably never reached the server."""
    found = transport_failure(exc)
    return found is not None and found.never_sent


def _aiohttp_origin(exc: BaseException) -> BaseException | None:
    """The aiohttp exception behind ``exc`` (raised as is, or mapped by httpx-aiohttp)."""
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else None
    for candidate in (exc, cause):
        if candidate is not None and type(candidate).__module__.partition(".")[0] == "aiohttp":
            return candidate
    return None


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
    the desynchronisation tests would catch).

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


def _phases(timeout: PhaseTimeouts) -> dict[str, float | None]:
    return {
        "connect": timeout.connect,
        "read": timeout.read,
        "write": timeout.write,
        "pool": timeout.pool,
    }


class _HttpxRequests:
    """``WireRequest`` -> ``httpx.Request``, with the parsed URLs and headers cached."""

    def __init__(self, headers: Mapping[str, str], *, user_client: bool) -> None:
        self._user_client = user_client
        self._plain = Headers(headers)
        self._json = Headers({**headers, **dict(JSON_HEADERS)})
        # httpx parses a str URL again on every request: each query-less URL is
        # parsed once.
        self._urls: dict[str, URL] = {}

    def build(
        self, client: AsyncClient | Client, request: WireRequest, timeouts: Timeouts | None
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
        phases = _phases(client.timeout if timeouts is None else timeouts)
        if self._user_client:
            # A user's client keeps its own default headers, cookies and event hooks.
            return client.build_request(
                request.method,
                url,
                headers=headers,
                content=request.body,
                timeout=Timeout(**phases),
            )
        # Our own client has our headers already; a Request built directly skips the
        # merging that build_request does on every call.
        return Request(
            request.method,
            url,
            headers=headers,
            content=request.body,
            extensions={"timeout": phases},
        )


ClientT = TypeVar("ClientT", AsyncClient, Client)


class _HttpxBackend(Generic[ClientT]):
    def __init__(
        self, client: ClientT, headers: Mapping[str, str], *, owned: bool, name: str
    ) -> None:
        self.client: ClientT = client
        self.name = name
        self._owned = owned
        self._requests = _HttpxRequests(headers, user_client=not owned)


class HttpxAsyncBackend(_HttpxBackend[AsyncClient]):
    """Drives the core over an ``httpx.AsyncClient`` (ours, or the user's)."""

    async def send(
        self, request: WireRequest, timeouts: Timeouts | None
    ) -> WireResponse | TransportFailure:
        built = self._requests.build(self.client, request, timeouts)
        try:
            response = await self.client.send(built, stream=True)
            try:
                return await _aread(response)
            finally:
                await response.aclose()
        except Exception as exc:
            return _failure(exc)

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()


class HttpxSyncBackend(_HttpxBackend[Client]):
    """Drives the core over an ``httpx.Client`` (ours, or the user's)."""

    def send(
        self, request: WireRequest, timeouts: Timeouts | None
    ) -> WireResponse | TransportFailure:
        built = self._requests.build(self.client, request, timeouts)
        try:
            response = self.client.send(built, stream=True)
            try:
                return _read(response)
            finally:
                response.close()
        except Exception as exc:
            return _failure(exc)

    def close(self) -> None:
        if self._owned:
            self.client.close()


def _failure(exc: Exception) -> TransportFailure:
    found = transport_failure(exc)
    if found is None:
        raise exc  # not a transport failure: a bug, let it through unchanged
    return found


class _Body(BodyReader):
    """The core's reader over an httpx answer, checking the connection once the
    announced length is in (``mark_if_desynchronised``), before httpcore could pool
    the connection again."""

    __slots__ = ("_answer", "_stale")

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code, response.headers)
        self._answer = response
        self._stale: bool | None = None

    def feed(self, chunk: bytes) -> bool:
        """Takes one chunk; ``False`` once reading must stop (over the cap)."""
        self.receive_data(chunk)
        event = self.next_event()
        if event is DONE:
            self._stale = mark_if_desynchronised(self._answer)
        return event is not TOO_LARGE

    def outcome(self) -> WireResponse | TransportFailure:
        return _stale_answer() if self._stale else self.answer()


async def _aread(response: Response) -> WireResponse | TransportFailure:
    """The answer, its body read while it streams.

    A body cut short closes its connection first, and then the stream is read to its
    failure: httpx and httpcore read through a chain of async generators, and one
    abandoned half-way is a ``ResourceWarning`` on trio; once the socket is closed the
    chain ends at the next read, holding nothing more than what was already buffered.
    """
    body = _Body(response)
    if body.next_event() is not TOO_LARGE:
        stream = response.aiter_bytes()
        async for chunk in stream:
            if not body.feed(chunk):
                await response.aclose()
                with contextlib.suppress(Exception):
                    for _ in range(_DRAIN_CHUNKS):
                        await stream.__anext__()
                break
    return body.outcome()


def _read(response: Response) -> WireResponse | TransportFailure:
    """``_aread`` for the sync client (a sync generator may be dropped)."""
    body = _Body(response)
    if body.next_event() is not TOO_LARGE:
        for chunk in response.iter_bytes():
            if not body.feed(chunk):
                break
    return body.outcome()
