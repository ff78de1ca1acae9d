"""The web inbox in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright, against a real ``devsms sandbox serve`` process on a free port, with a real
callback receiver on 127.0.0.1.

Screenshots go to ``$DEVSMS_INBOX_ARTIFACTS`` (or the test's tmp dir). The time from a
send to the message being on the page is measured and printed (and written next to the
screenshots as ``latency.json``): a measurement, never an assertion.

Without Chromium or Playwright these tests skip on a developer's machine, but fail under
``CI=true``: a missing install must not pass as green.
"""

from __future__ import annotations

import http.server
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from devsms_async import AsyncDevSMS, ServerError

CHROMIUM = os.environ.get("DEVSMS_CHROMIUM", "/usr/bin/chromium")
# This machine's network is closed: without these, Chromium's own background traffic is
# refused many times over, and it runs as root in a container (no sandbox, no GPU).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-T0ken-SECRET"
UZ = "998901234567"
TIMEOUT_MS = 15_000
SERVE = [sys.executable, "-m", "devsms_async.cli", "sandbox", "serve"]
# 72 characters: 2 UCS-2 parts because of one U+02BB, 1 GSM-7 part once normalized.
LONG_UZBEK = "Oʻzbekiston: buyurtmangiz #4821 tayyor. Olib ketishingiz mumkin, rahmat!"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run must install it (browser tests may not skip on CI)")
    pytest.skip(reason)


try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    where = os.environ.get("DEVSMS_INBOX_ARTIFACTS")
    path = Path(where) if where else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


# -- a real `devsms sandbox serve` ---------------------------------------------------------


@attrs.define
class Served:
    proc: subprocess.Popen[bytes]
    base_url: str
    inbox_url: str


@pytest.fixture
def served() -> Iterator[Served]:
    proc = subprocess.Popen(
        [*SERVE, "--port", "0", "--token", TOKEN, "--advance-every", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        first = proc.stdout.readline().decode() if ready else ""
        assert first.startswith("DevSMS sandbox serving at: http://127.0.0.1:"), first
        second = proc.stdout.readline().decode()
        assert second.startswith("inbox: http://127.0.0.1:"), second
        yield Served(proc, first.split(": ", 1)[1].strip(), second.split()[1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    if async_playwright is None:
        _missing("Playwright for Python is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        # A persistent context on a fresh directory: the fresh --user-data-dir.
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            tab = context.pages[0] if context.pages else await context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            yield tab
            assert errors == []  # no script error on the page, ever
        finally:
            await context.close()


async def open_inbox(page: Page, served: Served) -> None:
    await page.goto(served.inbox_url)
    await page.wait_for_selector("#connection.live")
    # Set once; if the page ever reloaded, it would be gone.
    await page.evaluate("window.__notReloaded = true")


def card(sms_id: int) -> str:
    return f"article[data-sms-id='{sms_id}']"


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
    page: Page, served: Served, receiver: _ReceiverServer, artifacts: Path
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
    page: Page, served: Served, receiver: _ReceiverServer
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
    page: Page, served: Served, receiver: _ReceiverServer, artifacts: Path
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
