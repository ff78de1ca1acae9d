"""``reconcile``: did a send whose outcome is unknown go through after all?

A :class:`~devsms_async.errors.SendOutcomeUnknownError` keeps keyed digests of the number
and the text (``error.matches(phone, message, key)``) and the time the send began. The
history is newest first, so the search reads it from the top and stops at the first
record created before ``started_at - skew``, or after ``window`` records, whichever
comes first. A record matches when its number and text are those of the send; of
several matches the one created closest to ``started_at`` is reported.

What it cannot know, and the docs say so:

- **History may lag.** A send that is still being processed may not be listed yet;
  "not found" a second after the error is weaker than "not found" a minute later.
- **Identical messages.** The API has no idempotency key, so the same text sent to the
  same number shortly before (within ``skew``) or after (a manual resend) also
  matches; ``matches`` lists them all.
- **The window.** On a busy account more than ``window`` SMS may have been sent since;
  then ``complete`` is ``False`` and "not found" proves nothing.
- **OTP texts.** A universal OTP is matched on the text the SDK renders from the
  template; if the provider stores the text differently, it is not found.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import TYPE_CHECKING

import attrs

from ._converter import TASHKENT
from ._transport import TimeoutTypes
from .errors import SendOutcomeUnknownError, ValidationError
from .models import SmsRecord

if TYPE_CHECKING:
    from ._client import AsyncDevSMS

__all__ = ["DEFAULT_SKEW", "DEFAULT_WINDOW", "ReconcileResult", "reconcile"]

DEFAULT_WINDOW = 200
"""Records read at most: one full page of ``get_history``."""

DEFAULT_SKEW = 300.0
"""Seconds before ``started_at`` still searched: room for the provider's clock to
differ from ours."""


@attrs.frozen(kw_only=True)
class ReconcileResult:
    """What :meth:`AsyncDevSMS.reconcile` found in the history.

    ``record`` is the matching SMS (the match created closest to the send), or
    ``None``. ``matches`` holds every matching record seen, newest first: more than one
    means the same text went to the same number more than once around that time.
    ``searched`` counts the records read. ``complete`` is ``True`` when the search
    reached records older than the send (or the end of the history), ``False`` when
    it stopped at the window first, in which case "not found" proves nothing.
    """

    record: SmsRecord | None
    matches: tuple[SmsRecord, ...]
    searched: int
    complete: bool

    @property
    def found(self) -> bool:
        """``True`` when the provider has a record of the send: do not send it again."""
        return self.record is not None


async def reconcile(
    client: AsyncDevSMS,
    error: SendOutcomeUnknownError,
    *,
    window: int = DEFAULT_WINDOW,
    skew: float | _dt.timedelta = DEFAULT_SKEW,
    timeout: TimeoutTypes | None = None,
) -> ReconcileResult:
    """See :meth:`AsyncDevSMS.reconcile`."""
    if not isinstance(error, SendOutcomeUnknownError):
        raise ValidationError(
            "error", f"must be a SendOutcomeUnknownError, not {type(error).__name__}"
        )
    checked: object = window
    if isinstance(checked, bool) or not isinstance(checked, int) or window < 1:
        raise ValidationError("window", f"must be an int >= 1, got {window!r}")
    started = error.started_at
    if started.tzinfo is None:  # ours are aware; a hand-made one is taken as UTC
        started = started.replace(tzinfo=_dt.timezone.utc)
    cutoff = started - _seconds(skew)
    matches = _Matcher(error, client._token.key)

    searched = 0
    complete = False
    records = client.iter_history(page_size=min(window, 200), max_items=window, timeout=timeout)
    async for record in records:
        searched += 1
        created = _aware(record.created_at) if record.created_at is not None else None
        if created is not None and created < cutoff:
            complete = True
            break
        matches.check(record)
    else:
        complete = searched < window  # the history ended inside the window

    found = tuple(matches.found)
    return ReconcileResult(
        record=_closest(found, started),
        matches=found,
        searched=searched,
        complete=complete,
    )


class _Matcher:
    """Same number and same text, by the error's keyed digests (:meth:`matches`)."""

    def __init__(self, error: SendOutcomeUnknownError, key: bytes) -> None:
        self._error = error
        self._key = key
        self.found: list[SmsRecord] = []

    def check(self, record: SmsRecord) -> None:
        if self._error.matches(record.phone_number, record.message, self._key):
            self.found.append(record)


def _closest(records: tuple[SmsRecord, ...], when: _dt.datetime) -> SmsRecord | None:
    def distance(record: SmsRecord) -> float:
        if record.created_at is None:
            return math.inf
        return abs((_aware(record.created_at) - when).total_seconds())

    return min(records, key=distance, default=None)


def _aware(moment: _dt.datetime) -> _dt.datetime:
    """Naive timestamps (``timezone=None`` clients) are the provider's Tashkent time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=TASHKENT)


def _seconds(skew: object) -> _dt.timedelta:
    if isinstance(skew, _dt.timedelta):
        seconds = skew.total_seconds()
    elif isinstance(skew, int | float) and not isinstance(skew, bool):
        seconds = float(skew)
    else:
        raise ValidationError("skew", f"must be seconds or a timedelta, got {skew!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError("skew", f"must be >= 0 seconds, got {skew!r}")
    return _dt.timedelta(seconds=seconds)
