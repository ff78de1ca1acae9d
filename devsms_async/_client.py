"""``AsyncDevSMS``: the asynchronous face. Options, validation and the lifecycle rules
live in ``_base.BaseClient`` (shared with the sync ``DevSMS``); the wire work in the
sans-IO core, driven by ``_engine.AsyncEngine`` over an httpx or aiohttp backend."""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import AsyncIterable, Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from . import _paging
from ._base import BASE_URL_ENV, DEFAULT_BASE_URL, TOKEN_ENV, BaseClient, Params, check_bool
from ._classify import Call
from ._closing import AsyncClosing
from ._endpoints import GET_BALANCE, GET_HISTORY, GET_STATUS, SEND_SMS, Endpoint
from ._engine import AsyncBackend, AsyncEngine
from ._otp import OTP_TEMPLATES, render_otp
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
from ._transport import (
    AsyncBaseTransport,
    AsyncClient,
    HttpxAsyncBackend,
    TimeoutTypes,
    make_aiohttp_backend,
    make_client,
    resolve_backend,
    to_timeout,
)
from ._unknown import SendQuery
from .errors import SendOutcomeUnknownError
from .models import (
    AnyBulkResult,
    Balance,
    BulkMessage,
    BulkResult,
    HistoryPage,
    HistoryStatus,
    OtpTemplate,
    SendResult,
    SendType,
    SmsRecord,
    SmsStatus,
    SmsType,
    TemplateNumber,
)

if TYPE_CHECKING:
    from ._bulk import BulkItem, BulkSender, BulkStream, JournalReconcileResult
    from ._journal import Journal
    from ._paging import AsyncFetchPage, AsyncHistoryIterator, PageQuery
    from .ratelimit import RateLimit

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "OTP_TEMPLATES",
    "TOKEN_ENV",
    "AsyncDevSMS",
    "render_otp",
]

T = TypeVar("T")

_UNBOUNDED_WINDOW = 2**62
"""``reconcile_journal`` without a window: the search ends at the attempt's time."""


