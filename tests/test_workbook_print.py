"""The workbooks on paper and away from the share: one page wide in landscape with the
header on every page, evidence links that are the console's own URLs (and open with a
console login), and edits made in a downloaded copy brought back by `payerbot workbook
import` and by the console's upload in a real browser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from playwright.sync_api import Page, expect

from tests.cli_here import payerbot_here
from tests.test_cli import payerbot
from tests.test_console import add_console_users, log_in, serving, session, shoot
from tests.test_workbook_flow import sheet_rows, write_appointments

pytestmark = pytest.mark.browser


@pytest.fixture
def console(env, settings, tmp_path) -> Iterator[dict[str, Any]]:
    """A real console with dana (specialist) and sam (supervisor)."""
    add_console_users(settings)
    with serving(env, tmp_path / "console.log") as url:
        yield {"url": url, "env": env, "settings": settings}


def _batch(console: dict[str, Any], tmp_path: Path, ground_truth: dict[str, Any]) -> str:
    """A batch run whose workbooks link to the running console; returns its run id."""
    worklist = tmp_path / "appointments.csv"
    write_appointments(worklist, ground_truth)
    env = {**console["env"], "PAYERBOT_CONSOLE__PUBLIC_URL": console["url"] + "/"}
    run = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    runs = json.loads(payerbot_here("runs", "list", "--json", env=console["env"]).stdout)
    return str(runs[0]["id"])


def _assert_print_ready(wb: Workbook) -> None:
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        setup = ws.page_setup
        assert setup.orientation == "landscape", ws.title
        assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (1, 0), ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, ws.title
        assert ws.print_options.gridLines is True, ws.title
        assert ws.page_margins.left <= 0.5 and ws.page_margins.right <= 0.5
        widths = [d.width for d in ws.column_dimensions.values() if d.width]
        assert widths and max(widths) <= 110, ws.title  # the About sheet's one text column
        if ws.title == "About this copy":
            continue
        assert ws.print_title_rows == "$1:$1", ws.title  # the header on every page
        assert ws.freeze_panes == "A2", ws.title
        assert max(widths) <= 60, ws.title  # no column wider than a screen
        header = [c.value for c in ws[1]]
        for title in ("Reason", "Suggested action", "Notes", "Problem"):
            if title in header and ws.max_row > 1:
                assert ws.cell(2, header.index(title) + 1).alignment.wrap_text, (ws.title, title)


def _evidence_links(wb: Workbook) -> list[str]:
    links = []
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        if "Evidence" not in header:
            continue
        col = header.index("Evidence") + 1
        links += [
            ws.cell(r, col).hyperlink.target
            for r in range(2, ws.max_row + 1)
            if ws.cell(r, col).hyperlink is not None
        ]
    return links


def test_printed_workbooks_are_one_page_wide_and_evidence_links_are_console_urls(
    console, ground_truth, tmp_path
):
    url, settings = console["url"], console["settings"]
    run_id = _batch(console, tmp_path, ground_truth)
    rolling = load_workbook(settings.workbook_path)
    run_book = load_workbook(settings.data_dir / "spreadsheets" / f"eligibility-{run_id}.xlsx")
    for wb in (rolling, run_book):
        _assert_print_ready(wb)
        links = _evidence_links(wb)
        assert links, "the run answered with evidence"
        pattern = re.compile(rf"^{re.escape(url)}/files/evidence/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
        assert all(pattern.match(link) for link in links), links[:3]
    # only rows that need attention are colored: high AND still open, not every high row
    (rules,) = list(rolling["Follow-ups"].conditional_formatting)
    assert [r.formula[0] for r in rules.rules] == [
        'TRIM($C2)="done"',
        'AND(TRIM($B2)="high",TRIM($C2)="open")',
    ]
    # the local copy keeps the path relative to the workbook, beside the console link
    ws = rolling["Eligibility"]
    header = [c.value for c in ws[1]]
    local = header.index("Evidence (local file)") + 1
    paths = [
        ws.cell(r, local).hyperlink.target
        for r in range(2, ws.max_row + 1)
        if ws.cell(r, local).hyperlink
    ]
    assert paths and all((settings.workbook_path.parent / p).is_file() for p in paths)

    # the console serves each link to a logged-in user, and only to one
    client, _ = session(url, "dana", "dana-specialist-pw")
    for link in {*_evidence_links(rolling), *_evidence_links(run_book)}:
        got = client.get(link)
        assert got.status_code == 200 and got.headers["content-type"].startswith("image/"), link
    anonymous = httpx.get(_evidence_links(rolling)[0], follow_redirects=False, timeout=30)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]


def _edit(path: Path, edits: dict[int, dict[str, Any]], extra_rows: list[list[Any]]) -> None:
    """What a specialist does in Excel: type into Status / Assignee / Notes by follow-up id."""
    wb = load_workbook(path)
    ws = wb["Follow-ups"]
    header = [c.value for c in ws[1]]
    for r in range(2, ws.max_row + 1):
        for field, value in edits.get(ws.cell(r, 1).value, {}).items():
            ws.cell(r, header.index(field) + 1, value)
    for cells in extra_rows:
        ws.append(cells)
    wb.save(path)


def _show(followup_id: int, env: dict[str, str]) -> dict[str, Any]:
    return dict(
        json.loads(payerbot_here("queue", "show", str(followup_id), "--json", env=env).stdout)
    )


def _rolling_rows(settings: Any) -> dict[int, dict[str, Any]]:
    rows = sheet_rows(load_workbook(settings.workbook_path)["Follow-ups"])
    return {r["Follow-up ID"]: r for r in rows}


def test_edits_in_a_downloaded_copy_come_back_by_cli_and_by_upload(
    console, ground_truth, tmp_path, page: Page
):
    url, env, settings = console["url"], console["env"], console["settings"]
    _batch(console, tmp_path, ground_truth)
    queue = json.loads(payerbot_here("queue", "list", "--json", env=env).stdout)
    by_rule = {r["rule"]: r["id"] for r in queue}
    ended, changed, unknown = (
        by_rule[k] for k in ("coverage_terminated", "plan_changed", "member_not_found")
    )

    # A downloaded copy says where edits go back and links to the console only.
    client, _ = session(url, "dana", "dana-specialist-pw")
    copy = tmp_path / "downloaded.xlsx"
    copy.write_bytes(client.get("/workbook").content)
    wb = load_workbook(copy)
    assert wb.sheetnames[0] == "About this copy"
    about = " ".join(str(c.value) for c in wb["About this copy"]["A"] if c.value)
    assert f"{url}/workbook/upload" in about and "payerbot workbook import FILE" in about
    assert "Evidence (local file)" not in [c.value for c in wb["Follow-ups"][1]]
    assert all(link.startswith(f"{url}/files/") for link in _evidence_links(wb))
    _assert_print_ready(wb)

    # Edited in Excel (openpyxl): a status, a trailing space, a word not in the list, an id
    # that is not in the queue; imported with the CLI.
    _edit(
        copy,
        {
            ended: {"Status": "done", "Notes": "Coverage ended 11/30: asked for the new card"},
            changed: {"Assignee": "dana "},
            unknown: {"Status": "closed", "Notes": "lost? no: refused"},
        },
        [[99999, "high", "done", None, "a row for a follow-up that does not exist"]],
    )
    imported = payerbot_here("workbook", "import", str(copy), "--actor", "dana", env=env)
    assert imported.returncode == 0, imported.stderr
    said = " ".join(imported.stdout.split())
    assert "2 changes taken, 2 rows refused." in said
    assert f'(follow-up {unknown}): the status "closed" is not one of the list' in said
    assert "(open, in progress, done)" in said
    assert "(follow-up 99999): there is no such follow-up in the queue" in said
    first, second, third = _show(ended, env), _show(changed, env), _show(unknown, env)
    assert (first["status"], first["notes"]) == (
        "done",
        "Coverage ended 11/30: asked for the new card",
    )
    assert second["assignee"] == "dana"  # one assignee, spelled as the console user
    assert third["status"] == "open" and not third["notes"]  # refused: left as it was
    rolling = _rolling_rows(settings)
    assert rolling[ended]["Status"] == "done" and rolling[changed]["Assignee"] == "dana"
    assert rolling[unknown]["Status"] == "open" and 99999 not in rolling

    # The console's upload, in a real browser: download, edit, upload.
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "dana", "dana-specialist-pw")
    page.goto(f"{url}/queue")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the workbook").click()
    mine = tmp_path / "mine.xlsx"
    download.value.save_as(mine)
    # meanwhile a supervisor gives the first follow-up to sam: that newer change stays
    assert payerbot_here("queue", "assign", str(ended), "sam", env=env).returncode == 0
    _edit(
        mine,
        {
            ended: {"Assignee": "dana"},
            unknown: {"Status": "in progress", "Assignee": "DANA"},
            changed: {"Assignee": "Lee "},
        },
        [],
    )
    page.get_by_role("link", name="Upload edits").click()
    page.get_by_label("Workbook (.xlsx)").set_input_files(str(mine))
    page.get_by_role("button", name="Upload edits").click()
    summary = page.get_by_role("status").filter(has_text="taken")
    expect(summary).to_have_text(
        f"1 change taken, 1 conflict kept the newer edit made elsewhere (follow-up {ended}), "
        "1 row refused."
    )
    refused = page.get_by_role("listitem").filter(has_text="is not a console user")
    expect(refused).to_contain_text(f'(follow-up {changed}): "Lee" is not a console user')
    shoot(page, "workbook-upload")  # PAYERBOT_DOCS_SCREENSHOTS=1: docs/screenshots/
    assert _show(ended, env)["assignee"] == "sam"
    third = _show(unknown, env)
    assert (third["status"], third["assignee"]) == ("in progress", "dana")
    assert _show(changed, env)["assignee"] == "dana"
    assert third["history"][-1]["actor"] == "workbook:dana"
    rolling = _rolling_rows(settings)
    assert rolling[unknown]["Assignee"] == "dana" and rolling[ended]["Assignee"] == "sam"

    # Not a workbook: one plain sentence, nothing changed.
    junk = tmp_path / "notes.xlsx"
    junk.write_text("not a workbook")
    page.get_by_label("Workbook (.xlsx)").set_input_files(str(junk))
    page.get_by_role("button", name="Upload edits").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That file is not the specialists' workbook: it needs a Follow-ups sheet with "
        "Follow-up ID, Status, Assignee and Notes columns."
    )
