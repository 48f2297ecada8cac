"""The specialists' workbook: the one .xlsx they keep open all day, rewritten after each run.

Four sheets: "Follow-ups" (the work queue, whose Status / Assignee / Notes columns the
specialists edit), "Eligibility", "Claim status" and "Rejected rows". Before a rewrite the
caller reads the specialists' edits back with :func:`read_edits` and merges them into the
store, so the rewritten file keeps them.

Rows come from the store, never from the browser. Text from portals and worklists is always
written as text, never a formula; characters Excel cannot hold (control characters) are
dropped and text longer than an Excel cell holds is cut. Highlights are conditional
formatting rules, not static fills, so they follow the specialists' edits and sorting.

Writing: the workbook is saved to a temp file in the target's folder and renamed into
place, so a reader never sees a half-written file. When the target is open (an Office or
LibreOffice lock file sits next to it, or the rename is refused) a timestamped sibling
``<stem>-YYYYMMDD-HHMMSS<suffix>`` is written instead and the open file is left alone.

Permissions: the file is created 0600, like the run workbook. The folder is the operator's
choice (typically a shared drive): an existing folder is left as it is, whoever shares it
sets who may read it; a missing folder is created owner-only.
"""

from __future__ import annotations

import errno
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from bots.codes import category_words
from bots.dates import local_datetime_text
from bots.files import private_dir
from bots.outputs.evidence_links import EvidenceLinks, local_link
from bots.outputs.run_workbook import (
    AMBER,
    CLAIM_COLUMNS,
    DATE,
    ELIGIBILITY_COLUMNS,
    LINK_FONT,
    LOCAL_EVIDENCE,
    MONEY,
    RED,
    STAMP,
    TIME_ZONE,
    Column,
    RowCells,
    Waiting,
    claim_row,
    discard,
    eligibility_row,
    fill_sheet,
    in_time_zone,
    new_workbook,
    print_ready,
    save,
    sized,
    typed_cell,
    waiting_cells,
)
from bots.outputs.run_workbook import (
    EXCEL_CELL_MAX as EXCEL_CELL_MAX,  # re-exported: the workbook's cell limit
)
from bots.outputs.run_workbook import (
    excel_text as excel_text,
)
from bots.outputs.shown import NO_NAME, with_descriptions
from bots.store import FollowUp, Outcome, RejectedRow

FOLLOWUP_STATUSES = ("open", "in progress", "done")

FOLLOWUPS_SHEET = "Follow-ups"
ELIGIBILITY_SHEET = "Eligibility"
CLAIMS_SHEET = "Claim status"
REJECTED_SHEET = "Rejected rows"
ABOUT_SHEET = "About this copy"
BASELINE_SHEET = "As downloaded"
"""A downloaded copy's hidden sheet: Status / Assignee / Notes as they were downloaded, by
follow-up id (what an upload compares the edited cells with)."""

GREY = PatternFill("solid", start_color="E7E6E6")
GREY_FONT = Font(color="7F7F7F")

FOLLOWUP_COLUMNS: list[Column] = [
    ("Follow-up ID", 9, None),
    ("Priority", 8, None),
    ("Status", 11, None),
    ("Assignee", 14, None),
    ("Notes", 40, None),
    ("Reason", 40, None),
    ("Category", 16, None),
    ("Suggested action", 40, None),
    ("Payer", 12, None),
    ("Patient", 24, None),
    ("Member ID", 18, None),
    ("Claim #", 16, None),
    ("Service date", 11, DATE),
    ("Dates of service", 22, None),  # every appointment the follow-up stands for (issue 20)
    ("Evidence", 12, None),
    ("Item ID", 8, None),
    ("Opened", 16, STAMP),
    ("Updated", 16, STAMP),
]

NEWER_FAILURE: Column = ("Newer lookup", 40, None)
"""A lookup that failed after the answer shown in the row (the answer stays: issue 18)."""

WORKBOOK_ELIGIBILITY_COLUMNS: list[Column] = [
    *ELIGIBILITY_COLUMNS,
    ("Est. patient cost", 12, MONEY),
    ("Estimate basis", 40, None),
    NEWER_FAILURE,
]

WORKBOOK_CLAIM_COLUMNS: list[Column] = [*CLAIM_COLUMNS, NEWER_FAILURE]

