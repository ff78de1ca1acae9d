"""Ctrl-C during ``devsms send``/``otp`` once the request left: the same "may have gone
out; check" warning as an unknown outcome, never a bare "interrupted". A real
subprocess sent SIGINT while a real server on 127.0.0.1 holds its answer back."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from support.cli import CLI, PHONE, env
from support.faultserver import FaultServer, Stall

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child")

TOKEN = "interrupt-test-token"


def _interrupt_in_flight(*command: str) -> tuple[int, str, str]:
    with FaultServer(token=TOKEN) as server:
        server.script(Stall(seconds=30, processed=True))
        proc = subprocess.Popen(
            [*CLI, "--base-url", server.base_url, "--token", TOKEN, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        deadline = time.monotonic() + 30
        while server.count("send_sms.php") == 0:  # the request has reached the server
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


@pytest.mark.parametrize(
    "command",
    [
        ("send", PHONE, "Salom"),
        ("otp", PHONE, "--code", "1234", "--service-name", "TechShop"),
    ],
)
def test_ctrl_c_after_the_request_left_warns_that_it_may_have_gone_out(
    command: tuple[str, ...],
) -> None:
    code, _out, err = _interrupt_in_flight(*command)
    assert code == 130
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("error: interrupted")
    assert "may have gone out" in line
    assert "devsms history" in line
    assert "before sending again" in line
    assert "nothing was sent" not in line
