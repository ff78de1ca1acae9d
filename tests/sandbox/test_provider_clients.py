"""The provider's own client code works against the sandbox unchanged.

The cURL commands and the PHP example are cut out of the provider's original
documentation (``tests/spec/devsms-api.original-uz.txt``); only the base URL
``https://devsms.uz/api`` and the token placeholder are replaced. They run against the
sandbox served over real HTTP on 127.0.0.1, and their printed answers and the
sandbox's state are checked.

Needs ``curl`` and ``php`` with the curl extension (Debian: ``apt-get install php-cli
php-curl curl``); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from devsms_async.testing import ManualClock, Sandbox, serve_sandbox
from support import SPEC_DIR

SPEC = (SPEC_DIR / "devsms-api.original-uz.txt").read_text(encoding="utf-8")
BASE_URL = "https://devsms.uz/api"
TOKEN = "provider-T0KEN"
BALANCE = 5_000
PRICE = 50  # the spec's price of one Uzbek part


def curl_commands() -> list[str]:
    """The shell commands of the spec's "cURL Misollari" section, as written."""
    section = SPEC.split("cURL Misollari", 1)[1].split("Kod Namunalari", 1)[0]
    commands: list[str] = []
    current: list[str] = []
    for line in section.splitlines():
        if not current and not line.startswith("curl "):
            continue
        current.append(line)
        text = "\n".join(current)
        if not line.endswith("\\") and text.count("'") % 2 == 0:
            commands.append(text)
            current = []
    return commands


def php_example() -> str:
    start = SPEC.index("<?php")
    return SPEC[start : SPEC.index("?>", start) + 2]


def substitute(code: str, placeholder: str, base_url: str) -> str:
    assert BASE_URL in code
    assert placeholder in code
    return code.replace(BASE_URL, base_url).replace(placeholder, TOKEN)


def print_r_arrays(output: str) -> list[dict[str, str]]:
    """The leaves of each top-level ``print_r`` array: ``{"key": "value"}``."""
    arrays = re.split(r"^Array\n\(\n", output, flags=re.MULTILINE)[1:]
    return [
        dict(re.findall(r"^\s*\[(\w+)\] => (?!Array$)(.*)$", block, flags=re.MULTILINE))
        for block in arrays
    ]


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install php-cli php-curl curl)")


def test_the_spec_has_two_curl_commands_and_a_php_example() -> None:
    commands = curl_commands()
    assert [c.split()[3].rsplit("/", 1)[1] for c in commands] == [
        "send_sms.php",
        "get_balance.php",
    ]
    assert "function sendSMS" in php_example()
    assert "function getBalance" in php_example()


async def test_the_spec_curl_commands() -> None:
    require("curl")
    sandbox = Sandbox(TOKEN, balance=BALANCE, clock=ManualClock(), money="documented")
    async with serve_sandbox(sandbox) as server:
        answers: list[Any] = []
        for command in curl_commands():
            script = substitute(command, "your_token", server.base_url)
            result = await anyio.run_process(["sh", "-c", script], check=False)
            assert result.returncode == 0, result.stderr.decode()
            answers.append(json.loads(result.stdout))
    sent, balance = answers
    assert sent["success"] is True
    assert sent["message"] == "SMS muvaffaqiyatli yuborildi"
    assert sent["data"]["status"] == "sent"
    assert (sent["data"]["parts_count"], sent["data"]["total_cost"]) == (1, PRICE)
    assert sent["data"]["balance"] == BALANCE - PRICE
    assert balance["data"]["balance"] == BALANCE - PRICE
    assert balance["data"]["statistics"]["total_sms"] == 1
    assert balance["data"]["statistics"]["total_spent"] == PRICE
    [message] = sandbox.messages
    assert (message.sms_id, message.phone, message.text) == (
        sent["data"]["sms_id"],
        "998901234567",
        "Test SMS",
    )
    assert [r.headers["user-agent"].split("/")[0] for r in sandbox.requests] == ["curl", "curl"]


async def test_the_spec_php_client(tmp_path: Path) -> None:
    require("php")
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True, check=False).stdout
    if "curl" not in modules.split():
        pytest.skip("php has no curl extension (Debian: apt-get install php-curl)")
    sandbox = Sandbox(TOKEN, balance=BALANCE, clock=ManualClock(), money="documented")
    async with serve_sandbox(sandbox) as server:
        script = tmp_path / "devsms.php"
        script.write_text(substitute(php_example(), "your_api_token_here", server.base_url))
        result = await anyio.run_process(["php", str(script)], check=False)
    assert result.returncode == 0, result.stderr.decode()
    output = result.stdout.decode()
    assert "Warning" not in output
    assert "Notice" not in output
    sent, balance = print_r_arrays(output)
    assert sent == {
        "success": "1",
        "message": "SMS muvaffaqiyatli yuborildi",
        "sms_id": "1",
        "request_id": sandbox.messages[0].request_id,
        "status": "sent",
        "parts_count": "1",
        "total_cost": str(PRICE),
        "balance": str(BALANCE - PRICE),
        "type": "eskiz",
    }
    assert balance == {
        "success": "1",
        "balance": str(BALANCE - PRICE),
        "sms_price": str(PRICE),
        "total_sms": "1",
        "total_spent": str(PRICE),
        "today_sms": "1",
        "today_spent": str(PRICE),
        "month_sms": "1",
        "month_spent": str(PRICE),
    }
    [message] = sandbox.messages
    assert (message.phone, message.text, message.status) == ("998901234567", "Salom!", "sent")
    assert [(r.method, r.endpoint, r.status) for r in sandbox.requests] == [
        ("POST", "send_sms.php", 200),
        ("GET", "get_balance.php", 200),
    ]
