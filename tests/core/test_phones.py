"""Phone numbers as people type them: one rule (``normalize_phone``) for sends, OTPs,
estimates, bulk, the CLI and the sandbox. The table is the one in docs/live-service.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import respx

from devsms_async import AsyncDevSMS, ValidationError
from devsms_async._validation import normalize_phone
from devsms_async.pricing import estimate_bulk, estimate_cost
from devsms_async.testing import Sandbox
from support import TOKEN

BASE = "https://devsms.uz/api"

ACCEPTED = [
    ("+998 90 123-45-67", "998901234567"),
    ("998901234567", "998901234567"),
    ("(90) 123-45-67", "998901234567"),
    ("90 123 45 67", "998901234567"),
    ("901234567", "998901234567"),
    ("+998 (90) 123.45.67", "998901234567"),
    ("99 123 45 67", "998991234567"),  # operator code 99
    ("+1 202 555 1234", "12025551234"),
    ("12025551234", "12025551234"),  # the API's own digits-first form
    ("+7 916 123 45 67", "79161234567"),
    ("447911123456", "447911123456"),
    ("+39 06 1234 5678", "390612345678"),  # Italy keeps its leading 0
    ("8 90 123 45 67", "998901234567"),  # the old trunk prefix, as CRM exports write it
    ("0 90 123 45 67", "998901234567"),  # the trunk prefix 0
    ("8 (90) 123-45-67", "998901234567"),
    ("0901234567", "998901234567"),
    ("8 88 123 45 67", "998881234567"),  # operator 88 after the trunk 8
]

REFUSED = [
    ("+901234567", "for TR (+90); a 9-digit Uzbek number"),  # 9 digits with +: not Turkey
    ("12345678", "an Uzbek number has 9 digits after 998; this has 8"),
    ("90 123 45", "an Uzbek number has 9 digits after 998; this has 7"),
    ("90 123 45 6", "an Uzbek number has 9 digits after 998; this has 8"),
    ("0 90 123 45", "an Uzbek number has 9 digits after the leading 0; this has 7"),
    ("0 90 123 45 678", "after the leading 0; this has 10"),
    ("+4412345", "for GB (+44)"),
    ("123456789012345", "too long"),
    ("8 90 123 45 678", "known country code (write it as +<country code>...); an Uzbek number"),
    ("8 22 212 34 56", "ambiguous: an Uzbek number after the trunk prefix 8, or a number of KR"),
    ("+44 07911 123456", "international format"),
    ("00 998 90 123 45 67", "no leading 0 or 00"),
    ("99890123456", "exactly 12"),
    ("99890123", "an Uzbek number (998...) must have exactly 12 digits, got 8"),
    ("+998 90 123", "exactly 12"),
    ("12345", "an Uzbek number has 9 digits after 998; this has 5"),
    ("+12345", "7-15 digits"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_numbers_as_typed(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(("raw", "fragment"), REFUSED)
def test_impossible_numbers_are_refused_naming_the_problem(raw: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw)
    assert info.value.field == "phone"
    assert fragment in str(info.value)
    digits = "".join(ch for ch in raw if ch.isdigit())
    assert digits not in str(info.value)  # the number itself is never in the text


def test_the_default_region_can_be_changed_or_switched_off() -> None:
    with pytest.raises(ValidationError, match="TR"):
        normalize_phone("901234567", default_region=None)
    # The Uzbek trunk prefixes and short-number wording belong to the UZ region only.
    with pytest.raises(ValidationError, match="known country code"):
        normalize_phone("8 90 123 45 67", default_region=None)
    with pytest.raises(ValidationError, match="no leading 0"):
        normalize_phone("0 90 123 45 67", default_region=None)
    with pytest.raises(ValidationError, match="7-15 digits"):
        normalize_phone("12345", default_region=None)
    assert normalize_phone("998901234567", default_region=None) == "998901234567"
    # A Kazakh national number (trunk prefix 8) for a client in Kazakhstan.
    assert normalize_phone("8 701 123 45 67", default_region="KZ") == "77011234567"
    assert normalize_phone("77011234567", default_region="KZ") == "77011234567"


def test_client_default_region_is_checked() -> None:
    assert AsyncDevSMS(TOKEN).default_region == "UZ"
    assert AsyncDevSMS(TOKEN, default_region="kz").default_region == "KZ"
    assert AsyncDevSMS(TOKEN, default_region=None).default_region is None
    with pytest.raises(ValidationError, match="default_region"):
        AsyncDevSMS(TOKEN, default_region="Uzbekistan")


async def test_a_nine_digit_number_is_sent_to_uzbekistan_not_turkey() -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.post("/send_sms.php").respond(
            200,
            json={
                "success": True,
                "data": {"sms_id": 1, "request_id": "r", "status": "sent", "parts_count": 1,
                         "total_cost": "50.00", "balance": "950.00", "type": "eskiz"},
            },
        )  # fmt: skip
        async with AsyncDevSMS(TOKEN) as sms:
            await sms.send_sms("90 222 33 44", "Salom!")
            with pytest.raises(ValidationError, match="TR"):
                await sms.send_sms("+902223344", "Salom!")
    assert json.loads(route.calls.last.request.content)["phone"] == "998902223344"
    assert route.call_count == 1  # the impossible number never left


async def test_estimate_bulk_and_sandbox_use_the_same_rule() -> None:
    assert estimate_cost("90 222 33 44", "Salom").country.iso == "UZ"
    est = estimate_bulk([("901234567", "a"), ("+901234567", "b")])
    assert list(est.by_country) == ["UZ"]
    assert [e.index for e in est.errors] == [1]
    sandbox = Sandbox()
    async with sandbox.client() as sms:
        sent = await sms.send_sms("(90) 123-45-67", "Salom")
        results = await sms.send_bulk([("90 123 45 68", "Salom"), ("12345678", "Salom")])
    assert sandbox.get_message(sent.sms_id).phone == "998901234567"
    assert [r.outcome.value for r in results] == ["sent", "failed"]
    assert [m.phone for m in sandbox.messages] == ["998901234567", "998901234568"]


async def test_the_sandbox_refuses_what_the_rule_refuses() -> None:
    sandbox = Sandbox()
    async with sandbox.client(max_retries=0) as sms:
        http: Any = sms._client()  # raw requests: the SDK would refuse these first
        for phone in ("901234567", "12345678", "99890123456"):
            answer = await http.post(
                "https://devsms.uz/api/send_sms.php", json={"phone": phone, "message": "Hi"}
            )
            assert answer.status_code == 400
            assert "Telefon raqam" in answer.json()["error"]
    assert sandbox.messages == []


def test_an_uzbek_send_does_not_import_phonenumbers() -> None:
    code = (
        "import sys\n"
        "from devsms_async._validation import normalize_phone\n"
        "assert normalize_phone('998901234567') == '998901234567'\n"
        "assert normalize_phone('+998 90 123-45-67') == '998901234567'\n"
        "assert normalize_phone('90 123 45 67') == '998901234567'\n"
        "assert 'phonenumbers' not in sys.modules\n"
        "normalize_phone('12025551234')\n"
        "assert 'phonenumbers' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_region_rules_refuse_what_they_cannot_read() -> None:
    from devsms_async._validation import check_region

    with pytest.raises(ValidationError, match="default_region"):
        check_region(5)
    assert check_region(None) is None
    # Not a Kazakh national number, but a valid international one: taken as that.
    assert normalize_phone("12025551234", default_region="KZ") == "12025551234"
    with pytest.raises(ValidationError, match="7-15 digits"):
        normalize_phone("77", default_region="KZ")
    with pytest.raises(ValidationError, match="too short"):
        normalize_phone("79991234", default_region="KZ")  # neither reading is a number
