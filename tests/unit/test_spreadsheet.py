"""The workbook: typed cells, frozen header, filters, no formulas from portal text, atomic write."""

from __future__ import annotations

from datetime import UTC, date, datetime

from openpyxl import load_workbook

from bots.models import EligibilityResult, LookupKind
from bots.outputs.run_workbook import write_workbook
from tests.rows import outcome, rejected


def item(**over):
    base = {
        "id": 7,
        "source_row": 3,
        "payer_id": "ACME",
        "state": "succeeded",
        "attempts": 1,
        "last_error_code": None,
        "last_error_message": None,
        "reason_code": None,
        "evidence_path": None,
        "checked_at": datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
        "query": {
            "member_id": "ACM1",
            "dob": "1980-05-17",
            "date_of_service": "2026-12-01",
            "last_name": "DOE",
            "first_name": "JANE",
        },
        "payload": None,
    }
    base.update(over)
    return outcome(**base)


def test_cells_are_typed_and_text_is_never_a_formula(tmp_path):
    result = EligibilityResult(
        portal="payerhub",
        payer_id="ACME",
        as_of=datetime.now(UTC),
        member_id="ACM1",
        first_name='=HYPERLINK("http://x")',
        last_name="+SUM(A1)",
        dob=date(1980, 5, 17),
        date_of_service=date(2026, 12, 1),
        coverage_active=True,
        plan_name="@evil",
        effective_date=date(2026, 1, 1),
    )
    evidence = tmp_path / "evidence" / "item-7.png"
    evidence.parent.mkdir()
    evidence.write_bytes(b"png")
    rows = [
        item(payload=result.model_dump(mode="json"), evidence_path=str(evidence)),
        item(
            id=8,
            state="business_failed",
            last_error_code="member_not_found",
            last_error_message="the portal found no match",
            reason_code="75",
            evidence_path=str(evidence),
        ),
    ]
    target = tmp_path / "sheets" / "out.xlsx"
    written = write_workbook(
        target,
        {LookupKind.ELIGIBILITY: rows},
        [rejected(source_file="w.csv", source_row=9, column="dob", reason="=1+1")],
    )
    assert written == target
    wb = load_workbook(target)
    ws = wb["Eligibility"]
    header = [c.value for c in ws[1]]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    row = {h: c for h, c in zip(header, ws[2], strict=True)}
    assert row["Patient"].value == "DOE, JANE"  # the worklist's name stays
    assert row["Patient (portal)"].value == '+SUM(A1), =HYPERLINK("http://x")'
    assert row["Patient (portal)"].data_type == "s"
    assert row["Plan"].value == "@evil" and row["Plan"].data_type == "s"
    assert (
        row["Effective"].value == datetime(2026, 1, 1)
        and row["Effective"].number_format == "mm/dd/yyyy"
    )
    assert row["Evidence"].hyperlink.target == "../evidence/item-7.png"
    assert row["Outcome"].value.startswith("Active on ")  # the coverage sentence
    failed = {h: c.value for h, c in zip(header, ws[3], strict=True)}
    assert failed["Outcome"] == "Member not found" and failed["Item ID"] == 8
    assert failed["Coverage"] is None and failed["Prior auth (service type)"] is None
    assert failed["Problem"] == "the portal found no match" and failed["Reason code"] == (
        "Subscriber/insured not found (75)"  # the reject reason in words, the code beside
    )
    assert failed["Evidence"] == "screenshot" and failed["Tries"] == 1
    assert failed["Checked at"] == datetime(2026, 12, 1, 5, 0)
    errors = wb["Import errors"]
    assert errors["D2"].value == "=1+1" and errors["D2"].data_type == "s"
    assert not list(target.parent.glob(".~*"))  # the temp file was renamed, not left behind
    assert oct(target.stat().st_mode & 0o777) == "0o600"
