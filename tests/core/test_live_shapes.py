"""The live service's shapes (money as decimal strings, confirmed sends with odd fields)
parse into the same typed results as the documented ones: respx, a real socket (the
fault server), the served sandbox in both flavours, bulk and the CLI (a subprocess).
"""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from devsms_async import (
    AsyncDevSMS,
    MalformedResponseError,
    SendOutcomeUnknownError,
    SmsStatus,
    ValidationError,
)
from devsms_async._confirm import prove_send
from devsms_async._validation import normalize_phone
from devsms_async.bulk import BulkOutcome
from devsms_async.testing import Sandbox, serve_sandbox
from support import TOKEN, spec_json_examples
from support.faultserver import FaultServer, Received, Reply

BASE = "https://devsms.uz/api"
UZ = "998901234567"
SEND_DOC = next(e for e in spec_json_examples() if e.get("data", {}).get("sms_id") == 123)
BALANCE_DOC = next(e for e in spec_json_examples() if "statistics" in e.get("data", {}))
HISTORY_DOC = next(e for e in spec_json_examples() if "history" in e.get("data", {}))

LIVE_SEND = {
    "success": True,
    "message": "SMS muvaffaqiyatli yuborildi",
    "data": {
        "sms_id": 123,
        "request_id": "uuid-here",
        "status": "sent",
        "parts_count": 4,
        "total_cost": "200.00",
        "balance": "400.00",
        "type": "eskiz",
    },
}


# -- money ------------------------------------------------------------------------------


async def test_a_live_send_answer_is_a_send_result(api: respx.MockRouter) -> None:
    api.post("/send_sms.php").respond(200, json=LIVE_SEND)
    async with AsyncDevSMS(TOKEN) as sms:
        sent = await sms.send_sms(UZ, "Salom!")
    assert (sent.sms_id, sent.request_id, sent.status) == (123, "uuid-here", SmsStatus.SENT)
    assert (sent.parts_count, sent.total_cost, sent.balance) == (4, Decimal("200.00"), 400)
    assert type(sent.total_cost) is Decimal
    assert type(sent.balance) is Decimal


async def test_live_balance_and_history_money_is_decimal(api: respx.MockRouter) -> None:
    stats = {
        k: (f"{v}.00" if k.endswith("_spent") else str(v))
        for k, v in BALANCE_DOC["data"]["statistics"].items()
    }
    api.get("/get_balance.php").respond(
        200,
        json={
            "success": True,
            "data": {"balance": "9200.00", "sms_price": "50.00", "statistics": stats},
        },
    )
    record = {**HISTORY_DOC["data"]["history"][0], "total_cost": "50.00"}
    api.get("/get_history.php").respond(
        200, json={"success": True, "data": {**HISTORY_DOC["data"], "history": [record]}}
    )
    async with AsyncDevSMS(TOKEN) as sms:
        balance = await sms.get_balance()
        page = await sms.get_history()
    assert (balance.balance, balance.sms_price) == (Decimal("9200.00"), 50)
    documented = BALANCE_DOC["data"]["statistics"]
    assert balance.statistics.total_spent == documented["total_spent"]
    assert type(balance.statistics.total_spent) is Decimal
    assert balance.statistics.total_sms == documented["total_sms"]
    assert type(balance.statistics.total_sms) is int
    assert page.items[0].total_cost == Decimal("50.00")


@pytest.mark.parametrize("raw", [50, 50.0, "50", "50.00", " 50 ", "5E+1"])
async def test_money_reads_exactly_from_numbers_and_strings(
    api: respx.MockRouter, raw: Any
) -> None:
    api.post("/send_sms.php").respond(
        200, json={**LIVE_SEND, "data": {**LIVE_SEND["data"], "total_cost": raw}}
    )
    async with AsyncDevSMS(TOKEN) as sms:
        sent = await sms.send_sms(UZ, "Salom!")
    assert sent.total_cost == 50
    assert type(sent.total_cost) is Decimal


