"""The workbooks take the same memory for a day of ten thousand rows as for ten: they are
written row by row (openpyxl's write-only mode) and read back row by row (read-only mode),
and the files are byte for byte what the in-memory writer made before (the golden copies
in tests/unit/workbook_memory/ were written by it from the fixture below).

If a workbook's content or look changes on purpose, rewrite the golden copies with
`python -m tests.unit.test_workbook_memory` and say so in the commit."""

from __future__ import annotations

import re
import sys
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl.worksheet import _writer as openpyxl_writer
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bots.outputs import run_workbook, specialists_workbook
from bots.outputs.evidence_links import EvidenceLinks
from bots.outputs.run_workbook import Waiting, write_workbook
from bots.outputs.specialists_workbook import (
    DownloadedCopy,
    WorkbookEdit,
    WorkbookUnreadable,
    read_baseline,
    read_edits,
    write_specialist_workbook,
)
from bots.store import ItemState
from bots.store.rows import Answer, Attempt
from tests import rows as rows_
from tests.unit.test_workbook import (
    CLAIM_QUERY,
    ELIG_QUERY,
    NOW,
    claim_payload,
    eligibility_payload,
    followup,
    line,
    store_item,
)

GOLDEN = Path(__file__).with_name("workbook_memory")
UPLOAD = "http://127.0.0.1:8765/workbook/upload"
# text a portal or a worklist may hold: formulas that must stay text, control characters,
# a cell longer than Excel holds, an empty string, spaces
ODD_TEXT = ["=SUM(A1:A9)", "+1-2", "@cmd", "tab\there\x01\x07bell", "x" * 40000, "", "  spaced  "]


def write_fixture(folder: Path) -> dict[str, Path]:
    """The fixture's workbooks under ``folder`` (the same relative layout every time, so
    the local evidence links are the same): {name: path}."""
    evidence = folder / "data" / "evidence" / "2026-12-01" / "item-1.png"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_bytes(b"png")
    share = folder / "share"
    share.mkdir(exist_ok=True)
    ev = str(evidence)
    statuses = ["open", "in progress", "done", "Done ", "closed", None]
    followups = [
        followup(
            i,
            priority=["high", "medium", "low", None][i % 4],
            status=statuses[i % 6],
            assignee="dana" if i % 3 == 0 else None,
            notes=ODD_TEXT[i % 7] if i % 2 else None,
            evidence_path=ev if i % 5 == 0 else None,
            service_dates=[date(2026, 11, 3), date(2026, 11, 10)] if i % 4 == 0 else None,
            patient=None if i % 9 == 0 else "DOE, Jane",
            reason="CO-16" if i % 2 else "Claim denied",
        )
        for i in range(1, 41)
    ]
    good = Answer(eligibility_payload(), datetime(2026, 11, 30, 5, tzinfo=UTC), ev, "run-0")
    failed = Attempt(ItemState.SYSTEM_FAILED, None, "x", datetime(2026, 12, 1, 6, tzinfo=UTC))
    eligibility = []
    for i in range(1, 31):
        if i % 5 == 0:
            item = store_item(i, ELIG_QUERY, eligibility_payload(), evidence_path=ev)
            eligibility.append(line(item, Decimal("612.40"), "deductible remaining"))
        elif i % 5 == 1:
            eligibility.append(line(store_item(i, ELIG_QUERY, eligibility_payload(active=False))))
        elif i % 5 == 2:
            message = ODD_TEXT[i % 7] or None
            eligibility.append(line(store_item(i, ELIG_QUERY, None, last_error_message=message)))
        elif i % 5 == 3:
            eligibility.append(line(store_item(i, ELIG_QUERY, None, state="new"), Decimal("10")))
        else:
            item = store_item(i, ELIG_QUERY, eligibility_payload(), evidence_path=ev)
            item = replace(item, last_good=good, newer_failure=failed)
            eligibility.append(line(item, Decimal("499.99")))
    claims = [
        store_item(i, CLAIM_QUERY, None, kind="claim_status")
        if i % 7 == 0
        else store_item(
            i,
            CLAIM_QUERY,
            claim_payload(["F2", "P1", "F1", "F4", "A1"][i % 5]),
            kind="claim_status",
            evidence_path=ev if i % 2 else None,
        )
        for i in range(101, 121)
    ]
    rejected = [
        rows_.rejected(
            id=k, source_file="w.csv", source_row=k + 1, column="dob", reason=ODD_TEXT[k % 7]
        )
        for k in range(1, 8)
    ]
    waiting = {
        3: Waiting("Paused: the portal's pages changed", "Not looked up yet: drift"),
        104: Waiting("Postponed until later", "Not looked up yet: maintenance"),
    }
    links = EvidenceLinks(folder / "data", "http://127.0.0.1:8765")
    zone = "America/New_York"
    day = (followups, eligibility, claims, rejected)
    write_specialist_workbook(share / "local.xlsx", *day, now=NOW, timezone=zone, waiting=waiting)
    write_specialist_workbook(
        share / "download.xlsx",
        *day,
        now=NOW,
        timezone=zone,
        links=links,
        high_patient_cost=Decimal("450"),
        download=DownloadedCopy(UPLOAD, "dana", "12/01/2026 09:30 AM"),
    )
    write_specialist_workbook(share / "empty.xlsx", [], [], [], [], now=NOW)
    write_workbook(
        share / "run.xlsx",
        {"eligibility": [x.outcome for x in eligibility], "claim_status": claims},
        rejected,
        links=links,
        waiting=waiting,
        timezone="America/Chicago",
    )
    write_workbook(share / "run-empty.xlsx", {"claim_status": []}, [])
    return {p.name: p for p in sorted(share.glob("*.xlsx"))}


