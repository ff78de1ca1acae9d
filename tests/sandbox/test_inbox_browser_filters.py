"""The inbox's filters, its "showing N of M" and "Show more", its one money format and
its rule for marking UCS-2 culprits, as a person sees them: headless Chromium against a
real ``devsms sandbox serve`` (the fixtures of tests/sandbox/conftest.py). Hostile
texts go into every new place a text from the sandbox or the user appears."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from devsms_async import AsyncDevSMS
from support.browser import TOKEN, UZ, card, open_inbox
from support.served import ServedProcess

if TYPE_CHECKING:
    from playwright.async_api import Page

NBSP = "\u00a0"
HOSTILE = '<img src=x onerror="window.__pwned = 1">'
MONEY = re.compile(r"^[1-9][0-9]{0,2}(\u00a0[0-9]{3})*(\.[0-9]{2,})?\u00a0so'm$|^0\u00a0so'm$")


async def cards_count(page: Page) -> int:
    return int(await page.evaluate("document.querySelectorAll('article[data-sms-id]').length"))


async def wait_cards(page: Page, count: int) -> None:
    await page.wait_for_function(
        f"() => document.querySelectorAll('article[data-sms-id]').length == {count}"
    )


async def count_text(page: Page) -> str:
    return (await page.locator("#count").text_content()) or ""


async def test_filters_and_the_count_say_what_is_shown_and_page_on(
    page: Page, served: ServedProcess, artifacts: Path
) -> None:
    await open_inbox(page, served)
    async with AsyncDevSMS(TOKEN, base_url=served.base_url) as sms:
        for i in range(200):
            await sms.send_sms(f"99893{i + 1000000:07d}", f"Xabar {i}")
        await sms.send_otp(UZ, template=1, service_name="MyShop", otp_code="482913")  # 201
        await sms.send_sms(UZ, "Ikkinchi")  # 202
        await sms.send_sms("998977777777", HOSTILE)  # 203
    async with httpx.AsyncClient(base_url=served.inbox_url) as inbox:
        for sms_id in (1, 202):
            failed = await inbox.post(
                f"inbox/api/messages/{sms_id}/fail", headers={"x-devsms-inbox": "1"}
            )
            assert failed.status_code == 200, failed.text

    # 203 messages, 200 on the page: it says so, and offers the rest.
    await page.wait_for_function(
        "() => document.getElementById('count').textContent.includes('203')"
    )
    await wait_cards(page, 200)
    assert await count_text(page) == "(showing 200 of 203)"
    assert await page.locator("#more-text").text_content() == (
        "Showing the newest 200 of 203; 3 older not shown."
    )
    await page.get_by_role("button", name="Show 3 more").click()
    await wait_cards(page, 203)
    assert await count_text(page) == "(203)"
    assert await page.locator("#more").is_hidden()

    # Status: the two failed ones.
    await page.get_by_label("Filter by status").select_option("failed")
    await wait_cards(page, 2)
    assert await count_text(page) == "(2 of 203 match)"
    assert await page.locator("article[data-status=failed]").count() == 2
    # ...and type: only the OTP among the failed? none; then any status.
    await page.get_by_label("Filter by type").select_option("universal_otp")
    await page.wait_for_selector("#empty:not([hidden])")
    assert await page.locator("#empty").text_content() == (
        "No SMS matches status failed, type universal_otp."
    )
    await page.get_by_label("Filter by status").select_option("")
    await wait_cards(page, 1)
    assert await page.locator("article[data-sms-id]").get_attribute("data-sms-id") == "201"
    await page.get_by_label("Filter by type").select_option("")

    # Number: written as a person writes it, matched on the normalised number; the
    # page still shows it masked.
    await page.get_by_label("Search by number").fill("+998 (90) 123-45-67")
    await wait_cards(page, 2)
    assert await count_text(page) == "(2 of 203 match)"
    phones = await page.locator("article[data-sms-id] .phone").all_text_contents()
    assert phones == ["99890***4567", "99890***4567"]
    assert UZ not in await page.content()

    # A hostile search is text in the "no match" line, never HTML.
    query = '<img src=x onerror="window.__pwned = true">'  # no digit: matches nothing
    await page.get_by_label("Search by number").fill(query)
    await page.wait_for_selector("#empty:not([hidden])")
    assert await page.locator("#empty").text_content() == (
        f"No SMS matches a number matching “{query}”."
    )
    await page.get_by_label("Search by number").fill("")
    await page.get_by_label("Filter by type").select_option("eskiz")
    await wait_cards(page, 200)  # 202 eskiz messages: the limit is back to one page
    assert await count_text(page) == "(showing 200 of 202 that match, 203 in all)"
    hostile = page.locator(card(203)).locator("[data-role=text]")
    assert await hostile.text_content() == HOSTILE
    assert await page.evaluate("window.__pwned") is None
    assert await page.evaluate("window.__notReloaded") is True
    await page.screenshot(path=str(artifacts / "inbox-filters.png"))


async def test_money_is_one_format_in_every_place(page: Page, served: ServedProcess) -> None:
    await open_inbox(page, served)
    async with httpx.AsyncClient(base_url=served.inbox_url) as inbox:
        answer = await inbox.post(
            "inbox/api/balance", json={"balance": 277_629}, headers={"x-devsms-inbox": "1"}
        )
        assert answer.status_code == 200
    async with AsyncDevSMS(TOKEN, base_url=served.base_url) as sms:
        home = await sms.send_sms(UZ, "Salom")
        abroad = await sms.send_sms("12025550123", "Salom! " * 160)  # 8 parts abroad
    await page.wait_for_selector(card(abroad.sms_id))

    balance = await page.locator("#balance").text_content()
    price = await page.locator("#sms-price").text_content()
    home_cost = await page.locator(card(home.sms_id)).locator("[data-role=cost]").text_content()
    abroad_cost = await page.locator(card(abroad.sms_id)).locator("[data-role=cost]").text_content()
    assert home_cost == f"50{NBSP}so'm"
    assert price == f"50{NBSP}so'm"
    # Whole so'm here (the live service writes "10398.00"): no fraction is shown.
    assert abroad.total_cost == abroad.total_cost.to_integral_value()
    cost = int(abroad.total_cost)
    assert cost >= 1000  # a grouped amount
    assert balance == f"{277_629 - 50 - cost:,}".replace(",", NBSP) + f"{NBSP}so'm"
    assert abroad_cost == f"{cost:,}".replace(",", NBSP) + f"{NBSP}so'm"
    for text in (balance, price, home_cost, abroad_cost):
        assert MONEY.match(text or ""), text


async def test_culprits_are_marked_only_in_mostly_gsm_texts(
    page: Page, served: ServedProcess, artifacts: Path
) -> None:
    await open_inbox(page, served)
    cyrillic = "Ваш заказ готов " + HOSTILE
    latin = "Oʻzbekiston: buyurtmangiz tayyor " + HOSTILE
    async with AsyncDevSMS(TOKEN, base_url=served.base_url) as sms:
        russian = await sms.send_sms(UZ, cyrillic)
        uzbek = await sms.send_sms(UZ, latin)
    await page.wait_for_selector(card(uzbek.sms_id))

    ucs2 = page.locator(card(russian.sms_id))
    assert await ucs2.locator("mark").count() == 0  # not every letter highlighted
    assert await ucs2.locator("[data-role=text]").text_content() == cyrillic
    note = ucs2.locator("[data-role=ucs2-rule]")
    assert await note.text_content() == (
        f"13 of {len(cyrillic)} characters are outside GSM-7: a UCS-2 text, none marked"
    )
    rule = await note.get_attribute("title")
    assert rule is not None
    assert "only in a mostly GSM-7 text" in rule
    assert "at most 2 of them, or at most 10% of the text's characters" in rule

    gsm = page.locator(card(uzbek.sms_id))
    marks = await gsm.locator("[data-role=text] mark.ucs2").all_text_contents()
    assert marks == ["ʻ"]
    assert await gsm.locator("[data-role=text]").text_content() == latin
    assert await gsm.locator("[data-role=ucs2-rule]").get_attribute("title") == rule
    title = await gsm.locator("[data-role=text] mark.ucs2").get_attribute("title")
    assert (title or "").startswith("U+02BB forces UCS-2. ")
    assert await page.evaluate("window.__pwned") is None
    await page.screenshot(path=str(artifacts / "inbox-culprits.png"))