REJECTED_COLUMNS: list[Column] = [
    ("Error ID", 8, None),
    ("File", 30, None),
    ("Row", 6, None),
    ("Column", 18, None),
    ("Reason", 70, None),
]

_STATUS_WORDS = {
    "open": "open",
    "new": "open",
    "reopened": "open",
    "in progress": "in progress",
    "inprogress": "in progress",
    "working": "in progress",
    "done": "done",
    "closed": "done",
    "resolved": "done",
    "complete": "done",
    "completed": "done",
}
_PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
_STATUS_RANK = {"open": 0, "in progress": 1, "done": 2}


class WorkbookUnreadable(Exception):
    """The file at the workbook path is not a readable specialists' workbook."""


@dataclass(frozen=True)
class WorkbookEdit:
    followup_id: int
    status: str | None  # one of FOLLOWUP_STATUSES, or None when empty or refused
    assignee: str | None
    notes: str | None
    problem: str | None = None
    """Why the row is refused (a status not in the list), in one sentence; None: fine."""
    row: int = field(default=0, compare=False)  # the sheet's row number, for messages


@dataclass(frozen=True)
class DownloadedCopy:
    """A copy made for download: links are console URLs only, the first sheet says where
    edits go back, and a hidden sheet keeps the values as downloaded."""

    upload_url: str
    made_for: str
    made_at_text: str  # local time, as a person reads it


@dataclass(frozen=True)
class WrittenWorkbook:
    path: Path  # where it was written
    locked_copy: bool  # the target was open or locked: a timestamped sibling was written


def status_problem(value: Any) -> tuple[str | None, str | None]:
    """A Status cell matched against the drop-down list: (status, None), (None, None) when
    empty, or (None, a sentence) when it is not one of the list. Spaces and capitals do not
    matter; other words ("closed", "resolved") are not guessed at."""
    if value is None:
        return None, None
    text = " ".join(str(value).split())
    if not text:
        return None, None
    for status in FOLLOWUP_STATUSES:
        if text.casefold() == status:
            return status, None
    shown = text if len(text) <= 40 else text[:40] + "…"
    return None, (
        f'the status "{shown}" is not one of the list ({", ".join(FOLLOWUP_STATUSES)}), '
        "so the row was left as it is"
    )


def normalize_status(value: Any) -> str | None:
    """A Status cell as one of FOLLOWUP_STATUSES, or None when empty or not understood."""
    if not isinstance(value, str):
        return None
    word = " ".join(value.replace("-", " ").replace("_", " ").split()).casefold()
    return _STATUS_WORDS.get(word)


# --- reading ------------------------------------------------------------------------------


_UNREADABLE = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    ValueError,
    IndexError,  # a shared string that is not there
    OSError,
    SyntaxError,  # a sheet that is not XML (ElementTree's ParseError is one)
)
"""What openpyxl raises for a file that is not a readable workbook, when opening it or (in
read-only mode) while reading its rows."""


@contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """``path`` opened to read its values row by row (openpyxl's read-only mode: the rows are
    parsed as they are read, never all held), closed afterwards; a file that is not a readable
    workbook, found on opening or while reading, raises WorkbookUnreadable."""
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except _UNREADABLE as exc:
        raise WorkbookUnreadable(f"{path.name} is not a readable workbook: {exc}") from exc
    try:
        yield wb
    except _UNREADABLE as exc:
        raise WorkbookUnreadable(f"{path.name} is not a readable workbook: {exc}") from exc
    finally:
        wb.close()


def _sheet(wb: Any, title: str) -> Any:
    """A sheet to read to its last row, whatever size the file says it has (some programs
    write none, or a wrong one)."""
    ws = wb[title]
    ws.reset_dimensions()
    return ws


