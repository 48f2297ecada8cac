"""The run workbook: one per run, one sheet per lookup kind, one row per item, safe in Excel.

Rows come from the store, never from the browser. Text from portals and worklists is
always written as text (never a formula), dates and money as real typed cells. The
file is written next to the target and renamed into place, so a reader never sees a
half-written workbook; if the target is locked, a numbered sibling is written instead.

Memory: sheets are written row by row (openpyxl's write-only mode, :func:`new_workbook`,
:class:`SheetWriter`), so writing a workbook of ten thousand rows takes about the memory of
ten: no row is kept once it is written. What a sheet has before its rows (column widths,
the frozen header, its size) is set when it starts; the filter, validations, highlights and
print settings are written after the rows and may be set once they are known.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from bots.codes import reject_reason_text
from bots.files import private_dir
from bots.models import ClaimStatusResult, EligibilityResult, LookupKind
from bots.outputs.evidence_links import EvidenceLinks, local_link
from bots.outputs.shown import (
    NO_NAME,
    acted_on,
    adjustment_codes,
    adjustment_text,
    benefits_text,
    claim_status_words,
    cost_sharing,
    coverage_sentence,
    identifiers,
    percent_text,
    status_code_words,
)
from bots.store import ItemState, Outcome, OutcomeCode, RejectedRow

MONEY = '"$"#,##0.00'
DATE = "mm/dd/yyyy"
STAMP = "mm/dd/yyyy hh:mm"
RED = PatternFill("solid", start_color="F8D7DA")
AMBER = PatternFill("solid", start_color="FFF3CD")
GREEN = PatternFill("solid", start_color="D4EDDA")
HEADER = PatternFill("solid", start_color="DDE3EA")

Column = tuple[str, int, str | None]  # header, width, number format

EXCEL_CELL_MAX = 32767  # characters; Excel "repairs" (empties) a longer cell
TRUNCATED = "… [cut: longer than an Excel cell holds]"
# what openpyxl refuses (ILLEGAL_CHARACTERS_RE) plus what no XML file can hold
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def excel_text(value: str) -> str:
    """``value`` as Excel can hold it: no control characters, at most one cell long."""
    value = _UNWRITABLE.sub("", value)
    if len(value) > EXCEL_CELL_MAX:
        value = value[: EXCEL_CELL_MAX - len(TRUNCATED)] + TRUNCATED
    return value


ELIGIBILITY_COLUMNS: list[Column] = [
    ("Item ID", 8, None),
    ("Row", 6, None),
    ("Payer", 12, None),
    ("Member ID", 18, None),
    ("Member ID (portal)", 18, None),
    ("Patient", 24, None),
    ("Patient (portal)", 24, None),
    ("DOB", 11, DATE),
    ("Date of service", 12, DATE),
    ("Outcome", 26, None),
    ("Coverage", 10, None),
    ("Plan", 26, None),
    ("Network", 9, None),
    ("Group #", 12, None),
    ("Effective", 11, DATE),
    ("Termination", 11, DATE),
    ("PCP", 24, None),
    ("Service type", 22, None),
    ("Copay (in network)", 12, MONEY),
    ("Copay (out of network)", 12, MONEY),
    ("Coinsurance (in network)", 12, None),
    ("Coinsurance (out of network)", 12, None),
    ("Deductible remaining (individual, in network)", 16, MONEY),
    ("Deductible remaining (individual, out of network)", 16, MONEY),
    ("Deductible remaining (family, in network)", 16, MONEY),
    ("Deductible remaining (family, out of network)", 16, MONEY),
    ("Out-of-pocket remaining (individual, in network)", 16, MONEY),
    ("Out-of-pocket remaining (individual, out of network)", 16, MONEY),
    ("Out-of-pocket remaining (family, in network)", 16, MONEY),
    ("Out-of-pocket remaining (family, out of network)", 16, MONEY),
    ("Prior auth (service type)", 14, None),
    ("Benefit notes", 30, None),
    ("Benefits (in words)", 60, None),
    ("Problem", 40, None),
    ("Reason code", 9, None),
    ("Evidence", 12, None),
    ("Checked at", 16, STAMP),
    ("Tries", 6, None),
]
_TITLES = [c[0] for c in ELIGIBILITY_COLUMNS]
_ANSWER_CELLS = _TITLES.index("Problem") - _TITLES.index("Outcome")  # what an answer fills

CLAIM_COLUMNS: list[Column] = [
    ("Item ID", 8, None),
    ("Row", 6, None),
    ("Payer", 12, None),
    ("Claim #", 16, None),
    ("Claim # (portal)", 16, None),
    ("Patient acct #", 12, None),
    ("Patient acct # (portal)", 12, None),
    ("Member ID", 18, None),
    ("Member ID (portal)", 18, None),
    ("Patient", 24, None),
    ("Patient (portal)", 24, None),
    ("DOS from", 11, DATE),
    ("DOS to", 11, DATE),
    ("Outcome", 26, None),
    ("Category", 9, None),
    ("Status code", 8, None),
    ("Status", 36, None),
    ("Billed", 12, MONEY),
    ("Allowed", 12, MONEY),
    ("Paid", 12, MONEY),
    ("Patient resp.", 12, MONEY),
    ("Adjudicated", 11, DATE),
    ("Check/EFT #", 16, None),
    ("Payment date", 11, DATE),
    ("Denial reasons", 50, None),
    ("Adjustment codes", 16, None),
    ("Problem", 40, None),
    ("Evidence", 12, None),
    ("Checked at", 16, STAMP),
    ("Tries", 6, None),
]

_PORTAL_NOTE = (
    "What the portal showed, only when it differs from the worklist's value (blank: the same, "
    "or the portal showed none)."
)
_AMOUNT_NOTE = (
    "For the asked service type (see Benefit notes when plan-level values stand in). "
    "Blank: the portal showed no such value, or there is no answer; never zero."
)
HEADER_NOTES: dict[str, str] = {
    "Member ID (portal)": _PORTAL_NOTE,
    "Patient (portal)": _PORTAL_NOTE,
    "Claim # (portal)": _PORTAL_NOTE,
    "Patient acct # (portal)": _PORTAL_NOTE,
    "Patient": f"The name on the worklist; {NO_NAME} when it has none.",
    "Prior auth (service type)": (
        "Required: a benefit line of the asked service type needs it. Not required: every "
        "line says no. Unknown: the portal did not say (or its lines disagree): ask the "
        "payer. Blank: no answer."
    ),
    "Category": "The 277 claim status category code (STC01-1); Outcome says it in words.",
    "Status code": "The 277 claim status code (STC01-2); Status says it in words.",
    "Adjustment codes": "The raw codes of Denial reasons: group-CARC, then RARCs.",
    "Benefits (in words)": "Every benefit line the portal showed, by service type.",
    **{title: _AMOUNT_NOTE for title, _, fmt in ELIGIBILITY_COLUMNS if fmt == MONEY},
    "Coinsurance (in network)": _AMOUNT_NOTE,
    "Coinsurance (out of network)": _AMOUNT_NOTE,
}
"""Header comments: what a blank or a word in the column means."""


def _problem(code: str | None) -> str:
    """The outcome code's label (one vocabulary with the store, console and rules)."""
    label = OutcomeCode(code).label if code else "the portal said no"
    return label[:1].upper() + label[1:]


