"""Walking the whole SMS history: ``iter_history`` and ``iter_history_pages``.

The walk asks ``get_history`` for one page at a time (``limit``/``offset``) and stops
after a short or empty page, so memory holds one page whatever the length of the
history.

The API has no cursor, and the history is (most likely) newest first: every SMS sent
while the walk runs pushes the older rows one place down, so the next page starts with
rows that ended the previous one. The walk drops a record whose ``id`` it saw among the
last :data:`DEDUPE_WINDOW` records it fetched: up to that many sends between two page
fetches are absorbed; the set of ids kept never grows beyond it.

The iterators are plain classes rather than ``async def`` generators: one that is
dropped half-way (``break``) has no suspended frame to finalise, so it leaves no request
pending and no "garbage collected before it had been exhausted" warning on trio, with or
without ``contextlib.aclosing``.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs

from ._validation import check_history_query
from .errors import UsageError, ValidationError
from .models import HistoryPage, SmsRecord, SmsStatus

__all__ = [
    "DEDUPE_WINDOW",
    "HistoryIterator",
    "HistoryWalk",
    "SyncHistoryIterator",
    "iter_history",
    "iter_history_pages",
    "page_items",
    "whole_page",
]

T = TypeVar("T")
Query = dict[str, Any]
FetchPage = Callable[[Query], Awaitable[HistoryPage]]
"""``get_history`` with these parameters (``limit``, ``offset``, maybe ``status``)."""
SyncFetchPage = Callable[[Query], HistoryPage]

DEDUPE_WINDOW = 1000
"""How many of the most recently fetched ids the walk remembers to drop repeats.