async def test_fractional_money_is_kept_exactly(api: respx.MockRouter) -> None:
    api.get("/get_balance.php").respond(
        200,
        content=b'{"success": true, "data": {"balance": 0.1, "sms_price": "49.99", '
        b'"statistics": {"total_sms": 0, "total_spent": 0, "today_sms": 0, "today_spent": 0, '
        b'"month_sms": 0, "month_spent": 0}}}',
    )
    async with AsyncDevSMS(TOKEN) as sms:
        balance = await sms.get_balance()
    assert balance.balance == Decimal("0.1")  # not 0.1000000000000000055511...
    assert balance.sms_price == Decimal("49.99")


@pytest.mark.parametrize(
    "raw", [b"NaN", b"Infinity", b"-Infinity", b"true", b'"abc"', b'"NaN"', b'"1_000"', b"[50]"]
)
async def test_bad_money_is_malformed_naming_the_field(api: respx.MockRouter, raw: bytes) -> None:
    body = (
        b'{"success": true, "data": {"balance": '
        + raw
        + b', "sms_price": 50, "statistics": {"total_sms": 0, "total_spent": 0, '
        b'"today_sms": 0, "today_spent": 0, "month_sms": 0, "month_spent": 0}}}'
    )
    api.get("/get_balance.php").respond(200, content=body)
    async with AsyncDevSMS(TOKEN, max_retries=0) as sms:
        with pytest.raises(MalformedResponseError, match="field 'balance'"):
            await sms.get_balance()


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("10", True), ("10.00", True), (10.0, True), ("10.5", False), (10.5, False), (True, False)],
)
async def test_counts_take_integral_strings_and_refuse_fractions(
    api: respx.MockRouter, raw: Any, ok: bool
) -> None:
    record = {**HISTORY_DOC["data"]["history"][0], "parts_count": raw}
    api.get("/get_history.php").respond(
        200, json={"success": True, "data": {**HISTORY_DOC["data"], "history": [record]}}
    )
    async with AsyncDevSMS(TOKEN) as sms:
        if ok:
            page = await sms.get_history()
            assert page.items[0].parts_count == 10
            return
        with pytest.raises(MalformedResponseError, match="field 'parts_count'"):
            await sms.get_history()


# -- a confirmed send is never unknown ------------------------------------------------


def garbage(field: str, value: Any = "n/a") -> dict[str, Any]:
    return {**LIVE_SEND, "data": {**LIVE_SEND["data"], field: value}}


async def test_a_garbage_balance_on_a_confirmed_send_is_returned(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    api.post("/send_sms.php").respond(200, json=garbage("balance", "yo'q"))
    caplog.set_level(logging.WARNING, logger="devsms_async")
    async with AsyncDevSMS(TOKEN) as sms:
        sent = await sms.send_sms(UZ, "Salom!")
    assert (sent.sms_id, sent.request_id, sent.balance) == (123, "uuid-here", None)
    assert sent.total_cost == 200  # the rest is still read
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "balance" in warnings[0].getMessage()
    assert UZ not in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("total_cost", {"amount": 200}, lambda s: s.total_cost is None),
        ("type", ["eskiz"], lambda s: s.type is None),
        ("status", ["sent"], lambda s: (s.status, s.status_raw) == (SmsStatus.UNKNOWN, None)),
        ("status", "queued_at_eskiz", lambda s: s.status_raw == "queued_at_eskiz"),
        ("sms_id", "abc", lambda s: (s.sms_id, s.request_id) == (None, "uuid-here")),
        ("request_id", None, lambda s: (s.sms_id, s.request_id) == (123, None)),
        ("parts_count", "1.5", lambda s: s.parts_count is None),
    ],
)
async def test_any_unreadable_secondary_field_keeps_the_send(
    api: respx.MockRouter, field: str, value: Any, check: Any
) -> None:
    api.post("/send_sms.php").respond(200, json=garbage(field, value))
    async with AsyncDevSMS(TOKEN) as sms:
        sent = await sms.send_sms(UZ, "Salom!")
    assert check(sent)