def read_edits(path: Path) -> dict[int, WorkbookEdit]:
    """The Status / Assignee / Notes cells of the Follow-ups sheet, by follow-up id.

    Columns are found by their header text, so reordered or added columns are fine. A
    missing file gives {}; a row whose id is not an integer is skipped (the first row wins
    if an id appears twice); status text that is not understood gives status None (keep the
    store's). A status not in the drop-down list gives status None and a ``problem``: the
    caller refuses that row. A file that is not this workbook, is corrupt, or lost one of
    the Follow-up ID / Status / Assignee / Notes columns raises WorkbookUnreadable: reading
    it as "all cleared" would wipe the specialists' work. The rows are read one at a time.
    """
    if not path.exists():
        return {}
    with _opened(path) as wb:
        if FOLLOWUPS_SHEET not in wb.sheetnames:
            raise WorkbookUnreadable(f"{path.name} has no {FOLLOWUPS_SHEET!r} sheet")
        ws = _sheet(wb, FOLLOWUPS_SHEET)
        header_row, cols = _find_header(ws)
        if header_row is None:
            raise WorkbookUnreadable(
                f"{path.name}: the {FOLLOWUPS_SHEET!r} sheet has no 'Follow-up ID' header"
            )
        missing = [h for h in ("status", "assignee", "notes") if h not in cols]
        if missing:
            raise WorkbookUnreadable(
                f"{path.name}: the {FOLLOWUPS_SHEET!r} sheet lost its "
                + ", ".join(m.title() for m in missing)
                + " column"
            )
        edits: dict[int, WorkbookEdit] = {}
        rows = ws.iter_rows(min_row=header_row + 1, values_only=True)
        for number, row in enumerate(rows, start=header_row + 1):
            followup_id = _as_id(_at(row, cols["follow-up id"]))
            if followup_id is None or followup_id in edits:
                continue
            status, problem = status_problem(_at(row, cols["status"]))
            edits[followup_id] = WorkbookEdit(
                followup_id=followup_id,
                status=status,
                assignee=_text(_at(row, cols["assignee"])),
                notes=_text(_at(row, cols["notes"])),
                problem=problem,
                row=number,
            )
        return edits


def read_baseline(path: Path) -> dict[int, WorkbookEdit] | None:
    """A downloaded copy's values as downloaded, by follow-up id; None for a file that is
    not a downloaded copy (the rolling workbook: its last write is in the store). The rows
    are read one at a time."""
    with _opened(path) as wb:
        if BASELINE_SHEET not in wb.sheetnames:
            return None
        baseline = {}
        for row in _sheet(wb, BASELINE_SHEET).iter_rows(min_row=2, values_only=True):
            followup_id = _as_id(_at(row, 0))
            if followup_id is not None:
                baseline[followup_id] = WorkbookEdit(
                    followup_id, _text(_at(row, 1)), _text(_at(row, 2)), _text(_at(row, 3))
                )
        return baseline


def _find_header(ws: Worksheet) -> tuple[int | None, dict[str, int]]:
    """The header row (within the first few rows) and its columns by lower-cased title."""
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=5, values_only=True), start=1):
        cols: dict[str, int] = {}
        for i, value in enumerate(row):
            if isinstance(value, str):
                cols.setdefault(" ".join(value.split()).casefold(), i)
        if "follow-up id" in cols:
            return r, cols
    return None, {}


def _at(row: tuple[Any, ...], index: int) -> Any:
    return row[index] if index < len(row) else None


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


# --- writing ------------------------------------------------------------------------------


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Rows(Protocol[T_co]):
    """A sheet's data rows: how many there are (the sheet's size is written before them)
    and the rows, iterated once. A list is one; :class:`Streamed` makes them as written."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[T_co]: ...


@dataclass(frozen=True)
class Streamed(Generic[T]):
    """``count`` rows that ``make`` yields when the sheet is written (from the store, page
    by page): the day's rows are never all in memory."""

    count: int
    make: Callable[[], Iterator[T]]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[T]:
        return self.make()


@dataclass(frozen=True, slots=True)
class EligibilityLine:
    """A row of the Eligibility sheet: the lookup's outcome and the patient's estimated
    cost (bots/followups/estimates.py; None when there is none)."""

    outcome: Outcome
    estimate: Decimal | None = None
    estimate_note: str | None = None


