"""``Sandbox``: the fake DevSMS service, its knobs and what it recorded.

The rest of ``devsms_async.testing`` (the in-process transport, the HTTP server, the web
inbox) and the tests' fault server drive a sandbox through these functions, never through
its private attributes:

- ``handler(sandbox)``: the sandbox as a ``Handler``, an ``HttpRequest`` in and a
  ``Reply`` out, as httpx's ``MockTransport`` takes one. It is the one entry point of
  both modes: it records the request, applies an armed fault or the rate limit, and runs
  the API.
- ``step(sandbox)``: every unfinished message one status step; callbacks are queued,
  not POSTed (``Sandbox.deliver_callbacks`` does that).
- ``move(sandbox, sms_id, status)``: one message forward to ``status``, callbacks queued.
- ``armed_faults(sandbox)``: the faults not used yet, oldest first (read-only);
  ``disarm(sandbox)`` drops them all.
- ``forget_messages(sandbox)``: drop every message and its queued callbacks (the
  balance and the next ``sms_id`` stay).
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._redact import mask_phone
from .._validation import check_int, check_token
from ..errors import ValidationError
from ..models import SmsStatus, SmsType
from . import _app
from ._app import Handler, HttpRequest
from ._callbacks import CALLBACK_TIMEOUT, CallbackAttempt, deliver
from ._state import (
    MONEY_SHAPES,
    Clock,
    LiveRules,
    MoneyShape,
    SandboxMessage,
    ServiceState,
    wall_clock,
)

if TYPE_CHECKING:
    from .._client import AsyncDevSMS
    from .._sync_client import DevSMS
    from .._transport import AsyncBaseTransport
    from ._inprocess import SandboxTransport

__all__ = ["DEFAULT_BLOCKED_SERVICE_NAMES", "DEFAULT_TOKEN", "RecordedRequest", "Sandbox"]

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's well-known test token
"""The one token a ``Sandbox()`` accepts unless given another."""
DEFAULT_BALANCE = 100_000
DEFAULT_SMS_PRICE = 50
DEFAULT_BLOCKED_SERVICE_NAMES = frozenset({"blocked", "casino", "kazino", "scam"})
"""Service names the sandbox's "AI moderation" refuses (as whole words, any case)."""

_ONE_SECOND = _dt.timedelta(seconds=1)
_OTP_AT_END = re.compile(r"([0-9]{4,8})\Z")


