"""``SyncVerifier``: ``Verifier`` for synchronous code (``DevSMS``, Django, Celery).

The same rules and flows (``_core.VerifierCore``) run by the sync driver
(``_steps.run``) over a ``SyncStore``; the single flight for a moderated name waits
on a ``threading.Condition``.
"""

from __future__ import annotations

from typing import ClassVar

from .._steps import run
from .._validation import normalize_phone
from ._core import Outcome, Release, SyncOtpSender, VerifierCore
from ._results import CheckResult, Verification
from ._store import SyncMemoryStore, SyncStore

__all__ = ["SyncOtpSender", "SyncVerifier"]


class SyncVerifier(VerifierCore[SyncOtpSender, SyncStore]):
    """``Verifier`` for synchronous code: the same options, rules, results and errors,
    without ``await``. Safe to share between the threads of one process. The options
    after ``store`` mean what they mean for ``Verifier``.

    Args:
        sms: an entered ``DevSMS``; an ``AsyncDevSMS`` is refused with ``UsageError``.
        store: a ``SyncStore``; default a fresh ``SyncMemoryStore`` (one process; use
            ``SyncRedisStore`` for several workers).
    """

    _SYNC: ClassVar[bool] = True
    _STORE: ClassVar[type] = SyncStore
    _DEFAULT_STORE: ClassVar[type] = SyncMemoryStore

    def start(self, phone: str, *, key: str | None = None) -> Verification:
        """``Verifier.start`` without ``await``: send a new code to ``phone``.

        Until the provider has accepted ``service_name`` once, concurrent starts under
        it (from any thread, on any verifier given the same store object) send one at
        a time; a rejection is paid once and the others get ``ServiceNameBlockedError``
        without sending.
        """
        return run(self._start(phone, key))

    def _turn(self) -> Release | None:
        gate = self._gate
        answered = gate.condition
        with answered:
            lead = gate.try_lead()
            while lead is False:
                answered.wait()
                if gate.blocked:
                    raise self._blocked_error()
                lead = gate.try_lead()
        if not lead:
            return None

        def release(outcome: Outcome) -> None:
            with answered:
                gate.finish(outcome)
                answered.notify_all()

        return release

    def check(self, phone: str, code: str) -> CheckResult:
        """``Verifier.check`` without ``await``: the first right code wins, once."""
        return run(self._check(phone, code))

    def cancel(self, phone: str) -> bool:
        """Forget the pending code of ``phone``; ``True`` if there was one."""
        return self._store.delete(self._code_key(normalize_phone(phone)))

    def clear_service_name_block(self) -> None:
        """Allow sends under ``service_name`` again (after the provider approved it)."""
        self._gate.blocked = False
        self._store.delete(self._block_key())