def write_specialist_workbook(
    path: Path,
    followups: Sequence[FollowUp],
    eligibility: Rows[EligibilityLine],
    claims: Rows[Outcome],
    rejected: Sequence[RejectedRow],
    *,
    high_patient_cost: Decimal = Decimal("500"),
    now: datetime | None = None,
    links: EvidenceLinks | None = None,
    waiting: Mapping[int, Waiting] | None = None,
    download: DownloadedCopy | None = None,
    timezone: str = "UTC",
) -> WrittenWorkbook:
    """Write the specialists' workbook to ``path``, or next to it when ``path`` is open.

    Read the specialists' edits with :func:`read_edits` and merge them into ``followups``
    before calling this: the file is rewritten from the rows given. Times are written as
    the practice's local time in ``timezone`` (Excel has no time zones; the store keeps
    UTC). ``now`` (default: local time) names the timestamped copy.

    Evidence links are console URLs (``links``); the local copy also has the path relative
    to the workbook ("Evidence (local file)", and the link itself when there is no console
    URL). ``waiting`` gives the items without an answer yet their reason (item id -> why).
    A ``download`` copy has console links only, says first where edits go back, and keeps
    the values as downloaded in a hidden sheet.
    """
    with in_time_zone(timezone):
        return _write(
            path,
            followups,
            eligibility,
            claims,
            rejected,
            high_patient_cost,
            now,
            links,
            waiting,
            download,
        )


def _write(
    path: Path,
    followups: Sequence[FollowUp],
    eligibility: Rows[EligibilityLine],
    claims: Rows[Outcome],
    rejected: Sequence[RejectedRow],
    high_patient_cost: Decimal,
    now: datetime | None,
    links: EvidenceLinks | None,
    waiting: Mapping[int, Waiting] | None,
    download: DownloadedCopy | None,
) -> WrittenWorkbook:
    wb = new_workbook()  # row by row: the day's rows are never all in memory as cells
    book = _Book(path, links, waiting or {}, download)
    try:
        if download is not None:
            _about_sheet(wb.create_sheet(ABOUT_SHEET), download)
        _followups_sheet(wb.create_sheet(FOLLOWUPS_SHEET), book, followups)
        _eligibility_sheet(wb.create_sheet(ELIGIBILITY_SHEET), book, eligibility, high_patient_cost)
        _claims_sheet(wb.create_sheet(CLAIMS_SHEET), book, claims)
        _rejected_sheet(wb.create_sheet(REJECTED_SHEET), rejected)
        if download is not None:
            _baseline_sheet(wb.create_sheet(BASELINE_SHEET), followups)
            wb.active = 0
    except BaseException:
        discard(wb)
        raise
    return _save(wb, path, now or datetime.now().astimezone())


@dataclass(frozen=True)
class _Book:
    """What every sheet's rows need: where the file goes and how it links."""

    path: Path
    links: EvidenceLinks | None
    waiting: Mapping[int, Waiting]
    download: DownloadedCopy | None

    def links_for(self, evidence: str | None) -> tuple[str | None, str | None]:
        """(the Evidence link, the local file's link: None in a downloaded copy)."""
        url = self.links.url(evidence) if self.links else None
        if self.download is not None:
            return url, None
        local = local_link(evidence, self.path)
        return url or local, local

    def columns(self, columns: list[Column]) -> list[Column]:
        return columns if self.download is not None else [*columns, LOCAL_EVIDENCE]

    def local_cells(self, local: str | None) -> list[Any]:
        return [] if self.download is not None else [local]


def _about_sheet(ws: Worksheet, download: DownloadedCopy) -> None:
    lines = [
        "This is a downloaded copy of the specialists' workbook.",
        f"Made for {download.made_for} on {download.made_at_text}.",
        "",
        "Your changes to Status, Assignee and Notes on the Follow-ups sheet come back when you "
        "upload this file on the console:",
        download.upload_url,
        "or with: payerbot workbook import FILE",
        "",
        f"Status must be one of the list ({', '.join(FOLLOWUP_STATUSES)}); Assignee must be a "
        "console user. A row that is not is refused (the upload names it); nothing else is "
        "changed.",
        "Every other column is read-only: the next run rewrites it from the portals' answers.",
        "If someone changed the same follow-up since this copy was made, their change is kept.",
    ]
    sized(ws, 1, len(lines))
    print_ready(ws, [("About", 110, None)])
    for row, text in enumerate(lines, start=1):
        cell = typed_cell(ws, text, None)
        if row == 1:
            cell.font = Font(bold=True, size=13)
        elif row == 5:
            cell.hyperlink = download.upload_url
            cell.font = LINK_FONT
        ws.append([cell])


