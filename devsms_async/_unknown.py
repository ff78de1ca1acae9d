"""The one place that builds a ``SendOutcomeUnknownError``.

The client (no answer / unusable answer) and bulk sending (cancelled or crashed in
flight) both call ``unknown_outcome``, so every unknown-outcome error carries the
same fields, keyed the same way, and ``reconcile`` matches all of them alike.
Reconcile never builds one as a query: it takes a ``SendQuery`` instead.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from .errors import SendOutcomeUnknownError

__all__ = ["SendQuery", "query_of", "unknown_outcome"]

_ADVICE = (
    "it was NOT retried, to avoid a duplicate SMS. Use `await sms.reconcile(error)` to look "
    "it up in the history before sending again."
)


def unknown_outcome(
    what: str,
    *,
    phone: str,
    text: str,
    fingerprint: str,
    started_at: _dt.datetime,
    status_code: int | None = None,
    cause: BaseException | None = None,
) -> SendOutcomeUnknownError:
    """A send that may have reached the provider: ``what`` says why nobody knows."""
    error = SendOutcomeUnknownError(
        f"the send may or may not have reached the provider ({what}); {_ADVICE}",
        phone=phone,
        fingerprint=fingerprint,
        started_at=started_at,
        status_code=status_code,
        text=text,
    )
    if cause is not None:
        error.__cause__ = cause
    return error


@attrs.frozen
class SendQuery:
    """What reconcile looks for: a number, a message fingerprint, a start time.

    Built from an unknown-outcome error (``query_of``) or from a bulk journal's row
    in doubt; the text itself is never needed, only its fingerprint.
    """

    phone: str
    fingerprint: str
    started_at: _dt.datetime


def query_of(error: SendOutcomeUnknownError) -> SendQuery:
    """The reconcile query an unknown-outcome error stands for."""
    return SendQuery(error.phone, error.fingerprint, error.started_at)
