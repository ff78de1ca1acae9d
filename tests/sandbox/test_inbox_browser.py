"""The web inbox in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright, against a real ``devsms sandbox serve`` process on a free port, with a real
callback receiver on 127.0.0.1.

Screenshots go to ``$DEVSMS_INBOX_ARTIFACTS`` (or the test's tmp dir). The time from a
send to the message being on the page is measured and printed (and written next to the
screenshots as ``latency.json``): a measurement, never an assertion.

Without Chromium or Playwright these tests skip on a developer's machine, but fail under
``CI=true``: a missing install must not pass as green. The fixtures (`page`, `served`,
`artifacts`) are in tests/sandbox/conftest.py, the helpers in tests/support/browser.py.
"""

from __future__ import annotations

import http.server
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devsms_async import AsyncDevSMS, ServerError
from support.browser import TOKEN, UZ, card, open_inbox
from support.served import ServedProcess

if TYPE_CHECKING:
    from playwright.async_api import Page

# 72 characters: 2 UCS-2 parts because of one U+02BB, 1 GSM-7 part once normalized.
LONG_UZBEK = "Oʻzbekiston: buyurtmangiz #4821 tayyor. Olib ketishingiz mumkin, rahmat!"


# -- a real callback receiver ---------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.received.append(json.loads(body))
        status = 503 if self.path.startswith("/broken") else 200
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ReceiverServer(http.server.ThreadingHTTPServer):
    received: list[dict[str, Any]]


