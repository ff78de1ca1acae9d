"""``SyncVerifier``: ``Verifier`` for synchronous code (``DevSMS``, Django, Celery).

The same rules (``_core.VerifierCore``) driven without ``await`` over a ``SyncStore``;
the single flight for a moderated name waits on a ``threading.Condition``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Literal, Protocol

from .._validation import normalize_phone
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
from ._store import SyncMemoryStore, SyncStore

__all__ = ["SyncOtpSender", "SyncVerifier"]


class SyncOtpSender(Protocol):
    """What a ``SyncVerifier`` sends with: ``DevSMS`` (anything with its ``send_otp``)."""

    def send_otp(
        self, phone: str, *, template: OtpTemplate, service_name: str, otp_code: str
    ) -> SendResult: ...


class SyncVerifier(VerifierCore):
    """``Verifier`` for synchronous code: the same options, rules, results and errors,
    without ``await``. Safe to share between the threads of one process. The options
    after ``store`` mean what they mean for ``Verifier``.

    Args:
        sms: an entered ``DevSMS``; an ``AsyncDevSMS`` is refused with ``UsageError``.
        store: a ``SyncStore``; default a fresh ``SyncMemoryStore`` (one process; use
            ``SyncRedisStore`` for several workers).
    """

    def __init__(
        self,
        sms: SyncOtpSender,
        store: SyncStore | None = None,
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
        check_sender(sms, sync=True)
        self._sms = sms
        chosen: object = store if store is not None else SyncMemoryStore()
        check_store_face(chosen, sync=True)
        if not isinstance(chosen, SyncStore):
            raise ValidationError("store", "must implement the SyncStore protocol")
        self._store: SyncStore = chosen
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
            f"<SyncVerifier service_name={self.service_name!r} template={self.template.name} "
            f"store={type(self._store).__name__}>"
        )

    @property
    def store(self) -> SyncStore:
        return self._store

    def start(self, phone: str, *, key: str | None = None) -> Verification:
        """``Verifier.start`` without ``await``: send a new code to ``phone``.

        Until the provider has accepted ``service_name`` once, concurrent starts under
        it (from any thread, on any verifier given the same store object) send one at
        a time; a rejection is paid once and the others get ``ServiceNameBlockedError``
        without sending.
        """
        plan = self._plan(phone, key)
        gate = self._gate
        gate.forked()
        if gate.blocked or self._store.has_flag(self._block_key()):
            gate.blocked = True
            raise self._blocked_error()
        answered = gate.condition
        with answered:
            lead = gate.try_lead()
            while lead is False:
                answered.wait()
                if gate.blocked:
                    raise self._blocked_error()
                lead = gate.try_lead()
        if not lead:
            return self._send(plan)
        outcome: Literal["accepted", "rejected", "other"] = "other"
        try:
            verification = self._send(plan)
        except ServiceNameRejectedError:
            outcome = "rejected"
            raise
        else:
            if verification.sms_id is not None:
                outcome = "accepted"
            return verification
        finally:
            with answered:
                gate.finish(outcome)
                answered.notify_all()

    def _send(self, plan: StartPlan) -> Verification:
        new = self._new_code(plan)
        refusal = self._store.begin(new.store_key, new.record, new.limits, now=new.now, ttl=new.ttl)
        if refusal is not None:
            raise self._refused(refusal, plan.number)
        unknown: SendOutcomeUnknownError | None = None
        sms_id: int | None = None
        try:
            sent = self._sms.send_otp(
                plan.number,
                template=self.template,
                service_name=self.service_name,
                otp_code=new.code,
            )
            sms_id = sent.sms_id
        except ServiceNameRejectedError:
            self._gate.blocked = True
            self._log_rejected()
            self._after_rejection(new)
            raise
        except SendOutcomeUnknownError as exc:
            unknown = exc
            self._log_unknown(new, plan.number)
        except NOT_SENT:
            try:
                self._store.rollback(new.store_key, new.record.verification_id, new.limits)
            except StoreUnavailableError:
                logger.warning("verify: the store is unavailable; the caps were not given back")
            raise
        return self._verification(new, plan.number, sms_id, unknown)

    def _after_rejection(self, new: NewCode) -> None:
        try:
            self._store.set_flag(self._block_key(), ttl=BLOCK_TTL)
            self._store.consume(new.store_key, new.record.verification_id)
        except StoreUnavailableError:
            logger.warning("verify: the store is unavailable; the block is kept in this process")

    def check(self, phone: str, code: str) -> CheckResult:
        """``Verifier.check`` without ``await``: the first right code wins, once."""
        number, store_key, now = self._check_input(phone, code)
        judged = self._judge(self._store.take_attempt(store_key, now=now), number, code, now)
        if isinstance(judged, Consume):
            vid = judged.verification_id
            return self._consumed(vid, self._store.consume(store_key, vid))
        return judged

    def cancel(self, phone: str) -> bool:
        """Forget the pending code of ``phone``; ``True`` if there was one."""
        return self._store.delete(self._code_key(normalize_phone(phone)))

    def clear_service_name_block(self) -> None:
        """Allow sends under ``service_name`` again (after the provider approved it)."""
        self._gate.blocked = False
        self._store.delete(self._block_key())
