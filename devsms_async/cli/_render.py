"""Output: rich tables for people, JSON and CSV with stable keys for programs.

Human output goes through rich (colour only on a terminal); JSON and CSV are written
to stdout as plain text, never wrapped or coloured. Progress, prompts, notes and errors
go to stderr so that stdout stays the result.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from .._redact import mask_phone

if TYPE_CHECKING:
    from rich.console import Console

    from ..models import Balance, SendResult, SmsRecord
    from ..pricing import CostEstimate

RECORD_FIELDS = (
    "id",
    "phone_number",
    "message",
    "status",
    "status_raw",
    "parts_count",
    "total_cost",
    "from_number",
    "eskiz_request_id",
    "eskiz_message_id",
    "created_at",
    "sent_at",
    "delivered_at",
    "failed_at",
    "updated_at",
)
"""The columns of ``history --format csv`` and the keys of a record in JSON, in order."""


class Format(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class OutFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"


def consoles() -> tuple[Console, Console]:
    """``(stdout, stderr)`` consoles; no soft wrapping of long values in pipes."""
    from rich.console import Console

    return Console(highlight=False), Console(stderr=True, highlight=False)


# -- text from elsewhere ----------------------------------------------------------------------

# C0, DEL, C1, and the characters that reorder or split what follows on a terminal:
# bidi embeddings, overrides and isolates, marks, line/paragraph separators.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """Text the CLI did not write (server errors, message texts, any field from the
    network or a file) made safe for a terminal: every control character (C0, ESC,
    DEL, C1) and bidi control shown as an escape (`\\x1b`, `\\u202e`), so none of them
    can move the cursor, retitle the window or reorder the line. A backslash is kept
    as is: the escapes are for reading, not for parsing back."""
    return _HIDDEN.sub(_shown, str(text))


def safe(text: object) -> str:
    """``visible(text)`` for a rich markup string: ``[red]`` in it prints literally."""
    from rich.markup import escape

    return escape(visible(text))


# A CSV cell keeps tab and line breaks (quoted), not the rest.
_CSV_HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP "CSV injection")."""
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def csv_cell(value: Any) -> Any:
    """One cell of a CSV for a spreadsheet: a text that would start a formula gets a
    leading ``'`` (a plain number such as ``+998901234567`` or ``-5`` is left alone:
    digits alone compute nothing), and control characters other than tab and line
    breaks are shown as escapes. Numbers and ``None`` (an empty cell) pass through."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = _CSV_HIDDEN.sub(_shown, value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# -- values ----------------------------------------------------------------------------------


def json_money(value: Decimal) -> int | float:
    """Money for JSON output: an integer when whole (``50``), else the shortest float
    that reads back as the same amount (``12.5``). JSON has no decimal type."""
    integral = value.to_integral_value()
    return int(integral) if value == integral else float(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return json_money(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if attrs.has(type(value)):
        return {f.name: jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def record_dict(record: SmsRecord, *, mask: bool) -> dict[str, Any]:
    data = {name: jsonable(getattr(record, name)) for name in RECORD_FIELDS}
    if mask:
        data["phone_number"] = mask_phone(record.phone_number)
    return data


# json.dumps escapes C0 itself; these it would write raw (ensure_ascii=False).
_JSON_HIDDEN = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def dumps(data: Any, *, indent: int | None = None) -> str:
    """JSON as the CLI writes it: readable UTF-8, but every control character (C1 and
    the bidi controls too) as a ``\\u`` escape, so it is safe on a terminal and reads
    back as the same string."""
    text = json.dumps(jsonable(data), ensure_ascii=False, indent=indent)
    return _JSON_HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_json(data: Any, out: TextIO | None = None) -> None:
    stream = out if out is not None else sys.stdout
    stream.write(dumps(data, indent=2) + "\n")


def money(amount: Decimal | int | None) -> str:
    """``99 900 so'm``; fractions of a so'm only when there are any (``12.50 so'm``);
    ``?`` when the server's answer did not say (a confirmed send with an odd field)."""
    if amount is None:
        return "? so'm"
    if isinstance(amount, Decimal) and amount != amount.to_integral_value():
        text = f"{amount:,.2f}"
    else:
        text = f"{int(amount):,}"
    return text.replace(",", " ") + " so'm"


def when(value: _dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def shorten(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def describe_char(ch: str) -> str:
    """``'\u02bb' U+02BB MODIFIER LETTER TURNED COMMA``, the character shown as is."""
    name = unicodedata.name(ch, "unnamed character")
    shown = ch if ch.isprintable() and not ch.isspace() else " "
    return f"{shown!r} U+{ord(ch):04X} {name}"


_STATUS_STYLE = {
    "pending": "yellow",
    "sent": "cyan",
    "delivered": "green",
    "failed": "red",
    "unknown": "magenta",
}


def styled_status(status: Any) -> str:
    text = jsonable(status)
    return f"[{_STATUS_STYLE.get(text, 'white')}]{safe(text)}[/]"


# -- tables ------------------------------------------------------------------------------


def key_values(title: str | None, rows: Iterable[tuple[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else str(value))
    return table


def send_result_table(result: SendResult, title: str = "Sent") -> Any:
    rows: list[tuple[str, Any]] = [
        ("sms_id", str(result.sms_id)),
        ("request_id", safe(result.request_id or "")),
        ("status", styled_status(result.status_raw)),
        ("parts", str(result.parts_count)),
        ("cost", money(result.total_cost)),
        ("balance", money(result.balance)),
        ("type", safe(result.type or "")),
    ]
    if result.country:
        rows.append(("country", safe(f"{result.country} ({result.country_code or '?'})")))
    return key_values(title, rows)


def record_table(record: SmsRecord, *, mask: bool, title: str | None = None) -> Any:
    phone = mask_phone(record.phone_number) if mask else record.phone_number
    rows: list[tuple[str, Any]] = [
        ("sms_id", str(record.id)),
        ("phone", safe(phone)),
        ("status", styled_status(record.status_raw)),
        ("parts", str(record.parts_count)),
        ("cost", money(record.total_cost)),
        ("from", safe(record.from_number or "")),
        ("message", safe(record.message)),
        ("request_id", safe(record.eskiz_request_id or "")),
    ]
    for name in ("created_at", "sent_at", "delivered_at", "failed_at", "updated_at"):
        value = getattr(record, name)
        if value is not None:
            rows.append((name, when(value)))
    return key_values(title, rows)


def history_table(records: Iterable[SmsRecord], *, mask: bool, title: str | None) -> Any:
    """One line per SMS; the message column takes what width is left (``--format csv``
    or ``json`` has every field)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("phone", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("parts", justify="right", no_wrap=True)
    table.add_column("so'm", justify="right", no_wrap=True)
    # Only the message column gives way on a narrow terminal; each cell stays one
    # line (a Text that does not wrap), cut with an ellipsis.
    table.add_column("message", min_width=10)
    for r in records:
        created = r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at is not None else ""
        table.add_row(
            str(r.id),
            created,
            safe(mask_phone(r.phone_number) if mask else r.phone_number),
            styled_status(r.status_raw),
            str(r.parts_count),
            f"{r.total_cost:,}".replace(",", " "),
            Text(visible(shorten(r.message, 200)), no_wrap=True, overflow="ellipsis"),
        )
    return table


def balance_table(balance: Balance) -> Any:
    from rich.table import Table

    stats = balance.statistics
    head = key_values(
        None,
        [("balance", money(balance.balance)), ("SMS price", f"{money(balance.sms_price)}/part")],
    )
    table = Table(title="Usage", title_justify="left")
    table.add_column("period")
    table.add_column("SMS", justify="right")
    table.add_column("spent", justify="right")
    table.add_row("today", str(stats.today_sms), money(stats.today_spent))
    table.add_row("this month", str(stats.month_sms), money(stats.month_spent))
    table.add_row("total", str(stats.total_sms), money(stats.total_spent))
    from rich.console import Group

    return Group(head, "", table)


def estimate_rows(est: CostEstimate, *, country: str | None = None) -> list[tuple[str, Any]]:
    parts = est.parts
    units = "septets" if parts.encoding == "GSM-7" else "UTF-16 units"
    rows: list[tuple[str, Any]] = [
        ("encoding", parts.encoding),
        ("parts", str(parts.parts)),
        ("length", f"{parts.units} {units}; {parts.per_part} per part, {parts.remaining} left"),
    ]
    if parts.ucs2_characters:
        culprits = ", ".join(describe_char(ch) for ch in parts.ucs2_characters[:8])
        more = len(parts.ucs2_characters) - 8
        if more > 0:
            culprits += f" and {more} more"
        rows.append(("UCS-2 because of", markup_escape(culprits)))
    rows.append(("country", country or f"{est.country.name} (+{est.country.prefix})"))
    rows.append(("price", f"{money(est.price_per_part)}/part ({est.account} account)"))
    rows.append(("total", money(est.total)))
    return rows


def markup_escape(text: str) -> str:
    """Text the CLI wrote itself, for a rich markup string (``safe`` is for any other)."""
    from rich.markup import escape

    return escape(text)


def estimate_json(est: CostEstimate) -> dict[str, Any]:
    parts = est.parts
    return {
        "encoding": parts.encoding,
        "parts": parts.parts,
        "units": parts.units,
        "per_part": parts.per_part,
        "remaining": parts.remaining,
        "ucs2_characters": [
            {"char": ch, "codepoint": f"U+{ord(ch):04X}", "name": unicodedata.name(ch, "")}
            for ch in parts.ucs2_characters
        ],
        "country": {"name": est.country.name, "iso": est.country.iso, "prefix": est.country.prefix},
        "account": est.account,
        "price_per_part": est.price_per_part,
        "total": est.total,
    }
