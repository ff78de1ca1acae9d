"""Many sends at once: ``send_bulk`` and ``stream_bulk``.

How a job runs
--------------
A fixed set of ``concurrency`` *worker* tasks share the input (any iterable or async
iterable, read lazily). A worker reads one message, checks it with the same rules as
``send_sms``, waits for the rate cap, sends it through the client's ordinary send path,
and passes the ``BulkResult`` on through an anyio memory stream buffered to
``concurrency``; then it reads the next. So at most ``concurrency`` sends are in
flight, and at most ``2 * concurrency`` messages have been read from the input without
their result having been taken by the reader: a generator of a million messages is
never materialised. The workers read the input themselves rather than through a feeder
task: nothing is read before a worker is free, and no hand-off costs a task switch.

Fixed workers rather than one task per message behind a semaphore: the number of tasks
and of objects alive stays fixed however long the input, and stopping is a matter of
telling ``concurrency`` workers, not of cancelling a million pending tasks.

No double sends
---------------
Each message is sent at most once. A send is retried only when the request provably
never left (the client's policy); anything else that may have reached the provider is
reported as ``UNKNOWN`` (``SendOutcomeUnknownError``) and never repeated.

Stopping
--------
* Input exhausted: the job ends when every message has a result.
* The reader leaves early without an error (``break``): no new send starts; sends in
  flight finish (at most ``concurrency``, bounded by the timeout) and their results go
  to ``BulkStream.leftover``.
* An exception or a cancellation reaches the job (the caller's scope is cancelled,
  Ctrl-C): no new send starts and the sends in flight are abandoned at once; they are
  reported ``UNKNOWN``, because the request may already have reached the provider.
* The input iterable raises, or a send fails with an exception that is not a
  ``DevSMSError`` (a bug): no new send starts, sends in flight finish and are reported,
  then that exception is raised.

In every case each message read from the input gets exactly one final ``BulkResult``:
yielded to the reader, or else in ``leftover`` (``send_bulk`` passes both to
``on_result``). Messages that were read but not sent are ``NOT_STARTED``; messages the
job never read have indices from ``taken`` on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import math
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._retry import fingerprint
from ._transport import TimeoutTypes, to_timeout
from .errors import (
    DevSMSError,
    InsufficientBalanceError,
    SendOutcomeUnknownError,
    UsageError,
    ValidationError,
)
from .models import BulkMessage, BulkResult, SendResult, SmsType

if TYPE_CHECKING:
    from ._client import AsyncDevSMS

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BulkItem",
    "BulkStream",
    "Clock",
    "RateLimiter",
    "send_bulk",
]

DEFAULT_CONCURRENCY = 10
"""Sends in flight by default: one per connection of the default pool (10).

