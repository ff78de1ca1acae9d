"""The sandbox's web inbox: a page at ``/`` and a small JSON API under ``/inbox/api/``.

Like MailHog or Mailpit for e-mail: ``devsms sandbox serve`` shows every SMS the
sandbox received, newest first, with what a phone would show and what the tester needs
to know (encoding and parts, cost, status timeline, delivery reports and what the
receiver answered), and a few actions (deliver, fail, advance, balance, clear, faults).

``Inbox`` answers one HTTP request at a time (``handle``) and never touches a
socket; the sandbox's HTTP server routes ``/``, ``/favicon.ico`` and ``/inbox/...`` to
it, so the page's own requests never reach the fake API (they are not recorded and do
not use up an armed fault). The page is static files shipped in the package
(``testing/static``): no CDN, no build step.

The JSON API (every answer ``application/json``):

=======  ==================================  ===========================================
method   path                                what
=======  ==================================  ===========================================
GET      ``/inbox/api/state``                everything the page shows; filters
                                             ``number`` (or ``q``), ``status``, ``type``
                                             (comma-separated for several), ``limit``
                                             (200 newest), ``after=V`` and ``wait=S``
                                             wait up to S s (25) for a state newer than
                                             version V (long polling)
POST     ``/inbox/api/messages/ID/deliver``  ``delivered`` now (through ``sent``)
POST     ``/inbox/api/messages/ID/fail``     ``failed`` now
POST     ``/inbox/api/advance``              every unfinished message one step
POST     ``/inbox/api/balance``              ``{"balance": 5000}``
POST     ``/inbox/api/clear``                forget messages, requests and callbacks
POST     ``/inbox/api/faults``               arm a fault for the next request(s)
DELETE   ``/inbox/api/faults``               disarm every fault
=======  ==================================  ===========================================

Security: it answers only requests addressed to a loopback host or one the user allowed
(``Host:`` header, the same check as the fake API's, so a DNS-rebinding page cannot
read it); a POST or DELETE needs the ``X-DevSMS-Inbox``
header, which a cross-site form cannot send; numbers are masked unless
``show_numbers``; the token and the recorded request headers are never served.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import anyio

from .._redact import mask_phone
from .._transport import is_loopback
from .._validation import normalize_phone
from ..errors import ValidationError
from ..models import SmsStatus, SmsType
from . import _app
from ._callbacks import CallbackAttempt
from ._hosts import AllowedHosts
from ._sandbox import Sandbox, armed_faults, disarm, forget_messages, move, step
from ._state import SandboxMessage, format_time

__all__ = ["API_PREFIX", "INBOX_HEADER", "Inbox"]

API_PREFIX = "/inbox/api/"
STATIC_PREFIX = "/inbox/static/"
INBOX_HEADER = "x-devsms-inbox"
"""Header every changing request must carry (any value): a CSRF guard."""
DEFAULT_LIMIT = 200
MAX_WAIT = 25.0
"""Longest long poll, in seconds; the page asks again at once."""
RECHECK = 0.5
"""While a long poll waits, how often it looks for changes nobody announced (a test
changing the sandbox in-process, say)."""

_STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "inbox.css": "text/css; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_SECURITY_HEADERS = (
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
)
_STATUSES = ("pending", "sent", "delivered", "failed")
_TYPES = tuple(t.value for t in SmsType)
MARK_AT_MOST = 2
"""Characters forcing UCS-2 are always marked when there are this few (and they are
fewer than half the text)..."""
MARK_SHARE = 0.10
"""...or when they are at most this share of the text's characters. More than that is
a UCS-2 text (Cyrillic, say), not a GSM-7 text with a stray character: nothing is
marked then, or every letter would be."""
UCS2_RULE = (
    "Characters that force UCS-2 are marked only in a mostly GSM-7 text: when there are "
    f"at most {MARK_AT_MOST} of them, or at most {MARK_SHARE:.0%} of the text's characters "
    "(and always fewer than half). More than that is a UCS-2 text (Cyrillic, say): "
    "marking it would mark every letter."
)
"""The rule, as the page's tooltip says it."""
NBSP = "\u00a0"
_UZBEK_APOSTROPHES = frozenset("\u02bb\u2018\u2019\u02bc`")
_FAULT_PATHS = frozenset(path.rsplit("/", 1)[-1] for path in _app.ROUTES)
_N = TypeVar("_N", int, float)
_MESSAGE_ACTION = re.compile(r"messages/([0-9]{1,18})/(deliver|fail)")


