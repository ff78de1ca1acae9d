"""``Verifier``: send a one-time code, then check it, on the provider's universal OTP.

The rules and the flows live in ``_core.VerifierCore``; this is the async face that
drives them (``_steps.drive``) over a ``Store`` and an ``AsyncDevSMS``.
``_sync.SyncVerifier`` is the same with the sync driver.
"""

from __future__ import annotations

from typing import ClassVar

import anyio

from .._steps import drive
from .._validation import normalize_phone
from ._core import OtpSender, Outcome, Rate, Release, VerifierCore
from ._results import CheckResult, Verification
from ._store import MemoryStore, Store

__all__ = ["OtpSender", "Rate", "Verifier"]


class Verifier(VerifierCore[OtpSender, Store]):
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

    _SYNC: ClassVar[bool] = False
    _STORE: ClassVar[type] = Store
    _DEFAULT_STORE: ClassVar[type] = MemoryStore

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
        return await drive(self._start(phone, key))

    async def _turn(self) -> Release | None:
        gate = self._gate
        lead = gate.try_lead()
        while lead is False:
            waiting: anyio.Event = gate.answered  # made by the leader before it sent
            await waiting.wait()
            if gate.blocked:
                raise self._blocked_error()
            lead = gate.try_lead()
        if not lead:
            return None
        answered = gate.answered = anyio.Event()

        def release(outcome: Outcome) -> None:
            gate.finish(outcome)
            answered.set()

        return release

    async def check(self, phone: str, code: str) -> CheckResult:
        """Check ``code`` for ``phone``: every check counts as one of ``max_attempts``.

        The first right code wins; the verification is then consumed (exactly once,
        also across processes sharing the store). ``StoreUnavailableError`` when the
        store cannot be reached: nothing is approved.
        """
        return await drive(self._check(phone, code))

    async def cancel(self, phone: str) -> bool:
        """Forget the pending code of ``phone``; ``True`` if there was one. The caps
        keep counting; the cooldown goes with the code."""
        return await self._store.delete(self._code_key(normalize_phone(phone)))

    async def clear_service_name_block(self) -> None:
        """Allow sends under ``service_name`` again (after the provider approved it)."""
        self._gate.blocked = False
        await self._store.delete(self._block_key())
