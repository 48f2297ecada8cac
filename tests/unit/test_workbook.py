"""The specialists' rolling workbook: layout, typed cells, highlights, edits read back, locks."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from bots.codes import BenefitInfo, CoverageLevel, YesNoUnknown
from bots.models import Benefit, ClaimStatusResult, EligibilityResult, LookupKind
from bots.outputs import specialists_workbook as wbmod
from bots.outputs.run_workbook import TRUNCATED
from bots.outputs.specialists_workbook import (
    EXCEL_CELL_MAX,
    FOLLOWUP_STATUSES,
    EligibilityLine,
    WorkbookEdit,
    WorkbookUnreadable,
    read_edits,
    write_specialist_workbook,
)
from tests import rows as rows_

NOW = datetime(2026, 12, 1, 14, 30, 5, tzinfo=UTC)
SHEETS = ["Follow-ups", "Eligibility", "Claim status", "Rejected rows"]


def followup(id_: int, **over):
    base = {
        "id": id_,
        "item_id": 100 + id_,
        "kind": LookupKind.CLAIM_STATUS,
        "rule": "denied",
        "reason": "Claim denied",
        "category": "denial",
        "priority": "medium",
        "action": "Review the denial and appeal",
        "status": "open",
        "assignee": None,
        "notes": None,
        "evidence_path": None,
        "payer_id": "ACME",
        "patient": "DOE, Jane",
        "member_id": "ACM1",
        "claim_number": "CLM1",
        "service_date": date(2026, 11, 3),
        "created_at": datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        "updated_at": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
    }
    base.update(over)
    return rows_.followup(**base)


def store_item(id_: int, query: dict, payload: dict | None, **over):
    base = {
        "id": id_,
        "source_row": id_ + 1,
        "payer_id": "ACME",
        "state": "succeeded" if payload else "business_failed",
        "attempts": 1,
        "last_error_code": None if payload else "member_not_found",
        "last_error_message": None if payload else "the portal found no match",
        "reason_code": None,
        "evidence_path": None,
        "checked_at": datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
        "query": query,
        "payload": payload,
    }
    base.update(over)
    return rows_.outcome(**base)


def line(item, estimate=None, estimate_note=None) -> EligibilityLine:
    return EligibilityLine(item, estimate, estimate_note)


ELIG_QUERY = {
    "member_id": "ACM1",
    "dob": "1980-05-17",
    "date_of_service": "2026-12-01",
    "last_name": "DOE",
    "first_name": "JANE",
    "service_type": "98",
}
CLAIM_QUERY = {"claim_number": "CLM1", "member_id": "ACM1", "last_name": "DOE"}


def eligibility_payload(active: bool = True, **over) -> dict:
    fields = {
        "portal": "payerhub",
        "payer_id": "ACME",
        "as_of": NOW,
        "member_id": "ACM1",
        "first_name": "JANE",
        "last_name": "DOE",
        "dob": date(1980, 5, 17),
        "date_of_service": date(2026, 12, 1),
        "coverage_active": active,
        "plan_name": "Gold PPO",
        "effective_date": date(2026, 1, 1),
        "benefits": (
            Benefit(
                service_type="98",
                benefit=BenefitInfo.COPAYMENT,
                in_network=YesNoUnknown.YES,
                amount=Decimal("25"),
            ),
            Benefit(
                service_type="30",
                benefit=BenefitInfo.DEDUCTIBLE,
                in_network=YesNoUnknown.YES,
                coverage_level=CoverageLevel.INDIVIDUAL,
                remaining=Decimal("750.50"),
            ),
        ),
    }
    fields.update(over)
    return EligibilityResult(**fields).model_dump(mode="json")


def claim_payload(category: str = "F2", **over) -> dict:
    fields = {
        "portal": "payerhub",
        "payer_id": "ACME",
        "as_of": NOW,
        "claim_number": "CLM1",
        "member_id": "ACM1",
        "first_name": "JANE",
        "last_name": "DOE",
        "dos_from": date(2026, 11, 3),
        "dos_to": date(2026, 11, 3),
        "category": category,
        "status_code": "65",
        "billed": Decimal("1234.5"),
        "paid": Decimal("0"),
    }
    fields.update(over)
    return ClaimStatusResult(**fields).model_dump(mode="json")


def rows(ws) -> list[dict]:
    header = [c.value for c in ws[1]]
    return [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2)]


@pytest.fixture
def written(tmp_path):
    evidence = tmp_path / "data" / "evidence" / "item-1.png"
    evidence.parent.mkdir(parents=True)
    evidence.write_bytes(b"png")
    target = tmp_path / "share" / "payerbot.xlsx"
    target.parent.mkdir()
    result = write_specialist_workbook(
        target,
        [
            followup(3, priority="low"),
            followup(1, priority="high", evidence_path=str(evidence)),
            followup(2, priority="high", status="done"),
            followup(4, priority="medium", status="in progress"),
            followup(5, priority="high"),
        ],
        [
            line(
                store_item(1, ELIG_QUERY, eligibility_payload(), evidence_path=str(evidence)),
                Decimal("612.40"),
                "deductible remaining",
            ),
            line(store_item(2, ELIG_QUERY, eligibility_payload(active=False))),
            line(store_item(3, ELIG_QUERY, None)),
        ],
        [
            store_item(11, CLAIM_QUERY, claim_payload("F2"), evidence_path=str(evidence)),
            store_item(12, CLAIM_QUERY, claim_payload("P1")),
        ],
        [rows_.rejected(id=9, source_file="w.csv", source_row=4, column="dob", reason="bad")],
        now=NOW,
        timezone="America/New_York",
    )
    return result


def test_sheets_headers_panes_filters_and_permissions(written):
    assert written.locked_copy is False and written.path.name == "payerbot.xlsx"
    wb = load_workbook(written.path)
    assert wb.sheetnames == SHEETS
    headers = {name: [c.value for c in wb[name][1]] for name in SHEETS}
    # the local copy: the evidence path relative to the workbook in a last column
    local = "Evidence (local file)"
    assert headers["Follow-ups"] == [c[0] for c in wbmod.FOLLOWUP_COLUMNS] + [local]
    assert headers["Follow-ups"][:5] == ["Follow-up ID", "Priority", "Status", "Assignee", "Notes"]
    assert headers["Eligibility"][0] == "Item ID"
    assert headers["Eligibility"][-4:] == [
        "Est. patient cost",
        "Estimate basis",
        "Newer lookup",
        local,
    ]
    assert headers["Claim status"][0] == "Item ID"
    assert headers["Claim status"][-2:] == ["Newer lookup", local]
    assert headers["Rejected rows"] == ["Error ID", "File", "Row", "Column", "Reason"]
    for name in SHEETS:
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.b and ws["A1"].fill.fill_type == "solid"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
        assert ws.column_dimensions["A"].width > 0
    assert wb["Follow-ups"].max_row == 6 and wb["Eligibility"].max_row == 4
    assert wb["Rejected rows"]["A2"].value == 9 and wb["Rejected rows"]["E2"].value == "bad"
    assert oct(written.path.stat().st_mode & 0o777) == "0o600"
    assert not list(written.path.parent.glob(".~*"))  # the temp file was renamed into place


def test_followups_sorted_open_first_then_priority_then_id(written):
    ws = load_workbook(written.path)["Follow-ups"]
    assert [(r["Follow-up ID"].value, r["Status"].value) for r in rows(ws)] == [
        (1, "open"),
        (5, "open"),
        (3, "open"),
        (4, "in progress"),
        (2, "done"),
    ]


def test_typed_cells_and_number_formats(written):
    wb = load_workbook(written.path)
    f = rows(wb["Follow-ups"])[0]
    assert f["Service date"].value == datetime(2026, 11, 3)
    assert f["Service date"].number_format == "mm/dd/yyyy"
    assert f["Dates of service"].value == "11/03/2026"  # every appointment of the problem
    # stored 08:00 UTC, shown as the practice's wall-clock time (Excel has no zones)
    assert f["Opened"].value == datetime(2026, 11, 30, 3, 0)
    assert f["Opened"].number_format == "mm/dd/yyyy hh:mm"
    assert f["Item ID"].value == 101 and f["Patient"].value == "DOE, Jane"
    e = rows(wb["Eligibility"])
    assert e[0]["Est. patient cost"].value == pytest.approx(612.40)
    assert e[0]["Est. patient cost"].number_format == '"$"#,##0.00'
    assert e[0]["Estimate basis"].value == "deductible remaining"
    assert e[0]["Copay (in network)"].value == 25
    assert e[0]["Copay (in network)"].number_format == '"$"#,##0.00'
    assert e[0]["Effective"].number_format == "mm/dd/yyyy"
    assert e[1]["Coverage"].value == "Inactive"
    assert e[2]["Outcome"].value == "Member not found" and e[2]["Est. patient cost"].value is None
    c = rows(wb["Claim status"])
    assert c[0]["Category"].value == "F2" and c[1]["Category"].value == "P1"
    assert c[0]["Billed"].value == pytest.approx(1234.5)
    assert c[0]["Billed"].number_format == '"$"#,##0.00'
    assert c[0]["DOS from"].number_format == "mm/dd/yyyy"


def test_status_validation_covers_the_data_rows(written):
    ws = load_workbook(written.path)["Follow-ups"]
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"open,in progress,done"'
    assert dv.showErrorMessage and dv.error
    assert str(dv.sqref) == "C2:C6"


def test_conditional_formatting_follows_the_cells(written):
    wb = load_workbook(written.path)

    def rules(name):
        return {
            str(cf.sqref): [(r.type, r.formula[0]) for r in cf.rules]
            for cf in wb[name].conditional_formatting
        }

    followups = rules("Follow-ups")
    # red only for a high-priority follow-up nobody has taken (not every high row)
    assert followups == {
        "A2:S6": [
            ("expression", 'TRIM($C2)="done"'),
            ("expression", 'AND(TRIM($B2)="high",TRIM($C2)="open")'),
        ]
    }
    done, high = next(iter(wb["Follow-ups"].conditional_formatting)).rules
    assert done.priority < high.priority  # a done high-priority row is grey, not red
    assert high.dxf.fill.fgColor.rgb.endswith("F8D7DA") or high.dxf.fill.bgColor.rgb.endswith(
        "F8D7DA"
    )
    assert rules("Eligibility") == {
        "AM2:AM4": [("expression", "AND(ISNUMBER($AM2),$AM2>=500)")],
        "A2:AP4": [("expression", '$K2="Inactive"')],
    }
    assert rules("Claim status") == {"A2:AF3": [("expression", 'OR($O2="F2",$O2="F4")')]}
    # the columns the rules name are the ones they mean
    assert wb["Eligibility"]["K1"].value == "Coverage"
    assert wb["Eligibility"]["AM1"].value == "Est. patient cost"
    assert wb["Claim status"]["O1"].value == "Category"
    assert wb["Follow-ups"]["B1"].value == "Priority" and wb["Follow-ups"]["C1"].value == "Status"


def test_threshold_is_configurable(tmp_path):
    target = tmp_path / "w.xlsx"
    write_specialist_workbook(target, [], [], [], [], high_patient_cost=Decimal("250.5"))
    wb = load_workbook(target)
    (cf,) = [c for c in wb["Eligibility"].conditional_formatting if "AM" in str(c.sqref)]
    assert cf.rules[0].formula == ["AND(ISNUMBER($AM2),$AM2>=250.5)"]
    for name in SHEETS:  # empty sheets still have a header, a filter and frozen panes
        assert wb[name].max_row == 1 and wb[name].auto_filter.ref.startswith("A1:")


def test_evidence_links_without_a_console_are_relative_and_resolve(written):
    """No console URL given: the Evidence link and the local-file column are both the path
    relative to the workbook (the fallback of the local copy)."""
    wb = load_workbook(written.path)
    links = [
        (name, cell)
        for name in ("Follow-ups", "Eligibility", "Claim status")
        for row in wb[name].iter_rows(min_row=2)
        for cell in row
        if cell.hyperlink is not None
    ]
    assert [n for n, _ in links] == ["Follow-ups"] * 2 + ["Eligibility"] * 2 + ["Claim status"] * 2
    for _, cell in links:
        target = cell.hyperlink.target
        assert target == "../data/evidence/item-1.png"
        assert not os.path.isabs(target) and (written.path.parent / target).resolve().is_file()
        assert cell.value in ("screenshot", target)


NASTY = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    '=HYPERLINK("http://x","y")',
    "-2",
]


def test_portal_text_is_never_a_formula_and_always_writable(tmp_path):
    long = "x" * 40_000
    target = tmp_path / "w.xlsx"
    fups = [
        followup(i + 1, reason=text, notes=text, patient=text, member_id=text)
        for i, text in enumerate(NASTY)
    ]
    fups.append(followup(50, reason=long, notes="ring\x07bell\x00\x1b end", patient="a\x0bb"))
    elig = [
        line(
            store_item(
                1,
                {**ELIG_QUERY, "member_id": "=1+1"},
                eligibility_payload(plan_name='=HYPERLINK("http://x","y")', first_name="@SUM(A1)"),
            ),
            estimate_note="-2",
        )
    ]
    claims = [store_item(2, {**CLAIM_QUERY, "claim_number": "+1"}, None)]
    rejected = [
        rows_.rejected(source_file="=cmd|' /C calc'!A0", source_row=1, column="-1", reason="\x07")
    ]
    write_specialist_workbook(target, fups, elig, claims, rejected)
    wb = load_workbook(target)
    by_id = {r["Follow-up ID"].value: r for r in rows(wb["Follow-ups"])}
    for i, text in enumerate(NASTY, start=1):
        for col in ("Reason", "Notes", "Patient", "Member ID"):
            cell = by_id[i][col]
            assert cell.data_type == "s" and cell.value == text, (col, text)
    cut = by_id[50]["Reason"]
    assert cut.data_type == "s" and len(cut.value) == EXCEL_CELL_MAX
    assert cut.value.startswith("x" * 30_000) and cut.value.endswith(TRUNCATED)
    assert by_id[50]["Notes"].value == "ringbell end" and by_id[50]["Patient"].value == "ab"
    e = rows(wb["Eligibility"])[0]
    assert e["Member ID"].value == "=1+1" and e["Member ID"].data_type == "s"
    assert e["Plan"].value == '=HYPERLINK("http://x","y")' and e["Plan"].data_type == "s"
    assert e["Patient"].value == "DOE, JANE"  # the worklist's; the portal's beside it
    assert e["Patient (portal)"].value == "DOE, @SUM(A1)" and e["Estimate basis"].value == "-2"
    assert e["Patient (portal)"].data_type == "s"
    assert e["Estimate basis"].data_type == "s"
    c = rows(wb["Claim status"])[0]
    assert c["Claim #"].value == "+1" and c["Claim #"].data_type == "s"
    r = rows(wb["Rejected rows"])[0]
    assert r["File"].value == "=cmd|' /C calc'!A0" and r["File"].data_type == "s"
    assert r["Column"].value == "-1" and r["Reason"].value is None  # "" is an empty cell
    # nothing anywhere was stored as a formula
    assert not [
        c.coordinate for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"
    ]


def test_edits_round_trip_through_reordered_columns(written):
    path = written.path
    assert read_edits(path) == {
        i: WorkbookEdit(i, s, None, None)
        for i, s in [(1, "open"), (5, "open"), (3, "open"), (4, "in progress"), (2, "done")]
    }
    wb = load_workbook(path)
    ws = wb["Follow-ups"]
    by_id = {r["Follow-up ID"].value: r for r in rows(ws)}
    by_id[1]["Status"].value = "In Progress"
    by_id[1]["Assignee"].value = "  maria  "
    by_id[1]["Notes"].value = "called payer, ref 123"
    by_id[5]["Status"].value = " Done "
    by_id[3]["Status"].value = "closed"
    by_id[3]["Notes"].value = "   "
    by_id[4]["Status"].value = "waiting on payer"  # not a status we know: keep the store's
    by_id[2]["Status"].value = "resolved"
    by_id[2]["Notes"].value = 42
    # the specialist moves Status to the end and adds a column of their own in front
    last = ws.max_row
    ws.move_range(f"C1:C{last}", cols=ws.max_column - 2)
    ws.delete_cols(3)
    ws.insert_cols(1)
    ws["A1"] = "My flag"
    ws["A2"] = "x"
    ws.append([None, "not an id", "high", None, None, "note on a junk row"])
    ws.append([None, 7.0, "low", "bob", "float id from Excel"])
    wb.save(path)
    header = [c.value for c in load_workbook(path)["Follow-ups"][1]]
    assert header[0] == "My flag" and header[-1] == "Status" and "Status" not in header[1:-1]

    edits = read_edits(path)
    assert edits[1] == WorkbookEdit(1, "in progress", "maria", "called payer, ref 123")
    assert edits[5].status == "done" and edits[3].notes is None
    # a word not in the drop-down list is not guessed at: the row is refused, in words
    assert edits[3].status is None and edits[3].problem == (
        'the status "closed" is not one of the list (open, in progress, done), '
        "so the row was left as it is"
    )
    assert edits[2].status is None and "resolved" in (edits[2].problem or "")
    assert edits[4].status is None
    assert (edits[2].assignee, edits[2].notes) == (None, "42")
    assert edits[7] == WorkbookEdit(7, None, "bob", "float id from Excel")
    assert set(edits) == {1, 2, 3, 4, 5, 7}
    assert all(e.status in (*FOLLOWUP_STATUSES, None) for e in edits.values())


def test_missing_workbook_has_no_edits(tmp_path):
    assert read_edits(tmp_path / "nope.xlsx") == {}


def test_unreadable_workbooks_raise(tmp_path):
    garbage = tmp_path / "garbage.xlsx"
    garbage.write_bytes(b"this is not a zip")
    with pytest.raises(WorkbookUnreadable):
        read_edits(garbage)

    other = tmp_path / "other.xlsx"
    wb = Workbook()
    wb.active.title = "Budget"
    wb.save(other)
    with pytest.raises(WorkbookUnreadable, match="Follow-ups"):
        read_edits(other)

    no_notes = tmp_path / "no-notes.xlsx"
    write_specialist_workbook(no_notes, [followup(1)], [], [], [])
    wb = load_workbook(no_notes)
    wb["Follow-ups"].delete_cols(5)  # Notes
    wb.save(no_notes)
    with pytest.raises(WorkbookUnreadable, match="Notes"):
        read_edits(no_notes)


def test_open_workbook_gets_a_timestamped_copy(written):
    path = written.path
    before = path.read_bytes()
    stamp = path.stat().st_mtime_ns
    lock = path.with_name(f"~${path.name}")
    lock.write_bytes(b"owner")
    now = datetime(2026, 12, 2, 9, 5, 7)
    result = write_specialist_workbook(path, [followup(9)], [], [], [], now=now)
    assert result.locked_copy is True
    assert result.path == path.with_name("payerbot-20261202-090507.xlsx")
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stamp
    assert list(read_edits(result.path)) == [9]
    again = write_specialist_workbook(path, [followup(9)], [], [], [], now=now)
    assert again.path == path.with_name("payerbot-20261202-090507-2.xlsx")  # never clobbered
    assert not list(path.parent.glob(".~*"))

    lock.unlink()
    libre = path.with_name(f".~lock.{path.name}#")
    libre.write_text("user,host")
    assert write_specialist_workbook(path, [], [], [], [], now=now).locked_copy is True
    libre.unlink()
    result = write_specialist_workbook(path, [], [], [], [], now=now)
    assert result == wbmod.WrittenWorkbook(path, False) and path.read_bytes() != before


def test_refused_rename_gets_a_timestamped_copy(written, monkeypatch):
    path = written.path
    before = path.read_bytes()
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == path:
            raise PermissionError(13, "The process cannot access the file", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(wbmod.os, "replace", replace)
    result = write_specialist_workbook(
        path, [followup(9)], [], [], [], now=datetime(2026, 12, 2, 9, 5, 7, tzinfo=UTC)
    )
    assert result.locked_copy is True
    assert result.path.name == "payerbot-20261202-090507.xlsx" and result.path.exists()
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".~*"))


def test_missing_folder_is_created_private(tmp_path):
    target = tmp_path / "new" / "w.xlsx"
    write_specialist_workbook(target, [], [], [], [])
    assert oct(target.parent.stat().st_mode & 0o777) == "0o700"
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o750)  # noqa: S103 - a group-shared folder, on purpose
    write_specialist_workbook(shared / "w.xlsx", [], [], [], [])
    assert oct(shared.stat().st_mode & 0o777) == "0o750"  # an existing folder is left alone