class _RefusedError(Exception):
    def __init__(self, status: int, error: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(error)
        self.status = status
        self.error = error
        self.headers = headers


class Inbox:
    """The web inbox over one ``Sandbox``.

    ``wake`` is called after an action queued delivery reports (the HTTP server passes
    the function that wakes its callback dispatcher, so reports keep their order);
    without it the action POSTs them itself before it answers.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        show_numbers: bool = False,
        advance_every: float | None = None,
        wake: Callable[[], object] | None = None,
        hosts: AllowedHosts | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.hosts = hosts if hosts is not None else AllowedHosts()
        """The ``Host`` check (the server passes its own; alone: loopback, any port)."""
        self.show_numbers = show_numbers
        self.advance_every = advance_every
        self._wake = wake
        self._version = 0
        self._generation = 0  # bumped by clear(): the same counts may mean new data
        self._fingerprint: tuple[Any, ...] | None = None
        self._changed: anyio.Event | None = None
        self._parts_cache: dict[tuple[int, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<Inbox version={self._version} show_numbers={self.show_numbers}>"

    # -- routing -----------------------------------------------------------------------

    @staticmethod
    def owns(path: str) -> bool:
        """Whether a request path is the inbox's (and not the fake API's)."""
        return path in ("/", "/favicon.ico", "/inbox") or path.startswith("/inbox/")

    async def handle(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> _app.Reply:
        """Answer one request for the page or its API (``target``: path and query)."""
        raw_path, _, raw_query = target.partition("?")
        path = urllib.parse.unquote(raw_path)
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        headers = list(headers)
        lower = {name.lower(): value for name, value in headers}
        method = method.upper()
        try:
            self._check_host(headers)
            if path.startswith(API_PREFIX):
                return await self._api(method, path[len(API_PREFIX) :], query, lower, body)
            return self._static(method, path)
        except _RefusedError as refusal:
            return _json(refusal.status, {"error": refusal.error}, refusal.headers)

    def _check_host(self, headers: list[tuple[str, str]]) -> None:
        hosts = [value for name, value in headers if name.lower() == "host"]
        host = hosts[0] if len(hosts) == 1 else None  # several: refused, like none
        if not self.hosts.allows(host):
            raise _RefusedError(403, self.hosts.refusal(host))

    def _static(self, method: str, path: str) -> _app.Reply:
        _allow(method, "GET", "HEAD")
        if path in ("/", "/inbox", "/inbox/"):
            name = "index.html"
        elif path.startswith(STATIC_PREFIX):
            name = path[len(STATIC_PREFIX) :]
        else:
            name = ""  # /favicon.ico: the page links its own icon
        content_type = _STATIC_TYPES.get(name)
        if content_type is None:
            raise _RefusedError(404, "no such file")
        data = (
            importlib.resources.files("devsms_async.testing")
            .joinpath("static")
            .joinpath(name)
            .read_bytes()
        )
        return _app.Reply(200, data, (("content-type", content_type), *_SECURITY_HEADERS))

    async def _api(
        self,
        method: str,
        route: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _app.Reply:
        if route == "state":
            _allow(method, "GET")
            return await self._state(query)
        if method in ("POST", "DELETE"):
            _check_same_origin(headers)
        if route == "advance":
            _allow(method, "POST")
            moved = step(self.sandbox)
            await self._after_action()
            return _json(200, {"moved": [m.sms_id for m in moved]})
        if route == "balance":
            _allow(method, "POST")
            value = _field(_body(body), "balance")
            try:
                self.sandbox.balance = value
            except ValidationError as exc:
                raise _RefusedError(400, str(exc)) from None
            await self._after_action()
            return _json(200, {"balance": _money(self.sandbox.balance)})
        if route == "clear":
            _allow(method, "POST")
            cleared = self.clear()
            await self._after_action()
            return _json(200, {"cleared": cleared})
        if route == "faults":
            _allow(method, "POST", "DELETE")
            if method == "DELETE":
                disarm(self.sandbox)
            else:
                self._arm(_body(body))
            await self._after_action()
            return _json(200, {"faults": self._faults()})
        action = _MESSAGE_ACTION.fullmatch(route)
        if action is not None:
            _allow(method, "POST")
            status = SmsStatus.DELIVERED if action.group(2) == "deliver" else SmsStatus.FAILED
            message = self._finish(int(action.group(1)), status)
            await self._after_action()
            return _json(200, {"message": self._message_view(message)})
        raise _RefusedError(404, f"no such inbox API: {route!r}")

    # -- reading -----------------------------------------------------------------------

    async def _state(self, query: Mapping[str, str]) -> _app.Reply:
        limit = _number_param(query, "limit", DEFAULT_LIMIT, int, "a whole number", 1)
        after = _number_param(query, "after", -1, int, "a whole number", -1)
        wait = _number_param(query, "wait", 0.0, float, "a number of seconds", 0)
        statuses = _choices(query, "status", _STATUSES)
        types = _choices(query, "type", _TYPES)
        number = query.get("number") or query.get("q", "")
        await self.wait_for_change(after, min(wait, MAX_WAIT))
        return _json(200, self.snapshot(number, limit=limit, statuses=statuses, types=types))

    async def wait_for_change(self, after: int, seconds: float) -> int:
        """Wait until the state's version is not ``after`` (or ``seconds`` passed);
        return the version."""
        with anyio.move_on_after(seconds):
            while True:
                version = self.version()
                if version != after:
                    return version
                if self._changed is None:
                    self._changed = anyio.Event()
                with anyio.move_on_after(RECHECK):
                    await self._changed.wait()
        return self.version()

    def notify(self) -> None:
        """Something changed: wake the long polls (they compare and answer)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def version(self) -> int:
        """A number that changes whenever what the page shows changes."""
        box = self.sandbox
        fingerprint = (
            self._generation,
            box.balance,
            box.sms_price,
            len(box.requests),
            len(box.callbacks),
            box.pending_callbacks,
            len(armed_faults(box)),
            tuple((m.sms_id, m.status) for m in box.messages),
        )
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self._version += 1
        return self._version

    def snapshot(
        self,
        q: str = "",
        *,
        limit: int = DEFAULT_LIMIT,
        statuses: Iterable[str] = (),
        types: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data (what ``GET state`` answers):
        the newest ``limit`` messages to a number matching ``q`` with one of
        ``statuses`` and one of ``types`` (empty: any)."""
        box = self.sandbox
        statuses, types = frozenset(statuses), frozenset(types)
        newest_first = sorted(box.messages, key=lambda m: -m.sms_id)
        number = self._number_matcher(q)
        matching = [
            m
            for m in newest_first
            if (not statuses or m.status.value in statuses)
            and (not types or m.type.value in types)
            and number(m.phone)
        ]
        shown = matching[:limit]
        by_sms: dict[int, list[CallbackAttempt]] = {}
        for attempt in box.callbacks:
            by_sms.setdefault(attempt.sms_id, []).append(attempt)
        return {
            "version": self.version(),
            "show_numbers": self.show_numbers,
            "balance": _money(box.balance),
            "balance_text": money_text(box.balance),
            "sms_price": _money(box.sms_price),
            "sms_price_text": money_text(box.sms_price),
            "advance_every": self.advance_every,
            "pending_callbacks": box.pending_callbacks,
            "requests": len(box.requests),
            "faults": self._faults(),
            "total": len(newest_first),
            "matched": len(matching),
            "shown": len(shown),
            "limit": limit,
            "query": q,
            "filters": {"number": q, "status": sorted(statuses), "type": sorted(types)},
            "ucs2_rule": UCS2_RULE,
            "messages": [self._message_view(m, by_sms.get(m.sms_id, ())) for m in shown],
        }

    def _number_matcher(self, q: str) -> Callable[[str], bool]:
        """Whether a stored number matches the search ``q``: the number as a send would
        normalise it (``+998 90 123-45-67``, ``90 123 45 67``), or a run of its digits."""
        if not q.strip():
            return lambda phone: True
        digits = re.sub(r"[^0-9]", "", q)
        if not digits:
            return lambda phone: False
        try:
            whole: str | None = normalize_phone(q)
        except ValidationError:
            whole = None
        if self.show_numbers:
            return lambda phone: phone == whole or digits in phone

        def masked(phone: str) -> bool:
            # Masked: the whole number, or a piece of what the page shows (99890***4567).
            # A substring of the hidden middle would let the search reveal it digit by
            # digit; a whole number reveals nothing the searcher did not know.
            if phone in (whole, digits):
                return True
            return any(digits in piece for piece in mask_phone(phone).split("***"))

        return masked

    def _phone(self, phone: str) -> str:
        return phone if self.show_numbers else mask_phone(phone)

    def _message_view(
        self, message: SandboxMessage, callbacks: Iterable[CallbackAttempt] | None = None
    ) -> dict[str, Any]:
        if callbacks is None:
            callbacks = [a for a in self.sandbox.callbacks if a.sms_id == message.sms_id]
        url = message.callback_url
        return {
            "sms_id": message.sms_id,
            "request_id": message.request_id,
            "phone": self._phone(message.phone),
            "sender": message.sender,
            "type": message.type.value,
            "status": message.status.value,
            "final": message.status.is_final,
            "blocked": message.blocked,
            "text": message.text,
            **self._parts_view(message.sms_id, message.text),
            "cost": _money(message.total_cost),
            "cost_text": money_text(message.total_cost),
            "country": message.country,
            "country_code": message.country_code,
            "otp": _otp(message),
            "timeline": [
                {"event": event, "at": format_time(at)}
                for event, at in (
                    ("created", message.created_at),
                    ("sent", message.sent_at),
                    ("delivered", message.delivered_at),
                    ("failed", message.failed_at),
                )
                if at is not None
            ],
            "callback_url": _hide_query(url) if url else None,
            "callbacks": [self._callback_view(a) for a in callbacks],
        }

    def _parts_view(self, sms_id: int, text: str) -> dict[str, Any]:
        key = (sms_id, text)
        view = self._parts_cache.get(key)
        if view is None:
            view = _parts_view(text)
            self._parts_cache[key] = view
        return view

    def _callback_view(self, attempt: CallbackAttempt) -> dict[str, Any]:
        error = attempt.error
        if error:
            # An error text may repeat the URL, whose query often holds a secret.
            error = error.replace(attempt.url, _hide_query(attempt.url))
        return {
            "status": attempt.status.value,
            "outcome": attempt.outcome.value,
            "status_code": attempt.status_code,
            "elapsed_ms": None if attempt.elapsed is None else round(attempt.elapsed * 1000, 1),
            "error": error,
            "at": format_time(attempt.at),
        }

    def _faults(self) -> list[dict[str, Any]]:
        return [
            {
                "path": fault.path,
                "kind": "disconnect" if fault.reply.disconnect else "http",
                "status": None if fault.reply.disconnect else fault.reply.status,
                "after_processing": fault.after_processing,
            }
            for fault in armed_faults(self.sandbox)
        ]

    # -- actions -----------------------------------------------------------------------

    def clear(self) -> int:
        """Forget every message, recorded request and callback (the balance, the faults
        and the next ``sms_id`` stay); returns how many messages went."""
        box = self.sandbox
        count = forget_messages(box)
        box.requests.clear()
        box.callbacks.clear()
        self._parts_cache.clear()
        self._generation += 1
        return count

    def _finish(self, sms_id: int, status: SmsStatus) -> SandboxMessage:
        try:
            message = self.sandbox.get_message(sms_id)
        except ValidationError:
            raise _RefusedError(404, f"the sandbox has no SMS with sms_id={sms_id}") from None
        if message.status.is_final:
            raise _RefusedError(409, f"SMS {sms_id} is already {message.status.value}")
        return move(self.sandbox, sms_id, status)

    def _arm(self, data: Mapping[str, Any]) -> None:
        kind = data.get("kind", "http")
        path = data.get("path") or None
        if path is not None and path not in _FAULT_PATHS:
            raise _RefusedError(400, f"path must be one of {sorted(_FAULT_PATHS)} or null")
        after = data.get("after_processing", False)
        if not isinstance(after, bool):
            raise _RefusedError(400, "after_processing must be true or false")
        times = data.get("times", 1)
        try:
            if kind == "disconnect":
                self.sandbox.disconnect_next(path=path, times=times, after_processing=after)
            elif kind in ("http", "html"):
                status = data.get("status", 500)
                headers = {}
                retry_after = data.get("retry_after")
                if retry_after not in (None, ""):
                    headers["Retry-After"] = str(_int_value(retry_after, "retry_after"))
                error = data.get("error") or _app.ERR_SERVER
                if not isinstance(error, str):
                    raise _RefusedError(400, "error must be a string")
                body = _html_page(status) if kind == "html" else None
                self.sandbox.fail_next(
                    status,
                    error=error,
                    body=body,
                    headers=headers,
                    path=path,
                    times=times,
                    after_processing=after,
                )
            else:
                raise _RefusedError(400, "kind must be 'http', 'html' or 'disconnect'")
        except ValidationError as exc:
            raise _RefusedError(400, str(exc)) from None

    async def _after_action(self) -> None:
        if self._wake is not None:
            self._wake()
        else:
            await self.sandbox.deliver_callbacks()
        self.notify()


# -- views -------------------------------------------------------------------------------


def _parts_view(text: str) -> dict[str, Any]:
    """Encoding and parts of a text, cut into runs that say which characters forced
    UCS-2 (the page highlights those, when ``ucs2_marked``: see ``marks_culprits``)."""
    from ..sms_parts import count_parts, normalize_uzbek

    parts = count_parts(text)
    forcing = set(parts.ucs2_characters)
    count = sum(ch in forcing for ch in text)
    marked = marks_culprits(count, len(text))
    segments: list[list[list[Any]]] = []
    for segment in parts.segments:
        runs: list[list[Any]] = []
        for ch in segment:
            flag = marked and ch in forcing
            if runs and runs[-1][1] == flag:
                runs[-1][0] += ch
            else:
                runs.append([ch, flag])
        segments.append(runs)
    view: dict[str, Any] = {
        "encoding": parts.encoding,
        "parts": parts.parts,
        "units": parts.units,
        "per_part": parts.per_part,
        "segments": segments,
        "characters": len(text),
        "ucs2_count": count,
        "ucs2_marked": marked,
        "ucs2_characters": [
            {
                "char": ch,
                "code": f"U+{ord(ch):04X}",
                "apostrophe": ch in _UZBEK_APOSTROPHES,
            }
            for ch in parts.ucs2_characters
        ],
        "normalized": None,
    }
    if forcing & _UZBEK_APOSTROPHES:
        fixed = count_parts(normalize_uzbek(text))
        if (fixed.encoding, fixed.parts) != (parts.encoding, parts.parts):
            view["normalized"] = {"encoding": fixed.encoding, "parts": fixed.parts}
    return view


def marks_culprits(count: int, characters: int) -> bool:
    """Whether the page marks the ``count`` characters that force UCS-2 in a text of
    ``characters``: only in a mostly GSM-7 text, where they are the thing to fix (at
    most ``MARK_AT_MOST`` of them or ``MARK_SHARE`` of the text, and fewer than half)."""
    if count == 0 or 2 * count >= characters:
        return False
    return count <= MARK_AT_MOST or count <= MARK_SHARE * characters


def money_text(value: Decimal | int) -> str:
    """So'm as the page shows them everywhere: ``277 579 so'm``, ``12.50 so'm``.

    Exact, from the ``Decimal``: digits grouped by three with no-break spaces (an
    amount never wraps), and a fraction only when there is one (at least 2 digits,
    never rounded). The CLI writes the same, with ordinary spaces."""
    sign, digits, exponent = Decimal(value).as_tuple()
    text = "".join(map(str, digits))
    assert isinstance(exponent, int)  # money is finite: _check_money saw to it
    if exponent >= 0:
        whole, fraction = text + "0" * exponent, ""
    else:
        text = text.rjust(-exponent + 1, "0")
        whole, fraction = text[:exponent], text[exponent:].rstrip("0")
    whole = whole.lstrip("0") or "0"
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    shown = NBSP.join(groups) + ("." + fraction.ljust(2, "0") if fraction else "")
    return ("-" if sign and Decimal(value) else "") + shown + NBSP + "so'm"


def _money(value: Decimal | int) -> str:
    """Money in the JSON: the exact decimal as a string (a JSON number would be a float)."""
    return format(Decimal(value), "f")


@functools.cache
def _otp_patterns() -> tuple[tuple[int, re.Pattern[str]], ...]:
    from .._client import OTP_TEMPLATES

    patterns = []
    for number, template in OTP_TEMPLATES.items():
        pattern = (
            re.escape(template)
            .replace(re.escape("{service_name}"), "(?P<service>.+?)")
            .replace(re.escape("{otp_code}"), "(?P<code>[0-9]{4,8})")
        )
        patterns.append((number, re.compile(pattern, re.DOTALL)))
    return tuple(patterns)


def _otp(message: SandboxMessage) -> dict[str, Any] | None:
    """The code, template and service name of a universal OTP, read off its text."""
    if message.type is not SmsType.UNIVERSAL_OTP:
        return None
    for number, pattern in _otp_patterns():
        found = pattern.fullmatch(message.text)
        if found is not None:
            return {
                "code": found.group("code"),
                "template": number,
                "service_name": found.group("service"),
            }
    return None  # pragma: no cover - the sandbox renders every OTP from a template


def _hide_query(url: str) -> str:
    base, sep, _ = url.partition("?")
    return base + ("?…" if sep else "")


def _html_page(status: int) -> str:
    return (
        "<html><head><title>Error</title></head><body>"
        f"<h1>{status} Error</h1><p>nginx</p></body></html>"
    )


# -- request checks ----------------------------------------------------------------------


def _json(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _app.Reply:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return _app.Reply(
        status,
        body,
        (("content-type", "application/json; charset=utf-8"), *_SECURITY_HEADERS, *headers),
    )


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _RefusedError(405, f"use {' or '.join(allowed)}", (("allow", ", ".join(allowed)),))


def _check_same_origin(headers: Mapping[str, str]) -> None:
    if INBOX_HEADER not in headers:
        raise _RefusedError(403, f"a changing request needs the {INBOX_HEADER} header")
    origin = headers.get("origin")
    if origin is not None and origin != "null":
        host = urllib.parse.urlsplit(origin).hostname or ""
        if not is_loopback(host):
            raise _RefusedError(403, "cross-site requests are refused")


def _body(body: bytes) -> Mapping[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise _RefusedError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _RefusedError(400, "the body must be a JSON object")
    return data


def _field(data: Mapping[str, Any], name: str) -> int:
    if name not in data:
        raise _RefusedError(400, f"{name} is missing")
    return _int_value(data[name], name)


def _int_value(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _RefusedError(400, f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    raise _RefusedError(400, f"{name} must be a whole number")


def _choices(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> list[str]:
    """A filter: empty for any, else one value or several separated by commas."""
    raw = query.get(name, "")
    values = [value.strip() for value in raw.split(",") if value.strip()]
    for value in values:
        if value not in allowed:
            raise _RefusedError(
                400, f"{name} must be one of {', '.join(allowed)} (or several, comma-separated)"
            )
    return values


def _number_param(
    query: Mapping[str, str], name: str, default: _N, parse: Callable[[str], _N], what: str, low: _N
) -> _N:
    """A number in the query, ``default`` when absent: ``parse`` it, finite and at least
    ``low``; a refusal says ``{name} must be {what} >= {low}``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise _RefusedError(400, f"{name} must be {what}") from None
    if not low <= value < float("inf"):
        raise _RefusedError(400, f"{name} must be {what} >= {low}")
    return value
