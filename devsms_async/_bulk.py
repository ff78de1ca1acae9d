"""Many sends at once: the one bulk engine behind ``send_bulk``, ``stream_bulk`` and
``devsms bulk``.

The engine knows no client. It takes three narrow callables (``BulkSender``):
``prepare`` checks one ``BulkMessage`` and returns a ``PreparedSend`` (or
raises ``ValidationError``), ``send`` sends a prepared message and returns its
``SendResult`` (or raises a ``DevSMSError``), ``fingerprint`` keys a text like the
client's unknown-outcome errors, so that ``reconcile`` finds what bulk lost.

How a job runs
--------------
A fixed set of ``concurrency`` *worker* tasks share the input (any iterable or async
iterable, read lazily). A worker reads one message, prepares it, claims it in the
journal (if any: ``attempting``, durable, unless the journal settles it otherwise),
waits for the rate cap, sends, records the outcome, and passes the ``BulkResult`` on
through an anyio memory stream buffered to ``concurrency``; then it reads the next. So
at most ``concurrency`` sends are in flight, and at most ``2 * concurrency`` messages
have been read from the input without their result having been taken by the reader: a
generator of a million messages is never materialised. Fixed workers rather than one
task per message behind a semaphore: the number of tasks and of objects alive stays
fixed however long the input.

No double sends
---------------
Each message is sent at most once. A send is retried only when the request provably
never left (the client's policy); anything else that may have reached the provider is
``UNKNOWN`` (``SendOutcomeUnknownError``) and never repeated. With a journal
(``journal=``, see ``_journal``) this holds across runs and crashes: the
``attempting`` entry is durable before the request starts, so a re-run never re-sends
a message that may have gone out (it is ``UNKNOWN`` again, unless
``resend_in_doubt=True``), skips what was sent (``ALREADY_SENT``) and sends what
provably was not (``FAILED``/``NOT_STARTED`` before).

Stopping
--------
* Input exhausted: the job ends when every message has a result.
* The reader leaves early without an error (``break``), or the circuit breaker trips
  (``stop_after_failures``): no new send starts; sends in flight finish and their
  results go to ``BulkStream.leftover``.
* An exception or a cancellation reaches the job (Ctrl-C): no new send starts and the
  sends in flight are abandoned at once; they are ``UNKNOWN``.
* The input raises, the journal cannot be written, or a send fails with something
  that is not a ``DevSMSError`` (a bug): no new send starts, sends in flight finish
  and are reported, then that exception is raised.

In every case each message read from the input gets exactly one final ``BulkResult``:
yielded to the reader, or else in ``leftover``. Messages that were read but not sent
are ``NOT_STARTED``; messages the job never read have indices from ``taken`` on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import math
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from decimal import Decimal
from operator import attrgetter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypedDict

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._journal import Journal, JournalError, content_hash
from ._reconcile import ReconcileResult
from ._unknown import SendQuery, unknown_outcome
from ._validation import PhoneCheck
from .errors import (
    AuthenticationError,
    BalanceCheckError,
    DevSMSError,
    PermissionDeniedError,
    RateLimitUnavailableError,
    SendOutcomeUnknownError,
    UsageError,
    ValidationError,
)
from .models import (
    AnyBulkResult,
    Balance,
    BulkMessage,
    BulkOutcome,
    BulkResult,
    JournalEntry,
    JournalState,
    SendResult,
    bulk_result,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .ratelimit import RateLimit

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BulkCallbackError",
    "JournalReconcileResult",
    "BulkItem",
    "BulkSender",
    "BulkStream",
    "Clock",
    "PreparedSend",
    "RateLimiter",
    "reconcile_journal",
    "send_bulk",
]

DEFAULT_CONCURRENCY = 10
"""Sends in flight by default: one per connection of the default pool (10).