@pytest.fixture
def receiver() -> Iterator[_ReceiverServer]:
    """Answers 200 on ``/ok...`` and 503 on ``/broken...``; ``received`` keeps the JSON."""
    server = _ReceiverServer(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def receiver_url(server: _ReceiverServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


async def appearance_times(page: Page) -> None:
    """Record, in the page, the wall-clock time each message card first appears."""
    await page.evaluate(
        """() => {
        window.__appeared = {};
        new MutationObserver(() => {
          for (const node of document.querySelectorAll("article[data-sms-id]")) {
            const id = node.dataset.smsId;
            if (!(id in window.__appeared)) {
              window.__appeared[id] = performance.timeOrigin + performance.now();
            }
          }
        }).observe(document.getElementById("messages"), {childList: true, subtree: true});
      }"""
    )


# -- the tests -----------------------------------------------------------------------------


async def test_a_sent_sms_appears_live_and_deliver_updates_it_and_its_reports(
    page: Page, served: ServedProcess, receiver: _ReceiverServer, artifacts: Path
) -> None:
    await open_inbox(page, served)
    await appearance_times(page)
    callback = receiver_url(receiver, "/ok?key=receiver-secret")

    latencies: list[float] = []

    async def send_and_see(sms: AsyncDevSMS, phone: str, text: str, **options: Any) -> int:
        started = time.time() * 1000
        sent = await sms.send_sms(phone, text, **options)
        await page.wait_for_selector(card(sent.sms_id))
        latencies.append(await page.evaluate(f"window.__appeared['{sent.sms_id}']") - started)
        return sent.sms_id

    async with AsyncDevSMS(TOKEN, base_url=served.base_url) as sms:
        for i in range(9):  # a few, for a median
            await send_and_see(
                sms, f"99893555000{i}", f"Salom {i}! Buyurtmangiz #{100 + i} tayyor."
            )
        await sms.send_otp("998977777777", template=4, service_name="MyShop", otp_code="482913")
        # The apostrophe trap: U+02BB makes this text UCS-2.
        sms_id = await send_and_see(sms, UZ, LONG_UZBEK, callback_url=callback)

    message = page.locator(card(sms_id))
    assert await message.locator("[data-role=status]").text_content() == "sent"
    assert await message.locator("h3").text_content() == f"SMS #{sms_id} to 99890***4567"
    assert await message.locator("mark.ucs2").first.text_content() == "ʻ"
    assert "UCS-2" in (await message.locator("[data-role=encoding]").text_content() or "")
    assert "normalize_uzbek()" in (await message.locator("[data-role=trap]").text_content() or "")
    text = await message.locator("[data-role=text]").text_content()
    assert text == LONG_UZBEK
    assert "2 parts" in (await message.locator("[data-role=encoding]").text_content() or "")
    trap = await message.locator("[data-role=trap]").text_content()
    assert "GSM-7, 1 part instead of 2" in (trap or "")
    # The `sent` report was POSTed to the real receiver, and its answer is on the page.
    await page.wait_for_selector(f"{card(sms_id)} tr[data-role=callback]")
    rows = message.locator("tr[data-role=callback]")
    assert (await rows.nth(0).locator("td").all_text_contents())[:3] == ["sent", "delivered", "200"]
    assert "receiver-secret" not in (await page.content())

    await page.get_by_role("button", name=f"Deliver SMS #{sms_id} now").click()

    await page.wait_for_selector(f"{card(sms_id)}[data-status=delivered]")
    await page.wait_for_function(
        f'() => document.querySelectorAll("{card(sms_id)} tr[data-role=callback]").length == 2'
    )
    second = await rows.nth(1).locator("td").all_text_contents()
    assert second[:3] == ["delivered", "delivered", "200"]
    assert second[3].endswith(" ms")
    assert await message.get_by_role("button", name=f"Deliver SMS #{sms_id} now").is_disabled()
    assert [(p["sms_id"], p["status"]) for p in receiver.received] == [
        (sms_id, "sent"),
        (sms_id, "delivered"),
    ]
    timeline = await message.locator("ol.timeline li").all_text_contents()
    assert [entry.split(" ")[0] for entry in timeline] == ["created", "sent", "delivered"]

    assert await page.evaluate("window.__notReloaded") is True
    content = await page.content()
    assert TOKEN not in content
    assert UZ not in content  # masked: no --show-numbers

    await page.screenshot(path=str(artifacts / "inbox.png"))
    median = statistics.median(latencies)
    report = {"samples_ms": [round(x, 1) for x in latencies], "median_ms": round(median, 1)}
    (artifacts / "latency.json").write_text(json.dumps(report))
    print(f"\ninbox latency, send -> visible: median {median:.1f} ms over {len(latencies)} sends")
    print(f"samples: {report['samples_ms']}; screenshot: {artifacts / 'inbox.png'}")


async def test_the_controls_work_from_the_keyboard_and_strike_the_api(
    page: Page, served: ServedProcess, receiver: _ReceiverServer
) -> None:
    await open_inbox(page, served)
    async with AsyncDevSMS(TOKEN, base_url=served.base_url, max_retries=0) as sms:
        first = await sms.send_sms(UZ, "Birinchi", callback_url=receiver_url(receiver, "/broken"))
        await sms.send_sms("998935550000", '<img src=x onerror="window.__pwned = 1">')
        await sms.send_otp("998977777777", template=1, service_name="MyShop", otp_code="482913")
        await page.wait_for_selector(card(3))

        # Text from the sandbox is text, never HTML.
        assert await page.locator(card(2)).locator("[data-role=text]").text_content() == (
            '<img src=x onerror="window.__pwned = 1">'
        )
        assert await page.evaluate("window.__pwned") is None
        # A universal OTP shows its code.
        otp = await page.locator(card(3)).locator("[data-role=otp] strong").text_content()
        assert otp == "482913"

        # Fail now, by keyboard: focus the button, press Enter.
        await page.get_by_role("button", name=f"Fail SMS #{first.sms_id} now").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_selector(f"{card(first.sms_id)}[data-status=failed]")
        # The receiver answered 503: the page says so.
        await page.wait_for_function(
            f'() => document.querySelectorAll("{card(first.sms_id)} tr[data-role=callback]")'
            ".length == 2"
        )
        failed_row = page.locator(card(first.sms_id)).locator("tr[data-role=callback]").nth(1)
        cells = await failed_row.locator("td").all_text_contents()
        assert cells[:3] == ["failed", "http error", "503"]
        assert "503" in cells[4]
        # Focus stays in the re-drawn card instead of falling back to the page.
        assert await page.evaluate(
            f'document.activeElement.closest("{card(first.sms_id)}") !== null'
        )

        # Set the balance: type it, press Enter.
        await page.get_by_label("New balance (so'm)").fill("4321")
        await page.get_by_label("New balance (so'm)").press("Enter")
        await page.wait_for_function(
            "() => document.getElementById('balance').textContent == '4\\u00a0321\\u00a0so\\'m'"
        )
        assert (await sms.get_balance()).balance == 4321

        # Arm a fault for get_balance.php: the next API request gets it.
        await page.get_by_label("Kind").select_option("http")
        await page.get_by_label("HTTP status").fill("503")
        await page.get_by_label("Endpoint").select_option("get_balance.php")
        await page.get_by_role("button", name="Arm the fault").click()
        await page.wait_for_selector("#faults li")
        assert await page.locator("#faults li").text_content() == "HTTP 503 for get_balance.php"
        with pytest.raises(ServerError) as caught:
            await sms.get_balance()
        assert caught.value.status_code == 503
        await page.wait_for_selector("#faults li", state="detached")

        # Advance all: the OTP and the <img> message move on to delivered (…0000: failed).
        await page.get_by_role("button", name="Advance all one step").click()
        await page.wait_for_selector(f"{card(3)}[data-status=delivered]")
        assert await page.locator(card(2)).get_attribute("data-status") == "failed"

        # Search by number: the shown end of the number.
        await page.get_by_label("Search by number").fill("7777")
        await page.wait_for_function(
            "() => document.querySelectorAll('article[data-sms-id]').length == 1"
        )
        assert await page.locator("article[data-sms-id]").get_attribute("data-sms-id") == "3"
        assert "(1 of 3 match)" in (await page.locator("#count").text_content() or "")
        await page.get_by_label("Search by number").fill("")
        await page.wait_for_function(
            "() => document.querySelectorAll('article[data-sms-id]').length == 3"
        )

        # Clear.
        await page.get_by_role("button", name="Clear the inbox").click()
        await page.wait_for_selector("#empty:not([hidden])")
        assert await page.locator("article[data-sms-id]").count() == 0
        assert (await sms.get_history()).count == 0

    # Every form control has a label, every button a name (what a screen reader reads).
    unlabeled = await page.evaluate(
        """[...document.querySelectorAll("input, select")]
             .filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)"""
    )
    assert unlabeled == []
    nameless = await page.evaluate(
        """[...document.querySelectorAll("button")]
             .filter((b) => !(b.getAttribute("aria-label") || b.textContent.trim()))
             .map((b) => b.outerHTML)"""
    )
    assert nameless == []
    assert await page.evaluate("window.__notReloaded") is True


async def test_a_narrow_window_needs_no_sideways_scrolling(
    page: Page, served: ServedProcess, receiver: _ReceiverServer, artifacts: Path
) -> None:
    await page.set_viewport_size({"width": 360, "height": 780})
    await open_inbox(page, served)
    async with AsyncDevSMS(TOKEN, base_url=served.base_url) as sms:
        sent = await sms.send_sms(
            UZ, "Oʻzbekiston " * 12, callback_url=receiver_url(receiver, "/ok/a/long/path")
        )
        await page.wait_for_selector(card(sent.sms_id))
        await page.get_by_role("button", name=f"Deliver SMS #{sent.sms_id} now").click()
        await page.wait_for_selector(f"{card(sent.sms_id)}[data-status=delivered]")
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    # The fault form is folded on a narrow window, and opens from the keyboard.
    assert await page.locator("#fault-panel").get_attribute("open") is None
    await page.locator("#fault-panel summary").focus()
    await page.keyboard.press("Enter")
    assert await page.locator("#fault-panel").get_attribute("open") == ""
    await page.screenshot(path=str(artifacts / "inbox-narrow.png"), full_page=False)
