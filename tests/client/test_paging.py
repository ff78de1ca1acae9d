"""``iter_history`` / ``iter_history_pages``: paging, de-duplication, early exit, errors.

The server is a respx route over an in-memory history, newest first, that can insert
new records at the top between two requests (an SMS sent while the walk runs).
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx

from devsms_async import (
    AsyncDevSMS,
    HistoryPage,
    ServerError,
    SmsRecord,
    SmsStatus,
    UsageError,
    ValidationError,
)
from devsms_async._paging import DEDUPE_WINDOW
from devsms_async.pagination import AsyncHistoryIterator
from support import TOKEN, history_record
from support.docs import run_doc_examples

Run = Callable[..., Any]
BASE = "https://devsms.uz/api"
REPO = Path(__file__).resolve().parents[2]


def record_json(sms_id: int, status: str = "delivered") -> dict[str, Any]:
    return history_record(id=sms_id, message=f"Salom #{sms_id}", status=status)


class History:
    """``get_history.php`` over ids ``total..1`` (newest first).

    New records (higher ids) are put on top before every request but the first, as if
    SMS were being sent while the walk runs: ``inserts`` per request, or a schedule
    (the n-th number before the (n+1)-th request, then none).
    """

    def __init__(self, total: int, *, inserts: int | list[int] = 0) -> None:
        self.ids = list(range(total, 0, -1))
        self.original = list(self.ids)
        self.next_id = total + 1
        self.inserts = inserts
        self.queries: list[dict[str, str]] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer before the real page

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(dict(request.url.params))
        if self.fail_next:
            status = self.fail_next.pop(0)
            return httpx.Response(status, json={"success": False, "error": "xato"})
        if len(self.queries) > 1:
            n = self.inserts
            if isinstance(n, list):
                n = n[len(self.queries) - 2] if len(self.queries) - 2 < len(n) else 0
            self.ids[:0] = range(self.next_id + n - 1, self.next_id - 1, -1)
            self.next_id += n
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        rows = self.ids[offset : offset + limit]
        data = {
            "history": [record_json(i) for i in rows],
            "count": len(rows),
            "limit": limit,
            "offset": offset,
        }
        return httpx.Response(200, json={"success": True, "data": data})


@contextlib.asynccontextmanager
async def client_for(history: History, **options: Any) -> Any:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.get("/get_history.php").mock(side_effect=history)
    transport = httpx.MockTransport(router.async_handler)
    async with AsyncDevSMS(TOKEN, transport=transport, **options) as sms:
        yield sms


def offsets(history: History) -> list[tuple[int, int]]:
    return [(int(q["limit"]), int(q["offset"])) for q in history.queries]


# --- walking --------------------------------------------------------------------------


async def test_walks_every_page_until_a_short_one() -> None:
    history = History(450)
    async with client_for(history) as sms:
        ids = [record.id async for record in sms.iter_history()]
    assert ids == history.original
    assert offsets(history) == [(200, 0), (200, 200), (200, 400)]


async def test_an_exact_multiple_ends_on_an_empty_page() -> None:
    history = History(40)
    async with client_for(history) as sms:
        ids = [record.id async for record in sms.iter_history(page_size=20)]
    assert ids == history.original
    assert offsets(history) == [(20, 0), (20, 20), (20, 40)]


async def test_records_are_typed_and_empty_history_is_one_request() -> None:
    history = History(3)
    async with client_for(history) as sms:
        records = [r async for r in sms.iter_history()]
    assert all(isinstance(r, SmsRecord) for r in records)
    assert records[0].status is SmsStatus.DELIVERED
    assert records[0].message == "Salom #3"

    empty = History(0)
    async with client_for(empty) as sms:
        assert [r async for r in sms.iter_history()] == []
    assert len(empty.queries) == 1


async def test_start_offset_status_and_timeout_are_passed_on() -> None:
    history = History(30)
    async with client_for(history) as sms:
        ids = [
            r.id
            async for r in sms.iter_history(
                status="delivered", page_size=10, start_offset=5, timeout=3.0
            )
        ]
    assert ids == history.original[5:]
    assert history.queries[0] == {"limit": "10", "offset": "5", "status": "delivered"}
    assert [int(q["offset"]) for q in history.queries] == [5, 15, 25]


async def test_max_items_stops_early_and_asks_for_no_more_than_needed() -> None:
    history = History(1000)
    async with client_for(history) as sms:
        ids = [r.id async for r in sms.iter_history(page_size=200, max_items=250)]
    assert ids == history.original[:250]
    assert offsets(history) == [(200, 0), (50, 200)]


async def test_max_items_zero_sends_nothing() -> None:
    history = History(10)
    async with client_for(history) as sms:
        assert [r async for r in sms.iter_history(max_items=0)] == []
    assert history.queries == []


# --- de-duplication -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "page_size", "inserts"),
    [(1000, 50, 1), (1000, 50, 7), (150, 10, 9), (1000, 200, 150)],
    ids=["one-send-per-page", "a-few", "almost-a-page", "many"],
)
async def test_sends_during_the_walk_yield_no_record_twice_and_miss_none(
    total: int, page_size: int, inserts: int
) -> None:
    history = History(total, inserts=inserts)
    async with client_for(history) as sms:
        ids = [r.id async for r in sms.iter_history(page_size=page_size)]
    # New records land above the walk; every record there at the start is seen once.
    assert ids == history.original
    assert len(history.ids) > len(history.original)  # the shifts really happened


async def test_a_burst_larger_than_a_page_still_yields_nothing_twice() -> None:
    # 25 sends between the first two requests of a 10-record walk: the third page
    # repeats rows of the *first*, which only a window wider than a page catches.
    history = History(100, inserts=[25])
    async with client_for(history) as sms:
        ids = [r.id async for r in sms.iter_history(page_size=10)]
    assert len(ids) == len(set(ids))
    assert set(history.original) <= set(ids)
    new = set(ids) - set(history.original)
    assert new == set(range(101, 116))  # the newer ones that slid into the walk's range


async def test_without_dedupe_the_shift_would_repeat_rows() -> None:
    """The scenario above really produces overlapping pages (the test can fail)."""
    history = History(100, inserts=3)
    async with client_for(history) as sms:
        raw: list[int] = []
        for offset in range(0, 100, 20):
            page = await sms.get_history(limit=20, offset=offset)
            raw.extend(r.id for r in page.items)
    assert len(raw) != len(set(raw))


async def test_pages_carry_only_new_records_and_fully_repeated_pages_are_skipped() -> None:
    history = History(60, inserts=[10, 3])
    async with client_for(history) as sms:
        pages = [p async for p in sms.iter_history_pages(page_size=10)]
    assert all(isinstance(p, HistoryPage) for p in pages)
    # 10 new rows before the second request: it repeats the first page entirely and
    # is skipped; 3 more before the third: that page starts with 3 repeats.
    assert [r.id for p in pages for r in p.items] == history.original
    assert len(history.queries) == len(pages) + 1
    assert [len(p.items) for p in pages[:3]] == [10, 7, 10]
    assert pages[1].offset == 20  # the server's own page data is kept


async def test_the_id_window_is_bounded() -> None:
    history = History(3000)
    async with client_for(history) as sms:
        it = sms.iter_history(page_size=200)
        count = 0
        async for _ in it:
            count += 1
    assert count == 3000
    assert len(it._walk._recent._seen) == DEDUPE_WINDOW


# --- memory, early exit, closing ------------------------------------------------------


def records_alive() -> int:
    # type(), not isinstance(): isinstance reads __class__, which a lazy object (Django's
    # unconfigured settings, imported by another test module) answers with an error.
    return sum(type(o) is SmsRecord for o in gc.get_objects())


async def test_memory_holds_one_page_whatever_the_length() -> None:
    history = History(3000)
    live: list[int] = []
    seen = 0
    # Records other tests left alive in this process are not this walk's.
    gc.collect()
    before = records_alive()
    async with client_for(history) as sms:
        async for _ in sms.iter_history(page_size=100):
            seen += 1
            if seen % 237 == 0:  # lands at varied places within a page
                gc.collect()
                live.append(records_alive() - before)
    assert seen == 3000
    # Only the rest of the current page is alive, never the records already walked.
    assert max(live) <= 100
    assert min(live) > 0


@pytest.mark.filterwarnings("error")
def test_break_after_the_first_record_leaves_nothing_pending(run: Run) -> None:
    async def scenario() -> None:
        history = History(500)
        async with client_for(history) as sms:
            async for _ in sms.iter_history():
                break
            gc.collect()
            await anyio.sleep(0)
        assert len(history.queries) == 1

    # Any ResourceWarning / unclosed-generator warning fails the test (filterwarnings).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(scenario)
        gc.collect()


def test_aclose_and_async_with_end_the_walk(run: Run) -> None:
    async def scenario() -> None:
        history = History(500)
        async with client_for(history) as sms:
            it = sms.iter_history(page_size=100)
            first = await it.__anext__()
            await it.aclose()
            await it.aclose()  # idempotent
            assert [r async for r in it] == []
            assert first.id == 500

            async with contextlib.aclosing(sms.iter_history_pages(page_size=100)) as pages:
                async for _ in pages:
                    break
            async with sms.iter_history(page_size=100) as records:
                async for _ in records:
                    break
            assert [r async for r in records] == []
        assert len(history.queries) == 3
        assert "closed" in repr(it)

    run(scenario)


async def test_one_reader_at_a_time() -> None:
    history = History(10)
    gate = anyio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return await history(request)

    router = respx.Router(base_url=BASE)
    router.get("/get_history.php").mock(side_effect=slow)
    async with AsyncDevSMS(TOKEN, transport=httpx.MockTransport(router.async_handler)) as sms:
        it = sms.iter_history()
        async with anyio.create_task_group() as tg:
            tg.start_soon(it.__anext__)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(UsageError, match="already being read"):
                await it.__anext__()
            gate.set()
    assert len(history.queries) == 1


# --- errors ---------------------------------------------------------------------------


async def test_page_reads_are_retried_like_any_read() -> None:
    history = History(250)
    history.fail_next = [503, 502]
    async with client_for(history) as sms:
        ids = [r.id async for r in sms.iter_history()]
    assert ids == history.original
    assert len(history.queries) == 4  # 2 retried failures + 2 pages


async def test_a_failing_page_raises_and_the_walk_can_resume() -> None:
    history = History(250)
    async with client_for(history, max_retries=0) as sms:
        it = sms.iter_history(page_size=200)
        got = [await it.__anext__() for _ in range(200)]
        history.fail_next = [500]
        with pytest.raises(ServerError):
            await it.__anext__()
        got += [r async for r in it]
    assert [r.id for r in got] == history.original
    assert [int(q["offset"]) for q in history.queries] == [0, 200, 200]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 201}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"page_size": "50"}, "page_size"),
        ({"start_offset": -1}, "start_offset"),
        ({"start_offset": 1.5}, "start_offset"),
        ({"max_items": -1}, "max_items"),
        ({"max_items": False}, "max_items"),
        ({"status": "pending"}, "status"),
        ({"timeout": -1}, "timeout"),
    ],
)
async def test_bad_arguments_fail_at_the_call_before_any_request(
    kwargs: dict[str, Any], field: str
) -> None:
    history = History(5)
    async with client_for(history) as sms:
        with pytest.raises(ValidationError) as info:
            sms.iter_history(**kwargs)
        assert info.value.field == field
        with pytest.raises(ValidationError):
            sms.iter_history_pages(**kwargs)
    assert history.queries == []


async def test_iterating_outside_the_client_is_a_usage_error() -> None:
    sms = AsyncDevSMS(TOKEN)
    it: AsyncHistoryIterator[SmsRecord] = sms.iter_history()
    with pytest.raises(UsageError):
        await it.__anext__()


# --- the docs -------------------------------------------------------------------------


def test_the_history_page_examples_print_what_they_say() -> None:
    assert run_doc_examples(REPO / "docs" / "history.md") == 4
