"""``Verifier``: send a one-time code, then check it, on the provider's universal OTP."""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Literal, Protocol

import attrs

from .._redact import mask_phone
from .._validation import check_service_name, check_template, normalize_phone
from ..errors import (
    APIConnectionError,
    APIError,
    CountryNotAllowedError,
    KeyLimitError,
    PhoneLimitError,
    ResendTooSoonError,
    SendOutcomeUnknownError,
    ServiceLimitError,
    ServiceNameBlockedError,
    ServiceNameRejectedError,
    SpendLimitError,
    ValidationError,
    VerifyLimitError,
)
from ..models import OtpTemplate, SendResult
from ._results import (
    Approved,
    CheckResult,
    Expired,
    NoPendingVerification,
    TooManyAttempts,
    Verification,
    WrongCode,
)
from ._store import CodeRecord, Limit, MemoryStore, Refusal, Scope, Store

__all__ = ["OtpSender", "Rate", "Verifier"]

logger = logging.getLogger("devsms_async.verify")

# How long a rejected service name stays blocked in the store. Moderation does not
# change its mind by itself; a week keeps the key bounded like every other key.
BLOCK_TTL = 7 * 24 * 3600
_MIN_SECRET_BYTES = 16
_ERRORS: dict[Scope, type[VerifyLimitError]] = {
    "resend": ResendTooSoonError,
    "phone": PhoneLimitError,
    "key": KeyLimitError,
    "service": ServiceLimitError,
    "spend": SpendLimitError,
}
_NOT_SENT = (APIError, APIConnectionError, ValidationError)


class OtpSender(Protocol):
    """What a verifier sends with: ``AsyncDevSMS`` (or the sync-free part of anything
    with the same ``send_otp``)."""

    async def send_otp(
        self, phone: str, *, template: OtpTemplate, service_name: str, otp_code: str
    ) -> SendResult: ...


