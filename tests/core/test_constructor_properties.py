"""Property tests of the public constructors: whatever each argument is given, the
constructor raises ``ValidationError`` or makes an object that works. For the clients,
"works" means it opens and answers a request (in-process, from the sandbox), or fails
with one of the SDK's typed errors; never a bare ``AssertionError``,
``AttributeError`` or ``TypeError`` from deep inside.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devsms_async import AsyncDevSMS, DevSMS, DevSMSError, ValidationError
from devsms_async.bulk import BulkMessage
from devsms_async.testing import Sandbox

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

TOKEN = "sandbox-token"

# -- strategies --------------------------------------------------------------------------

odd_text = st.text(st.characters(exclude_categories=()), max_size=30)  # lone surrogates too
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(),  # nan and both infinities included
    st.decimals(allow_nan=True),
    st.fractions(),
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    odd_text,
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
    st.just(math.inf),
    st.just(float("nan")),
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://devsms.uz/api",
            "http://127.0.0.1:8000/api",
            "http://localhost/api",
            "https://user:pw@devsms.uz/api",
            "https://devsms.uz/api?",
            "https://devsms.uz/api#x",
            "ftp://devsms.uz/api",
            "https://",
            "http://[::1",
            "http://127.0.0.1:0/api",
            "http://127.0.0.1:70000/api",
            "https://xn--/api",
            "https://exa mple.com/api",
            "https://пример.рф/api",
            "https://devsms.uz/ä/api",
        ]
    ),
    st.from_regex(r"https?://[a-z0-9.\-\[\]:@%?#/ ]{0,25}", fullmatch=True),
    odd_text.map(lambda s: "https://" + s),
)
timeouts = st.one_of(
    st.none(),
    numbers,
    st.builds(httpx.Timeout, st.none() | st.floats(0.001, 60)),
    st.just(httpx.Timeout(5.0, read=None)),
)
limits = st.one_of(
    st.builds(
        httpx.Limits,
        max_connections=st.none() | st.integers(-2, 50),
        max_keepalive_connections=st.none() | st.integers(-2, 50),
        keepalive_expiry=st.none() | st.floats(allow_nan=True) | st.integers(-5, 100),
    ),
    anything,
)

ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "token": st.one_of(anything, st.sampled_from([TOKEN, " ", "Bearer x", "tok\r\nen"])),
    "base_url": st.one_of(anything, urls),
    "timeout": st.one_of(anything, timeouts),
    "max_retries": anything,
    "retry_deadline": anything,
    "http_client": st.one_of(anything, st.just("client")),
    "transport": st.one_of(anything, st.just("transport")),
    "http_backend": st.one_of(anything, st.sampled_from(["httpx", "aiohttp", "auto", "HTTPX"])),
    "limits": limits,
    "sender": st.one_of(anything, st.sampled_from(["4546", "", " "])),
    "callback_url": st.one_of(anything, urls),
    "timezone": st.one_of(anything, st.timezones(), st.just(_dt.timezone.utc)),
    "allow_insecure_http": anything,
    "log_sensitive": anything,
    "default_region": st.one_of(anything, st.sampled_from(["UZ", "uz", "KZ", "XX", ""])),
    "phone_check": st.one_of(anything, st.sampled_from(["valid", "possible", "VALID"])),
}
# Some arguments together, each with an arbitrary value.
argument_sets = st.dictionaries(
    st.sampled_from(sorted(ARGUMENTS)), st.none(), min_size=1, max_size=4
).flatmap(lambda keys: st.fixed_dictionaries({key: ARGUMENTS[key] for key in keys}))


def options_for(face: type[Any], sandbox: Sandbox, drawn: dict[str, Any]) -> dict[str, Any]:
    """The drawn arguments, with ``"client"``/``"transport"`` made real, and the
    sandbox's transport added so an accepted client can answer in-process."""
    options = dict(drawn)
    if options.get("http_client") == "client":
        kind = httpx.AsyncClient if face is AsyncDevSMS else httpx.Client
        options["http_client"] = kind(transport=sandbox.transport())
    if options.get("transport") == "transport":
        options["transport"] = sandbox.transport()
    if "http_client" not in options and "transport" not in options:
        options["transport"] = sandbox.transport()
    options.setdefault("base_url", "https://devsms.uz/api")
    options.setdefault("token", TOKEN)
    return options


def close_user_client(options: dict[str, Any]) -> None:
    client = options.get("http_client")
    if isinstance(client, httpx.Client):
        client.close()


