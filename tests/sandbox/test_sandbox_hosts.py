"""The served sandbox answers only requests addressed to it (the ``Host`` header): a web
page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) reads nothing, from
the fake API or the inbox. Raw requests over a real socket, and the SDK's own clients and
the CLI against a real ``devsms sandbox serve`` process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from devsms_async import AsyncDevSMS, DevSMS, ValidationError
from devsms_async.testing import DEFAULT_TOKEN, Sandbox, serve_sandbox
from support.served import SERVE, ServedProcess, exchange

UZ = "998901234567"
OTP = "482913"
CLI = [sys.executable, "-m", "devsms_async.cli"]


async def raw(port: int, head: str) -> tuple[int, bytes]:
    """One raw request (``head`` without the final blank line); status and body."""
    request = head.replace("\n", "\r\n").encode("latin-1") + b"Connection: close\r\n\r\n"
    answer = await exchange(port, request)
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def history(host_line: str, version: str = "1.1") -> str:
    return (
        f"GET /api/get_history.php HTTP/{version}\n{host_line}"
        f"Authorization: Bearer {DEFAULT_TOKEN}\n"
    )


async def sent_otp(server: Any) -> None:
    async with server.client() as sms:
        await sms.send_otp(UZ, template=1, service_name="MyShop", otp_code=OTP)


@pytest.mark.parametrize(
    "host_line",
    [
        "Host: evil.example\n",
        "Host: evil.example:{port}\n",  # the rebinding page on the sandbox's own port
        "Host: 127.0.0.1:{other}\n",  # a loopback name, another port
        "Host: localhost\n",  # no port: 80
        "Host: [::1]:{other}\n",
        "Host: 10.0.0.5:{port}\n",
        "Host: 127.0.0.1:{port}\nHost: evil.example\n",  # two of them
        "Host: \xe9vil\x85:{port}\n",  # latin-1 bytes, C1 control
    ],
)
async def test_the_api_refuses_a_host_it_does_not_serve(host_line: str) -> None:
    sandbox = Sandbox()  # the default token, which the command prints
    async with serve_sandbox(sandbox) as server:
        await sent_otp(server)
        line = host_line.format(port=server.port, other=server.port + 1)
        status, body = await raw(server.port, history(line))
        recorded = len(sandbox.requests)

    assert status in (400, 403)  # h11 itself refuses some (400); ours are 403
    assert UZ.encode() not in body
    assert OTP.encode() not in body
    assert recorded == 1  # the refused request never reached the fake API
    if status == 403:
        error = json.loads(body)["error"]
        assert f"127.0.0.1:{server.port}, localhost:{server.port}, [::1]:{server.port}" in error
        assert "--allow-host" in error
        assert "\x85" not in error


async def test_a_request_without_host_is_refused() -> None:
    async with serve_sandbox(Sandbox()) as server:
        await sent_otp(server)
        http10 = await raw(server.port, history("", version="1.0"))
        http11 = await raw(server.port, history("", version="1.1"))
    assert http10[0] == 403
    assert "without a Host header" in json.loads(http10[1])["error"]
    assert http11[0] == 400  # HTTP/1.1 requires Host: h11 refuses it before we look
    for _, body in (http10, http11):
        assert UZ.encode() not in body
        assert OTP.encode() not in body


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost.:{port}", "[::1]:{port}"]
)
async def test_loopback_names_on_the_bound_port_are_answered(host: str) -> None:
    async with serve_sandbox(Sandbox()) as server:
        await sent_otp(server)
        status, body = await raw(server.port, history(f"Host: {host.format(port=server.port)}\n"))
    assert status == 200
    assert json.loads(body)["data"]["history"][0]["phone_number"] == UZ
    assert OTP.encode() in body  # what a rebinding page must not read


async def test_the_inbox_makes_the_same_check() -> None:
    async with serve_sandbox(Sandbox(), inbox=True) as server:
        await sent_otp(server)
        refused = [
            await raw(server.port, f"GET /inbox/api/state HTTP/1.1\nHost: {host}\n")
            for host in ("evil.example", f"127.0.0.1:{server.port + 1}", f"evil:{server.port}")
        ]
        allowed = await raw(
            server.port, f"GET /inbox/api/state HTTP/1.1\nHost: localhost:{server.port}\n"
        )
    for status, body in refused:
        assert status == 403
        assert OTP.encode() not in body
        assert f"localhost:{server.port}" in json.loads(body)["error"]
    assert allowed[0] == 200
    assert OTP.encode() in allowed[1]  # the inbox shows OTP codes: why it must check


async def test_a_refused_request_uses_up_no_armed_fault() -> None:
    sandbox = Sandbox()
    sandbox.fail_next(503)
    async with serve_sandbox(sandbox) as server:
        refused = await raw(server.port, history("Host: evil.example\n"))
        served = await raw(server.port, history(f"Host: 127.0.0.1:{server.port}\n"))
    assert (refused[0], served[0]) == (403, 503)


async def test_allowed_hosts_add_names_and_ports() -> None:
    async with serve_sandbox(
        Sandbox(), inbox=True, allowed_hosts=["sandbox", "Proxy.Test:9000"]
    ) as server:
        port = server.port
        cases = {
            f"sandbox:{port}": 200,
            "sandbox:9000": 403,  # a name without a port: the bound port only
            "proxy.test:9000": 200,
            f"proxy.test:{port}": 403,
            f"evil.example:{port}": 403,
        }
        seen = {host: (await raw(port, history(f"Host: {host}\n")))[0] for host in cases}
        inbox = (await raw(port, f"GET /inbox/api/state HTTP/1.1\nHost: sandbox:{port}\n"))[0]
        refused = (await raw(port, history("Host: evil.example\n")))[1]
    assert seen == cases
    assert inbox == 200
    assert f"sandbox:{port}, proxy.test:9000" in json.loads(refused)["error"]


async def test_a_star_answers_any_host() -> None:
    async with serve_sandbox(Sandbox(), allowed_hosts=["*"]) as server:
        assert (await raw(server.port, history("Host: anything.example\n")))[0] == 200


async def test_a_bound_address_is_answered_by_its_own_ip() -> None:
    # An IP address in Host cannot be rebound; the --host address is the one users type.
    async with (
        serve_sandbox(Sandbox(), host="127.0.0.2") as server,
        await anyio.connect_tcp("127.0.0.2", server.port) as stream,
    ):
        await stream.send(
            f"GET /api/get_balance.php HTTP/1.1\r\nHost: 127.0.0.2:{server.port}\r\n"
            f"Authorization: Bearer {DEFAULT_TOKEN}\r\nConnection: close\r\n\r\n".encode()
        )
        with anyio.fail_after(5):
            first = await stream.receive()
    assert first.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("value", ["", "a b", "evil.example:99999", "[zz]:1", "x:", 5])
async def test_a_bad_allowed_host_is_refused_before_binding(value: Any) -> None:
    with pytest.raises(ValidationError, match="allowed_hosts"):
        async with serve_sandbox(Sandbox(), allowed_hosts=[value]):
            pass  # pragma: no cover


def test_the_sdk_s_async_clients_still_work_over_http(run: Callable[..., Any]) -> None:
    async def scenario(backend: str) -> None:
        async with serve_sandbox(Sandbox()) as server, server.client(http_backend=backend) as sms:
            sent = await sms.send_sms(UZ, "Salom!")
            assert (await sms.get_status(sms_id=sent.sms_id)).id == sent.sms_id
            assert (await sms.get_history()).count == 1

    run(scenario, "httpx")


async def test_the_aiohttp_client_still_works_over_http() -> None:
    pytest.importorskip("aiohttp")
    async with (
        serve_sandbox(Sandbox()) as server,
        AsyncDevSMS(DEFAULT_TOKEN, base_url=server.base_url, http_backend="aiohttp") as sms,
    ):
        await sms.send_sms(UZ, "Salom!")
        assert (await sms.get_balance()).balance < 100_000


# -- the command, as a process ---------------------------------------------------------------


def test_the_sync_client_and_the_cli_work_against_the_served_sandbox(
    sandbox_process: Callable[..., ServedProcess],
) -> None:
    served = sandbox_process("--advance-every", "0", "--allow-host", "sandbox")
    base_url, port = served.base_url, served.port
    with DevSMS(DEFAULT_TOKEN, base_url=base_url) as sms:
        sms.send_sms(UZ, "Salom!")
        assert sms.get_history().count == 1
    cli = subprocess.run(
        [*CLI, "--base-url", base_url, "--token", DEFAULT_TOKEN, "balance"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "99 950" in cli.stdout

    async def by_name() -> list[int]:
        return [
            (await raw(port, history(f"Host: {host}:{port}\n")))[0]
            for host in ("sandbox", "evil.example")
        ]

    assert anyio.run(by_name) == [200, 403]


def test_a_bad_allow_host_is_a_usage_error() -> None:
    done = subprocess.run(
        [*SERVE, "--port", "0", "--allow-host", "a b"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--allow-host: must be a host name" in done.stderr


@pytest.mark.parametrize("host", ["[::1", "[::1]x", "[::1]:", "[nope]:{port}", "a..b:{port}"])
async def test_a_malformed_host_is_refused(host: str) -> None:
    async with serve_sandbox(Sandbox()) as server:
        status, body = await raw(server.port, history(f"Host: {host.format(port=server.port)}\n"))
    assert status in (400, 403)
    assert b"history" not in body


async def test_one_allowed_host_may_be_given_as_a_string() -> None:
    async with serve_sandbox(Sandbox(), allowed_hosts="sandbox") as server:
        status, _ = await raw(server.port, history(f"Host: sandbox:{server.port}\n"))
        refused = await raw(server.port, history(f"Host: s:{server.port}\n"))
    assert status == 200
    assert f"sandbox:{server.port}" in json.loads(refused[1])["error"]


def test_the_bound_address_and_a_star_are_named_in_the_check() -> None:
    # A non-loopback bind cannot be made on every machine: the check itself, directly.
    from devsms_async.testing._hosts import AllowedHosts

    lan = AllowedHosts(port=8000, bound="192.168.1.5")
    assert lan.allows("192.168.1.5:8000")
    assert not lan.allows("192.168.1.5:8001")
    assert "192.168.1.5:8000" in lan.refusal("x")
    wildcard = AllowedHosts(port=8000, bound="0.0.0.0")
    assert not wildcard.allows("0.0.0.0:8000")
    anything = AllowedHosts(["*"], port=8000)
    assert anything.allows(None)
    assert anything.names() == ["*"]
