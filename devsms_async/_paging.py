"""Walking the whole SMS history: ``iter_history`` and ``iter_history_pages``.

The walk asks ``get_history`` for one page at a time (``limit``/``offset``) and stops
after a short or empty page, so memory holds one page whatever the length of the
history.

The API has no cursor, and the history is (most likely) newest first: every SMS sent
while the walk runs pushes the older rows one place down, so the next page starts with
rows that ended the previous one. The walk drops a record whose ``id`` it saw among the
last ``DEDUPE_WINDOW`` records it fetched: up to that many sends between two page
fetches are absorbed; the set of ids kept never grows beyond it.

The iterators are plain classes rather than ``async def`` generators: one that is
dropped half-way (``break``) has no suspended frame to finalise, so it leaves no request
pending and no "garbage collected before it had been exhausted" warning on trio, with or
without ``contextlib.aclosing``.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

from ._transport import TimeoutTypes, to_timeout
from ._validation import check_history_query
from .errors import UsageError, ValidationError
from .models import HistoryPage, SmsRecord, SmsStatus

if TYPE_CHECKING:
    from ._client import AsyncDevSMS

__all__ = ["DEDUPE_WINDOW", "HistoryIterator", "iter_history", "iter_history_pages"]

T = TypeVar("T")

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


class _Walk:
    """The state of one history walk: offset, ids seen lately, items still wanted."""

    def __init__(
        self,
        client: AsyncDevSMS,
        *,
        status: SmsStatus | str | None,
        page_size: int,
        start_offset: int,
        max_items: int | None,
        timeout: TimeoutTypes | None,
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
        self._client = client
        self._status = query.get("status")
        self._page_size = page_size
        self._offset = start_offset
        self._remaining = max_items
        self._timeout = to_timeout(timeout)
        self._recent = _RecentIds(max(DEDUPE_WINDOW, page_size))
        self._done = False

    @property
    def offset(self) -> int:
        return self._offset

    async def next_page(self) -> HistoryPage | None:
        """The next page of records not yielded before, or ``None`` at the end."""
        while not self._done:
            limit = self._page_size
            if self._remaining is not None:
                limit = min(limit, self._remaining)
            if limit == 0:
                break
            page = await self._client.get_history(
                limit=limit, offset=self._offset, status=self._status, timeout=self._timeout
            )
            fetched = page.items
            fresh = [record for record in fetched if self._recent.add(record.id)]
            if self._remaining is not None:
                del fresh[self._remaining :]
                self._remaining -= len(fresh)
            if len(fetched) < limit:
                self._done = True
            self._offset += len(fetched)
            if fresh:
                return attrs.evolve(page, items=fresh)
        self._done = True
        return None


class HistoryIterator(Generic[T]):
    """An async iterator over the history (records or pages), one request per page.

    Returned by ``AsyncDevSMS.iter_history`` and
    ``AsyncDevSMS.iter_history_pages``. Nothing is requested until the first
    ``__anext__``, then one page at a time. Stopping early (``break``) needs no
    clean-up; ``aclose()`` and ``async with`` are there for code that wants to be
    explicit, and make any further iteration end at once. If a page fails (after the
    client's retries), the error propagates and iterating again retries that page.
    One task at a time may iterate it.
    """

    def __init__(self, walk: _Walk, explode: Callable[[HistoryPage], Iterable[T]]) -> None:
        self._walk = walk
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
                page = await self._walk.next_page()
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


def _whole_page(page: HistoryPage) -> tuple[HistoryPage]:
    return (page,)


def _page_items(page: HistoryPage) -> list[SmsRecord]:
    return page.items


def iter_history_pages(
    client: AsyncDevSMS,
    *,
    status: SmsStatus | str | None = None,
    page_size: int = 200,
    start_offset: int = 0,
    max_items: int | None = None,
    timeout: TimeoutTypes | None = None,
) -> HistoryIterator[HistoryPage]:
    """See ``AsyncDevSMS.iter_history_pages``. Arguments are checked here, at once."""
    walk = _Walk(
        client,
        status=status,
        page_size=page_size,
        start_offset=start_offset,
        max_items=max_items,
        timeout=timeout,
    )
    return HistoryIterator(walk, _whole_page)


def iter_history(
    client: AsyncDevSMS,
    *,
    status: SmsStatus | str | None = None,
    page_size: int = 200,
    start_offset: int = 0,
    max_items: int | None = None,
    timeout: TimeoutTypes | None = None,
) -> HistoryIterator[SmsRecord]:
    """See ``AsyncDevSMS.iter_history``. Arguments are checked here, at once."""
    walk = _Walk(
        client,
        status=status,
        page_size=page_size,
        start_offset=start_offset,
        max_items=max_items,
        timeout=timeout,
    )
    return HistoryIterator(walk, _page_items)
