"""Scenario 1 worker: ``send_sms`` at ``c`` requests in flight, one client per process.

Each client POSTs a send-sized JSON body to the loopback server and parses the answer,
with exactly ``--concurrency`` tasks looping until ``--requests`` are done. Printed: one
JSON line with client CPU per request (``time.process_time``, all threads) and
requests per second. The orchestrator (``run.py``) starts it pinned to CPU 1.

Clients (``--impl``):

``asyncio``       the ceiling: raw asyncio streams, hand-written HTTP/1.1, ``json.loads``
``aiohttp``       ``aiohttp.ClientSession.post`` + ``json.loads``
``httpx``         ``httpx.AsyncClient.post`` + ``.json()``, 10 connections like the SDK
``httpx-pool100`` the same with httpx's default ``Limits(100, 20)``
``httpx-aiohttp`` ``httpx.AsyncClient`` over ``httpx_aiohttp.AiohttpTransport``, 10 conns
``sdk``           ``AsyncDevSMS.send_sms`` on its default transport
``sdk-aiohttp``   ``AsyncDevSMS(http_backend="aiohttp").send_sms`` (aiohttp driven natively)
``httpx-sync``    ``httpx.Client.post`` + ``.json()`` from ``c`` threads, 10 connections
``sdk-sync``      ``DevSMS.send_sms`` from ``c`` threads (one client)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

PHONE = "998901234567"
MESSAGE = "Salom! Buyurtmangiz #12345 tayyor. Tasdiqlash kodi: 5678. DevSMS"
PAYLOAD = {"phone": PHONE, "message": MESSAGE, "type": "eskiz"}
TOKEN = "bench-token-0123456789abcdef"
POOL = 10
IMPLS = (
    "asyncio",
    "aiohttp",
    "httpx",
    "httpx-pool100",
    "httpx-aiohttp",
    "sdk",
    "sdk-aiohttp",
    "httpx-sync",
    "sdk-sync",
)
SYNC_IMPLS = ("httpx-sync", "sdk-sync")

Send = Callable[[], Awaitable[Any]]


async def raw_asyncio_client(stack: AsyncExitStack, base: str, concurrency: int) -> Send:
    """Keep-alive connections with hand-written HTTP/1.1: what the hardware allows."""
    host, port = base.removeprefix("http://").split("/", 1)[0].split(":")
    body = json.dumps(PAYLOAD).encode()
    request = (
        b"POST /api/send_sms.php HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (host.encode(), TOKEN.encode(), len(body), body)
    )
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def close_all() -> None:
        for _, writer in idle:
            writer.close()

    stack.push_async_callback(close_all)

    async def send() -> Any:
        if idle:
            reader, writer = idle.pop()
        else:
            reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        # Header names in any case: the sandbox's server (h11) sends them lower-case.
        marker = head.lower().find(b"content-length:")
        length = int(head[marker + 15 : head.find(b"\r\n", marker)])
        data = json.loads(await reader.readexactly(length))["data"]
        idle.append((reader, writer))
        return data

    return send


async def aiohttp_client(stack: AsyncExitStack, base: str, concurrency: int) -> Send:
    import aiohttp

    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    )
    url = f"{base}/send_sms.php"

    async def send() -> Any:
        async with session.post(url, json=PAYLOAD) as response:
            return json.loads(await response.read())["data"]

    return send


async def httpx_client(
    stack: AsyncExitStack,
    base: str,
    concurrency: int,
    *,
    pool: int | None = POOL,
    aio: bool = False,
) -> Send:
    import httpx

    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    if pool is None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    transport = None
    if aio:
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits)
    client = await stack.enter_async_context(
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {TOKEN}"},
            limits=limits,
            transport=transport,
        )
    )

    async def send() -> Any:
        response = await client.post("send_sms.php", json=PAYLOAD)
        return response.json()["data"]

    return send


async def sdk_client(
    stack: AsyncExitStack, base: str, concurrency: int, *, backend: str = "httpx"
) -> Send:
    from devsms_async import AsyncDevSMS

    sms = await stack.enter_async_context(
        AsyncDevSMS(TOKEN, base_url=base, http_backend=backend)  # type: ignore[arg-type]
    )

    async def send() -> Any:
        return await sms.send_sms(PHONE, MESSAGE)

    return send


async def make_client(impl: str, stack: AsyncExitStack, base: str, concurrency: int) -> Send:
    if impl == "asyncio":
        return await raw_asyncio_client(stack, base, concurrency)
    if impl == "aiohttp":
        return await aiohttp_client(stack, base, concurrency)
    if impl == "httpx":
        return await httpx_client(stack, base, concurrency)
    if impl == "httpx-pool100":
        return await httpx_client(stack, base, concurrency, pool=None)
    if impl == "httpx-aiohttp":
        return await httpx_client(stack, base, concurrency, aio=True)
    if impl == "sdk":
        return await sdk_client(stack, base, concurrency)
    if impl == "sdk-aiohttp":
        return await sdk_client(stack, base, concurrency, backend="aiohttp")
    raise SystemExit(f"unknown --impl {impl!r}; choose from {', '.join(IMPLS)}")


async def drive(send: Send, total: int, concurrency: int) -> None:
    """Keep exactly ``concurrency`` requests in flight until ``total`` are done."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def sync_client(impl: str, stack: Any, base: str) -> Callable[[], Any]:
    import httpx

    if impl == "httpx-sync":
        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        client = stack.enter_context(
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits)
        )
        return lambda: client.post("send_sms.php", json=PAYLOAD).json()["data"]
    from devsms_async import DevSMS

    sms = stack.enter_context(DevSMS(TOKEN, base_url=base))
    return lambda: sms.send_sms(PHONE, MESSAGE)


def drive_sync(send: Callable[[], Any], total: int, concurrency: int) -> None:
    """``concurrency`` threads sending until ``total`` are done."""
    import itertools
    import threading

    tickets = itertools.count()

    def worker() -> None:
        while next(tickets) < total:
            send()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure_sync(impl: str, base: str, concurrency: int, requests: int) -> dict[str, Any]:
    import contextlib

    with contextlib.ExitStack() as stack:
        send = sync_client(impl, stack, base)
        drive_sync(send, max(200, 3 * concurrency), concurrency)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        drive_sync(send, requests, concurrency)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "impl": impl,
        "concurrency": concurrency,
        "requests": requests,
        "cpu_ms_per_req": cpu / requests * 1000,
        "req_per_s": requests / wall,
    }


async def measure(impl: str, base: str, concurrency: int, requests: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        send = await make_client(impl, stack, base, concurrency)
        await drive(send, max(200, 3 * concurrency), concurrency)  # warm up: pool, caches
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await drive(send, requests, concurrency)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "impl": impl,
        "concurrency": concurrency,
        "requests": requests,
        "cpu_ms_per_req": cpu / requests * 1000,
        "req_per_s": requests / wall,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one send_sms measurement")
    parser.add_argument("--impl", required=True, choices=IMPLS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}/api"
    if args.impl in SYNC_IMPLS:
        result = measure_sync(args.impl, base, args.concurrency, args.requests)
    else:
        result = asyncio.run(measure(args.impl, base, args.concurrency, args.requests))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