It bounds memory (a few dozen kilobytes) while absorbing up to this many new SMS per
page fetch; a burst larger than that between two fetches can yield a record twice.
"""


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


class HistoryWalk:
    """The state of one history walk, without I/O: which page to ask for next
    (:meth:`next_query`) and what is new in the page that came back (:meth:`feed`).

    Both faces drive it: :class:`HistoryIterator` with ``await``, and
    :class:`SyncHistoryIterator` without.
    """

    def __init__(
        self,
        *,
        status: SmsStatus | str | None,
        page_size: int,
        start_offset: int,
        max_items: int | None,
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
        self._status = query.get("status")
        self._page_size = page_size
        self._offset = start_offset
        self._remaining = max_items
        self._recent = _RecentIds(max(DEDUPE_WINDOW, page_size))
        self._limit = 0
        self.done = False

    @property
    def offset(self) -> int:
        return self._offset

    def next_query(self) -> Query | None:
        """The ``get_history`` parameters of the next page, or ``None`` at the end."""
        if self.done:
            return None
        limit = self._page_size
        if self._remaining is not None:
            limit = min(limit, self._remaining)
        if limit == 0:
            self.done = True
            return None
        self._limit = limit
        query: Query = {"limit": limit, "offset": self._offset}
        if self._status is not None:
            query["status"] = self._status
        return query

    def feed(self, page: HistoryPage) -> HistoryPage | None:
        """Take the page asked for by the last :meth:`next_query`; returns it with the
        records not seen before, or ``None`` when none is new."""
        fetched = page.items
        fresh = [record for record in fetched if self._recent.add(record.id)]
        if self._remaining is not None:
            del fresh[self._remaining :]
            self._remaining -= len(fresh)
        if len(fetched) < self._limit:
            self.done = True
        self._offset += len(fetched)
        return attrs.evolve(page, items=fresh) if fresh else None


async def _next_page(walk: HistoryWalk, fetch_page: FetchPage) -> HistoryPage | None:
    while (query := walk.next_query()) is not None:
        page = walk.feed(await fetch_page(query))
        if page is not None:
            return page
    return None


def _next_page_sync(walk: HistoryWalk, fetch_page: SyncFetchPage) -> HistoryPage | None:
    while (query := walk.next_query()) is not None:
        page = walk.feed(fetch_page(query))
        if page is not None:
            return page
    return None


class HistoryIterator(Generic[T]):
    """An async iterator over the history (records or pages), one request per page.

    Returned by :meth:`AsyncDevSMS.iter_history` and
    :meth:`AsyncDevSMS.iter_history_pages`. Nothing is requested until the first
    ``__anext__``, then one page at a time. Stopping early (``break``) needs no
    clean-up; ``aclose()`` and ``async with`` are there for code that wants to be
    explicit, and make any further iteration end at once. If a page fails (after the
    client's retries), the error propagates and iterating again retries that page.
    One task at a time may iterate it.
    """

    def __init__(
        self,
        walk: HistoryWalk,
        fetch_page: FetchPage,
        explode: Callable[[HistoryPage], Iterable[T]],
    ) -> None:
        self._walk = walk
        self._fetch_page = fetch_page
        self._explode = explode
        self._buffer: collections.deque[T] = collections.deque()
        self._running = False
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"offset={self._walk.offset}"
        return f"<HistoryIterator {state}>"

    def __aiter__(self) -> HistoryIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._running:
            raise UsageError("this history iterator is already being read by another task")
        self._running = True
        try:
            while not self._buffer:
                if self._closed:
                    raise StopAsyncIteration
                page = await _next_page(self._walk, self._fetch_page)
                if page is None:
                    self._closed = True
                    raise StopAsyncIteration
                self._buffer.extend(self._explode(page))
            return self._buffer.popleft()
        finally:
            self._running = False

    async def aclose(self) -> None:
        """Stop the walk; later iteration ends at once. Idempotent."""
        self._closed = True
        self._buffer.clear()

    async def __aenter__(self) -> HistoryIterator[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncHistoryIterator(Generic[T]):
    """A plain iterator over the history (records or pages), one request per page.

    Returned by :meth:`DevSMS.iter_history` and :meth:`DevSMS.iter_history_pages`; the
    same walk as :class:`HistoryIterator`, without ``await``. ``close()`` (or a ``with``
    block) makes any further iteration end at once.
    """

    def __init__(
        self,
        walk: HistoryWalk,
        fetch_page: SyncFetchPage,
        explode: Callable[[HistoryPage], Iterable[T]],
    ) -> None:
        self._walk = walk
        self._fetch_page = fetch_page
        self._explode = explode
        self._buffer: collections.deque[T] = collections.deque()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"offset={self._walk.offset}"
        return f"<SyncHistoryIterator {state}>"

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        while not self._buffer:
            if self._closed:
                raise StopIteration
            page = _next_page_sync(self._walk, self._fetch_page)
            if page is None:
                self._closed = True
                raise StopIteration
            self._buffer.extend(self._explode(page))
        return self._buffer.popleft()

    def close(self) -> None:
        """Stop the walk; later iteration ends at once. Idempotent."""
        self._closed = True
        self._buffer.clear()

    def __enter__(self) -> SyncHistoryIterator[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def whole_page(page: HistoryPage) -> tuple[HistoryPage]:
    return (page,)


def page_items(page: HistoryPage) -> list[SmsRecord]:
    return page.items


def iter_history_pages(
    fetch_page: FetchPage,
    *,
    status: SmsStatus | str | None = None,
    page_size: int = 200,
    start_offset: int = 0,
    max_items: int | None = None,
) -> HistoryIterator[HistoryPage]:
    """See :meth:`AsyncDevSMS.iter_history_pages`. Arguments are checked here, at once."""
    walk = HistoryWalk(
        status=status, page_size=page_size, start_offset=start_offset, max_items=max_items
    )
    return HistoryIterator(walk, fetch_page, whole_page)


def iter_history(
    fetch_page: FetchPage,
    *,
    status: SmsStatus | str | None = None,
    page_size: int = 200,
    start_offset: int = 0,
    max_items: int | None = None,
) -> HistoryIterator[SmsRecord]:
    """See :meth:`AsyncDevSMS.iter_history`. Arguments are checked here, at once."""
    walk = HistoryWalk(
        status=status, page_size=page_size, start_offset=start_offset, max_items=max_items
    )
    return HistoryIterator(walk, fetch_page, page_items)
