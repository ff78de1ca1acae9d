"""Country detection and price estimates against the provider's own price table."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from devsms_async.errors import ValidationError
from devsms_async.models import BulkMessage, SmsType
from devsms_async.pricing import (
    BulkEstimate,
    Country,
    estimate_bulk,
    estimate_cost,
    lookup_country,
    price_table,
)

REPO = Path(__file__).resolve().parents[2]
# The shared original beside the repo (as in CI), else the copy kept in tests/spec.
_SPEC_CANDIDATES = (
    Path(__file__).resolve().parents[3] / "shared" / "spec" / "devsms-api.original-uz.txt",
    Path(__file__).resolve().parents[1] / "spec" / "devsms-api.original-uz.txt",
)
SPEC = next((p for p in _SPEC_CANDIDATES if p.is_file()), _SPEC_CANDIDATES[0])
CSV_PATH = REPO / "devsms_async" / "data" / "prices.csv"


def _spec_rows() -> list[tuple[str, str, str, int, int]]:
    """The table parsed straight from the original spec, cell by cell."""
    if not SPEC.is_file():
        pytest.skip(f"original spec not found at {SPEC}")
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("Xalqaro SMS Narxlari")
    end = text.index("Narxlar 1 SMS", start)
    rows = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("+"):
            continue
        m = re.fullmatch(r"(.+) \(([A-Z]{2})\)", cells[0])
        assert m is not None, line
        rows.append(
            (
                m[1],
                m[2],
                cells[1][1:],
                int(cells[2].replace(" ", "")),
                int(cells[3].replace(" ", "")),
            )
        )
    return rows


# --- the shipped table ----------------------------------------------------------------


def test_shipped_csv_matches_original_spec_row_by_row() -> None:
    expected = _spec_rows()
    assert len(expected) == 100
    with CSV_PATH.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["country", "iso", "prefix", "local", "foreign"]
        shipped = [(n, i, p, int(lo), int(fo)) for n, i, p, lo, fo in reader]
    assert len(shipped) == 100
    for got, want in zip(shipped, expected, strict=True):
        assert got == want


def test_price_table_is_the_spec_table() -> None:
    expected = _spec_rows()
    rows = price_table()
    assert [(c.name, c.iso, c.prefix, c.local_price, c.foreign_price) for c in rows] == expected


def test_price_table_notes_hold() -> None:
    # The facts the docs rely on: +1 shared by US and CA at one price, VI at +1340.
    by_iso = {c.iso: c for c in price_table()}
    assert by_iso["US"].prefix == by_iso["CA"].prefix == "1"
    assert by_iso["US"].local_price == by_iso["CA"].local_price
    assert by_iso["US"].foreign_price == by_iso["CA"].foreign_price
    assert (by_iso["VI"].name, by_iso["VI"].prefix) == ("Vietnam", "1340")
    assert "UZ" not in by_iso
    assert len({c.prefix for c in price_table()}) == 99  # only +1 is shared


# --- country detection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "iso", "prefix"),
    [
        ("+1 202 555 1234", "US", "1"),
        ("+1 416 555 1234", "US", "1"),  # Toronto: Canada shares +1 and the price
        ("+1 242 359 1234", "BS", "1242"),
        ("+1 246 250 1234", "BB", "1246"),
        ("+1 340 555 1234", "VI", "1340"),
        ("+7 916 123 45 67", "RU", "7"),
        ("+7 701 123 45 67", "KZ", "77"),
        ("+358 40 123 4567", "FI", "358"),
        ("+358 18 123 456", "AX", "35818"),
        ("+44 7911 123456", "GB", "44"),
        ("+44 1481 256789", "GG", "441481"),
        ("+44 1482 123456", "GB", "44"),  # 441482 is not 441481
    ],
)
def test_longest_prefix_wins(phone: str, iso: str, prefix: str) -> None:
    country = lookup_country(phone)
    assert (country.iso, country.prefix) == (iso, prefix)


def test_plus_one_is_the_united_states_row() -> None:
    us = lookup_country("12025551234")
    assert us == Country("United States", "US", "1", 140, 163)
    assert us in price_table()


# (number, ISO, local price, foreign price), prices read off the original spec.
SAMPLES = [
    ("93701234567", "AF", 6558, 7607),
    ("355691234567", "AL", 1652, 1916),
    ("5491123456789", "AR", 1293, 1500),
    ("37491123456", "AM", 3092, 3586),
    ("61412345678", "AU", 1089, 1263),
    ("4366412345678", "AT", 1734, 2012),
    ("994501234567", "AZ", 7398, 8582),
    ("8801712345678", "BD", 5119, 5938),
    ("375291234567", "BY", 4815, 5586),
    ("8613812345678", "CN", 769, 892),
    ("201001234567", "EG", 3675, 4263),
    ("33612345678", "FR", 1422, 1649),
    ("995555123456", "GE", 3868, 4487),
    ("4915112345678", "DE", 2014, 2336),
    ("919812345678", "IN", 1528, 1772),
    ("6281234567890", "ID", 7730, 8967),
    ("77011234567", "KZ", 10398, 12062),
    ("996555123456", "KG", 6323, 7335),
    ("821012345678", "KR", 905, 1050),
    ("79161234567", "RU", 10398, 12062),
    ("966501234567", "SA", 2105, 2442),
    ("992901234567", "TJ", 10705, 12418),
    ("905321234567", "TR", 539, 625),
    ("99365123456", "TM", 3404, 3949),
    ("380501234567", "UA", 3168, 3675),
    ("971501234567", "AE", 2379, 2760),
    ("447911123456", "GB", 933, 1082),
    ("12025551234", "US", 140, 163),
    ("59894123456", "UY", 1707, 1980),
    ("6591234567", "SG", 989, 1147),
]


@pytest.mark.parametrize(("phone", "iso", "local", "foreign"), SAMPLES)
def test_country_and_prices(phone: str, iso: str, local: int, foreign: int) -> None:
    country = lookup_country(phone)
    assert (country.iso, country.local_price, country.foreign_price) == (iso, local, foreign)
    assert country.price("local") == local
    assert country.price("foreign") == foreign
    assert estimate_cost(phone, "Hi").total == local
    assert estimate_cost(phone, "Hi", account="foreign").total == foreign


def test_uzbekistan_costs_the_account_sms_price() -> None:
    assert lookup_country("+998 90 123-45-67") == Country("Uzbekistan", "UZ", "998", 50, 50)
    assert lookup_country("998901234567", uz_price=65).local_price == 65
    est = estimate_cost("998901234567", "a" * 161, account="foreign", uz_price=70)
    assert (est.country.iso, est.parts.parts, est.price_per_part, est.total) == ("UZ", 2, 70, 140)


@pytest.mark.parametrize("phone", ["+84 91 234 5678", "+234 803 123 4567", "+27 82 123 4567"])
def test_country_not_served(phone: str) -> None:
    digits = re.sub(r"\D", "", phone)
    with pytest.raises(ValidationError, match="not served") as exc:
        lookup_country(phone)
    assert exc.value.field == "phone"
    assert digits not in str(exc.value)
    with pytest.raises(ValidationError, match="not served"):
        estimate_cost(phone, "Salom")


@pytest.mark.parametrize("phone", ["", "abc", "+0 123 4567", "12345", "99890123456"])
def test_malformed_number(phone: str) -> None:
    with pytest.raises(ValidationError) as exc:
        lookup_country(phone)
    assert exc.value.field == "phone"


# --- estimates ----------------------------------------------------------------------


def test_two_part_message_to_russia_on_foreign_account() -> None:
    est = estimate_cost("+7 916 123 45 67", "x" * 200, account="foreign")
    assert est.country.name == "Russia"
    assert (est.parts.parts, est.price_per_part, est.total) == (2, 12062, 2 * 12062)


def test_normalize_cuts_an_uzbek_message_cost() -> None:
    text = "Hurmatli mijoz, toʻlovingiz qabul qilindi. Rahmat! " * 3  # 153 characters
    assert len(text) == 153
    raw = estimate_cost("998901234567", text)
    fixed = estimate_cost("998901234567", text, normalize=True)
    assert (raw.parts.encoding, raw.parts.parts, raw.total) == ("UCS-2", 3, 150)
    assert (fixed.parts.encoding, fixed.parts.parts, fixed.total) == ("GSM-7", 1, 50)


@pytest.mark.parametrize("account", ["Local", "eu", None, 1])
def test_bad_account(account: object) -> None:
    with pytest.raises(ValidationError) as exc:
        estimate_cost("79161234567", "x", account=account)  # type: ignore[arg-type]
    assert exc.value.field == "account"
    with pytest.raises(ValidationError):
        lookup_country("79161234567").price(account)  # type: ignore[arg-type]


@pytest.mark.parametrize("uz_price", [-1, True, 1.5, "50"])
def test_bad_uz_price(uz_price: object) -> None:
    with pytest.raises(ValidationError) as exc:
        estimate_cost("998901234567", "x", uz_price=uz_price)  # type: ignore[arg-type]
    assert exc.value.field == "uz_price"


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_message_is_rejected_like_a_send(text: object) -> None:
    with pytest.raises(ValidationError) as exc:
        estimate_cost("998901234567", text)  # type: ignore[arg-type]
    assert exc.value.field == "message"


def test_repr_shows_no_number_or_text() -> None:
    est = estimate_cost("79161234567", "Parol 4821")
    assert "9161234567" not in repr(est)
    assert "4821" not in repr(est)


# --- bulk ---------------------------------------------------------------------------


def test_bulk_totals_by_country_and_keeps_going_after_bad_items() -> None:
    items: list[object] = [
        ("998901234567", "Salom"),  # UZ, 1 part, 50
        BulkMessage(phone="+7 916 123 45 67", message="x" * 200),  # RU, 2 parts, 2 x 10398
        ("not a phone", "x"),  # error at 2
        ("998911234567", "Oʻzbekiston " * 10),  # UZ, 110 UCS-2 units: 2 parts, 100
        ("84912345678", "Xin chao"),  # error at 4: not served
        BulkMessage(
            phone="79001234567", message="Privet", type=SmsType.SIMPLE
        ),  # error at 5: simple abroad
        ("998901234567", "   "),  # error at 6: empty
        "998901234567",  # error at 7: not an item
        ["77011234567", "Salom"],  # KZ, 1 part, 10398
    ]
    est = estimate_bulk(iter(items))  # type: ignore[arg-type]
    assert list(est.by_country) == ["UZ", "RU", "KZ"]
    uz, ru, kz = est.by_country["UZ"], est.by_country["RU"], est.by_country["KZ"]
    assert (uz.messages, uz.parts, uz.cost) == (2, 3, 150)
    assert (ru.messages, ru.parts, ru.cost) == (1, 2, 20796)
    assert (kz.messages, kz.parts, kz.cost) == (1, 1, 10398)
    assert (est.messages, est.parts, est.total) == (4, 6, 150 + 20796 + 10398)
    assert [e.index for e in est.errors] == [2, 4, 5, 6, 7]
    assert [e.error.field for e in est.errors] == ["phone", "phone", "type", "message", "messages"]
    assert "9161234567" not in repr(est)


def test_bulk_foreign_account_and_uz_price() -> None:
    est = estimate_bulk(
        [("998901234567", "a"), ("12025551234", "a"), ("12423591234", "a")],
        account="foreign",
        uz_price=80,
    )
    assert {iso: t.cost for iso, t in est.by_country.items()} == {"UZ": 80, "US": 163, "BS": 163}
    assert est.total == 80 + 163 + 163


def test_bulk_normalize() -> None:
    items = [("998901234567", "Oʻ" * 80)]
    assert estimate_bulk(items).parts == 3  # 160 UCS-2 units
    assert estimate_bulk(items, normalize=True).parts == 1  # 160 septets


def test_bulk_empty_and_bad_arguments() -> None:
    est = estimate_bulk([])
    assert est == BulkEstimate("local", est.by_country, 0, 0, 0, ())
    assert dict(est.by_country) == {}
    with pytest.raises(ValidationError):
        estimate_bulk([], account="abroad")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        estimate_bulk("998901234567")  # type: ignore[arg-type]


def test_bulk_result_is_read_only() -> None:
    est = estimate_bulk([("998901234567", "a")])
    with pytest.raises(TypeError):
        est.by_country["XX"] = est.by_country["UZ"]  # type: ignore[index]


def test_bulk_streams_in_constant_memory() -> None:
    n = 20_000

    def items() -> Iterator[tuple[str, str]]:
        for i in range(n):
            # Fresh strings: keeping them around would cost well over a megabyte.
            yield (f"99890{i:07d}", f"Kod: {i:06d}")
            yield (f"7916{i:07d}", "Privet")

    estimate_bulk(items())  # warm the price table and caches
    tracemalloc.start()
    try:
        est = estimate_bulk(items())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert est.messages == 2 * n
    assert peak < 200_000, peak


# --- lazy loading -------------------------------------------------------------------

_LAZY_CHECK = """
import sys
opened = []
sys.addaudithook(lambda ev, args: ev == "open" and opened.append(str(args[0])))
import devsms_async.pricing as pricing
assert not [p for p in opened if p.endswith("prices.csv")], opened
assert pricing._load_table.cache_info().currsize == 0
pricing.lookup_country("12025551234")
pricing.lookup_country("79161234567")
assert len([p for p in opened if p.endswith("prices.csv")]) == 1, opened
print("ok")
"""


def test_price_table_is_read_on_first_use_only() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_CHECK], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "ok"


# --- docs ---------------------------------------------------------------------------


def test_cost_docs_examples_print_what_they_say() -> None:
    doc = (REPO / "docs" / "cost.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        # An output line is a "# " comment right after a print(...) or another output line.
        expected, after_print = [], False
        for line in block.splitlines():
            if after_print and line.startswith("# "):
                expected.append(line[2:])
                continue
            after_print = line.lstrip().startswith("print(")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(block, {})
        assert out.getvalue().splitlines() == expected, block
