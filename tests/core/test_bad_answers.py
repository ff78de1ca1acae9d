"""Bad answers over a real socket: each becomes a typed error with the status and a
short, redacted snippet; no KeyError, TypeError or JSONDecodeError gets out. A send
that got an answer it cannot read is an unknown outcome, not a failure.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devsms_async import (
    AsyncDevSMS,
    BadRequestError,
    DevSMSError,
    MalformedResponseError,
    SendOutcomeUnknownError,
    ServerError,
)
from devsms_async._redact import SNIPPET_CHARS
from support import TOKEN, spec_json_examples
from support.faultserver import FaultServer, Reply

PHONE = "998901234567"
SEND_DATA = next(e for e in spec_json_examples() if e.get("data", {}).get("sms_id") == 123)["data"]
STATUS_DATA = next(e for e in spec_json_examples() if "updated_at" in e.get("data", {}))["data"]
HISTORY_DATA = next(e for e in spec_json_examples() if "history" in e.get("data", {}))["data"]


def ok(data: Any) -> bytes:
    return json.dumps({"success": True, "data": data}).encode()


PHP_NOTICE = (
    b"<br />\n<b>Notice</b>:  Undefined index: from in <b>/var/www/api/send_sms.php</b>"
    b" on line <b>42</b><br />\n"
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad"
    b" Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)


def bad_bodies(data: dict[str, Any], model: str) -> list[Any]:
    """Answers with HTTP 200 that are not what the spec promises, for a model's data."""
    first = next(iter(data))
    cases = [
        ("empty body", b"", "not JSON"),
        ("HTML page", b"<!DOCTYPE html><html><body>Maintenance</body></html>", "not JSON"),
        ("PHP notice before the JSON", PHP_NOTICE + ok(data), "not JSON"),
        ("truncated JSON", ok(data)[:57], "not JSON"),
        ("JSON array", b"[1, 2, 3]", "got a JSON list"),
        ("JSON string", b'"ok"', "got a JSON str"),
        ("JSON null", b"null", "got a JSON NoneType"),
        ("no success flag", json.dumps({"data": data}).encode(), "no 'success'"),
        ("data missing", b'{"success": true}', "'data' is missing"),
        ("data null", b'{"success": true, "data": null}', "'data' is missing"),
        ("data a list", b'{"success": true, "data": []}', "'data' is a JSON list"),
        ("a field missing", ok({k: v for k, v in data.items() if k != first}), repr(first)),
        ("an int field holds a list", ok({**data, first: [1]}), "expected an integer"),
        ("a str field holds an object", ok({**data, "status": {"a": 1}}), "status"),
        ("a number too long", ok({**data, first: "9" * 5000}), model),
        ("invalid UTF-8", b'{"success": true, "data": {"id": "\xff\xfe"}}', "not JSON"),
        ("nesting too deep", b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ]
    return [pytest.param(body, fragment, id=name) for name, body, fragment in cases]


def client(server: FaultServer, **options: Any) -> AsyncDevSMS:
    return AsyncDevSMS(TOKEN, base_url=server.base_url, max_retries=0, **options)


def check_snippet(error: DevSMSError, snippet: str) -> None:
    assert len(snippet) <= SNIPPET_CHARS + 1
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert len(str(error)) < 1000


@pytest.mark.parametrize(("body", "fragment"), bad_bodies(STATUS_DATA, "SmsRecord"))
async def test_bad_200_on_a_read(fault_server: FaultServer, body: bytes, fragment: str) -> None:
    fault_server.script(Reply(200, body))
    async with client(fault_server) as sms:
        with pytest.raises(MalformedResponseError) as info:
            await sms.get_status(sms_id=123)
    error = info.value
    assert error.status_code == 200
    assert fragment in str(error)
    check_snippet(error, error.body_snippet)
    if body.strip():
        assert error.body_snippet  # something to look at


# Damage to sms_id (request_id intact) or status leaves a send that the answer still
# proves: it is returned, not unknown (tests/core/test_live_shapes.py checks those).
_PROVEN = {
    "a field missing",
    "an int field holds a list",
    "a str field holds an object",
    "a number too long",
}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [p for p in bad_bodies(SEND_DATA, "SendResult") if p.id not in _PROVEN],
)
async def test_bad_200_on_a_send_is_an_unknown_outcome(
    fault_server: FaultServer, body: bytes, fragment: str
) -> None:
    fault_server.script(Reply(200, body))
    async with client(fault_server) as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            await sms.send_sms(PHONE, "Salom!")
    error = info.value
    assert error.status_code == 200
    assert isinstance(error.__cause__, MalformedResponseError)
    assert fragment in str(error.__cause__)
    assert fault_server.count("send_sms.php") == 1


