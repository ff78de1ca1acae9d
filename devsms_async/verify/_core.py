"""The rules both verifiers follow, without I/O: ``Verifier`` (async) and
``SyncVerifier`` drive this core and differ only in how they wait (``await`` or not).

``VerifierCore`` holds the options and decides everything that needs no store and no
send: validation, the fraud guard, keys and digests, the caps' counters, the record of
a new code, the error of a refusal and the result of a check. ``NameGate`` is the
state of the single flight for a moderated service name; the faces wait on it with
their own primitive (an ``anyio.Event``, a ``threading.Condition``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
import hashlib
import hmac
import inspect
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Literal

import attrs

from .._fork import ForkGuard
from .._redact import mask_phone
from .._validation import check_int as positive_int
from .._validation import check_service_name, check_template, normalize_phone
from ..errors import (
    APIConnectionError,
    APIError,
    CountryNotAllowedError,
    KeyLimitError,
    NumberTypeNotAllowedError,
    PhoneLimitError,
    ResendTooSoonError,
    SendOutcomeUnknownError,
    ServiceLimitError,
    ServiceNameBlockedError,
    SpendLimitError,
    UsageError,
    ValidationError,
    VerifyLimitError,
)
from ..models import OtpTemplate
from ._results import (
    Approved,
    CheckResult,
    Expired,
    NoPendingVerification,
    TooManyAttempts,
    Verification,
    WrongCode,
)
from ._store import CodeRecord, Limit, Refusal, Scope

logger = logging.getLogger("devsms_async.verify")

# How long a rejected service name stays blocked in the store. Moderation does not
# change its mind by itself; a week keeps the key bounded like every other key.
BLOCK_TTL = 7 * 24 * 3600
MIN_SECRET_BYTES = 16
NOT_SENT = (APIError, APIConnectionError, ValidationError)
"""A send that raised one of these provably never left (``ServiceNameRejectedError``,
an ``APIError`` too, is handled before: it was charged)."""

NUMBER_TYPES = (
    "fixed_line",
    "fixed_line_or_mobile",
    "mobile",
    "pager",
    "personal_number",
    "premium_rate",
    "shared_cost",
    "toll_free",
    "uan",
    "unknown",
    "voicemail",
    "voip",
)
"""The number types ``phonenumbers`` tells apart, as ``allowed_number_types`` names them."""
DEFAULT_NUMBER_TYPES = ("mobile", "fixed_line_or_mobile")

_ERRORS: dict[Scope, type[VerifyLimitError]] = {
    "resend": ResendTooSoonError,
    "phone": PhoneLimitError,
    "key": KeyLimitError,
    "service": ServiceLimitError,
    "spend": SpendLimitError,
}


@attrs.frozen
class Rate:
    """A cap: at most ``limit`` codes per ``per`` seconds (a fixed window)."""

    limit: int
    per: float = 3600.0

    def __attrs_post_init__(self) -> None:
        positive_int("limit", self.limit, 1)
        per: object = self.per
        if isinstance(per, bool) or not isinstance(per, int | float) or not per >= 1:
            raise ValidationError("per", f"must be at least 1 second, got {per!r}")


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _rate(field: str, value: object) -> Rate | None:
    if value is None or isinstance(value, Rate):
        return value
    raise ValidationError(field, f"must be a Rate or None, not {type(value).__name__}")


PER_PHONE = Rate(5, 3600)
PER_KEY = Rate(10, 3600)
PER_SERVICE = Rate(1000, 3600)


def _number_types(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError("allowed_number_types", "must be a collection of type names")
    names = frozenset(str(name).lower() for name in value)
    unknown = sorted(names - set(NUMBER_TYPES))
    if unknown or not names:
        raise ValidationError(
            "allowed_number_types",
            f"must name at least one of {', '.join(NUMBER_TYPES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
        )
    return names


@functools.cache
def _type_names() -> dict[int, str]:
    """``phonenumbers.PhoneNumberType`` values -> the names ``allowed_number_types`` uses."""
    import phonenumbers

    types = vars(phonenumbers.PhoneNumberType).items()
    return {value: name.lower() for name, value in types if name.lower() in NUMBER_TYPES}


def check_sender(sms: object, *, sync: bool) -> None:
    """Refuse a client of the other face before anything is sent.

    An async verifier given ``DevSMS`` would send (and pay), then fail on ``await``;
    a sync one given ``AsyncDevSMS`` would never send and keep the caps used up.
    """
    send_otp: Any = getattr(sms, "send_otp", None)
    if not callable(send_otp):
        raise ValidationError("sms", f"must have a send_otp method, got {type(sms).__name__}")
    is_async = inspect.iscoroutinefunction(send_otp)
    if sync and is_async:
        raise UsageError(
            f"SyncVerifier needs a synchronous client (DevSMS); {type(sms).__name__}.send_otp "
            "is a coroutine function: use devsms_async.verify.Verifier with AsyncDevSMS"
        )
    if not sync and not is_async:
        raise UsageError(
            f"Verifier needs an async client (AsyncDevSMS); {type(sms).__name__}.send_otp is "
            "not a coroutine function: use devsms_async.verify.SyncVerifier with DevSMS"
        )


def check_store_face(store: object, *, sync: bool) -> None:
    begin = getattr(store, "begin", None)
    if begin is None:
        return  # the protocol check names what is missing
    if sync and inspect.iscoroutinefunction(begin):
        raise UsageError(
            f"SyncVerifier needs a SyncStore (SyncMemoryStore, SyncRedisStore); "
            f"{type(store).__name__} is an async store"
        )
    if not sync and not inspect.iscoroutinefunction(begin):
        raise UsageError(
            f"Verifier needs an async Store (MemoryStore, RedisStore); "
            f"{type(store).__name__} is a sync store: use it with SyncVerifier"
        )


class NameGate:
    """Single flight for a moderated service name, within one process.

    Until the provider has accepted the name once (a send answered with success), one
    start at a time may send under it; the others wait for that answer. A rejection
    blocks the name; any other outcome (refused for another reason, unknown, never
    left) lets the next waiter try. Verifiers on the same store object share one gate
    per name (``gate_for``). The faces wait with their own primitive, kept here: a
    ``threading.Condition`` (sync) or an ``anyio.Event`` made by the leader (async).
    Forking resets it: a child never waits for its parent's send.
    """

    __slots__ = ("accepted", "answered", "blocked", "condition", "guard", "leading")

    def __init__(self) -> None:
        self.guard = ForkGuard()
        self.accepted = False
        self.blocked = False
        self.leading = False
        self.condition = threading.Condition()
        self.answered: Any = None  # the leader's anyio.Event (async faces)

    def forked(self) -> None:
        """In a forked child: forget the parent's send in flight and its primitives
        (a lock held by a parent's thread would stay held forever here)."""
        if self.guard.forked():
            self.guard.renew()
            self.leading = False
            self.condition = threading.Condition()
            self.answered = None

    def try_lead(self) -> bool | None:
        """``None``: send freely (accepted); ``True``: lead (send, then ``finish``);
        ``False``: wait for the leader's answer."""
        if self.accepted:
            return None
        if self.leading:
            return False
        self.leading = True
        return True

    def finish(self, outcome: Literal["accepted", "rejected", "other"]) -> None:
        self.leading = False
        if outcome == "accepted":
            self.accepted = True
        elif outcome == "rejected":
            self.blocked = True


_GATES: weakref.WeakKeyDictionary[object, dict[str, NameGate]] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def _new_gates_lock() -> None:
    global _GATES_LOCK  # a fork may have copied the lock while it was held
    _GATES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_gates_lock)


