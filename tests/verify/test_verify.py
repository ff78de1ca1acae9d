"""devsms_async.verify on MemoryStore, against the sandbox, on asyncio and trio.

The concurrency claims run with a store wrapper that yields to the event loop around
every store call (as a network store does), so the checks really interleave.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from devsms_async import (
    AsyncDevSMS,
    BadRequestError,
    DevSMSError,
    ServiceNameRejectedError,
    ValidationError,
)
from devsms_async.testing import ManualClock, Sandbox
from devsms_async.verify import (
    Approved,
    CheckResult,
    CodeRecord,
    CountryNotAllowedError,
    Expired,
    KeyLimitError,
    Limit,
    MemoryStore,
    NoPendingVerification,
    PhoneLimitError,
    Rate,
    Refusal,
    ResendTooSoonError,
    ServiceLimitError,
    ServiceNameBlockedError,
    SpendLimitError,
    Store,
    TooManyAttempts,
    VerificationError,
    Verifier,
    VerifyLimitError,
    WrongCode,
)

Run = Callable[..., Any]
PHONE = "998901234567"
SECRET = 'sëcret/key "quoted" &=+ 0123456789abcdef'


class YieldingStore:
    """A store that checkpoints before and after every call, like a network store."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((name, args, kwargs))
        await anyio.sleep(0)
        result = await getattr(self.inner, name)(*args, **kwargs)
        await anyio.sleep(0)
        return result

    async def begin(
        self, key: str, record: CodeRecord, limits: Sequence[Limit], *, now: float, ttl: float
    ) -> Refusal | None:
        return await self._call("begin", key, record, limits, now=now, ttl=ttl)  # type: ignore[no-any-return]

    async def take_attempt(self, key: str, *, now: float) -> tuple[CodeRecord, bool] | None:
        return await self._call("take_attempt", key, now=now)  # type: ignore[no-any-return]

    async def consume(self, key: str, verification_id: str) -> bool:
        return await self._call("consume", key, verification_id)  # type: ignore[no-any-return]

    async def rollback(self, key: str, verification_id: str, limits: Sequence[Limit]) -> None:
        await self._call("rollback", key, verification_id, limits)

    async def delete(self, key: str) -> bool:
        return await self._call("delete", key)  # type: ignore[no-any-return]

    async def set_flag(self, key: str, *, ttl: float) -> None:
        await self._call("set_flag", key, ttl=ttl)

    async def has_flag(self, key: str) -> bool:
        return await self._call("has_flag", key)  # type: ignore[no-any-return]


def make(
    sms: AsyncDevSMS, clock: ManualClock, store: Store | None = None, **options: Any
) -> Verifier:
    options.setdefault("service_name", "Sandbox App")
    options.setdefault("secret_key", SECRET)
    return Verifier(sms, store if store is not None else MemoryStore(), clock=clock, **options)


def sends(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "send_sms.php")


# -- the flow ----------------------------------------------------------------------------


def test_start_then_check_approves_exactly_once(run: Run) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            verifier = make(sms, clock)
            started = await verifier.start("+998 90 123-45-67")
            code = sandbox.last_otp(PHONE)
            assert len(code) == 6
            assert code.isdigit()
            message = sandbox.messages[-1]
            assert started.sms_id == message.sms_id
            assert message.type.value == "universal_otp"
            assert "Sandbox App" in message.text
            assert started.masked_phone == "99890***4567"
            assert started.expires_at == clock() + _dt.timedelta(seconds=300)
            assert started.resend_at == clock() + _dt.timedelta(seconds=60)
            assert started.attempts_left == 5
            assert started.outcome_unknown is None
            result = await verifier.check(PHONE, code)
            assert result == Approved(verification_id=started.id)
            assert result.status == "approved"
            assert await verifier.check(PHONE, code) == NoPendingVerification()

    run(scenario)


def test_wrong_codes_count_down_then_lock(run: Run) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            verifier = make(sms, clock, max_attempts=3)
            started = await verifier.start(PHONE)
            code = sandbox.last_otp(PHONE)
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            lefts = []
            for _ in range(3):
                result = await verifier.check(PHONE, wrong)
                assert isinstance(result, WrongCode)
                lefts.append(result.attempts_left)
            assert lefts == [2, 1, 0]
            # Locked: even the right code is refused now.
            assert await verifier.check(PHONE, code) == TooManyAttempts(verification_id=started.id)

    run(scenario)


