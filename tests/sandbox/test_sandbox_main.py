"""The sandbox's HTTP server: ``python -m devsms_async.testing`` (the same command as
``devsms sandbox serve``), and its edges.

The process tests start the real command on port 0, read the URL it prints, talk to
it with the SDK, and stop it with Ctrl-C (SIGINT) as a person would.
"""

from __future__ import annotations

import json
import logging
import sys

import anyio
import pytest

from devsms_async import AsyncDevSMS, AuthenticationError, ServerError
from devsms_async.testing import DEFAULT_TOKEN, Sandbox, SandboxServer, serve_sandbox
from support.served import exchange, served_sandbox

PHONE = "998901234567"


# -- python -m devsms_async.testing ----------------------------------------------------------

on_posix = pytest.mark.skipif(sys.platform == "win32", reason="stopped with SIGINT")


@on_posix
def test_serves_the_given_account_and_logs_each_request_with_v() -> None:
    args = ["--token", "T0k", "--balance", "777", "--sms-price", "60", "--advance-every", "0.05"]
    with served_sandbox(*args, "-v") as server:

        async def use() -> str:
            async with AsyncDevSMS("T0k", base_url=server.base_url) as sms:
                balance = await sms.get_balance()
                assert (balance.balance, balance.sms_price) == (777, 60)
                sent = await sms.send_sms(PHONE, "Salom")
                assert sent.balance == 717
                # --advance-every moves the status on by itself.
                final = await sms.wait_for_status(
                    sent.sms_id, timeout=10, poll_initial=0.02, poll_max=0.05
                )
                return final.status.value

        assert anyio.run(use) == "delivered"

    assert server.proc.returncode == 0  # Ctrl-C is the normal way to stop it
    assert "Traceback" not in server.err
    # "HH:MM:SS METHOD TARGET STATUS N.N ms", one line per API request.
    log = [line.split(" ", 1)[1].rsplit(" ", 2)[0] for line in server.err.splitlines()[:-1]]
    assert "GET /api/get_balance.php 200" in log
    assert "POST /api/send_sms.php 200" in log
    assert all(line.endswith(" ms") for line in server.err.splitlines()[:-1])
    assert server.err.splitlines()[-1] == "sandbox stopped"
    assert PHONE not in server.err
    assert "T0k" not in server.out  # a token the user chose is not echoed
    assert "<your --token>" in server.out


@on_posix
def test_without_v_there_is_no_request_log_and_the_default_token_is_printed() -> None:
    with served_sandbox() as server:

        async def use(token: str) -> int:
            async with AsyncDevSMS(token, base_url=server.base_url, max_retries=0) as sms:
                return (await sms.get_balance()).balance

        assert anyio.run(use, DEFAULT_TOKEN) == 100_000
        with pytest.raises(AuthenticationError):
            anyio.run(use, "another-token")

    assert server.proc.returncode == 0
    assert server.err == "sandbox stopped\n"
    port = server.base_url.split(":")[2].split("/")[0]
    assert server.out.splitlines() == [
        f"inbox: http://127.0.0.1:{port}/ (numbers masked; --show-numbers shows them)",
        f"token: {DEFAULT_TOKEN}",
        f"try:   devsms --base-url {server.base_url} --token {DEFAULT_TOKEN} balance",
        "statuses move one step every 2 s; Ctrl-C stops.",
    ]


@on_posix
def test_quiet_is_deprecated_and_changes_nothing() -> None:
    with served_sandbox("--quiet", "--advance-every", "0", "--no-inbox") as server:
        pass
    assert server.proc.returncode == 0
    assert server.err.splitlines() == [
        "warning: --quiet is deprecated and does nothing: the request log is off unless -v "
        "is given",
        "sandbox stopped",
    ]
    assert "inbox:" not in server.out
    assert "statuses move only when told" in server.out


# -- the server's edges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/api"),
        ("0.0.0.0", "http://127.0.0.1:8080/api"),  # a wildcard is not an address to connect to
        ("", "http://127.0.0.1:8080/api"),
        ("::", "http://[::1]:8080/api"),
        ("::1", "http://[::1]:8080/api"),
        ("localhost", "http://localhost:8080/api"),
    ],
)
def test_base_url_is_one_a_client_can_connect_to(host: str, url: str) -> None:
    server = SandboxServer(Sandbox(), host, 8080)
    assert server.base_url == url
    assert repr(server) == f"<SandboxServer {url}>"


def balance_request(port: int) -> bytes:
    return (
        f"GET /api/get_balance.php HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Authorization: Bearer T\r\nConnection: close\r\n\r\n"
    ).encode()


async def test_any_status_a_test_asks_for_is_served() -> None:
    box = Sandbox("T")
    box.fail_next(599, error="Nimadir buzildi", times=2)
    async with serve_sandbox(box) as server:
        answer = await exchange(server.port, balance_request(server.port))
        async with server.client(max_retries=0) as sms:
            with pytest.raises(ServerError) as caught:
                await sms.get_balance()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 599 \r\n")  # no reason phrase for an unregistered code
    assert json.loads(body) == {"success": False, "error": "Nimadir buzildi"}
    assert caught.value.status_code == 599


async def test_a_bug_in_the_sandbox_is_a_500_answer_and_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    box = Sandbox("T")

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(box, "_handle", broken)
    with caplog.at_level(logging.ERROR, logger="devsms_async.testing"):
        async with serve_sandbox(box) as server:
            answer = await exchange(server.port, balance_request(server.port))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert json.loads(body)["success"] is False
    [record] = caplog.records
    assert record.getMessage() == "the sandbox failed on a request"
    assert record.exc_info is not None
    assert "a bug" in str(record.exc_info[1])
