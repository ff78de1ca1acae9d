"""The sans-IO core as pure functions: request building and the classify table.

No client, no transport, no event loop: plain data in, a decision out.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import pytest

from devsms_async._classify import (
    MAX_BODY_BYTES,
    Call,
    Decision,
    RetryPolicy,
    classify,
    fingerprint,
    unknown_outcome,
)
from devsms_async._endpoints import ALL_ENDPOINTS, GET_BALANCE, GET_HISTORY, SEND_SMS, Endpoint
from devsms_async._wire import (
    JSON_HEADERS,
    TransportFailure,
    WireRequest,
    WireResponse,
    build_request,
    default_headers,
)
from devsms_async.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    DevSMSError,
    MalformedResponseError,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)
from devsms_async.models import Balance, SendResult

BASE = "https://devsms.uz/api"
TOKEN = "core-token-SECRET"
PHONE = "998901234567"
SEND_OK = {
    "success": True,
    "data": {
        "sms_id": 7,
        "request_id": "r-7",
        "status": "sent",
        "parts_count": 1,
        "total_cost": 50,
        "balance": 950,
        "type": "eskiz",
    },
}
BALANCE_OK = {
    "success": True,
    "data": {
        "balance": 950,
        "sms_price": 50,
        "statistics": {
            "total_sms": 1,
            "total_spent": 50,
            "today_sms": 1,
            "today_spent": 50,
            "month_sms": 1,
            "month_spent": 50,
        },
    },
}


# -- building requests ------------------------------------------------------------------


def test_a_send_is_json_with_the_wire_names() -> None:
    params = {"phone": PHONE, "message": "Oʻzbek “matn”", "sender": "Shop", "type": "eskiz"}
    request = build_request(SEND_SMS, params, BASE)
    assert request == WireRequest("POST", f"{BASE}/send_sms.php", JSON_HEADERS, request.body)
    assert request.body is not None
    assert json.loads(request.body) == {
        "phone": PHONE,
        "message": "Oʻzbek “matn”",
        "from": "Shop",
        "type": "eskiz",
    }
    assert "“".encode() in request.body  # UTF-8 as is, not \\u escapes
    assert b" " not in request.body.replace("Oʻzbek “matn”".encode(), b"")  # compact


def test_a_read_puts_its_parameters_in_the_query() -> None:
    request = build_request(GET_HISTORY, {"limit": 5, "offset": 0, "status": "sent"}, BASE)
    assert request == WireRequest(
        "GET", f"{BASE}/get_history.php?limit=5&offset=0&status=sent", (), None
    )
    assert build_request(GET_BALANCE, {}, BASE).url == f"{BASE}/get_balance.php"
    request_id = build_request(GET_HISTORY, {"request_id": "a b&c"}, BASE)
    assert request_id.url.endswith("?request_id=a+b%26c")


@pytest.mark.parametrize("field", ["message", "sender"])
def test_text_utf8_cannot_carry_is_a_validation_error_without_the_text(field: str) -> None:
    params = {"phone": PHONE, "message": "ok", field: "sir\ud800li"}
    with pytest.raises(ValidationError) as info:
        build_request(SEND_SMS, params, BASE)
    assert info.value.field == ("from" if field == "sender" else field)
    assert "sir" not in str(info.value)


def test_default_headers() -> None:
    headers = default_headers(TOKEN)
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("devsms-async/")


def test_every_descriptor_is_consistent() -> None:
    for endpoint in ALL_ENDPOINTS:
        assert endpoint.kind in ("send", "read")
        assert endpoint.is_send == (endpoint.kind == "send")
        assert (endpoint.method == "POST") == (endpoint.params_in == "json")
        # The parser's send rules (a proven send kept, no id refused) read SendResult.
        assert (endpoint.model is SendResult) == endpoint.is_send
    assert [e.name for e in ALL_ENDPOINTS if e.is_send] == ["send_sms"]


# -- the classify table -----------------------------------------------------------------


def answer(status: int, payload: Any = None, body: bytes | None = None, **headers: str) -> Any:
    raw = body if body is not None else json.dumps(payload).encode()
    return WireResponse(status, {k.replace("_", "-"): v for k, v in headers.items()}, raw, True)


def failure(never_sent: bool, timeout: bool = False) -> TransportFailure:
    error = (APITimeoutError if timeout else APIConnectionError)("connection failed (X)")
    error.__cause__ = OSError("x")
    return TransportFailure(error, never_sent)


def call_for(endpoint: Endpoint[Any]) -> Call:
    if endpoint.is_send:
        return Call(endpoint, tz=None, secrets=(TOKEN,), key=b"k", phone=PHONE, text="Salom")
    return Call(endpoint, tz=None, secrets=(TOKEN,))


def no_jitter(low: float, high: float) -> float:
    return high


def judge(
    endpoint: Endpoint[Any], outcome: Any, attempt: int = 1, elapsed: float = 0.0
) -> Decision:
    policy = RetryPolicy(max_retries=2, deadline=60.0)
    return classify(
        call_for(endpoint),
        outcome,
        attempt=attempt,
        elapsed=elapsed,
        policy=policy,
        uniform=no_jitter,
    )


NEVER_SENT = failure(never_sent=True)
MAYBE_SENT = failure(never_sent=False, timeout=True)
HTML = answer(200, body=b"<html>proxy</html>")
TABLE: list[tuple[str, Any, str, str, type[Exception] | None]] = [
    # (case, outcome, read action, send action, error type)
    ("2xx parsed", "ok", "result", "result", None),
    ("refused connection", NEVER_SENT, "retry", "retry", APIConnectionError),
    ("read timeout", MAYBE_SENT, "retry", "unknown", APITimeoutError),
    ("429", answer(429, {"success": False, "error": "x"}), "retry", "raise", RateLimitError),
    ("502", answer(502, {"success": False}), "retry", "unknown", ServerError),
    ("503", answer(503, body=b"down"), "retry", "unknown", ServerError),
    ("504", answer(504, {}), "retry", "unknown", ServerError),
    ("500", answer(500, {"success": False}), "raise", "unknown", ServerError),
    ("400", answer(400, {"success": False, "error": "x"}), "raise", "raise", BadRequestError),
    ("401", answer(401, {"success": False, "error": "x"}), "raise", "raise", AuthenticationError),
    (
        "200 success false",
        answer(200, {"success": False, "error": "x"}),
        "raise",
        "raise",
        BadRequestError,
    ),
    ("200 not JSON", HTML, "raise", "unknown", MalformedResponseError),
    (
        "302",
        answer(302, body=b"", location="https://x"),
        "raise",
        "unknown",
        MalformedResponseError,
    ),
    (
        "200 cut at the cap",
        WireResponse(200, {}, b"{", False),
        "raise",
        "unknown",
        MalformedResponseError,
    ),
]


@pytest.mark.parametrize(
    ("case", "outcome", "read", "send", "error"), TABLE, ids=[row[0] for row in TABLE]
)
def test_the_table(
    case: str, outcome: Any, read: str, send: str, error: type[Exception] | None
) -> None:
    for endpoint, expected in ((GET_BALANCE, read), (SEND_SMS, send)):
        if outcome == "ok":
            payload = SEND_OK if endpoint.is_send else BALANCE_OK
            decision = judge(endpoint, answer(200, payload))
            assert decision.action == "result"
            assert isinstance(decision.value, SendResult if endpoint.is_send else Balance)
            continue
        decision = judge(endpoint, outcome)
        assert decision.action == expected, (case, endpoint.name)
        assert decision.error is not None
        if expected == "unknown":
            assert isinstance(decision.error, SendOutcomeUnknownError)
            assert isinstance(decision.error.__cause__, error)  # type: ignore[arg-type]
        else:
            assert isinstance(decision.error, error)  # type: ignore[arg-type]


def test_a_cut_answer_says_so() -> None:
    decision = judge(GET_BALANCE, WireResponse(200, {}, b'{"success": true', False))
    assert f"larger than {MAX_BODY_BYTES} bytes" in str(decision.error)


@pytest.mark.parametrize(
    ("attempt", "elapsed", "headers", "action", "wait"),
    [
        (1, 0.0, {}, "retry", 0.5),  # full jitter's ceiling (no_jitter draws the top)
        (2, 0.0, {}, "retry", 1.0),
        (3, 0.0, {}, "raise", 0.0),  # max_retries=2 spent
        (1, 0.0, {"retry_after": "7"}, "retry", 7.0),  # Retry-After is the minimum
        (1, 55.0, {"retry_after": "7"}, "raise", 0.0),  # would end past the deadline
        (1, 0.0, {"retry_after": "soon"}, "retry", 0.5),  # unreadable: ignored
    ],
)
def test_retry_waits(
    attempt: int, elapsed: float, headers: dict[str, str], action: str, wait: float
) -> None:
    for status in (429, 503):
        outcome = answer(status, {"success": False}, **headers)
        decision = judge(GET_BALANCE, outcome, attempt=attempt, elapsed=elapsed)
        assert (decision.action, decision.wait) == (action, wait)


def test_retry_after_is_read_once_into_the_rate_limit_error() -> None:
    decision = judge(GET_BALANCE, answer(429, {"success": False}, retry_after="3"))
    assert isinstance(decision.error, RateLimitError)
    assert decision.error.retry_after == 3.0
    assert decision.wait == 3.0


def test_the_unknown_outcome_is_built_in_one_place() -> None:
    call = call_for(SEND_SMS)
    cause = ServerError("boom", status_code=502)
    error = unknown_outcome(call, cause, 502)
    assert error.__cause__ is cause
    assert error.status_code == 502
    assert error.fingerprint == fingerprint("Salom", b"k")
    assert error.started_at.tzinfo is _dt.timezone.utc
    assert "reconcile" in str(error)
    assert PHONE not in str(error)


def test_secrets_never_reach_a_decision_text() -> None:
    body = json.dumps({"success": False, "error": f"bad token {TOKEN} for {PHONE}"}).encode()
    for endpoint in (GET_BALANCE, SEND_SMS):
        for status in (200, 401, 502):
            decision = judge(endpoint, answer(status, body=body))
            assert isinstance(decision.error, DevSMSError)
            text = str(decision.error) + str(decision.error.__cause__)
            assert TOKEN not in text
            assert PHONE not in text