def _outcome(item: Outcome) -> tuple[str, PatternFill | None]:
    state, code = item.state, item.last_error_code
    if state == ItemState.SUCCEEDED:
        return "", None
    if state == ItemState.BUSINESS_FAILED:
        return _problem(code), AMBER
    if state in (ItemState.NEW, ItemState.ABANDONED, ItemState.IN_PROGRESS):
        return "Waiting for retry", AMBER
    problem = _problem(code or "payerbot_error")
    return (
        problem
        if problem.startswith("Not tried")
        else f"Failed: {problem[:1].lower()}{problem[1:]}"
    ), RED


def eligibility_row(item: Outcome, link: str | None) -> tuple[list[Any], PatternFill | None]:
    q = item.query
    res = EligibilityResult.model_validate(item.payload) if item.payload else None
    outcome, fill = _outcome(item)
    who = identifiers(q, item.payload)
    cells: list[Any] = [
        item.id,
        item.source_row,
        item.payer_id,
        who.member_id,
        who.member_id_portal,
        who.patient,
        who.patient_portal,
        _date(q.get("dob")),
        _date(q.get("date_of_service")),
    ]
    if res is not None:
        shown = cost_sharing(res, q.get("service_type"))
        outcome = coverage_sentence(res, q.get("date_of_service"))
        fill = GREEN if res.coverage_active else RED
        cells += [
            outcome,
            "Active" if res.coverage_active else "Inactive",
            res.plan_name,
            res.network_type,
            res.group_number,
            res.effective_date,
            res.termination_date,
            res.pcp_name,
            shown.service_type_label,
            shown.copay.in_network,
            shown.copay.out_of_network,
            percent_text(shown.coinsurance.in_network),
            percent_text(shown.coinsurance.out_of_network),
            shown.deductible_individual.in_network,
            shown.deductible_individual.out_of_network,
            shown.deductible_family.in_network,
            shown.deductible_family.out_of_network,
            shown.out_of_pocket_individual.in_network,
            shown.out_of_pocket_individual.out_of_network,
            shown.out_of_pocket_family.in_network,
            shown.out_of_pocket_family.out_of_network,
            shown.prior_auth_label,
            "; ".join(shown.notes) or None,
            benefits_text(res),
        ]
    else:
        cells += [outcome] + [None] * (_ANSWER_CELLS - 1)
    cells += [
        item.last_error_message if res is None else None,
        reject_reason_text(item.reason_code),
        link,
        item.checked_at,
        item.attempts,
    ]
    return cells, fill


