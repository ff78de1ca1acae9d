"""Regenerate devsms_async/data/prices.csv from the provider's original (Uzbek) spec.

Usage: python scripts/gen_prices.py [SPEC_PATH]

The table is transcribed by this script, not by hand; tests/core/test_pricing.py checks every
shipped row against the spec again.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = ROOT.parent / "shared" / "spec" / "devsms-api.original-uz.txt"
OUT = ROOT / "devsms_async" / "data" / "prices.csv"

# "| Afghanistan (AF) | +93 | 6 558 | 7 607 |": prices use a space as thousands separator.
ROW = re.compile(
    r"^\|\s*(?P<country>[^|(]+?)\s*\((?P<iso>[A-Z]{2})\)\s*\|\s*\+(?P<prefix>\d+)\s*"
    r"\|\s*(?P<local>\d{1,3}(?: \d{3})*)\s*\|\s*(?P<foreign>\d{1,3}(?: \d{3})*)\s*\|$"
)


def parse(spec: str) -> list[dict[str, str]]:
    section = spec.split("Xalqaro SMS Narxlari", 1)[1].split("Narxlar 1 SMS", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith(("| Davlat", "|---")):
            continue
        m = ROW.match(line)
        if m is None:
            raise SystemExit(f"unparsed table line: {line!r}")
        row = m.groupdict()
        row["local"] = row["local"].replace(" ", "")
        row["foreign"] = row["foreign"].replace(" ", "")
        rows.append(row)
    return rows


def main() -> None:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    rows = parse(spec_path.read_text(encoding="utf-8"))
    if len(rows) != 100:
        raise SystemExit(f"expected 100 rows, parsed {len(rows)}")
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["country", "iso", "prefix", "local", "foreign"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