async def test_a_right_code_after_a_wrong_one_is_approved(
    devsms_verifier: Verifier, devsms_sandbox: Sandbox
) -> None:
    await devsms_verifier.start(PHONE)
    code = devsms_sandbox.last_otp(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    assert isinstance(await devsms_verifier.check(PHONE, wrong), WrongCode)
    assert isinstance(await devsms_verifier.check(PHONE, code), Approved)


async def test_the_code_expires_with_the_clock(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock, ttl=120, resend_after=30)
    started = await verifier.start(PHONE)
    code = devsms_sandbox.last_otp(PHONE)
    devsms_clock.advance(119)
    devsms_clock.advance(1)
    assert await verifier.check(PHONE, code) == Expired(verification_id=started.id)
    # Expired, so a fresh one may be started (the cooldown is long over).
    await verifier.start(PHONE)
    assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)


async def test_a_code_just_before_expiry_is_still_good(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock, ttl=120)
    await verifier.start(PHONE)
    devsms_clock.advance(119.5)
    assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)


async def test_resend_waits_for_the_cooldown_and_invalidates_the_old_code(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock)
    first = await verifier.start(PHONE)
    old = devsms_sandbox.last_otp(PHONE)
    with pytest.raises(ResendTooSoonError) as caught:
        await verifier.start(PHONE)
    assert caught.value.retry_after == 60
    assert caught.value.scope == "resend"
    devsms_clock.advance(45)
    with pytest.raises(ResendTooSoonError) as caught:
        await verifier.start(PHONE)
    assert caught.value.retry_after == 15
    assert sends(devsms_sandbox) == 1
    devsms_clock.advance(15)
    second = await verifier.start(PHONE)
    assert second.id != first.id
    new = devsms_sandbox.last_otp(PHONE)
    if new != old:
        assert isinstance(await verifier.check(PHONE, old), WrongCode)
    assert await verifier.check(PHONE, new) == Approved(verification_id=second.id)


async def test_a_replayed_digest_of_an_old_code_does_not_match_a_new_one(
    devsms_client: AsyncDevSMS, devsms_clock: ManualClock
) -> None:
    """The digest binds the verification id: the same code twice gives two digests."""
    store = YieldingStore(MemoryStore())
    verifier = make(devsms_client, devsms_clock, store, resend_after=0)
    await verifier.start(PHONE)
    await verifier.start(PHONE)
    records = [args[1] for name, args, _ in store.calls if name == "begin"]
    assert records[0].digest != records[1].digest
    assert len(records[0].digest) == 64


# -- caps ----------------------------------------------------------------------------------


async def test_the_per_phone_cap_carries_retry_after(
    devsms_client: AsyncDevSMS, devsms_clock: ManualClock
) -> None:
    devsms_clock.set(_dt.datetime(2026, 3, 9, 10, 0, 0, tzinfo=_dt.timezone.utc))
    verifier = make(devsms_client, devsms_clock, per_phone=Rate(3, 3600), resend_after=60)
    for _ in range(3):
        await verifier.start(PHONE)
        devsms_clock.advance(60)
    with pytest.raises(PhoneLimitError) as caught:
        await verifier.start(PHONE)
    assert caught.value.retry_after == 3600 - 180
    assert "99890***4567" in str(caught.value)
    devsms_clock.advance(caught.value.retry_after)
    await verifier.start(PHONE)


async def test_the_per_key_cap_counts_across_phones(
    devsms_client: AsyncDevSMS, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock, per_key=Rate(2, 600))
    await verifier.start("998901000001", key="10.0.0.1")
    await verifier.start("998901000002", key="10.0.0.1")
    with pytest.raises(KeyLimitError) as caught:
        await verifier.start("998901000003", key="10.0.0.1")
    assert 0 < caught.value.retry_after <= 600
    # Another caller is not affected; no key means no per-key cap.
    await verifier.start("998901000003", key="10.0.0.2")
    await verifier.start("998901000004")


async def test_the_per_service_cap(devsms_client: AsyncDevSMS, devsms_clock: ManualClock) -> None:
    verifier = make(devsms_client, devsms_clock, per_service=Rate(2, 3600))
    await verifier.start("998901000001")
    await verifier.start("998901000002")
    with pytest.raises(ServiceLimitError) as caught:
        await verifier.start("998901000003")
    assert isinstance(caught.value, VerifyLimitError)
    assert isinstance(caught.value, VerificationError)
    assert caught.value.retry_after > 0