def _query_repr(query: Mapping[str, str]) -> str:
    return repr(sorted(query))


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the sandbox received, and the status it answered (``None``: the
    connection was dropped by ``Sandbox.disconnect_next``)."""

    method: str
    path: str
    """The URL path, e.g. ``/api/send_sms.php``."""
    query: Mapping[str, str] = attrs.field(repr=_query_repr)
    headers: Mapping[str, str] = attrs.field(repr=False)
    """Lower-case names; ``authorization`` holds the token."""
    body: bytes = attrs.field(repr=False)
    status: int | None
    received_at: _dt.datetime | None = attrs.field(default=None, repr=False)
    """When it arrived, by the sandbox's ``clock`` (count sends per second with it)."""

    @property
    def endpoint(self) -> str:
        """The script name: ``send_sms.php``, ``get_history.php``, ..."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or ``None`` when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@attrs.frozen
class ArmedFault:
    """A fault armed by ``fail_next`` or ``disconnect_next``, waiting for a request."""

    reply: _app.Reply
    path: str | None
    after_processing: bool

    def matches(self, path: str) -> bool:
        return self.path is None or self.path in (path, path.rsplit("/", 1)[-1])


class Sandbox:
    """A faithful, in-memory DevSMS service for tests and demos.

    Drive it in-process with ``AsyncDevSMS(sandbox.token, transport=sandbox.transport())``
    (or just ``sandbox.client()``), or over real HTTP with ``serve_sandbox``.

    Args:
        token: the one Bearer token it accepts.
        balance: starting balance in so'm.
        sms_price: price of one part to an Uzbek number (international numbers cost the
            price table's per-part price for ``account``).
        account: ``"local"`` (Uzbek account, default) or ``"foreign"`` prices.
        clock: returns the current time; default the real time. Pass a
            ``ManualClock`` for deterministic timestamps.
        blocked_service_names: what universal-OTP moderation refuses (whole words, any
            case); the refusal still charges, like the real service.
        callback_timeout: seconds before a callback POST counts as ``timeout`` (5).
        callback_transport: an ``httpx`` transport for callbacks, e.g.
            ``httpx.ASGITransport(app)`` to deliver them into your app in-process.
        first_sms_id: the first ``sms_id`` handed out.
        history_order: ``"newest_first"`` (what the live service does) or
            ``"oldest_first"``: the spec promises no order, so code that reads the
            history can be tested against both.
        money: ``"live"`` (default) writes money as the live service does, decimal
            strings (``"total_cost": "50.00"``); ``"documented"`` as the documentation
            shows it, JSON numbers (``50``), so the spec's examples are served as written.
        refusals_as_200: answer every refusal with HTTP 200 and ``success: false`` (the
            live service does so too) instead of its documented 4xx status.
        templates: turn on free-text moderation: only texts fitting one of these
            approved templates (``{}``/``{name}`` stands for any text) are sent; others
            get the live refusal (``TemplateRequiredError`` in the SDK). ``None``: off.
        registered_numbers: turn on the test-sender rule: the shared sender ``4546``
            delivers only to these numbers, others get ``invalid sender``
            (``SenderNotAllowedError``). ``None``: off.
        latency: seconds every API answer takes (0 by default). The request is handled
            when it arrives (a send is stored and charged then); the answer leaves
            ``latency`` later. Over HTTP other connections are served meanwhile.
        rate_limit: at most this many API requests (sends and reads alike, as a
            provider limits a token) in any one second; beyond it the answer is HTTP
            429 with ``Retry-After`` (whole seconds) and nothing is done: a send is not
            stored or charged. Refused requests do not count. ``None``: no limit.

    The live rules can be changed later through ``live``. See docs/live-service.md.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        balance: Decimal | int = DEFAULT_BALANCE,
        sms_price: Decimal | int = DEFAULT_SMS_PRICE,
        account: Literal["local", "foreign"] = "local",
        clock: Clock | None = None,
        blocked_service_names: Iterable[str] = DEFAULT_BLOCKED_SERVICE_NAMES,
        callback_timeout: float = CALLBACK_TIMEOUT,
        callback_transport: AsyncBaseTransport | None = None,
        first_sms_id: int = 1,
        history_order: Literal["newest_first", "oldest_first"] = "newest_first",
        money: MoneyShape = "live",
        refusals_as_200: bool = False,
        templates: Iterable[str] | None = None,
        registered_numbers: Iterable[str] | None = None,
        latency: float = 0.0,
        rate_limit: int | None = None,
    ) -> None:
        given_token: object = token  # callers may pass anything at run time
        if not isinstance(given_token, str) or not token or any(c.isspace() for c in token):
            raise ValidationError("token", "must be a non-empty string without whitespace")
        check_token(token)  # one the clients can send: visible ASCII
        if not _one_of(money, MONEY_SHAPES):
            raise ValidationError("money", f"must be 'live' or 'documented', got {money!r}")
        template_list = _strings("templates", templates)
        number_list = _strings("registered_numbers", registered_numbers)
        if not _one_of(account, ("local", "foreign")):
            raise ValidationError("account", f"must be 'local' or 'foreign', got {account!r}")
        blocked = _strings("blocked_service_names", blocked_service_names)
        if blocked is None:
            raise ValidationError("blocked_service_names", "must be a collection of names")
        given_timeout: object = callback_timeout
        if (
            isinstance(given_timeout, bool)
            or not isinstance(given_timeout, int | float)
            or not given_timeout > 0
        ):
            raise ValidationError("callback_timeout", "must be a positive number of seconds")
        check_int("first_sms_id", first_sms_id, 1)
        if not _one_of(history_order, ("newest_first", "oldest_first")):
            raise ValidationError(
                "history_order", f"must be 'newest_first' or 'oldest_first', got {history_order!r}"
            )
        self._state = ServiceState(
            token=token,
            balance=_check_money("balance", balance),
            sms_price=_check_money("sms_price", sms_price),
            account=account,
            clock=clock if clock is not None else wall_clock,
            blocked_service_names=blocked,
            first_sms_id=first_sms_id,
        )
        # The spec promises no order for get_history; the live service is newest first.
        self._state.history_order = history_order
        self._state.live = LiveRules(
            money=money,
            refusal_status=200 if refusals_as_200 else None,
            templates=template_list,
            registered_numbers=None if number_list is None else set(number_list),
        )
        self.callback_timeout = float(callback_timeout)
        self.callback_transport = callback_transport
        self.latency = latency
        self.rate_limit = rate_limit
        # When the API requests answered within the last second arrived (sandbox clock),
        # oldest first: the rate limit's sliding window. Datetimes: exact arithmetic.
        self._window: collections.deque[_dt.datetime] = collections.deque()
        self.requests: list[RecordedRequest] = []
        """Every request received, oldest first (clear it when you like)."""
        self.callbacks: list[CallbackAttempt] = []
        """Every callback POST attempted, in the order of the status changes."""
        self._faults: list[ArmedFault] = []

    def __repr__(self) -> str:
        return (
            f"<Sandbox balance={self._state.balance} messages={len(self._state.messages)} "
            f"pending_callbacks={len(self._state.outbox)}>"
        )

    # -- pace --------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every API answer takes (assignable; 0: at once)."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        given: object = value
        if (
            isinstance(given, bool)
            or not isinstance(given, int | float)
            or not math.isfinite(given)
            or given < 0
        ):
            raise ValidationError("latency", f"must be a number of seconds >= 0, got {value!r}")
        self._latency = float(value)

    @property
    def rate_limit(self) -> int | None:
        """API requests allowed in any one second (assignable; ``None``: no limit)."""
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: int | None) -> None:
        if value is not None:
            check_int("rate_limit", value, 1)
        self._rate_limit = value

    def _over_the_limit(self, now: _dt.datetime) -> _app.Reply | None:
        """A 429 when this request would be one too many in the last second."""
        window = self._window
        while window and window[0] <= now - _ONE_SECOND:
            window.popleft()
        limit = self._rate_limit
        if limit is not None and len(window) >= limit:
            # Whole seconds, as Retry-After is written: until the oldest one leaves.
            free_in = (window[0] + _ONE_SECOND - now).total_seconds()
            retry_after = max(1, math.ceil(free_in))
            return _app.error_reply(429, _app.ERR_RATE_LIMIT, (("retry-after", str(retry_after)),))
        window.append(now)
        return None

    # -- the account -----------------------------------------------------------------

    @property
    def token(self) -> str:
        """The Bearer token the sandbox accepts."""
        return self._state.token

    @property
    def balance(self) -> Decimal:
        """The balance in so'm; assign to top up or to drain the account."""
        return self._state.balance

    @balance.setter
    def balance(self, value: Decimal | int) -> None:
        self._state.balance = _check_money("balance", value)

    @property
    def sms_price(self) -> Decimal:
        """The price of one SMS part to an Uzbek number, in so'm (assignable)."""
        return self._state.sms_price

    @sms_price.setter
    def sms_price(self, value: Decimal | int) -> None:
        self._state.sms_price = _check_money("sms_price", value)

    @property
    def live(self) -> LiveRules:
        """How the sandbox answers like the live service (money shape, refusal status,
        moderation, test sender); change its attributes at any time."""
        return self._state.live

    def approve_template(self, template: str) -> None:
        """Approve a free-text template (turns moderation on if it was off)."""
        given: object = template  # callers may pass anything at run time
        if not isinstance(given, str) or not given.strip():
            raise ValidationError("template", "must be a non-empty string")
        if self._state.live.templates is None:
            self._state.live.templates = []
        self._state.live.templates.append(template)

    def register_number(self, phone: str) -> None:
        """Let the test sender ``4546`` deliver to ``phone`` (turns the rule on)."""
        from .._validation import normalize_phone

        number = normalize_phone(phone, phone_check="possible")
        if self._state.live.registered_numbers is None:
            self._state.live.registered_numbers = set()
        self._state.live.registered_numbers.add(number)

    @property
    def clock(self) -> Clock:
        """The clock that timestamps everything (a ``ManualClock`` if you gave one)."""
        return self._state.clock

    @property
    def blocked_service_names(self) -> set[str]:
        """The moderation list; a mutable set, change it freely."""
        return self._state.blocked_service_names

    # -- messages ----------------------------------------------------------------------

    @property
    def messages(self) -> list[SandboxMessage]:
        """Every stored message, oldest first (snapshots: re-read after a change)."""
        return list(self._state.messages.values())

    def get_message(
        self, sms_id: int | None = None, *, request_id: str | None = None
    ) -> SandboxMessage:
        """One stored message by ``sms_id`` or ``request_id``."""
        try:
            return self._state.find(sms_id=sms_id, request_id=request_id)
        except KeyError:
            which = f"sms_id={sms_id}" if sms_id is not None else f"request_id={request_id!r}"
            raise ValidationError("sms_id", f"the sandbox has no SMS with {which}") from None

    def last_otp(self, phone: str) -> str:
        """The code of the newest universal OTP delivered to ``phone`` (for tests of
        verification flows). ``ValidationError`` when none was (a moderation refusal
        delivers nothing)."""
        from .._validation import normalize_phone

        number = normalize_phone(phone, phone_check="possible")
        for message in reversed(self._state.messages.values()):
            if message.phone == number and message.type is SmsType.UNIVERSAL_OTP:
                if message.blocked:
                    continue
                # Every universal OTP template ends with the code.
                found = _OTP_AT_END.search(message.text)
                if found is not None:
                    return found.group(1)
        raise ValidationError("phone", f"the sandbox delivered no OTP code to {mask_phone(number)}")

    @property
    def pending_callbacks(self) -> int:
        """Status changes whose callback has not been POSTed yet."""
        return len(self._state.outbox)

    async def advance(self, steps: int = 1, *, sms_id: int | None = None) -> list[SandboxMessage]:
        """Move every unfinished message (or just ``sms_id``) ``steps`` steps along
        ``pending -> sent -> delivered`` and POST the callbacks, queued ones first.

        Numbers ending in ``0000`` end ``failed`` instead of ``delivered``. Returns the
        messages that changed, as they are now.
        """
        check_int("steps", steps, 1)
        if sms_id is not None:
            self.get_message(sms_id)
        changed: dict[int, SandboxMessage] = {}
        for _ in range(steps):
            for message in self._state.step(sms_id):
                changed[message.sms_id] = message
            await self.deliver_callbacks()
        return list(changed.values())

    async def set_status(self, sms_id: int, status: SmsStatus | str) -> SandboxMessage:
        """Move one message forward to ``status`` (``pending`` -> ``sent`` -> ``delivered``
        or ``failed``; never back) and POST its callbacks."""
        self.get_message(sms_id)
        try:
            target = SmsStatus(status)
            message = self._state.transition(sms_id, target)
        except ValueError as exc:
            raise ValidationError("status", str(exc)) from None
        await self.deliver_callbacks()
        return message

    async def deliver_callbacks(self) -> list[CallbackAttempt]:
        """POST every queued callback once (5 s timeout, no retry) and record it in
        ``callbacks``; returns this batch's attempts."""
        jobs = self._state.take_outbox()
        attempts = await deliver(
            jobs,
            at=self._state.now(),
            timeout_s=self.callback_timeout,
            transport=self.callback_transport,
        )
        self.callbacks.extend(attempts)
        return attempts

    # -- faults ------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        error: str = _app.ERR_SERVER,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
        times: int = 1,
        after_processing: bool = False,
    ) -> None:
        """Answer the next ``times`` requests (to ``path``, e.g. ``"send_sms.php"``, or
        any) with ``status`` and ``{"success": false, "error": error}``, or a raw
        ``body`` (an HTML error page, a PHP notice...). ``headers`` are added (e.g.
        ``{"Retry-After": "3"}``).

        ``after_processing=True`` handles the request first (a send is stored and
        charged) and then replaces the answer: the "did it go out?" case.
        """
        check_int("status", status, 100, 599)
        extra = tuple((k.lower(), v) for k, v in (headers or {}).items())
        if body is None:
            reply = _app.error_reply(status, error, extra)
        else:
            raw = body.encode() if isinstance(body, str) else bytes(body)
            content_type = "text/html; charset=utf-8" if raw.lstrip()[:1] == b"<" else "text/plain"
            reply = _app.Reply(status, raw, (("content-type", content_type), *extra))
        self._add_fault(reply, path, times, after_processing)

    def disconnect_next(
        self, *, path: str | None = None, times: int = 1, after_processing: bool = False
    ) -> None:
        """Drop the connection instead of answering the next ``times`` requests.

        In-process this raises ``httpx.ConnectError`` (the request never arrived), or
        with ``after_processing=True`` ``httpx.RemoteProtocolError`` after the request
        was handled. Over HTTP the server closes the socket without a word.
        """
        self._add_fault(_app.Reply(0, disconnect=True), path, times, after_processing)

    def _add_fault(
        self, reply: _app.Reply, path: str | None, times: int, after_processing: bool
    ) -> None:
        check_int("times", times, 1)
        self._faults.extend([ArmedFault(reply, path, after_processing)] * times)

    def _take_fault(self, path: str) -> ArmedFault | None:
        for index, fault in enumerate(self._faults):
            if fault.matches(path):
                return self._faults.pop(index)
        return None

    # -- wiring ------------------------------------------------------------------------

    def transport(self) -> SandboxTransport:
        """An ``httpx`` transport that answers from this sandbox, in-process."""
        from ._inprocess import SandboxTransport

        return SandboxTransport(self)

    def client(self, **options: Any) -> AsyncDevSMS:
        """A not-yet-entered ``AsyncDevSMS`` wired to this sandbox in-process;
        ``options`` go to ``AsyncDevSMS`` (``sender=``, ``max_retries=``, ...)."""
        from .._client import DEFAULT_BASE_URL, AsyncDevSMS

        # In-process: a DEVSMS_BASE_URL meant for a real server must not change the paths.
        options.setdefault("base_url", DEFAULT_BASE_URL)
        return AsyncDevSMS(self.token, transport=self.transport(), **options)

    def sync_client(self, **options: Any) -> DevSMS:
        """A not-yet-entered sync ``DevSMS`` wired to this sandbox in-process."""
        from .._sync_client import DevSMS

        return DevSMS(self.token, transport=self.transport(), **options)

    def _handle(self, request: HttpRequest) -> _app.Reply:
        """Answer one HTTP request: ``handler(sandbox)`` (see the module's docstring)."""
        method, body = request.method, request.body
        path, _, raw_query = request.target.partition("?")
        path = urllib.parse.unquote(path)
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        lower = {name.lower(): value for name, value in request.headers}
        received_at = self._state.clock()  # not now(): that drops the microseconds
        fault = self._take_fault(path)
        limited = None
        if path in _app.ROUTES and (fault is None or fault.after_processing):
            limited = self._over_the_limit(received_at)
        if fault is not None and not fault.after_processing:
            reply = attrs.evolve(fault.reply, processed=False)
        elif limited is not None:
            reply = attrs.evolve(limited, processed=False)
        else:
            reply = _app.handle(self._state, method.upper(), path, query, lower, body)
            if fault is not None:
                reply = fault.reply
        self.requests.append(
            RecordedRequest(
                method=method.upper(),
                path=path,
                query=query,
                headers=lower,
                body=body,
                status=None if reply.disconnect else reply.status,
                received_at=received_at,
            )
        )
        return reply


