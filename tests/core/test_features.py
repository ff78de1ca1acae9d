"""Feature modules over narrow callables: paging, reconcile and
polling each have a pure part plus an async and a sync driver, and none of them knows
the client."""

from __future__ import annotations

import ast
import datetime as _dt
from pathlib import Path

import attrs
import pytest

from devsms_async import HistoryPage, SmsRecord, SmsStatus, WaitTimeoutError
from devsms_async._paging import HistoryWalk, PageQuery, iter_history, iter_history_sync
from devsms_async._polling import wait_for_status_sync
from devsms_async._reconcile import ReconcileSearch, reconcile_sync
from devsms_async._unknown import SendQuery

PACKAGE = Path(__file__).resolve().parents[2] / "devsms_async"
FEATURES = ["_bulk", "_paging", "_reconcile", "_polling", "_journal", "_unknown"]
CLIENT_PRIVATES = {"_token", "_send_params", "_send", "_client", "_call", "_policy"}
T0 = _dt.datetime(2026, 3, 9, 10, 0, tzinfo=_dt.timezone.utc)


def record(
    sms_id: int, *, minutes: float = 0, phone: str = "998901234567", text: str = "x"
) -> SmsRecord:
    return SmsRecord(
        id=sms_id,
        phone_number=phone,
        message=text,
        status=SmsStatus.SENT,
        status_raw="sent",
        parts_count=1,
        total_cost=50,
        created_at=T0 + _dt.timedelta(minutes=minutes),
    )


class History:
    """A fake history as plain data: the callables the features take."""

    def __init__(self, records: list[SmsRecord]) -> None:
        self.records = records
        self.queries: list[PageQuery] = []

    def fetch(self, query: PageQuery) -> HistoryPage:
        self.queries.append(query)
        items = self.records[query.offset : query.offset + query.limit]
        return HistoryPage(items=items, count=len(items), limit=query.limit, offset=query.offset)

    async def afetch(self, query: PageQuery) -> HistoryPage:
        return self.fetch(query)


@pytest.mark.parametrize("module", FEATURES)
def test_feature_modules_import_no_client_and_touch_no_private_state(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            # Even under TYPE_CHECKING: no cycle with the client, no CLI.
            assert node.module not in ("_client", "cli"), (module, node.module)
            assert not (node.module or "").startswith(("_client", "cli")), node.module
        if isinstance(node, ast.Attribute) and node.attr in CLIENT_PRIVATES:
            assert not (isinstance(node.value, ast.Name) and node.value.id == "client"), node.attr


def test_the_walk_is_a_pure_state_machine() -> None:
    history = History([record(i) for i in range(5, 0, -1)])
    walk = HistoryWalk(page_size=2, max_items=4)
    got: list[int] = []
    while (query := walk.next_query()) is not None:
        page = walk.feed(history.fetch(query))
        if page is not None:
            got += [r.id for r in page.items]
    assert got == [5, 4, 3, 2]
    assert [(q.limit, q.offset) for q in history.queries] == [(2, 0), (2, 2)]
    assert not walk.exhausted  # stopped at max_items, not at the end


def test_sync_and_async_iterators_walk_the_same_history() -> None:
    records = [record(i) for i in range(450, 0, -1)]
    sync_ids = [r.id for r in iter_history_sync(History(records).fetch, page_size=200)]

    async def walk() -> list[int]:
        return [r.id async for r in iter_history(History(records).afetch, page_size=200)]

    import anyio

    assert sync_ids == anyio.run(walk) == list(range(450, 0, -1))


def fp(text: str) -> str:
    return "fp:" + text  # any function both sides agree on: digests, not texts


@pytest.mark.parametrize("newest_first", [True, False])
def test_reconcile_sync_checks_the_order_it_is_served(newest_first: bool) -> None:
    records = [record(i, minutes=i, text="mine" if i == 50 else f"other {i}") for i in range(1, 61)]
    if newest_first:
        records.reverse()
    query = SendQuery("+998 90 123 45 67", fp("mine"), T0 + _dt.timedelta(minutes=50))
    result = reconcile_sync(History(records).fetch, query, fp, window=200, skew=60)
    assert result.found
    assert result.record is not None
    assert result.record.id == 50
    assert result.complete
    assert result.order == ("newest_first" if newest_first else "oldest_first")
    if newest_first:
        assert result.searched < 60  # stopped at the first record before the cutoff


def test_one_record_proves_one_send_and_a_single_record_proves_no_order() -> None:
    search = ReconcileSearch(SendQuery("998901234567", fp("x"), T0), fp, exclude={7})
    assert search.feed(record(7, minutes=-30))  # older than the cutoff, but no order yet
    result = search.result(history_ended=False)
    assert (result.found, result.complete, result.order) == (False, False, "unknown")


def test_wait_for_status_sync_polls_with_backoff_then_times_out() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    pending = record(1)
    polls: list[float] = []

    def poll() -> SmsRecord:
        polls.append(now[0])
        return pending

    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_status_sync(
            poll,
            sms_id=1,
            request_id=None,
            timeout=10,
            poll_initial=1,
            poll_max=4,
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert polls == [0, 1, 3, 7]
    assert sleeps == [1, 2, 4, 3]  # the last sleep ends at the deadline
    assert caught.value.polls == 4
    assert caught.value.last is not None
    assert caught.value.last.status is SmsStatus.SENT
    delivered = attrs.evolve(pending, status=SmsStatus.DELIVERED, status_raw="delivered")
    assert wait_for_status_sync(lambda: delivered, sms_id=1, request_id=None) is delivered
    answers = iter([pending, delivered])
    done = wait_for_status_sync(
        lambda: next(answers), sms_id=1, request_id=None, clock=lambda: 0.0, sleep=lambda s: None
    )
    assert done.status is SmsStatus.DELIVERED
