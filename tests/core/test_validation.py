"""Every input rule: a ValidationError naming the field, and no request sent."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from devsms_async import AsyncDevSMS, SmsType, ValidationError
from devsms_async._validation import normalize_phone
from support import TOKEN

BASE = "https://devsms.uz/api"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("998901234567", "998901234567"),
        ("+998 90 123-45-67", "998901234567"),
        ("(998) 90.123.45.67", "998901234567"),
        ("+1 202 555 1234", "12025551234"),
        ("7 916 123 45 67", "79161234567"),
    ],
)
def test_phone_normalisation_changes_no_digit(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+", "empty"),
        ("99890123456a", "only digits"),
        ("998 90 123 45 67 ext 1", "only digits"),
        ("٩٩٨٩٠١٢٣٤٥٦٧", "only digits"),  # Arabic-Indic digits are not ASCII
        ("0012345678", "international format"),
        ("00998901234567", "international format"),
        ("+123456", "7-15 digits"),
        # Right length, but no such number in the plan (tests/core/test_phones.py has more).
        ("+4412345", "is too short (a local number without its area code) for GB"),
        ("123456789012345", "too long"),
        ("1234567890123456", "7-15 digits"),
        ("99890123456", "exactly 12"),
        ("9989012345678", "exactly 12"),
        ("+998+901234567", "only digits"),
    ],
)
def test_bad_phones(raw: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw)
    assert info.value.field == "phone"
    assert fragment in str(info.value)


@pytest.mark.parametrize("raw", [998901234567, None, b"998901234567", ["998901234567"]])
def test_phone_must_be_a_string(raw: Any) -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        normalize_phone(raw)


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="phone"):
        normalize_phone("abc")


SEND_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"phone": "abc"}, "phone", "only digits"),
    ({"message": ""}, "message", "empty"),
    ({"message": " \n\t "}, "message", "empty"),
    ({"message": None}, "message", "must be a string"),
    ({"callback_url": "ftp://x.uz/cb"}, "callback_url", "http:// or https://"),
    ({"callback_url": "/relative/cb"}, "callback_url", "http:// or https://"),
    ({"callback_url": "https:///nohost"}, "callback_url", "host"),
    ({"callback_url": "https://x.uz/a b"}, "callback_url", "whitespace"),
    ({"callback_url": "http://[::1"}, "callback_url", "not a valid URL"),
    ({"callback_url": 5}, "callback_url", "must be a string"),
    ({"type": "flash"}, "type", "must be one of"),
    ({"type": "universal_otp"}, "type", "send_otp"),
    ({"type": "simple", "phone": "12025551234"}, "type", "Uzbek"),
    ({"sender": ""}, "sender", "non-empty"),
    ({"timeout": -1}, "timeout", "positive"),
    ({"timeout": "5"}, "timeout", "positive"),
]


async def refused_before_any_request(
    method: str, path: str, call: str, kwargs: dict[str, Any]
) -> ValidationError:
    """`sms.<call>(**kwargs)` raises ValidationError and no request reaches `path`."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        route = getattr(router, method)(path)
        async with AsyncDevSMS(TOKEN) as sms:
            with pytest.raises(ValidationError) as info:
                await getattr(sms, call)(**kwargs)
        assert route.call_count == 0
    return info.value


@pytest.mark.parametrize(("override", "field", "fragment"), SEND_CASES)
async def test_send_sms_rejects_before_any_request(
    override: dict[str, Any], field: str, fragment: str
) -> None:
    kwargs: dict[str, Any] = {"phone": "998901234567", "message": "Salom!", **override}
    error = await refused_before_any_request("post", "/send_sms.php", "send_sms", kwargs)
    assert error.field == field
    assert fragment in str(error)


OTP_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"template": 0}, "template", "1-4"),
    ({"template": 5}, "template", "1-4"),
    ({"template": True}, "template", "OtpTemplate"),
    ({"template": "1"}, "template", "1-4"),
    ({"service_name": "X"}, "service_name", "2-50"),
    ({"service_name": "X" * 51}, "service_name", "2-50"),
    ({"service_name": "Tech_Shop"}, "service_name", "'_'"),
    ({"service_name": "Tech!Shop"}, "service_name", "'!'"),
    ({"service_name": 42}, "service_name", "must be a string"),
    ({"otp_code": "123"}, "otp_code", "4-8"),
    ({"otp_code": "123456789"}, "otp_code", "4-8"),
    ({"otp_code": "12a4"}, "otp_code", "4-8"),
    ({"otp_code": "١٢٣٤"}, "otp_code", "ASCII"),
    ({"otp_code": 1234}, "otp_code", "must be a string"),
    ({"phone": "+998 90"}, "phone", "exactly 12"),
    ({"callback_url": "mailto:a@b.uz"}, "callback_url", "http"),
]


