"""Scenario 4 worker: the price of parsing one history row.

A 200-row ``get_history`` page (as the benchmark server renders it) is decoded and
structured many times; each figure is the best of several repeats, divided by 200. The
reference rows show where the floor is: building a frozen attrs ``SmsRecord`` (15
fields set through ``object.__setattr__``) against a non-frozen slotted twin, and
three aware timestamps.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

import attrs

from server import history_body

ROWS = 200


def per_row_us(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number / ROWS * 1e6


@attrs.define(kw_only=True)
class _MutableRecord:
    """``SmsRecord``'s fields on a non-frozen slotted class (a reference only)."""

    id: int
    phone_number: str
    message: str
    status: Any
    status_raw: str
    parts_count: int
    total_cost: int
    from_number: str | None = None
    eskiz_request_id: str | None = None
    eskiz_message_id: str | None = None
    created_at: _dt.datetime | None = None
    sent_at: _dt.datetime | None = None
    delivered_at: _dt.datetime | None = None
    failed_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None


def measure(number: int) -> list[dict[str, Any]]:
    from devsms_async._converter import TASHKENT, get_converter, structure
    from devsms_async._endpoints import GET_HISTORY
    from devsms_async._response import parse_response
    from devsms_async.models import HistoryPage, SmsRecord

    body = history_body(1_000_000, ROWS, 0)
    data = json.loads(body)["data"]
    assert len(data["history"]) == ROWS
    page = structure(data, HistoryPage, TASHKENT)
    fields = [attrs.asdict(record, recurse=False) for record in page.items]
    hook = get_converter(TASHKENT).get_structure_hook(HistoryPage)
    stamps = [(row["created_at"], row["sent_at"], row["delivered_at"]) for row in data["history"]]
    datetime_hook = get_converter(TASHKENT).get_structure_hook(_dt.datetime)

    rows: list[dict[str, Any]] = []

    def add(name: str, kind: str, fn: Callable[[], object]) -> None:
        rows.append({"name": name, "kind": kind, "us_per_row": per_row_us(fn, number)})

    add("json.loads", "decode", lambda: json.loads(body))
    try:
        import orjson
    except ImportError:
        pass
    else:
        add("orjson.loads", "decode", lambda: orjson.loads(body))
    add("structure onto HistoryPage (SDK converter)", "structure", lambda: hook(data, HistoryPage))
    add(
        "decode + check + structure (SDK parse_response)",
        "sdk",
        lambda: parse_response(GET_HISTORY, 200, body, {}, tz=TASHKENT),
    )
    add(
        "ref: frozen SmsRecord(**fields) only",
        "reference",
        lambda: [SmsRecord(**f) for f in fields],
    )
    add(
        "ref: non-frozen slotted twin(**fields) only",
        "reference",
        lambda: [_MutableRecord(**f) for f in fields],
    )
    add(
        "ref: 3 aware timestamps (SDK datetime hook)",
        "reference",
        lambda: [[datetime_hook(s, _dt.datetime) for s in row] for row in stamps],
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="per-row parse costs")
    parser.add_argument("--number", type=int, default=200, help="pages per repeat")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps({"rows": measure(args.number)}) + "\n")


if __name__ == "__main__":
    main()