def gate_for(store: object, tag: str) -> NameGate:
    """The process's gate for one service name on ``store``: shared by every verifier
    given that same store object (a store that cannot be weakly referenced or hashed
    gets one gate per verifier)."""
    with _GATES_LOCK:
        try:
            gates = _GATES.setdefault(store, {})
        except TypeError:
            return NameGate()
        return gates.setdefault(tag, NameGate())


@attrs.frozen
class StartPlan:
    """One start after the guards, before the store: what to record and send."""

    number: str
    key: str | None
    cost: int


@attrs.frozen
class NewCode:
    """The code, its record and the caps to bump: made right before ``begin``."""

    code: str = attrs.field(repr=False)
    record: CodeRecord
    limits: list[Limit]
    store_key: str
    now: float
    when: _dt.datetime
    ttl: float


@attrs.frozen
class Consume:
    """A right code: consume ``verification_id`` in the store, then approve."""

    verification_id: str


class VerifierCore:
    """Options and pure rules shared by ``Verifier`` and ``SyncVerifier``."""

    def __init__(
        self,
        *,
        service_name: str,
        template: OtpTemplate | int,
        secret_key: str | bytes,
        code_length: int,
        ttl: int,
        max_attempts: int,
        resend_after: int,
        per_phone: Rate | None,
        per_key: Rate | None,
        per_service: Rate | None,
        allowed_countries: Iterable[str],
        allowed_number_types: Iterable[str],
        max_spend_per_hour: int | None,
        account: Literal["local", "foreign"],
        uz_price: int,
        clock: Callable[[], _dt.datetime] | None,
    ) -> None:
        self.service_name = check_service_name(service_name)
        self.template = check_template(template)
        secret: object = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ValidationError(
                "secret_key", f"must be at least {MIN_SECRET_BYTES} bytes (secrets.token_hex())"
            )
        self._secret = secret
        self.code_length = positive_int("code_length", code_length, 4, 8)
        self.ttl = positive_int("ttl", ttl, 30)
        self.max_attempts = positive_int("max_attempts", max_attempts, 1, 100)
        self.resend_after = positive_int("resend_after", resend_after, 0)
        self.per_phone = _rate("per_phone", per_phone)
        self.per_key = _rate("per_key", per_key)
        self.per_service = _rate("per_service", per_service)
        if isinstance(allowed_countries, str):
            raise ValidationError("allowed_countries", "must be a collection of ISO codes")
        countries = frozenset(str(code).upper() for code in allowed_countries)
        if not countries:
            raise ValidationError("allowed_countries", "must name at least one country")
        self.allowed_countries = countries
        self.allowed_number_types = _number_types(allowed_number_types)
        if max_spend_per_hour is not None:
            positive_int("max_spend_per_hour", max_spend_per_hour, 1)
        self.max_spend_per_hour = max_spend_per_hour
        if account not in ("local", "foreign"):
            raise ValidationError("account", f"must be 'local' or 'foreign', got {account!r}")
        self.account: Literal["local", "foreign"] = account
        self.uz_price = positive_int("uz_price", uz_price, 0)
        self._clock = clock if clock is not None else _utc_now
        # One hash tag for every key of this service name: a Lua script touches the
        # record and the counters together, so they must share a Redis Cluster slot.
        name_id = hashlib.sha256(self.service_name.encode()).hexdigest()[:16]
        self._tag = f"{{{name_id}}}"
        self._parts: int | None = None

    # -- keys and digests -----------------------------------------------------------

    def _id(self, kind: str, value: str) -> str:
        return hmac.new(self._secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]

    def _code_key(self, phone: str) -> str:
        return f"{self._tag}:code:{self._id('phone', phone)}"

    def _block_key(self) -> str:
        return f"{self._tag}:blocked"

    def _digest(self, verification_id: str, phone: str, code: str) -> str:
        message = f"{verification_id}\0{phone}\0{code}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _now(self) -> tuple[float, _dt.datetime]:
        now: object = self._clock()
        if not isinstance(now, _dt.datetime) or now.tzinfo is None:
            raise ValidationError("clock", "must return an aware datetime")
        return now.timestamp(), now

    def _limits(self, phone: str, key: str | None, cost: int, now: float) -> list[Limit]:
        caps: list[tuple[Scope, str, Rate, int]] = []
        if self.per_phone is not None:
            caps.append(("phone", f"phone:{self._id('phone', phone)}", self.per_phone, 1))
        if self.per_key is not None and key is not None:
            caps.append(("key", f"key:{self._id('key', key)}", self.per_key, 1))
        if self.per_service is not None:
            caps.append(("service", "service", self.per_service, 1))
        if self.max_spend_per_hour is not None:
            caps.append(("spend", "spend", Rate(self.max_spend_per_hour, 3600), cost))
        limits = []
        for scope, name, rate, amount in caps:
            window = int(now // rate.per)
            left = (window + 1) * rate.per - now
            limits.append(
                Limit(
                    scope=scope,
                    key=f"{self._tag}:n:{name}:{int(rate.per)}:{window}",
                    limit=rate.limit,
                    amount=amount,
                    retry_after=left,
                    ttl=left + 1,
                )
            )
        return limits

    def _guard_number_type(self, phone: str) -> None:
        import phonenumbers

        kind = phonenumbers.number_type(phonenumbers.parse("+" + phone, None))
        name = _type_names().get(kind, "unknown")
        if name not in self.allowed_number_types:
            # Never the number, not even masked: the type is the whole story.
            raise NumberTypeNotAllowedError(
                f"the number is of type {name!r}; this verifier sends codes only to "
                f"{', '.join(sorted(self.allowed_number_types))} numbers "
                "(allowed_number_types=)",
                number_type=name,
            )

    def _cost(self, phone: str) -> int:
        """Estimated so'm for one code to ``phone``, after the fraud guard's checks."""
        from .._otp import render_otp
        from ..pricing import lookup_country

        country = lookup_country(phone, uz_price=self.uz_price)
        if country.iso.upper() not in self.allowed_countries:
            raise CountryNotAllowedError(
                f"{mask_phone(phone)} is in {country.name} ({country.iso}); this verifier "
                f"sends codes only to {', '.join(sorted(self.allowed_countries))} "
                "(allowed_countries=)",
                country=country.iso,
            )
        self._guard_number_type(phone)
        if self._parts is None:
            from ..sms_parts import count_parts

            text = render_otp(int(self.template), self.service_name, "0" * self.code_length)
            self._parts = count_parts(text).parts
        # Whole so'm, rounded up: the spend cap counts integers (Redis INCRBY), and an
        # estimate that errs high keeps the cap on the safe side.
        cost = self._parts * country.price(self.account)
        return int(cost.to_integral_value(rounding=decimal.ROUND_CEILING))

    # -- the steps of a start -------------------------------------------------------

    def _plan(self, phone: str, key: str | None) -> StartPlan:
        number = normalize_phone(phone)
        given_key: object = key
        if given_key is not None and (
            not isinstance(given_key, str) or not given_key or len(given_key) > 256
        ):
            raise ValidationError("key", "must be None or a non-empty string of <= 256 chars")
        return StartPlan(number=number, key=key, cost=self._cost(number))

    def _blocked_error(self) -> ServiceNameBlockedError:
        return ServiceNameBlockedError(
            f"moderation rejected the service name {self.service_name!r} earlier (charged "
            "once); this verifier sends no more codes under it. Do not retry with another "
            "name: agree a name with the provider and configure it.",
            service_name=self.service_name,
        )

    def _new_code(self, plan: StartPlan) -> NewCode:
        now, when = self._now()
        code = "".join(secrets.choice("0123456789") for _ in range(self.code_length))
        verification_id = secrets.token_hex(8)
        record = CodeRecord(
            verification_id=verification_id,
            digest=self._digest(verification_id, plan.number, code),
            expires_at=now + self.ttl,
            resend_at=now + self.resend_after,
            max_attempts=self.max_attempts,
        )
        return NewCode(
            code=code,
            record=record,
            limits=self._limits(plan.number, plan.key, plan.cost, now),
            store_key=self._code_key(plan.number),
            now=now,
            when=when,
            ttl=max(self.ttl, self.resend_after) + 1,
        )

    def _refused(self, refusal: Refusal, phone: str) -> VerifyLimitError:
        wait = max(0.0, refusal.retry_after)
        texts: dict[Scope, str] = {
            "resend": f"a code was sent to {mask_phone(phone)} less than {self.resend_after} s ago",
            "phone": f"too many codes to {mask_phone(phone)} (per_phone={self.per_phone})",
            "key": f"too many codes for this caller (per_key={self.per_key})",
            "service": f"too many codes for this service (per_service={self.per_service})",
            "spend": f"this hour's spending would pass max_spend_per_hour="
            f"{self.max_spend_per_hour} so'm",
        }
        return _ERRORS[refusal.scope](
            f"{texts[refusal.scope]}; retry after {wait:.0f} s", retry_after=wait
        )

    def _log_rejected(self) -> None:
        logger.warning(
            "verify: moderation rejected service name %r; no more sends under it",
            self.service_name,
        )

    def _log_unknown(self, new: NewCode, number: str) -> None:
        logger.warning(
            "verify %s: the send to %s may or may not have happened; the code stays valid",
            new.record.verification_id,
            mask_phone(number),
        )

    def _verification(
        self,
        new: NewCode,
        number: str,
        sms_id: int | None,
        unknown: SendOutcomeUnknownError | None,
    ) -> Verification:
        masked = mask_phone(number)
        vid = new.record.verification_id
        logger.debug("verify %s: code sent to %s (sms_id=%s)", vid, masked, sms_id)
        tz = new.when.tzinfo
        return Verification(
            id=vid,
            masked_phone=masked,
            expires_at=_dt.datetime.fromtimestamp(new.record.expires_at, tz),
            resend_at=_dt.datetime.fromtimestamp(new.record.resend_at, tz),
            attempts_left=self.max_attempts,
            sms_id=sms_id,
            outcome_unknown=unknown,
        )

    # -- the steps of a check -------------------------------------------------------

    def _check_input(self, phone: str, code: str) -> tuple[str, str, float]:
        number = normalize_phone(phone)
        given: object = code
        if not isinstance(given, str):
            raise ValidationError("code", f"must be a string, not {type(given).__name__}")
        if len(code) != self.code_length or not (code.isascii() and code.isdigit()):
            raise ValidationError("code", f"must be {self.code_length} ASCII digits")
        now, _ = self._now()
        return number, self._code_key(number), now

    def _judge(
        self,
        taken: tuple[CodeRecord, bool] | None,
        number: str,
        code: str,
        now: float,
    ) -> CheckResult | Consume:
        if taken is None:
            return NoPendingVerification()
        record, counted = taken
        vid = record.verification_id
        if now >= record.expires_at:
            return Expired(verification_id=vid)
        if not counted:
            return TooManyAttempts(verification_id=vid)
        if hmac.compare_digest(self._digest(vid, number, code), record.digest):
            return Consume(vid)
        left = record.max_attempts - record.attempts
        logger.debug("verify %s: wrong code, %d attempts left", vid, left)
        return WrongCode(verification_id=vid, attempts_left=left)

    @staticmethod
    def _consumed(vid: str, consumed: bool) -> CheckResult:
        if consumed:
            logger.debug("verify %s: approved", vid)
            return Approved(verification_id=vid)
        return NoPendingVerification()
