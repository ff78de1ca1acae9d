"""Input rules, checked before any request is sent.

Every failure is a :class:`~devsms_async.errors.ValidationError` naming the field. The
user's data is never changed silently: the only rewrite is phone formatting (spaces,
hyphens, dots, brackets and a leading ``+``), which changes no digit.

Phone numbers are checked here rather than with ``phonenumbers``: the design card keeps
the core's runtime dependencies to httpx/attrs/cattrs/anyio, and the API asks only for
digit rules (E.164 length, 12 digits for Uzbekistan), not real numbering-plan checks.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from .errors import ValidationError
from .models import OtpTemplate, SmsStatus, SmsType

UZ_PREFIX = "998"
_FORMATTING = re.compile(r"[\s\-().]+")
_SERVICE_NAME = re.compile(r"[^\W_]|[ .\-]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def normalize_phone(phone: object, field: str = "phone") -> str:
    """Return the digits of ``phone``, or raise ``ValidationError``.

    Accepts ``+998 90 123-45-67``, ``(998) 90.123.45.67`` and friends. The number must
    be international (country code first, no ``0``/``00`` trunk prefix), 7-15 digits,
    and exactly 12 digits when it is Uzbek (``998``).
    """
    if not isinstance(phone, str):
        raise ValidationError(field, f"must be a string, not {type(phone).__name__}")
    stripped = _FORMATTING.sub("", phone)
    if stripped.startswith("+"):
        stripped = stripped[1:]
    if not stripped:
        raise ValidationError(field, "is empty")
    if not (stripped.isascii() and stripped.isdigit()):
        raise ValidationError(
            field, "may contain only digits, spaces, hyphens, dots, brackets and a leading '+'"
        )
    if stripped.startswith("0"):
        raise ValidationError(
            field,
            "must be in international format starting with the country code "
            "(e.g. 998901234567), without a leading 0 or 00",
        )
    if not 7 <= len(stripped) <= 15:
        raise ValidationError(field, f"must have 7-15 digits, got {len(stripped)}")
    if stripped.startswith(UZ_PREFIX) and len(stripped) != 12:
        raise ValidationError(
            field, f"an Uzbek number (998...) must have exactly 12 digits, got {len(stripped)}"
        )
    return stripped


def check_utf8(field: str, value: str) -> str:
    """``value`` itself, or ``ValidationError`` when UTF-8 cannot carry it.

    Lone surrogates (``"\\ud800"``) are the only such characters; they come from badly
    decoded input (``surrogateescape``, a cut UTF-16 pair). The error names the
    position only: the text may be secret (an OTP), and it is raised outside the
    ``except`` so no ``UnicodeEncodeError`` holding the text hangs on ``__context__``.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        position = exc.start
    else:
        return value
    raise ValidationError(
        field,
        f"has a character UTF-8 cannot carry at position {position} (a lone surrogate, "
        "from badly decoded input); decode the input correctly",
    )


_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


def check_token(token: str) -> str:
    """The token, or ``ValidationError`` when an HTTP header cannot carry it.

    ``Authorization: Bearer <token>`` takes visible ASCII only (RFC 9110 field values;
    RFC 6750 is stricter, but PHP tokens such as Sanctum's ``1|abc`` use ``|``). A
    zero-width space, a non-breaking space, ``ö`` or ``\\r\\n`` pasted with the token
    would otherwise fail inside httpx or aiohttp with the token in the error text. The
    error names the position and the kind of character, never the token.
    """
    if _TOKEN_CHARS.fullmatch(token):
        return token
    position, char = next((i, ch) for i, ch in enumerate(token) if not _TOKEN_CHARS.match(ch))
    if char.isspace() or not char.isprintable() or char.isascii():
        kind = f"U+{ord(char):04X}, an invisible, space or control character"
    else:
        kind = "a non-ASCII character"
    raise ValidationError(
        "token",
        f"has a character an HTTP header cannot carry at position {position} ({kind}); "
        "copy the token again",
    )


