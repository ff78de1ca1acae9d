"""``AsyncDevSMS``: lifecycle, options and the public methods."""

from __future__ import annotations

import datetime as _dt
import enum
import functools
import os
from collections.abc import AsyncIterable, Callable, Collection, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _paging
from ._converter import TASHKENT
from ._endpoints import ALL_ENDPOINTS, GET_BALANCE, GET_HISTORY, GET_STATUS, SEND_SMS, Endpoint
from ._polling import (
    DEFAULT_POLL_INITIAL,
    DEFAULT_POLL_MAX,
    DEFAULT_WAIT_TIMEOUT,
    Until,
)
from ._polling import wait_for_status as _wait_for_status
from ._reconcile import DEFAULT_SKEW as DEFAULT_RECONCILE_SKEW
from ._reconcile import DEFAULT_WINDOW as DEFAULT_RECONCILE_WINDOW
from ._reconcile import AnyReconcileResult, ReconcileResult, reconcile_async
from ._response import parse_response
from ._retry import RetryPolicy, SendInfo, call_with_policy, fingerprint
from ._transport import (
    DEFAULT_LIMITS,
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    URL,
    AsyncBaseTransport,
    AsyncClient,
    Headers,
    HTTPBackend,
    Limits,
    Request,
    TimeoutTypes,
    check_base_url,
    make_client,
    resolve_backend,
    to_timeout,
)
from ._unknown import SendQuery, query_of
from ._validation import (
    check_callback_url,
    check_history_query,
    check_message,
    check_otp_code,
    check_region,
    check_sender,
    check_service_name,
    check_sms_type,
    check_status_query,
    check_template,
    check_token,
    normalize_phone,
)
from ._version import __version__
from .errors import SendOutcomeUnknownError, UsageError, ValidationError
from .models import (
    AnyBulkResult,
    Balance,
    BulkMessage,
    BulkResult,
    HistoryPage,
    OtpTemplate,
    SendResult,
    SmsRecord,
    SmsStatus,
    SmsType,
)

if TYPE_CHECKING:
    from ._bulk import BulkItem, BulkSender, BulkStream, JournalReconcileResult
    from ._journal import Journal
    from ._paging import AsyncFetchPage, HistoryIterator, PageQuery

T = TypeVar("T")

DEFAULT_BASE_URL = "https://devsms.uz/api"
TOKEN_ENV = "DEVSMS_TOKEN"  # noqa: S105 - a variable name, not a secret
BASE_URL_ENV = "DEVSMS_BASE_URL"