async def test_the_spend_cap_uses_prices_and_parts(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(
        devsms_client,
        devsms_clock,
        allowed_countries=["UZ", "KZ"],
        max_spend_per_hour=10_440,
    )
    await verifier.start("998901000001")  # 50 so'm: one part at the Uzbek price
    with pytest.raises(SpendLimitError) as caught:
        await verifier.start("77012345678")  # Kazakhstan: 10 398 so'm a part
    assert caught.value.retry_after > 0
    assert sends(devsms_sandbox) == 1
    cheap = make(
        devsms_client, devsms_clock, allowed_countries=["uz", "kz"], max_spend_per_hour=20_000
    )
    await cheap.start("77012345678")
    assert devsms_sandbox.messages[-1].total_cost == 10_398


async def test_a_send_that_never_happened_gives_the_caps_back(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock, per_phone=Rate(1, 3600))
    devsms_sandbox.fail_next(400, path="send_sms.php", error="Xatolik")
    with pytest.raises(BadRequestError):
        await verifier.start(PHONE)
    # Neither the cooldown nor the cap was used up by the refused send.
    started = await verifier.start(PHONE)
    assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)
    assert started.sms_id is not None


# -- fraud guard and money -----------------------------------------------------------------


async def test_only_uzbek_numbers_by_default(
    devsms_verifier: Verifier, devsms_sandbox: Sandbox
) -> None:
    with pytest.raises(CountryNotAllowedError) as caught:
        await devsms_verifier.start("+7 701 234 56 78")
    assert caught.value.country == "KZ"
    assert "77012***5678" in str(caught.value)
    assert devsms_sandbox.requests == []


async def test_allowed_countries_opens_others(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock, allowed_countries={"UZ", "KZ"})
    await verifier.start("77012345678")
    assert devsms_sandbox.messages[-1].country_code == "kz"
    with pytest.raises(CountryNotAllowedError):
        await verifier.start("12025550123")


async def test_a_rejected_service_name_stops_every_later_send(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    store = MemoryStore()
    verifier = make(devsms_client, devsms_clock, store, service_name="Kazino Club")
    balance = devsms_sandbox.balance
    with pytest.raises(ServiceNameRejectedError) as rejected:
        await verifier.start(PHONE)
    assert rejected.value.charged is True
    assert devsms_sandbox.balance < balance
    with pytest.raises(ValidationError):
        devsms_sandbox.last_otp(PHONE)  # nothing was delivered
    with pytest.raises(ServiceNameBlockedError) as blocked:
        await verifier.start("998901000002")
    assert blocked.value.service_name == "Kazino Club"
    assert "another name" in str(blocked.value)
    # Another worker with the same store and name is stopped too, before any request.
    other = make(devsms_client, devsms_clock, store, service_name="Kazino Club")
    with pytest.raises(ServiceNameBlockedError):
        await other.start("998901000003")
    assert sends(devsms_sandbox) == 1
    # The rejected code is gone, not pending.
    assert await verifier.check(PHONE, "123456") == NoPendingVerification()
    await other.clear_service_name_block()
    devsms_sandbox.blocked_service_names.clear()
    await other.start("998901000004")
    assert sends(devsms_sandbox) == 2


async def test_an_unknown_outcome_counts_as_sent_and_is_never_resent(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock)
    devsms_sandbox.disconnect_next(path="send_sms.php", after_processing=True)
    started = await verifier.start(PHONE)
    assert started.sms_id is None
    assert started.outcome_unknown is not None
    assert "outcome_unknown" not in repr(started)
    assert sends(devsms_sandbox) == 1
    with pytest.raises(ResendTooSoonError):
        await verifier.start(PHONE)
    assert sends(devsms_sandbox) == 1
    # It did arrive: the code the user got works.
    assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)


async def test_a_cancelled_send_keeps_the_code(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    """A send interrupted mid-way may have happened: nothing is rolled back."""

    class Hanging:
        async def send_otp(self, phone: str, **kwargs: Any) -> Any:
            await devsms_client.send_otp(phone, **kwargs)
            await anyio.sleep_forever()

    verifier = make(Hanging(), devsms_clock)  # type: ignore[arg-type]
    with anyio.move_on_after(0.05):
        await verifier.start(PHONE)
    with pytest.raises(ResendTooSoonError):
        await verifier.start(PHONE)
    assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)


# -- cancel, input, construction -------------------------------------------------------


