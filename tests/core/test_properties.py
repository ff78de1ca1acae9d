"""Property tests: whatever they are fed, the validators, ``parse_callback`` and the
response parser return a value or raise one of the SDK's typed errors. Nothing else.
"""

from __future__ import annotations

import datetime as _dt
import json
import typing
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devsms_async import (
    AsyncDevSMS,
    DevSMSError,
    OtpTemplate,
    SmsStatus,
    SmsType,
    ValidationError,
    parse_callback,
)
from devsms_async import _validation as v
from devsms_async._classify import fingerprint
from devsms_async._converter import TASHKENT, wire_name
from devsms_async._endpoints import ALL_ENDPOINTS, Endpoint
from devsms_async._redact import SNIPPET_CHARS, body_snippet
from devsms_async._response import RETRY_AFTER_CAP, parse_response, parse_retry_after
from devsms_async.models import DeliveryReport, SmsRecord, Statistics
from support import TOKEN

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- strategies --------------------------------------------------------------------------

latin1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=30)
any_text = st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates too
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Values a field of a model might plausibly (or implausibly) hold.
field_values = st.one_of(
    json_values,
    st.integers(-(2**70), 2**70),
    st.integers(0, 10**6).map(str),
    st.from_regex(r"-?[0-9]{1,30}", fullmatch=True),
    st.sampled_from(["sent", "DELIVERED", "failed", "pending", "queued", ""]),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-02-30 10:00:00", "2026-03-09T10:30:00Z", "yesterday", "0"]),
)


def nested_model(tp: Any) -> tuple[type | None, bool]:
    """The attrs class inside a field's type (``X``, ``X | None``, ``list[X]``) and
    whether it is a list of them; ``(None, False)`` for a plain value."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is list:
        inner, _ = nested_model(args[0])
        return inner, inner is not None
    if len(args) == 1:
        return nested_model(args[0])
    return (tp, False) if attrs.has(tp) else (None, False)


def answer_models() -> list[type]:
    """Every model an answer is structured into: the endpoints' models, the models
    nested in them, and the delivery report's; derived, so a new endpoint is covered."""
    found: list[type] = []
    todo: list[type] = [e.model for e in ALL_ENDPOINTS] + [DeliveryReport]
    while todo:
        model = todo.pop(0)
        if model not in found:
            found.append(model)
            hints = typing.get_type_hints(model)
            todo += [m for f in attrs.fields(model) if (m := nested_model(hints[f.name])[0])]
    return found