def _baseline_sheet(ws: Worksheet, followups: Sequence[FollowUp]) -> None:
    sized(ws, 4, len(followups) + 1)
    ws.append([WriteOnlyCell(ws, t) for t in ("Follow-up ID", "Status", "Assignee", "Notes")])
    for f in followups:
        ws.append([_put(ws, value, None) for value in (f.id, f.status, f.assignee, f.notes)])
    ws.sheet_state = "veryHidden"  # not for people: what the upload compares with


def _followups_sheet(ws: Worksheet, book: _Book, followups: Sequence[FollowUp]) -> None:
    def order(f: FollowUp) -> tuple[int, int, int]:
        status = normalize_status(f.status) or "open"
        return (
            _STATUS_RANK.get(status, 0),
            _PRIORITY_RANK.get(str(f.priority or "").casefold(), 3),
            int(f.id),
        )

    def rows() -> Iterator[RowCells]:
        for f in sorted(followups, key=order):
            link, local = book.links_for(f.evidence_path)
            cells = [
                f.id,
                f.priority,
                f.status,
                f.assignee,
                f.notes,
                with_descriptions(f.reason),  # "CO-16: <description>", never a bare code
                category_words(f.category) or None,
                f.action,
                f.payer_id,
                f.patient or NO_NAME,
                f.member_id,
                f.claim_number,
                f.service_date,
                ", ".join(f"{d:%m/%d/%Y}" for d in f.service_dates or [f.service_date] if d)
                or None,
                None,
                f.item_id,
                f.created_at,
                f.updated_at,
                *book.local_cells(local),
            ]
            yield cells, None, link

    columns = book.columns(FOLLOWUP_COLUMNS)
    last = _fill(ws, columns, rows(), len(followups))
    data = _data_range(columns, last)
    priority = _letter(columns, "Priority")
    status = _letter(columns, "Status")
    if book.download is not None:
        ws.oddHeader.center.text = f"Downloaded copy: edits go back at {book.download.upload_url}"

    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(FOLLOWUP_STATUSES) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="Status",
        error="Pick one of: " + ", ".join(FOLLOWUP_STATUSES) + ".",
        showInputMessage=True,
        promptTitle="Status",
        prompt=", ".join(FOLLOWUP_STATUSES),
    )
    dv.add(f"{status}2:{status}{max(last, 2)}")
    ws.data_validations.append(dv)  # Worksheet.add_data_validation, which write-only lacks
    # first rule wins: a done row is grey even when it was high priority; only a high one
    # nobody has taken yet is red (a row being worked needs no alarm)
    ws.conditional_formatting.add(
        data,
        FormulaRule(
            formula=[f'TRIM(${status}2)="done"'], fill=GREY, font=GREY_FONT, stopIfTrue=True
        ),
    )
    ws.conditional_formatting.add(
        data,
        FormulaRule(
            formula=[f'AND(TRIM(${priority}2)="high",TRIM(${status}2)="open")'],
            fill=RED,
            stopIfTrue=True,
        ),
    )


def _eligibility_sheet(
    ws: Worksheet, book: _Book, lines: Rows[EligibilityLine], high_patient_cost: Decimal
) -> None:
    def rows() -> Iterator[RowCells]:
        for line in lines:
            link, local = book.links_for(line.outcome.evidence_path)
            cells, fill = eligibility_row(line.outcome, link)
            why = book.waiting.get(line.outcome.id)
            fill = waiting_cells(cells, fill, ELIGIBILITY_COLUMNS, why)
            newer = _newer_failure(line.outcome)
            cells += [line.estimate, line.estimate_note, newer, *book.local_cells(local)]
            yield cells, fill, link

    columns = book.columns(WORKBOOK_ELIGIBILITY_COLUMNS)
    last = _fill(ws, columns, rows(), len(lines))
    coverage = _letter(columns, "Coverage")
    cost = _letter(columns, "Est. patient cost")
    # the cost cell is amber even on an inactive (red) row
    ws.conditional_formatting.add(
        f"{cost}2:{cost}{max(last, 2)}",
        FormulaRule(
            formula=[f"AND(ISNUMBER(${cost}2),${cost}2>={format(high_patient_cost, 'f')})"],
            fill=AMBER,
        ),
    )
    ws.conditional_formatting.add(
        _data_range(columns, last),
        FormulaRule(formula=[f'${coverage}2="Inactive"'], fill=RED),
    )


