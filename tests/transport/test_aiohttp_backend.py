"""``AsyncDevSMS(http_backend="aiohttp")`` against a real server on 127.0.0.1.

The backend drives the core on an aiohttp session directly (no httpx objects on that
path); respx cannot mock it, so every test here crosses a socket
(``faultserver.FaultServer``). The full fault matrix
(every fault x send/read) runs on this backend too, in ``test_faults.py``; this file
covers what is particular to it: the wire format, pooling and keep-alive, the aiohttp
session's life cycle, the aiohttp failures that must not read as "never sent",
and the clear errors for a missing extra or a trio loop.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from typing import Any

import httpx
import pytest
import trio

from devsms_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncDevSMS,
    SendOutcomeUnknownError,
    SmsStatus,
    ValidationError,
    __version__,
)
from devsms_async._transport import preferred_backend
from support import TOKEN, faultserver
from support.faultserver import FaultServer, Reset, ResetMidBody, Stall

PHONE = "998901234567"
TEXT = "Salom! Kod: 5678"
SAFE = httpx.Timeout(5.0)


def aio_client(base_url: str, **options: Any) -> AsyncDevSMS:
    options.setdefault("timeout", SAFE)
    return AsyncDevSMS(TOKEN, base_url=base_url, http_backend="aiohttp", **options)


def aiohttp_session(sms: AsyncDevSMS) -> Any:
    """The aiohttp session behind the client."""
    import aiohttp

    session = sms._http
    assert isinstance(session, aiohttp.ClientSession)
    return session


async def test_send_and_reads_on_the_wire(fault_server: FaultServer) -> None:
    async with aio_client(fault_server.base_url) as sms:
        sent = await sms.send_sms(PHONE, TEXT, sender="MyShop")
        balance = await sms.get_balance()
        page = await sms.get_history(limit=10)
        record = await sms.get_status(sms_id=sent.sms_id)

    assert sent.status is SmsStatus.SENT
    assert balance.balance == fault_server.api.balance
    assert [item.id for item in page.items] == [sent.sms_id]
    assert (record.id, record.message, record.phone_number) == (sent.sms_id, TEXT, PHONE)

    send, *reads = fault_server.requests
    assert (send.method, send.path) == ("POST", "/api/send_sms.php")
    assert send.json() == {"phone": PHONE, "message": TEXT, "from": "MyShop", "type": "eskiz"}
    assert send.headers["content-type"] == "application/json"
    assert [(r.method, r.endpoint) for r in reads] == [
        ("GET", "get_balance.php"),
        ("GET", "get_history.php"),
        ("GET", "get_status.php"),
    ]
    assert reads[1].query == {"limit": "10", "offset": "0"}
    for request in fault_server.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["user-agent"] == f"devsms-async/{__version__}"
        assert request.headers["accept"] == "application/json"
        assert "cookie" not in request.headers


async def test_connections_are_kept_alive_and_within_the_pool(fault_server: FaultServer) -> None:
    limits = httpx.Limits(max_connections=3, max_keepalive_connections=3)
    async with aio_client(fault_server.base_url, limits=limits) as sms:
        for _ in range(5):
            await sms.get_balance()
        assert fault_server.connections == 1

        results = await asyncio.gather(*(sms.send_sms(PHONE, TEXT) for _ in range(30)))

    assert len({r.sms_id for r in results}) == 30
    assert fault_server.count("send_sms.php") == 30
    assert fault_server.connections <= 3


async def test_session_lives_inside_the_block_and_is_closed_after_it(
    fault_server: FaultServer,
) -> None:
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
    sms = aio_client(fault_server.base_url)
    async with sms:
        session = aiohttp_session(sms)  # created on entry, in this loop
        assert session._loop is asyncio.get_running_loop()
        await sms.get_balance()
        assert not session.closed

    assert session.closed
    assert session.connector is None or session.connector.closed
    fault_server.wait_idle()
    # aiohttp reports a forgotten session from __del__ through the loop's handler, a
    # forgotten socket as a ResourceWarning: collect now, while both are watched.
    del sms, session
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught] == []
    assert loop_errors == []


async def test_a_client_that_never_sent_closes_cleanly(fault_server: FaultServer) -> None:
    async with aio_client(fault_server.base_url) as sms:
        pass
    assert sms.is_closed
    assert fault_server.connections == 0


async def test_per_call_timeout_maps_to_api_timeout_error(fault_server: FaultServer) -> None:
    fault_server.script(Stall())
    async with aio_client(fault_server.base_url, max_retries=0) as sms:
        with pytest.raises(APITimeoutError):
            await sms.get_balance(timeout=httpx.Timeout(5.0, read=0.2))
        # The pool is still usable after a timed-out request.
        assert (await sms.get_balance()).sms_price == fault_server.api.price


async def test_refused_connection_is_a_connection_error_and_a_send_may_retry() -> None:
    # Refused means never sent: even a send is retried, then fails as a plain
    # connection error, never as "outcome unknown" (and never as a timeout).
    async with aio_client(faultserver.refused_url(), max_retries=2) as sms:
        with pytest.raises(APIConnectionError) as info:
            await sms.send_sms(PHONE, TEXT)
    assert type(info.value) is APIConnectionError


async def test_connect_timeout_is_a_timeout_and_never_an_unknown_send() -> None:
    with faultserver.unaccepting_url() as url:
        async with aio_client(url, timeout=httpx.Timeout(5.0, connect=0.2), max_retries=0) as sms:
            with pytest.raises(APITimeoutError):
                await sms.send_sms(PHONE, TEXT)


@pytest.mark.parametrize(
    "fault",
    [Reset(processed=True), ResetMidBody(keep=15)],
    ids=["reset-before-answer", "reset-mid-body"],
)
async def test_send_reset_after_it_was_received_is_unknown_and_not_replayed(
    fault_server: FaultServer, fault: Reset | ResetMidBody
) -> None:
    # aiohttp's "server disconnected" after the request was written is no proof that
    # nothing was sent: replaying it would risk a duplicate SMS.
    fault_server.script(fault, fault, fault)
    async with aio_client(fault_server.base_url, max_retries=2) as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            await sms.send_sms(PHONE, TEXT)
    assert isinstance(info.value.__cause__, APIConnectionError)
    assert fault_server.count("send_sms.php") == 1
    assert len(fault_server.api.records) == 1  # the provider did send it


async def test_missing_extra_is_a_clear_error(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    sms = aio_client(fault_server.base_url)
    with pytest.raises(ValidationError, match=r"devsms-async\[aiohttp\]") as info:
        await sms.__aenter__()
    assert info.value.field == "http_backend"


def test_trio_is_refused_with_a_clear_error(fault_server: FaultServer) -> None:
    async def scenario() -> None:
        with pytest.raises(ValidationError, match="asyncio only") as info:
            async with aio_client(fault_server.base_url):
                pass  # pragma: no cover
        assert info.value.field == "http_backend"

    trio.run(scenario)
    assert fault_server.connections == 0


def test_preferred_backend_follows_the_installed_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert preferred_backend() == "aiohttp"  # the test environment has the extra
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    assert preferred_backend() == "httpx"


def test_auto_backend_picks_what_the_loop_can_use(run: Any, backend: str) -> None:
    """``auto`` means aiohttp on asyncio (the extra is installed here), httpx on trio."""

    async def scenario() -> str | None:
        sms = AsyncDevSMS("token", http_backend="auto")
        assert sms.http_backend is None
        async with sms:
            return sms.http_backend

    expected = "aiohttp" if backend == "asyncio" else "httpx"
    assert run(scenario) == expected


async def test_transport_or_client_of_yours_is_reported_as_custom() -> None:
    async with AsyncDevSMS("token", transport=httpx.MockTransport(print)) as sms:
        assert sms.http_backend == "custom"
    async with httpx.AsyncClient() as http, AsyncDevSMS("token", http_client=http) as sms:
        assert sms.http_backend == "custom"
