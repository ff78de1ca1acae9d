"""The one place that builds a ``SendOutcomeUnknownError``.

The client (no answer / unusable answer) and bulk sending (cancelled or crashed in
flight) both call ``unknown_outcome``, so every unknown-outcome error carries the
same fields, keyed the same way, and ``reconcile`` matches all of them alike.
Reconcile never builds one as a query: it takes a ``SendQuery`` instead.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

import attrs

from ._fingerprint import phone_text
from .errors import SendOutcomeUnknownError

__all__ = ["SendQuery", "advice", "query_of", "unknown_outcome"]


def advice(*, asynchronous: bool) -> str:
    """What to do next, as the caller's face writes it: ``await sms.reconcile(error)``
    for ``AsyncDevSMS`` (and bulk sending), ``sms.reconcile(error)`` for ``DevSMS``."""
    call = "await sms.reconcile(error)" if asynchronous else "sms.reconcile(error)"
    return (
        f"it was NOT retried, to avoid a duplicate SMS. Use `{call}` to look it up in the "
        "history before sending again."
    )


def unknown_outcome(
    what: str,
    *,
    phone: str,
    fingerprint: Callable[[str], str],
    text: str,
    started_at: _dt.datetime,
    status_code: int | None = None,
    cause: BaseException | None = None,
    asynchronous: bool = True,
) -> SendOutcomeUnknownError:
    """A send that may have reached the provider: ``what`` says why nobody knows.

    ``fingerprint`` is the keyed digest function (the client's); the error keeps the
    digests of ``phone`` and ``text``, a masked number, and neither in clear.
    ``asynchronous`` is the face that sent it (the advice names its ``reconcile``).
    """
    error = SendOutcomeUnknownError(
        "the send may or may not have reached the provider "
        f"({what}); {advice(asynchronous=asynchronous)}",
        phone=phone,
        fingerprint=fingerprint(text),
        phone_digest=fingerprint(phone_text(phone)) if phone else None,
        started_at=started_at,
        status_code=status_code,
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
    """The number in clear (a journal's row) or masked (an unknown-outcome error)."""
    fingerprint: str
    started_at: _dt.datetime
    phone_digest: str | None = None
    """``fingerprint(phone_text(number))``: how a masked ``phone`` is matched."""


def query_of(error: SendOutcomeUnknownError) -> SendQuery:
    """The reconcile query an unknown-outcome error stands for."""
    return SendQuery(
        error.phone, error.fingerprint, error.started_at, getattr(error, "phone_digest", None)
    )