# -- the clients -------------------------------------------------------------------------


@SETTINGS
@given(drawn=argument_sets)
def test_async_client_arguments_work_or_raise_validation_error(
    run: Any, drawn: dict[str, Any]
) -> None:
    sandbox = Sandbox(token=TOKEN)
    options = options_for(AsyncDevSMS, sandbox, drawn)
    token = options.pop("token")
    try:
        sms = AsyncDevSMS(token, **options)
    except ValidationError:
        return

    async def use() -> None:
        try:
            async with sms:
                await sms.get_balance()
        except DevSMSError:
            pass  # a typed answer: refused by the sandbox, aiohttp on trio, ...
        finally:
            client = options.get("http_client")
            if isinstance(client, httpx.AsyncClient):
                await client.aclose()

    run(use)


@SETTINGS
@given(drawn=argument_sets)
def test_sync_client_arguments_work_or_raise_validation_error(drawn: dict[str, Any]) -> None:
    sandbox = Sandbox(token=TOKEN)
    options = options_for(DevSMS, sandbox, drawn)
    token = options.pop("token")
    try:
        try:
            sms = DevSMS(token, **options)
        except ValidationError:
            return
        try:
            with sms:
                sms.get_balance()
        except DevSMSError:
            pass
    finally:
        close_user_client(options)


@pytest.mark.parametrize("face", [AsyncDevSMS, DevSMS])
def test_timeout_none_is_refused_with_what_to_pass_instead(face: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        face(TOKEN, timeout=None)
    assert caught.value.field == "timeout"
    assert "httpx.Timeout(None)" in caught.value.reason


@pytest.mark.parametrize("face", [AsyncDevSMS, DevSMS])
@pytest.mark.parametrize("value", [math.inf, math.nan, -1, 0, True, "5", decimal.Decimal(5)])
def test_a_timeout_that_is_no_positive_finite_number_is_refused(face: Any, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        face(TOKEN, timeout=value)
    assert caught.value.field == "timeout"


@pytest.mark.parametrize("face", [AsyncDevSMS, DevSMS])
@pytest.mark.parametrize("value", [math.inf, 8080, b"https://devsms.uz/api", ["https://x"]])
def test_a_base_url_that_is_no_string_is_refused(face: Any, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        face(TOKEN, base_url=value)
    assert caught.value.field == "base_url"


def test_waiting_for_ever_is_an_explicit_choice(run: Any) -> None:
    sandbox = Sandbox(token=TOKEN)

    async def use() -> int:
        async with sandbox.client(timeout=httpx.Timeout(None)) as sms:
            return (await sms.get_balance()).balance

    assert run(use) == 100_000
    with sandbox.sync_client(timeout=httpx.Timeout(None)) as sms:
        assert sms.get_balance().balance == 100_000


# -- the other public constructors that validate -----------------------------------------


@SETTINGS
@given(
    drawn=st.fixed_dictionaries(
        {},
        optional={
            "phone": st.one_of(anything, st.sampled_from(["998901234567", "+998 90 123 45 67"])),
            "message": st.one_of(anything, st.just("Salom")),
            "sender": anything,
            "callback_url": st.one_of(anything, urls),
            "type": st.one_of(anything, st.sampled_from(["eskiz", "simple", "universal_otp"])),
        },
    )
)
def test_bulk_message_arguments_work_or_raise_validation_error(drawn: dict[str, Any]) -> None:
    drawn.setdefault("phone", "998901234567")
    drawn.setdefault("message", "Salom")
    with contextlib.suppress(ValidationError):
        BulkMessage(**drawn)


@SETTINGS
@given(
    drawn=st.fixed_dictionaries(
        {},
        optional={
            "token": anything,
            "balance": anything,
            "sms_price": anything,
            "account": st.one_of(anything, st.sampled_from(["local", "foreign"])),
            "blocked_service_names": anything,
            "callback_timeout": anything,
            "first_sms_id": anything,
            "history_order": st.one_of(anything, st.just("oldest_first")),
            "money": st.one_of(anything, st.just("documented")),
            "refusals_as_200": anything,
            "templates": anything,
            "registered_numbers": anything,
        },
    )
)
def test_sandbox_arguments_work_or_raise_validation_error(drawn: dict[str, Any]) -> None:
    try:
        sandbox = Sandbox(**drawn)
    except ValidationError:
        return
    with sandbox.sync_client(max_retries=0) as sms, contextlib.suppress(DevSMSError):
        sms.get_balance()
