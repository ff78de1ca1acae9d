"""Fixtures of the web inbox's browser tests: a real `devsms sandbox serve` process
(`served`), a headless Chromium tab (`page`) and a folder for screenshots (`artifacts`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support import browser
from support.served import CLI_SERVE, ServedProcess, served_sandbox

if TYPE_CHECKING:
    from playwright.async_api import Page


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$DEVSMS_INBOX_ARTIFACTS``, or the test's tmp dir."""
    where = os.environ.get("DEVSMS_INBOX_ARTIFACTS")
    path = Path(where) if where else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def served() -> Iterator[ServedProcess]:
    """A real `devsms sandbox serve` with its inbox; it must stop cleanly on Ctrl-C."""
    args = ("--token", browser.TOKEN, "--advance-every", "0")
    with served_sandbox(*args, command=CLI_SERVE, lines=2) as sandbox:
        assert sandbox.lines[1].startswith("inbox: http://127.0.0.1:"), sandbox.lines[1]
        yield sandbox
    assert sandbox.returncode == 0, sandbox.err
    assert "Traceback" not in sandbox.err


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    """A tab of a fresh headless Chromium; the test fails on any script error in it."""
    if browser.async_playwright is None:
        browser.missing("Playwright for Python is not installed (pip install playwright)")
    if not (os.path.isfile(browser.CHROMIUM) and os.access(browser.CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            browser.missing(f"no Chromium at {browser.CHROMIUM} (apt-get install chromium)")
    async with browser.async_playwright() as playwright:
        # A persistent context on a fresh directory: the fresh --user-data-dir.
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=browser.CHROMIUM,
            headless=True,
            args=browser.CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            tab = context.pages[0] if context.pages else await context.new_page()
            tab.set_default_timeout(browser.TIMEOUT_MS)
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            yield tab
            assert errors == []  # no script error on the page, ever
        finally:
            await context.close()