async def test_history_with_a_bad_record_names_the_problem(fault_server: FaultServer) -> None:
    page = {**HISTORY_DATA, "history": [{**HISTORY_DATA["history"][0], "parts_count": "two"}]}
    fault_server.script(Reply(200, ok(page)))
    async with client(fault_server) as sms:
        with pytest.raises(MalformedResponseError, match="expected an integer"):
            await sms.get_history()


async def test_history_that_is_not_a_list(fault_server: FaultServer) -> None:
    fault_server.script(Reply(200, ok({**HISTORY_DATA, "history": "none"})))
    async with client(fault_server) as sms:
        with pytest.raises(MalformedResponseError, match="HistoryPage"):
            await sms.get_history()


async def test_success_false_with_200_is_a_definite_refusal(fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(200, {"success": False, "error": "Balans yetarli emas"}))
    async with client(fault_server) as sms:
        with pytest.raises(BadRequestError) as info:
            await sms.send_sms(PHONE, "Salom!")
    assert info.value.status_code == 200
    assert info.value.error == "Balans yetarli emas"
    assert not fault_server.api.records


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_html_error_page(fault_server: FaultServer, status: int) -> None:
    fault_server.script(Reply(status, HTML_502, (("Content-Type", "text/html"),)))
    async with client(fault_server) as sms:
        with pytest.raises(ServerError) as info:
            await sms.get_balance()
    error = info.value
    assert error.status_code == status
    assert error.error is None  # no server text to show
    assert error.body_snippet.startswith("<html> <head><title>502 Bad Gateway")
    check_snippet(error, error.body_snippet)


async def test_php_notice_before_an_error(fault_server: FaultServer) -> None:
    body = PHP_NOTICE + json.dumps({"success": False, "error": "Xato"}).encode()
    fault_server.script(Reply(400, body))
    async with client(fault_server) as sms:
        with pytest.raises(BadRequestError) as info:
            await sms.get_balance()
    assert info.value.status_code == 400
    assert "Notice" in info.value.body_snippet


async def test_error_text_with_a_lone_surrogate(fault_server: FaultServer) -> None:
    fault_server.script(Reply(400, b'{"success": false, "error": "bad \\ud800 text"}'))
    async with client(fault_server) as sms:
        with pytest.raises(BadRequestError) as info:
            await sms.get_balance()
    assert info.value.error is not None
    assert info.value.error.startswith("bad ")


@pytest.mark.parametrize("status", [200, 400, 502])
async def test_huge_bodies_stay_out_of_messages(fault_server: FaultServer, status: int) -> None:
    # Chunked (no Content-Length), so the client has to read it to know.
    chunk = b"A" * 65536
    size = 5 * 1024 * 1024
    body = b"".join(
        f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(size // len(chunk))
    )
    fault_server.script(Reply(status, body + b"0\r\n\r\n", (("Transfer-Encoding", "chunked"),)))
    async with client(fault_server) as sms:
        with pytest.raises(DevSMSError) as info:
            await sms.get_balance()
    error = info.value
    snippet = getattr(error, "body_snippet", "")
    assert snippet.startswith("AAAA")  # chunked: read, then cut
    check_snippet(error, snippet)
    if status == 200:
        assert isinstance(error, MalformedResponseError)
        assert "larger than" in str(error)


async def test_announced_huge_body_is_not_read(fault_server: FaultServer) -> None:
    fault_server.script(Reply(200, b"B" * (5 * 1024 * 1024)))
    async with client(fault_server) as sms:
        with pytest.raises(MalformedResponseError) as info:
            await sms.get_balance()
    assert "larger than" in str(info.value)
    assert info.value.body_snippet == "<5,242,880 bytes, not read>"


async def test_secrets_in_an_echoed_body_are_redacted(fault_server: FaultServer) -> None:
    body = json.dumps(
        {"success": False, "error": f"Bearer {TOKEN} rad etildi", "phone": PHONE}
    ).encode()
    fault_server.script(Reply(401, body))
    async with client(fault_server) as sms:
        with pytest.raises(DevSMSError) as info:
            await sms.get_balance()
    text = str(info.value) + repr(info.value) + str(vars(info.value))
    assert TOKEN not in text
    assert PHONE not in text
    assert "99890***4567" in text
