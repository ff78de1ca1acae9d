"""``await sms.open()`` / ``await sms.aclose()`` (and ``open()`` / ``close()`` on
``DevSMS``): a client kept for the life of an application whose start and stop are
separate hooks (an aiogram bot's startup and shutdown), with the same once-only rules
as ``async with``. Against the sandbox served over HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import anyio.from_thread
import pytest

from devsms_async import AsyncDevSMS, DevSMS, UsageError
from devsms_async.testing import Sandbox, serve_sandbox

PHONE = "998901234567"
TOKEN = "open-close-token"


class Bot:
    """The shape of an aiogram bot: hooks the framework calls at start and stop, and a
    handler in between; the client is a module-level object, never in an ``async with``."""

    def __init__(self, sms: AsyncDevSMS) -> None:
        self.sms = sms

    async def on_startup(self) -> None:
        await self.sms.open()

    async def on_shutdown(self) -> None:
        await self.sms.aclose()

    async def handle(self, text: str) -> int | None:
        return (await self.sms.send_sms(PHONE, text)).sms_id


@pytest.mark.parametrize(
    ("loop", "http_backend"),
    [("asyncio", "httpx"), ("trio", "httpx"), ("asyncio", "aiohttp")],
    ids=["asyncio-httpx", "trio-httpx", "asyncio-aiohttp"],
)
def test_a_client_opened_and_closed_by_hooks_sends_in_between(loop: str, http_backend: str) -> None:
    if http_backend == "aiohttp":
        pytest.importorskip("aiohttp")
    sandbox = Sandbox(token=TOKEN)

    async def scenario() -> None:
        async with serve_sandbox(sandbox) as server:
            sms = AsyncDevSMS(TOKEN, base_url=server.base_url, http_backend=http_backend)
            bot = Bot(sms)
            with pytest.raises(UsageError, match=r"await sms\.open\(\)"):
                await bot.handle("before startup")
            await bot.on_startup()
            assert sms.http_backend == http_backend
            ids = [await bot.handle(f"message {i}") for i in range(3)]
            assert [sandbox.get_message(i).text for i in ids if i is not None] == [
                f"message {i}" for i in range(3)
            ]
            await bot.on_shutdown()
            assert sms.is_closed
            with pytest.raises(UsageError, match="closed"):
                await bot.handle("after shutdown")
            await bot.on_shutdown()  # closing twice is harmless

    anyio.run(scenario, backend=loop)


def test_open_returns_the_client(run: Any) -> None:
    sandbox = Sandbox(token=TOKEN)

    async def scenario() -> int:
        async with serve_sandbox(sandbox) as server:
            sms = await AsyncDevSMS(TOKEN, base_url=server.base_url).open()
            try:
                return (await sms.get_balance()).balance
            finally:
                await sms.aclose()

    assert run(scenario) == 100_000


async def enter(sms: AsyncDevSMS) -> None:
    async with sms:
        pass


async def open_(sms: AsyncDevSMS) -> None:
    await sms.open()


@pytest.mark.parametrize(
    ("first", "then"),
    [(open_, open_), (open_, enter), (enter, open_)],
    ids=["open twice", "open then async with", "async with then open"],
)
def test_an_async_client_is_opened_once_whichever_way(run: Any, first: Any, then: Any) -> None:
    async def scenario() -> str:
        sms = Sandbox(token=TOKEN).client()
        await first(sms)
        try:
            with pytest.raises(UsageError) as caught:
                await then(sms)
        finally:
            await sms.aclose()
        return str(caught.value)

    assert "can be entered once" in run(scenario)


def test_an_async_client_closed_before_opening_cannot_be_opened(run: Any) -> None:
    async def scenario() -> None:
        sms = Sandbox(token=TOKEN).client()
        await sms.aclose()
        with pytest.raises(UsageError):
            await sms.open()

    run(scenario)


# -- DevSMS -----------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    """A sandbox served over HTTP from a thread, for the sync client."""
    sandbox = Sandbox(token=TOKEN)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as server,
    ):
        yield sandbox, server.base_url


def test_a_sync_client_opened_and_closed_without_with_sends_in_between(
    served: tuple[Sandbox, str],
) -> None:
    sandbox, base_url = served
    sms = DevSMS(TOKEN, base_url=base_url)
    with pytest.raises(UsageError, match=r"sms\.open\(\)"):
        sms.send_sms(PHONE, "before open")
    assert sms.open() is sms
    sent = sms.send_sms(PHONE, "between open and close")
    assert sent.sms_id is not None
    assert sandbox.get_message(sent.sms_id).text == "between open and close"
    sms.close()
    with pytest.raises(UsageError, match="closed"):
        sms.get_balance()
    with pytest.raises(UsageError):
        sms.open()
    sms.close()


def test_a_sync_client_is_opened_once_whichever_way() -> None:
    sms = Sandbox(token=TOKEN).sync_client().open()
    with pytest.raises(UsageError), sms:
        pass
    with pytest.raises(UsageError):
        sms.open()
    sms.close()
    with Sandbox(token=TOKEN).sync_client() as entered, pytest.raises(UsageError):
        entered.open()