def check_message(message: object) -> str:
    if not isinstance(message, str):
        raise ValidationError("message", f"must be a string, not {type(message).__name__}")
    if not message.strip():
        raise ValidationError("message", "is empty")
    return check_utf8("message", message)


def check_sender(sender: object) -> str | None:
    if sender is None:
        return None
    if not isinstance(sender, str) or not sender.strip():
        raise ValidationError("sender", "must be a non-empty string or None")
    return check_utf8("sender", sender)


def check_callback_url(url: object) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str):
        raise ValidationError("callback_url", f"must be a string, not {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ValidationError("callback_url", f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("callback_url", "must start with http:// or https://")
    if not host:
        raise ValidationError("callback_url", "must name a host")
    if any(ch.isspace() for ch in url):
        raise ValidationError("callback_url", "must not contain whitespace")
    return check_utf8("callback_url", url)


def check_sms_type(value: object, phone: str) -> SmsType:
    try:
        sms_type = SmsType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in SmsType)
        raise ValidationError("type", f"must be one of {allowed}, got {value!r}") from None
    if sms_type is SmsType.UNIVERSAL_OTP:
        raise ValidationError("type", "use send_otp() for universal_otp messages")
    if sms_type is SmsType.SIMPLE and not phone.startswith(UZ_PREFIX):
        raise ValidationError("type", "'simple' SMS can be sent to Uzbek (998) numbers only")
    return sms_type


def check_template(value: object) -> OtpTemplate:
    # Only ints: the enum lookup would take 1.0 for 1, and a Decimal('sNaN') would
    # raise decimal.InvalidOperation from inside it.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("template", "must be an OtpTemplate or an int 1-4")
    try:
        return OtpTemplate(value)
    except ValueError:
        raise ValidationError("template", f"must be 1-4 (an OtpTemplate), got {value!r}") from None


def check_service_name(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("service_name", f"must be a string, not {type(value).__name__}")
    if not 2 <= len(value) <= 50:
        raise ValidationError("service_name", f"must be 2-50 characters, got {len(value)}")
    check_utf8("service_name", value)
    bad = sorted({ch for ch in value if not _SERVICE_NAME.fullmatch(ch)})
    if bad:
        raise ValidationError(
            "service_name",
            f"may contain only letters, digits, space, dot and hyphen; found {''.join(bad)!r}",
        )
    return value


def check_otp_code(value: object) -> str:
    # The code itself never goes into the error text.
    if not isinstance(value, str):
        raise ValidationError("otp_code", f"must be a string, not {type(value).__name__}")
    if not _ASCII_DIGITS.fullmatch(value) or not 4 <= len(value) <= 8:
        raise ValidationError("otp_code", "must be 4-8 ASCII digits")
    return value


def check_history_query(limit: object, offset: object, status: object) -> dict[str, Any]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise ValidationError("limit", f"must be an int from 1 to 200, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset", f"must be an int >= 0, got {offset!r}")
    query: dict[str, Any] = {"limit": limit, "offset": offset}
    if status is not None:
        allowed = (SmsStatus.SENT, SmsStatus.DELIVERED, SmsStatus.FAILED)
        try:
            st = SmsStatus(status)
        except ValueError:
            st = None
        if st not in allowed:
            raise ValidationError(
                "status", f"must be one of sent, delivered, failed or None, got {status!r}"
            )
        assert st is not None
        query["status"] = st.value
    return query


def check_status_query(sms_id: object, request_id: object) -> dict[str, Any]:
    if (sms_id is None) == (request_id is None):
        raise ValidationError("sms_id", "give exactly one of sms_id or request_id")
    if sms_id is not None:
        if isinstance(sms_id, bool) or not isinstance(sms_id, int) or sms_id < 1:
            raise ValidationError("sms_id", f"must be a positive int, got {sms_id!r}")
        return {"sms_id": sms_id}
    if not isinstance(request_id, str) or not request_id.strip():
        raise ValidationError("request_id", "must be a non-empty string")
    return {"request_id": check_utf8("request_id", request_id)}
