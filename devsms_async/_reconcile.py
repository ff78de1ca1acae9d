"""``reconcile``: did a send whose outcome is unknown go through after all?

Pure matching plus one flow and two drivers. ``ReconcileSearch`` takes the records of
the history one at a time (``feed``) and knows no I/O; ``reconcile_steps`` walks the
history (``_paging.HistoryWalk``) over a ``fetch_page(query)`` callable and feeds it;
``reconcile_async`` and ``reconcile_sync`` run that flow (``_steps``).

A record matches a ``SendQuery`` when its number is the query's (by the keyed
digest an unknown-outcome error keeps, ``fingerprint(phone_text(number))``, or by its
digits for a journal's row) and ``fingerprint(record.message)`` equals the query's
fingerprint: digests are compared, never raw texts, so an unknown-outcome error that
keeps only its fingerprint matches as well as one that keeps the text. A record whose
id is in ``exclude`` (already claimed by another send) never matches: one record proves
at most one send. Of several matches the one created closest to ``started_at`` wins.

When the search may stop. The spec promises no order for the history. The search
watches the order the server actually uses (by ``created_at``, then ``id``): only once
two records have shown it newest first, and none has contradicted it, does a record
created before ``started_at - skew`` end the search as ``complete``. Otherwise (oldest
first, mixed, a single record) ``complete`` needs the end of the history inside the
window; "not found" is never claimed without proof.

What it cannot know, and the docs say so:

- **History may lag.** "not found" a second after the error is weaker than a minute later.
- **Identical messages.** The same text sent to the same number shortly before (within
  ``skew``) or after (a manual resend) also matches; ``matches`` lists them all.
- **The window.** Past ``window`` records, ``complete`` is ``False``.
- **OTP texts.** A universal OTP is matched on the text the SDK renders from the template.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hmac
import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, ClassVar, Literal, TypeAlias, TypedDict

import attrs

from ._converter import TASHKENT
from ._fingerprint import phone_text
from ._paging import AsyncFetchPage, HistoryWalk, PageQuery, SyncFetchPage
from ._redact import mask_phone
from ._steps import Steps, drive, run
from ._unknown import SendQuery
from .errors import ValidationError
from .models import HistoryPage, SmsRecord

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_SKEW",
    "DEFAULT_WINDOW",
    "AnyReconcileResult",
    "HistoryOrder",
    "ReconcileFound",
    "ReconcileNotFound",
    "ReconcileResult",
    "ReconcileSearch",
    "SearchOptions",
    "reconcile_async",
    "reconcile_steps",
    "reconcile_sync",
]

DEFAULT_WINDOW = 200
"""Records read at most: one full page of ``get_history``."""

DEFAULT_SKEW = 300.0
"""Seconds before ``started_at`` still searched: room for the provider's clock to
differ from ours."""

HistoryOrder = Literal["newest_first", "oldest_first", "unknown"]


@attrs.frozen(kw_only=True)
class ReconcileResult:
    """What ``AsyncDevSMS.reconcile`` found in the history.

    ``record`` is the matching SMS (the match created closest to the send), or
    ``None``. ``matches`` holds every matching record seen, in the order read: more
    than one means the same text went to the same number more than once around that
    time. ``searched`` counts the records read. ``complete`` is ``True`` only when
    the search provably saw every record from around the send on (it reached records
    older than the send in a history shown to be newest first, or the end of the
    history); when ``False``, "not found" proves nothing. ``order`` is the order the
    server was seen to use.
    """

    record: SmsRecord | None
    matches: tuple[SmsRecord, ...]
    searched: int
    complete: bool
    order: HistoryOrder = "unknown"

    @property
    def found(self) -> bool:
        """``True`` when the provider has a record of the send: do not send it again."""
        return self.record is not None


@attrs.frozen(kw_only=True)
class ReconcileFound(ReconcileResult):
    """Found: ``record`` is the SMS (``if result.found: result.record.status`` types)."""

    record: SmsRecord
    found: ClassVar[Literal[True]] = True


@attrs.frozen(kw_only=True)
class ReconcileNotFound(ReconcileResult):
    """Not found; ``complete`` says whether that proves the send did not happen."""

    record: None = None
    found: ClassVar[Literal[False]] = False


AnyReconcileResult: TypeAlias = ReconcileFound | ReconcileNotFound
"""What ``reconcile`` returns: narrow it with ``result.found``."""


def _aware(moment: _dt.datetime) -> _dt.datetime:
    """Naive timestamps (``timezone=None`` clients) are the provider's Tashkent time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=TASHKENT)


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _compare(a: SmsRecord, b: SmsRecord) -> int:
    """-1 if ``a`` is older than ``b``, 1 if newer, 0 if it cannot be told."""
    if a.created_at is not None and b.created_at is not None:
        ta, tb = _aware(a.created_at), _aware(b.created_at)
        if ta != tb:
            return -1 if ta < tb else 1
    if a.id != b.id:  # ids grow with time; the tie-breaker within one second
        return -1 if a.id < b.id else 1
    return 0


class SearchOptions(TypedDict, total=False):
    """The options of a ``ReconcileSearch``, for the functions that make one."""

    window: int
    skew: float | _dt.timedelta
    exclude: Collection[int]


