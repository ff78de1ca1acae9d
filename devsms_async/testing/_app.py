"""The DevSMS API over the sandbox state: one implementation for both modes.

``handle()`` takes a parsed HTTP request and returns a ``Reply``; it never does I/O.
The sandbox wraps it in its ``Handler`` (an ``HttpRequest`` in, a ``Reply`` out: see
``_sandbox.handler``), and ``SandboxTransport`` (in-process) and the HTTP server
(``_server``) are thin adapters around that, so both modes answer byte for byte alike.

Like the PHP service, scalar fields are forgiving: a JSON number is accepted where a
string is expected and a numeric string where an integer is. Anything else that the
spec rules out is refused with the service's JSON error and an Uzbek message
(the ``ERR_*`` constants; ``docs/testing.md`` lists them).
"""

from __future__ import annotations

import hmac
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..models import SmsStatus, SmsType
from ._state import ServiceState

__all__ = ["ROUTES", "Handler", "HttpRequest", "Reply", "error_reply", "handle", "json_reply"]

MSG_SENT = "SMS muvaffaqiyatli yuborildi"

ERR_TOKEN_MISSING = "Token topilmadi"  # noqa: S105 - an error text
ERR_TOKEN_INVALID = "Token noto'g'ri"  # noqa: S105 - an error text
ERR_ENDPOINT = "Endpoint topilmadi"
ERR_METHOD = "Faqat {method} so'rov qabul qilinadi"
ERR_JSON = "Noto'g'ri JSON format"
ERR_PHONE_MISSING = "Telefon raqam kiritilmagan"
ERR_PHONE = "Telefon raqam noto'g'ri formatda (faqat raqamlar: 998901234567)"
ERR_MESSAGE_MISSING = "SMS matni kiritilmagan"
ERR_TYPE = "Noto'g'ri SMS turi (eskiz, simple yoki universal_otp)"
ERR_SIMPLE_ABROAD = "Simple SMS faqat O'zbekiston raqamlariga yuboriladi"
ERR_COUNTRY = "Bu davlatga SMS yuborib bo'lmaydi"
ERR_SENDER = "from noto'g'ri"
ERR_CALLBACK_URL = "callback_url http:// yoki https:// bilan boshlanishi kerak"
ERR_TEMPLATE = "template_type 1, 2, 3 yoki 4 bo'lishi kerak"
ERR_SERVICE_NAME = (
    "service_name 2-50 belgi bo'lishi kerak (faqat harflar, raqamlar, bo'shliq, nuqta, tire)"
)
ERR_OTP_CODE = "otp_code 4-8 ta raqamdan iborat bo'lishi kerak"
ERR_BALANCE = "Balans yetarli emas"
ERR_BLOCKED = (
    "Korxona nomi nomaqbul deb topildi: {service_name}. SMS yuborilmadi, lekin to'lov yechildi."
)
"""The documentation prints ``...`` where the rejected service name goes."""
ERR_MODERATION = "Текст SMS не прошёл модерацию: отправлять можно только по одобренному шаблону"
"""Free text refused by the operator's moderation (Russian, as Eskiz words it)."""
ERR_TEST_SENDER = "invalid sender"
"""The shared test sender 4546 to a number not registered on the account."""
ERR_LIMIT = "limit musbat butun son bo'lishi kerak (max: 200)"
ERR_OFFSET = "offset 0 yoki undan katta butun son bo'lishi kerak"
ERR_STATUS_FILTER = "Noto'g'ri status (pending, sent, delivered, failed)"
ERR_STATUS_QUERY = "sms_id yoki request_id kiritilmagan"
ERR_SMS_ID = "sms_id musbat butun son bo'lishi kerak"
ERR_NOT_FOUND = "SMS topilmadi"
ERR_SERVER = "Server xatosi"
ERR_BAD_HTTP = "Noto'g'ri so'rov"
ERR_TOO_LARGE = "So'rov hajmi juda katta"
ERR_RATE_LIMIT = "So'rovlar juda ko'p, keyinroq urinib ko'ring"
"""``Sandbox(rate_limit=N)``: more than N API requests in one second (HTTP 429)."""

