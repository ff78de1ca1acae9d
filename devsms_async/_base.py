"""What both faces share (httpx's ``BaseClient`` pattern): the options, declared and
checked once; the strict lifecycle; and turning method arguments into validated
parameters plus the ``Call`` the core judges the answer with.

``AsyncDevSMS`` and ``DevSMS`` add only the I/O: how to build their engine over a
backend, and methods that drive it (the awaited call or the plain one).
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import os
import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ._classify import Call, RetryPolicy, fingerprint
from ._converter import TASHKENT
from ._endpoints import SEND_SMS, Endpoint
from ._fork import ForkGuard, abandon
from ._otp import render_otp
from ._transport import (
    DEFAULT_LIMITS,
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    AsyncBaseTransport,
    AsyncClient,
    HTTPBackend,
    Limits,
    Timeout,
    TimeoutTypes,
    check_base_url,
    check_client_timeout,
    to_timeout,
)
from ._unknown import SendQuery, query_of
from ._validation import (
    check_callback_url,
    check_history_query,
    check_message,
    check_otp_code,
    check_phone_check,
    check_region,
    check_sender,
    check_service_name,
    check_sms_type,
    check_status_query,
    check_template,
    check_token,
    normalize_phone,
    reject_unknown_options,
)
from ._wire import default_headers
from .errors import SendOutcomeUnknownError, UsageError, ValidationError
from .models import OtpTemplate, SmsStatus, SmsType

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._engine import AsyncEngine, SyncEngine
    from ._paging import PageQuery
    from ._validation import NoMoreOptions, PhoneCheck
    from .ratelimit import RateLimit, SyncRateLimit

DEFAULT_BASE_URL = "https://devsms.uz/api"
TOKEN_ENV = "DEVSMS_TOKEN"  # noqa: S105 - a variable name, not a secret
BASE_URL_ENV = "DEVSMS_BASE_URL"

Params = dict[str, Any]
TransportT = TypeVar("TransportT")
HTTPClientT = TypeVar("HTTPClientT")
EngineT = TypeVar("EngineT", bound="AsyncEngine | SyncEngine")


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


class State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Secret:
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


class BaseClient(Generic[TransportT, HTTPClientT, EngineT]):
    """The options and rules both clients share; see ``AsyncDevSMS`` for each option.

    Generic in the types that differ between the faces: ``transport=`` is an
    ``httpx.AsyncBaseTransport`` or ``httpx.BaseTransport``, ``http_client=`` an
    ``httpx.AsyncClient`` or ``httpx.Client``, and the engine an ``AsyncEngine`` or a
    ``SyncEngine``.
    """

    _face = "AsyncDevSMS"
    _asynchronous = True
    """Whether the face's methods are awaited (advice in error texts follows it)."""
    _http_client_types: tuple[type, ...] = (AsyncClient,)
    _transport_types: tuple[type, ...] = (AsyncBaseTransport,)

    _engine: EngineT | None = None

    @property
    def _enter(self) -> str:
        return "async with" if self._asynchronous else "with"

    @property
    def _open_call(self) -> str:
        return "await sms.open()" if self._asynchronous else "sms.open()"

    @property
    def _pace_method(self) -> str:
        """The method of ``rate_limit=`` this face calls before each send."""
        return "acquire" if self._asynchronous else "acquire_sync"

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_deadline: float = 60.0,
        http_client: HTTPClientT | None = None,
        transport: TransportT | None = None,
        http_backend: HTTPBackend = "httpx",
        limits: Limits = DEFAULT_LIMITS,
        sender: str | None = None,
        callback_url: str | None = None,
        timezone: _dt.tzinfo | None = TASHKENT,
        allow_insecure_http: bool = False,
        log_sensitive: bool = False,
        default_region: str | None = "UZ",
        rate_limit: RateLimit | SyncRateLimit | None = None,
        phone_check: PhoneCheck = "valid",
        **unknown: Unpack[NoMoreOptions],
    ) -> None:
        # ``**unknown``: a misspelt option fails the type check (NoMoreOptions has no
        # keys), and here with a ValidationError naming this class; Python's TypeError
        # would name BaseClient.__init__ (and on 3.10 not even the class).
        reject_unknown_options(self._face, unknown, BaseClient.__init__)
        if token is None:
            token = os.environ.get(TOKEN_ENV)
        if not isinstance(token, str) or not token.strip():
            raise ValidationError(
                "token", f"no API token: pass token=... or set the {TOKEN_ENV} environment variable"
            )
        if http_client is not None and transport is not None:
            raise ValidationError("transport", "give http_client or transport, not both")
        _check_instance("http_client", http_client, self._http_client_types)
        _check_instance("transport", transport, self._transport_types)
        backend_name: object = http_backend  # callers may pass anything at run time
        if not isinstance(backend_name, str) or backend_name not in ("httpx", "aiohttp", "auto"):
            raise ValidationError("http_backend", "must be 'httpx', 'aiohttp' or 'auto'")
        _check_limits(limits)
        zone: object = timezone
        if zone is not None and not isinstance(zone, _dt.tzinfo):
            raise ValidationError(
                "timezone", f"must be a datetime.tzinfo or None, not {type(timezone).__name__}"
            )
        check_bool("allow_insecure_http", allow_insecure_http)
        check_bool("log_sensitive", log_sensitive)
        self._token = Secret(check_token(token.strip()))
        self._base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._timeout: Timeout = check_client_timeout(timeout)
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
        self._rate_limit = self._check_rate_limit(rate_limit)
        self._phone_check = check_phone_check(phone_check)
        self._state = State.NEW
        self._fork_guard = ForkGuard()  # renewed on open: the process that owns the pool
        # Held only for a moment, while a forked child's first request builds its pool:
        # its threads must not build two.
        self._fork_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{self._face} base_url={self._base_url!r} state={self._state.value}>"

    def _check_rate_limit(self, rate_limit: object) -> Any:
        if rate_limit is None:
            return None
        if not callable(getattr(rate_limit, self._pace_method, None)):
            raise ValidationError(
                "rate_limit",
                f"{self._face} needs an object with {self._pace_method}() "
                "(devsms_async.ratelimit.LocalRateLimit or RedisRateLimit), "
                f"got {type(rate_limit).__name__}",
            )
        return rate_limit

    @property
    def rate_limit(self) -> RateLimit | SyncRateLimit | None:
        """The limit every send waits for (``rate_limit=``), or ``None``."""
        return self._rate_limit  # type: ignore[no-any-return]

    # -- lifecycle -------------------------------------------------------------------

    def _check_can_enter(self) -> None:
        if self._state is not State.NEW:
            raise UsageError(
                f"this {self._face} is {self._state.value}; a client can be entered once. "
                f"Create a new {self._face} for a new `{self._enter}` block."
            )

    def _check_open(self) -> None:
        if self._state is State.NEW:
            raise UsageError(
                f"the client is not open: use `{self._enter} {self._face}(...) as sms:` "
                f"or `{self._open_call}`"
            )
        if self._state is State.CLOSED:
            raise UsageError(f"the client is closed; create a new {self._face}")

    def _check_can_rebuild(self) -> None:
        """In a forked child: the SDK rebuilds only a pool it built itself."""
        if self._user_client is not None or self._transport is not None:
            given = "http_client=" if self._user_client is not None else "transport="
            raise UsageError(
                f"this {self._face} was opened in process {self._fork_guard.pid} with a "
                f"{given} of yours, and this process is a fork of it: the SDK cannot "
                "rebuild your client, and sharing its connections with the other process "
                "could give each one the other's answers. Create and open the "
                f"{self._face} (and your {given.rstrip('=')}) in each process, after the fork."
            )

    def _open_engine(self) -> EngineT:
        """A new pool and the face's engine over it (in the running event loop)."""
        raise NotImplementedError

    def _open(self) -> None:
        """``open()``: build the pool; the client can be entered once."""
        self._check_can_enter()
        engine = self._open_engine()
        self._engine = engine
        self._fork_guard.renew()
        self._backend_in_use = engine.backend.name
        self._state = State.OPEN

    def _release(self) -> EngineT | None:
        """Close the client; the engine whose pool this process must close, if any.

        In a forked child the parent's pool is left alone (closing it there could write
        to the parent's connections): only this process's own pool is closed.
        """
        if self._state is State.CLOSED:
            return None
        engine, self._engine = self._engine, None
        self._state = State.CLOSED
        if engine is not None and self._fork_guard.forked():
            abandon(engine)
            return None
        return engine

    def _engine_after_fork(self) -> EngineT:
        """The engine to use in this process: in a forked child, a fresh pool (in the
        child's own event loop: the parent's loop and sockets are not this process's)."""
        self._check_open()
        with self._fork_lock:  # threads of the child racing to its first request
            if self._engine is not None and not self._fork_guard.forked():
                return self._engine
            self._check_can_rebuild()
            abandon(self._engine)
            engine = self._engine = self._open_engine()
            self._fork_guard.renew()
            return engine

    def _live_engine(self) -> EngineT:
        """The engine for a request: the open one, or this process's own after a fork."""
        engine = self._engine
        if engine is None or self._fork_guard.forked():
            engine = self._engine_after_fork()
        return engine

    def _headers(self) -> dict[str, str]:
        # Built when the client opens, never stored on the instance: vars() stays clean.
        return default_headers(self._token.value)

    @property
    def is_closed(self) -> bool:
        """``True`` once the client was closed (or its ``with`` block ended)."""
        return self._state is State.CLOSED

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
    def phone_check(self) -> PhoneCheck:
        """How far numbers of other countries are checked: ``"valid"`` (default) or
        ``"possible"`` (see ``normalize_phone``)."""
        return self._phone_check

    @property
    def pool_size(self) -> int:
        """How many connections may be open at once (from ``limits``; an unlimited
        pool counts as the default, 10); bulk sends stay within it."""
        return self._limits.max_connections or DEFAULT_POOL_SIZE

    @staticmethod
    def _request_timeout(timeout: TimeoutTypes | None) -> Timeout | None:
        """A per-call timeout, checked; ``None``: the HTTP client's own (ours, from
        ``timeout=``, or that of an ``http_client=`` of yours)."""
        return to_timeout(timeout)

    # -- arguments -> parameters + call ----------------------------------------------

    def _read(self, endpoint: Endpoint[Any]) -> Call:
        return Call(endpoint, tz=self._tz, secrets=(self._token.value,))

    def _send_params(
        self,
        phone: object,
        message: object,
        sender: object,
        callback_url: object,
        sms_type: object,
        normalize: bool,
    ) -> Params:
        """Validate one send and build its parameters (shared with bulk sending)."""
        number = normalize_phone(
            cast("str", phone),  # any object: normalize_phone refuses a non-str itself
            default_region=self._region,
            phone_check=self._phone_check,
        )
        text = check_message(message)
        if normalize:
            from .sms_parts import normalize_uzbek

            text = normalize_uzbek(text)
        kind = check_sms_type(sms_type, number)
        params: Params = {"phone": number, "message": text}
        chosen_sender = check_sender(sender) or self._sender
        if chosen_sender is not None:
            params["sender"] = chosen_sender
        chosen_callback = check_callback_url(callback_url) or self._callback_url
        if chosen_callback is not None:
            params["callback_url"] = chosen_callback
        params["type"] = kind.value
        return params

    def _send_call(self, params: Params) -> Call:
        phone: str = params["phone"]
        return Call(
            SEND_SMS,
            tz=self._tz,
            secrets=(self._token.value, phone),  # an echoed number is masked in full
            key=self._token.key,
            phone=phone,
            text=params["message"],
            asynchronous=self._asynchronous,
        )

    def _otp(
        self,
        phone: object,
        template: OtpTemplate | int,
        service_name: object,
        otp_code: object,
        callback_url: object,
    ) -> tuple[Params, Call]:
        number = normalize_phone(
            cast("str", phone),  # any object: normalize_phone refuses a non-str itself
            default_region=self._region,
            phone_check=self._phone_check,
        )
        template_type = int(check_template(template))
        name = check_service_name(service_name)
        code = check_otp_code(otp_code)
        params: Params = {
            "phone": number,
            "type": SmsType.UNIVERSAL_OTP.value,
            "template_type": template_type,
            "service_name": name,
            "otp_code": code,
        }
        chosen_callback = check_callback_url(callback_url) or self._callback_url
        if chosen_callback is not None:
            params["callback_url"] = chosen_callback
        call = Call(
            SEND_SMS,
            tz=self._tz,
            secrets=(self._token.value, number, code),
            key=self._token.key,
            phone=number,
            text=render_otp(template_type, name, code),
            asynchronous=self._asynchronous,
        )
        return params, call

    def _fingerprint(self, text: str) -> str:
        """The key of reconcile's matching: a text's HMAC under this client's token."""
        return fingerprint(text, self._token.key)

    @staticmethod
    def _page_params(query: PageQuery) -> Params:
        """``get_history``'s parameters for one page the history walk asks for."""
        params: Params = {"limit": query.limit, "offset": query.offset}
        if query.status is not None:
            params["status"] = query.status
        return params

    @staticmethod
    def _send_query(error: object) -> SendQuery:
        """``reconcile``'s argument as the query it looks up."""
        if isinstance(error, SendOutcomeUnknownError):
            return query_of(error)
        if not isinstance(error, SendQuery):
            raise ValidationError(
                "error", f"must be a SendOutcomeUnknownError, not {type(error).__name__}"
            )
        return error

    @staticmethod
    def _history(limit: object, offset: object, status: SmsStatus | str | None) -> Params:
        return check_history_query(limit, offset, status)

    @staticmethod
    def _status(sms_id: object, request_id: object) -> Params:
        return check_status_query(sms_id, request_id)


def _check_instance(name: str, value: object, kinds: tuple[type, ...]) -> None:
    if value is not None and not isinstance(value, kinds):
        wanted = " or ".join(f"httpx.{kind.__name__}" for kind in kinds)
        raise ValidationError(name, f"must be an {wanted} or None, not {type(value).__name__}")


def _check_limits(limits: object) -> None:
    if not isinstance(limits, Limits):
        raise ValidationError("limits", f"must be an httpx.Limits, not {type(limits).__name__}")
    for field, low in (("max_connections", 1), ("max_keepalive_connections", 0)):
        count: object = getattr(limits, field)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < low
        ):
            raise ValidationError(
                "limits", f"{field} must be an int >= {low} or None, got {count!r}"
            )
    expiry: object = limits.keepalive_expiry
    if expiry is not None and (
        isinstance(expiry, bool)
        or not isinstance(expiry, int | float)
        or not math.isfinite(expiry)
        or expiry < 0
    ):
        raise ValidationError("limits", f"keepalive_expiry must be >= 0 seconds, got {expiry!r}")


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(name, f"must be True or False, got {value!r}")
    return value