def model_data(model: type, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A ``data`` object for ``model``: each of its JSON keys (a field's wire name)
    optional, with plausible and implausible values; nested models one level deep."""
    hints = typing.get_type_hints(model)
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(model):
        values = field_values
        inner, many = nested_model(hints[field.name])
        if inner is not None and depth < 1:
            one = model_data(inner, depth + 1) | field_values
            values = (st.lists(one, max_size=3) if many else one) | field_values
        optional[wire_name(field)] = values
    return st.fixed_dictionaries({}, optional=optional)


@pytest.mark.parametrize("model", answer_models(), ids=lambda m: m.__name__)
def test_generated_data_objects_use_the_wire_keys(model: type) -> None:
    """The strategy's keys are the model's wire names (derived, never listed here)."""
    keys = {wire_name(f) for f in attrs.fields(model)}
    seen: set[str] = set()

    @SETTINGS
    @given(data=model_data(model))
    def check(data: dict[str, Any]) -> None:
        assert set(data) <= keys
        seen.update(data)

    check()
    assert seen == keys
    assert "items" not in keys  # HistoryPage.items is read from "history"
    assert "status_raw" not in keys  # read from "status"


def test_the_answer_models_reach_the_nested_ones() -> None:
    models = answer_models()
    assert {e.model for e in ALL_ENDPOINTS} <= set(models)
    assert {Statistics, SmsRecord, DeliveryReport} <= set(models)  # nested, and callbacks


def bodies(model: type) -> st.SearchStrategy[bytes]:
    envelope = st.fixed_dictionaries(
        {},
        optional={
            "success": st.sampled_from([True, False, "true", 1, None]),
            "data": model_data(model) | json_values,
            "error": st.text(max_size=30) | json_values,
            "message": st.text(max_size=30),
        },
    )
    encoded = (envelope | json_values).map(lambda value: json.dumps(value).encode())
    return st.one_of(
        st.binary(max_size=300),
        st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),  # nested past the parser
        encoded,
        st.tuples(encoded, st.integers(0, 400)).map(lambda t: t[0][: t[1]]),  # truncated
        st.tuples(st.binary(max_size=40), encoded).map(lambda t: t[0] + t[1]),  # PHP notice
    )


statuses = st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502]) | (
    st.integers(100, 599)
)
headers = st.fixed_dictionaries(
    {}, optional={"retry-after": latin1, "location": latin1, "content-type": latin1}
).map(lambda h: httpx.Headers([(k.encode(), v.encode("latin-1")) for k, v in h.items()]))

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.decimals(),
    st.fractions(),
    st.complex_numbers(),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.text(max_size=5)),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from([*SmsType, *SmsStatus, *OtpTemplate]),
    st.builds(object),
    st.datetimes(),
)
phone_like = st.text(alphabet="0123456789 +-().\u0660\uff10x", max_size=20)
url_like = st.one_of(
    st.text(max_size=40),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "ftp", "", "HTTP"]),
        st.text(max_size=15),
        st.text(max_size=15),
    ),
)


def only_typed_errors(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, or ``None`` if it raised a ``DevSMSError``; anything else fails."""
    try:
        return fn(*args, **kwargs)
    except DevSMSError:
        return None


# -- the response parser -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("tz", [TASHKENT, None], ids=["tashkent", "naive"])
def test_parse_response_returns_the_model_or_a_typed_error(
    endpoint: Endpoint[Any], tz: _dt.tzinfo | None
) -> None:
    @SETTINGS
    @given(status=statuses, body=bodies(endpoint.model), headers=headers)
    def check(status: int, body: bytes, headers: httpx.Headers) -> None:
        result = only_typed_errors(
            parse_response, endpoint, status, body, headers, tz=tz, secrets=(TOKEN,)
        )
        if result is not None:
            assert isinstance(result, endpoint.model)
            assert 200 <= status < 300

    check()


@SETTINGS
@given(
    status=statuses,
    prefix=st.binary(max_size=900),
    suffix=st.binary(max_size=100),
    endpoint=st.sampled_from(ALL_ENDPOINTS),
)
def test_the_token_never_reaches_an_error_text(
    status: int, prefix: bytes, suffix: bytes, endpoint: Endpoint[Any]
) -> None:
    body = prefix + TOKEN.encode() + suffix
    try:
        parse_response(endpoint, status, body, httpx.Headers(), tz=TASHKENT, secrets=(TOKEN,))
    except DevSMSError as exc:
        text = str(exc) + repr(exc) + repr(vars(exc))
        assert TOKEN not in text
        assert not any(TOKEN[i : i + 8] in text for i in range(len(TOKEN) - 7))


# -- callbacks ---------------------------------------------------------------------------

callback_payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    model_data(DeliveryReport).map(json.dumps),
    model_data(DeliveryReport).map(lambda d: json.dumps(d).encode()),
    model_data(DeliveryReport),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    json_values.map(json.dumps),
    anything,
)


@SETTINGS
@given(payload=callback_payloads, tz=st.sampled_from([TASHKENT, None]))
def test_parse_callback_returns_a_report_or_a_validation_error(
    payload: Any, tz: _dt.tzinfo | None
) -> None:
    try:
        report = parse_callback(payload, timezone=tz)
    except ValidationError as exc:
        field = exc.field
    else:
        assert isinstance(report, DeliveryReport)
        return
    assert field == "payload"


# -- validators --------------------------------------------------------------------------


@SETTINGS
@given(value=anything | phone_like)
def test_normalize_phone(value: Any) -> None:
    phone = only_typed_errors(v.normalize_phone, value)
    if phone is not None:
        assert phone.isascii()
        assert phone.isdigit()
        assert 7 <= len(phone) <= 15
        digits = "".join(ch for ch in value if ch.isdigit())
        # No digit changed: the number as typed, or an Uzbek one completed by the
        # documented rules (9 digits get 998; 8 or 0 + 9 digits is the old trunk prefix).
        assert phone in (digits, "998" + digits, "998" + digits[1:])
        if phone != digits:
            assert phone.startswith("998")
            assert len(phone) == 12


@SETTINGS
@given(value=anything)
def test_simple_validators(value: Any) -> None:
    for check in (
        v.check_message,
        v.check_sender,
        v.check_callback_url,
        v.check_template,
        v.check_service_name,
        v.check_otp_code,
    ):
        only_typed_errors(check, value)


@SETTINGS
@given(url=url_like)
def test_callback_url(url: str) -> None:
    checked = only_typed_errors(v.check_callback_url, url)
    if checked is not None:
        assert checked == url
        assert checked.lower().startswith(("http://", "https://"))


@SETTINGS
@given(
    value=anything | st.text(max_size=10), phone=st.sampled_from(["998901234567", "12025551234"])
)
def test_sms_type(value: Any, phone: str) -> None:
    kind = only_typed_errors(v.check_sms_type, value, phone)
    if kind is not None:
        assert kind in (SmsType.ESKIZ, SmsType.SIMPLE)


@SETTINGS
@given(code=anything | st.text(alphabet="0123456789a٣", max_size=10))
def test_otp_code(code: Any) -> None:
    checked = only_typed_errors(v.check_otp_code, code)
    if checked is not None:
        assert checked.isascii()
        assert checked.isdigit()
        assert 4 <= len(checked) <= 8


@SETTINGS
@given(limit=anything, offset=anything, status=anything | st.text(max_size=10))
def test_history_query(limit: Any, offset: Any, status: Any) -> None:
    query = only_typed_errors(v.check_history_query, limit, offset, status)
    if query is not None:
        assert 1 <= query["limit"] <= 200
        assert query["offset"] >= 0


@SETTINGS
@given(sms_id=anything, request_id=anything)
def test_status_query(sms_id: Any, request_id: Any) -> None:
    query = only_typed_errors(v.check_status_query, sms_id, request_id)
    if query is not None:
        assert len(query) == 1


def test_methods_validate_before_any_request() -> None:
    """Arbitrary arguments to every method: a ValidationError, and no request sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(599)

    @SETTINGS
    @given(a=anything | phone_like, b=anything, c=anything, d=anything)
    def check(a: Any, b: Any, c: Any, d: Any) -> None:
        async def scenario() -> None:
            async with AsyncDevSMS(TOKEN, transport=httpx.MockTransport(handler)) as sms:
                calls = [
                    lambda: sms.send_sms(a, b, sender=c, type=d),
                    lambda: sms.send_sms(a, "ok", callback_url=b),
                    lambda: sms.send_otp(a, template=b, service_name=c, otp_code=d),
                    lambda: sms.get_history(limit=a, offset=b, status=c),
                    lambda: sms.get_status(sms_id=a, request_id=b),
                ]
                for call in calls:
                    before = len(sent)
                    try:
                        await call()
                    except ValidationError:
                        assert len(sent) == before
                    except DevSMSError:
                        assert len(sent) > before  # valid input; the fake server said 599

        import anyio

        anyio.run(scenario)

    check()


# -- small pure helpers ------------------------------------------------------------------


@SETTINGS
@given(value=latin1 | st.text(max_size=40) | st.none())
def test_retry_after_is_none_or_within_the_cap(value: str | None) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0.0 <= seconds <= RETRY_AFTER_CAP


@SETTINGS
@given(body=st.binary(max_size=2000), secret=st.from_regex(r"[A-Za-z0-9_-]{8,40}", fullmatch=True))
def test_snippets_are_short_and_keep_secrets(body: bytes, secret: str) -> None:
    cut = len(body) // 2
    snippet = body_snippet(body[:cut] + secret.encode() + body[cut:], secrets=(secret,))
    assert len(snippet) <= SNIPPET_CHARS + 1
    assert secret not in snippet


@SETTINGS
@given(text=st.text(max_size=200))
def test_fingerprint_of_any_text(text: str) -> None:
    print_ = fingerprint(text, TOKEN.encode())
    assert len(print_) == 16
    assert int(print_, 16) >= 0