DEFAULT_SENDER = "4546"
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200

_PHONE = re.compile(r"[1-9][0-9]{6,14}")
_OTP_CODE = re.compile(r"[0-9]{4,8}")
_SERVICE_NAME_CHAR = re.compile(r"[^\W_]|[ .\-]")
_JSON_HEADERS = (("content-type", "application/json; charset=utf-8"),)


@attrs.frozen
class Reply:
    """An HTTP answer: status, headers (without framing headers) and body.

    ``disconnect`` means: answer nothing and drop the connection; ``processed`` says
    whether the service handled the request before that (a fault may strike first).
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = _JSON_HEADERS
    disconnect: bool = False
    processed: bool = True


@attrs.frozen
class HttpRequest:
    """One HTTP request as a ``Handler`` takes it: ``target`` is the path with its query
    string (percent-encoded, as on the wire); header names in any case."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


Handler = Callable[[HttpRequest], Reply]
"""The sandbox as a function, as httpx's ``MockTransport`` takes one: a request in, an
answer out, no I/O."""


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    # PHP's json_encode escapes non-ASCII by default; the SDK reads either form.
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(status, body, _JSON_HEADERS + headers)


def error_reply(status: int, error: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return json_reply(status, {"success": False, "error": error}, headers)


class RefusedError(Exception):
    """Raised inside an endpoint to answer ``{"success": false, "error": ...}``."""

    def __init__(self, status: int, error: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.headers = headers


Endpoint = Callable[[ServiceState, Mapping[str, str], bytes], Reply]


def handle(
    state: ServiceState,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
) -> Reply:
    """Answer one request. ``headers`` have lower-case names; ``query`` holds the last
    value of each parameter (as PHP's ``$_GET`` does)."""
    route = ROUTES.get(path)
    if route is None:
        return error_reply(404, ERR_ENDPOINT)
    allowed, handler = route
    try:
        _authenticate(state, headers.get("authorization"))
        _check_method(method, allowed)
        return handler(state, query, body)
    except RefusedError as refusal:
        status = state.live.refusal_status or refusal.status
        return error_reply(status, refusal.error, refusal.headers)


def _check_method(method: str, allowed: str) -> None:
    if method != allowed:
        raise RefusedError(405, ERR_METHOD.format(method=allowed), (("allow", allowed),))


def _authenticate(state: ServiceState, header: str | None) -> None:
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RefusedError(401, ERR_TOKEN_MISSING)
    if not hmac.compare_digest(token.strip().encode(), state.token.encode()):
        raise RefusedError(401, ERR_TOKEN_INVALID)


# -- send_sms.php ----------------------------------------------------------------------


def _send_sms(state: ServiceState, query: Mapping[str, str], body: bytes) -> Reply:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise RefusedError(400, ERR_JSON)

    phone = _text(data.get("phone"), ERR_PHONE)
    if not phone:
        raise RefusedError(400, ERR_PHONE_MISSING)
    if not _PHONE.fullmatch(phone) or not _valid_number(phone):
        raise RefusedError(400, ERR_PHONE)
    try:
        sms_type = SmsType(_text(data.get("type"), ERR_TYPE) or SmsType.ESKIZ.value)
    except ValueError:
        raise RefusedError(400, ERR_TYPE) from None
    callback_url = _text(data.get("callback_url"), ERR_CALLBACK_URL) or None
    if callback_url is not None:
        _check_callback_url(callback_url)

    blocked = False
    if sms_type is SmsType.UNIVERSAL_OTP:
        text, blocked = _render_otp(state, data)
        sender = DEFAULT_SENDER
    else:
        text = _text(data.get("message"), ERR_MESSAGE_MISSING)
        if not text.strip():
            raise RefusedError(400, ERR_MESSAGE_MISSING)
        sender = _text(data.get("from"), ERR_SENDER) or DEFAULT_SENDER
        if not _approved(text, state.live.templates):
            raise RefusedError(400, ERR_MODERATION)
        registered = state.live.registered_numbers
        if sender == DEFAULT_SENDER and registered is not None and phone not in registered:
            raise RefusedError(400, ERR_TEST_SENDER)
    if sms_type is SmsType.SIMPLE and not phone.startswith("998"):
        raise RefusedError(400, ERR_SIMPLE_ABROAD)

    from ..errors import ValidationError
    from ..pricing import lookup_country
    from ..sms_parts import count_parts

    try:
        country = lookup_country(phone, uz_price=state.sms_price, phone_check="possible")
    except ValidationError:
        raise RefusedError(400, ERR_COUNTRY) from None
    parts = count_parts(text).parts
    cost = parts * country.price(state.account)
    if cost > state.balance:
        raise RefusedError(400, ERR_BALANCE)

    message = state.store(
        phone=phone,
        text=text,
        sender=sender,
        sms_type=sms_type,
        parts_count=parts,
        total_cost=cost,
        country=country.name,
        country_code=country.iso.lower(),
        callback_url=callback_url,
        blocked=blocked,
    )
    if blocked:
        raise RefusedError(400, ERR_BLOCKED.format(service_name=data.get("service_name")))
    money = state.live.money_out()
    result: dict[str, Any] = {
        "sms_id": message.sms_id,
        "request_id": message.request_id,
        "status": message.status.value,
        "parts_count": message.parts_count,
        "total_cost": money(message.total_cost),
        "balance": money(state.balance),
        "type": message.type.value,
    }
    if message.is_international:
        result["country"] = message.country
        result["country_code"] = message.country_code
    return json_reply(200, {"success": True, "message": MSG_SENT, "data": result})


def _render_otp(state: ServiceState, data: Mapping[str, Any]) -> tuple[str, bool]:
    """The template text, and whether moderation blocks the service name."""
    from .._otp import OTP_TEMPLATES, render_otp

    template = _integer(data.get("template_type"))
    if template not in OTP_TEMPLATES:
        raise RefusedError(400, ERR_TEMPLATE)
    name = _text(data.get("service_name"), ERR_SERVICE_NAME)
    if not 2 <= len(name) <= 50 or not all(_SERVICE_NAME_CHAR.fullmatch(ch) for ch in name):
        raise RefusedError(400, ERR_SERVICE_NAME)
    code = _text(data.get("otp_code"), ERR_OTP_CODE)
    if not _OTP_CODE.fullmatch(code):
        raise RefusedError(400, ERR_OTP_CODE)
    return render_otp(template, name, code), is_blocked(name, state.blocked_service_names)


def _valid_number(phone: str) -> bool:
    """The SDK's own phone rule (one function for both): digits, country code first, at
    its loosest (``phone_check="possible"``): the service does not know which ranges
    ``phonenumbers`` knows, so a client with ``phone_check="possible"`` can send."""
    from .._validation import normalize_phone
    from ..errors import ValidationError

    try:
        return normalize_phone(phone, default_region=None, phone_check="possible") == phone
    except ValidationError:
        return False


def _approved(text: str, templates: list[str] | None) -> bool:
    """Moderation: ``True`` when there is none, or ``text`` fits an approved template
    (``{}``/``{name}`` is a placeholder for any non-empty text)."""
    if templates is None:
        return True
    return any(template_pattern(t).fullmatch(text) for t in templates)


def template_pattern(template: str) -> re.Pattern[str]:
    """The regular expression a text must match to fit ``template``."""
    pieces = re.split(r"\{[A-Za-z0-9_]*\}", template)
    return re.compile("(?s:.+?)".join(re.escape(piece) for piece in pieces))


def is_blocked(service_name: str, blocked: set[str]) -> bool:
    """Moderation: blocked when a listed name occurs as whole words, ignoring case."""
    return any(
        re.search(rf"(?<!\w){re.escape(entry)}(?!\w)", service_name, re.IGNORECASE)
        for entry in blocked
        if entry.strip()
    )


def _check_callback_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise RefusedError(400, ERR_CALLBACK_URL) from None
    if parts.scheme not in ("http", "https") or not host or any(ch.isspace() for ch in url):
        raise RefusedError(400, ERR_CALLBACK_URL)


# -- get_history.php, get_balance.php, get_status.php --------------------------------


def _get_history(state: ServiceState, query: Mapping[str, str], body: bytes) -> Reply:
    limit = _integer(query.get("limit", str(HISTORY_DEFAULT_LIMIT)))
    if limit is None or limit < 1:
        raise RefusedError(400, ERR_LIMIT)
    limit = min(limit, HISTORY_MAX_LIMIT)  # the spec's "max: 200": larger asks get 200
    offset = _integer(query.get("offset", "0"))
    if offset is None or offset < 0:
        raise RefusedError(400, ERR_OFFSET)
    status_filter = query.get("status") or None
    if status_filter is not None:
        try:
            wanted: SmsStatus | None = SmsStatus(status_filter)
        except ValueError:
            wanted = None
        if wanted is None or wanted is SmsStatus.UNKNOWN:
            raise RefusedError(400, ERR_STATUS_FILTER)
    ordered = sorted(
        state.messages.values(),
        key=lambda m: m.sms_id,
        reverse=state.history_order == "newest_first",
    )
    if status_filter is not None:
        ordered = [m for m in ordered if m.status.value == status_filter]
    money = state.live.money_out()
    page = [m.to_api(money=money) for m in ordered[offset : offset + limit]]
    # "count" is the size of this page: the spec leaves it open, and its example fits.
    data = {"history": page, "count": len(page), "limit": limit, "offset": offset}
    return json_reply(200, {"success": True, "data": data})


def _get_balance(state: ServiceState, query: Mapping[str, str], body: bytes) -> Reply:
    money = state.live.money_out()
    stats = {
        key: money(value) if key.endswith("_spent") else value
        for key, value in state.statistics().items()
    }
    data = {
        "balance": money(state.balance),
        "sms_price": money(state.sms_price),
        "statistics": stats,
    }
    return json_reply(200, {"success": True, "data": data})


def _get_status(state: ServiceState, query: Mapping[str, str], body: bytes) -> Reply:
    # sms_id wins when both are given, like PHP's `if (isset($_GET['sms_id'])) ... elseif`.
    raw_id = query.get("sms_id")
    request_id = query.get("request_id")
    try:
        if raw_id:
            sms_id = _integer(raw_id)
            if sms_id is None or sms_id < 1:
                raise RefusedError(400, ERR_SMS_ID)
            message = state.find(sms_id=sms_id)
        elif request_id:
            message = state.find(request_id=request_id)
        else:
            raise RefusedError(400, ERR_STATUS_QUERY)
    except KeyError:
        raise RefusedError(404, ERR_NOT_FOUND) from None
    record = message.to_api(with_updated_at=True, money=state.live.money_out())
    return json_reply(200, {"success": True, "data": record})


ROUTES: dict[str, tuple[str, Endpoint]] = {
    "/api/send_sms.php": ("POST", _send_sms),
    "/api/get_history.php": ("GET", _get_history),
    "/api/get_balance.php": ("GET", _get_balance),
    "/api/get_status.php": ("GET", _get_status),
}


# -- PHP-like scalars --------------------------------------------------------------------


def _text(value: Any, error: str) -> str:
    """A string field; ``""`` when absent. Numbers become their digits, like PHP."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RefusedError(400, error)


def _integer(value: Any) -> int | None:
    """An integer field (a number or a numeric string), or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
            return int(text)
    return None