@pytest.mark.parametrize(("override", "field", "fragment"), OTP_CASES)
async def test_send_otp_rejects_before_any_request(
    override: dict[str, Any], field: str, fragment: str
) -> None:
    kwargs: dict[str, Any] = {
        "phone": "998901234567",
        "template": 1,
        "service_name": "TechShop",
        "otp_code": "5678",
        **override,
    }
    error = await refused_before_any_request("post", "/send_sms.php", "send_otp", kwargs)
    assert error.field == field
    assert fragment in str(error)


def test_otp_code_is_not_echoed_in_the_error() -> None:
    from devsms_async._validation import check_otp_code

    with pytest.raises(ValidationError) as info:
        check_otp_code("98765432101")
    assert "98765432101" not in str(info.value)


@pytest.mark.parametrize(
    "service_name", ["TechShop", "Tech Shop", "Tech-Shop.uz", "Oʻzbekiston", "Магазин 24", "AB"]
)
def test_service_names_letters_digits_space_dot_hyphen(service_name: str) -> None:
    from devsms_async._validation import check_service_name

    assert check_service_name(service_name) == service_name


HISTORY_CASES: list[tuple[dict[str, Any], str]] = [
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": True}, "limit"),
    ({"limit": 10.0}, "limit"),
    ({"offset": -1}, "offset"),
    ({"offset": "0"}, "offset"),
    ({"status": "pending"}, "status"),
    ({"status": "unknown"}, "status"),
    ({"status": "DELIVERED!"}, "status"),
]


@pytest.mark.parametrize(("kwargs", "field"), HISTORY_CASES)
async def test_history_rejects_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    error = await refused_before_any_request("get", "/get_history.php", "get_history", kwargs)
    assert error.field == field


STATUS_CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "sms_id"),
    ({"sms_id": 1, "request_id": "x"}, "sms_id"),
    ({"sms_id": 0}, "sms_id"),
    ({"sms_id": "123"}, "sms_id"),
    ({"sms_id": True}, "sms_id"),
    ({"request_id": ""}, "request_id"),
    ({"request_id": 5}, "request_id"),
]


@pytest.mark.parametrize(("kwargs", "field"), STATUS_CASES)
async def test_status_rejects_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    error = await refused_before_any_request("get", "/get_status.php", "get_status", kwargs)
    assert error.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token": ""}, "token"),
        ({"token": "   "}, "token"),
        ({"base_url": "devsms.uz/api"}, "base_url"),
        ({"base_url": "http://devsms.uz/api"}, "base_url"),
        ({"sender": ""}, "sender"),
        ({"callback_url": "nope"}, "callback_url"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"http_backend": "curl"}, "http_backend"),
    ],
)
def test_constructor_rejects_bad_options(kwargs: dict[str, Any], field: str) -> None:
    kwargs.setdefault("token", TOKEN)
    with pytest.raises(ValidationError) as info:
        AsyncDevSMS(**kwargs)
    assert info.value.field == field


def test_missing_token_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVSMS_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="DEVSMS_TOKEN"):
        AsyncDevSMS()


def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_TOKEN", "env-token-xyz")
    client = AsyncDevSMS()
    assert client._token.value == "env-token-xyz"


def test_sms_type_accepts_enum_and_plain_string() -> None:
    from devsms_async._validation import check_sms_type

    assert check_sms_type("simple", "998901234567") is SmsType.SIMPLE
    assert check_sms_type(SmsType.ESKIZ, "12025551234") is SmsType.ESKIZ


# -- text UTF-8 cannot carry ------------------------------------------------------------

LONE = "\ud800"  # a lone surrogate


@pytest.mark.parametrize("option", ["sender", "callback_url"])
def test_client_defaults_utf8_cannot_carry_are_refused(option: str) -> None:
    value = {"sender": "Shop", "callback_url": "https://x.uz/cb"}[option] + LONE
    with pytest.raises(ValidationError) as info:
        AsyncDevSMS(TOKEN, **{option: value})
    assert info.value.field == option
