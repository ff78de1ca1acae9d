"""Reading the CSV of ``devsms bulk``: the library's ``read_csv`` (``_csvread``), then
each row checked (number, text, sender) as a send would, duplicates found, and the
invalid rows listed with their line and column.

Nothing is silently wrong: a file that cannot be read stops before any send with the
line at fault; an invalid row stops the job unless ``--skip-invalid`` (then it is
listed, and written to ``--rejects``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import attrs

from .._csvread import ALIASES, COLUMNS, DELIMITERS, Layout, detect_delimiter, open_csv
from ..errors import ValidationError
from ._journal import content_hash
from ._runtime import CLIError

__all__ = [
    "ALIASES",
    "COLUMNS",
    "DELIMITERS",
    "Loaded",
    "Row",
    "RowError",
    "detect_delimiter",
    "load_rows",
    "parse_delimiter",
    "read_rows",
    "write_rejects",
]

# The library's errors name its Python arguments; on the command line they are flags.
_FLAGS = {
    "pass encoding='cp1251' (devsms bulk --encoding cp1251)": "pass --encoding cp1251",
    "phone_column=": "--phone-column",
    "text_column=": "--text-column",
}


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
    column: str = ""


@attrs.define
class Loaded:
    """The rows of a file, checked."""

    rows: list[Row]
    errors: list[RowError]
    ignored: tuple[str, ...] = ()
    """Header columns no option or placeholder uses."""
    duplicates: list[tuple[Row, int]] = attrs.Factory(list)
    """Rows whose number and text an earlier row has, with that row's number."""
    delimiter: str = ","
    encoding: str = "utf-8-sig"


def parse_delimiter(value: str | None) -> str | None:
    """``--delimiter``: one of ``, ; | tab`` (``\\t`` too); ``None`` means detect."""
    if value is None:
        return None
    given = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if given not in DELIMITERS:
        raise CLIError(f"--delimiter must be one of , ; | tab, got {value!r}")
    return given


def _column(value: str | None) -> str | int | None:
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value


def _as_cli(exc: ValidationError) -> CLIError:
    text = exc.reason
    for python, flag in _FLAGS.items():
        text = text.replace(python, flag)
    field = {"text": "--text", "encoding": "--encoding"}.get(exc.field)
    if exc.field in ("phone_column", "text_column"):
        field = "--" + exc.field.replace("_", "-")
    return CLIError(f"{field + ': ' if field else ''}{text}; nothing was sent")


def read_rows(
    path: Path,
    *,
    default_sender: str | None,
    normalize: bool,
    delimiter: str | None = None,
    encoding: str = "utf-8-sig",
    phone_column: str | None = None,
    text_column: str | None = None,
    text: str | None = None,
) -> Loaded:
    """Read and check every row; nothing is sent here."""
    from .._validation import check_message, check_sender, normalize_phone
    from ..sms_parts import normalize_uzbek

    rows: list[Row] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    duplicates: list[tuple[Row, int]] = []
    try:
        layout, records = open_csv(
            path,
            phone_column=_column(phone_column),
            text_column=_column(text_column),
            text=text,
            sender=default_sender,
            delimiter=delimiter,
            encoding=encoding,
        )
        for record in records:
            message = record.message
            if message is None:
                errors.append(RowError(record.number, record.line, record.error or "", ""))
                continue
            assert layout is not None
            column = ""
            try:
                column = layout.name(layout.phone)
                phone = normalize_phone(message.phone)
                column = _text_column(layout)
                body = check_message(message.message)
                if normalize:
                    body = normalize_uzbek(body)
                column = layout.name(layout.sender) if layout.sender is not None else "--sender"
                sender = check_sender(message.sender)
            except ValidationError as exc:
                errors.append(RowError(record.number, record.line, str(exc), column))
                continue
            row = Row(
                record.number,
                record.line,
                phone,
                body,
                sender,
                content_hash(phone, body, sender),
            )
            first = seen.setdefault((phone, body), row.number)
            if first != row.number:
                duplicates.append((row, first))
            rows.append(row)
    except ValidationError as exc:
        raise _as_cli(exc) from None
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    if not rows and not errors:
        raise CLIError(f"{path} has no rows to send (expected columns phone,message[,sender])")
    return Loaded(
        rows,
        errors,
        ignored=layout.ignored if layout is not None else (),
        duplicates=duplicates,
        delimiter=layout.delimiter if layout is not None else ",",
        encoding=encoding,
    )


def _text_column(layout: Layout) -> str:
    if layout.template is not None:
        return "--text"
    assert layout.text is not None
    return layout.name(layout.text)


def load_rows(path: Path, **options: Any) -> tuple[list[Row], list[RowError]]:
    """``read_rows(path, **options)`` as ``(rows, errors)``."""
    loaded = read_rows(path, **options)
    return loaded.rows, loaded.errors


def write_rejects(path: Path, errors: list[RowError], *, delimiter: str, encoding: str) -> None:
    """The invalid rows as a CSV (line, row, column, reason), in the input's delimiter
    and encoding, for the person who fixes the file. No cell value is copied: the line
    finds it, and the file may travel further than the CSV did."""
    from . import _render

    try:
        with path.open("w", newline="", encoding=encoding, errors="backslashreplace") as f:
            writer = csv.writer(f, delimiter=delimiter, lineterminator="\r\n")
            writer.writerow(["line", "row", "column", "reason"])
            for e in errors:
                writer.writerow(
                    [e.line, e.number, _render.csv_cell(e.column), _render.csv_cell(e.message)]
                )
    except OSError as exc:
        raise CLIError(f"cannot write --rejects {path}: {exc.strerror or exc}") from None
