"""Input rules, checked before any request is sent.

Every failure is a ``ValidationError`` naming the field. The
user's data is never changed silently: the only rewrites are phone formatting (spaces,
hyphens, dots, brackets and a leading ``+``), which changes no digit, and the country
code ``998`` put before a 9-digit Uzbek number (``901234567`` -> ``998901234567``).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .models import OtpTemplate, SmsStatus, SmsType

if TYPE_CHECKING:
    import phonenumbers

UZ_PREFIX = "998"
DEFAULT_REGION = "UZ"
_FORMATTING = re.compile(r"[\s\-().]+")
_SERVICE_NAME = re.compile(r"[^\W_]|[ .\-]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_UZ_NATIONAL_DIGITS = 9


def normalize_phone(
    phone: object, field: str = "phone", *, default_region: str | None = DEFAULT_REGION
) -> str:
    """The number as the API wants it (country code first, digits only), or raise
    ``ValidationError`` naming the problem (never the number itself).

    * Formatting goes: ``+998 90 123-45-67``, ``(998) 90.123.45.67`` -> ``998901234567``.
    * A 9-digit number without ``+`` is national in ``default_region`` (Uzbekistan:
      ``90 123 45 67`` -> ``998901234567``); ``None`` accepts international numbers only.
    * ``998`` numbers need exactly 12 digits; they are not looked up any further, so a
      send to Uzbekistan costs no ``phonenumbers`` import and no parsing.
    * Any other number (``+1 202 555 1234``, or digits-first as the API writes it,
      ``12025551234``) must be valid in the numbering plan (``phonenumbers``): an
      impossible one is refused here rather than sent to whichever country its first
      digits happen to name.
    """
    if (
        type(phone) is str
        and len(phone) == 12
        and phone.startswith(UZ_PREFIX)
        and phone.isdigit()
        and phone.isascii()
    ):
        return phone  # the fast path: the form the API itself uses
    if not isinstance(phone, str):
        raise ValidationError(field, f"must be a string, not {type(phone).__name__}")
    stripped = _FORMATTING.sub("", phone)
    international = stripped.startswith("+")
    if international:
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
            "must start with the country code (e.g. 998901234567) or be a 9-digit Uzbek "
            "number (901234567); no leading 0 or 00 (international format)",
        )
    if (
        not international
        and default_region == DEFAULT_REGION
        and len(stripped) == _UZ_NATIONAL_DIGITS
    ):
        return UZ_PREFIX + stripped
    if stripped.startswith(UZ_PREFIX):
        if len(stripped) != 12:
            raise ValidationError(
                field,
                f"an Uzbek number (998...) must have exactly 12 digits, got {len(stripped)}",
            )
        return stripped
    if not 7 <= len(stripped) <= 15:
        raise ValidationError(field, f"must have 7-15 digits, got {len(stripped)}")
    if not international and default_region not in (None, DEFAULT_REGION):
        national = _national(stripped, default_region)
        if national is not None:
            return national
    return _check_international(stripped, field)


def check_region(region: object) -> str | None:
    """A ``default_region``: ``None`` or an ISO 3166 code ``phonenumbers`` knows."""
    if region is None or region == DEFAULT_REGION:
        return region
    if not isinstance(region, str):
        raise ValidationError("default_region", f"must be a str or None, not {type(region)}")
    import phonenumbers

    code = region.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("default_region", f"{region!r} is not a known ISO 3166 region")
    return code


def _e164_digits(number: phonenumbers.PhoneNumber) -> str:
    import phonenumbers

    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def _national(digits: str, region: str) -> str | None:
    """``digits`` as a national number of ``region``, if it is a valid one."""
    import phonenumbers

    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    return _e164_digits(number) if phonenumbers.is_valid_number(number) else None


def _check_international(digits: str, field: str) -> str:
    """``digits`` (country code first) if ``phonenumbers`` finds a valid number there."""
    import phonenumbers

    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        number = None
    country_code = number.country_code if number is not None else None
    if (
        number is None
        or not country_code
        or not phonenumbers.region_codes_for_country_code(country_code)
    ):
        raise ValidationError(
            field, "does not start with a known country code (write it as +<country code>...)"
        )
    region = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(country_code)
    where = f"{region} (+{country_code})"
    if not phonenumbers.is_valid_number(number):
        reasons = {
            phonenumbers.ValidationResult.TOO_SHORT: "is too short",
            phonenumbers.ValidationResult.TOO_LONG: "is too long",
            phonenumbers.ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
        }
        problem = reasons.get(
            phonenumbers.is_possible_number_with_reason(number),
            "is not a valid number (no such number range)",
        )
        hint = ""
        if len(digits) == _UZ_NATIONAL_DIGITS:
            hint = "; a 9-digit Uzbek number is written without '+' (or as +998 and the 9 digits)"
        raise ValidationError(field, f"{problem} for {where}{hint}")
    if _e164_digits(number) != digits:
        # phonenumbers read a trunk prefix written after the country code: send only
        # digits we were given, so refuse rather than drop one.
        raise ValidationError(field, f"is not in international format for {where}")
    return digits


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