def claim_row(item: Outcome, link: str | None) -> tuple[list[Any], PatternFill | None]:
    q = item.query
    res = ClaimStatusResult.model_validate(item.payload) if item.payload else None
    outcome, fill = _outcome(item)
    who = identifiers(q, item.payload)
    cells: list[Any] = [
        item.id,
        item.source_row,
        item.payer_id,
        who.claim_number,
        who.claim_number_portal,
        who.account_number,
        who.account_number_portal,
        who.member_id,
        who.member_id_portal,
        who.patient,
        who.patient_portal,
        _date(q.get("dos_from")),
        _date(q.get("dos_to")),
    ]
    if res is not None:
        fill = RED if res.category in ("F2", "F4") else AMBER if res.category[0] in "PAR" else GREEN
        cells[-2:] = [res.dos_from, res.dos_to]  # the claim's own service dates
        reasons = acted_on(res)  # one mention per reason, in the portal's order
        cells += [
            claim_status_words(res.category),
            res.category,
            res.status_code,
            status_code_words(res.status_code) or res.status_text,
            res.billed,
            res.allowed,
            res.paid,
            res.patient_responsibility,
            res.adjudication_date,
            res.payment_trace_number,
            res.payment_date,
            "; ".join(adjustment_text(a) for a in reasons) or None,
            "; ".join(adjustment_codes(a) for a in reasons) or None,
        ]
    else:
        cells += [outcome] + [None] * 12
    cells += [
        item.last_error_message if res is None else None,
        link,
        item.checked_at,
        item.attempts,
    ]
    return cells, fill


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why an item has no answer yet: paused (the drift canary) or postponed (a maintenance
    window, the rate-limit budget). ``outcome`` is the Outcome cell, ``reason`` the sentence."""

    outcome: str
    reason: str


def waiting_cells(
    cells: list[Any], fill: PatternFill | None, columns: list[Column], why: Waiting | None
) -> PatternFill | None:
    """An item without an answer yet: its Outcome and Problem cells say why, in words."""
    if why is None:
        return fill
    titles = [c[0] for c in columns]
    cells[titles.index("Outcome")] = why.outcome
    cells[titles.index("Problem")] = why.reason
    return AMBER


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


RowBuilder = Callable[[Outcome, str | None], tuple[list[Any], PatternFill | None]]
SHEETS: dict[str, tuple[str, list[Column], RowBuilder]] = {
    LookupKind.ELIGIBILITY: ("Eligibility", ELIGIBILITY_COLUMNS, eligibility_row),
    LookupKind.CLAIM_STATUS: ("Claim status", CLAIM_COLUMNS, claim_row),
}


TIME_ZONE: ContextVar[str] = ContextVar("workbook_time_zone", default="UTC")
"""The practice's zone the workbook being written shows its times in (``in_time_zone``)."""