Measured (httpx 0.28.1 / httpcore 1.0.9, loopback server answering after 50 ms, 2-core
machine): throughput is ``concurrency / latency`` (10: 185/s, 20: 370/s, 30: 550/s)
at a flat ~0.9 ms of client CPU per send, until the event loop saturates; past that
point more connections make every request dearer (40: 1.7 ms, 50: 5.3 ms per send,
throughput down to 184/s) because httpcore's pool polls each of its sockets per
request, and ``Limits(100, 100)`` lost to ``Limits(10, 10)`` by 1.4x at 100 in flight.
10 stays far from that cliff on any machine, gives 50-200 SMS/s if the provider
answers in 50-200 ms, and keeps a polite load on an API whose rate limits are not
documented. Raise the pool and ``concurrency`` together when you need more.
"""

BulkItem: TypeAlias = BulkMessage | tuple[str, str]
"""One input message: a ``BulkMessage`` or a ``(phone, message)`` tuple."""


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
    Create it inside the running event loop.
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


class _Stage(enum.Enum):
    QUEUED = "queued"
    """Read from the input; not sent (yet)."""
    IN_FLIGHT = "in_flight"
    DONE = "done"


class _Entry:
    """One message read from the input, until its result has been taken by the reader."""

    __slots__ = ("index", "item", "params", "result", "stage", "started_at")

    def __init__(self, index: int, item: object) -> None:
        self.index = index
        self.item = item
        self.stage = _Stage.QUEUED
        self.params: dict[str, Any] | None = None
        self.result: BulkResult | None = None
        self.started_at: _dt.datetime | None = None


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


def _send_fields(item: object) -> tuple[object, object, object, object, object]:
    if isinstance(item, BulkMessage):
        return item.phone, item.message, item.sender, item.callback_url, item.type
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1], None, None, SmsType.ESKIZ
    raise ValidationError(
        "messages",
        f"each item must be a BulkMessage or a (phone, message) tuple, not {type(item).__name__}",
    )


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


class BulkStream:
    """A running bulk job whose results arrive as they complete.

    Returned by :meth:`AsyncDevSMS.stream_bulk`; use it as an async context manager
    and iterate it inside the block::

        async with sms.stream_bulk(messages, concurrency=10) as results:
            async for r in results:
                progress.advance()

    The workers run in a task group that lives exactly as long as the ``async with``
    block (an ``async def`` generator could not hold one safely across ``yield``).

    Every result yielded is final. When the block ends before the job did, no new send
    starts; after the block, :attr:`leftover` holds the final result of every message
    that was read from the input but not yielded, and :attr:`taken` says how many
    messages were read: messages from index ``taken`` on were never read.
    """

    def __init__(
        self,
        client: AsyncDevSMS,
        messages: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        concurrency: int | None = None,
        per_second: float | None = None,
        normalize: bool = False,
        check_balance: bool = False,
        timeout: TimeoutTypes | None = None,
        _clock: Clock | None = None,
    ) -> None:
        check_balance = _check_flag("check_balance", check_balance)
        _check_messages(messages, check_balance)
        self._client = client
        self._messages = messages
        self._concurrency = _check_concurrency(concurrency, client.pool_size)
        self._per_second = _check_per_second(per_second)
        self._normalize = _check_flag("normalize", normalize)
        self._check_balance = check_balance
        self._timeout = to_timeout(timeout)
        self._clock = _clock
        self._lifecycle = _Lifecycle.NEW
        self._taken = 0
        self._pending: dict[int, _Entry] = {}
        self._leftover: tuple[BulkResult, ...] = ()
        self._fatal: BaseException | None = None
        self._stopping = False
        self._exhausted = False
        self._intakes: set[anyio.CancelScope] = set()
        self._iter: Iterator[object] | None = None
        self._aiter: AsyncIterator[object] | None = None
        # Bound to the event loop: created in __aenter__.
        self._pull_lock: anyio.Lock | None = None
        self._tg: TaskGroup | None = None
        self._results: MemoryObjectReceiveStream[BulkResult] | None = None

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
    def leftover(self) -> tuple[BulkResult, ...]:
        """After the block: final results of messages read but not yielded, by index.

        ``UNKNOWN`` for sends abandoned in flight, ``NOT_STARTED`` for messages read but
        not sent, ``SENT``/``FAILED`` for results that were ready but not yet yielded.
        Empty while the job runs and when it was read to the end.
        """
        return self._leftover

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> BulkStream:
        if self._lifecycle is not _Lifecycle.NEW:
            raise UsageError("a BulkStream runs once; call stream_bulk() again for a new job")
        self._lifecycle = _Lifecycle.CLOSED  # until the job is really running
        self._client._client()  # UsageError now if the client is not open
        if self._check_balance:
            await self._refuse_if_unaffordable()
        limiter = None
        if self._per_second is not None:
            limiter = RateLimiter(self._per_second, clock=self._clock)
        if isinstance(self._messages, AsyncIterable):
            self._aiter = aiter(self._messages)
            self._pull_lock = anyio.Lock()
        else:
            self._iter = iter(self._messages)
        results_tx, results_rx = anyio.create_memory_object_stream[BulkResult](self._concurrency)
        self._results = results_rx
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._lifecycle = _Lifecycle.RUNNING
        with results_tx:
            for _ in range(self._concurrency):
                tg.start_soon(self._work, results_tx.clone(), limiter)
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

    def __aiter__(self) -> BulkStream:
        return self

    async def __anext__(self) -> BulkResult:
        if self._results is None:
            raise UsageError(
                "iterate a bulk stream inside its block: "
                "`async with sms.stream_bulk(...) as results: async for r in results: ...`"
            )
        try:
            result: BulkResult | None = await self._results.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            result = None
        if result is None:
            fatal, self._fatal = self._fatal, None
            if fatal is not None:
                # Raised outside the except block: the error keeps its own context.
                raise fatal
            raise StopAsyncIteration
        del self._pending[result.index]
        return result

    # -- the job -----------------------------------------------------------------------

    def _stop(self) -> None:
        """Start no new send (idempotent): wake the workers waiting before one."""
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
        self, results: MemoryObjectSendStream[BulkResult], limiter: RateLimiter | None
    ) -> None:
        with results:
            while True:
                entry = await self._take()
                if entry is None or not self._prepare(entry):
                    return
                if entry.result is None:
                    if limiter is not None:
                        with self._intake() as waiting:
                            await limiter.wait()
                        if waiting.cancelled_caught:
                            return  # stopped while waiting for a slot: NOT_STARTED
                    await self._send(entry)
                assert entry.result is not None
                try:
                    await results.send(entry.result)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the reader has left; the result is in leftover

    def _no_more(self) -> bool:
        return self._stopping or self._exhausted

    async def _take(self) -> _Entry | None:
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
        entry = _Entry(self._taken, item)
        self._pending[entry.index] = entry
        self._taken += 1
        return entry

    def _prepare(self, entry: _Entry) -> bool:
        """Validate with send_sms's own rules; an invalid message fails alone, unsent.

        ``False`` if checking raised something other than ``ValidationError`` (a bug):
        the job stops and that exception is raised.
        """
        try:
            phone, message, sender, callback_url, sms_type = _send_fields(entry.item)
            entry.params = self._client._send_params(
                phone, message, sender, callback_url, sms_type, self._normalize
            )
        except ValidationError as exc:
            self._finish(
                entry, BulkResult(index=entry.index, message=_as_message(entry.item), error=exc)
            )
        except Exception as exc:
            self._abort(exc)
            return False
        return True

    async def _send(self, entry: _Entry) -> None:
        params = entry.params
        assert params is not None
        entry.stage = _Stage.IN_FLIGHT
        entry.started_at = _dt.datetime.now(_dt.timezone.utc)
        message = _as_message(entry.item)
        try:
            sent: SendResult = await self._client._send(params, self._timeout)
        except DevSMSError as exc:
            result = BulkResult(index=entry.index, message=message, error=exc)
        except Exception as exc:
            # Not a per-message failure but a bug: report this one, stop the job.
            result = self._unknown(entry, f"failed with an unexpected {type(exc).__name__}")
            assert result.error is not None
            result.error.__cause__ = exc
            self._finish(entry, result)
            self._abort(exc)
            return
        except BaseException:
            # Cancelled (or interrupted) in flight: the request may have been received.
            self._finish(entry, self._unknown(entry, "was cancelled while in flight"))
            raise
        else:
            result = BulkResult(index=entry.index, message=message, result=sent)
        self._finish(entry, result)

    def _finish(self, entry: _Entry, result: BulkResult) -> None:
        entry.result = result
        entry.stage = _Stage.DONE

    def _unknown(self, entry: _Entry, what: str) -> BulkResult:
        params = entry.params or {}
        phone, text = params.get("phone", ""), params.get("message", "")
        error = SendOutcomeUnknownError(
            f"the send {what}: it may or may not have reached the provider. It was NOT "
            "retried, to avoid a duplicate SMS; look it up in the history before sending "
            "it again.",
            phone=phone,
            # Keyed like the client's own unknown-outcome errors, so reconcile() matches.
            fingerprint=fingerprint(text, self._client._token.key),
            started_at=entry.started_at or _dt.datetime.now(_dt.timezone.utc),
            key=self._client._token.key,
        )
        return BulkResult(index=entry.index, message=_as_message(entry.item), error=error)

    def _collect_leftover(self) -> tuple[BulkResult, ...]:
        out: list[BulkResult] = []
        for index in sorted(self._pending):
            entry = self._pending[index]
            if entry.result is not None:
                out.append(entry.result)
            elif entry.stage is _Stage.IN_FLIGHT:  # pragma: no cover - workers record it
                out.append(self._unknown(entry, "was abandoned while in flight"))
            else:
                out.append(BulkResult(index=index, message=_as_message(entry.item)))
        self._pending.clear()
        return tuple(out)

    async def _refuse_if_unaffordable(self) -> None:
        from .pricing import estimate_bulk

        balance = await self._client.get_balance(timeout=self._timeout)
        messages = self._messages
        assert isinstance(messages, Sequence)
        estimate = estimate_bulk(messages, uz_price=balance.sms_price, normalize=self._normalize)
        if estimate.total > balance.balance:
            raise InsufficientBalanceError(
                f"the job would cost about {estimate.total} so'm ({estimate.messages} "
                f"messages, {estimate.parts} parts) but the balance is {balance.balance} "
                "so'm; nothing was sent",
                needed=estimate.total,
                balance=balance.balance,
            )


async def send_bulk(
    client: AsyncDevSMS,
    messages: Iterable[BulkItem] | AsyncIterable[BulkItem],
    *,
    concurrency: int | None = None,
    per_second: float | None = None,
    normalize: bool = False,
    check_balance: bool = False,
    timeout: TimeoutTypes | None = None,  # noqa: ASYNC109 - per request, not a deadline
    on_result: Callable[[BulkResult], object] | None = None,
    _clock: Clock | None = None,
) -> list[BulkResult]:
    """See :meth:`AsyncDevSMS.send_bulk`."""
    if on_result is not None and not callable(on_result):
        raise ValidationError("on_result", f"must be a callable or None, got {on_result!r}")
    stream = BulkStream(
        client,
        messages,
        concurrency=concurrency,
        per_second=per_second,
        normalize=normalize,
        check_balance=check_balance,
        timeout=timeout,
        _clock=_clock,
    )
    results: list[BulkResult] = []
    callback_failed = False
    try:
        async with stream:
            async for result in stream:
                results.append(result)
                if on_result is not None:
                    try:
                        on_result(result)
                    except BaseException:
                        callback_failed = True
                        raise
    finally:
        if on_result is not None and not callback_failed:
            for result in stream.leftover:
                on_result(result)
    results.sort(key=attrgetter("index"))
    return results
