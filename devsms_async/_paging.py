"""Walking the whole SMS history: a pure state machine and two thin drivers.

``HistoryWalk`` holds the state of one walk and does no I/O: ``next_query()``
says which page to ask for (a ``PageQuery``, or ``None`` when the walk is over),
``feed(page)`` takes the page the server returned and gives back the records not
seen before. ``HistoryIterator`` (async) and ``SyncHistoryIterator`` drive
it over a ``fetch_page(query)`` callable; the async and the sync client pass their own
``get_history``.

The API has no cursor, and the history is (most likely) newest first: every SMS sent
while the walk runs pushes the older rows one place down, so the next page starts with
rows that ended the previous one. The walk drops a record whose ``id`` it saw among the
last ``DEDUPE_WINDOW`` records it fetched: up to that many sends between two page
fetches are absorbed; the set of ids kept never grows beyond it. It stops after a
short or empty page, so memory holds one page whatever the length of the history.

The iterators are plain classes rather than generators: one that is dropped half-way
(``break``) has no suspended frame to finalise, so it leaves no request pending and no
"garbage collected before it had been exhausted" warning on trio.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Protocol, TypeAlias, TypedDict, TypeVar

import attrs

from ._validation import check_history_query
from .errors import UsageError, ValidationError
from .models import HistoryPage, SmsRecord, SmsStatus

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEDUPE_WINDOW",
    "AsyncFetchPage",
    "HistoryIterator",
    "HistoryWalk",
    "PageQuery",
    "SyncFetchPage",
    "SyncHistoryIterator",
    "WalkOptions",
    "iter_history",
    "iter_history_pages",
    "iter_history_pages_sync",
    "iter_history_sync",
]

T = TypeVar("T")
F_contra = TypeVar("F_contra", contravariant=True)
I_co = TypeVar("I_co", covariant=True)
F = TypeVar("F")

DEDUPE_WINDOW = 1000
"""How many of the most recently fetched ids the walk remembers to drop repeats.

