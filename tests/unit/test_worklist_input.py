"""Hostile worklist files (issue 19): no data row echoed as headers, row numbers as a person
sees them, a title line above the header, CR-only lines, formula cells, binary files, a
missing column named; every row run or rejected with a reason, every file-level problem one
plain sentence. Files are built from the synthetic sample worklists."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
from openpyxl import Workbook

from bots.intake.worklists import import_worklist, write_import_report
from bots.models import LookupKind
from bots.settings import load_settings
from tests.conftest import SAMPLES

APPOINTMENTS = (SAMPLES / "appointments.csv").read_text().splitlines()
CLAIMS = (SAMPLES / "open_claims.csv").read_text().splitlines()


@pytest.fixture
def settings():
    return load_settings()


def cells(line: str) -> list[str]:
    return next(csv.reader([line]))


def phi_of(line: str) -> list[str]:
    """The values of a sample row a message must never show (names, DOB, member ID...)."""
    return [c for c in cells(line) if len(c) >= 3]


def exposed(report, path: Path) -> str:
    """Everything the import says: its reasons and its import.json."""
    written = write_import_report(report, path.parent / "out" / "import.json")
    return " ".join(e.reason for e in report.errors) + written.read_text()


def test_a_file_without_its_header_row_never_shows_its_first_row(tmp_path, settings):
    path = tmp_path / "no-header.csv"
    path.write_text("\n".join(APPOINTMENTS[1:6]) + "\n")
    for kind in (None, LookupKind.ELIGIBILITY):
        report = import_worklist(path, settings, kind)
        assert report.rows == [] and report.problem is not None
        assert "the first row looks like data, not headers" in report.problem
        said = exposed(report, path)
        assert [v for v in phi_of(APPOINTMENTS[1]) if v in said] == []
        assert json.loads((tmp_path / "out" / "import.json").read_text())["problem"] == (
            report.problem
        )


def test_headers_are_quoted_only_when_they_read_as_headers_and_never_more_than_twenty(
    tmp_path, settings
):
    path = tmp_path / "other.csv"
    path.write_text("Account,Guarantor,Notes\nx,y,z\n")
    (error,) = import_worklist(path, settings).errors
    assert error.reason.endswith('these column headers: "Account", "Guarantor", "Notes"')
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"Column{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + "\nx\n")
    (error,) = import_worklist(wide, settings).errors
    assert error.reason.count('"') == 40 and error.reason.endswith("and 6 more")
    # a long header with control characters is cut and escaped
    from bots.intake.headers import shown

    assert shown("Name\x1b[31m" + "x" * 100) == "Name\\x1b[31m" + "x" * 17 + "…"


def test_row_numbers_are_the_lines_a_person_sees(tmp_path, settings):
    header, good, other, bad = APPOINTMENTS[0], APPOINTMENTS[1], APPOINTMENTS[2], APPOINTMENTS[3]
    spanning = cells(other)
    spanning[1] = "08:00\nAM"  # a quoted time cell over two lines (an unmapped column)
    buf = io.StringIO()
    csv.writer(buf).writerow(spanning)
    broken = cells(bad)
    broken[4] = "31/31/1999"  # DOB: not a date
    lines = [header, "", good, "", buf.getvalue().strip("\r\n"), "", ",".join(broken)]
    path = tmp_path / "blank-lines.csv"
    path.write_text("\n".join(lines) + "\n")
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
    assert [r.source_row for r in report.rows] == [3, 5]
    assert [(e.source_row, e.column) for e in report.errors] == [(8, "dob")]
    assert report.total_rows == 3


def test_xlsx_rows_are_the_sheets_row_numbers_and_a_formula_is_named(tmp_path, settings):
    wb = Workbook()
    ws = wb.active
    ws.append(cells(APPOINTMENTS[0]))
    ws.append([])  # sheet row 2 empty
    ws.append(cells(APPOINTMENTS[1]))  # row 3
    formula = cells(APPOINTMENTS[2])
    formula[4] = "=DATE(1980,5,17)"  # DOB computed by Excel, never saved with a value
    ws.append(formula)  # row 4
    ws.append(cells(APPOINTMENTS[3]))  # row 5
    path = tmp_path / "w.xlsx"
    wb.save(path)
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
    assert [r.source_row for r in report.rows] == [3, 5]
    (error,) = report.errors
    assert (error.source_row, error.column) == (4, "dob")
    assert "formula" in error.reason and "empty" not in error.reason
    # the same workbook renamed .csv is still read as a workbook
    renamed = tmp_path / "w.csv"
    renamed.write_bytes(path.read_bytes())
    assert [r.source_row for r in import_worklist(renamed, settings).rows] == [3, 5]


def test_a_title_line_above_the_header_is_skipped_and_rows_keep_their_lines(tmp_path, settings):
    path = tmp_path / "open-ar.csv"
    path.write_text("\n".join(["Open AR Report - generated 11/27/2026", "", *CLAIMS[:5]]) + "\n")
    report = import_worklist(path, settings)
    assert report.problem is None and report.preset == "open_claims"
    assert [r.source_row for r in report.rows] == [4, 5, 6, 7]
    assert report.errors == []


def test_cr_only_line_endings_are_read(tmp_path, settings):
    path = tmp_path / "mac.csv"
    path.write_bytes("\r".join(APPOINTMENTS[:5]).encode() + b"\r")
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
    assert report.errors == [] and [r.source_row for r in report.rows] == [2, 3, 4, 5]


def test_an_appointments_file_without_its_dob_column_names_the_column(tmp_path, settings):
    drop = cells(APPOINTMENTS[0]).index("DOB")
    path = tmp_path / "no-dob.csv"
    path.write_text(
        "\n".join(",".join(c for i, c in enumerate(cells(r)) if i != drop) for r in APPOINTMENTS)
    )
    for kind in (None, LookupKind.ELIGIBILITY):
        report = import_worklist(path, settings, kind)
        assert report.rows == [] and report.preset is None
        assert report.problem is not None
        assert report.problem.startswith("the worklist has no date of birth column")
        assert '"DOB"' not in report.problem and "DOB" in report.problem


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"\n\r\n  \n", "the file is empty"),
        (APPOINTMENTS[0].encode() + b"\r\n", "the file has column headers but no rows below them"),
        (
            b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(3000),
            "the file is not a readable CSV or XLSX: it holds binary data, not text",
        ),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old Excel (.xls)"),
    ],
)
def test_files_with_nothing_to_run_say_why_in_one_sentence(tmp_path, settings, content, problem):
    path = tmp_path / "w.csv"
    path.write_bytes(content)
    report = import_worklist(path, settings)
    assert report.rows == [] and problem in (report.problem or "")
    why = report.why_nothing_runs()
    assert why is not None and why.startswith("w.csv: ") and "\n" not in why
    assert len(why) < 200 and why.isprintable()
