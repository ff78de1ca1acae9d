"""``devsms bulk`` reads CSV files as they really arrive.

Real files on disk, the real command (in-process through ``run_cli``; one subprocess
run of the Excel file): ``;`` from Excel under uz/ru locales, tab, ``|``, header names
in Uzbek, Russian or English, and an unterminated quote, refused with its line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devsms_async.cli._csv import detect_delimiter
from devsms_async.testing import Sandbox
from support.cli import Cli, Result

PHONE, PHONE2, PHONE3 = "998901234567", "998911234567", "998931234567"


def write(tmp_path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    path = tmp_path / "job.csv"
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes(text.encode("utf-8-sig" if bom else "utf-8"))
    return path


def sent(box: Sandbox) -> list[tuple[str, str]]:
    return sorted((m.phone, m.text) for m in box.messages)


def bulk(cli: Cli, path: Path, *more: str) -> Result:
    return cli("--sandbox", "bulk", str(path), "--yes", "--concurrency", "1", "-f", "json", *more)


def refused(cli: Cli, sandbox: Sandbox, path: Path, *more: str) -> str:
    """``devsms bulk`` refuses the file (exit 2) and sends nothing; its one error line."""
    result = bulk(cli, path, *more)
    assert result.code == 2
    assert sandbox.messages == []
    return result.error


# -- delimiters ----------------------------------------------------------------------------

EXCEL_UZ = (
    "Telefon;Xabar\n"
    f"{PHONE};Salom, Anvar! Buyurtmangiz tayyor.\n"
    f'{PHONE2};"Narxi: 10,5 ming; yetkazish bepul"\n'
    f"{PHONE3};Rahmat\n"
)
EXPECTED_UZ = [
    (PHONE, "Salom, Anvar! Buyurtmangiz tayyor."),
    (PHONE2, "Narxi: 10,5 ming; yetkazish bepul"),
    (PHONE3, "Rahmat"),
]


def test_excel_semicolon_export_with_bom_and_crlf(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = bulk(cli, write(tmp_path, EXCEL_UZ, bom=True, crlf=True))
    assert result.code == 0, result.err
    assert json.loads(result.out)["sent"] == 3
    assert sent(sandbox) == sorted(EXPECTED_UZ)


def test_semicolon_file_without_a_header(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    # The messages hold commas, one row more than the others: the delimiter is still ;.
    text = f"{PHONE};Salom, Anvar, xush kelibsiz\n{PHONE2};Rahmat\n{PHONE3};Ha, albatta\n"
    result = bulk(cli, write(tmp_path, text))
    assert result.code == 0, result.err
    assert sent(sandbox) == sorted(
        [(PHONE, "Salom, Anvar, xush kelibsiz"), (PHONE2, "Rahmat"), (PHONE3, "Ha, albatta")]
    )


@pytest.mark.parametrize(
    ("separator", "name"), [("\t", "tab"), ("|", "pipe"), (",", "comma")], ids=str
)
def test_tab_pipe_and_comma_files(
    cli: Cli, sandbox: Sandbox, tmp_path: Path, separator: str, name: str
) -> None:
    sep = separator
    text = f"phone{sep}message{sep}sender\n{PHONE}{sep}Salom; {name}{sep}Shop\n"
    result = bulk(cli, write(tmp_path, text))
    assert result.code == 0, result.err
    assert [(m.phone, m.text, m.sender) for m in sandbox.messages] == [
        (PHONE, f"Salom; {name}", "Shop")
    ]


def test_the_delimiter_can_be_given(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    # Detection would pick ',' (every row has one): --delimiter says otherwise.
    text = f"{PHONE};Salom, dunyo\n{PHONE2};Hello, world\n"
    result = bulk(cli, write(tmp_path, text), "--delimiter", ";")
    assert result.code == 0, result.err
    assert sent(sandbox) == [(PHONE, "Salom, dunyo"), (PHONE2, "Hello, world")]


def test_tab_is_given_by_name(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    result = bulk(cli, write(tmp_path, f"{PHONE}\tSalom, dunyo\n"), "--delimiter", "tab")
    assert result.code == 0, result.err
    assert sent(sandbox) == [(PHONE, "Salom, dunyo")]


def test_a_wrong_delimiter_shows_how_the_rows_were_split(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = bulk(cli, write(tmp_path, f"{PHONE};Salom\n"), "--delimiter", ",")
    assert result.code == 2
    assert "row 1 (line 1): expected the columns phone,message[,sender], got 1 cell(s) " in (
        result.err
    )
    assert "split on ','" in result.err
    header = refused(cli, sandbox, write(tmp_path, EXCEL_UZ), "--delimiter", "|")
    assert "line 1: neither a header with known column names" in header
    assert "(cells split on '|')" in header


def test_an_unknown_delimiter_is_refused(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    error = refused(cli, sandbox, write(tmp_path, f"{PHONE},Salom\n"), "--delimiter", ":")
    assert "--delimiter must be one of , ; | tab, got ':'" in error


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (f"{PHONE},Salom; dunyo\n{PHONE2},Hello; world\n", ","),
        (f"{PHONE};Salom, dunyo, a\n{PHONE2};Hello\n", ";"),
        ("tel|matn\n", "|"),
        (f"+998 90 123-45-67\tSalom\n{PHONE2}\tHi\n", "\t"),
        ("", ","),
        (f"{PHONE}\n", ","),
        # Only the first 20 rows count: 30 more with commas change nothing.
        (f"{PHONE};Salom\n" * 20 + f"{PHONE},Salom,x\n" * 30, ";"),
    ],
    ids=[
        "commas-with-semicolons",
        "semicolons-with-commas",
        "header",
        "tab",
        "empty",
        "one",
        "first-rows",
    ],
)
def test_detect_delimiter(sample: str, expected: str) -> None:
    assert detect_delimiter(sample) == expected


# -- header names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "tel,text",
        "Telefon,Matn",
        "RAQAM,XABAR",
        "number,sms",
        " Phone Number , Message ",
        "телефон,сообщение",
        "Номер,Текст",
    ],
)
def test_common_header_names(cli: Cli, sandbox: Sandbox, tmp_path: Path, header: str) -> None:
    result = bulk(cli, write(tmp_path, f"{header}\n{PHONE},Salom\n"))
    assert result.code == 0, result.err
    assert sent(sandbox) == [(PHONE, "Salom")]


def test_columns_in_any_order_with_a_sender_alias(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    result = bulk(cli, write(tmp_path, f"from;xabar;tel\nShop;Salom;{PHONE}\n"))
    assert result.code == 0, result.err
    assert [(m.phone, m.text, m.sender) for m in sandbox.messages] == [(PHONE, "Salom", "Shop")]


def test_an_unknown_header_name_lists_the_accepted_ones(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    error = refused(cli, sandbox, write(tmp_path, f"tel,body\n{PHONE},Salom\n"))
    assert "line 1: unknown column(s) body" in error
    assert "message: message, text, sms, matn, xabar, сообщение" in error


def test_a_header_of_unknown_names_is_not_sent_as_data(
    cli: Cli, sandbox: Sandbox, tmp_path: Path
) -> None:
    error = refused(cli, sandbox, write(tmp_path, f"mijoz;izoh\n{PHONE};Salom\n"))
    assert "line 1: neither a header with known column names" in error
    assert "phone: phone, phone_number, tel" in error


def test_a_header_without_a_phone_column(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    error = refused(cli, sandbox, write(tmp_path, "matn,from\nSalom,Shop\n"))
    assert "the header has no 'phone' column (accepted: phone, phone_number, tel" in error


# -- quotes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            f'phone,message\n{PHONE},Salom\n\n{PHONE2},"Chegirma 20%\n{PHONE3},Rahmat\n',
            ['job.csv line 4: a quote (") opened in this row is never closed', "nothing was sent"],
        ),
        (f'{PHONE},Salom\n{PHONE2},"Chegirma" 20%\n', ["job.csv line 2: not a readable CSV"]),
    ],
    ids=["an_unterminated_quote", "text_after_a_closing_quote"],
)
def test_a_broken_quote_is_refused_with_its_line(
    cli: Cli, sandbox: Sandbox, tmp_path: Path, text: str, fragments: list[str]
) -> None:
    error = refused(cli, sandbox, write(tmp_path, text))
    for fragment in fragments:
        assert fragment in error


def test_a_quoted_field_may_span_lines(cli: Cli, sandbox: Sandbox, tmp_path: Path) -> None:
    text = f'{PHONE};"Salom!\nBuyurtma ""42"" tayyor"\n{PHONE2};Rahmat\n'
    result = bulk(cli, write(tmp_path, text))
    assert result.code == 0, result.err
    assert sent(sandbox) == [(PHONE, 'Salom!\nBuyurtma "42" tayyor'), (PHONE2, "Rahmat")]


def test_excel_file_through_the_real_entry_point(tmp_path: Path) -> None:
    path = write(tmp_path, EXCEL_UZ, bom=True, crlf=True)
    result = subprocess.run(
        [sys.executable, "-m", "devsms_async.cli", "--sandbox", "bulk", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DEVSMS_")},
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "TERM": "dumb",
        },
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "150 so'm" in result.stdout  # three 1-part messages at 50 so'm
    assert "Dry run: nothing was sent." in result.stdout
