"""Reading a CSV of messages as files really arrive (``read_csv``).

Exports from Excel and CRMs: ``;`` or ``,`` (or tab, ``|``), a UTF-8 BOM or cp1251,
a header in Uzbek, Russian or English with columns nobody needs, one row per
customer. ``read_csv`` turns each data row into a ``BulkMessage`` with its line
number, in bounded memory (a line longer than ``MAX_LINE_CHARS`` is refused before it
is read whole), and refuses what it cannot read with a ``ValidationError`` that says
where. It does not check the numbers and texts: sending does (or ``normalize_phone``).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import string
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import attrs

from .errors import ValidationError
from .models import BulkMessage

__all__ = ["CsvRow", "read_csv"]

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
COLUMN_OF = {alias: column for column, names in ALIASES.items() for alias in names}
SAMPLE_CHARS = 64 * 1024
SAMPLE_ROWS = 20
MAX_LINE_CHARS = 1024 * 1024
"""A physical line longer than this is refused before it is read whole: no CSV of SMS
has one, and a file that does is not one (or is damaged)."""
FIELD_LIMIT = 128 * 1024
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]+")


@attrs.frozen
class CsvRow:
    """One data row of a CSV: the message it asks for, or why it cannot.

    ``number`` counts the data rows from 1 (header and blank lines not counted): use
    ``number - 1`` as the message's index in a journal, so that a row keeps its index
    when rows around it are skipped. ``line`` is the line of the file the row starts
    on. ``message`` is ``None`` when the row cannot make one (``error`` says why,
    ``column`` names the column at fault when there is one).
    """

    number: int
    line: int
    message: BulkMessage | None
    error: str | None = None
    column: str | None = None


@attrs.frozen
class Layout:
    """Which cell is what, from the header (or the options)."""

    header: tuple[str, ...] | None
    phone: int
    text: int | None
    sender: int | None
    template: tuple[tuple[str, int | None], ...] | None
    """``(literal, cell index or None)`` pairs of ``text=``."""
    ignored: tuple[str, ...]
    positional: bool
    """No header and no column options: the cells are ``phone,message[,sender]``."""
    delimiter: str

    def name(self, index: int) -> str:
        if self.header is not None and index < len(self.header):
            return self.header[index]
        return f"column {index + 1}"

    @property
    def needed(self) -> int:
        indices = [self.phone, self.text]  # the sender's cell may be left out
        if self.template is not None:
            indices += [i for _, i in self.template]
        return max(i for i in indices if i is not None) + 1


def name_key(cell: str) -> str:
    """A header cell as compared: any case, spaces, ``_`` and ``-`` alike."""
    return re.sub(r"[\s_-]+", "_", cell.strip().lstrip("\ufeff").casefold())


def accepted_names() -> str:
    return "; ".join(f"{column}: {', '.join(names)}" for column, names in ALIASES.items())


def _phone_like(cell: str) -> bool:
    cell = cell.strip()
    return bool(_PHONE_LIKE.fullmatch(cell)) and sum(c.isdigit() for c in cell) >= 7


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV from its first characters.

    The first non-blank line, split on a candidate, gives known column names: that
    candidate. Otherwise ``csv.Sniffer`` (restricted to ``, ; tab |``) is asked, and its
    answer is kept unless another candidate makes more of the first rows start with a
    phone number. ``,`` when nothing tells.
    """
    lines = [line for line in sample.splitlines() if line.strip()]
    if not lines:
        return ","
    best_known = (0, ",")
    for delimiter in DELIMITERS:
        cells = next(csv.reader([lines[0]], delimiter=delimiter), [])
        known = sum(name_key(cell) in COLUMN_OF for cell in cells)
        if len(cells) >= 2 and known == len(cells):
            return delimiter
        if len(cells) >= 2 and known >= 2 and known > best_known[0]:
            best_known = (known, delimiter)
    if best_known[0]:
        return best_known[1]  # a header with extra columns (№;Ism;Telefon;Xabar)

    def score(delimiter: str) -> int:
        reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
        good = 0
        try:
            for count, cells in enumerate(reader):
                if count >= SAMPLE_ROWS:
                    break
                good += len(cells) >= 2 and any(_phone_like(c) for c in cells[:3])
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


def check_delimiter(value: str | None) -> str | None:
    """``, ; | tab`` (``\\t`` and ``tab`` too); ``None`` means detect."""
    if value is None:
        return None
    given = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if given not in DELIMITERS:
        raise ValidationError("delimiter", f"must be one of , ; | tab, got {value!r}")
    return given