def _newer_failure(item: Outcome) -> str | None:
    """The row's note when a lookup failed after the answer the row shows (local times,
    like every time in the workbook)."""
    failure = item.newer_failure
    if failure is None or item.last_good is None:
        return None
    return (
        f"A newer lookup on {local_datetime_text(failure.at, TIME_ZONE.get())} failed: "
        f"{failure.words}; the answer shown is from "
        f"{local_datetime_text(item.last_good.checked_at, TIME_ZONE.get())}"
    )


def _claims_sheet(ws: Worksheet, book: _Book, items: Rows[Outcome]) -> None:
    def rows() -> Iterator[RowCells]:
        for item in items:
            link, local = book.links_for(item.evidence_path)
            cells, fill = claim_row(item, link)
            fill = waiting_cells(cells, fill, CLAIM_COLUMNS, book.waiting.get(item.id))
            yield [*cells, _newer_failure(item), *book.local_cells(local)], fill, link

    columns = book.columns(WORKBOOK_CLAIM_COLUMNS)
    last = _fill(ws, columns, rows(), len(items))
    category = _letter(columns, "Category")  # the 277 category code: F2, F4...
    ws.conditional_formatting.add(
        _data_range(columns, last),
        FormulaRule(formula=[f'OR(${category}2="F2",${category}2="F4")'], fill=RED),
    )


def _rejected_sheet(ws: Worksheet, rejected: Sequence[RejectedRow]) -> None:
    _fill(
        ws,
        REJECTED_COLUMNS,
        (([e.id, e.source_file, e.source_row, e.column, e.reason], None, None) for e in rejected),
        len(rejected),
    )


def _fill(ws: Worksheet, columns: list[Column], rows: Iterable[RowCells], count: int) -> int:
    """Header, cells, links, frozen header and filter; returns the last row written. Only a
    sheet with an Outcome column fills it."""
    titles = [c[0] for c in columns]
    outcome = titles.index("Outcome") + 1 if "Outcome" in titles else None
    return fill_sheet(ws, columns, rows, count, outcome_fill_col=outcome)


def _put(ws: Worksheet, value: Any, fmt: str | None) -> Cell | None:
    return None if value is None else typed_cell(ws, value, fmt)


def _letter(columns: list[Column], title: str) -> str:
    return str(get_column_letter([c[0] for c in columns].index(title) + 1))


def _data_range(columns: list[Column], last: int) -> str:
    return f"A2:{get_column_letter(len(columns))}{max(last, 2)}"


# --- saving -------------------------------------------------------------------------------


def lock_files(path: Path) -> list[Path]:
    """The lock files an office suite keeps next to ``path`` while it is open."""
    return [
        path.with_name(f"~${path.name}"),  # Excel
        path.with_name(f".~lock.{path.name}#"),  # LibreOffice
    ]


def is_locked(path: Path) -> bool:
    return any(p.exists() for p in lock_files(path))


def timestamped(path: Path, now: datetime) -> Path:
    base = f"{path.stem}-{now:%Y%m%d-%H%M%S}"
    candidate = path.with_name(f"{base}{path.suffix}")
    i = 2
    while candidate.exists() or is_locked(candidate):
        candidate = path.with_name(f"{base}-{i}{path.suffix}")
        i += 1
    return candidate


def _save(wb: Workbook, path: Path, now: datetime) -> WrittenWorkbook:
    try:
        if not path.parent.exists():
            private_dir(path.parent)  # a folder we create is owner-only; an existing one is left
        fd, tmp = tempfile.mkstemp(prefix=".~payerbot-", suffix=path.suffix, dir=path.parent)
    except BaseException:
        discard(wb)
        raise
    os.close(fd)
    try:
        save(wb, tmp)
        os.chmod(tmp, 0o600)
        if not is_locked(path):
            try:
                os.replace(tmp, path)
                return WrittenWorkbook(path=path, locked_copy=False)
            except PermissionError:  # open in Excel on Windows / an SMB share
                pass
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ETXTBSY):
                    raise
        copy = timestamped(path, now)
        os.replace(tmp, copy)
        return WrittenWorkbook(path=copy, locked_copy=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
