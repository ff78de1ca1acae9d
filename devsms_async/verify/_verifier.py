"""``Verifier``: send a one-time code, then check it, on the provider's universal OTP.

The rules live in ``_core.VerifierCore``; this is the async face that drives them over
a ``Store`` and an ``AsyncDevSMS``. ``_sync.SyncVerifier`` is its twin without ``await``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Literal, Protocol

import anyio

from ..errors import (
    SendOutcomeUnknownError,
    ServiceNameRejectedError,
    StoreUnavailableError,
    ValidationError,
)
from ..models import OtpTemplate, SendResult
from ._core import (
    BLOCK_TTL,
    DEFAULT_NUMBER_TYPES,
    NOT_SENT,
    PER_KEY,
    PER_PHONE,
    PER_SERVICE,
    Consume,
    NewCode,
    Rate,
    StartPlan,
    VerifierCore,
    check_sender,
    check_store_face,
    gate_for,
    logger,
)
from ._results import CheckResult, Verification
from ._store import MemoryStore, Store

__all__ = ["OtpSender", "Rate", "Verifier"]


class OtpSender(Protocol):
    """What a verifier sends with: ``AsyncDevSMS`` (or the sync-free part of anything
    with the same ``send_otp``)."""

    async def send_otp(
        self, phone: str, *, template: OtpTemplate, service_name: str, otp_code: str
    ) -> SendResult: ...


class Verifier(VerifierCore):
    """Phone verification: ``start`` sends a code, ``check`` approves it once.

    Codes come from ``secrets``; the store keeps only their HMAC-SHA256 under
    ``secret_key`` (and phone numbers only as HMACs too). See ``docs/verify.md`` for
    every default and the security model. ``SyncVerifier`` is the same for ``DevSMS``.

    Args:
        sms: an entered ``AsyncDevSMS`` (anything with its async ``send_otp``); a
            ``DevSMS`` is refused with ``UsageError`` (use ``SyncVerifier``).
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
        allowed_number_types: number types that may receive codes (fraud guard;
            default mobile and fixed_line_or_mobile: no premium-rate, toll-free, ...).
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
        per_phone: Rate | None = PER_PHONE,
        per_key: Rate | None = PER_KEY,
        per_service: Rate | None = PER_SERVICE,
        allowed_countries: Iterable[str] = ("UZ",),
        allowed_number_types: Iterable[str] = DEFAULT_NUMBER_TYPES,
        max_spend_per_hour: int | None = None,
        account: Literal["local", "foreign"] = "local",
        uz_price: int = 50,
        clock: Callable[[], _dt.datetime] | None = None,
    ) -> None:
        check_sender(sms, sync=False)
        self._sms = sms
        chosen: object = store if store is not None else MemoryStore()
        check_store_face(chosen, sync=False)
        if not isinstance(chosen, Store):
            raise ValidationError("store", "must implement the Store protocol")
        self._store: Store = chosen
        super().__init__(
            service_name=service_name,
            template=template,
            secret_key=secret_key,
            code_length=code_length,
            ttl=ttl,
            max_attempts=max_attempts,
            resend_after=resend_after,
            per_phone=per_phone,
            per_key=per_key,
            per_service=per_service,
            allowed_countries=allowed_countries,
            allowed_number_types=allowed_number_types,
            max_spend_per_hour=max_spend_per_hour,
            account=account,
            uz_price=uz_price,
            clock=clock,
        )
        self._gate = gate_for(self._store, self._tag)

    def __repr__(self) -> str:
        return (
            f"<Verifier service_name={self.service_name!r} template={self.template.name} "
            f"store={type(self._store).__name__}>"
        )

    @property
    def store(self) -> Store:
        return self._store

    # -- the flow -------------------------------------------------------------------

    async def start(self, phone: str, *, key: str | None = None) -> Verification:
        """Send a new code to ``phone``; a previous code stops working.

        ``key`` names the caller for the ``per_key`` cap (an IP, a chat id). Raises a
        ``VerificationError`` (nothing sent) when a guard or cap refuses,
        ``ServiceNameRejectedError`` when moderation refused the name (charged; every
        later start raises ``ServiceNameBlockedError``), ``StoreUnavailableError``
        when the store cannot be reached (nothing sent), and the client's errors for a
        send that was refused or never left. A send whose outcome is unknown is not an
        error: the returned ``Verification`` says so.

        Until the provider has accepted ``service_name`` once, concurrent starts under
        it (on this verifier, or any verifier given the same store object) send one at
        a time: a rejection is paid once, and those waiting get
        ``ServiceNameBlockedError`` without sending.
        """
        plan = self._plan(phone, key)
        gate = self._gate
        gate.forked()
        if gate.blocked or await self._store.has_flag(self._block_key()):
            gate.blocked = True
            raise self._blocked_error()
        lead = gate.try_lead()
        while lead is False:
            waiting: anyio.Event = gate.answered  # made by the leader before it sent
            await waiting.wait()
            if gate.blocked:
                raise self._blocked_error()
            lead = gate.try_lead()
        if not lead:
            return await self._send(plan)
        answered = gate.answered = anyio.Event()
        outcome: Literal["accepted", "rejected", "other"] = "other"
        try:
            verification = await self._send(plan)
        except ServiceNameRejectedError:
            outcome = "rejected"
            raise
        else:
            if verification.sms_id is not None:
                outcome = "accepted"
            return verification
        finally:
            gate.finish(outcome)
            answered.set()

    async def _send(self, plan: StartPlan) -> Verification:
        new = self._new_code(plan)
        refusal = await self._store.begin(
            new.store_key, new.record, new.limits, now=new.now, ttl=new.ttl
        )
        if refusal is not None:
            raise self._refused(refusal, plan.number)
        unknown: SendOutcomeUnknownError | None = None
        sms_id: int | None = None
        try:
            sent = await self._sms.send_otp(
                plan.number,
                template=self.template,
                service_name=self.service_name,
                otp_code=new.code,
            )
            sms_id = sent.sms_id
        except ServiceNameRejectedError:
            # Charged, never delivered: the code is useless, the name is done for.
            self._gate.blocked = True
            self._log_rejected()
            await self._after_rejection(new)
            raise
        except SendOutcomeUnknownError as exc:
            # It may have arrived: keep the code valid and the cooldown; never resend.
            unknown = exc
            self._log_unknown(new, plan.number)
        except NOT_SENT:
            try:
                await self._store.rollback(new.store_key, new.record.verification_id, new.limits)
            except StoreUnavailableError:
                # The caps stay used up (fails closed); the send error is the news.
                logger.warning("verify: the store is unavailable; the caps were not given back")
            raise
        return self._verification(new, plan.number, sms_id, unknown)

    async def _after_rejection(self, new: NewCode) -> None:
        try:
            await self._store.set_flag(self._block_key(), ttl=BLOCK_TTL)
            await self._store.consume(new.store_key, new.record.verification_id)
        except StoreUnavailableError:
            # This process still knows (the gate); the rejection is the news.
            logger.warning("verify: the store is unavailable; the block is kept in this process")

    async def check(self, phone: str, code: str) -> CheckResult:
        """Check ``code`` for ``phone``: every check counts as one of ``max_attempts``.

        The first right code wins; the verification is then consumed (exactly once,
        also across processes sharing the store). ``StoreUnavailableError`` when the
        store cannot be reached: nothing is approved.
        """
        number, store_key, now = self._check_input(phone, code)
        taken = await self._store.take_attempt(store_key, now=now)
        judged = self._judge(taken, number, code, now)
        if isinstance(judged, Consume):
            vid = judged.verification_id
            return self._consumed(vid, await self._store.consume(store_key, vid))
        return judged

    async def cancel(self, phone: str) -> bool:
        """Forget the pending code of ``phone``; ``True`` if there was one. The caps
        keep counting; the cooldown goes with the code."""
        from .._validation import normalize_phone

        return await self._store.delete(self._code_key(normalize_phone(phone)))

    async def clear_service_name_block(self) -> None:
        """Allow sends under ``service_name`` again (after the provider approved it)."""
        self._gate.blocked = False
        await self._store.delete(self._block_key())