def check_encoding(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValidationError(
            "encoding", f"unknown encoding {encoding!r} (e.g. utf-8, cp1251)"
        ) from None
    return encoding


class _Lines:
    """The file's lines for the csv module, each at most ``MAX_LINE_CHARS`` long: a
    huge line is refused after reading that much, never read whole."""

    def __init__(self, file: TextIO, path: str, encoding: str) -> None:
        self._file = file
        self._path = path
        self._encoding = encoding
        self.number = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            line = self._file.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise _decode_error(self._path, self.number + 1, self._encoding, exc) from None
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            raise ValidationError(
                "csv",
                f"{self._path} line {self.number} is longer than {MAX_LINE_CHARS // 1024} KiB: "
                "not a CSV of messages (or a damaged one); nothing was read past it",
            )
        return line


def _decode_error(path: str, line: int, encoding: str, exc: UnicodeDecodeError) -> ValidationError:
    byte = exc.object[exc.start : exc.start + 1].hex() if exc.object else "?"
    # The text layer decodes in chunks, so its error may come a few lines early:
    # find the line again, one line of bytes at a time.
    line, byte = _find_bad_line(path, encoding) or (line, byte)
    hint = (
        "; a file saved by Excel on Russian/Uzbek Windows is usually cp1251: pass "
        "encoding='cp1251' (devsms bulk --encoding cp1251)"
        if codecs.lookup(encoding).name.startswith("utf-8")
        else ""
    )
    name = "UTF-8" if codecs.lookup(encoding).name.startswith("utf-8") else encoding
    return ValidationError("csv", f"{path} line {line} is not {name} text (byte 0x{byte}){hint}")


def _find_bad_line(path: str, encoding: str) -> tuple[int, str] | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as raw:
            for number, data in enumerate(iter(lambda: raw.readline(MAX_LINE_CHARS), b""), 1):
                try:
                    decoder.decode(data)
                except UnicodeDecodeError as exc:  # noqa: PERF203 - the first one ends it
                    return number, data[exc.start : exc.start + 1].hex()
    except OSError:  # pragma: no cover - it was readable a moment ago
        return None
    return None


def _resolve(
    given: str | int, header: tuple[str, ...] | None, width: int, what: str, path: str, line: int
) -> int:
    """A column option (a name, or a 1-based position) as a cell index."""
    if isinstance(given, int) or given.strip().isdigit():
        position = int(given)
        if position < 1 or (header is not None and position > len(header)):
            count = len(header) if header is not None else width
            raise ValidationError(what, f"column {position} does not exist ({count} columns)")
        return position - 1
    if header is not None:
        keys = [name_key(h) for h in header]
        key = name_key(given)
        if key in keys:
            return keys.index(key)
    shown = ", ".join(header) if header is not None else "none: the file has no header"
    raise ValidationError(
        what, f"{path} line {line}: no column named {given!r} (the columns are: {shown})"
    )


def _template(
    text: str, header: tuple[str, ...] | None, path: str, line: int
) -> tuple[tuple[str, int | None], ...]:
    """``text=`` as (literal, cell index) pairs: ``{Name}`` or ``{3}``; ``{{`` is ``{``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValidationError(
            "text", f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    out: list[tuple[str, int | None]] = []
    for literal, field, spec, conversion in parsed:
        index: int | None = None
        if field is not None:
            if spec or conversion:
                raise ValidationError(
                    "text", f"placeholder {{{field}...}} takes no format: write {{{field}}}"
                )
            if field == "":
                raise ValidationError("text", "an empty placeholder {}: name a column, {Ism}")
            try:
                index = _resolve(field, header, 0, "text", path, line)
            except ValidationError:
                columns = ", ".join(header) if header is not None else "none: no header"
                raise ValidationError(
                    "text",
                    f"unknown placeholder {{{field}}}: the columns are {columns} (a 1-based "
                    "position such as {2} works too; write a literal brace as {{ or }})",
                ) from None
        out.append((literal, index))
    return tuple(out)


def _layout(
    cells: list[str],
    line: int,
    path: str,
    delimiter: str,
    *,
    phone_column: str | int | None,
    text_column: str | int | None,
    text: str | None,
) -> tuple[Layout, bool]:
    """The layout from the first non-blank record; ``True`` if that was a header."""
    keys = tuple(name_key(cell) for cell in cells)
    by_name = [c for c in (phone_column, text_column) if isinstance(c, str) and not c.isdigit()]
    placeholders = (
        [f for _, f, _, _ in _safe_parse(text) if f and not f.isdigit()] if text is not None else []
    )
    named = {name_key(c) for c in [*by_name, *placeholders]}
    by_position: int | None = None
    if isinstance(phone_column, int):
        by_position = phone_column
    elif phone_column is not None and phone_column.strip().isdigit():
        by_position = int(phone_column)
    is_header = (
        any(k in COLUMN_OF for k in keys)
        or bool(named)  # columns named by option or placeholder: names need a header
        or not any(ch.isdigit() for cell in cells for ch in cell)
        # The numbers' column named by position: a first row without one there is a header.
        or (
            by_position is not None
            and not _phone_like((cells + [""] * by_position)[by_position - 1])
        )
    )
    header = tuple(cell.strip().lstrip("\ufeff") for cell in cells) if is_header else None
    explicit = phone_column is not None or text_column is not None or text is not None
    if header is None and not explicit:
        layout = Layout(None, 0, 1, 2, None, (), True, delimiter)
        return layout, False
    if header is not None and not any(k in COLUMN_OF for k in keys) and not explicit:
        raise ValidationError(
            "csv",
            f"{path} line {line}: neither a header with known column names nor a row with a "
            f"phone number (cells split on {DELIMITER_NAMES[delimiter]!r}); accepted header "
            f"names: {accepted_names()}; or name the columns with phone_column=/text_column=",
        )
    width = len(cells)
    found: dict[str, list[int]] = {}
    for index, key in enumerate(keys if header is not None else ()):
        if key in COLUMN_OF:
            found.setdefault(COLUMN_OF[key], []).append(index)

    def pick(column: str, given: str | int | None, position: int | None) -> int | None:
        if given is not None:
            return _resolve(given, header, width, f"{column}_column", path, line)
        if header is None:
            return position
        indices = found.get(column, [])
        if len(indices) > 1:
            raise ValidationError(
                "csv",
                f"{path} line {line}: a column is named twice ("
                f"{', '.join(header[i] for i in indices)}): say which one with "
                f"{'phone_column=' if column == 'phone' else 'text_column='}",
            )
        return indices[0] if indices else None

    phone = pick("phone", phone_column, 0)
    message = None if text is not None else pick("message", text_column, 1)
    sender = pick("sender", None, None) if header is not None else None
    unknown = [header[i] for i, k in enumerate(keys) if k not in COLUMN_OF] if header else []
    needs: tuple[tuple[str, int | None], ...] = (
        ("phone", phone),
        ("message", message if text is None else 0),
    )
    for needed, at in needs:
        if at is None:
            option = "phone_column=" if needed == "phone" else "text_column="
            if unknown:
                raise ValidationError(
                    "csv",
                    f"{path} line {line}: unknown column(s) {', '.join(unknown)} and no "
                    f"'{needed}' column; accepted names (any case) are {accepted_names()}; "
                    f"or name the column with {option}",
                )
            raise ValidationError(
                "csv",
                f"{path} line {line}: the header has no '{needed}' column (accepted: "
                f"{', '.join(ALIASES[needed])}); or name it with {option}",
            )
    assert phone is not None
    template = _template(text, header, path, line) if text is not None else None
    used = {phone, message, sender, *(i for _, i in template or ())}
    ignored = tuple(header[i] for i in range(len(header)) if i not in used) if header else ()
    layout = Layout(header, phone, message, sender, template, ignored, False, delimiter)
    return layout, header is not None


def _safe_parse(text: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(text))
    except ValueError:
        return []


def _records(lines: _Lines, delimiter: str, path: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line, cells)`` of every non-blank record."""
    # strict: an unclosed quote is an error at the end of the file, not one huge field.
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    old_limit = csv.field_size_limit()
    csv.field_size_limit(FIELD_LIMIT)
    try:
        while True:
            line = lines.number + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    raise ValidationError(
                        "csv",
                        f'{path} line {line}: a quote (") opened in this row is never '
                        'closed. Close it, or double it ("") inside a quoted field',
                    ) from None
                raise ValidationError(
                    "csv", f"{path} line {line}: not a readable CSV ({exc})"
                ) from None
            if any(cell.strip() for cell in cells):
                yield line, cells
    finally:
        csv.field_size_limit(old_limit)


def open_csv(
    path: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    encoding: str = "utf-8-sig",
    phone_column: str | int | None = None,
    text_column: str | int | None = None,
    text: str | None = None,
    sender: str | None = None,
    callback_url: str | None = None,
) -> tuple[Layout | None, Iterator[CsvRow]]:
    """``read_csv`` with the layout (known once the first record is read). The options
    are ``read_csv``'s: how to read the file, which cells make a message, the defaults."""
    if phone_column is not None and not isinstance(phone_column, str | int):
        raise ValidationError("phone_column", "must be a column name or a 1-based position")
    if text_column is not None and not isinstance(text_column, str | int):
        raise ValidationError("text_column", "must be a column name or a 1-based position")
    if text is not None and text_column is not None:
        raise ValidationError("text", "give text= (a template) or text_column=, not both")
    if text is not None and not text:
        raise ValidationError("text", "the template is empty")
    delimiter = check_delimiter(delimiter)
    check_encoding(encoding)
    shown = str(path)
    file = Path(path).open(newline="", encoding=encoding)  # noqa: SIM115 - closed below
    try:
        lines = _Lines(file, shown, encoding)
        if delimiter is None:
            try:
                sample = file.read(SAMPLE_CHARS)
            except UnicodeDecodeError as exc:
                raise _decode_error(shown, 1, encoding, exc) from None
            delimiter = detect_delimiter(sample)
            file.seek(0)
        records = _records(lines, delimiter, shown)
        first = next(records, None)
        if first is None:
            file.close()
            return None, iter(())
        layout, was_header = _layout(
            first[1],
            first[0],
            shown,
            delimiter,
            phone_column=phone_column,
            text_column=text_column,
            text=text,
        )
    except BaseException:
        file.close()
        raise

    def rows() -> Iterator[CsvRow]:
        with file:
            pending = [] if was_header else [first]
            for number, (line, cells) in enumerate(_chain(pending, records), 1):
                yield _row(layout, number, line, cells, sender, callback_url)

    return layout, rows()


def _chain(
    first: Sequence[tuple[int, list[str]]], rest: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield from first
    yield from rest


def _row(
    layout: Layout,
    number: int,
    line: int,
    cells: list[str],
    sender: str | None,
    callback_url: str | None,
) -> CsvRow:
    shown = DELIMITER_NAMES[layout.delimiter]
    if layout.positional:
        if len(cells) > 3 or len(cells) < 2:
            return CsvRow(
                number,
                line,
                None,
                f"expected the columns phone,message[,sender], got {len(cells)} cell(s) "
                f"split on {shown!r}",
            )
    elif len(cells) < layout.needed:
        return CsvRow(
            number,
            line,
            None,
            f"has {len(cells)} cell(s) split on {shown!r}, expected at least {layout.needed}",
        )
    elif layout.header is not None and len(cells) > len(layout.header):
        # Usually a delimiter inside a text that is not quoted: the cells have shifted.
        return CsvRow(
            number,
            line,
            None,
            f"has {len(cells)} cell(s) split on {shown!r} but the header has "
            f"{len(layout.header)} (quote a text that contains {shown!r})",
        )
    phone = cells[layout.phone]
    if layout.template is not None:
        message = "".join(
            literal + (cells[index].strip() if index is not None else "")
            for literal, index in layout.template
        )
    else:
        assert layout.text is not None
        message = cells[layout.text]
    row_sender = sender
    if layout.sender is not None and layout.sender < len(cells) and cells[layout.sender].strip():
        row_sender = cells[layout.sender].strip()
    return CsvRow(
        number,
        line,
        BulkMessage(phone=phone, message=message, sender=row_sender, callback_url=callback_url),
    )


def read_csv(
    path: str | os.PathLike[str],
    *,
    phone_column: str | int | None = None,
    text_column: str | int | None = None,
    text: str | None = None,
    sender: str | None = None,
    callback_url: str | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8-sig",
) -> Iterator[CsvRow]:
    """The data rows of a CSV file as messages, lazily, in file order.

    - **Delimiter**: `,`, `;`, tab or `|`, detected from the header or the first rows
      unless given.
    - **Header**: optional. Its names are matched in any case against common names
      (`phone`/`tel`/`telefon`/`телефон`..., `message`/`text`/`matn`/`xabar`...,
      `sender`/`from`); other columns are ignored. Without a header the columns are
      `phone,message[,sender]`.
    - **Columns**: `phone_column=` and `text_column=` name the columns (a header name,
      any case, or a 1-based position) when the header's names are not known ones.
    - **Template**: `text="Hurmatli {Ism}, buyurtmangiz tayyor"` builds each row's
      text from its cells (`{Ism}` a column by name, `{3}` by position; `{{` and `}}`
      are literal braces). An unknown placeholder is a `ValidationError` before any
      row is read.
    - **Encoding**: UTF-8 with or without a BOM by default; `encoding="cp1251"` for
      files saved by Excel on Russian Windows.

    A row that cannot make a message (too few cells) comes with `message=None` and
    its `error`; the file as a whole (a quote never closed, a line over 1 MiB, bytes
    that are not `encoding`) raises `ValidationError` naming the line. Numbers and
    texts are not checked here: `send_bulk` checks each message (or call
    `normalize_phone`).
    """
    _, rows = open_csv(
        path,
        phone_column=phone_column,
        text_column=text_column,
        text=text,
        sender=sender,
        callback_url=callback_url,
        delimiter=delimiter,
        encoding=encoding,
    )
    return rows
