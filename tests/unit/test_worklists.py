"""Worklist import: every row becomes a query or a row-level error; nothing crashes, nothing is lost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from bots.errors import ConfigurationError
from bots.intake.worklists import import_worklist, parse_date
from bots.models import CLAIM_QUERY_SHAPE, LookupKind
from bots.settings import load_settings

HEADER = "Appt Date,Appt Time,Patient Last,Patient First,DOB,Insurance,Member ID,Group #,Rendering NPI,Visit Type,Expected Charge"


@pytest.fixture
def settings():
    return load_settings()


def write(tmp_path: Path, text: str, name: str = "w.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_good_and_bad_rows_are_all_accounted_for(tmp_path, settings):
    path = write(
        tmp_path,
        "\n".join(
            [
                HEADER,
                "12/01/2026,09:00,Doe,Jane,05/17/1980,Acme Health Plan,acm 123,G1,1234567893,Office,180.00",
                "12/01/2026,09:30,Roe,Rich,13/45/1980,ACME HEALTH,ACM124,G1,1234567893,Office,",
                "12/01/2026,10:00,Poe,Pat,05/17/1980,Nowhere Mutual,ACM125,G1,1234567893,Office,",
                "12/01/2026,10:30,Loe,Lou,05/17/1980,Cardinal Care,,G1,1234567893,Office,",
                "12/01/2026,11:00,Doe,Jane,05/17/1980,ACME,ACM-123,G1,1234567893,Office,abc",
                "12/01/2026,11:00,Doe,Jane,05/17/1980,ACME,ACM123,G1,1234567893,Office,",
            ]
        ),
    )
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
    assert report.total_rows == 6
    assert [r.source_row for r in report.rows] == [2]
    q = report.rows[0].query
    assert (q.payer_id, q.member_id, q.dob, q.date_of_service) == (
        "ACME",
        "ACM123",
        date(1980, 5, 17),
        date(2026, 12, 1),
    )
    assert q.expected_charge == Decimal("180.00")
    problems = {(e.source_row, e.column) for e in report.errors}
    assert problems == {
        (3, "dob"),
        (4, "payer"),
        (5, "member_id"),
        (6, "expected_charge"),
        (7, None),
    }
    assert all(e.source_file == "w.csv" for e in report.errors)
    assert "duplicate of row 2" in next(e.reason for e in report.errors if e.source_row == 7)
    # the reason never echoes the (PHI) value
    assert not any("13/45" in e.reason or "Nowhere" in e.reason for e in report.errors)
    assert len(report.rows) + len({e.source_row for e in report.errors}) == report.total_rows


def test_encodings_delimiters_and_leading_zeros(tmp_path, settings):
    text = (
        HEADER.replace(",", ";")
        + "\n"
        + "2026-12-01;09:00;Muñoz;José;1980-05-17;Cardinal Care;0045123378;G1;;Office;"
    )
    for encoding, bom in (("utf-8", "\ufeff"), ("cp1252", "")):
        path = write(tmp_path, bom + text, f"w-{encoding}.csv", encoding)
        report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
        assert not report.errors, report.errors
        q = report.rows[0].query
        assert q.member_id == "0045123378"
        assert q.last_name == "MUÑOZ"


def test_xlsx_with_excel_dates_and_numeric_ids(tmp_path, settings):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append(
        [
            date(2026, 12, 1),
            "09:00",
            "Doe",
            "Jane",
            "46000",
            "Bluestem Mutual",
            "BSM1234567801",
            "G",
            None,
            "Office",
            95.5,
        ]
    )
    path = tmp_path / "w.xlsx"
    wb.save(path)
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
    assert not report.errors
    q = report.rows[0].query
    assert q.date_of_service == date(2026, 12, 1)
    assert q.dob == date(2025, 12, 9)  # Excel serial 46000
    assert q.expected_charge == Decimal("95.50")


def test_unknown_headers_are_a_file_level_error_not_a_crash(tmp_path, settings):
    path = write(tmp_path, "foo,bar\n1,2\n")
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY)
    assert report.rows == []
    (error,) = report.errors
    assert (error.source_row, error.column) == (1, None)
    assert "no worklist preset" in error.reason and "foo" in error.reason


def test_a_missing_file_is_a_configuration_error(tmp_path, settings):
    with pytest.raises(ConfigurationError, match="worklist not found"):
        import_worklist(tmp_path / "nope.csv", settings)


def test_claims_need_a_number_or_member_and_dates(tmp_path, settings):
    path = write(
        tmp_path,
        "\n".join(
            [
                "Claim #,Patient Acct #,Patient Last,Patient First,DOB,Payer,Member ID,DOS From,DOS To,Billed,Billing NPI",
                "A260000000001,PA1,Doe,Jane,05/17/1980,ACME,ACM1,06/01/2026,06/01/2026,$1,200.00,",
                ",,Doe,Jane,05/17/1980,ACME,ACM1,06/01/2026,06/01/2026,120.00,",
                ",,Doe,Jane,05/17/1980,ACME,,,,,",
                ",,Doe,Jane,05/17/1980,ACME,ACM1,,,,",
            ]
        ),
    )
    report = import_worklist(path, settings, LookupKind.CLAIM_STATUS)
    assert [r.source_row for r in report.rows] == [2, 3]
    assert [(e.source_row, e.column) for e in report.errors] == [
        (4, "claim_number"),
        (5, "claim_number"),
    ]
    # the model's one plain sentence, never pydantic's text
    assert {e.reason for e in report.errors} == {CLAIM_QUERY_SHAPE}
    assert not any("error" in e.reason.lower() for e in report.errors)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("12/01/2026", date(2026, 12, 1)),
        ("2026-12-01", date(2026, 12, 1)),
        ("1/2/26", date(2026, 1, 2)),
        ("12/01/75", date(1975, 12, 1)),
        ("20261201", date(2026, 12, 1)),
        ("45000", date(2023, 3, 15)),
    ],
)
def test_dates(text, expected):
    assert parse_date(text) == expected
