"""The verifier's guards before any send: number types the fraud guard refuses, and a
client of the wrong face refused at construction (nothing sent, nothing charged)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from devsms_async import AsyncDevSMS, DevSMS, UsageError, ValidationError
from devsms_async.testing import Sandbox
from devsms_async.verify import (
    NUMBER_TYPES,
    MemoryStore,
    NumberTypeNotAllowedError,
    SyncMemoryStore,
    SyncVerifier,
    VerificationError,
    Verifier,
)

SECRET = "guard-test-secret-0123456789abc"
ABROAD = {"UZ", "GB", "US"}
# Premium-rate, toll-free and fixed-line numbers inside allowed countries.
REFUSED = {
    "+44 909 879 0000": "premium_rate",
    "+1 900 200 1234": "premium_rate",
    "+44 800 123 4567": "toll_free",
    "+44 20 7123 4567": "fixed_line",
    "+998 71 123 45 67": "fixed_line",
}


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


async def _refusals(sandbox: Sandbox) -> list[tuple[str, str, str]]:
    seen = []
    async with sandbox.client() as sms:
        verifier = Verifier(
            sms,
            MemoryStore(),
            service_name="MyShop",
            secret_key=SECRET,
            allowed_countries=ABROAD,
        )
        for phone in REFUSED:
            with pytest.raises(NumberTypeNotAllowedError) as caught:
                await verifier.start(phone)
            error = caught.value
            pickled = repr(pickle.loads(pickle.dumps(error)).args)
            seen.append((phone, error.number_type, str(error) + pickled))
        await verifier.start("+447911123456")  # a British mobile is fine
        await verifier.start("+12025551234")  # fixed_line_or_mobile (the US) too
    return seen


def test_premium_rate_and_other_non_mobile_numbers_get_no_code(run: Callable[..., Any]) -> None:
    sandbox = Sandbox()
    for phone, number_type, text in run(_refusals, sandbox):
        assert number_type == REFUSED[phone]
        assert isinstance(NumberTypeNotAllowedError("x", number_type="y"), VerificationError)
        digits = _digits(phone)
        for part in (digits, digits[-7:], digits[-4:]):
            assert part not in text
        assert "allowed_number_types" in text
    sent = [r for r in sandbox.requests if r.endpoint == "send_sms.php"]
    assert len(sent) == 2


async def _allowed(sandbox: Sandbox) -> None:
    async with sandbox.client() as sms:
        verifier = Verifier(
            sms,
            service_name="MyShop",
            secret_key=SECRET,
            allowed_countries=ABROAD,
            allowed_number_types=["mobile", "fixed_line_or_mobile", "toll_free"],
        )
        await verifier.start("+44 800 123 4567")
        with pytest.raises(NumberTypeNotAllowedError):
            await verifier.start("+44 909 879 0000")


def test_the_allowed_number_types_are_configurable(run: Callable[..., Any]) -> None:
    sandbox = Sandbox()
    run(_allowed, sandbox)
    assert sum(1 for r in sandbox.requests if r.endpoint == "send_sms.php") == 1
    sync = SyncVerifier(
        Sandbox().sync_client(),
        service_name="MyShop",
        secret_key=SECRET,
        allowed_number_types=("MOBILE",),
    )
    assert sync.allowed_number_types == {"mobile"}
    for bad in ("mobile", ["mobil"], [], [1]):
        with pytest.raises(ValidationError) as caught:
            SyncVerifier(
                Sandbox().sync_client(),
                service_name="MyShop",
                secret_key=SECRET,
                allowed_number_types=bad,
            )  # type: ignore[arg-type]
        assert caught.value.field == "allowed_number_types"
    assert {"premium_rate", "mobile", "toll_free"} <= set(NUMBER_TYPES)


def test_a_sync_client_is_refused_by_the_async_verifier_before_any_send() -> None:
    sandbox = Sandbox()
    with sandbox.sync_client() as sms:
        with pytest.raises(UsageError) as caught:
            Verifier(sms, service_name="MyShop", secret_key=SECRET)  # type: ignore[arg-type]
        assert "SyncVerifier" in str(caught.value)
    assert sandbox.requests == []


async def _reverse(sandbox: Sandbox) -> str:
    async with sandbox.client() as sms:
        with pytest.raises(UsageError) as caught:
            SyncVerifier(sms, service_name="MyShop", secret_key=SECRET)  # type: ignore[arg-type]
    return str(caught.value)


def test_an_async_client_is_refused_by_the_sync_verifier(run: Callable[..., Any]) -> None:
    sandbox = Sandbox()
    text = run(_reverse, sandbox)
    assert "Verifier" in text
    assert "AsyncDevSMS" in text
    assert sandbox.requests == []


def test_a_store_of_the_other_face_is_refused() -> None:
    sms = DevSMS("t")
    with pytest.raises(UsageError, match="SyncMemoryStore"):
        SyncVerifier(sms, MemoryStore(), service_name="MyShop", secret_key=SECRET)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="SyncVerifier"):
        Verifier(AsyncDevSMS("t"), SyncMemoryStore(), service_name="MyShop", secret_key=SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Verifier(object(), service_name="MyShop", secret_key=SECRET)  # type: ignore[arg-type]
