"""Input rules, checked before any request is sent.

Every failure is a ``ValidationError`` naming the field. The
user's data is never changed silently: the only rewrites are phone formatting (spaces,
hyphens, dots, brackets and a leading ``+``), which changes no digit, the country
code ``998`` put before a 9-digit Uzbek number (``901234567`` -> ``998901234567``), and
the Uzbek trunk prefix ``0``/``8`` it replaces (``8 90 123 45 67`` -> ``998901234567``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict

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

PhoneCheck: TypeAlias = Literal["valid", "possible"]
"""How far ``normalize_phone`` checks a non-Uzbek number: ``"valid"`` (a range the
numbering plan assigns) or ``"possible"`` (a possible length for its country)."""


def normalize_phone(
    phone: str,
    field: str = "phone",
    *,
    default_region: str | None = DEFAULT_REGION,
    phone_check: PhoneCheck = "valid",
) -> str:
    """The number as the API wants it (country code first, digits only), or raise
    ``ValidationError`` naming the problem (never the number itself).

    This is the rule every send, estimate, bulk job, the CLI and the sandbox use
    (``field`` names the value in the error: ``"phone"``, or a column of yours):

    * Formatting goes: ``+998 90 123-45-67``, ``(998) 90.123.45.67`` -> ``998901234567``.
    * ``998`` numbers need exactly 12 digits; they are not looked up any further, so a
      send to Uzbekistan costs no ``phonenumbers`` import and no parsing.
    * Without ``+``, numbers are national in ``default_region``. For Uzbekistan (the
      default): 9 digits (``90 123 45 67``), or 9 digits after the trunk prefix ``0`` or
      the old ``8`` (``8 90 123 45 67``, as CRM exports write them), are
      ``998901234567``; fewer digits are refused as a short Uzbek number. ``None``
      accepts international numbers only.
    * Any other number (``+1 202 555 1234``, or digits-first as the API writes it,
      ``12025551234``) is checked with ``phonenumbers``: with ``phone_check="valid"``
      (the default) it must be in a range the numbering plan assigns; with
      ``"possible"`` a length possible for its country is enough (for ranges newer
      than ``phonenumbers``' data; a mistyped number is then sent and charged).
      Either way a number is never sent to whichever country its first digits
      happen to name when it was meant for another.

    ```python
    from devsms_async import normalize_phone

    assert normalize_phone("8 90 123 45 67") == "998901234567"
    assert normalize_phone("+1 202 555 1234") == "12025551234"
    ```
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
    check = check_phone_check(phone_check)
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
    uzbek = not international and default_region == DEFAULT_REGION
    if uzbek:
        national = _uzbek_national(stripped, field)
        if national is not None:
            return UZ_PREFIX + national
    if stripped.startswith("0"):
        raise ValidationError(
            field,
            "must start with the country code (e.g. 998901234567) or be a 9-digit Uzbek "
            "number (901234567); no leading 0 or 00 (international format)",
        )
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
        found = _national(stripped, default_region, check)
        if found is not None:
            return found
    hint = _UZ_HINT if uzbek else ""
    return _check_international(stripped, field, check, hint)


_UZ_HINT = "; an Uzbek number has 9 digits after 998, or after a trunk prefix 0 or 8"


def _uzbek_national(digits: str, field: str) -> str | None:
    """The 9 national digits of an Uzbek number written without ``+`` and ``998``, or
    ``None`` when ``digits`` is no such number (it may be international, ``998...``).

    ``phonenumbers`` cannot do this: its data for UZ has no trunk prefix (the old ``8``
    was retired, and ``0`` came with the 2023 plan), so ``8 90 123 45 67`` would parse
    as a 10-digit national number and be invalid.
    """
    count = len(digits)
    if count == _UZ_NATIONAL_DIGITS and digits[0] != "0":
        return digits
    if count == _UZ_NATIONAL_DIGITS + 1 and digits[0] == "0" and digits[1] != "0":
        return digits[1:]
    if count == _UZ_NATIONAL_DIGITS + 1 and digits[0] == "8" and digits[1] != "0":
        # "8" is also the first digit of country codes (China 86, Korea 82...): refuse
        # the rare number that reads as a valid number there too, rather than guess.
        region = _valid_elsewhere(digits)
        if region is not None:
            raise ValidationError(
                field,
                f"is ambiguous: an Uzbek number after the trunk prefix 8, or a number of "
                f"{region}; write it with '+' and its country code",
            )
        return digits[1:]
    if digits[0] == "0" and count > 1 and digits[1] != "0":  # no country code starts with 0
        reason = f"an Uzbek number has 9 digits after the leading 0; this has {count - 1}"
    elif count < _UZ_NATIONAL_DIGITS and digits[0] != "0" and not digits.startswith(UZ_PREFIX):
        reason = f"an Uzbek number has 9 digits after 998; this has {count}"
    else:
        return None
    raise ValidationError(field, f"{reason} (write other countries' numbers with '+')")


def _valid_elsewhere(digits: str) -> str | None:
    """``"CN (+86)"`` when ``digits`` (country code first) is a valid number, else ``None``."""
    import phonenumbers

    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or _e164_digits(number) != digits:
        return None
    region = phonenumbers.region_code_for_number(number)
    return f"{region} (+{number.country_code})"


def check_phone_check(value: object) -> PhoneCheck:
    """A ``phone_check``: ``"valid"`` or ``"possible"``."""
    if value == "valid" and isinstance(value, str):
        return "valid"
    if value == "possible" and isinstance(value, str):
        return "possible"
    raise ValidationError("phone_check", f"must be 'valid' or 'possible', got {value!r}")


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


def _passes(number: phonenumbers.PhoneNumber, check: PhoneCheck) -> bool:
    import phonenumbers

    if check == "possible":
        # A length a mobile or fixed-line number of the country may have: not merely
        # any possible length, which includes short service numbers (Turkey's 7-digit
        # 444 lines would take a mistyped 9-digit "+90..." Uzbek number). Local-only
        # lengths lack an area code and cannot be sent.
        return any(
            phonenumbers.is_possible_number_for_type_with_reason(number, kind)
            == phonenumbers.ValidationResult.IS_POSSIBLE
            for kind in (
                phonenumbers.PhoneNumberType.MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE,
            )
        )
    return phonenumbers.is_valid_number(number)


def _national(digits: str, region: str, check: PhoneCheck) -> str | None:
    """``digits`` as a national number of ``region``, if it passes ``check``."""
    import phonenumbers

    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    return _e164_digits(number) if _passes(number, check) else None


def _check_international(digits: str, field: str, check: PhoneCheck, hint: str) -> str:
    """``digits`` (country code first) if ``phonenumbers`` finds a number there that
    passes ``check``; ``hint`` ends the error text."""
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
            field,
            "does not start with a known country code (write it as +<country code>...)" + hint,
        )
    region = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(country_code)
    where = f"{region} (+{country_code})"
    if not _passes(number, check):
        reasons = {
            phonenumbers.ValidationResult.TOO_SHORT: "is too short",
            phonenumbers.ValidationResult.TOO_LONG: "is too long",
            phonenumbers.ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
            phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
                "is too short (a local number without its area code)"
            ),
        }
        result = phonenumbers.is_possible_number_with_reason(number)
        if check == "possible" and result == phonenumbers.ValidationResult.IS_POSSIBLE:
            mobile = phonenumbers.PhoneNumberType.MOBILE
            result = phonenumbers.is_possible_number_for_type_with_reason(number, mobile)
        problem = reasons.get(result, "is not a valid number (no such number range)")
        if len(digits) == _UZ_NATIONAL_DIGITS:
            hint = "; a 9-digit Uzbek number is written without '+' (or as +998 and the 9 digits)"
        raise ValidationError(field, f"{problem} for {where}{hint}")
    if _e164_digits(number) != digits:
        # phonenumbers read a trunk prefix written after the country code: send only
        # digits we were given, so refuse rather than drop one.
        raise ValidationError(field, f"is not in international format for {where}")
    return digits