# -- the package-internal API (see the module's docstring) -------------------------------


def handler(sandbox: Sandbox) -> Handler:
    """The sandbox as a function: an ``HttpRequest`` in, a ``Reply`` out."""
    return sandbox._handle


def step(sandbox: Sandbox) -> list[SandboxMessage]:
    """Every unfinished message one step; returns those that moved, callbacks queued."""
    return sandbox._state.step()


def move(sandbox: Sandbox, sms_id: int, status: SmsStatus) -> SandboxMessage:
    """One message forward to ``status`` (``KeyError``: no such message; ``ValueError``:
    not forward), callbacks queued."""
    return sandbox._state.transition(sms_id, status)


def armed_faults(sandbox: Sandbox) -> tuple[ArmedFault, ...]:
    """The faults not used yet, in the order they strike."""
    return tuple(sandbox._faults)


def disarm(sandbox: Sandbox) -> None:
    """Drop every armed fault."""
    sandbox._faults.clear()


def forget_messages(sandbox: Sandbox) -> int:
    """Drop every message and its queued callbacks; returns how many messages went."""
    state = sandbox._state
    count = len(state.messages)
    state.messages.clear()
    state.by_request_id.clear()
    state.outbox.clear()
    return count


def _one_of(value: object, choices: Iterable[str]) -> bool:
    return isinstance(value, str) and value in choices


def _strings(field: str, value: object) -> list[str] | None:
    """A collection of strings as a list (``None`` stays ``None``); a bare string, a
    non-collection or a non-string item is a ``ValidationError``."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(field, "must be a collection of strings")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValidationError(field, "must be a collection of strings")
    return items


def _check_money(field: str, value: object) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite() and value >= 0:
        return value
    raise ValidationError(field, f"must be a Decimal or an int >= 0 (so'm), got {value!r}")
