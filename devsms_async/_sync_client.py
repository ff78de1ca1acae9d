"""``DevSMS``: the synchronous face, for Django views, Celery tasks, scripts and
notebooks. The same options, validation, errors, redaction and send-safety rules as
``AsyncDevSMS`` (both come from ``_base.BaseClient`` and the sans-IO core); only the
engine (``_engine.SyncEngine``) and the backend (one ``httpx.Client``) differ.

Bulk sending stays async: see ``docs/sync.md`` for running ``AsyncDevSMS.send_bulk``
from synchronous code.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection
from types import TracebackType
from typing import TypeVar

from . import _paging
from ._base import BaseClient, Params
from ._classify import Call
from ._endpoints import GET_BALANCE, GET_HISTORY, GET_STATUS, SEND_SMS, Endpoint
from ._engine import SyncEngine
from ._polling import DEFAULT_POLL_INITIAL, DEFAULT_POLL_MAX, DEFAULT_WAIT_TIMEOUT, Until
from ._polling import wait_for_status_sync as _wait_for_status
from ._reconcile import DEFAULT_SKEW as DEFAULT_RECONCILE_SKEW
from ._reconcile import DEFAULT_WINDOW as DEFAULT_RECONCILE_WINDOW
from ._reconcile import AnyReconcileResult
from ._reconcile import reconcile_sync as _reconcile
from ._transport import BaseTransport, Client, HttpxSyncBackend, TimeoutTypes, make_sync_client
from ._unknown import SendQuery
from .errors import SendOutcomeUnknownError, ValidationError
from .models import (
    Balance,
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

__all__ = ["DevSMS"]

T = TypeVar("T")


class DevSMS(BaseClient[BaseTransport, Client, SyncEngine]):
    """Synchronous client for the DevSMS.uz API: ``AsyncDevSMS`` without ``await``.

    Use it as a context manager (or ``open()`` and ``close()``); it owns one pooled
    ``httpx.Client``, created on entry and closed on exit:

    ```python
    with DevSMS("token") as sms:
        result = sms.send_sms("998901234567", "Salom!")
    ```

    The options are those of ``AsyncDevSMS``, with ``transport=`` an
    ``httpx.BaseTransport`` (``devsms_async.testing.SandboxTransport`` is both kinds)
    and ``http_client=`` an ``httpx.Client``. ``http_backend`` may be ``"httpx"`` or
    ``"auto"`` (both mean httpx); ``"aiohttp"`` is asyncio only. ``rate_limit=`` takes
    a ``SyncRateLimit`` (``LocalRateLimit`` and ``RedisRateLimit`` are both kinds). There
    is no bulk sending: see ``docs/sync.md``.
    """

    _face = "DevSMS"
    _asynchronous = False
    _http_client_types: tuple[type, ...] = (Client,)
    _transport_types: tuple[type, ...] = (BaseTransport,)

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> DevSMS:
        return self.open()

    def open(self) -> DevSMS:
        """Open the client (its connection pool) without a ``with`` block; returns it.

        For code that keeps one client for the life of the process (a module-level
        client in Django or a Celery worker): pair it with ``close()``. A client is
        opened once, by ``open()`` or by ``with``; after ``os.fork()`` the child
        builds its own pool on first use (``docs/sync.md``).
        """
        self._open()
        return self

    def _open_engine(self) -> SyncEngine:
        if self._http_backend == "aiohttp":
            raise ValidationError("http_backend", "'aiohttp' is asyncio only; DevSMS runs on httpx")
        headers = self._headers()
        if self._user_client is not None:
            backend = HttpxSyncBackend(self._user_client, headers, owned=False, name="custom")
        else:
            client = make_sync_client(
                transport=self._transport,
                timeout=self._timeout,
                limits=self._limits,
                headers=headers,
            )
            name = "custom" if self._transport is not None else "httpx"
            backend = HttpxSyncBackend(client, headers, owned=True, name=name)
        return SyncEngine(
            backend, base_url=self._base_url, policy=self._policy, log_sensitive=self._log_sensitive
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the owned HTTP client (a user-supplied one is left open). Idempotent.

        In a forked child the parent's pool is left alone (closing it there could
        disturb the parent's connections): only this process's own pool is closed.
        """
        engine = self._release()
        if engine is not None:
            engine.backend.close()

    def _client(self) -> Client:
        """The open engine's ``httpx.Client``; ``UsageError`` outside the ``with``."""
        self._check_open()
        engine = self._engine_after_fork() if self._fork_guard.forked() else self._engine
        assert engine is not None
        return engine.backend.client  # type: ignore[attr-defined, no-any-return]

    def _call(
        self, endpoint: Endpoint[T], params: Params, call: Call, timeout: TimeoutTypes | None
    ) -> T:
        engine = self._live_engine()
        return engine.call(endpoint, params, call, self._request_timeout(timeout))

    # -- endpoints -------------------------------------------------------------------

    def send_sms(
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
        """Send one SMS; see ``AsyncDevSMS.send_sms``. ``SendOutcomeUnknownError``
        when it may have happened but no answer proves it (never retried blindly)."""
        params = self._send_params(phone, message, sender, callback_url, type, normalize)
        self._pace()
        return self._call(SEND_SMS, params, self._send_call(params), timeout)

    def _pace(self) -> None:
        """Wait for the rate limit's slot (after the checks: bad input never waits)."""
        if self._rate_limit is not None:
            self._check_open()
            self._rate_limit.acquire_sync()

    def send_otp(
        self,
        phone: str,
        *,
        template: OtpTemplate | TemplateNumber,
        service_name: str,
        otp_code: str,
        callback_url: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> SendResult:
        """Send a verification code; see ``AsyncDevSMS.send_otp``."""
        params, call = self._otp(phone, template, service_name, otp_code, callback_url)
        self._pace()
        return self._call(SEND_SMS, params, call, timeout)

    def get_history(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        status: SmsStatus | HistoryStatus | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> HistoryPage:
        """One page of sent SMS, newest first; see ``AsyncDevSMS.get_history``."""
        query = self._history(limit, offset, status)
        return self._call(GET_HISTORY, query, self._read(GET_HISTORY), timeout)

    def get_balance(self, *, timeout: TimeoutTypes | None = None) -> Balance:
        """Balance, the price of one Uzbek SMS part, and usage statistics."""
        return self._call(GET_BALANCE, {}, self._read(GET_BALANCE), timeout)

    def get_status(
        self,
        *,
        sms_id: int | None = None,
        request_id: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> SmsRecord:
        """The record of one SMS, by ``sms_id`` **or** ``request_id`` (exactly one)."""
        query = self._status(sms_id, request_id)
        return self._call(GET_STATUS, query, self._read(GET_STATUS), timeout)

    def wait_for_status(
        self,
        sms_id: int | None = None,
        *,
        request_id: str | None = None,
        until: Until | None = None,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_initial: float = DEFAULT_POLL_INITIAL,
        poll_max: float = DEFAULT_POLL_MAX,
    ) -> SmsRecord:
        """Poll ``get_status`` until the SMS reaches ``until``; see
        ``AsyncDevSMS.wait_for_status``. The time limit is checked between polls."""
        query = self._status(sms_id, request_id)
        call = self._read(GET_STATUS)

        def poll() -> SmsRecord:
            return self._call(GET_STATUS, query, call, None)

        return _wait_for_status(
            poll,
            sms_id=sms_id,
            request_id=request_id,
            until=until,
            timeout=timeout,
            poll_initial=poll_initial,
            poll_max=poll_max,
        )

    # -- history -----------------------------------------------------------------------

    def _fetch_page(self, timeout: TimeoutTypes | None) -> _paging.SyncFetchPage:
        """``get_history`` as the paging and reconcile drivers want it."""
        limits = self._request_timeout(timeout)
        call = self._read(GET_HISTORY)

        def fetch_page(query: _paging.PageQuery) -> HistoryPage:
            return self._call(GET_HISTORY, self._page_params(query), call, limits)

        return fetch_page

    def iter_history(
        self,
        *,
        status: SmsStatus | HistoryStatus | None = None,
        page_size: int = 200,
        start_offset: int = 0,
        max_items: int | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> _paging.SyncHistoryIterator[SmsRecord]:
        """Every SMS of the history, newest first, one page (one request) at a time;
        a plain iterator. See ``AsyncDevSMS.iter_history``."""
        return _paging.iter_history_sync(
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
    ) -> _paging.SyncHistoryIterator[HistoryPage]:
        """Like ``iter_history``, one ``HistoryPage`` at a time."""
        return _paging.iter_history_pages_sync(
            self._fetch_page(timeout),
            status=status,
            page_size=page_size,
            start_offset=start_offset,
            max_items=max_items,
        )

    # -- unknown outcomes --------------------------------------------------------------

    def reconcile(
        self,
        error: SendOutcomeUnknownError | SendQuery,
        *,
        window: int = DEFAULT_RECONCILE_WINDOW,
        skew: float | _dt.timedelta = DEFAULT_RECONCILE_SKEW,
        timeout: TimeoutTypes | None = None,
        exclude: Collection[int] = (),
    ) -> AnyReconcileResult:
        """Look a send whose outcome is unknown up in the history; see
        ``AsyncDevSMS.reconcile``."""
        return _reconcile(
            self._fetch_page(timeout),
            self._send_query(error),
            self._fingerprint,
            window=window,
            skew=skew,
            exclude=exclude,
        )
