"""The inbox's JSON endpoint (``GET /inbox/api/state``): filters by status, type and
number, how many messages it shows of how many, money as exact text, and which texts
get their UCS-2 culprits marked. In-process; the page itself is driven in Chromium in
tests/sandbox/test_inbox_browser.py."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from devsms_async.models import SmsStatus
from devsms_async.testing import ManualClock, Sandbox
from devsms_async.testing._inbox import Inbox
from devsms_async.testing._sandbox import move

TOKEN = "inbox-T0ken-SECRET"
UZ = "998901234567"
OTHER = "998935550000"
HOST = (("host", "127.0.0.1:8000"),)


async def state(inbox: Inbox, query: str = "") -> dict[str, Any]:
    reply = await inbox.handle("GET", "/inbox/api/state" + query, HOST, b"")
    assert reply.status == 200, reply.body
    data: dict[str, Any] = json.loads(reply.body)
    return data


def ids(data: dict[str, Any]) -> list[int]:
    return [m["sms_id"] for m in data["messages"]]


async def mixed(**options: Any) -> tuple[Sandbox, Inbox]:
    """1: UZ sms (delivered), 2: OTHER sms (failed), 3: UZ otp (sent), 4: OTHER sms (sent)."""
    sandbox = Sandbox(TOKEN, clock=ManualClock(), **options)
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Birinchi")
        await sms.send_sms(OTHER, "Ikkinchi")
        await sms.send_otp(UZ, template=1, service_name="MyShop", otp_code="482913")
        await sms.send_sms(OTHER, "To'rtinchi")
    move(sandbox, 1, SmsStatus.DELIVERED)
    move(sandbox, 2, SmsStatus.FAILED)
    return sandbox, Inbox(sandbox)


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [4, 3, 2, 1]),
        ("?status=sent", [4, 3]),
        ("?status=delivered,failed", [2, 1]),
        ("?type=universal_otp", [3]),
        ("?type=eskiz", [4, 2, 1]),
        ("?status=sent&type=eskiz", [4]),
        ("?number=4567", [3, 1]),
        ("?number=4567&status=sent", [3]),
        ("?q=0000&type=eskiz&status=failed", [2]),  # q: the older name of number
        ("?status=pending", []),
    ],
)
async def test_filters_by_status_type_and_number(query: str, expected: list[int]) -> None:
    _, inbox = await mixed()
    data = await state(inbox, query)
    assert ids(data) == expected
    assert (data["total"], data["matched"], data["shown"]) == (4, len(expected), len(expected))


async def test_the_filters_are_echoed_for_the_page() -> None:
    _, inbox = await mixed()
    data = await state(inbox, "?status=sent,failed&type=eskiz&number=4567")
    assert data["filters"] == {"number": "4567", "status": ["failed", "sent"], "type": ["eskiz"]}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?status=delivrd", "status must be one of pending, sent, delivered, failed"),
        ("?status=sent,<b>", "status must be one of"),
        ("?type=ESKIZ", "type must be one of eskiz, simple, universal_otp"),
    ],
)
async def test_an_unknown_filter_value_is_refused_without_echoing_it(
    query: str, words: str
) -> None:
    _, inbox = await mixed()
    reply = await inbox.handle("GET", "/inbox/api/state" + query, HOST, b"")
    assert reply.status == 400
    error = json.loads(reply.body)["error"]
    assert words in error
    assert "<b>" not in error


@pytest.mark.parametrize(
    "written",
    ["+998 90 123-45-67", "(998) 90.123.45.67", "90 123 45 67", "901234567", UZ],
)
async def test_the_number_filter_matches_the_normalised_number_while_masked(
    written: str,
) -> None:
    _, inbox = await mixed()
    data = await state(inbox, "?number=" + written.replace("+", "%2B").replace(" ", "+"))
    assert ids(data) == [3, 1]
    body = json.dumps(data)
    assert [m["phone"] for m in data["messages"]] == ["99890***4567", "99890***4567"]
    assert UZ not in body.replace(json.dumps(data["query"]), "")  # only where it was typed


@pytest.mark.parametrize(
    ("piece", "masked", "shown"), [("1234", [], [3, 1]), ("99893", [4, 2], [4, 2])]
)
async def test_a_piece_of_a_number_matches_only_what_the_page_shows(
    piece: str, masked: list[int], shown: list[int]
) -> None:
    sandbox, inbox = await mixed()
    # The hidden middle (…123…) would let the search reveal a masked number digit by digit.
    assert ids(await state(inbox, "?number=" + piece)) == masked
    assert ids(await state(Inbox(sandbox, show_numbers=True), "?number=" + piece)) == shown


# -- how many are shown ------------------------------------------------------------------------


async def test_a_long_inbox_says_how_many_it_shows_and_pages_on() -> None:
    sandbox = Sandbox(TOKEN, clock=ManualClock(), balance=10**9)
    async with sandbox.client() as sms:
        for i in range(205):
            await sms.send_sms(UZ if i % 2 else OTHER, f"Xabar {i}")
    inbox = Inbox(sandbox)

    first = await state(inbox)
    assert (first["total"], first["matched"], first["shown"], first["limit"]) == (
        205,
        205,
        200,
        200,
    )
    assert ids(first) == list(range(205, 5, -1))  # the newest 200
    more = await state(inbox, "?limit=400")
    assert (more["shown"], ids(more)[-1]) == (205, 1)
    filtered = await state(inbox, "?number=4567&limit=50")
    assert (filtered["total"], filtered["matched"], filtered["shown"]) == (205, 102, 50)


# -- money ---------------------------------------------------------------------------------------


async def test_money_is_exact_text_in_one_format_everywhere() -> None:
    sandbox = Sandbox(
        TOKEN, clock=ManualClock(), balance=Decimal("277579.125"), sms_price=Decimal("12.5")
    )
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Salom")
        await sms.send_sms("12025550123", "Hello")  # abroad: its own price
    data = await state(Inbox(sandbox))

    nbsp = "\u00a0"
    abroad, home = data["messages"]
    assert (home["cost"], home["cost_text"]) == ("12.5", f"12.50{nbsp}so'm")
    assert data["sms_price"] == "12.5"
    assert data["sms_price_text"] == f"12.50{nbsp}so'm"
    balance = Decimal("277579.125") - Decimal("12.5") - Decimal(abroad["cost"])
    assert Decimal(data["balance"]) == balance  # exact: no float on the way
    whole, _, fraction = str(balance).partition(".")
    grouped = f"{int(whole):,}".replace(",", nbsp)
    assert data["balance_text"] == f"{grouped}.{fraction.rstrip('0').ljust(2, '0')}{nbsp}so'm"
    assert abroad["cost_text"].endswith(f"{nbsp}so'm")
    assert "," not in abroad["cost_text"]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0 so'm"),
        (50, "50 so'm"),
        (10398, "10 398 so'm"),
        (277579, "277 579 so'm"),
        (Decimal("50.00"), "50 so'm"),
        (Decimal("1E+3"), "1 000 so'm"),
        (Decimal("0.05"), "0.05 so'm"),
        (Decimal("1234567.891"), "1 234 567.891 so'm"),
        (Decimal("99999999999999999999.01"), "99 999 999 999 999 999 999.01 so'm"),
    ],
)
async def test_the_balance_is_written_exactly(amount: Decimal | int, text: str) -> None:
    data = await state(Inbox(Sandbox(TOKEN, balance=amount)))
    assert data["balance_text"] == text.replace(" ", "\u00a0")
    assert Decimal(data["balance"]) == amount


# -- which UCS-2 characters are marked -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("Salom! Buyurtmangiz tayyor", False),  # GSM-7: nothing to mark
        ("Oʻzbekiston", True),  # one apostrophe look-alike: the thing to fix
        ("Oʻzbekiston " * 12, True),  # 12 of 144 characters: under 10%
        ("Buyurtma №4821 tayyor. Rahmat, do'kon «Baraka»", True),  # 3 of 46
        ("Ваш заказ готов", False),  # Cyrillic: every letter would be marked
        ("Заказ 4821 tayyor", False),  # 5 of 17: a mixed text, not a stray character
        ("Да", False),  # 2 of 2: not a minority
        ("Kod: 4821 — rahmat", True),  # one em dash
    ],
)
async def test_culprits_are_marked_only_in_mostly_gsm_texts(text: str, marked: bool) -> None:
    sandbox = Sandbox(TOKEN, clock=ManualClock())
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, text)
    (message,) = (await state(Inbox(sandbox)))["messages"]

    flagged = [run[0] for part in message["segments"] for run in part if run[1]]
    assert message["ucs2_marked"] is marked
    assert bool(flagged) is marked
    assert "".join(run[0] for part in message["segments"] for run in part) == text
    culprits = {c["char"] for c in message["ucs2_characters"]}
    assert message["ucs2_count"] == sum(ch in culprits for ch in text)
    assert message["characters"] == len(text)
    if marked:
        assert set("".join(flagged)) == culprits
    if message["encoding"] == "UCS-2":
        assert message["ucs2_count"] > 0  # still counted and listed, just not marked


async def test_the_apostrophe_advice_is_given_only_when_it_helps() -> None:
    sandbox = Sandbox(TOKEN, clock=ManualClock())
    async with sandbox.client() as sms:
        await sms.send_sms(UZ, "Oʻzbekiston: " + "x" * 60)  # GSM-7 once normalised
        await sms.send_sms(UZ, "Oʻzbekiston — Ваш заказ готов")  # still UCS-2, 1 part
    still, helps = (await state(Inbox(sandbox)))["messages"]
    assert helps["normalized"] == {"encoding": "GSM-7", "parts": 1}
    assert still["normalized"] is None
