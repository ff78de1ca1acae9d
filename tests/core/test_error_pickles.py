"""Errors cross processes: a pickled or copied error is the same error, and a pickled error
(a task queue's, an error tracker's, another process's copy) carries no phone number, OTP
code or token: every error that can hold a number or a record is made through the public
API, pickled, and the bytes searched for the secrets."""

from __future__ import annotations

import copy
import datetime as _dt
import json
import pickle
from typing import Any

import pytest

from devsms_async import (
    APIError,
    APITimeoutError,
    DevSMSError,
    MalformedResponseError,
    OtpTemplate,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ServiceNameRejectedError,
    ValidationError,
    WaitTimeoutError,
)
from devsms_async.testing import Sandbox

PHONE = "998901234567"
TEXT = "Tasdiqlash kodi 483920, hech kimga aytmang"
CODE = "483920"
TOKEN = "pickle-test-token-123"


def secrets_in(error: BaseException) -> list[str]:
    """Which secrets the pickle of ``error`` holds (any form a reader could grep)."""
    data = pickle.dumps(error)
    forms = {
        "number": [PHONE, PHONE[3:], "+" + PHONE],
        "code": [CODE],
        "token": [TOKEN],
        "text": [TEXT],
    }
    found = []
    for name, variants in forms.items():
        for variant in variants:
            if variant.encode() in data or variant.encode("utf-16-le") in data:
                found.append(name)
                break
    return found


def round_trip(error: DevSMSError) -> Any:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    return copy


# -- WaitTimeoutError: the record of the last poll -------------------------------------


async def timed_out_wait() -> WaitTimeoutError:
    sandbox = Sandbox(token=TOKEN)
    async with sandbox.client() as sms:
        sent = await sms.send_sms(PHONE, TEXT)
        with pytest.raises(WaitTimeoutError) as caught:
            await sms.wait_for_status(sent.sms_id, timeout=0.05, poll_initial=0.01, poll_max=0.01)
    return caught.value


def test_a_pickled_wait_timeout_keeps_the_status_but_not_the_number_or_text(run: Any) -> None:
    error = run(timed_out_wait)
    assert error.last is not None
    assert error.last.phone_number == PHONE  # in this process, the record as polled
    assert secrets_in(error) == []
    copy = round_trip(error)
    assert copy.last.phone_number == "99890***4567"
    assert copy.last.message == f"<{len(TEXT)} chars>"
    assert (copy.last.id, copy.last.status, copy.last.total_cost) == (
        error.last.id,
        error.last.status,
        error.last.total_cost,
    )
    assert (copy.sms_id, copy.polls, copy.timeout) == (error.sms_id, error.polls, error.timeout)


def test_a_pickled_wait_timeout_of_the_sync_client_holds_no_number() -> None:
    sandbox = Sandbox(token=TOKEN)
    with sandbox.sync_client() as sms:
        sent = sms.send_sms(PHONE, TEXT)
        with pytest.raises(WaitTimeoutError) as caught:
            sms.wait_for_status(sent.sms_id, timeout=0.05, poll_initial=0.01, poll_max=0.01)
    assert caught.value.last is not None
    assert secrets_in(caught.value) == []
    assert round_trip(caught.value).last.phone_number == "99890***4567"


# -- every other error that a number, a code or an answer flows into -------------------


async def errors_from_the_api() -> list[DevSMSError]:
    sandbox = Sandbox(token=TOKEN, blocked_service_names=["Lucky Casino"])
    # A plain send's text is no secret (only the number and the token are); an OTP
    # send's code is.
    echo = json.dumps({"success": False, "error": f"bad phone {PHONE} token {TOKEN}"})
    echo_otp = json.dumps({"success": False, "error": f"phone {PHONE} code {CODE}"})
    errors: list[DevSMSError] = []
    async with sandbox.client(max_retries=0) as sms:
        sandbox.disconnect_next(path="send_sms.php", after_processing=True)
        with pytest.raises(SendOutcomeUnknownError) as unknown:
            await sms.send_sms(PHONE, TEXT)
        errors.append(unknown.value)

        sandbox.fail_next(400, body=echo, path="send_sms.php")
        with pytest.raises(APIError) as refused:
            await sms.send_sms(PHONE, TEXT)
        errors.append(refused.value)

        sandbox.fail_next(200, body=f"<html>{PHONE} {TOKEN}</html>", path="send_sms.php")
        with pytest.raises((MalformedResponseError, SendOutcomeUnknownError)) as malformed:
            await sms.send_sms(PHONE, TEXT)
        errors.append(malformed.value)

        sandbox.fail_next(500, body=echo, path="get_status.php")
        with pytest.raises(APIError) as failed_read:
            await sms.get_status(sms_id=1)
        errors.append(failed_read.value)

        sandbox.disconnect_next(path="send_sms.php", after_processing=True)
        with pytest.raises(SendOutcomeUnknownError) as unknown_otp:
            await sms.send_otp(
                PHONE, template=OtpTemplate.LOGIN, service_name="Shop", otp_code=CODE
            )
        errors.append(unknown_otp.value)

        sandbox.fail_next(400, body=echo_otp, path="send_sms.php")
        with pytest.raises(APIError) as refused_otp:
            await sms.send_otp(
                PHONE, template=OtpTemplate.LOGIN, service_name="Shop", otp_code=CODE
            )
        errors.append(refused_otp.value)

        with pytest.raises(ServiceNameRejectedError) as rejected:
            await sms.send_otp(
                PHONE, template=OtpTemplate.LOGIN, service_name="Lucky Casino", otp_code=CODE
            )
        errors.append(rejected.value)

        with pytest.raises(ValidationError) as invalid:
            await sms.send_sms(PHONE + "99999", TEXT)
        errors.append(invalid.value)
    return errors


def test_no_error_from_a_send_or_a_read_pickles_a_number_code_or_token(run: Any) -> None:
    errors = run(errors_from_the_api)
    assert len(errors) == 8
    assert [(type(e).__name__, secrets_in(e)) for e in errors] == [
        (type(e).__name__, []) for e in errors
    ]
    for error in errors:
        round_trip(error)


# -- errors cross processes ----------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("phone", "is empty"),
        RateLimitError("slow down", status_code=429, error="Juda ko'p", retry_after=3.0),
        ServerError("boom", status_code=502, method="GET", path="get_balance.php"),
        APITimeoutError("request timed out (ReadTimeout)"),
        SendOutcomeUnknownError(
            "lost",
            phone=PHONE,
            fingerprint="0123456789abcdef",
            started_at=_dt.datetime(2026, 3, 9, 5, 30, tzinfo=_dt.timezone.utc),
            status_code=502,
            text="Salom!",
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_and_copying(error: Exception) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.args == error.args
        assert vars(clone) == vars(error)