@contextmanager
def in_time_zone(zone: str) -> Iterator[None]:
    """Write a workbook's times in ``zone``: Excel has no time zones, so a stored (UTC)
    time becomes the local wall-clock time a specialist reads everywhere else."""
    token = TIME_ZONE.set(zone)
    try:
        yield
    finally:
        TIME_ZONE.reset(token)


def new_workbook() -> Workbook:
    """An empty workbook whose sheets are written row by row (openpyxl's write-only mode):
    its memory does not grow with the rows. Each sheet is filled by a :class:`SheetWriter`."""
    return Workbook(write_only=True)


def typed_cell(ws: Worksheet, value: Any, fmt: str | None) -> Cell:
    """A cell of ``ws`` holding ``value`` as Excel should: a stored (UTC) time as the practice's
    local time, money as a number, text as text (never a formula) that Excel can hold, and
    the column's number format when there is a value."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the store's naive times are UTC
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(ZoneInfo(TIME_ZONE.get())).replace(tzinfo=None)
    elif isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, str):
        value = excel_text(value)  # control characters would make openpyxl refuse the file
    cell = WriteOnlyCell(ws, value)
    if isinstance(value, str):
        cell.data_type = "s"  # text from portals or worklists is never a formula
    if fmt and value is not None:
        cell.number_format = fmt
    return cell


MAX_WIDTH = 60
"""No column wider than this (characters): a long text wraps instead."""
WRAPPED = frozenset(
    {
        "Reason",
        "Suggested action",
        "Notes",
        "Problem",
        "Benefit notes",
        "Denial reasons",
        "Estimate basis",
        "Newer lookup",
        "Status",
    }
)
"""Columns of sentences: their cells wrap (and print) instead of running off the page."""
LOCAL_EVIDENCE: Column = ("Evidence (local file)", 24, None)
"""The evidence path relative to the workbook: a fallback link in the local copy only."""
_WRAP = Alignment(wrap_text=True, vertical="top")


def print_ready(ws: Worksheet, columns: list[Column]) -> None:
    """Landscape, one page wide (as many pages long as it takes), the header row repeated on
    each page, gridlines, narrow margins; no column wider than MAX_WIDTH (a sentence column
    wraps: :class:`SheetWriter`). Call it before the sheet's first row (the widths and the
    fit-to-page flag are written ahead of the rows)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_LETTER
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # 0: as many pages long as the rows need
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    ws.page_margins = PageMargins(left=0.3, right=0.3, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.oddHeader.left.text = "&A"  # the sheet's name
    ws.oddFooter.right.text = "Page &P of &N"
    for col, (_, width, _) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(width, MAX_WIDTH)


def sized(ws: Worksheet, columns: int, rows: int) -> None:
    """Say the sheet's size (``A1:<last column><last row>``) ahead of its rows, as a sheet
    built in memory does: a reader that trusts it (openpyxl's read-only mode, pandas) then
    reads every row. Call it before the sheet's first row."""
    ref = f"A1:{get_column_letter(max(columns, 1))}{max(rows, 1)}"
    ws.calculate_dimension = lambda: ref  # what openpyxl's sheet writer asks for the size


LINK_FONT = Font(color="0563C1", underline="single")

RowCells = tuple[list[Any], PatternFill | None, str | None]
"""A data row: its cells' values, the Outcome cell's fill, the Evidence link."""


class SheetWriter:
    """A sheet of ``columns`` written row by row in write-only mode: a styled header row (with
    its notes), then each data row as it comes (typed cells, the Evidence link, the Outcome
    fill, sentences wrapped), the header frozen, a filter over every row and ready to print.

    ``rows`` is how many data rows will come (the sheet's size is written before them); the
    filter, validations and highlights that name the last row are set by the caller once the
    rows are written (:attr:`last`)."""

    def __init__(
        self, ws: Worksheet, columns: list[Column], rows: int, *, outcome_fill_col: int | None
    ) -> None:
        self.ws = ws
        self.columns = columns
        self.last = 1
        titles = [c[0] for c in columns]
        self._evidence = titles.index("Evidence") + 1 if "Evidence" in titles else None
        self._outcome = outcome_fill_col
        self._local = columns.index(LOCAL_EVIDENCE) + 1 if LOCAL_EVIDENCE in columns else None
        self._wrapped = [title in WRAPPED for title in titles]
        ws.freeze_panes = "A2"
        sized(ws, len(columns), rows + 1)
        print_ready(ws, columns)
        header = []
        for title, _, _ in columns:
            cell = WriteOnlyCell(ws, title)
            cell.font = Font(bold=True)
            cell.fill = HEADER
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if title in HEADER_NOTES:
                cell.comment = Comment(HEADER_NOTES[title], "payerbot")
            header.append(cell)
        ws.append(header)

    def add(self, cells: list[Any], fill: PatternFill | None, link: str | None) -> None:
        """One data row, written at once (nothing of it is kept)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"row has {len(cells)} cells for {len(self.columns)} columns")
        out: list[Cell | None] = []
        for value, (_, _, fmt), wrapped in zip(cells, self.columns, self._wrapped, strict=True):
            cell = typed_cell(self.ws, value, fmt) if value is not None or wrapped else None
            if cell is not None and wrapped:
                cell.alignment = _WRAP
            out.append(cell)
        if link and self._evidence:
            cell = self._at(out, self._evidence)
            cell.value = "screenshot"
            cell.hyperlink = link
            cell.font = LINK_FONT
        if self._local and cells[self._local - 1]:
            cell = self._at(out, self._local)
            cell.hyperlink = str(cells[self._local - 1])
            cell.font = LINK_FONT
        if fill is not None and self._outcome:
            self._at(out, self._outcome).fill = fill
        self.ws.append(out)
        self.last += 1

    def _at(self, out: list[Cell | None], col: int) -> Cell:
        if out[col - 1] is None:
            out[col - 1] = WriteOnlyCell(self.ws)
        return out[col - 1]

    def finish(self) -> int:
        """The filter over every row; returns the last row written."""
        self.ws.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{self.last}"
        return self.last


def fill_sheet(
    ws: Worksheet,
    columns: list[Column],
    rows: Iterable[RowCells],
    count: int,
    *,
    outcome_fill_col: int | None,
) -> int:
    """Write ``count`` ``rows`` (each made only when written) to ``ws`` with a
    :class:`SheetWriter`; returns the last row written."""
    writer = SheetWriter(ws, columns, count, outcome_fill_col=outcome_fill_col)
    for cells, fill, link in rows:
        writer.add(cells, fill, link)
    return writer.finish()


def _fill_sheet(ws: Worksheet, columns: list[Column], rows: Iterable[RowCells], count: int) -> None:
    outcome = next((i for i, c in enumerate(columns, 1) if c[0] == "Outcome"), 1)
    fill_sheet(ws, columns, rows, count, outcome_fill_col=outcome)


def write_workbook(
    path: Path,
    outcomes: Mapping[str, Sequence[Outcome]],
    import_errors: Sequence[RejectedRow] = (),
    links: EvidenceLinks | None = None,
    waiting: Mapping[int, Waiting] | None = None,
    timezone: str = "UTC",
) -> Path:
    with in_time_zone(timezone):
        return _write_workbook(path, outcomes, import_errors, links, waiting)


def _write_workbook(
    path: Path,
    outcomes: Mapping[str, Sequence[Outcome]],
    import_errors: Sequence[RejectedRow],
    links: EvidenceLinks | None,
    waiting: Mapping[int, Waiting] | None,
) -> Path:
    """Write the workbook for ``outcomes`` ({kind: store rows}) atomically; returns its path.

    Evidence links are console URLs when ``links`` has a base URL; the path relative to the
    workbook is in an "Evidence (local file)" column beside them (the link itself when there
    is no console URL). ``waiting``: why items have no answer yet (item id -> reason)."""
    wb = new_workbook()
    try:
        for kind, items in outcomes.items():
            title, columns, build = SHEETS[kind]
            _fill_sheet(
                wb.create_sheet(title),
                [*columns, LOCAL_EVIDENCE],
                _outcome_rows(path, items, columns, build, links, waiting or {}),
                len(items),
            )
        _summary_sheet(wb, [item for items in outcomes.values() for item in items])
        if import_errors:
            cols: list[Column] = [
                ("File", 30, None),
                ("Row", 6, None),
                ("Column", 18, None),
                ("Reason", 70, None),
            ]
            _fill_sheet(
                wb.create_sheet("Import errors"),
                cols,
                (
                    ([e.source_file, e.source_row, e.column, e.reason], None, None)
                    for e in import_errors
                ),
                len(import_errors),
            )
    except BaseException:
        discard(wb)
        raise
    return _save_atomically(wb, path)


def _outcome_rows(
    path: Path,
    items: Iterable[Outcome],
    columns: list[Column],
    build: RowBuilder,
    links: EvidenceLinks | None,
    waiting: Mapping[int, Waiting],
) -> Iterator[RowCells]:
    """The run workbook's rows of one kind, each made when it is written."""
    for item in items:
        local = local_link(item.evidence_path, path)
        link = (links.url(item.evidence_path) if links else None) or local
        cells, fill = build(item, link)
        fill = waiting_cells(cells, fill, columns, waiting.get(item.id))
        yield [*cells, local], fill, link


SUMMARY_WORDS = {
    "answered": "asked of the portal this run",
    "reused": "answered by an earlier run within the dedupe window, not asked again",
    "no result": "the portal said no: see the Outcome column",
    "failed": "no answer: see the Outcome column",
    "waiting": "not done yet: queued, paused, or waiting for an account",
}


def _summary_sheet(wb: Workbook, items: Sequence[Outcome]) -> None:
    """ "Run summary": the items per part, as `payerbot runs show` counts them (each item in
    one part; the parts add up to the total)."""
    from bots.outputs.run_views import PARTS, summary_parts

    parts = summary_parts(items, {}, "")
    columns: list[Column] = [("Outcome", 14, None), ("Items", 8, None), ("Meaning", 70, None)]
    rows: list[RowCells] = [([p, parts[p], SUMMARY_WORDS[p]], None, None) for p in PARTS]
    rows.append((["total", parts["total"], "every item of the run"], None, None))
    _fill_sheet(wb.create_sheet("Run summary"), columns, rows, len(rows))


def discard(wb: Workbook) -> None:
    """Remove what an unsaved write-only workbook has written so far: openpyxl keeps each
    sheet's rows in a temporary file until the workbook is saved, and a process that runs for
    weeks must not leave them behind when a write fails."""
    for ws in wb.worksheets:
        rows, writer = getattr(ws, "_rows", None), getattr(ws, "_writer", None)
        with suppress(Exception):
            if rows is not None:
                rows.close()
            if writer is not None:
                writer.close()
        with suppress(OSError, ValueError):
            if writer is not None:
                writer.cleanup()


def save(wb: Workbook, path: str) -> None:
    """Save ``wb`` (once: a write-only workbook cannot be saved again); on failure nothing
    of it is left in the temporary folder."""
    try:
        wb.save(path)
    except BaseException:
        discard(wb)
        raise


def _save_atomically(wb: Workbook, path: Path) -> Path:
    try:
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".~", suffix=".xlsx", dir=path.parent)
    except BaseException:
        discard(wb)
        raise
    os.close(fd)
    try:
        save(wb, tmp)
        os.chmod(tmp, 0o600)
        for candidate in [
            path,
            *(path.with_name(f"{path.stem} ({i}){path.suffix}") for i in range(1, 50)),
        ]:
            try:
                os.replace(tmp, candidate)
                return candidate
            except PermissionError:  # the target is open and locked (Excel on Windows)
                continue
        raise PermissionError(f"could not write {path.name} or any numbered copy next to it")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