It bounds memory (a few dozen kilobytes) while absorbing up to this many new SMS per
page fetch; a burst larger than that between two fetches can yield a record twice.
"""


@attrs.frozen
class PageQuery:
    """One ``get_history`` call: ``limit`` (1-200), ``offset``, ``status`` or ``None``."""

    limit: int
    offset: int
    status: str | None = None


AsyncFetchPage: TypeAlias = Callable[[PageQuery], Awaitable[HistoryPage]]
"""``await fetch_page(query)``: one page of the history (the client's ``get_history``)."""
SyncFetchPage: TypeAlias = Callable[[PageQuery], HistoryPage]
"""``fetch_page(query)``: the same for a synchronous client."""


class _RecentIds:
    """The last ``size`` distinct ids seen, with O(1) membership."""

    __slots__ = ("_order", "_seen", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: collections.deque[int] = collections.deque()
        self._seen: set[int] = set()

    def add(self, value: int) -> bool:
        """Remember ``value``; ``False`` if it was already among the recent ids."""
        if value in self._seen:
            return False
        if len(self._order) == self._size:
            self._seen.discard(self._order.popleft())
        self._order.append(value)
        self._seen.add(value)
        return True


class WalkOptions(TypedDict, total=False):
    """The arguments of a ``HistoryWalk``, for the functions that make one."""

    status: SmsStatus | str | None
    page_size: int
    start_offset: int
    max_items: int | None


class HistoryWalk:
    """The state of one history walk (no I/O): offset, ids seen lately, items wanted.

    Arguments are checked here, at once (``ValidationError``, named as in
    ``iter_history``). Drive it as:

    ```python
    while (query := walk.next_query()) is not None:
        fresh = walk.feed(fetch_page(query))  # a HistoryPage, or None
    ```
    """

    def __init__(
        self,
        *,
        page_size: int = 200,
        status: SmsStatus | str | None = None,
        start_offset: int = 0,
        max_items: int | None = None,
    ) -> None:
        try:
            query = check_history_query(page_size, start_offset, status)
        except ValidationError as exc:
            # Same rules as get_history, named after this function's arguments.
            field = {"limit": "page_size", "offset": "start_offset"}.get(exc.field, exc.field)
            raise ValidationError(field, exc.reason) from None
        given: object = max_items  # checked at run time, whatever the annotation says
        if given is not None and (
            isinstance(given, bool) or not isinstance(given, int) or given < 0
        ):
            raise ValidationError("max_items", f"must be an int >= 0 or None, got {max_items!r}")
        self._status: str | None = query.get("status")
        self._page_size = page_size
        self._offset = start_offset
        self._remaining = max_items
        self._recent = _RecentIds(max(DEDUPE_WINDOW, page_size))
        self._asked: PageQuery | None = None
        self._done = False
        self._exhausted = False

    @property
    def offset(self) -> int:
        """The offset of the next page."""
        return self._offset

    def next_query(self) -> PageQuery | None:
        """The page to fetch next, or ``None`` when the walk is over."""
        if self._done:
            return None
        limit = self._page_size
        if self._remaining is not None:
            limit = min(limit, self._remaining)
        if limit == 0:
            self._done = True
            return None
        self._asked = PageQuery(limit, self._offset, self._status)
        return self._asked

    def feed(self, page: HistoryPage) -> HistoryPage | None:
        """Take the page fetched for ``next_query()``; the records not seen before."""
        asked = self._asked
        if asked is None:
            raise UsageError("feed() takes the page of the query next_query() returned")
        self._asked = None
        fetched = page.items
        fresh = [record for record in fetched if self._recent.add(record.id)]
        if self._remaining is not None:
            del fresh[self._remaining :]
            self._remaining -= len(fresh)
        if len(fetched) < asked.limit:
            self._done = self._exhausted = True
        self._offset += len(fetched)
        return attrs.evolve(page, items=fresh) if fresh else None

    @property
    def exhausted(self) -> bool:
        """``True`` once a short or empty page showed the end of the history."""
        return self._exhausted

    def close(self) -> None:
        self._done = True


def _whole_page(page: HistoryPage) -> tuple[HistoryPage]:
    return (page,)


def _page_items(page: HistoryPage) -> list[SmsRecord]:
    return page.items


class _IteratorBase(Generic[T, F]):
    """What both iterators share: the walk, the buffer, one reader at a time."""

    def __init__(
        self, walk: HistoryWalk, fetch_page: F, explode: Callable[[HistoryPage], Iterable[T]]
    ) -> None:
        self._walk = walk
        self._fetch = fetch_page
        self._explode = explode
        self._buffer: collections.deque[T] = collections.deque()
        self._running = False
        self._closed = False

    @property
    def walk(self) -> HistoryWalk:
        """The state machine being driven (``walk.exhausted``: the history ended)."""
        return self._walk

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"offset={self._walk.offset}"
        return f"<{type(self).__name__} {state}>"

    def _enter(self) -> None:
        if self._running:
            raise UsageError("this history iterator is already being read by another task")
        self._running = True

    def _wanted(self, end: type[Exception]) -> PageQuery | None:
        """The page to fetch before the next item, or ``None`` when one is buffered;
        raises ``end`` (``StopIteration`` or ``StopAsyncIteration``) when the walk is over."""
        if self._buffer:
            return None
        query = None if self._closed else self._walk.next_query()
        if query is None:
            self._closed = True
            raise end
        return query

    def _take(self, page: HistoryPage) -> None:
        fresh = self._walk.feed(page)
        if fresh is not None:
            self._buffer.extend(self._explode(fresh))

    def _close(self) -> None:
        self._closed = True
        self._buffer.clear()
        self._walk.close()


class HistoryIterator(_IteratorBase[T, AsyncFetchPage]):
    """An async iterator over the history (records or pages), one request per page.

    Returned by ``AsyncDevSMS.iter_history`` and
    ``AsyncDevSMS.iter_history_pages``. Nothing is requested until the first
    ``__anext__``, then one page at a time. Stopping early (``break``) needs no
    clean-up; ``aclose()`` and ``async with`` are there for code that wants to be
    explicit, and make any further iteration end at once. If a page fails (after the
    client's retries), the error propagates and iterating again retries that page.
    One task at a time may iterate it.
    """

    def __aiter__(self) -> HistoryIterator[T]:
        return self

    async def __anext__(self) -> T:
        self._enter()
        try:
            while (query := self._wanted(StopAsyncIteration)) is not None:
                self._take(await self._fetch(query))
            return self._buffer.popleft()
        finally:
            self._running = False

    async def aclose(self) -> None:
        """Stop the walk; later iteration ends at once. Idempotent."""
        self._close()

    async def __aenter__(self) -> HistoryIterator[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncHistoryIterator(_IteratorBase[T, SyncFetchPage]):
    """The same walk as ``HistoryIterator``, as a plain iterator (sync clients)."""

    def __iter__(self) -> SyncHistoryIterator[T]:
        return self

    def __next__(self) -> T:
        self._enter()
        try:
            while (query := self._wanted(StopIteration)) is not None:
                self._take(self._fetch(query))
            return self._buffer.popleft()
        finally:
            self._running = False

    def close(self) -> None:
        """Stop the walk; later iteration ends at once. Idempotent."""
        self._close()

    def __enter__(self) -> SyncHistoryIterator[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _MakeIterator(Protocol[F_contra, I_co]):
    def __call__(self, fetch_page: F_contra, **options: Unpack[WalkOptions]) -> I_co: ...


def _maker(
    iterator: Callable[[HistoryWalk, F_contra, Callable[[HistoryPage], Iterable[T]]], I_co],
    explode: Callable[[HistoryPage], Iterable[T]],
) -> _MakeIterator[F_contra, I_co]:
    """``make(fetch_page, **options)``: a walk with ``options`` (checked at once), driven
    over ``fetch_page`` by ``iterator``, yielding what ``explode`` makes of each page."""

    def make(fetch_page: F_contra, **options: Unpack[WalkOptions]) -> I_co:
        return iterator(HistoryWalk(**options), fetch_page, explode)

    return make


iter_history = _maker(HistoryIterator[SmsRecord], _page_items)
"""Every record, one ``await fetch_page(query)`` per page."""
iter_history_pages = _maker(HistoryIterator[HistoryPage], _whole_page)
"""Like ``iter_history``, one ``HistoryPage`` (repeats removed) at a time."""
iter_history_sync = _maker(SyncHistoryIterator[SmsRecord], _page_items)
"""``iter_history`` for a synchronous ``fetch_page(query)``."""
iter_history_pages_sync = _maker(SyncHistoryIterator[HistoryPage], _whole_page)
"""``iter_history_pages`` for a synchronous ``fetch_page(query)``."""
