"""Reading the CSV of ``devsms bulk``: as files really arrive, and never silently wrong.

* the delimiter is ``,``, ``;`` (Excel's export under uz/ru locales), tab or ``|``:
  given with ``--delimiter`` or detected from the header or the first rows;
* a header row is optional; its names are matched case-insensitively against common
  names (``tel``, ``matn``, ``телефон``, ...), and an unknown name is refused with the
  list of accepted ones;
* a quote that is never closed is refused with the line it opens on (the csv module
  would otherwise swallow the rest of the file into one message).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from ..errors import ValidationError
from ._journal import content_hash
from ._runtime import CLIError

__all__ = [
    "ALIASES",
    "COLUMNS",
    "DELIMITERS",
    "Row",
    "RowError",
    "detect_delimiter",
    "load_rows",
    "parse_delimiter",
]

COLUMNS = ("phone", "message", "sender")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": ",", ";": ";", "\t": "tab", "|": "|"}
ALIASES: dict[str, tuple[str, ...]] = {
    "phone": (
        "phone",
        "phone_number",
        "tel",
        "telephone",
        "telefon",
        "telefon_raqami",
        "raqam",
        "number",
        "mobile",
        "телефон",
        "номер",
        "номер_телефона",
    ),
    "message": ("message", "text", "sms", "matn", "xabar", "сообщение", "текст"),
    "sender": ("sender", "from", "nickname", "отправитель"),
}
_COLUMN_OF = {alias: column for column, names in ALIASES.items() for alias in names}
SAMPLE_CHARS = 64 * 1024
SAMPLE_ROWS = 20
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]+")


@attrs.frozen
class Row:
    """One CSV row, checked: what will be sent."""

    number: int
    """1-based number among the data rows (blank lines and the header not counted)."""
    line: int
    """Line in the file where the row starts."""
    phone: str
    message: str
    sender: str | None
    hash: str


@attrs.frozen
class RowError:
    number: int
    line: int
    message: str


def accepted_names() -> str:
    """The header names, for error texts: ``phone (tel, ...), message (...), sender (...)``."""
    return "; ".join(f"{column}: {', '.join(names)}" for column, names in ALIASES.items())


def parse_delimiter(value: str | None) -> str | None:
    """``--delimiter``: one of ``, ; | tab`` (``\\t`` too); ``None`` means detect."""
    if value is None:
        return None
    given = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if given not in DELIMITERS:
        raise CLIError(f"--delimiter must be one of , ; | tab, got {value!r}")
    return given


def _name(cell: str) -> str:
    return re.sub(r"[\s_-]+", "_", cell.strip().lstrip("\ufeff").casefold())


def _phone_like(cell: str) -> bool:
    cell = cell.strip()
    return bool(_PHONE_LIKE.fullmatch(cell)) and sum(c.isdigit() for c in cell) >= 7


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV from its first characters.

    The first non-blank line, split on a candidate, gives known column names: that
    candidate. Otherwise ``csv.Sniffer`` (restricted to ``, ; tab |``) is asked, and its
    answer is kept unless another candidate makes more of the first rows start with a
    phone number, as rows of this file must. ``,`` when nothing tells.
    """
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return ","
    for delimiter in DELIMITERS:
        cells = next(csv.reader([lines[0]], delimiter=delimiter), [])
        if len(cells) >= 2 and all(_name(cell) in _COLUMN_OF for cell in cells):
            return delimiter

    def score(delimiter: str) -> int:
        reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
        good = 0
        try:
            for count, cells in enumerate(reader):
                if count >= SAMPLE_ROWS:
                    break
                good += len(cells) >= 2 and _phone_like(cells[0])
        except csv.Error:  # pragma: no cover - a NUL byte on Python 3.10: not this delimiter
            pass
        return good

    scores = {delimiter: score(delimiter) for delimiter in DELIMITERS}
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = ","
    best = max(DELIMITERS, key=lambda d: scores[d])  # first (",") among equals
    return sniffed if scores.get(sniffed, -1) >= scores[best] else best


def load_rows(
    path: Path, *, default_sender: str | None, normalize: bool, delimiter: str | None = None
) -> tuple[list[Row], list[RowError]]:
    """Read and check every row; nothing is sent here.

    ``delimiter`` is one of ``DELIMITERS``, or ``None`` to detect it.
    """
    from .._validation import check_message, check_sender, normalize_phone
    from ..sms_parts import normalize_uzbek

    rows: list[Row] = []
    errors: list[RowError] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            if delimiter is None:
                delimiter = detect_delimiter(f.read(SAMPLE_CHARS))
                f.seek(0)
            for number, line, cells in _records(path, f, delimiter=delimiter):
                if "_columns" in cells:
                    errors.append(
                        RowError(number, line, f"expected the columns {cells['_columns']}")
                    )
                    continue
                try:
                    phone = normalize_phone(cells.get("phone", ""))
                    message = check_message(cells.get("message", ""))
                    if normalize:
                        message = normalize_uzbek(message)
                    sender = check_sender(cells.get("sender") or None) or default_sender
                except ValidationError as exc:
                    errors.append(RowError(number, line, str(exc)))
                    continue
                rows.append(
                    Row(number, line, phone, message, sender, content_hash(phone, message, sender))
                )
    except UnicodeDecodeError:
        raise CLIError(f"{path} is not UTF-8 text (save the CSV as UTF-8)") from None
    if not rows and not errors:
        raise CLIError(f"{path} has no rows to send (expected columns phone,message[,sender])")
    return rows, errors


def _records(
    path: Path, f: Any, *, delimiter: str = ","
) -> Iterator[tuple[int, int, dict[str, str]]]:
    # strict: an unclosed quote is an error at the end of the file, not one huge field.
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    columns: tuple[str, ...] | None = None
    number = 0
    shown = DELIMITER_NAMES[delimiter]
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise CLIError(
                    f'{path} line {line}: a quote (") opened in this row is never closed; '
                    'nothing was sent. Close it, or double it ("") inside a quoted field'
                ) from None
            raise CLIError(f"{path} line {line}: not a readable CSV ({exc})") from None
        if not any(cell.strip() for cell in cells):
            continue
        if columns is None:
            names = tuple(_name(cell) for cell in cells)
            if any(name in _COLUMN_OF for name in names):
                columns = _header(path, line, names)
                continue
            if not any(char.isdigit() for cell in cells for char in cell):
                raise CLIError(
                    f"{path} line {line}: neither a header with known column names nor a "
                    f"row with a phone number (cells split on {shown!r}); accepted header "
                    f"names: {accepted_names()}"
                )
            columns = COLUMNS  # no header: phone,message[,sender]
        number += 1
        if len(cells) > len(columns) or len(cells) < 2:
            expected = ",".join(columns) if columns is not COLUMNS else "phone,message[,sender]"
            yield (
                number,
                line,
                {"_columns": f"{expected}, got {len(cells)} cell(s) split on {shown!r}"},
            )
            continue
        yield number, line, dict(zip(columns, cells, strict=False))


def _header(path: Path, line: int, names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in _COLUMN_OF]
    if unknown:
        raise CLIError(
            f"{path} line {line}: unknown column(s) {', '.join(unknown)}; accepted names "
            f"(any case) are {accepted_names()}"
        )
    columns = tuple(_COLUMN_OF[n] for n in names)
    if len(set(columns)) != len(columns):
        raise CLIError(f"{path} line {line}: a column is named twice")
    for needed in ("phone", "message"):
        if needed not in columns:
            raise CLIError(
                f"{path} line {line}: the header has no '{needed}' column "
                f"(accepted: {', '.join(ALIASES[needed])})"
            )
    return columns