@pytest.mark.parametrize(
    "payload",
    [
        {"success": True, "data": {**LIVE_SEND["data"], "sms_id": None, "request_id": ""}},
        {"success": True, "data": {**LIVE_SEND["data"], "sms_id": 0, "request_id": None}},
        {"success": "true", "data": LIVE_SEND["data"]},
        {"success": True, "data": "sent"},
        {"success": True},
    ],
)
async def test_an_answer_that_proves_nothing_stays_unknown(
    api: respx.MockRouter, payload: Any
) -> None:
    api.post("/send_sms.php").respond(200, json=payload)
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(SendOutcomeUnknownError):
            await sms.send_sms(UZ, "Salom!")
    assert prove_send(payload) is None


def test_prove_send_is_pure_and_names_what_it_could_not_read() -> None:
    proven = prove_send(garbage("balance"))
    assert proven is not None
    assert proven.unreadable == ("balance",)
    assert proven.result.balance is None
    assert prove_send({"success": False, "data": LIVE_SEND["data"]}) is None
    assert prove_send(None) is None
    complete = prove_send(SEND_DOC)
    assert complete is not None
    assert complete.unreadable == ()
    source = Path(sys.modules[prove_send.__module__].__file__ or "").read_text()
    assert "httpx" not in source
    assert "import anyio" not in source


def sends_with_bad_balance(server: FaultServer) -> None:
    def answer(request: Received) -> Any:
        if request.endpoint != "send_sms.php":
            return None  # balance and the rest: the normal fake API
        status, payload = server.api.handle(request)
        payload["data"]["balance"] = "<b>Notice</b>"
        return Reply.json(status, payload)

    server.fault_for = answer


async def test_a_garbage_balance_over_a_real_socket(fault_server: FaultServer) -> None:
    sends_with_bad_balance(fault_server)
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        sent = await sms.send_sms(UZ, "Salom!")
    assert sent.balance is None
    assert sent.sms_id == 1
    assert fault_server.count("send_sms.php") == 1


async def test_a_garbage_balance_in_bulk_is_sent_not_unknown(fault_server: FaultServer) -> None:
    sends_with_bad_balance(fault_server)
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        results = await sms.send_bulk([(UZ, "Salom!"), ("998901234568", "Salom!")])
    assert [r.outcome for r in results] == [BulkOutcome.SENT, BulkOutcome.SENT]
    assert all(r.result is not None and r.result.balance is None for r in results)
    assert fault_server.count("send_sms.php") == 2


def test_a_garbage_balance_in_the_cli_journal_is_sent(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    sends_with_bad_balance(fault_server)
    data = tmp_path / "job.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        f.write("phone,message\n")
        csv.writer(f).writerows([(UZ, "Salom 1"), ("998901234568", "Salom 2")])
    args = ["--base-url", fault_server.base_url, "--token", TOKEN, "bulk", str(data)]
    result = subprocess.run(
        [sys.executable, "-m", "devsms_async.cli", *args, "--yes", "-f", "json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        input="",
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["unknown"], summary["failed"]) == (2, 0, 0)
    journal = data.with_name(data.name + ".devsms-journal.jsonl").read_text().splitlines()
    done = [json.loads(line) for line in journal[1:] if json.loads(line)["state"] == "sent"]
    assert sorted(r["sms_id"] for r in done) == [1, 2]
    assert fault_server.count("send_sms.php") == 2


# -- the sandbox, live by default and documented on request ----------------------------


async def test_the_served_sandbox_answers_like_the_live_service() -> None:
    sandbox = Sandbox(balance=10_000)
    async with serve_sandbox(sandbox) as server:
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as raw:
            sent = (await raw.post("/send_sms.php", json={"phone": UZ, "message": "Hi"})).json()
            bal = (await raw.get("/get_balance.php")).json()
            hist = (await raw.get("/get_history.php")).json()
        async with server.client() as sms:
            typed = await sms.send_sms(UZ, "Hi")
            balance = await sms.get_balance()
    assert (sent["data"]["total_cost"], sent["data"]["balance"]) == ("50.00", "9950.00")
    assert type(sent["data"]["sms_id"]) is int
    assert (bal["data"]["balance"], bal["data"]["sms_price"]) == ("9950.00", "50.00")
    assert bal["data"]["statistics"]["total_spent"] == "50.00"
    assert bal["data"]["statistics"]["total_sms"] == 1
    assert hist["data"]["history"][0]["total_cost"] == "50.00"
    assert (typed.total_cost, typed.balance) == (50, 9900)
    assert (balance.balance, balance.statistics.total_spent) == (9900, 100)


async def test_the_documented_flavour_serves_integers_and_parses_the_same() -> None:
    results = {}
    for money in ("live", "documented"):
        sandbox = Sandbox(balance=10_000, money=money)  # type: ignore[arg-type]
        async with serve_sandbox(sandbox) as server:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"Authorization": f"Bearer {sandbox.token}"}
            ) as raw:
                body = (await raw.get("/get_balance.php")).json()
            async with server.client() as sms:
                sent = await sms.send_sms(UZ, "Hi")
                results[money] = (sent.total_cost, sent.balance, (await sms.get_balance()).balance)
        if money == "documented":
            assert body["data"]["balance"] == 10_000
            assert type(body["data"]["balance"]) is int
        else:
            assert body["data"]["balance"] == "10000.00"
    assert results["live"] == results["documented"] == (50, 9950, 9950)


