"""``wait_for_status``: poll ``get_status`` with backoff until a status is reached.

The fallback for delivery reports that never arrive: DevSMS POSTs each status change
to ``callback_url`` once, with a 5-second timeout and no retry.

Polls happen at ``0, i, 3i, 7i, ...`` seconds (``i = poll_initial``, the gap doubling
up to ``poll_max``), so the status is checked at least every ``poll_max`` seconds.
Sleeping goes through ``anyio.sleep``: it works on asyncio and trio, and a test clock
(``trio.testing.MockClock``) drives it without wall time.

The schedule is a pure ``PollPlan`` (when to poll next, when to give up), driven by
``wait_for_status`` (async) and ``wait_for_status_sync`` (a plain callable,
``time.sleep``, for the sync client); both raise the same ``WaitTimeoutError``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, TypeAlias, TypedDict

import attrs

from .errors import ValidationError, WaitTimeoutError
from .models import SmsRecord, SmsStatus

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Until", "WaitTimeoutError", "wait_for_status", "wait_for_status_sync"]

Until: TypeAlias = "Collection[SmsStatus | str] | Callable[[SmsRecord], bool]"
"""What ``wait_for_status`` waits for: statuses, or a predicate on the record."""

DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_POLL_INITIAL = 1.0
DEFAULT_POLL_MAX = 10.0


def compile_until(until: Until | None) -> tuple[Callable[[SmsRecord], bool], str]:
    """A predicate for ``until`` and a short description of it (for error texts)."""
    if until is None:
        return _is_final, "delivered/failed"
    if callable(until):
        return until, getattr(until, "__name__", "the until predicate")
    given: object = until
    if isinstance(given, (str, bytes)) or not isinstance(given, Collection):
        raise ValidationError(
            "until",
            "must be a collection of statuses (e.g. {SmsStatus.DELIVERED}) or a "
            f"callable taking an SmsRecord, got {until!r}",
        )
    wanted = {_to_status(item) for item in given}
    if not wanted:
        raise ValidationError("until", "is empty: nothing to wait for")
    order = list(SmsStatus)
    description = "/".join(s.value for s in sorted(wanted, key=order.index))
    frozen = frozenset(wanted)
    return (lambda record: record.status in frozen), description


def _to_status(item: object) -> SmsStatus:
    try:
        return SmsStatus(item)
    except ValueError:
        allowed = ", ".join(s.value for s in SmsStatus)
        raise ValidationError("until", f"{item!r} is not a status ({allowed})") from None


def _is_final(record: SmsRecord) -> bool:
    return record.status.is_final


def check_poll_options(
    timeout: float | None, poll_initial: float, poll_max: float
) -> tuple[float, float, float]:
    """Validate the timing options; ``timeout=None`` becomes ``inf``."""
    for name, value in (("poll_initial", poll_initial), ("poll_max", poll_max)):
        if not _is_number(value) or not 0 < value < math.inf:
            raise ValidationError(name, f"must be a positive number of seconds, got {value!r}")
    if poll_max < poll_initial:
        raise ValidationError(
            "poll_max", f"must be >= poll_initial ({poll_initial}), got {poll_max}"
        )
    if timeout is None:
        return math.inf, float(poll_initial), float(poll_max)
    if not _is_number(timeout) or not timeout > 0 or math.isnan(timeout):
        raise ValidationError(
            "timeout", f"must be a positive number of seconds or None, got {timeout!r}"
        )
    return float(timeout), float(poll_initial), float(poll_max)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


class PollOptions(TypedDict, total=False):
    """The options of one wait (``PollPlan.make`` holds their defaults)."""

    until: Until | None
    timeout: float | None
    poll_initial: float
    poll_max: float


@attrs.define
class PollPlan:
    """The pure state of one wait: what was seen, and how long to sleep next."""

    reached: Callable[[SmsRecord], bool]
    description: str
    limit: float
    delay: float
    poll_max: float
    last: SmsRecord | None = None
    polls: int = 0

    @classmethod
    def make(
        cls,
        *,
        until: Until | None = None,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_initial: float = DEFAULT_POLL_INITIAL,
        poll_max: float = DEFAULT_POLL_MAX,
    ) -> PollPlan:
        """A plan for one wait; the options are ``wait_for_status``'s, checked here."""
        reached, description = compile_until(until)
        limit, delay, poll_max = check_poll_options(timeout, poll_initial, poll_max)
        return cls(reached, description, limit, delay, poll_max)

    def feed(self, record: SmsRecord) -> float | None:
        """Take a poll's answer: ``None`` when the wait is over, else seconds to sleep."""
        self.last = record
        self.polls += 1
        if self.reached(record) or record.status.is_final:
            return None
        delay, self.delay = self.delay, min(self.delay * 2, self.poll_max)
        return delay

    def timed_out(self, sms_id: int | None, request_id: str | None) -> WaitTimeoutError:
        what = f"sms_id={sms_id}" if sms_id is not None else f"request_id={request_id!r}"
        last = self.last
        seen = f"last status: {last.status_raw}" if last is not None else "no poll answered"
        return WaitTimeoutError(
            f"SMS {what} did not reach {self.description} within {self.limit:g} s "
            f"({seen}, {self.polls} polls)",
            sms_id=sms_id,
            request_id=request_id,
            timeout=self.limit,
            last=last,
            polls=self.polls,
        )


async def wait_for_status(
    get_status: Callable[[], Awaitable[SmsRecord]],
    *,
    sms_id: int | None,
    request_id: str | None,
    **options: Unpack[PollOptions],
) -> SmsRecord:
    """Call ``await get_status()`` until ``until`` holds or the status is final.

    See ``AsyncDevSMS.wait_for_status``; this is its engine, kept free of the
    client so it can be driven by any awaitable. ``sms_id``/``request_id`` only name
    the SMS in the ``WaitTimeoutError``.
    """
    import anyio  # on first use: `import devsms_async` stays light

    plan = PollPlan.make(**options)
    with anyio.move_on_after(plan.limit) as scope:
        while True:
            record = await get_status()
            pause = plan.feed(record)
            if pause is None:
                return record
            await anyio.sleep(pause)
    assert scope.cancelled_caught
    raise plan.timed_out(sms_id, request_id)


def wait_for_status_sync(
    get_status: Callable[[], SmsRecord],
    *,
    sms_id: int | None,
    request_id: str | None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], object] | None = None,
    **options: Unpack[PollOptions],
) -> SmsRecord:
    """``wait_for_status`` for a synchronous ``get_status()``.

    ``clock`` (default ``time.monotonic``) and ``sleep`` (default ``time.sleep``) are
    the seams for tests. A poll in progress is not interrupted at the deadline (a sync
    call cannot be); no poll starts after it, and no sleep runs past it.
    """
    import time

    now = clock if clock is not None else time.monotonic
    pause_for = sleep if sleep is not None else time.sleep
    plan = PollPlan.make(**options)
    deadline = now() + plan.limit
    while now() < deadline:
        record = get_status()
        pause = plan.feed(record)
        if pause is None:
            return record
        left = deadline - now()
        if left <= 0:
            break
        pause_for(min(pause, left))
    raise plan.timed_out(sms_id, request_id)
