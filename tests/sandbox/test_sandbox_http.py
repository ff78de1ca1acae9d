"""The sandbox over real sockets on 127.0.0.1: the HTTP server (raw HTTP/1.1 edge cases,
the SDK over it, faults, background callbacks, the ticker, ``python -m``) and callbacks
POSTed to real receiving servers (delivered, stalled past the timeout, refused, 500)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest

from devsms_async import SendOutcomeUnknownError, parse_callback
from devsms_async.testing import (
    CallbackOutcome,
    ManualClock,
    Sandbox,
    SandboxServer,
    serve,
    serve_sandbox,
)
from devsms_async.testing._sandbox import step
from support.served import ServedProcess, exchange

UZ = "998901234567"
TOKEN = "http-token"


class Receiver:
    """A callback receiver on 127.0.0.1, written straight on anyio sockets (it shares no
    code with the sandbox's server). ``mode``: ``"ok"``, ``"stall"`` or a status code."""

    def __init__(self, mode: str | int = "ok") -> None:
        self.mode = mode
        self.received: list[dict[str, Any]] = []
        self.url = ""
        self._changed = anyio.Event()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        with anyio.fail_after(timeout):
            while len(self.received) < count:
                await self._changed.wait()

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += await stream.receive()
            self.received.append(json.loads(body))
            self._changed.set()
            self._changed = anyio.Event()
            if self.mode == "stall":
                await anyio.sleep_forever()
            status = 200 if self.mode == "ok" else int(self.mode)
            await stream.send(
                f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
            )


@asynccontextmanager
async def receiver(mode: str | int = "ok") -> AsyncIterator[Receiver]:
    recv = Receiver(mode)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    recv.url = f"http://127.0.0.1:{port}/sms/callback"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, recv._handle)
        yield recv
        tg.cancel_scope.cancel()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_answer(stream: anyio.abc.ByteStream) -> bytes:
    """One complete answer (framed by Content-Length) from a kept-alive connection."""
    data = b""
    with anyio.fail_after(5):
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                lengths = [
                    h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")
                ]
                if lengths and len(body) >= int(lengths[0].split(b":")[1]):
                    return data
            data += await stream.receive()


def auth(token: str = TOKEN) -> bytes:
    return f"Authorization: Bearer {token}\r\n".encode()


# -- the SDK over HTTP -------------------------------------------------------------------------


def host(port: int) -> bytes:
    """The ``Host`` line the server answers (127.0.0.1 on its own port)."""
    return f"Host: 127.0.0.1:{port}\r\n".encode()


def test_sdk_round_trip_over_http(run: Callable[..., Any]) -> None:
    async def scenario() -> None:
        sandbox = Sandbox(TOKEN, clock=ManualClock())
        async with serve_sandbox(sandbox) as server, server.client() as sms:
            assert server.base_url == f"http://127.0.0.1:{server.port}/api"
            sent = await sms.send_sms(UZ, "Salom!")
            assert (sent.sms_id, sent.total_cost, sent.balance) == (1, 50, 99_950)
            await sandbox.advance()
            record = await sms.get_status(request_id=sent.request_id)
            assert (record.status, record.message) == ("delivered", "Salom!")
            assert [r.id for r in (await sms.get_history()).items] == [1]
            assert (await sms.get_balance()).statistics.total_spent == 50
        assert [r.endpoint for r in sandbox.requests] == [
            "send_sms.php",
            "get_status.php",
            "get_history.php",
            "get_balance.php",
        ]

    run(scenario)