def test_sandbox_money_shape_is_checked() -> None:
    with pytest.raises(ValidationError, match="money"):
        Sandbox(money="float")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="balance"):
        Sandbox(balance=1.5)  # type: ignore[arg-type]
    sandbox = Sandbox(balance=Decimal("100.50"))
    assert sandbox.balance == Decimal("100.50")


def test_the_live_service_page_examples_print_what_they_say(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every ```python block of docs/live-service.md runs and prints its ``# `` lines."""
    import re

    page = Path(__file__).parents[2] / "docs" / "live-service.md"
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 4
    for block in blocks:
        exec(compile(block, str(page), "exec"), {"__name__": "__main__"})
        printed = capsys.readouterr().out.splitlines()
        expected = re.findall(r"^    # (.*)$", block, flags=re.MULTILINE)
        assert printed == expected
    # The page's phone table is the rule's: every input in it gives the result it says.
    for raw, result in re.findall(r"^\| `([^`]+)` \| `?([0-9]{7,15}|refused)", text, re.M):
        if result == "refused":
            with pytest.raises(ValidationError):
                normalize_phone(raw)
        else:
            assert normalize_phone(raw) == result


def test_devsms_sandbox_serve_exposes_the_live_switches() -> None:
    import signal

    command = [
        *(sys.executable, "-m", "devsms_async.cli", "sandbox", "serve", "--port", "0"),
        *("--token", "T0K", "--money", "documented", "--refusals-as-200"),
        *("--template", "Kod: {}", "--registered-number", UZ),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("DevSMS sandbox serving at: http://127.0.0.1:")
        base_url = first.split(": ", 1)[1].strip()
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer T0K"}) as raw:
            balance = raw.get("/get_balance.php").json()
            ok = raw.post("/send_sms.php", json={"phone": UZ, "message": "Kod: 1234"})
            free = raw.post("/send_sms.php", json={"phone": UZ, "message": "Aksiya!"})
            other = raw.post("/send_sms.php", json={"phone": "998901234568", "message": "Kod: 1"})
            wrong = raw.get("/get_balance.php", headers={"Authorization": "Bearer nope"})
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert balance["data"]["balance"] == 100_000  # documented: an integer
    assert ok.json()["data"]["total_cost"] == 50
    assert (free.status_code, free.json()["success"]) == (200, False)
    assert "модерац" in free.json()["error"]
    assert (other.status_code, other.json()["error"]) == (200, "invalid sender")
    assert (wrong.status_code, wrong.json()["error"]) == (200, "Token noto'g'ri")
    assert proc.returncode == 0
