"""An error's advice is written for the face that raised it: ``await sms.reconcile(error)``
from ``AsyncDevSMS``, ``sms.reconcile(error)`` from the sync ``DevSMS``."""

from __future__ import annotations

import pickle

import httpx
import pytest
import respx

from devsms_async import AsyncDevSMS, DevSMS, SendOutcomeUnknownError, ValidationError
from devsms_async.testing import Sandbox
from support import TOKEN

BASE = "https://devsms.uz/api"
ASYNC_ADVICE = "Use `await sms.reconcile(error)` to look it up"
SYNC_ADVICE = "Use `sms.reconcile(error)` to look it up"


def faults(api: respx.MockRouter) -> None:
    api.post("/send_sms.php").mock(
        side_effect=[
            httpx.ReadTimeout("read timed out"),  # no answer
            httpx.Response(500, text="Internal Server Error"),  # an unusable answer
            httpx.Response(200, text="<html>oops</html>"),  # an unreadable 2xx
        ]
    )


async def test_the_async_client_advises_await() -> None:
    with respx.mock(base_url=BASE) as api:
        faults(api)
        async with AsyncDevSMS(TOKEN) as sms:
            errors = []
            for _ in range(2):
                with pytest.raises(SendOutcomeUnknownError) as info:
                    await sms.send_sms("998901234567", "Salom")
                errors.append(info.value)
            with pytest.raises(SendOutcomeUnknownError) as info:
                await sms.send_otp("998901234567", template=4, service_name="Shop", otp_code="1234")
            errors.append(info.value)
    for error in errors:
        assert ASYNC_ADVICE in str(error)


def test_the_sync_client_advises_no_await() -> None:
    with respx.mock(base_url=BASE) as api:
        faults(api)
        with DevSMS(TOKEN) as sms:
            errors = []
            for _ in range(2):
                with pytest.raises(SendOutcomeUnknownError) as info:
                    sms.send_sms("998901234567", "Salom")
                errors.append(info.value)
            with pytest.raises(SendOutcomeUnknownError) as info:
                sms.send_otp("998901234567", template=4, service_name="Shop", otp_code="1234")
            errors.append(info.value)
    for error in errors:
        text = str(error)
        assert SYNC_ADVICE in text
        assert "await" not in text
        # The advice survives the trip through a task queue.
        assert SYNC_ADVICE in str(pickle.loads(pickle.dumps(error)))


def test_the_sync_advice_is_what_works_on_the_sync_client() -> None:
    """Following the sync advice as written settles the send (no coroutine, no await)."""
    sandbox = Sandbox()
    sandbox.fail_next(500, after_processing=True)  # stored and sent, then a 500
    with sandbox.sync_client() as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            sms.send_sms("998901234567", "Salom")
        error = info.value
        assert SYNC_ADVICE in str(error)
        found = sms.reconcile(error)  # exactly what the message says
    assert found.found is True
    assert found.record.id == sandbox.messages[0].sms_id


async def test_bulk_results_in_doubt_advise_await() -> None:
    sandbox = Sandbox()
    sandbox.fail_next(502)
    async with sandbox.client() as sms:
        results = await sms.send_bulk([("998901234567", "Salom")])
    assert results[0].outcome.value == "unknown"
    assert ASYNC_ADVICE in str(results[0].error)


def test_a_misspelt_option_names_the_face() -> None:
    with pytest.raises(ValidationError, match="is not an option of DevSMS; did you mean 'sender'"):
        DevSMS(TOKEN, sendr="MyShop")  # type: ignore[call-arg]
    with pytest.raises(
        ValidationError, match="is not an option of AsyncDevSMS; did you mean 'timeout'"
    ):
        AsyncDevSMS(TOKEN, timeuot=3)  # type: ignore[call-arg]