async def test_cancel(devsms_verifier: Verifier, devsms_sandbox: Sandbox) -> None:
    await devsms_verifier.start(PHONE)
    assert await devsms_verifier.cancel(PHONE) is True
    assert (
        await devsms_verifier.check(PHONE, devsms_sandbox.last_otp(PHONE))
        == NoPendingVerification()
    )
    assert await devsms_verifier.cancel(PHONE) is False


async def test_bad_input_is_a_validation_error_before_anything(
    devsms_verifier: Verifier, devsms_sandbox: Sandbox
) -> None:
    for phone in ("99890123", "abc", "+998 90 123 45 678"):
        with pytest.raises(ValidationError):
            await devsms_verifier.start(phone)
    with pytest.raises(ValidationError):
        await devsms_verifier.start(PHONE, key="")
    with pytest.raises(ValidationError):
        await devsms_verifier.start(PHONE, key=42)  # type: ignore[arg-type]
    assert devsms_sandbox.requests == []
    for code in ("12345", "1234567", "12345a", "１２３４５６", 123456):
        with pytest.raises(ValidationError) as caught:
            await devsms_verifier.check(PHONE, code)  # type: ignore[arg-type]
        assert caught.value.field == "code"


@pytest.mark.parametrize("length", [4, 8])
async def test_code_length(
    length: int, devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    verifier = make(devsms_client, devsms_clock, code_length=length)
    await verifier.start(PHONE)
    code = devsms_sandbox.last_otp(PHONE)
    assert len(code) == length
    assert code.isdigit()
    assert isinstance(await verifier.check(PHONE, code), Approved)


def test_codes_are_uniform_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codes come from secrets.choice over the ten digits."""
    import secrets

    original = secrets.choice
    seen: list[str] = []

    def choice(seq: str) -> str:
        seen.append(seq)
        return original(seq)

    monkeypatch.setattr(secrets, "choice", choice)

    async def scenario() -> None:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            await make(sms, clock).start(PHONE)

    anyio.run(scenario)
    assert seen == ["0123456789"] * 6


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("secret_key", "short"),
        ("secret_key", 12345678901234567890),
        ("code_length", 3),
        ("code_length", 9),
        ("ttl", 0),
        ("max_attempts", 0),
        ("resend_after", -1),
        ("per_phone", 5),
        ("allowed_countries", "UZ"),
        ("allowed_countries", []),
        ("max_spend_per_hour", 0),
        ("account", "other"),
        ("uz_price", -1),
        ("service_name", "x"),
        ("template", 9),
        ("store", object()),
    ],
)
def test_bad_options_are_validation_errors(option: str, value: Any) -> None:
    options: dict[str, Any] = {"service_name": "Shop", "secret_key": SECRET, option: value}
    store = options.pop("store", None)
    with pytest.raises(ValidationError):
        Verifier(object(), store, **options)  # type: ignore[arg-type]


def test_bad_rates_and_stores() -> None:
    with pytest.raises(ValidationError):
        Rate(0)
    with pytest.raises(ValidationError):
        Rate(5, per=0.5)
    with pytest.raises(ValidationError):
        MemoryStore(max_entries=1)


async def test_a_naive_clock_is_refused(devsms_client: AsyncDevSMS) -> None:
    verifier = Verifier(
        devsms_client,
        service_name="Shop",
        secret_key=SECRET,
        clock=lambda: _dt.datetime(2026, 1, 1),
    )
    with pytest.raises(ValidationError, match="aware"):
        await verifier.start(PHONE)


async def test_the_default_store_and_clock(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox
) -> None:
    verifier = Verifier(devsms_client, service_name="Shop", secret_key=SECRET)
    assert isinstance(verifier.store, MemoryStore)
    started = await verifier.start(PHONE)
    assert started.expires_at.tzinfo is not None
    assert abs((started.expires_at - _dt.datetime.now(_dt.timezone.utc)).total_seconds() - 300) < 60
    assert isinstance(await verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)


# -- concurrency (tasks; the store yields around every call) ----------------------------


def fifty_right_codes(run: Run, **options: Any) -> list[CheckResult]:
    """Fifty tasks check the right code at once; what each of them got."""

    async def scenario() -> list[CheckResult]:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            verifier = make(sms, clock, YieldingStore(MemoryStore()), **options)
            await verifier.start(PHONE)
            code = sandbox.last_otp(PHONE)
            results: list[CheckResult] = []

            async def one() -> None:
                results.append(await verifier.check(PHONE, code))

            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(one)
            return results

    return run(scenario)  # type: ignore[no-any-return]


def test_fifty_concurrent_right_codes_approve_exactly_once(run: Run) -> None:
    results = fifty_right_codes(run, max_attempts=100)
    assert len(results) == 50
    assert sum(isinstance(r, Approved) for r in results) == 1
    assert all(isinstance(r, Approved | NoPendingVerification) for r in results)


def test_fifty_concurrent_right_codes_with_few_attempts(run: Run) -> None:
    """With max_attempts=5, at most five checks ever compare; one of them wins."""
    results = fifty_right_codes(run)
    assert sum(isinstance(r, Approved) for r in results) == 1
    assert sum(isinstance(r, TooManyAttempts) for r in results) == 45


def test_a_hundred_concurrent_wrong_guesses_count_at_most_max_attempts(run: Run) -> None:
    async def scenario() -> tuple[list[CheckResult], CheckResult]:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            inner = MemoryStore()
            verifier = make(sms, clock, YieldingStore(inner))
            await verifier.start(PHONE)
            code = sandbox.last_otp(PHONE)
            guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 101)]
            results: list[CheckResult] = []

            async def one(guess: str) -> None:
                results.append(await verifier.check(PHONE, guess))

            async with anyio.create_task_group() as tg:
                for guess in guesses:
                    tg.start_soon(one, guess)
            return results, await verifier.check(PHONE, code)

    results, after = run(scenario)
    wrong = [r for r in results if isinstance(r, WrongCode)]
    assert len(wrong) == 5
    assert sorted(r.attempts_left for r in wrong) == [0, 1, 2, 3, 4]
    assert sum(isinstance(r, TooManyAttempts) for r in results) == 95
    assert isinstance(after, TooManyAttempts)


def test_concurrent_starts_respect_the_caps(run: Run) -> None:
    async def scenario() -> list[object]:
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            verifier = make(sms, clock, YieldingStore(MemoryStore()), per_key=Rate(7, 3600))
            outcomes: list[object] = []

            async def one(n: int) -> None:
                try:
                    outcomes.append(await verifier.start(f"99890100{n:04d}", key="1.2.3.4"))
                except DevSMSError as exc:
                    outcomes.append(exc)

            async with anyio.create_task_group() as tg:
                for n in range(30):
                    tg.start_soon(one, n)
            assert sends(sandbox) == 7
            return outcomes

    outcomes = run(scenario)
    assert sum(isinstance(o, KeyLimitError) for o in outcomes) == 23


# -- MemoryStore -----------------------------------------------------------------------------


async def test_memory_store_is_bounded_and_purges_expired_entries(
    devsms_client: AsyncDevSMS, devsms_clock: ManualClock
) -> None:
    store = MemoryStore(max_entries=10)
    verifier = make(devsms_client, devsms_clock, store, per_phone=None, per_service=None)
    for n in range(25):
        await verifier.start(f"99890100{n:04d}")
    assert len(store) == 10
    # The newest survive; the oldest were dropped.
    assert await verifier.cancel("998901000024") is True
    assert await verifier.cancel("998901000000") is False
    devsms_clock.advance(400)
    await verifier.check("998901000023", "123456")
    assert len(store) == 0
    assert "entries=0" in repr(store)


async def test_memory_store_purges_counters_when_their_window_ends(
    devsms_client: AsyncDevSMS, devsms_clock: ManualClock
) -> None:
    store = MemoryStore()
    verifier = make(devsms_client, devsms_clock, store)
    await verifier.start(PHONE, key="k")
    assert len(store) == 4  # the code, and the phone, key and service counters
    devsms_clock.advance(3700)
    await verifier.check(PHONE, "123456")
    assert len(store) == 0


def test_the_stores_implement_the_protocol() -> None:
    assert isinstance(MemoryStore(), Store)
    assert not isinstance(object(), Store)


# -- secrets -------------------------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    }


async def test_nothing_secret_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture, devsms_clock: ManualClock
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = Sandbox(clock=devsms_clock)
    seen: list[str] = []
    async with sandbox.client(max_retries=0) as sms:
        store = YieldingStore(MemoryStore())
        verifier = make(
            sms, devsms_clock, store, allowed_countries=["UZ", "KZ"], max_spend_per_hour=20_000
        )
        seen.append(repr(verifier))
        started = await verifier.start(PHONE, key="198.51.100.7")
        code = sandbox.last_otp(PHONE)
        seen += [repr(started), str(started)]
        for attempt in (f"{(int(code) + 1) % 1_000_000:06d}", code, code):
            result = await verifier.check(PHONE, attempt)
            seen += [repr(result), str(result)]
        errors: list[BaseException] = []
        for action in (
            lambda: verifier.start("998901112233"),
            lambda: verifier.start("998901112233"),  # too soon
            lambda: verifier.start("77012345678"),
            lambda: verifier.start("77012345679"),  # spend cap
            lambda: verifier.check(PHONE, "12ab56"),
        ):
            try:
                await action()
            except DevSMSError as exc:
                errors.append(exc)
        sandbox.disconnect_next(path="send_sms.php", after_processing=True)
        devsms_clock.advance(120)
        unknown = await verifier.start(PHONE)
        assert unknown.outcome_unknown is not None
        errors.append(unknown.outcome_unknown)
        bad = make(sms, devsms_clock, service_name="Scam Club")
        try:
            await bad.start(PHONE)
        except DevSMSError as exc:
            errors.append(exc)
        seen += [repr(e) for e in errors] + [str(e) for e in errors]
        seen += [repr(call) for call in store.calls]
    assert {type(e).__name__ for e in errors} >= {
        "ResendTooSoonError",
        "SpendLimitError",
        "ValidationError",
        "SendOutcomeUnknownError",
        "ServiceNameRejectedError",
    }
    secrets = [SECRET, PHONE, "998901112233", "77012345678", code, sandbox.last_otp(PHONE)]
    lines = [caplog.text, *(r.getMessage() for r in caplog.records), *seen]
    assert any("verify" in r.getMessage() for r in caplog.records)
    for secret in secrets:
        for form in _forms(secret):
            for line in lines:
                assert form not in line, (form, line)


# -- the sandbox and the fixture -------------------------------------------------------------


async def test_last_otp_needs_a_delivered_code(
    devsms_client: AsyncDevSMS, devsms_sandbox: Sandbox
) -> None:
    with pytest.raises(ValidationError, match="99890\\*\\*\\*4567"):
        devsms_sandbox.last_otp(PHONE)
    await devsms_client.send_sms(PHONE, "Salom 1234")
    with pytest.raises(ValidationError):
        devsms_sandbox.last_otp(PHONE)
    await devsms_client.send_otp(PHONE, template=1, service_name="Shop", otp_code="4821")
    await devsms_client.send_otp(
        "998901000002", template=2, service_name="Shop 2", otp_code="99887766"
    )
    assert devsms_sandbox.last_otp("+998 90 123 45 67") == "4821"
    assert devsms_sandbox.last_otp("998901000002") == "99887766"


async def test_the_verifier_fixture(
    devsms_verifier: Verifier, devsms_sandbox: Sandbox, devsms_clock: ManualClock
) -> None:
    started = await devsms_verifier.start(PHONE)
    assert started.expires_at == devsms_clock() + _dt.timedelta(seconds=300)
    assert devsms_verifier.service_name == "Sandbox App"
    assert isinstance(await devsms_verifier.check(PHONE, devsms_sandbox.last_otp(PHONE)), Approved)


async def test_memory_store_forgets_a_key_at_its_ttl_between_purges() -> None:
    store = MemoryStore()
    record = CodeRecord(
        verification_id="v", digest="d" * 64, expires_at=5.0, resend_at=1.0, max_attempts=3
    )
    assert await store.begin("k", record, [], now=0.0, ttl=10) is None
    taken = await store.take_attempt("k", now=9.0)
    assert taken is not None
    assert taken[0].attempts == 0  # expired at 5: not counted
    assert taken[1] is False
    assert await store.take_attempt("k", now=10.0) is None  # the key's ttl has passed
    limit = Limit(scope="phone", key="n", limit=2, retry_after=5, ttl=5)
    await store.rollback("k", "v", [limit])  # nothing to give back: no error
    assert len(store) == 0


def test_the_verify_namespace() -> None:
    import subprocess
    import sys

    import devsms_async.verify as verify

    assert verify.__all__ == sorted(verify.__all__)
    assert set(verify.__all__) <= set(dir(verify))
    with pytest.raises(AttributeError):
        verify.NoSuchThing  # noqa: B018
    # redis-py is loaded only when a RedisStore is made.
    code = (
        "import sys, devsms_async.verify as v; print('redis' in sys.modules); "
        "v.RedisStore(url='redis://127.0.0.1:1'); print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