class ReconcileSearch:
    """The pure part of reconcile: feed it history records; it says when to stop.

    ``fingerprint(text)`` must be the function that made ``query.fingerprint`` (the
    client's, keyed with its token).
    """

    def __init__(
        self,
        query: SendQuery,
        fingerprint: Callable[[str], str],
        *,
        window: int = DEFAULT_WINDOW,
        skew: float | _dt.timedelta = DEFAULT_SKEW,
        exclude: Collection[int] = (),
    ) -> None:
        checked: object = window
        if isinstance(checked, bool) or not isinstance(checked, int) or window < 1:
            raise ValidationError("window", f"must be an int >= 1, got {window!r}")
        started = query.started_at
        if started.tzinfo is None:  # ours are aware; a hand-made one is taken as UTC
            started = started.replace(tzinfo=_dt.timezone.utc)
        self.window = window
        self._started = started
        self._cutoff = started - _seconds(skew)
        self._phone = _digits(query.phone)
        self._masked = query.phone
        self._phone_digest = query.phone_digest
        self._fingerprint = query.fingerprint
        self._digest = fingerprint
        self._exclude = frozenset(exclude)
        self._matches: list[SmsRecord] = []
        self._previous: SmsRecord | None = None
        self._newer_first = 0
        self._older_first = 0
        self.searched = 0
        self.complete = False

    @property
    def order(self) -> HistoryOrder:
        if self._older_first == 0 and self._newer_first > 0:
            return "newest_first"
        if self._newer_first == 0 and self._older_first > 0:
            return "oldest_first"
        return "unknown"

    def feed(self, record: SmsRecord) -> bool:
        """Take the next record read; ``False`` once the search is over."""
        self.searched += 1
        previous, self._previous = self._previous, record
        if previous is not None:
            step = _compare(record, previous)
            if step < 0:
                self._newer_first += 1
            elif step > 0:
                self._older_first += 1
        if (
            self.order == "newest_first"
            and record.created_at is not None
            and _aware(record.created_at) < self._cutoff
        ):
            # Everything after this record is older still: nothing left to find.
            self.complete = True
            return False
        if self._matches_query(record):
            self._matches.append(record)
        return self.searched < self.window

    def _matches_query(self, record: SmsRecord) -> bool:
        if record.id in self._exclude:
            return False
        if self._phone_digest is not None:  # an unknown-outcome error keeps no number
            same_phone = hmac.compare_digest(
                self._digest(phone_text(record.phone_number)), self._phone_digest
            )
        elif "*" in self._masked:  # a hand-made query from a masked number: weaker
            same_phone = mask_phone(_digits(record.phone_number)) == self._masked
        else:
            same_phone = _digits(record.phone_number) == self._phone
        return same_phone and hmac.compare_digest(self._digest(record.message), self._fingerprint)

    def result(self, *, history_ended: bool) -> AnyReconcileResult:
        """The answer; ``history_ended``: the walk reached the end of the history."""
        complete = self.complete or history_ended
        found = tuple(self._matches)
        record = _closest(found, self._started)
        if record is None:
            return ReconcileNotFound(
                matches=found, searched=self.searched, complete=complete, order=self.order
            )
        return ReconcileFound(
            record=record,
            matches=found,
            searched=self.searched,
            complete=complete,
            order=self.order,
        )


def _closest(records: tuple[SmsRecord, ...], when: _dt.datetime) -> SmsRecord | None:
    def distance(record: SmsRecord) -> float:
        if record.created_at is None:
            return math.inf
        return abs((_aware(record.created_at) - when).total_seconds())

    return min(records, key=distance, default=None)


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


def reconcile_steps(
    fetch_page: Callable[[PageQuery], object],
    query: SendQuery,
    fingerprint: Callable[[str], str],
    **options: Unpack[SearchOptions],
) -> Steps[AnyReconcileResult]:
    """The whole reconcile as a flow (``_steps``): a ``ReconcileSearch`` fed from a
    ``HistoryWalk`` of at most ``window`` records, one ``fetch_page(query)`` step per page."""
    search = ReconcileSearch(query, fingerprint, **options)
    window = search.window
    walk = HistoryWalk(page_size=min(window, 200), max_items=window)
    searching = True
    while searching and (page_query := walk.next_query()) is not None:
        fresh: HistoryPage | None = walk.feed((yield functools.partial(fetch_page, page_query)))
        for record in fresh.items if fresh is not None else ():
            searching = search.feed(record)
            if not searching:
                break
    return search.result(history_ended=walk.exhausted and search.searched < window)


async def reconcile_async(
    fetch_page: AsyncFetchPage,
    query: SendQuery,
    fingerprint: Callable[[str], str],
    **options: Unpack[SearchOptions],
) -> AnyReconcileResult:
    """Look ``query`` up in the history, ``await fetch_page(PageQuery)`` per page
    (``ReconcileSearch``'s options: ``window``, ``skew``, ``exclude``)."""
    return await drive(reconcile_steps(fetch_page, query, fingerprint, **options))


def reconcile_sync(
    fetch_page: SyncFetchPage,
    query: SendQuery,
    fingerprint: Callable[[str], str],
    **options: Unpack[SearchOptions],
) -> AnyReconcileResult:
    """``reconcile_async`` for a synchronous ``fetch_page(PageQuery)``."""
    return run(reconcile_steps(fetch_page, query, fingerprint, **options))