@attrs.frozen
class Rate:
    """A cap: at most ``limit`` codes per ``per`` seconds (a fixed window)."""

    limit: int
    per: float = 3600.0

    def __attrs_post_init__(self) -> None:
        _positive_int("limit", self.limit, 1)
        per: object = self.per
        if isinstance(per, bool) or not isinstance(per, int | float) or not per >= 1:
            raise ValidationError("per", f"must be at least 1 second, got {per!r}")


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _positive_int(field: str, value: object, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValidationError(field, f"must be an int {bounds}, got {value!r}")
    return value


def _rate(field: str, value: object) -> Rate | None:
    if value is None or isinstance(value, Rate):
        return value
    raise ValidationError(field, f"must be a Rate or None, not {type(value).__name__}")


class Verifier:
    """Phone verification: ``start`` sends a code, ``check`` approves it once.

    Codes come from ``secrets``; the store keeps only their HMAC-SHA256 under
    ``secret_key`` (and phone numbers only as HMACs too). See ``docs/verify.md`` for
    every default and the security model.

    Args:
        sms: an entered ``AsyncDevSMS`` (anything with its ``send_otp``).
        store: a ``Store``; default a fresh ``MemoryStore`` (one process).
        service_name: the name in the OTP template (moderated by the provider).
        template: the universal OTP template (default ``OtpTemplate.LOGIN``).
        secret_key: at least 16 bytes (``str`` is UTF-8 encoded); keep it secret, and
            the same in every worker sharing the store.
        code_length: 4-8 digits (the API's range).
        ttl: seconds a code is valid.
        max_attempts: checks per code, right ones included.
        resend_after: seconds before a new code to the same phone.
        per_phone: cap on codes to one phone (a ``Rate``, or ``None`` for none).
        per_key: cap on codes for one caller ``key``; applies when ``key`` is given.
        per_service: cap on codes for the whole service.
        allowed_countries: ISO codes that may receive codes (fraud guard).
        max_spend_per_hour: cap on the estimated so'm spent per hour (``None``: off).
        account: the price column (``"local"`` or ``"foreign"``) for that cap.
        uz_price: the so'm price of one part to an Uzbek number, for that cap.
        clock: returns an aware ``datetime`` (a ``ManualClock`` in tests).
    """

    def __init__(
        self,
        sms: OtpSender,
        store: Store | None = None,
        *,
        service_name: str,
        template: OtpTemplate | int = OtpTemplate.LOGIN,
        secret_key: str | bytes,
        code_length: int = 6,
        ttl: int = 300,
        max_attempts: int = 5,
        resend_after: int = 60,
        per_phone: Rate | None = Rate(5, 3600),
        per_key: Rate | None = Rate(10, 3600),
        per_service: Rate | None = Rate(1000, 3600),
        allowed_countries: Iterable[str] = ("UZ",),
        max_spend_per_hour: int | None = None,
        account: Literal["local", "foreign"] = "local",
        uz_price: int = 50,
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        self._sms = sms
        self._store: Store = store if store is not None else MemoryStore()
        if not isinstance(self._store, Store):
            raise ValidationError("store", "must implement the Store protocol")
        self.service_name = check_service_name(service_name)
        self.template = check_template(template)
        secret: object = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
            raise ValidationError(
                "secret_key", f"must be at least {_MIN_SECRET_BYTES} bytes (secrets.token_hex())"
            )
        self._secret = secret
        self.code_length = _positive_int("code_length", code_length, 4, 8)
        self.ttl = _positive_int("ttl", ttl, 30)
        self.max_attempts = _positive_int("max_attempts", max_attempts, 1, 100)
        self.resend_after = _positive_int("resend_after", resend_after, 0)
        self.per_phone = _rate("per_phone", per_phone)
        self.per_key = _rate("per_key", per_key)
        self.per_service = _rate("per_service", per_service)
        if isinstance(allowed_countries, str):
            raise ValidationError("allowed_countries", "must be a collection of ISO codes")
        countries = frozenset(str(code).upper() for code in allowed_countries)
        if not countries:
            raise ValidationError("allowed_countries", "must name at least one country")
        self.allowed_countries = countries
        if max_spend_per_hour is not None:
            _positive_int("max_spend_per_hour", max_spend_per_hour, 1)
        self.max_spend_per_hour = max_spend_per_hour
        if account not in ("local", "foreign"):
            raise ValidationError("account", f"must be 'local' or 'foreign', got {account!r}")
        self.account: Literal["local", "foreign"] = account
        self.uz_price = _positive_int("uz_price", uz_price, 0)
        self._clock = clock if clock is not None else _utc_now
        # One hash tag for every key of this service name: a Lua script touches the
        # record and the counters together, so they must share a Redis Cluster slot.
        name_id = hashlib.sha256(self.service_name.encode()).hexdigest()[:16]
        self._tag = f"{{{name_id}}}"
        self._blocked = False
        self._parts: int | None = None

    def __repr__(self) -> str:
        return (
            f"<Verifier service_name={self.service_name!r} template={self.template.name} "
            f"store={type(self._store).__name__}>"
        )

    @property
    def store(self) -> Store:
        return self._store

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

    def _cost(self, phone: str) -> int:
        """Estimated so'm for one code to ``phone`` (and the fraud guard's country check)."""
        from .._client import render_otp
        from ..pricing import lookup_country

        country = lookup_country(phone, uz_price=self.uz_price)
        if country.iso.upper() not in self.allowed_countries:
            raise CountryNotAllowedError(
                f"{mask_phone(phone)} is in {country.name} ({country.iso}); this verifier "
                f"sends codes only to {', '.join(sorted(self.allowed_countries))} "
                "(allowed_countries=)",
                country=country.iso,
            )
        if self._parts is None:
            from ..sms_parts import count_parts

            text = render_otp(int(self.template), self.service_name, "0" * self.code_length)
            self._parts = count_parts(text).parts
        # Whole so'm, rounded up: the spend cap counts integers (Redis INCRBY), and an
        # estimate that errs high keeps the cap on the safe side.
        cost = self._parts * country.price(self.account)
        return int(cost.to_integral_value(rounding=decimal.ROUND_CEILING))

    # -- the flow -------------------------------------------------------------------

    async def start(self, phone: str, *, key: str | None = None) -> Verification:
        """Send a new code to ``phone``; a previous code stops working.

        ``key`` names the caller for the ``per_key`` cap (an IP, a chat id). Raises a
        ``VerificationError`` (nothing sent) when a guard or
        cap refuses, ``ServiceNameRejectedError`` when moderation refused the name
        (charged; every later start raises ``ServiceNameBlockedError``), and the
        client's errors for a send that was refused or never left. A send whose
        outcome is unknown is not an error: the returned ``Verification`` says so.
        """
        number = normalize_phone(phone)
        given_key: object = key
        if given_key is not None and (
            not isinstance(given_key, str) or not given_key or len(given_key) > 256
        ):
            raise ValidationError("key", "must be None or a non-empty string of <= 256 chars")
        cost = self._cost(number)
        if self._blocked or await self._store.has_flag(self._block_key()):
            self._blocked = True
            raise ServiceNameBlockedError(
                f"moderation rejected the service name {self.service_name!r} earlier (charged); "
                "this verifier sends no more codes under it. Do not retry with another name: "
                "agree a name with the provider and configure it.",
                service_name=self.service_name,
            )
        now, when = self._now()
        code = "".join(secrets.choice("0123456789") for _ in range(self.code_length))
        verification_id = secrets.token_hex(8)
        record = CodeRecord(
            verification_id=verification_id,
            digest=self._digest(verification_id, number, code),
            expires_at=now + self.ttl,
            resend_at=now + self.resend_after,
            max_attempts=self.max_attempts,
        )
        limits = self._limits(number, key, cost, now)
        store_key = self._code_key(number)
        refusal = await self._store.begin(
            store_key, record, limits, now=now, ttl=max(self.ttl, self.resend_after) + 1
        )
        if refusal is not None:
            raise self._refused(refusal, number)
        masked = mask_phone(number)
        sms_id: int | None = None
        unknown: SendOutcomeUnknownError | None = None
        try:
            sent = await self._sms.send_otp(
                number, template=self.template, service_name=self.service_name, otp_code=code
            )
            sms_id = sent.sms_id
        except ServiceNameRejectedError:
            # Charged, never delivered: the code is useless, the name is done for.
            self._blocked = True
            await self._store.set_flag(self._block_key(), ttl=BLOCK_TTL)
            await self._store.consume(store_key, verification_id)
            logger.warning(
                "verify: moderation rejected service name %r; no more sends under it",
                self.service_name,
            )
            raise
        except SendOutcomeUnknownError as exc:
            # It may have arrived: keep the code valid and the cooldown; never resend.
            unknown = exc
            logger.warning(
                "verify %s: the send to %s may or may not have happened; the code stays valid",
                verification_id,
                masked,
            )
        except _NOT_SENT:
            await self._store.rollback(store_key, verification_id, limits)
            raise
        logger.debug("verify %s: code sent to %s (sms_id=%s)", verification_id, masked, sms_id)
        tz = when.tzinfo
        return Verification(
            id=verification_id,
            masked_phone=masked,
            expires_at=_dt.datetime.fromtimestamp(record.expires_at, tz),
            resend_at=_dt.datetime.fromtimestamp(record.resend_at, tz),
            attempts_left=self.max_attempts,
            sms_id=sms_id,
            outcome_unknown=unknown,
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

    async def check(self, phone: str, code: str) -> CheckResult:
        """Check ``code`` for ``phone``: every check counts as one of ``max_attempts``.

        The first right code wins; the verification is then consumed (exactly once,
        also across processes sharing the store).
        """
        number = normalize_phone(phone)
        given: object = code
        if not isinstance(given, str):
            raise ValidationError("code", f"must be a string, not {type(given).__name__}")
        if len(code) != self.code_length or not (code.isascii() and code.isdigit()):
            raise ValidationError("code", f"must be {self.code_length} ASCII digits")
        now, _ = self._now()
        store_key = self._code_key(number)
        taken = await self._store.take_attempt(store_key, now=now)
        if taken is None:
            return NoPendingVerification()
        record, counted = taken
        vid = record.verification_id
        if now >= record.expires_at:
            return Expired(verification_id=vid)
        if not counted:
            return TooManyAttempts(verification_id=vid)
        if hmac.compare_digest(self._digest(vid, number, code), record.digest):
            if await self._store.consume(store_key, vid):
                logger.debug("verify %s: approved", vid)
                return Approved(verification_id=vid)
            return NoPendingVerification()
        left = record.max_attempts - record.attempts
        logger.debug("verify %s: wrong code, %d attempts left", vid, left)
        return WrongCode(verification_id=vid, attempts_left=left)

    async def cancel(self, phone: str) -> bool:
        """Forget the pending code of ``phone``; ``True`` if there was one. The caps
        keep counting; the cooldown goes with the code."""
        return await self._store.delete(self._code_key(normalize_phone(phone)))

    async def clear_service_name_block(self) -> None:
        """Allow sends under ``service_name`` again (after the provider approved it)."""
        self._blocked = False
        await self._store.delete(self._block_key())
