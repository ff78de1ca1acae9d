"""What is particular to the sync face ``DevSMS`` (the shared behaviour is in
tests/client/test_faces.py): its seams, its options, its own wait and iterator."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from devsms_async import DevSMS, UsageError, ValidationError
from devsms_async.pagination import HistoryIterator
from devsms_async.testing import Sandbox
from support import TOKEN, spec_json_examples

BASE = "https://devsms.uz/api"
STATUS_OK = next(e for e in spec_json_examples() if "updated_at" in e.get("data", {}))
SEND_OK = next(e for e in spec_json_examples() if e.get("data", {}).get("sms_id") == 123)


def test_request_shape_and_per_call_timeout(api: respx.MockRouter) -> None:
    send = api.post("/send_sms.php").respond(200, json=SEND_OK)
    status = api.get("/get_status.php").respond(200, json=STATUS_OK)
    with DevSMS(TOKEN, timeout=7, sender="Shop") as sms:
        sms.send_sms("+998 90 123 45 67", "Salom!")
        sms.get_status(sms_id=1)
        assert status.calls.last.request.extensions["timeout"]["read"] == 7
        sms.get_status(sms_id=1, timeout=httpx.Timeout(3.0, connect=1.0))
    request = send.calls.last.request
    assert json.loads(request.content) == {
        "phone": "998901234567",
        "message": "Salom!",
        "from": "Shop",
        "type": "eskiz",
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    timeout = status.calls.last.request.extensions["timeout"]
    assert (timeout["connect"], timeout["read"]) == (1.0, 3.0)


def test_a_users_client_is_used_with_its_headers_and_never_closed(
    api: respx.MockRouter,
) -> None:
    route = api.get("/get_status.php").respond(200, json=STATUS_OK)
    with httpx.Client(headers={"X-Trace": "1"}) as http:
        with DevSMS(TOKEN, http_client=http) as sms:
            sms.get_status(sms_id=123)
            assert sms.http_backend == "custom"
            assert sms._client() is http
        assert not http.is_closed
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-trace"] == "1"


def test_the_owned_client_is_closed_on_exit() -> None:
    with DevSMS(TOKEN) as sms:
        http = sms._client()
        assert sms.http_backend == "httpx"
    assert http.is_closed
    sms.close()  # idempotent
    with pytest.raises(UsageError, match="closed"):
        sms._client()


def test_options_are_checked_like_the_async_ones() -> None:
    with pytest.raises(ValidationError, match="not both"):
        DevSMS(TOKEN, http_client=httpx.Client(), transport=httpx.MockTransport(print))
    with pytest.raises(ValidationError) as info:
        DevSMS(TOKEN, max_retries=-1)
    assert info.value.field == "max_retries"
    with pytest.raises(ValidationError, match="asyncio only"):
        DevSMS(TOKEN, http_backend="aiohttp").__enter__()
    with DevSMS(TOKEN, http_backend="auto") as sms:
        assert sms.http_backend == "httpx"
    assert TOKEN not in repr(DevSMS(TOKEN)) + repr(vars(DevSMS(TOKEN)))


def test_a_read_is_retried_and_a_send_is_not(api: respx.MockRouter) -> None:
    balance = api.get("/get_balance.php").mock(
        side_effect=[httpx.Response(503, json={}), httpx.ConnectError("x"), httpx.Response(429)]
    )
    send = api.post("/send_sms.php").mock(side_effect=httpx.ReadTimeout("read"))
    from devsms_async import RateLimitError, SendOutcomeUnknownError

    with DevSMS(TOKEN) as sms:
        with pytest.raises(RateLimitError):
            sms.get_balance()
        with pytest.raises(SendOutcomeUnknownError):
            sms.send_sms("998901234567", "Salom!")
    assert balance.call_count == 3
    assert send.call_count == 1


def test_the_history_iterator_is_plain_and_closable() -> None:
    sandbox = Sandbox()
    with sandbox.sync_client() as sms:
        for n in range(5):
            sms.send_sms("998901234567", f"#{n}")
        walk = sms.iter_history(page_size=2)
        assert isinstance(walk, HistoryIterator)
        assert "offset=0" in repr(walk)
        first = next(walk)
        with walk:
            pass
        assert list(walk) == []
        assert "closed" in repr(walk)
        assert first.message == "#4"
        with pytest.raises(ValidationError) as info:
            sms.iter_history(page_size=0)
        assert info.value.field == "page_size"
        assert [r.message for r in sms.iter_history(max_items=3)] == ["#4", "#3", "#2"]


async def test_a_users_client_keeps_its_own_timeout_unless_a_call_gives_one(
    api: respx.MockRouter,
) -> None:
    route = api.get("/get_status.php").respond(200, json=STATUS_OK)
    from devsms_async import AsyncDevSMS

    with httpx.Client(timeout=3.5) as http, DevSMS(TOKEN, http_client=http) as sms:
        sms.get_status(sms_id=1)
        assert route.calls.last.request.extensions["timeout"]["read"] == 3.5
        sms.get_status(sms_id=1, timeout=9)
        assert route.calls.last.request.extensions["timeout"]["read"] == 9
    async with httpx.AsyncClient(timeout=4.5) as ahttp, AsyncDevSMS(TOKEN, http_client=ahttp) as a:
        await a.get_status(sms_id=1)
        assert route.calls.last.request.extensions["timeout"]["read"] == 4.5


def test_sync_bytes_after_the_answer_never_reach_the_next_send() -> None:
    """The sync backend's desync guard (the async ones are in client/test_hostile_inputs.py)."""
    from devsms_async import SendOutcomeUnknownError
    from support.faultserver import FaultServer, Trailing

    with FaultServer() as server:
        server.script(None, Trailing())  # type: ignore[arg-type]
        outcomes: list[object] = []
        with DevSMS(TOKEN, base_url=server.base_url, timeout=5) as sms:
            for i in range(3):
                try:
                    outcomes.append(sms.send_sms("998901234567", f"xabar {i}").sms_id)
                except SendOutcomeUnknownError as exc:
                    outcomes.append(exc)
            sms.get_balance()
        assert 999 not in outcomes
        assert outcomes[0] == 1
        assert outcomes[2] == 3
        assert isinstance(outcomes[1], SendOutcomeUnknownError)
        assert server.count("send_sms.php") == 3  # nothing was replayed