class AsyncDevSMS(BaseClient[AsyncBaseTransport, AsyncClient, AsyncEngine], AsyncClosing):
    """Asynchronous client for the DevSMS.uz API.

    Use it as an async context manager; it owns one connection pool (an
    ``httpx.AsyncClient``, or an aiohttp session with ``http_backend="aiohttp"``) that
    is created on entry (bound to the running event loop) and closed on exit:

    ```python
    async with AsyncDevSMS("token") as sms:
        result = await sms.send_sms("998901234567", "Salom!")
    ```

    Where start and stop are separate hooks (a bot's startup and shutdown), use
    ``await sms.open()`` and ``await sms.aclose()`` instead. After ``os.fork()`` a
    child builds its own pool on first use (``docs/sync.md``).

    Args:
        token: API token; defaults to the ``DEVSMS_TOKEN`` environment variable.
        base_url: the API root; defaults to the ``DEVSMS_BASE_URL`` environment
            variable, else ``https://devsms.uz/api``. Plain ``http://`` is refused for
            non-loopback hosts unless ``allow_insecure_http=True`` (the token would
            travel in clear text); so are credentials (``user:pw@``), a query and a
            fragment.
        timeout: seconds or an ``httpx.Timeout``; default connect 5, read 30,
            write 10, pool 10. Every method also takes ``timeout=``. ``None`` is
            refused (a send could wait for ever): ``httpx.Timeout(None)`` means it.
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
            ``"UZ"`` (default: ``901234567`` and ``8 90 123 45 67`` are sent to
            ``998901234567``), another ISO 3166 code (checked with ``phonenumbers``),
            or ``None`` to accept international numbers only. See
            ``docs/live-service.md``.
        rate_limit: paces the sends (``send_sms``, ``send_otp``, every bulk send;
            never reads): a ``devsms_async.ratelimit.LocalRateLimit`` (this process) or
            ``RedisRateLimit`` (every process sharing a Redis). Each send waits for its
            slot first; see ``docs/ratelimit.md``.
        phone_check: ``"valid"`` (default): a non-Uzbek number must be in a range the
            numbering plan assigns; ``"possible"``: a possible length for its country
            is enough, for ranges newer than ``phonenumbers``' data (a mistyped number
            is then sent and charged). See ``normalize_phone``.
        rate_limit: paces the sends (``send_sms``, ``send_otp``, every bulk send;
            never reads): a ``devsms_async.ratelimit.LocalRateLimit`` (this process) or
            ``RedisRateLimit`` (every process sharing a Redis). Each send waits for its
            slot first; see ``docs/ratelimit.md``.

    A misspelt option (``sendr=``) fails the type check, and at run time raises
    ``ValidationError`` naming the class and the closest option.
    """

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> AsyncDevSMS:
        return await self.open()

    async def open(self) -> AsyncDevSMS:
        """Open the client (its connection pool, in the running event loop) without an
        ``async with`` block; returns it.

        For applications whose start and stop are separate hooks (an aiogram bot's
        ``on_startup``/``on_shutdown``, a worker's setup): pair it with ``aclose()``.
        A client is opened once, by ``open()`` or by ``async with``.
        """
        self._open()
        return self

    def _open_engine(self) -> AsyncEngine:
        """A new pool and engine, bound to the running event loop."""
        backend: AsyncBackend
        headers = self._headers()
        if self._user_client is not None:
            backend = HttpxAsyncBackend(self._user_client, headers, owned=False, name="custom")
        else:
            kind = resolve_backend(self._http_backend)
            if self._transport is None and kind == "aiohttp":
                aio = make_aiohttp_backend(headers, self._limits, self._base_url, self._timeout)
                aio.open()
                backend = aio
            else:
                client = make_client(
                    transport=self._transport,
                    timeout=self._timeout,
                    limits=self._limits,
                    headers=headers,
                )
                name = "custom" if self._transport is not None else "httpx"
                backend = HttpxAsyncBackend(client, headers, owned=True, name=name)
        return AsyncEngine(
            backend, base_url=self._base_url, policy=self._policy, log_sensitive=self._log_sensitive
        )

    async def aclose(self) -> None:
        """Close the owned HTTP client (a user-supplied one is left open). Idempotent.

        In a forked child the parent's pool is left alone (closing it there could write
        to the parent's connections): only this process's own pool is closed.
        """
        engine = self._release()
        if engine is not None:
            await engine.backend.aclose()

    @property
    def _http(self) -> Any:
        """The HTTP client in use (an ``httpx.AsyncClient`` or an aiohttp session)."""
        if self._engine is None:
            return None
        backend: Any = self._engine.backend
        return backend.client if hasattr(backend, "client") else backend.session

    def _client(self) -> AsyncClient:
        """The open engine's HTTP client; ``UsageError`` outside the ``async with``."""
        self._check_open()
        if self._fork_guard.forked():
            self._engine_after_fork()
        return self._http  # type: ignore[no-any-return]

    # -- the one generic call --------------------------------------------------------

    async def _call(
        self, endpoint: Endpoint[T], params: Params, call: Call, timeout: TimeoutTypes | None
    ) -> T:
        engine = self._live_engine()
        return await engine.call(endpoint, params, call, self._request_timeout(timeout))

    # -- endpoints -------------------------------------------------------------------

    async def send_sms(
        self,
        phone: str,
        message: str,
        *,
        sender: str | None = None,
        callback_url: str | None = None,
        type: SmsType | SendType = SmsType.ESKIZ,
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
        await self._pace()
        return await self._call(SEND_SMS, params, self._send_call(params), timeout)

    async def _pace(self) -> None:
        """Wait for the rate limit's slot (after the checks: bad input never waits)."""
        if self._rate_limit is not None:
            self._check_open()  # a closed client must not take a slot first
            await self._rate_limit.acquire()

    async def _send(self, params: Params, timeout: TimeoutTypes | None) -> SendResult:
        """Send parameters built by ``_send_params`` (bulk sending's way in; the bulk
        engine waits for the rate limit itself, before journaling the attempt)."""
        return await self._call(SEND_SMS, params, self._send_call(params), timeout)

    async def send_otp(
        self,
        phone: str,
        *,
        template: OtpTemplate | TemplateNumber,
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
        params, call = self._otp(phone, template, service_name, otp_code, callback_url)
        await self._pace()
        return await self._call(SEND_SMS, params, call, timeout)

    async def get_history(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        status: SmsStatus | HistoryStatus | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> HistoryPage:
        """One page of sent SMS, newest first (``GET get_history.php``).

        ``limit`` 1-200; ``status`` one of ``sent``, ``delivered``, ``failed``. To walk
        everything use ``iter_history``.
        """
        query = self._history(limit, offset, status)
        return await self._call(GET_HISTORY, query, self._read(GET_HISTORY), timeout)

    async def get_balance(self, *, timeout: TimeoutTypes | None = None) -> Balance:
        """Balance, the price of one Uzbek SMS part, and usage statistics."""
        return await self._call(GET_BALANCE, {}, self._read(GET_BALANCE), timeout)

    async def get_status(
        self,
        *,
        sms_id: int | None = None,
        request_id: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> SmsRecord:
        """The record of one SMS, by ``sms_id`` **or** ``request_id`` (exactly one)."""
        query = self._status(sms_id, request_id)
        return await self._call(GET_STATUS, query, self._read(GET_STATUS), timeout)

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
        query = self._status(sms_id, request_id)
        call = self._read(GET_STATUS)

        async def poll() -> SmsRecord:
            return await self._call(GET_STATUS, query, call, None)

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
        status: SmsStatus | HistoryStatus | None = None,
        page_size: int = 200,
        start_offset: int = 0,
        max_items: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> AsyncHistoryIterator[SmsRecord]:
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
        status: SmsStatus | HistoryStatus | None = None,
        page_size: int = 200,
        start_offset: int = 0,
        max_items: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> AsyncHistoryIterator[HistoryPage]:
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
        limits = self._request_timeout(timeout)
        call = self._read(GET_HISTORY)

        async def fetch_page(query: PageQuery) -> HistoryPage:
            return await self._call(GET_HISTORY, self._page_params(query), call, limits)

        return fetch_page

    async def send_bulk(
        self,
        messages: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        concurrency: int | None = None,
        per_second: float | None = None,
        rate_limit: RateLimit | None = None,
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
            per_second: optional cap on sends *started* per second, evenly spaced,
                in this job (a shortcut for ``rate_limit=LocalRateLimit(per_second)``).
            rate_limit: pace this job's sends with a ``RateLimit`` (e.g. a
                ``RedisRateLimit`` shared by several processes); not with
                ``per_second``. The client's own ``rate_limit`` applies as well. A
                message whose slot cannot be had (``RateLimitUnavailableError``) is
                ``FAILED``, not sent, and no new send starts (``stopped_because``).
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
            rate_limit=rate_limit,
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
        rate_limit: RateLimit | None = None,
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
            self._bulk_sender(check_bool("normalize", normalize), to_timeout(timeout)),
            concurrency=concurrency,
            per_second=per_second,
            rate_limit=rate_limit,
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
            return PreparedSend(body["phone"], body["message"], body.get("sender"), body)

        async def send(prepared: PreparedSend) -> SendResult:
            return await self._send(dict(prepared.body), timeout)

        return BulkSender(
            prepare=prepare,
            send=send,
            fingerprint=self._fingerprint,
            pool_size=self.pool_size,
            get_balance=functools.partial(self.get_balance, timeout=timeout),
            ready=self._client,
            rate_limit=self._rate_limit,
            normalize=normalize,
            default_region=self.default_region,
            phone_check=self.phone_check,
        )

    async def reconcile_journal(
        self,
        journal: Journal,
        messages: Iterable[BulkItem],
        *,
        normalize: bool = False,
        window: int | None = None,
        skew: float | _dt.timedelta = DEFAULT_RECONCILE_SKEW,
        min_age: float = 120.0,
        timeout: TimeoutTypes | None = None,
    ) -> JournalReconcileResult:
        """Settle the messages a bulk journal has in doubt, from the history.

        ``messages`` is the job's input (same order as when it ran; keyed messages in
        any order). A message found in the history is journaled ``sent``; one provably
        absent (complete search, attempt at least ``min_age`` seconds old) ``failed``,
        so the next run with the journal sends it. One history record proves at most
        one message. Each search reads the history back to the attempt's own time
        (minus ``skew``), however many records that is; ``window`` caps the records
        read per message instead (then "not found" past the cap proves nothing).
        """
        from ._bulk import reconcile_journal

        limit = _UNBOUNDED_WINDOW if window is None else window

        async def lookup(query: SendQuery, exclude: Collection[int]) -> ReconcileResult:
            return await self.reconcile(
                query, window=limit, skew=skew, timeout=timeout, exclude=exclude
            )

        sender = self._bulk_sender(check_bool("normalize", normalize), to_timeout(timeout))
        return await reconcile_journal(journal, messages, sender, lookup, min_age=min_age)

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
        return await reconcile_async(
            self._fetch_page(timeout),
            self._send_query(error),
            self._fingerprint,
            window=window,
            skew=skew,
            exclude=exclude,
        )