class NoMoreOptions(TypedDict):
    """No keys: ``**unknown: Unpack[NoMoreOptions]`` makes a type checker refuse every
    keyword argument that is not declared (mypy: "Unexpected keyword argument 'sendr';
    did you mean 'sender'?"), while the function still receives them at run time, to
    raise a ``ValidationError`` naming its class (``reject_unknown_options``)."""


def named_options(function: Callable[..., object]) -> dict[str, Any]:
    """The named keyword parameters of ``function`` (not ``self``) and their defaults."""
    import inspect

    return {
        p.name: p.default
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }


def reject_unknown_options(
    owner: str, unknown: Mapping[str, object], signature_of: Callable[..., object]
) -> None:
    """``ValidationError`` naming ``owner`` (a class) for keyword arguments it does not
    take, with the closest real option: ``sendr`` -> "did you mean 'sender'?"."""
    if not unknown:
        return
    import difflib

    known = list(named_options(signature_of))
    name = sorted(unknown)[0]
    close = difflib.get_close_matches(name, known, n=1)
    suggestion = f"; did you mean {close[0]!r}?" if close else f"; options: {', '.join(known)}"
    raise ValidationError(name, f"is not an option of {owner}{suggestion}")


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


def check_int(field: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` when it is an ``int`` (not a ``bool``) from ``low`` to ``high`` (no upper
    bound: ``None``), else a ``ValidationError`` for ``field`` that says so."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValidationError(field, f"must be an int {bounds}, got {value!r}")
    return value
