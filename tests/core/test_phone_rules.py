"""Numbers as Uzbek CRMs write them, the public ``normalize_phone`` and its check level.

The phone table of docs/live-service.md is checked row by row and input by input here:
the docs and the rule cannot drift apart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import respx

from devsms_async import AsyncDevSMS, DevSMS, ValidationError, normalize_phone
from devsms_async.contrib.fastapi import DevSMSLifespan
from devsms_async.pricing import estimate_bulk, estimate_cost, lookup_country
from devsms_async.testing import Sandbox
from support import TOKEN

BASE = "https://devsms.uz/api"
PAGE = Path(__file__).parents[2] / "docs" / "live-service.md"
NEW_RANGE = "+1 202 123 4567"
"""A number of a possible length that no range of the plan holds (a US exchange cannot
start with 1): what a range newer than phonenumbers' data looks like to the SDK."""

SENT = {
    "success": True,
    "data": {"sms_id": 1, "request_id": "r", "status": "sent", "parts_count": 1,
             "total_cost": "50.00", "balance": "950.00", "type": "eskiz"},
}  # fmt: skip


def phone_table() -> list[tuple[list[str], str]]:
    """(inputs, result) for every row of the page's phone table; ``result`` is the
    digits sent or ``refused: "..."``."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## 4. Phone numbers as people type them", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


ROWS = phone_table()


def test_the_page_has_the_phone_table() -> None:
    assert len(ROWS) >= 14
    inputs = [raw for raw_inputs, _ in ROWS for raw in raw_inputs]
    assert "8 90 123 45 67" in inputs
    assert "0 90 123 45 67" in inputs
    assert "90 123 45" in inputs


@pytest.mark.parametrize(("inputs", "result"), ROWS, ids=[r[0][0] for r in ROWS])
def test_every_input_of_the_phone_table_gives_what_the_page_says(
    inputs: list[str], result: str
) -> None:
    for raw in inputs:
        if result.startswith("refused"):
            quoted = re.fullmatch(r'refused: "(.*)"', result)
            assert quoted is not None, result
            with pytest.raises(ValidationError) as info:
                normalize_phone(raw)
            # "..." with spaces around stands for words the page leaves out.
            for fragment in quoted.group(1).split(" ... "):
                assert fragment in info.value.reason, (raw, info.value.reason)
        else:
            assert normalize_phone(raw) == result.strip("`"), raw


@pytest.mark.parametrize(
    ("raw", "count"), [("90 123 45", 7), ("90 123 45 6", 8), ("9012345", 7), ("99 12 345", 7)]
)
def test_a_short_number_is_worded_as_a_short_uzbek_number(raw: str, count: int) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw)
    assert info.value.reason.startswith(f"an Uzbek number has 9 digits after 998; this has {count}")
    assert "TR" not in str(info.value)
    assert "Turkey" not in str(info.value)


def test_the_trunk_prefixes_are_uzbek_only_and_drop_no_other_digit() -> None:
    assert normalize_phone("8 90 123 45 67") == "998901234567"
    assert normalize_phone("0 (90) 123-45-67") == "998901234567"
    # "0" never starts a country code; "00" is the international prefix, not a trunk.
    with pytest.raises(ValidationError, match="no leading 0 or 00"):
        normalize_phone("00 90 123 45 67")
    # A trunk "8" before a 0 would give no Uzbek number: left to the international rule.
    with pytest.raises(ValidationError, match="known country code"):
        normalize_phone("8 09 123 45 67")
    for region in (None, "KZ"):
        with pytest.raises(ValidationError):
            normalize_phone("0 90 123 45 67", default_region=region)
    with pytest.raises(ValidationError):
        normalize_phone("+8 90 123 45 67")  # with '+' it is international: no such code


async def test_a_send_and_a_bulk_job_take_eight_prefixed_numbers() -> None:
    sandbox = Sandbox()
    async with sandbox.client() as sms:
        await sms.send_sms("8 90 123 45 67", "Salom")
        results = await sms.send_bulk([("0 90 123 45 68", "Salom"), ("8 (90) 123-45-69", "Salom")])
    assert [r.outcome.value for r in results] == ["sent", "sent"]
    assert [m.phone for m in sandbox.messages] == ["998901234567", "998901234568", "998901234569"]
    with sandbox.sync_client() as sync_sms:
        sync_sms.send_otp("8 90 123 45 70", template=4, service_name="Shop", otp_code="1234")
    assert sandbox.last_otp("8 90 123 45 70") == "1234"
    assert estimate_cost("8 90 123 45 67", "Salom").country.iso == "UZ"


def test_normalize_phone_is_public() -> None:
    import devsms_async

    assert "normalize_phone" in devsms_async.__all__
    assert devsms_async.normalize_phone("+998 90 123-45-67") == "998901234567"


# -- phone_check ---------------------------------------------------------------------


def test_a_number_of_a_new_range_passes_only_with_phone_check_possible() -> None:
    with pytest.raises(ValidationError, match="not a valid number"):
        normalize_phone(NEW_RANGE)
    assert normalize_phone(NEW_RANGE, phone_check="possible") == "12021234567"
    assert normalize_phone("12021234567", phone_check="possible") == "12021234567"
    # Possible means a length a mobile or fixed-line number of the country may have.
    for raw, fragment in [
        ("+1 202 123 456", "too short"),
        ("+901234567", "too short for TR (+90); a 9-digit Uzbek number"),
        ("+44 07911 123456", "international format"),
        ("+12345", "7-15 digits"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(fragment)):
            normalize_phone(raw, phone_check="possible")
    # Uzbek numbers are checked by length in both modes.
    assert normalize_phone("998001234567", phone_check="possible") == "998001234567"


@pytest.mark.parametrize("value", ["loose", "VALID", None, 1])
def test_phone_check_is_checked(value: object) -> None:
    with pytest.raises(ValidationError, match="phone_check"):
        normalize_phone("998901234567 ", phone_check=value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="phone_check"):
        AsyncDevSMS(TOKEN, phone_check=value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="phone_check"):
        estimate_bulk([], phone_check=value)  # type: ignore[arg-type]


async def test_the_async_client_sends_a_new_range_only_when_told() -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.post("/send_sms.php").respond(200, json=SENT)
        async with AsyncDevSMS(TOKEN) as strict:
            assert strict.phone_check == "valid"
            with pytest.raises(ValidationError, match="not a valid number"):
                await strict.send_sms(NEW_RANGE, "Salom")
        assert route.call_count == 0  # refused before any request
        async with AsyncDevSMS(TOKEN, phone_check="possible") as sms:
            assert sms.phone_check == "possible"
            await sms.send_sms(NEW_RANGE, "Salom")
            await sms.send_otp(NEW_RANGE, template=1, service_name="Shop", otp_code="1234")
    assert [json.loads(c.request.content)["phone"] for c in route.calls] == ["12021234567"] * 2


def test_the_sync_client_sends_a_new_range_only_when_told() -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.post("/send_sms.php").respond(200, json=SENT)
        with DevSMS(TOKEN) as strict, pytest.raises(ValidationError):
            strict.send_sms(NEW_RANGE, "Salom")
        with DevSMS(TOKEN, phone_check="possible") as sms:
            sms.send_sms(NEW_RANGE, "Salom")
    assert json.loads(route.calls.last.request.content)["phone"] == "12021234567"
    assert route.call_count == 1


async def test_bulk_estimates_and_the_sandbox_follow_the_clients_phone_check() -> None:
    sandbox = Sandbox(balance=100_000)
    async with sandbox.client(phone_check="possible") as sms:
        results = await sms.send_bulk([(NEW_RANGE, "Salom")], check_balance=True)
    assert [r.outcome.value for r in results] == ["sent"]
    assert [m.phone for m in sandbox.messages] == ["12021234567"]
    assert lookup_country(NEW_RANGE, phone_check="possible").iso == "US"
    assert estimate_cost(NEW_RANGE, "Salom", phone_check="possible").country.iso == "US"
    assert estimate_bulk([(NEW_RANGE, "a")], phone_check="possible").messages == 1
    assert len(estimate_bulk([(NEW_RANGE, "a")]).errors) == 1


def test_the_fastapi_lifespan_passes_phone_check_on() -> None:
    lifespan = DevSMSLifespan(token=TOKEN, phone_check="possible")
    sms = lifespan._factory()
    assert isinstance(sms, AsyncDevSMS)
    assert sms.phone_check == "possible"


def test_the_uzbek_fast_path_never_imports_phonenumbers() -> None:
    code = (
        "import sys\n"
        "import devsms_async\n"
        "from devsms_async import normalize_phone\n"
        "assert normalize_phone('998901234567') == '998901234567'\n"
        "assert normalize_phone('998901234567', phone_check='possible') == '998901234567'\n"
        "assert normalize_phone('90 123 45 67') == '998901234567'\n"
        "assert normalize_phone('0 90 123 45 67') == '998901234567'\n"
        "for short in ('90 123 45', '0 90 123 45'):\n"
        "    try:\n"
        "        normalize_phone(short)\n"
        "    except devsms_async.ValidationError:\n"
        "        pass\n"
        "assert 'phonenumbers' not in sys.modules\n"
        "normalize_phone('8 90 123 45 67')\n"  # the ambiguity check reads the plan
        "assert 'phonenumbers' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