async def test_errors_over_http_are_the_same_json() -> None:
    async with serve_sandbox(Sandbox(TOKEN)) as server:
        answer = await exchange(
            server.port,
            b"GET /api/get_balance.php HTTP/1.1\r\n"
            + host(server.port)
            + b"Authorization: Bearer bad\r\nConnection: close\r\n\r\n",
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"content-type: application/json; charset=utf-8" in head.lower()
    assert json.loads(body) == {"success": False, "error": "Token noto'g'ri"}


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with (
        serve_sandbox(Sandbox(TOKEN)) as server,
        await anyio.connect_tcp("127.0.0.1", server.port) as stream,
    ):
        one = b"GET /api/get_balance.php HTTP/1.1\r\n" + host(server.port) + auth() + b"\r\n"
        answers = []
        for _ in range(3):
            await stream.send(one)
            answers.append(await read_answer(stream))
    assert all(a.startswith(b"HTTP/1.1 200 OK") for a in answers)
    assert len(server.sandbox.requests) == 3


async def test_http_1_0_chunked_and_expect_100_continue() -> None:
    body = json.dumps({"phone": UZ, "message": "Salom"}).encode()
    async with serve_sandbox(Sandbox(TOKEN)) as server:
        old = await exchange(
            server.port,
            b"GET /api/get_balance.php HTTP/1.0\r\n" + host(server.port) + auth() + b"\r\n",
        )
        chunked = await exchange(
            server.port,
            b"POST /api/send_sms.php HTTP/1.1\r\n"
            + host(server.port)
            + auth()
            + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + f"{len(body[:10]):x}\r\n".encode()
            + body[:10]
            + b"\r\n"
            + f"{len(body[10:]):x}\r\n".encode()
            + body[10:]
            + b"\r\n0\r\n\r\n",
        )
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(
                b"POST /api/send_sms.php HTTP/1.1\r\n"
                + host(server.port)
                + auth()
                + b"Expect: 100-continue\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            interim = await stream.receive()
            await stream.send(body)
            final = await read_answer(stream)
    assert old.startswith(b"HTTP/1.1 200 OK")  # h11 answers 1.0 clients in 1.1, then closes
    assert chunked.startswith(b"HTTP/1.1 200 OK")
    assert interim.startswith(b"HTTP/1.1 100 ")
    assert final.startswith(b"HTTP/1.1 200 OK")
    assert [m.sms_id for m in server.sandbox.messages] == [1, 2]


async def test_malformed_and_oversized_requests() -> None:
    async with serve_sandbox(Sandbox(TOKEN)) as server:
        garbage = await exchange(server.port, b"HELLO\r\n\r\n")
        huge = await exchange(
            server.port,
            b"POST /api/send_sms.php HTTP/1.1\r\n"
            + host(server.port)
            + auth()
            + b"Content-Length: 2000000\r\n\r\n{",
        )
        head = await exchange(
            server.port,
            b"HEAD /api/get_balance.php HTTP/1.1\r\n"
            + host(server.port)
            + auth()
            + b"Connection: close\r\n\r\n",
        )
    assert garbage.startswith(b"HTTP/1.1 400 Bad Request")
    assert json.loads(garbage.partition(b"\r\n\r\n")[2]) == {
        "success": False,
        "error": "Noto'g'ri so'rov",
    }
    assert huge.startswith(b"HTTP/1.1 413 ")
    assert server.sandbox.messages == []
    assert head.startswith(b"HTTP/1.1 405 ")
    assert head.endswith(b"\r\n\r\n")  # no body after a HEAD answer


async def test_disconnect_over_http() -> None:
    sandbox = Sandbox(TOKEN)
    async with serve_sandbox(sandbox) as server, server.client() as sms:
        sandbox.disconnect_next(after_processing=True)
        with pytest.raises(SendOutcomeUnknownError):
            await sms.send_sms(UZ, "Salom")
        sandbox.disconnect_next(path="get_balance.php")
        assert (await sms.get_balance()).balance == 100_000 - 50  # a read is retried
    assert [r.status for r in sandbox.requests] == [None, None, 200]
    assert len(sandbox.messages) == 1


# -- callbacks to real receivers --------------------------------------------------------------


def test_callbacks_reach_a_real_receiver(run: Callable[..., Any]) -> None:
    async def scenario() -> None:
        async with receiver() as recv:
            sandbox = Sandbox(clock=ManualClock())
            async with sandbox.client() as sms:
                sent = await sms.send_sms(UZ, "Salom", callback_url=recv.url)
                await sms.send_sms("998901230000", "Salom", callback_url=recv.url)
            await sandbox.advance()
        by_sms = {}
        for body in recv.received:
            by_sms.setdefault(body["sms_id"], []).append(parse_callback(body).status)
        assert by_sms == {sent.sms_id: ["sent", "delivered"], 2: ["sent", "failed"]}
        assert sorted(a.outcome for a in sandbox.callbacks) == [CallbackOutcome.DELIVERED] * 4
        assert [a.status_code for a in sandbox.callbacks] == [200] * 4

    run(scenario)


async def test_a_stalled_receiver_times_out_and_is_not_retried() -> None:
    async with receiver("stall") as recv, receiver() as fine:
        sandbox = Sandbox(callback_timeout=0.3)
        async with sandbox.client() as sms:
            await sms.send_sms(UZ, "Salom", callback_url=recv.url)
            await sms.send_sms(UZ, "Salom", callback_url=fine.url)
        attempts = await sandbox.deliver_callbacks()
        await anyio.sleep(0.1)  # a retry would have arrived by now
        assert len(recv.received) == 1
        assert len(fine.received) == 1  # one stalled receiver does not hold up the others
    slow, quick = attempts
    assert (slow.outcome, slow.status_code) == (CallbackOutcome.TIMEOUT, None)
    assert slow.error is not None
    assert "0.3" in slow.error or "Timeout" in slow.error
    assert quick.outcome is CallbackOutcome.DELIVERED


async def test_refused_and_failing_receivers_are_recorded_once() -> None:
    async with receiver(503) as failing:
        sandbox = Sandbox()
        async with sandbox.client() as sms:
            await sms.send_sms(UZ, "a", callback_url=f"http://127.0.0.1:{closed_port()}/cb")
            await sms.send_sms(UZ, "b", callback_url=failing.url)
        refused, answered = await sandbox.deliver_callbacks()
        assert len(failing.received) == 1
    assert refused.outcome is CallbackOutcome.REFUSED
    assert (answered.outcome, answered.status_code) == (CallbackOutcome.HTTP_ERROR, 503)


async def test_serve_mode_posts_callbacks_in_the_background() -> None:
    async with receiver() as recv:
        sandbox = Sandbox(TOKEN)
        async with serve_sandbox(sandbox) as server, server.client() as sms:
            await sms.send_sms(UZ, "Salom", callback_url=recv.url)
            await recv.wait_for(1)  # `sent`, without anyone calling advance()
            step(sandbox)  # what the ticker does
            await sms.get_balance()  # any request wakes the dispatcher
            await recv.wait_for(2)
            with anyio.fail_after(5):  # recorded once the receiver's answer is in
                while len(sandbox.callbacks) < 2:
                    await anyio.sleep(0.01)
    assert [body["status"] for body in recv.received] == ["sent", "delivered"]
    assert [a.outcome for a in sandbox.callbacks] == [CallbackOutcome.DELIVERED] * 2


async def test_serve_mode_ticker_advances_statuses() -> None:
    async with receiver() as recv:
        sandbox = Sandbox(TOKEN)
        async with serve_sandbox(sandbox, advance_every=0.01) as server, server.client() as sms:
            await sms.send_sms("998901231111", "Salom", callback_url=recv.url)  # pending first
            await recv.wait_for(2)
    assert [body["status"] for body in recv.received] == ["sent", "delivered"]
    assert sandbox.messages[0].status == "delivered"


async def test_serve_runs_until_cancelled_and_reports_ready() -> None:
    ready: list[SandboxServer] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve(Sandbox(TOKEN), port=0, on_ready=ready.append))
        with anyio.fail_after(5):
            while not ready:
                await anyio.sleep(0.01)
        async with ready[0].client() as sms:
            assert (await sms.get_balance()).balance == 100_000
        tg.cancel_scope.cancel()


def test_an_error_in_the_block_comes_out_as_itself(run: Callable[..., Any]) -> None:
    async def scenario() -> None:
        with pytest.raises(KeyError, match="mine"):
            async with serve_sandbox():
                raise KeyError("mine")

    run(scenario)


async def test_serve_sandbox_checks_advance_every() -> None:
    with pytest.raises(ValueError, match="advance_every"):
        async with serve_sandbox(advance_every=0):
            pass


def test_python_dash_m_serves_over_http(sandbox_process: Callable[..., ServedProcess]) -> None:
    served = sandbox_process("--token", "cli-T0ken", "--balance", "1000")

    async def check() -> None:
        from devsms_async import AsyncDevSMS

        async with AsyncDevSMS("cli-T0ken", base_url=served.base_url) as sms:
            sent = await sms.send_sms(UZ, "Salom")
            assert (sent.balance, (await sms.get_balance()).balance) == (950, 950)

    anyio.run(check)
