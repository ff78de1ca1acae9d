"""``devsms bulk`` on the CSV exports people really have, run as a subprocess against a
sandbox served on 127.0.0.1: Excel's ``;`` with a BOM and extra columns, cp1251,
columns named by option, invalid rows skipped into a rejects file, a template text,
duplicates, and numbers as Uzbek CRMs write them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from devsms_async.bulk import read_csv
from support.cli import Served, devsms

A, B, C = "998901234567", "998911234568", "998931234569"


def write(path: Path, text: str, encoding: str = "utf-8-sig") -> Path:
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return path


EXPORT = (
    "№;Ism;Telefon;Xabar;Shahar\n"
    f"1;Aziz;{A};Salom, Aziz!;Toshkent\n"
    f"2;Bobur;{B};Chegirma 20%;Samarqand\n"
    f"3;Vali;{C};Rahmat;Buxoro\n"
)


def bulk(served: Served, path: Path, *more: str) -> object:
    return devsms(*served.args("bulk", str(path), "--yes", *more))


def test_an_excel_export_with_a_bom_semicolons_and_extra_columns(
    served: Served, tmp_path: Path
) -> None:
    result = bulk(served, write(tmp_path / "export.csv", EXPORT))
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert sorted(served.sent()) == sorted(
        [(A, "Salom, Aziz!"), (B, "Chegirma 20%"), (C, "Rahmat")]
    )
    assert "ignored columns  №, Ism, Shahar" in result.stdout  # type: ignore[attr-defined]


def test_columns_named_by_option_by_name_or_position(served: Served, tmp_path: Path) -> None:
    data = write(tmp_path / "crm.csv", f"Mijoz;Raqam1;Izoh\nAziz;{A};Salom\nBobur;{B};Rahmat\n")
    by_name = bulk(served, data, "--phone-column", "raqam1", "--text-column", "IZOH")
    assert by_name.returncode == 0, by_name.stderr  # type: ignore[attr-defined]
    by_position = bulk(
        served,
        data,
        "--phone-column",
        "2",
        "--text-column",
        "3",
        "--journal",
        str(tmp_path / "second.jsonl"),
    )
    assert by_position.returncode == 0, by_position.stderr  # type: ignore[attr-defined]
    assert sorted(served.sent()) == sorted([(A, "Salom"), (B, "Rahmat")] * 2)

    missing = bulk(served, data, "--phone-column", "Telefon", "--text-column", "3")
    assert missing.returncode == 2  # type: ignore[attr-defined]
    assert "no column named 'Telefon' (the columns are: Mijoz, Raqam1, Izoh)" in (
        missing.stderr  # type: ignore[attr-defined]
    )


def test_a_cp1251_file_is_refused_with_the_way_in_then_read_with_encoding(
    served: Served, tmp_path: Path
) -> None:
    data = write(tmp_path / "ru.csv", f"Телефон;Сообщение\n{A};Привет, Азиз!\n", "cp1251")
    refused = bulk(served, data)
    assert refused.returncode == 2  # type: ignore[attr-defined]
    assert "line 1 is not UTF-8 text" in refused.stderr  # type: ignore[attr-defined]
    assert "--encoding cp1251" in refused.stderr  # type: ignore[attr-defined]
    assert served.sent() == []
    result = bulk(served, data, "--encoding", "cp1251")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert served.sent() == [(A, "Привет, Азиз!")]


def test_numbers_with_the_old_trunk_prefix_are_uzbek(served: Served, tmp_path: Path) -> None:
    data = write(
        tmp_path / "trunk.csv",
        "Telefon;Xabar\n8 90 123 45 67;Bir\n0 91 123 45 68;Ikki\n+998 93 123-45-69;Uch\n",
    )
    result = bulk(served, data)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert sorted(served.sent()) == [(A, "Bir"), (B, "Ikki"), (C, "Uch")]


BAD_ROWS = 12


def _with_bad_rows(tmp_path: Path) -> Path:
    lines = ["№;Ism;Telefon;Xabar"]
    for i in range(30):
        phone = "12345" if i % 3 == 0 and i // 3 < BAD_ROWS else f"9989{i:08d}"
        lines.append(f"{i + 1};Mijoz {i};{phone};Salom {i}")
    lines.append("31;faqat ikki")
    return write(tmp_path / "bad.csv", "\n".join(lines) + "\n")


def test_invalid_rows_stop_the_job_and_json_lists_every_one(served: Served, tmp_path: Path) -> None:
    result = bulk(served, _with_bad_rows(tmp_path), "-f", "json")
    assert result.returncode == 2  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert len(data["invalid_rows"]) == 11  # 10 bad numbers + 1 short row: all listed
    assert {r["column"] for r in data["invalid_rows"]} == {"Telefon", None}
    assert "--skip-invalid" in data["error"]
    assert served.sent() == []


def test_skip_invalid_sends_the_rest_and_writes_the_rejects(served: Served, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = bulk(
        served, _with_bad_rows(tmp_path), "--skip-invalid", "--rejects", str(rejects), "-f", "json"
    )
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert summary["sent"] == 20 == len(served.sent())
    assert len(summary["invalid_rows"]) == 11
    # The rejects file: the input's delimiter and encoding (BOM), read back as CSV.
    raw = rejects.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["line", "row", "column", "reason"]
    assert len(rows) == 12
    assert rows[1][:3] == ["2", "1", "Telefon"]
    assert rows[1][3].startswith("phone: ")
    assert rows[-1][:2] == ["32", "31"]
    assert "12345" not in raw.decode("utf-8-sig")  # no cell value is copied

    # A re-run sends nothing again: the skipped rows keep the others' journal indices.
    again = bulk(served, _with_bad_rows(tmp_path), "--skip-invalid", "-f", "json")
    assert again.returncode == 0, again.stderr  # type: ignore[attr-defined]
    assert json.loads(again.stdout)["already_sent"] == 20  # type: ignore[attr-defined]
    assert len(served.sent()) == 20


def test_a_template_text_over_the_columns(served: Served, tmp_path: Path) -> None:
    long_name = "Abdurahmonbek " * 12  # this row's text needs two parts
    data = write(
        tmp_path / "export.csv",
        f"№;Ism;Telefon;Shahar\n1;Aziz;{A};Toshkent\n2;{long_name.strip()};{B};Xiva\n",
    )
    template = "Hurmatli {Ism}, buyurtmangiz {Shahar}da tayyor {{#1}}"
    plan = devsms(*served.args("bulk", str(data), "--text", template, "--dry-run", "-f", "json"))
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["estimate"]["parts"] == 3  # 1 + 2, per row

    result = bulk(served, data, "--text", template)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert sorted(served.sent()) == [
        (A, "Hurmatli Aziz, buyurtmangiz Toshkentda tayyor {#1}"),
        (B, f"Hurmatli {long_name.strip()}, buyurtmangiz Xivada tayyor {{#1}}"),
    ]


def test_an_unknown_placeholder_is_refused_before_any_send(served: Served, tmp_path: Path) -> None:
    result = bulk(served, write(tmp_path / "export.csv", EXPORT), "--text", "Salom {Imya}")
    assert result.returncode == 2  # type: ignore[attr-defined]
    assert "unknown placeholder {Imya}" in result.stderr  # type: ignore[attr-defined]
    assert "№, Ism, Telefon, Xabar, Shahar" in result.stderr  # type: ignore[attr-defined]
    assert served.sent() == []


def test_the_same_customer_in_three_formats_is_warned_and_dedupe_sends_one(
    served: Served, tmp_path: Path
) -> None:
    data = write(
        tmp_path / "dup.csv",
        f"Telefon;Xabar\n{A};Aksiya!\n+998 (90) 123-45-67;Aksiya!\n90 123 45 67;Aksiya!\n"
        f"{B};Aksiya!\n",
    )
    plan = devsms(*served.args("bulk", str(data), "--dry-run"))
    assert plan.returncode == 0, plan.stderr
    assert "2 rows repeat an earlier row's number and text (rows 2, 3)" in plan.stdout
    assert "--dedupe sends one" in plan.stdout

    result = bulk(served, data, "--dedupe", "-f", "json")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert sorted(served.sent()) == [(A, "Aksiya!"), (B, "Aksiya!")]
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert [d["same_as_row"] for d in summary["duplicates"]] == [1, 1]


def test_read_csv_gives_messages_with_their_lines(tmp_path: Path) -> None:
    data = write(tmp_path / "export.csv", EXPORT + "\n4;short\n")
    rows = list(read_csv(data))
    assert [(r.number, r.line) for r in rows] == [(1, 2), (2, 3), (3, 4), (4, 6)]
    assert [r.message.phone for r in rows[:3] if r.message] == [A, B, C]
    assert rows[3].message is None
    assert rows[3].error is not None
    templated = list(read_csv(data, text="Salom {Ism} ({2})"))
    assert templated[0].message is not None
    assert templated[0].message.message == "Salom Aziz (Aziz)"
