"""What ``Verifier.start`` and ``Verifier.check`` return."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from ..errors import SendOutcomeUnknownError

__all__ = [
    "Approved",
    "CheckResult",
    "Expired",
    "NoPendingVerification",
    "TooManyAttempts",
    "Verification",
    "WrongCode",
]


@attrs.frozen(kw_only=True)
class Verification:
    """A code was sent (or may have been: see ``outcome_unknown``).

    ``masked_phone`` is ``99890***4567``; ``expires_at``/``resend_at`` are aware
    datetimes on the verifier's clock; ``sms_id`` is ``None`` when the send's outcome
    is unknown. Then ``outcome_unknown`` holds the ``SendOutcomeUnknownError`` (for
    ``sms.reconcile``): the code still counts as sent and stays valid.
    """

    id: str
    masked_phone: str
    expires_at: _dt.datetime
    resend_at: _dt.datetime
    attempts_left: int
    sms_id: int | None
    outcome_unknown: SendOutcomeUnknownError | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class _Checked:
    """The answer of a check that found a pending verification."""

    verification_id: str


@attrs.frozen(kw_only=True)
class Approved(_Checked):
    """The code was right: the verification is consumed (a second check finds nothing)."""

    status: Literal["approved"] = attrs.field(default="approved", init=False)


@attrs.frozen(kw_only=True)
class WrongCode(_Checked):
    """The code was wrong; ``attempts_left`` more checks may be tried (0: none)."""

    attempts_left: int
    status: Literal["wrong_code"] = attrs.field(default="wrong_code", init=False)


@attrs.frozen(kw_only=True)
class Expired(_Checked):
    """The code's ``ttl`` has passed: start a new verification."""

    status: Literal["expired"] = attrs.field(default="expired", init=False)


@attrs.frozen(kw_only=True)
class TooManyAttempts(_Checked):
    """``max_attempts`` checks were used up: start a new verification (after the cooldown)."""

    status: Literal["too_many_attempts"] = attrs.field(default="too_many_attempts", init=False)


@attrs.frozen(kw_only=True)
class NoPendingVerification:
    """Nothing to check: never started, cancelled, already approved or forgotten."""

    status: Literal["no_pending"] = attrs.field(default="no_pending", init=False)


CheckResult = Approved | WrongCode | Expired | TooManyAttempts | NoPendingVerification
"""What ``check`` returns. Narrow it with ``isinstance``, ``match`` or ``result.status``."""