def _check_base_url(base_url: str | None, *, allow_insecure_http: bool) -> str:
    """The argument, else ``DEVSMS_BASE_URL`` (an empty value counts as unset, as in the
    CLI), else the service's own URL; an error says when the environment gave it."""
    if base_url is not None:
        return check_base_url(base_url, allow_insecure_http=allow_insecure_http)
    from_env = os.environ.get(BASE_URL_ENV, "").strip()
    try:
        return check_base_url(from_env or DEFAULT_BASE_URL, allow_insecure_http=allow_insecure_http)
    except ValidationError as exc:
        raise ValidationError("base_url", f"{exc.reason} (from {BASE_URL_ENV})") from None


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class _Secret:
    """Holds the token; prints as ``'***'`` wherever it ends up.

    ``key`` is the token as bytes: the key of the fingerprint of unknown-outcome sends
    (client, bulk and reconcile alike), encoded once rather than on every request.
    """

    __slots__ = ("key", "value")

    def __init__(self, value: str) -> None:
        self.value = value
        self.key = value.encode()

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class AsyncDevSMS:
    """Asynchronous client for the DevSMS.uz API.

    Use it as an async context manager; it owns one pooled ``httpx.AsyncClient`` that
    is created on entry (bound to the running event loop) and closed on exit:

    ```python
    async with AsyncDevSMS("token") as sms:
        result = await sms.send_sms("998901234567", "Salom!")
    ```

    Args:
        token: API token; defaults to the ``DEVSMS_TOKEN`` environment variable.
        base_url: the API root; defaults to the ``DEVSMS_BASE_URL`` environment
            variable, else ``https://devsms.uz/api``. Plain ``http://`` is refused for
            non-loopback hosts unless ``allow_insecure_http=True`` (the token would
            travel in clear text).
        timeout: seconds or an ``httpx.Timeout``; default connect 5, read 30,
            write 10, pool 10. Every method also takes ``timeout=``.
        max_retries: retries of *reads* (history, balance, status). Sends are retried
            only when the request provably never left (see ``docs/errors.md``).
        retry_deadline: seconds after the first attempt past which no retry starts
            (default 60); an attempt in flight is bounded by ``timeout``.
        http_client: use this ``httpx.AsyncClient`` as is; it is never closed by us.
        transport: an ``httpx.AsyncBaseTransport`` for the owned client: the seam for
            tests (``devsms_async.testing.SandboxTransport``) and other backends.
        http_backend: ``"httpx"`` (default), ``"aiohttp"`` (extra
            ``devsms-async[aiohttp]``: several times less CPU per request under load,
            same behaviour; asyncio only) or ``"auto"`` (aiohttp when the extra is
            installed and the loop is asyncio, else httpx; good for bulk jobs).
        limits: connection-pool limits (default 10 connections; see bulk sending).
            With ``http_client=`` the SDK cannot see that client's pool: pass the
            same ``limits`` here so ``send_bulk`` stays within it.
        sender: default ``from`` for every send (the provider's default is ``4546``).
        callback_url: default ``callback_url`` for every send.
        timezone: zone of the API's naive timestamps; default Asia/Tashkent (UTC+5).
            ``None`` gives naive datetimes.
        log_sensitive: put full phone numbers in DEBUG logs (off: they are masked).
        default_region: where a number typed without its country code is national:
            ``"UZ"`` (default: ``901234567`` is sent to ``998901234567``), another ISO
            3166 code (checked with ``phonenumbers``), or ``None`` to accept
            international numbers only. See ``docs/live-service.md``.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_deadline: float = 60.0,
        http_client: AsyncClient | None = None,
        transport: AsyncBaseTransport | None = None,
        http_backend: HTTPBackend = "httpx",
        limits: Limits = DEFAULT_LIMITS,
        sender: str | None = None,
        callback_url: str | None = None,
        timezone: _dt.tzinfo | None = TASHKENT,
        allow_insecure_http: bool = False,
        log_sensitive: bool = False,
        default_region: str | None = "UZ",
    ) -> None:
        if token is None:
            token = os.environ.get(TOKEN_ENV)
        if not isinstance(token, str) or not token.strip():
            raise ValidationError(
                "token", f"no API token: pass token=... or set the {TOKEN_ENV} environment variable"
            )
        if http_client is not None and transport is not None:
            raise ValidationError("transport", "give http_client or transport, not both")
        if http_backend not in ("httpx", "aiohttp", "auto"):
            raise ValidationError("http_backend", "must be 'httpx', 'aiohttp' or 'auto'")
        self._token = _Secret(check_token(token.strip()))
        self._base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        timeout_obj = to_timeout(timeout)
        assert timeout_obj is not None
        self._timeout = timeout_obj
        self._policy = RetryPolicy(max_retries=max_retries, deadline=retry_deadline)
        self._user_client = http_client
        self._transport = transport
        self._http_backend: HTTPBackend = http_backend
        self._backend_in_use: str | None = None
        self._limits = limits
        self._sender = check_sender(sender)
        self._callback_url = check_callback_url(callback_url)
        self._tz = timezone
        self._log_sensitive = log_sensitive
        self._region = check_region(default_region)
        # Parsed once: httpx re-parses a str URL on every request (~13 µs of ~100).
        self._urls = {ep.name: URL(f"{self._base_url}/{ep.path}") for ep in ALL_ENDPOINTS}
        # httpx.Headers masks Authorization in its repr, so vars(client) leaks nothing.
        self._headers = Headers(
            {
                "Authorization": f"Bearer {self._token.value}",
                "Accept": "application/json",
                "User-Agent": f"devsms-async/{__version__}",
            }
        )
        self._state = _State.NEW
        self._http: AsyncClient | None = None

    def __repr__(self) -> str:
        return f"<AsyncDevSMS base_url={self._base_url!r} state={self._state.value}>"

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> AsyncDevSMS:
        if self._state is not _State.NEW:
            raise UsageError(
                f"this AsyncDevSMS is {self._state.value}; a client can be entered once. "
                "Create a new AsyncDevSMS for a new `async with` block."
            )
        if self._user_client is not None:
            self._http = self._user_client
            self._backend_in_use = "custom"
        else:
            backend = resolve_backend(self._http_backend)
            self._http = make_client(
                transport=self._transport,
                timeout=self._timeout,
                limits=self._limits,
                headers=self._headers,
                http_backend=backend,
            )
            self._backend_in_use = "custom" if self._transport is not None else backend
        self._state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the owned HTTP client (a user-supplied one is left open). Idempotent."""
        if self._state is _State.CLOSED:
            return
        http, self._http = self._http, None
        self._state = _State.CLOSED
        if http is not None and http is not self._user_client:
            await http.aclose()

    @property
    def is_closed(self) -> bool:
        """``True`` once ``aclose()`` ran (or the ``async with`` block ended)."""
        return self._state is _State.CLOSED

    @property
    def http_backend(self) -> str | None:
        """The transport in use once entered: ``"httpx"``, ``"aiohttp"`` or ``"custom"``
        (a ``transport=`` or ``http_client=`` of yours); ``None`` before entering."""
        return self._backend_in_use

    @property
    def default_region(self) -> str | None:
        """Where numbers without a country code are national (``"UZ"`` by default)."""
        return self._region

    @property
    def pool_size(self) -> int:
        """How many connections may be open at once (from ``limits``; an unlimited
        pool counts as the default, 10); bulk sends stay within it."""
        return self._limits.max_connections or DEFAULT_POOL_SIZE

    def _client(self) -> AsyncClient:
        if self._http is None:
            if self._state is _State.NEW:
                raise UsageError(
                    "the client is not open: use `async with AsyncDevSMS(...) as sms:`"
                )
            raise UsageError("the client is closed; create a new AsyncDevSMS")
        return self._http

    # -- the one generic call --------------------------------------------------------

    async def _call(
        self,
        endpoint: Endpoint[T],
        params: dict[str, Any],
        *,
        timeout: TimeoutTypes | None,
        send_info: SendInfo | None = None,
    ) -> T:
        http = self._client()
        request = self._build_request(http, endpoint, params, timeout)
        secrets: tuple[str, ...] = (self._token.value,)
        if send_info is not None:
            secrets += (send_info.phone, *send_info.secrets)
        return await call_with_policy(
            http,
            request,
            endpoint,
            self._policy,
            functools.partial(parse_response, endpoint, tz=self._tz, secrets=secrets),
            send_info=send_info,
            log_sensitive=self._log_sensitive,
            fingerprint_key=self._token.key,
            secrets=secrets,
        )

    def _build_request(
        self,
        http: AsyncClient,
        endpoint: Endpoint[Any],
        params: dict[str, Any],
        timeout: TimeoutTypes | None,
    ) -> Request:
        kwargs: dict[str, Any] = {}
        if endpoint.params_in == "json":
            kwargs["json"] = params
        else:
            kwargs["params"] = params
        if timeout is not None:
            kwargs["timeout"] = to_timeout(timeout)
        if http is self._user_client:
            # A user's client has its own default headers; ours go on each request.
            kwargs["headers"] = self._headers
        return http.build_request(endpoint.method, self._urls[endpoint.name], **kwargs)

    # -- endpoints -------------------------------------------------------------------

    async def send_sms(
        self,
        phone: str,
        message: str,
        *,
        sender: str | None = None,
        callback_url: str | None = None,
        type: SmsType | str = SmsType.ESKIZ,
        normalize: bool = False,
        timeout: TimeoutTypes | None = None,
    ) -> SendResult:
        """Send one SMS (``POST send_sms.php``).

        ``sender`` becomes the API field ``from``; ``type`` is ``eskiz`` (default),
        or ``simple`` (Uzbek numbers only). ``normalize=True`` first replaces the
        Uzbek apostrophe look-alikes (U+02BB, U+2018, U+2019, U+02BC, backtick) with
        ``'`` so the text stays GSM-7 and costs fewer parts (see ``count_parts``).

        Raises ``SendOutcomeUnknownError`` when the send may have happened but no
        answer proves it; it is never retried blindly.
        """
        params = self._send_params(phone, message, sender, callback_url, type, normalize)
        return await self._send(params, timeout)

    async def _send(self, params: dict[str, Any], timeout: TimeoutTypes | None) -> SendResult:
        """Send a body built by ``_send_params`` (shared with bulk sending)."""
        return await self._call(
            SEND_SMS,
            params,
            timeout=timeout,
            send_info=SendInfo(params["phone"], params["message"]),
        )

    def _send_params(
        self,
        phone: object,
        message: object,
        sender: object,
        callback_url: object,
        sms_type: object,
        normalize: bool,
    ) -> dict[str, Any]:
        """Validate one send and build its JSON body (shared with bulk sending)."""
        number = normalize_phone(phone, default_region=self._region)
        text = check_message(message)
        if normalize:
            from .sms_parts import normalize_uzbek

            text = normalize_uzbek(text)
        kind = check_sms_type(sms_type, number)
        params: dict[str, Any] = {"phone": number, "message": text}
        chosen_sender = check_sender(sender) or self._sender
        if chosen_sender is not None:
            params["from"] = chosen_sender
        chosen_callback = check_callback_url(callback_url) or self._callback_url
        if chosen_callback is not None:
            params["callback_url"] = chosen_callback
        params["type"] = kind.value
        return params

    async def send_otp(
        self,
        phone: str,
        *,
        template: OtpTemplate | int,
        service_name: str,
        otp_code: str,
        callback_url: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> SendResult:
        """Send a verification code through an Eskiz-approved template.

        ``service_name`` (2-50 letters, digits, space, dot, hyphen) passes the
        provider's AI moderation. If it is rejected the SMS is not sent **but the
        balance is still charged**: ``ServiceNameRejectedError`` says so.
        """
        number = normalize_phone(phone, default_region=self._region)
        template_type = int(check_template(template))
        name = check_service_name(service_name)
        code = check_otp_code(otp_code)
        params: dict[str, Any] = {
            "phone": number,
            "type": SmsType.UNIVERSAL_OTP.value,
            "template_type": template_type,
            "service_name": name,
            "otp_code": code,
        }
        chosen_callback = check_callback_url(callback_url) or self._callback_url
        if chosen_callback is not None:
            params["callback_url"] = chosen_callback
        return await self._call(
            SEND_SMS,
            params,
            timeout=timeout,
            send_info=SendInfo(number, render_otp(template_type, name, code), secrets=(code,)),
        )

    async def get_history(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        status: SmsStatus | str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> HistoryPage:
        """One page of sent SMS, newest first (``GET get_history.php``).

        ``limit`` 1-200; ``status`` one of ``sent``, ``delivered``, ``failed``. To walk
        everything use ``iter_history``.
        """
        query = check_history_query(limit, offset, status)
        return await self._call(GET_HISTORY, query, timeout=timeout)

    async def get_balance(self, *, timeout: TimeoutTypes | None = None) -> Balance:
        """Balance, the price of one Uzbek SMS part, and usage statistics."""
        return await self._call(GET_BALANCE, {}, timeout=timeout)

    async def get_status(
        self,
        *,
        sms_id: int | None = None,
        request_id: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> SmsRecord:
        """The record of one SMS, by ``sms_id`` **or** ``request_id`` (exactly one)."""
        query = check_status_query(sms_id, request_id)
        return await self._call(GET_STATUS, query, timeout=timeout)

    async def wait_for_status(
        self,
        sms_id: int | None = None,
        *,
        request_id: str | None = None,
        until: Until | None = None,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_initial: float = DEFAULT_POLL_INITIAL,
        poll_max: float = DEFAULT_POLL_MAX,
    ) -> SmsRecord:
        """Poll ``get_status`` until the SMS reaches ``until``; the fallback for
        delivery reports that never arrive (the service never retries a callback).

        ``until`` is a collection of statuses or a predicate on the ``SmsRecord``;
        by default the final ones, ``delivered`` and ``failed``. A final status also
        ends the wait when ``until`` does not name it (nothing changes after it), so
        check ``record.status``. Polls start at once, then back off from
        ``poll_initial`` seconds, doubling up to ``poll_max``. After ``timeout``
        seconds (``None``: no limit) ``WaitTimeoutError`` is raised, with the last
        record seen. Each poll is a read, retried as usual.
        """
        query = check_status_query(sms_id, request_id)

        async def poll() -> SmsRecord:
            return await self._call(GET_STATUS, query, timeout=None)

        return await _wait_for_status(
            poll,
            sms_id=sms_id,
            request_id=request_id,
            until=until,
            timeout=timeout,
            poll_initial=poll_initial,
            poll_max=poll_max,
        )

    # -- history and bulk sending ------------------------------------------------------

    def iter_history(
        self,
        *,
        status: SmsStatus | str | None = None,
        page_size: int = 200,
        start_offset: int = 0,
        max_items: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> HistoryIterator[SmsRecord]:
        """Every SMS of the history, newest first, one page (one request) at a time.

        ``async for record in sms.iter_history(): ...`` walks ``get_history`` with
        ``limit=page_size`` (1-200) from ``start_offset`` until a short or empty page,
        or until ``max_items`` records. Memory holds one page. A record that shows up
        again because new SMS pushed the rows down during the walk is skipped (by
        ``id``, over the last 1000 records fetched). Each page is a read, retried as
        usual. Breaking out early leaves nothing pending. See ``docs/history.md``.
        """
        return _paging.iter_history(
            self._fetch_page(timeout),
            status=status,
            page_size=page_size,
            start_offset=start_offset,
            max_items=max_items,
        )

    def iter_history_pages(
        self,
        *,
        status: SmsStatus | str | None = None,
        page_size: int = 200,
        start_offset: int = 0,
        max_items: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> HistoryIterator[HistoryPage]:
        """Like ``iter_history``, one ``HistoryPage`` at a time.

        A page's ``items`` have repeats removed (so a page may hold fewer than
        ``page_size`` records); a page left empty by that is skipped.
        """
        return _paging.iter_history_pages(
            self._fetch_page(timeout),
            status=status,
            page_size=page_size,
            start_offset=start_offset,
            max_items=max_items,
        )

    def _fetch_page(self, timeout: TimeoutTypes | None) -> AsyncFetchPage:
        """``get_history`` as the paging and reconcile modules want it."""
        timeout = to_timeout(timeout)

        async def fetch_page(query: PageQuery) -> HistoryPage:
            return await self.get_history(
                limit=query.limit, offset=query.offset, status=query.status, timeout=timeout
            )

        return fetch_page

    async def send_bulk(
        self,
        messages: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        concurrency: int | None = None,
        per_second: float | None = None,
        normalize: bool = False,
        check_balance: bool = False,
        timeout: TimeoutTypes | None = None,
        on_result: Callable[[BulkResult], object] | None = None,
        journal: Journal | None = None,
        resend_in_doubt: bool = False,
        stop_after_failures: int | None = None,
    ) -> list[AnyBulkResult]:
        """Send many SMS concurrently; one ``BulkResult`` per message, in input order.

        Args:
            messages: ``BulkMessage`` objects or ``(phone, message)`` tuples, from any
                iterable or async iterable; read lazily, a few at a time.
            concurrency: sends in flight at once; default 10 (one per connection of the
                default pool, the measured sweet spot), or the pool size if smaller.
                More than ``pool_size`` is refused with ``ValidationError``: the extra
                requests would only queue inside the pool.
            per_second: optional cap on sends *started* per second, evenly spaced.
            normalize: replace Uzbek apostrophe look-alikes, as in ``send_sms``.
            check_balance: first call ``get_balance()`` and refuse
                (``InsufficientBalanceError``) a job whose estimated cost exceeds the
                balance. Needs a list or tuple.
            timeout: per-request timeout of each send.
            on_result: called with each final ``BulkResult`` as soon as it is known,
                including, when the job is cancelled, the ``UNKNOWN`` (abandoned in
                flight) and ``NOT_STARTED`` ones. Synchronous; keep it quick. If it
                raises, the job stops and ``BulkCallbackError`` carries every result.
            journal: a write-ahead ``FileJournal`` (or any
                ``Journal``): safe to kill and re-run with the same input in the same
                order; nothing is sent twice (see ``docs/bulk.md``).
            resend_in_doubt: with a journal, send again the messages an earlier run
                left in doubt (check the history first: ``reconcile_journal``).
            stop_after_failures: stop starting sends after this many failed or unknown
                results in a row, or at once when the token is refused.

        A message that fails (invalid, refused, outcome unknown) is that message's
        result and never stops the others; no message is ever sent twice. If the job
        is cancelled, ``on_result`` has been called exactly once for every message read
        from ``messages``; messages it never saw were never read. See ``docs/bulk.md``.
        """
        from ._bulk import send_bulk

        stream = self.stream_bulk(
            messages,
            concurrency=concurrency,
            per_second=per_second,
            normalize=normalize,
            check_balance=check_balance,
            timeout=timeout,
            journal=journal,
            resend_in_doubt=resend_in_doubt,
            stop_after_failures=stop_after_failures,
        )
        return await send_bulk(stream, on_result=on_result)

    def stream_bulk(
        self,
        messages: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        concurrency: int | None = None,
        per_second: float | None = None,
        normalize: bool = False,
        check_balance: bool = False,
        timeout: TimeoutTypes | None = None,
        journal: Journal | None = None,
        resend_in_doubt: bool = False,
        stop_after_failures: int | None = None,
    ) -> BulkStream:
        """Like ``send_bulk``, yielding each ``BulkResult`` as it completes:

        ```python
        async with sms.stream_bulk(messages) as results:
            async for r in results:
                ...
        ```

        Memory stays bounded however long the input. Leaving the block early starts no
        new send; afterwards ``results.leftover`` holds the final result of every
        message read but not yielded, and ``results.taken`` how many were read.
        """
        from ._bulk import BulkStream

        return BulkStream(
            messages,
            self._bulk_sender(_check_bool("normalize", normalize), to_timeout(timeout)),
            concurrency=concurrency,
            per_second=per_second,
            check_balance=check_balance,
            journal=journal,
            resend_in_doubt=resend_in_doubt,
            stop_after_failures=stop_after_failures,
        )

    def _bulk_sender(self, normalize: bool, timeout: TimeoutTypes | None) -> BulkSender:
        """The callables the bulk engine runs on: this client's checks and send path."""
        from ._bulk import BulkSender, PreparedSend

        def prepare(m: BulkMessage) -> PreparedSend:
            body = self._send_params(
                m.phone, m.message, m.sender, m.callback_url, m.type, normalize
            )
            return PreparedSend(body["phone"], body["message"], body.get("from"), body)

        async def send(prepared: PreparedSend) -> SendResult:
            return await self._send(dict(prepared.body), timeout)

        return BulkSender(
            prepare=prepare,
            send=send,
            fingerprint=self._fingerprint,
            pool_size=self.pool_size,
            get_balance=functools.partial(self.get_balance, timeout=timeout),
            ready=self._client,
            normalize=normalize,
            default_region=self.default_region,
        )

    async def reconcile_journal(
        self,
        journal: Journal,
        messages: Iterable[BulkItem],
        *,
        normalize: bool = False,
        window: int = DEFAULT_RECONCILE_WINDOW,
        skew: float | _dt.timedelta = DEFAULT_RECONCILE_SKEW,
        min_age: float = 120.0,
        timeout: TimeoutTypes | None = None,
    ) -> JournalReconcileResult:
        """Settle the messages a bulk journal has in doubt, from the history.

        ``messages`` is the job's input (same order as when it ran). A message found
        in the history is journaled ``sent``; one provably absent (complete search,
        attempt at least ``min_age`` seconds old) ``failed``, so the next run with the
        journal sends it. One history record proves at most one message.
        """
        from ._bulk import reconcile_journal

        async def lookup(query: SendQuery, exclude: Collection[int]) -> ReconcileResult:
            return await self.reconcile(
                query, window=window, skew=skew, timeout=timeout, exclude=exclude
            )

        sender = self._bulk_sender(_check_bool("normalize", normalize), to_timeout(timeout))
        return await reconcile_journal(journal, messages, sender, lookup, min_age=min_age)

    def _fingerprint(self, text: str) -> str:
        return fingerprint(text, self._token.key)

    # -- unknown outcomes --------------------------------------------------------------

    async def reconcile(
        self,
        error: SendOutcomeUnknownError | SendQuery,
        *,
        window: int = DEFAULT_RECONCILE_WINDOW,
        skew: float | _dt.timedelta = DEFAULT_RECONCILE_SKEW,
        timeout: TimeoutTypes | None = None,
        exclude: Collection[int] = (),
    ) -> AnyReconcileResult:
        """Look a send whose outcome is unknown up in the history.

        Reads the history (at most ``window`` records) down to records created
        before ``error.started_at - skew`` (seconds, default 300: room for clock
        skew), and matches the number and the text's fingerprint; records whose id is
        in ``exclude`` (already proving another send) never match. The order of the
        history is checked, not assumed (``result.order``). ``result.found`` means the
        provider has the SMS: do not send it again (``result.record.status`` says how
        it went). Not found is strong only when ``result.complete`` and after the
        history had time to catch up; see ``docs/errors.md`` for the limits.
        """
        if not isinstance(error, SendOutcomeUnknownError | SendQuery):
            raise ValidationError(
                "error", f"must be a SendOutcomeUnknownError, not {type(error).__name__}"
            )
        query = query_of(error) if isinstance(error, SendOutcomeUnknownError) else error
        return await reconcile_async(
            self._fetch_page(timeout),
            query,
            self._fingerprint,
            window=window,
            skew=skew,
            exclude=exclude,
        )


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(name, f"must be True or False, got {value!r}")
    return value


OTP_TEMPLATES: dict[int, str] = {
    1: "MyService tizimi: {service_name} xizmatida amaliyotni tasdiqlash kodi: {otp_code}",
    2: "MyService tizimi: {service_name} xizmatida parolni tiklash uchun tasdiqlash kodi: "
    "{otp_code}",
    3: "MyService tizimi: {service_name} xizmatiga ro'yxatdan o'tish uchun tasdiqlash kodi: "
    "{otp_code}",
    4: "MyService tizimi: {service_name} xizmatiga kirish uchun tasdiqlash kodi: {otp_code}",
}
"""The provider's four universal OTP templates, as the spec prints them."""


def render_otp(template: int, service_name: str, otp_code: str) -> str:
    """The text the provider stores for a universal OTP send."""
    return OTP_TEMPLATES[template].format(service_name=service_name, otp_code=otp_code)