def _parts(path: Path) -> dict[str, bytes]:
    """The file's parts, the times it was made aside."""
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts["docProps/core.xml"] = re.sub(
        rb"<dcterms:(created|modified)[^<]*</dcterms:\1>", b"", parts["docProps/core.xml"]
    )
    return parts


def test_the_workbooks_are_byte_for_byte_what_the_in_memory_writer_made(tmp_path):
    written = write_fixture(tmp_path)
    assert sorted(written) == sorted(p.name for p in GOLDEN.glob("*.xlsx"))
    for name, path in written.items():
        made, golden = _parts(path), _parts(GOLDEN / name)
        assert sorted(made) == sorted(golden), name
        differ = [part for part in golden if made[part] != golden[part]]
        assert not differ, f"{name}: {differ} differ from the golden copy"


def test_every_sheet_is_written_row_by_row(tmp_path, monkeypatch):
    made: list[Any] = []
    real = run_workbook.Workbook

    def spy(*args: Any, **kwargs: Any) -> Any:
        wb = real(*args, **kwargs)
        made.append((kwargs, wb))
        return wb

    monkeypatch.setattr(run_workbook, "Workbook", spy)
    write_fixture(tmp_path)
    assert len(made) == 5  # three specialists' workbooks, two run workbooks
    for kwargs, wb in made:
        assert kwargs == {"write_only": True}
        assert wb.worksheets and all(type(ws) is WriteOnlyWorksheet for ws in wb.worksheets)


def test_the_readers_read_row_by_row(tmp_path, monkeypatch):
    written = write_fixture(tmp_path)
    opened: list[dict[str, Any]] = []
    real = specialists_workbook.load_workbook

    def spy(path: Path, **kwargs: Any) -> Any:
        opened.append(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(specialists_workbook, "load_workbook", spy)
    edits = read_edits(written["local.xlsx"])
    baseline = read_baseline(written["download.xlsx"])
    assert read_baseline(written["local.xlsx"]) is None
    assert opened == [{"read_only": True, "data_only": True}] * 3
    # what they read is the day's follow-ups, as written
    assert sorted(edits) == list(range(1, 41)) and baseline is not None
    assert sorted(baseline) == list(range(1, 41))
    assert edits[1] == WorkbookEdit(1, "in progress", None, "+1-2")  # text, not a formula
    assert edits[3] == WorkbookEdit(3, "done", "dana", "tab\therebell")
    assert edits[4].status is None and "closed" in (edits[4].problem or "")
    assert baseline[1] == WorkbookEdit(1, "in progress", None, "+1-2")
    assert baseline[4].status == "closed"  # as the store had it


def _rewrite_part(path: Path, part: str, change: Any) -> None:
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts[part] = change(parts[part])
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_a_file_that_says_a_wrong_size_is_read_to_its_last_row(tmp_path):
    path = write_fixture(tmp_path)["local.xlsx"]
    # some programs write no size or a wrong one; read-only mode trusts it unless told not to
    _rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:A1"/>', xml),
    )
    assert sorted(read_edits(path)) == list(range(1, 41))


def test_a_sheet_that_is_not_xml_is_unreadable_not_an_error(tmp_path):
    path = write_fixture(tmp_path)["local.xlsx"]
    _rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2])
    with pytest.raises(WorkbookUnreadable, match="not a readable workbook"):
        read_edits(path)


def test_a_write_that_fails_leaves_no_rows_in_the_temporary_folder(tmp_path, monkeypatch):
    before = set(openpyxl_writer.ALL_TEMP_FILES)

    def broken(*args: Any) -> Any:
        raise RuntimeError("the claim sheet could not be built")

    # the Follow-ups and Eligibility sheets are written (to temporary files) by then
    monkeypatch.setattr(specialists_workbook, "claim_row", broken)
    with pytest.raises(RuntimeError):
        write_fixture(tmp_path)
    left = [f for f in set(openpyxl_writer.ALL_TEMP_FILES) - before if Path(f).exists()]
    assert left == []
    assert not list((tmp_path / "share").glob("*.xlsx"))


if __name__ == "__main__":  # rewrite the golden copies from the fixture (see the docstring)
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        GOLDEN.mkdir(exist_ok=True)
        for name, path in write_fixture(Path(folder)).items():
            shutil.copyfile(path, GOLDEN / name)
            print("wrote", GOLDEN / name, file=sys.stderr)