Throughput is ``concurrency / latency`` at a flat client cost per send until the event
loop saturates; past a few dozen connections every request gets dearer, because
httpcore's pool polls each of its sockets per request (benchmarks/bench_bulk.py measures
it; docs/performance.md has the figures). 10 stays far from that cliff on any machine,
gives 50-200 SMS/s if the provider answers in 50-200 ms, and keeps a polite load on an
API whose rate limits are not documented. Raise the pool and ``concurrency`` together
when you need more.
"""

BulkItem: TypeAlias = BulkMessage | tuple[str, str]
"""One input message: a ``BulkMessage`` or a ``(phone, message)`` tuple."""


@attrs.frozen
class PreparedSend:
    """One message, checked and ready to send.

    ``phone``/``text``/``sender`` are what the provider will get (the journal hashes
    them; an unknown outcome keeps the number and the text's fingerprint). ``body`` is
    whatever the ``send`` callable needs (the client puts the request body there).
    """

    phone: str = attrs.field(repr=False)
    text: str = attrs.field(repr=False)
    sender: str | None = None
    body: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class BulkSender:
    """The three callables the engine runs on (the client builds them).

    ``prepare(message)`` validates one message (``ValidationError`` makes it that
    message's ``FAILED`` result); ``send(prepared)`` sends it once; ``fingerprint(text)``
    keys the text of an unknown outcome. ``get_balance`` (optional) backs
    ``check_balance=True``; ``ready`` (optional) is called on entry and raises if
    nothing can be sent (a closed client); ``pool_size`` caps ``concurrency``;
    ``rate_limit`` (optional) is awaited before each send, ``send`` itself never waits.
    """

    prepare: Callable[[BulkMessage], PreparedSend]
    send: Callable[[PreparedSend], Awaitable[SendResult]]
    fingerprint: Callable[[str], str]
    pool_size: int = DEFAULT_CONCURRENCY
    get_balance: Callable[[], Awaitable[Balance]] | None = None
    ready: Callable[[], object] | None = None
    rate_limit: RateLimit | None = None
    """The client's own ``rate_limit`` (the engine awaits it before each send)."""
    normalize: bool = False
    default_region: str | None = "UZ"
    """Region of numbers written without a country code (``estimate_bulk`` too)."""
    phone_check: PhoneCheck = "valid"
    """How far other countries' numbers are checked (``estimate_bulk`` too)."""


class Clock(Protocol):
    """Where the rate cap reads the time (``anyio.current_time`` by default)."""

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class _AnyioClock:
    """The event loop's clock (trio's ``MockClock`` when a test installs one)."""

    def now(self) -> float:
        return anyio.current_time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)


class RateLimiter:
    """Starts at most ``per_second`` operations per second, evenly spaced.

    Fixed spacing (a token bucket without burst): the k-th start of a busy period is
    at ``origin + k / per_second``, so no window of one second holds more than
    ``ceil(per_second)`` starts, and the provider sees a smooth flow instead of bursts.
    A caller cancelled while waiting gives up its slot (the rate only gets lower).
    Create it inside the running event loop. ``send_bulk(per_second=)`` makes one per
    job; the public, shareable pacing is ``devsms_async.ratelimit``.
    """

    def __init__(self, per_second: float, *, clock: Clock | None = None) -> None:
        self._interval = 1.0 / per_second
        self._clock: Clock = clock if clock is not None else _AnyioClock()
        self._origin = -math.inf
        self._slots = 0

    async def wait(self) -> None:
        """Return at this caller's start time (at once if the cap allows it)."""
        now = self._clock.now()
        # k * interval rather than a running sum: no drift over thousands of slots.
        at = self._origin + self._slots * self._interval
        if at <= now:
            self._origin, self._slots, at = now, 0, now
        self._slots += 1
        if at > now:
            await self._clock.sleep_until(at)
        else:
            await checkpoint()


class BulkCallbackError(DevSMSError):
    """``send_bulk``'s ``on_result`` raised: the job stopped (no new send started, the
    sends in flight finished) and nothing read from the input is lost.

    ``results`` holds the final result of every message read, by index; ``unreported``
    those ``on_result`` did not take (the one it raised on, and every later one).
    ``__cause__`` is the callback's exception.
    """

    def __init__(
        self, message: str, *, results: list[AnyBulkResult], unreported: list[AnyBulkResult]
    ) -> None:
        super().__init__(message)
        self.results = results
        self.unreported = unreported


class _Stage(enum.Enum):
    QUEUED = "queued"
    """Read from the input; not sent (yet)."""
    IN_FLIGHT = "in_flight"
    DONE = "done"


class _Outcome(TypedDict, total=False):
    """What a journal entry says of a send's outcome."""

    sms_id: int | None
    cost: Decimal | None
    error: str | None


class _Slot:
    """One message read from the input, until its result has been taken by the reader."""

    __slots__ = (
        "hash",
        "index",
        "item",
        "journaled",
        "key",
        "prepared",
        "result",
        "stage",
        "started",
    )

    def __init__(self, index: int, item: object) -> None:
        self.index = index
        self.item = item
        self.stage = _Stage.QUEUED
        self.prepared: PreparedSend | None = None
        self.hash = ""
        self.key: str | None = None
        self.result: AnyBulkResult | None = None
        self.started: _dt.datetime | None = None
        self.journaled = False
        """``attempting`` was (or may have been) written; an outcome must follow."""

    def entry(self, state: JournalState, **outcome: Unpack[_Outcome]) -> JournalEntry:
        """This message's journal entry in ``state``."""
        return JournalEntry(index=self.index, key=self.key, hash=self.hash, state=state, **outcome)


class _Lifecycle(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


def _as_message(item: object) -> BulkMessage | None:
    """The input item as a ``BulkMessage`` (no validation), ``None`` if it is not one."""
    if isinstance(item, BulkMessage):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2:
        phone, message = item
        if isinstance(phone, str) and isinstance(message, str):
            return BulkMessage(phone=phone, message=message)
    return None


def _check_concurrency(concurrency: object, pool_size: int) -> int:
    if concurrency is None:
        return min(DEFAULT_CONCURRENCY, pool_size)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency", f"must be an int >= 1, got {concurrency!r}")
    if concurrency > pool_size:
        raise ValidationError(
            "concurrency",
            f"{concurrency} is more than the client's connection pool ({pool_size}): the "
            f"extra sends would only queue inside the pool, which is slower. Use "
            f"concurrency <= {pool_size}, or a larger pool: "
            f"AsyncDevSMS(limits=httpx.Limits(max_connections={concurrency}, "
            f"max_keepalive_connections={concurrency}))",
        )
    return concurrency


def _check_per_second(per_second: object) -> float | None:
    if per_second is None:
        return None
    if (
        isinstance(per_second, bool)
        or not isinstance(per_second, (int, float))
        or not math.isfinite(per_second)
        or per_second <= 0
    ):
        raise ValidationError(
            "per_second", f"must be a positive number or None, got {per_second!r}"
        )
    return float(per_second)


def _check_rate_limit(rate_limit: object, per_second: float | None) -> RateLimit | None:
    if rate_limit is None:
        return None
    if per_second is not None:
        raise ValidationError("rate_limit", "give per_second or rate_limit, not both")
    if not callable(getattr(rate_limit, "acquire", None)):
        raise ValidationError(
            "rate_limit",
            "must have an async acquire() (devsms_async.ratelimit.LocalRateLimit or "
            f"RedisRateLimit), got {type(rate_limit).__name__}",
        )
    return rate_limit  # type: ignore[return-value]


def _check_failures(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("stop_after_failures", f"must be an int >= 1 or None, got {value!r}")
    return value


def _check_messages(messages: object, check_balance: bool) -> None:
    if isinstance(messages, (str, bytes, BulkMessage)) or not isinstance(
        messages, (Iterable, AsyncIterable)
    ):
        raise ValidationError(
            "messages",
            "must be an iterable or async iterable of BulkMessage or (phone, message) "
            f"tuples, not {type(messages).__name__}",
        )
    if check_balance and not isinstance(messages, Sequence):
        raise ValidationError(
            "messages",
            "check_balance=True reads the messages twice (to price them, then to send "
            f"them): pass a list or tuple, not a one-shot {type(messages).__name__}",
        )


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(name, f"must be True or False, got {value!r}")
    return value


def _to_message(item: object) -> BulkMessage:
    """The item as a ``BulkMessage`` whose fields ``prepare`` checks (any type yet)."""
    if isinstance(item, BulkMessage):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return BulkMessage(phone=item[0], message=item[1])
    raise ValidationError(
        "messages",
        f"each item must be a BulkMessage or a (phone, message) tuple, not {type(item).__name__}",
    )


def _refused_token(error: DevSMSError | None) -> bool:
    return isinstance(error, AuthenticationError | PermissionDeniedError)


class BulkStream:
    """A running bulk job whose results arrive as they complete.

    Returned by ``AsyncDevSMS.stream_bulk``; use it as an async context manager
    and iterate it inside the block:

    ```python
    async with sms.stream_bulk(messages, concurrency=10) as results:
        async for r in results:
            progress.advance()
    ```

    The workers run in a task group that lives exactly as long as the ``async with``
    block (an ``async def`` generator could not hold one safely across ``yield``).

    Every result yielded is final. When the block ends before the job did, no new send
    starts; after the block, ``leftover`` holds the final result of every message
    that was read from the input but not yielded, and ``taken`` says how many
    messages were read: messages from index ``taken`` on were never read.
    """

    def __init__(
        self,
        messages: Iterable[BulkItem] | AsyncIterable[BulkItem],
        sender: BulkSender,
        *,
        concurrency: int | None = None,
        per_second: float | None = None,
        rate_limit: RateLimit | None = None,
        check_balance: bool = False,
        journal: Journal | None = None,
        resend_in_doubt: bool = False,
        stop_after_failures: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        check_balance = _check_flag("check_balance", check_balance)
        _check_messages(messages, check_balance)
        self._sender = sender
        self._messages = messages
        self._concurrency = _check_concurrency(concurrency, sender.pool_size)
        self._per_second = _check_per_second(per_second)
        self._rate_limit = _check_rate_limit(rate_limit, self._per_second)
        self._check_balance = check_balance
        self._journal = journal
        self._resend_in_doubt = _check_flag("resend_in_doubt", resend_in_doubt)
        self._max_failures = _check_failures(stop_after_failures)
        self._clock = clock
        self._lifecycle = _Lifecycle.NEW
        self._taken = 0
        self._pending: dict[int, _Slot] = {}
        self._leftover: tuple[AnyBulkResult, ...] = ()
        self._fatal: BaseException | None = None
        self._stopping = False
        self._stopped_because: str | None = None
        self._failures_in_a_row = 0
        self._exhausted = False
        self._sent_before: dict[int | str, JournalEntry] = {}
        """Messages the journal had as sent when a known input was checked against it."""
        self._keys: dict[str, int] = {}
        """Each key of this run and the index of the message that has it."""
        self._unrecorded: set[int] = set()
        """Sends started whose outcome is not (yet) in the journal."""
        self._intakes: set[anyio.CancelScope] = set()
        self._iter: Iterator[object] | None = None
        self._aiter: AsyncIterator[object] | None = None
        # Bound to the event loop: created in __aenter__.
        self._pull_lock: anyio.Lock | None = None
        self._tg: TaskGroup | None = None
        self._results: MemoryObjectReceiveStream[AnyBulkResult] | None = None

    def __repr__(self) -> str:
        return (
            f"<BulkStream {self._lifecycle.value} concurrency={self._concurrency} "
            f"taken={self._taken}>"
        )

    @property
    def concurrency(self) -> int:
        """How many sends may be in flight at once."""
        return self._concurrency

    @property
    def taken(self) -> int:
        """How many messages have been read from the input so far."""
        return self._taken

    @property
    def stopped_because(self) -> str | None:
        """Why the job stopped by itself (``stop_after_failures``), else ``None``."""
        return self._stopped_because

    @property
    def leftover(self) -> tuple[AnyBulkResult, ...]:
        """After the block: final results of messages read but not yielded, by index.

        ``UNKNOWN`` for sends abandoned in flight, ``NOT_STARTED`` for messages read but
        not sent, other outcomes for results that were ready but not yet yielded.
        Empty while the job runs and when it was read to the end.
        """
        return self._leftover

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> BulkStream:
        if self._lifecycle is not _Lifecycle.NEW:
            raise UsageError("a BulkStream runs once; call stream_bulk() again for a new job")
        self._lifecycle = _Lifecycle.CLOSED  # until the job is really running
        if self._sender.ready is not None:
            self._sender.ready()  # UsageError now if the client is not open
        if self._check_balance:
            await self._refuse_if_unaffordable()
        await self._check_journal()
        # The job's pace first, then the client's: the last slot taken is the start.
        pacers: list[Callable[[], Awaitable[None]]] = []
        if self._per_second is not None:
            pacers.append(RateLimiter(self._per_second, clock=self._clock).wait)
        elif self._rate_limit is not None:
            pacers.append(self._rate_limit.acquire)
        if self._sender.rate_limit is not None:
            pacers.append(self._sender.rate_limit.acquire)
        if isinstance(self._messages, AsyncIterable):
            self._aiter = aiter(self._messages)
            self._pull_lock = anyio.Lock()
        else:
            self._iter = iter(self._messages)
        results_tx, results_rx = anyio.create_memory_object_stream[AnyBulkResult](self._concurrency)
        self._results = results_rx
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._lifecycle = _Lifecycle.RUNNING
        with results_tx:
            for _ in range(self._concurrency):
                tg.start_soon(self._work, results_tx.clone(), pacers)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        if tg is None:
            return None
        self._tg = None
        self._stop()
        assert self._results is not None
        # Workers must not wait for a reader that has left: their results go to leftover.
        self._results.close()
        if exc is not None:
            # Abandon the sends in flight at once (Ctrl-C must be quick); they are
            # reported UNKNOWN since they may have reached the provider.
            tg.cancel_scope.cancel()
        try:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                await tg.__aexit__(exc_type, exc, tb)
            else:
                # Any other exception is the reader's own: let it through unwrapped.
                await tg.__aexit__(None, None, None)
            # Never swallow: a cancellation belongs to the caller's scope, not ours.
            return None
        finally:
            self._lifecycle = _Lifecycle.CLOSED
            self._leftover = self._collect_leftover()
            with anyio.CancelScope(shield=True):
                await self._journal_leftover()

    def __aiter__(self) -> BulkStream:
        return self

    async def __anext__(self) -> AnyBulkResult:
        if self._results is None:
            raise UsageError(
                "iterate a bulk stream inside its block: "
                "`async with sms.stream_bulk(...) as results: async for r in results: ...`"
            )
        try:
            result: AnyBulkResult | None = await self._results.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            result = None
        if result is None:
            fatal, self._fatal = self._fatal, None
            if fatal is not None:
                if isinstance(fatal, JournalError) and not fatal.mismatched:
                    fatal = self._journal_failure(fatal)
                # Raised outside the except block: the error keeps its own context.
                raise fatal
            raise StopAsyncIteration
        del self._pending[result.index]
        return result

    def _journal_failure(self, error: JournalError) -> JournalError:
        """The journal's error, saying which messages may have gone out unrecorded."""
        in_doubt = tuple(sorted(self._unrecorded))
        if in_doubt:
            listed = ", ".join(map(str, in_doubt[:20])) + (" …" if len(in_doubt) > 20 else "")
            what = (
                f"{len(in_doubt)} message(s) were being sent when it failed and may have "
                f"gone out (indices {listed}) and the journal may not have their outcome"
            )
        else:
            what = "no send in flight lost its outcome"
        failed = JournalError(
            f"{error}. The job stopped: no new send started; {what}. Do not start a new "
            "journal for this job (that would send again what may have gone out): fix the "
            "cause, settle the messages in doubt with reconcile_journal on this same "
            "journal, then run the job again with it",
            in_doubt=in_doubt,
            path=error.path,
        )
        failed.__cause__ = error.__cause__ if error.__cause__ is not None else error
        return failed

    # -- the job -----------------------------------------------------------------------

    def stop(self, reason: str | None = None) -> None:
        """Start no new send (idempotent); the sends in flight finish and are reported."""
        if reason is not None and self._stopped_because is None:
            self._stopped_because = reason
        self._stop()

    def _stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for scope in self._intakes:
            scope.cancel()

    def _abort(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
        self._stop()

    @contextlib.contextmanager
    def _intake(self) -> Iterator[anyio.CancelScope]:
        """A scope for waiting *before* a send, which ``_stop()`` cancels."""
        scope = anyio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._intakes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._intakes.discard(scope)

    async def _work(
        self,
        results: MemoryObjectSendStream[AnyBulkResult],
        pacers: Sequence[Callable[[], Awaitable[None]]],
    ) -> None:
        with results:
            while True:
                slot = await self._take()
                if slot is None or not self._prepare(slot):
                    return
                if (
                    slot.result is None
                    and self._journal is not None
                    and not await self._claim(slot)
                ):
                    return  # the journal failed: NOT_STARTED
                if slot.result is None and pacers:
                    # Claimed before the rate wait: what is settled uses no slot.
                    paced = False
                    with self._intake() as waiting:
                        paced = await self._pace(slot, pacers)
                    if waiting.cancelled_caught:
                        return  # stopped while waiting for a slot: NOT_STARTED
                    if not paced:  # no slot could be had: FAILED, and no new send starts
                        self.stop("the rate limit is unavailable: no send starts without a slot")
                if slot.result is None:
                    if self._stopping:
                        return  # NOT_STARTED
                    await self._send(slot)
                assert slot.result is not None
                self._count(slot.result)
                try:
                    await results.send(slot.result)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the reader has left; the result is in leftover

    async def _pace(self, slot: _Slot, pacers: Sequence[Callable[[], Awaitable[None]]]) -> bool:
        """Wait for the rate limits, after the journal's claim and before the send.

        Without a slot nothing starts: the message is ``FAILED`` (provably not sent;
        a journal that holds its claim records ``failed``, so the next run sends it),
        and the caller stops the job rather than let every worker fail one message
        after another. ``False`` when that happened.
        """
        try:
            for pace in pacers:
                await pace()
        except RateLimitUnavailableError as exc:
            failed = bulk_result(slot.index, _as_message(slot.item), error=exc)
            if slot.journaled:
                await self._finish_journaled(slot, failed)
            else:
                self._finish(slot, failed)
            return False
        return True

    def _no_more(self) -> bool:
        return self._stopping or self._exhausted

    async def _take(self) -> _Slot | None:
        """The next message of the input, on the books; ``None`` at its end or on stop.

        Workers read the input themselves, one message each at a time: nothing is read
        before a worker is free to send it.
        """
        if self._no_more():
            return None
        try:
            if self._iter is not None:
                item = next(self._iter)
            else:
                # An async iterator must not be advanced by two tasks at once.
                assert self._aiter is not None
                assert self._pull_lock is not None
                with self._intake() as reading:
                    async with self._pull_lock:
                        if self._no_more():  # stopped, or ended, while we waited
                            return None
                        item = await anext(self._aiter)
                if reading.cancelled_caught:
                    return None
        except (StopIteration, StopAsyncIteration):
            self._exhausted = True
            return None
        except Exception as exc:
            # The input itself failed: finish the sends in flight, then raise it.
            self._exhausted = True
            self._abort(exc)
            return None
        # No await between reading the item and putting it on the books.
        slot = _Slot(self._taken, item)
        self._pending[slot.index] = slot
        self._taken += 1
        return slot

    def _prepare(self, slot: _Slot) -> bool:
        """Validate (an invalid message fails alone, unsent), key and hash it.

        ``False`` if checking raised something other than ``ValidationError`` (a bug):
        the job stops and that exception is raised.
        """
        message = _as_message(slot.item)
        try:
            bulk_message = _to_message(slot.item)
            prepared = self._sender.prepare(bulk_message)
            key = self._own_key(bulk_message.key, slot.index)
        except ValidationError as exc:
            self._finish(slot, bulk_result(slot.index, message, error=exc))
            return True
        except Exception as exc:
            self._abort(exc)
            return False
        slot.prepared = prepared
        slot.key = key
        slot.hash = content_hash(prepared.phone, prepared.text, prepared.sender)
        return True

    def _own_key(self, key: object, index: int) -> str | None:
        checked = _check_key(key)
        if checked is not None:
            first = self._keys.setdefault(checked, index)
            if first != index:
                raise ValidationError(
                    "key",
                    f"message {index} has the key of message {first}: a key names one "
                    "message of a job (not sent)",
                )
        return checked

    async def _claim(self, slot: _Slot) -> bool:
        """Claim the message in the journal (``attempting``, durable) before its send.

        ``True`` when this run holds it; otherwise the journal's entry decided the
        message's result (sent before, held elsewhere, in doubt, other content) or the
        journal failed (``False``: the job stops).
        """
        assert self._journal is not None
        sent = self._sent_before.get(slot.key if slot.key is not None else slot.index)
        if sent is not None and sent.hash == slot.hash:
            # Sent is final: no claim (no round trip to a shared journal) needed.
            self._finish(slot, bulk_result(slot.index, _as_message(slot.item), previous=sent))
            return True
        slot.journaled = True  # from here on, an outcome record must follow
        claim = slot.entry("attempting")
        try:
            current = await self._journal.claim(claim, takeover=self._resend_in_doubt)
        except Exception as exc:
            # The claim may or may not have been recorded: never sent, and in doubt in
            # the journal at worst (reconcile settles it), never sent twice.
            self._abort(_as_journal_error(exc))
            return False
        if current is None:
            return True
        slot.journaled = False
        message = _as_message(slot.item)
        if current.hash != slot.hash:
            error = _mismatch(slot.index, path=getattr(self._journal, "path", None))
            self._finish(slot, bulk_result(slot.index, message, error=error))
            self._abort(error)
        elif current.state == "sent":
            self._finish(slot, bulk_result(slot.index, message, previous=current))
        elif current.state == "attempting" and current.worker is not None:
            # Another worker of a shared journal holds it: not ours to send or judge.
            self._finish(slot, bulk_result(slot.index, message, previous=current))
        else:
            what = "an earlier run may have sent it" + (
                f": {current.error}" if current.error else ""
            )
            unknown = self._unknown(slot, what, started=current.at)
            self._finish(slot, bulk_result(slot.index, message, error=unknown, previous=current))
        return True

    async def _check_journal(self) -> None:
        """An input known in full is checked against the whole journal before any send."""
        messages = self._messages
        if self._journal is None or not isinstance(messages, Sequence):
            return
        try:
            stored = {entry.ident: entry for entry in await self._journal.stored()}
        except Exception as exc:
            raise _as_journal_error(exc) from exc
        if not stored:
            return
        mismatched: list[int] = []
        for index, item in enumerate(messages):
            try:
                bulk_message = _to_message(item)
                prepared = self._sender.prepare(bulk_message)
                key = _check_key(bulk_message.key)
            except ValidationError:
                continue  # that message fails alone, unsent
            entry = stored.get(key if key is not None else index)
            digest = content_hash(prepared.phone, prepared.text, prepared.sender)
            if entry is not None and entry.hash != digest:
                mismatched.append(index)
        if mismatched:
            raise _mismatch(*mismatched, path=getattr(self._journal, "path", None))
        self._sent_before = {i: e for i, e in stored.items() if e.state == "sent"}

    async def _send(self, slot: _Slot) -> None:
        prepared = slot.prepared
        assert prepared is not None
        slot.stage = _Stage.IN_FLIGHT
        slot.started = _dt.datetime.now(_dt.timezone.utc)
        if self._journal is not None:
            self._unrecorded.add(slot.index)
        message = _as_message(slot.item)
        try:
            sent: SendResult = await self._sender.send(prepared)
        except DevSMSError as exc:
            result = bulk_result(slot.index, message, error=exc)
        except Exception as exc:
            # Not a per-message failure but a bug: report this one, stop the job.
            error = self._unknown(slot, f"failed with an unexpected {type(exc).__name__}")
            error.__cause__ = exc
            await self._finish_journaled(slot, bulk_result(slot.index, message, error=error))
            self._abort(exc)
            return
        except BaseException:
            # Cancelled (or interrupted) in flight: the request may have been received.
            unknown = self._unknown(slot, "it was cancelled while in flight")
            await self._finish_journaled(slot, bulk_result(slot.index, message, error=unknown))
            raise
        else:
            result = bulk_result(slot.index, message, result=sent)
        await self._finish_journaled(slot, result)

    def _finish(self, slot: _Slot, result: AnyBulkResult) -> None:
        slot.result = result
        slot.stage = _Stage.DONE

    async def _finish_journaled(self, slot: _Slot, result: AnyBulkResult) -> None:
        self._finish(slot, result)
        if self._journal is None:
            return
        # Once an outcome is known it must reach the journal, even under cancellation.
        with anyio.CancelScope(shield=True):
            try:
                await self._journal.write(_outcome_entry(slot, result))
            except Exception as exc:
                self._abort(_as_journal_error(exc))
            else:
                slot.journaled = False
                self._unrecorded.discard(slot.index)

    def _count(self, result: BulkResult) -> None:
        """The circuit breaker: stop after too many failures in a row, or a refused token."""
        if self._max_failures is None or result.previous is not None:
            return
        outcome = result.outcome
        if outcome is BulkOutcome.SENT:
            self._failures_in_a_row = 0
        elif outcome in (BulkOutcome.FAILED, BulkOutcome.UNKNOWN):
            self._failures_in_a_row += 1
            if _refused_token(result.error):
                status = getattr(result.error, "status_code", None)
                self.stop(f"the API refused the token (HTTP {status})")
            elif self._failures_in_a_row >= self._max_failures:
                self.stop(f"{self._max_failures} sends in a row did not succeed")

    def _unknown(
        self, slot: _Slot, what: str, *, started: _dt.datetime | None = None
    ) -> SendOutcomeUnknownError:
        prepared = slot.prepared
        phone, text = (prepared.phone, prepared.text) if prepared is not None else ("", "")
        return unknown_outcome(
            what,
            phone=phone,
            text=text,
            fingerprint=self._sender.fingerprint,
            started_at=started or slot.started or _dt.datetime.now(_dt.timezone.utc),
        )

    def _collect_leftover(self) -> tuple[AnyBulkResult, ...]:
        out: list[AnyBulkResult] = []
        for index in sorted(self._pending):
            slot = self._pending[index]
            result = slot.result
            if result is None:
                error = None
                if slot.stage is _Stage.IN_FLIGHT:  # pragma: no cover - workers record it
                    error = self._unknown(slot, "it was abandoned while in flight")
                result = slot.result = bulk_result(index, _as_message(slot.item), error=error)
            out.append(result)
        return tuple(out)

    async def _journal_leftover(self) -> None:
        """Messages whose ``attempting`` was written but that were never sent."""
        if self._journal is None:
            return
        for slot in self._pending.values():
            if slot.journaled and slot.result is not None:
                try:
                    await self._journal.write(_outcome_entry(slot, slot.result))
                except Exception:  # noqa: S112 - left "attempting": in doubt, never lost
                    continue
        self._pending.clear()

    async def _refuse_if_unaffordable(self) -> None:
        from .pricing import estimate_bulk

        if self._sender.get_balance is None:
            raise UsageError("check_balance=True needs a balance source")
        balance = await self._sender.get_balance()
        messages = self._messages
        assert isinstance(messages, Sequence)
        estimate = estimate_bulk(
            messages,
            uz_price=balance.sms_price,
            normalize=self._sender.normalize,
            default_region=self._sender.default_region,
            phone_check=self._sender.phone_check,
        )
        if estimate.total > balance.balance:
            raise BalanceCheckError(
                f"the job would cost about {_so_m(estimate.total)} so'm ({estimate.messages} "
                f"messages, {estimate.parts} parts) but the balance is "
                f"{_so_m(balance.balance)} so'm; nothing was sent",
                needed=estimate.total,
                balance=balance.balance,
            )


MAX_KEY_LENGTH = 200


def _check_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str):
        raise ValidationError(
            "key", f"must be a str (your id for the message) or None, not {type(key).__name__}"
        )
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            "key", f"must be 1-{MAX_KEY_LENGTH} printable characters, got {len(key)} characters"
        )
    return key


def _mismatch(*indices: int, path: object = None) -> JournalError:
    listed = ", ".join(map(str, indices[:20])) + (" …" if len(indices) > 20 else "")
    return JournalError(
        f"message(s) {listed} differ from their journal entries: this journal belongs to "
        "another job, or the input was edited since. The job stopped before any further "
        "send. If the input was edited, restore it. If this is another job, give it a "
        "journal of its own, and leave this one to the job it belongs to: do not start a "
        "new journal for that job (its messages that may have gone out would be sent "
        "again); settle them with reconcile_journal on this journal first",
        mismatched=indices,
        path=None if path is None else str(path),
    )


def _as_journal_error(exc: Exception) -> JournalError:
    if isinstance(exc, JournalError):
        return exc
    error = JournalError(f"the journal failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _outcome_entry(slot: _Slot, result: BulkResult) -> JournalEntry:
    state: JournalState = result.outcome.value  # type: ignore[assignment]
    sms_id = cost = error = None
    if result.result is not None:
        sms_id, cost = result.result.sms_id, result.result.total_cost
    elif result.error is not None:
        error = " ".join(f"{type(result.error).__name__}: {result.error}".split())[:300]
    return slot.entry(state, sms_id=sms_id, cost=cost, error=error)


@attrs.frozen
class JournalReconcileResult:
    """What ``AsyncDevSMS.reconcile_journal`` did with the messages in doubt.

    ``found``: in the history, now journaled ``sent`` (never sent again);
    ``not_sent``: provably not there, journaled ``failed`` (the next run sends them);
    ``in_doubt``: still unknown (history incomplete, or too recent to tell).
    """

    found: int
    not_sent: int
    in_doubt: int


Lookup: TypeAlias = Callable[[SendQuery, Collection[int]], Awaitable[ReconcileResult]]
"""``await lookup(query, exclude)``: reconcile one query, never matching ids in ``exclude``."""


async def reconcile_journal(
    journal: Journal,
    messages: Iterable[BulkItem],
    sender: BulkSender,
    lookup: Lookup,
    *,
    min_age: float = 120.0,
) -> JournalReconcileResult:
    """Look every message the journal has in doubt up in the history.

    One history record proves at most one message: the ids of messages journaled
    ``sent`` and of every record matched here are excluded from later matches, so two
    identical messages need two records. "Not there" counts only when the search was
    complete and the attempt is at least ``min_age`` seconds old (the history lags).
    """
    try:
        doubtful = {e.ident: e for e in await journal.stored(in_doubt=True)}
        sent = [e.sms_id for e in await journal.stored() if e.state == "sent"]
    except Exception as exc:
        raise _as_journal_error(exc) from exc
    claimed = {sms_id for sms_id in sent if sms_id is not None}
    found = not_sent = in_doubt = 0
    now = _dt.datetime.now(_dt.timezone.utc)
    for index, item in enumerate(messages):
        if not doubtful:
            break
        try:
            bulk_message = _to_message(item)
            key = _check_key(bulk_message.key)
            entry = doubtful.pop(key if key is not None else index, None)
            if entry is None:
                continue
            prepared = sender.prepare(bulk_message)
        except ValidationError:
            continue
        if content_hash(prepared.phone, prepared.text, prepared.sender) != entry.hash:
            in_doubt += 1  # an edited input: the run itself refuses it
            continue
        query = SendQuery(prepared.phone, sender.fingerprint(prepared.text), entry.at)
        result = await lookup(query, frozenset(claimed))
        if result.record is not None:
            claimed.add(result.record.id)
            state: JournalState = "sent"
            sms_id: int | None = result.record.id
            note = None
            found += 1
        elif result.complete and (now - entry.at).total_seconds() >= min_age:
            state, sms_id, note = "failed", None, "not in the history"
            not_sent += 1
        else:
            in_doubt += 1
            continue
        await journal.write(
            JournalEntry(
                index=index,
                key=key,
                hash=entry.hash,
                state=state,
                sms_id=sms_id,
                error=note,
                reconciled=True,
            )
        )
    in_doubt += len(doubtful)  # not in the messages given: nothing to look up
    return JournalReconcileResult(found, not_sent, in_doubt)


async def send_bulk(
    stream: BulkStream, *, on_result: Callable[[BulkResult], object] | None = None
) -> list[AnyBulkResult]:
    """Run ``stream`` to the end; see ``AsyncDevSMS.send_bulk``.

    If ``on_result`` raises, the job stops as after ``break`` and
    ``BulkCallbackError`` carries every result, reported or not.
    """
    if on_result is not None and not callable(on_result):
        raise ValidationError("on_result", f"must be a callable or None, got {on_result!r}")
    results: list[AnyBulkResult] = []
    unreported: list[AnyBulkResult] = []
    failure: Exception | None = None
    callback_raised = False

    def report(result: AnyBulkResult) -> None:
        nonlocal failure, callback_raised
        results.append(result)
        if failure is not None or callback_raised:
            unreported.append(result)
        elif on_result is not None:
            try:
                on_result(result)
            except Exception as exc:
                failure = exc
                unreported.append(result)
            except BaseException:
                callback_raised = True  # KeyboardInterrupt and the like: let it through
                raise

    try:
        async with stream:
            async for result in stream:
                report(result)
                if failure is not None:
                    break  # like the reader leaving: the sends in flight finish
    finally:
        for result in stream.leftover:
            report(result)
    results.sort(key=attrgetter("index"))
    if failure is not None:
        raise BulkCallbackError(
            f"on_result raised {type(failure).__name__}: the job stopped; "
            f"{len(unreported)} of {len(results)} results were not reported (see .unreported)",
            results=results,
            unreported=sorted(unreported, key=attrgetter("index")),
        ) from failure
    return results


def _so_m(amount: Decimal) -> str:
    """``550`` for ``Decimal("550.00")``; cents only when there are any."""
    return str(amount.quantize(1)) if amount == amount.to_integral_value() else f"{amount:.2f}"
