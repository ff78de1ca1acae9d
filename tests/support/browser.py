"""What the browser tests of the web inbox share (tests/sandbox/test_inbox_browser*.py):
headless Chromium (Debian's ``chromium``) driven by Playwright. The fixtures (`page`,
`served`, `artifacts`) are in tests/sandbox/conftest.py."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Page

    from support.served import ServedProcess

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright: Any = None

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


def missing(reason: str) -> None:
    """Skip for want of a browser, but fail under ``CI=true``: a missing install must not
    pass as green."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run must install it (browser tests may not skip on CI)")
    pytest.skip(reason)


async def open_inbox(page: Page, served: ServedProcess) -> None:
    await page.goto(served.inbox_url)
    await page.wait_for_selector("#connection.live")
    # Set once; if the page ever reloaded, it would be gone.
    await page.evaluate("window.__notReloaded = true")


def card(sms_id: int) -> str:
    return f"article[data-sms-id='{sms_id}']"
