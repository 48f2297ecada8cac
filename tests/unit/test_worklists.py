"""Worklist import: every row becomes a query or a row-level error; nothing crashes, nothing is lost."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from bots.dates import DateRole, local_today
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


TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    "text,role,expected",
    [
        ("12/01/2026", DateRole.SERVICE, date(2026, 12, 1)),
        ("2026-12-01", DateRole.SERVICE, date(2026, 12, 1)),
        ("1/2/26", DateRole.SERVICE, date(2026, 1, 2)),
        ("12/01/75", DateRole.BIRTH, date(1975, 12, 1)),
        ("20261201", DateRole.SERVICE, date(2026, 12, 1)),
        ("45000", DateRole.SERVICE, date(2023, 3, 15)),
        ("12/03/26", DateRole.SERVICE, date(2026, 12, 3)),  # tomorrow, not 1926
        ("06/15/27", DateRole.SERVICE, date(2027, 6, 15)),
        ("12/03/26", DateRole.BIRTH, date(1926, 12, 3)),  # a birth lies in the past
        ("12/02/26", DateRole.BIRTH, date(2026, 12, 2)),  # born today
        ("03/15/24", DateRole.BIRTH, date(2024, 3, 15)),
    ],
)
def test_dates(text, role, expected):
    assert parse_date(text, role, TODAY) == expected


def _appointments(tmp_path: Path, *rows: tuple[str, str]) -> Path:
    """An appointments worklist with (appointment date, date of birth) per row."""
    lines = [HEADER] + [
        f"{dos},09:00,Doe,Jane,{dob},ACME,ACM{n},G1,1234567893,Office visit,"
        for n, (dos, dob) in enumerate(rows)
    ]
    return write(tmp_path, "\n".join(lines))


def test_tomorrows_appointment_written_with_a_two_digit_year_is_tomorrow(tmp_path, settings):
    path = _appointments(tmp_path, ("12/03/26", "05/17/80"), ("06/15/27", "11/30/26"))
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY, today=TODAY)
    assert report.errors == []
    first, second = (r.query for r in report.rows)
    assert (first.date_of_service, first.dob) == (date(2026, 12, 3), date(1980, 5, 17))
    # a two-digit birth year in the past stays in the past (a baby born two days ago)
    assert (second.date_of_service, second.dob) == (date(2027, 6, 15), date(2026, 11, 30))


def test_implausible_dates_are_rejected_with_row_column_and_reason(tmp_path, settings):
    path = _appointments(
        tmp_path,
        ("12/02/2023", "05/17/1980"),  # three years back
        ("12/02/2028", "05/17/1980"),  # two years ahead
        ("12/05/2026", "12/25/2026"),  # born in three weeks
        ("12/03/2024", "05/17/1980"),  # 729 days back: still plausible
        ("12/02/2027", "05/17/1980"),  # 365 days ahead: still plausible
    )
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY, today=TODAY)
    assert [r.source_row for r in report.rows] == [5, 6]
    found = {(e.source_row, e.column): e.reason for e in report.errors}
    assert found == {
        (2, "date_of_service"): "the date of service is more than 730 days before today, "
        "too far back to check (a typo in the year?)",
        (3, "date_of_service"): "the date of service is more than 365 days after today, "
        "too far ahead to check (a typo in the year?)",
        (4, "dob"): "the date of birth is after today",
    }


def test_the_plausible_window_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYERBOT_WORKLISTS__SERVICE_DAYS_BACK", "3000")
    monkeypatch.setenv("PAYERBOT_WORKLISTS__SERVICE_DAYS_AHEAD", "10")
    settings = load_settings()
    assert settings.worklists.presets  # the TOML presets are still there
    path = _appointments(tmp_path, ("12/02/2023", "05/17/1980"), ("06/15/27", "05/17/1980"))
    report = import_worklist(path, settings, LookupKind.ELIGIBILITY, today=TODAY)
    assert [r.source_row for r in report.rows] == [2]
    assert [(e.source_row, e.column) for e in report.errors] == [(3, "date_of_service")]
    assert "more than 10 days after today" in report.errors[0].reason


def test_claim_service_dates_get_the_same_rules(tmp_path, settings):
    path = write(
        tmp_path,
        "\n".join(
            [
                "Claim #,Patient Acct #,Patient Last,Patient First,DOB,Payer,Member ID,DOS From,DOS To,Billed,Billing NPI",
                "A1,PA1,Doe,Jane,05/17/80,ACME,ACM1,11/20/26,11/20/26,120.00,",
                "A2,PA2,Doe,Jane,05/17/80,ACME,ACM1,11/20/23,11/20/23,120.00,",
            ]
        ),
    )
    report = import_worklist(path, settings, LookupKind.CLAIM_STATUS, today=TODAY)
    (row,) = report.rows
    assert (row.query.dos_from, row.query.dos_to, row.query.dob) == (
        date(2026, 11, 20),
        date(2026, 11, 20),
        date(1980, 5, 17),
    )
    assert {(e.source_row, e.column) for e in report.errors} == {(3, "dos_from"), (3, "dos_to")}


def test_today_is_the_practices_date_not_the_machines():
    late_evening = datetime(2026, 12, 3, 3, 30, tzinfo=UTC)  # 22:30 on the 2nd in New York
    assert local_today("America/New_York", late_evening) == date(2026, 12, 2)
    assert local_today("Asia/Tokyo", late_evening) == date(2026, 12, 3)
