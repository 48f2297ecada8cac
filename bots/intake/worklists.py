"""Worklist import: CSV or XLSX exports into validated lookups, bad rows reported, none lost.

A row either becomes a query or a ``RowError`` naming the file, the row number as the
user sees it (the file's line, or the sheet's row: ``bots.intake.tables``), the column and
the reason. The header row is found among the first rows (a report's title lines above it
are skipped). The value itself is never echoed: it may be PHI; headers are quoted only when
they read as headers. An import never raises on bad rows.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bots.dates import (
    DateRole,
    birth_date_problem,
    local_today,
    service_date_problem,
)
from bots.dates import parse_date as parse_any_date
from bots.errors import ConfigurationError
from bots.files import private_dir
from bots.intake.headers import REQUIRED, find_header
from bots.intake.tables import UnreadableTable, read_table
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind, plain_problems
from bots.settings import Settings

MONEY_FIELDS = {"expected_charge", "billed", "expected_paid"}


@dataclass(frozen=True)
class RowError:
    """One bad row: where it is and what is wrong, without the value."""

    source_file: str
    source_row: int
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_file": self.source_file,
            "source_row": self.source_row,
            "column": self.column,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class WorklistRow:
    source_row: int
    query: EligibilityQuery | ClaimStatusQuery


@dataclass
class ImportReport:
    """Good rows ready to queue and bad rows to show the user."""

    source_file: str
    preset: str | None
    kind: LookupKind
    rows: list[WorklistRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0
    problem: str | None = None
    """Why the file as a whole cannot be used (one sentence), or None."""

    def why_nothing_runs(self) -> str | None:
        """One sentence when no row of the file can be looked up, else None."""
        if self.rows:
            return None
        if self.problem:
            return f"{self.source_file}: {self.problem}"
        first = self.errors[0] if self.errors else None
        where = (
            f"; first: row {first.source_row}"
            f"{f' column {first.column}' if first.column else ''}: {first.reason}"
            if first
            else ""
        )
        rejected = len({e.source_row for e in self.errors})
        return (
            f"{self.source_file}: every row was rejected ({rejected} of {self.total_rows}{where})"
        )


DATE_ROLES = {
    "dob": DateRole.BIRTH,
    "date_of_service": DateRole.SERVICE,
    "dos_from": DateRole.SERVICE,
    "dos_to": DateRole.SERVICE,
}


def parse_date(text: str, role: DateRole, today: date) -> date:
    """A worklist cell as a date (bots.dates rules; Excel serial day numbers too)."""
    return parse_any_date(text, role, today, spreadsheet_serials=True)


def date_problem(fld: str, value: date, settings: Settings, today: date) -> str | None:
    """Why a parsed worklist date cannot be right: a birth after today, a visit too far off."""
    if DATE_ROLES[fld] is DateRole.BIRTH:
        return birth_date_problem(value, today)
    return service_date_problem(
        value,
        today,
        days_back=settings.worklists.service_days_back,
        days_ahead=settings.worklists.service_days_ahead,
    )


def parse_money(text: str) -> Decimal:
    cleaned = text.strip().replace("$", "").replace(",", "")
    if cleaned.startswith("(") and cleaned.endswith(")"):
        cleaned = "-" + cleaned[1:-1]
    try:
        return Decimal(cleaned).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError("not an amount") from None


class PayerDirectory:
    """Maps the payer names worklists use onto configured payer ids."""

    def __init__(self, settings: Settings) -> None:
        self._names: dict[str, str] = {}
        for payer_id, payer in settings.payers.items():
            for name in (payer_id, payer.name, *payer.aliases):
                self._names[_payer_key(name)] = payer_id

    def resolve(self, text: str) -> str | None:
        return self._names.get(_payer_key(text))


def _payer_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def import_worklist(
    path: Path, settings: Settings, kind: LookupKind | None = None, *, today: date | None = None
) -> ImportReport:
    """Read and validate a worklist file; never raises on its content.

    ``today`` (default: the practice's date in ``settings.timezone``) resolves two-digit years
    and bounds the plausible dates of service.

    A file that cannot be used (unreadable, empty, no header row, a required column missing,
    headers and no rows) comes back as a report whose ``problem`` says why in one sentence,
    also listed as a file-level error, and no rows. Only a path that is not a file raises.
    """
    if not path.is_file():
        raise ConfigurationError(f"worklist not found: {path}")
    try:
        table = read_table(path)
        match = find_header([cells for _, cells in table.rows], settings.worklists.presets, kind)
    except (ConfigurationError, UnreadableTable) as exc:
        return _refused(path, kind, str(exc), 1)
    except (ValueError, OSError, csv.Error, zipfile.BadZipFile, KeyError):
        return _refused(path, kind, "the file is not a readable CSV or XLSX", 1)
    preset_kind = LookupKind(settings.worklists.presets[match.preset].kind)
    body = table.rows[match.index + 1 :]
    report = ImportReport(
        source_file=path.name, preset=match.preset, kind=preset_kind, total_rows=len(body)
    )
    if not body:
        header_row = table.rows[match.index][0]
        report.problem = "the file has column headers but no rows below them"
        report.errors.append(RowError(path.name, header_row, None, report.problem))
        return report
    payers = PayerDirectory(settings)
    today = today or local_today(settings.timezone)
    seen: dict[str, int] = {}
    for row_number, cells in body:
        formulas = {f for f, i in match.columns.items() if (row_number, i) in table.formulas}
        try:
            _import_row(
                report,
                cells,
                match.columns,
                preset_kind,
                payers,
                settings,
                row_number,
                seen,
                today,
                formulas,
            )
        except Exception:  # one strange row must not cost the others
            report.errors.append(RowError(path.name, row_number, None, "the row could not be read"))
    return report


def _refused(path: Path, kind: LookupKind | None, reason: str, row: int) -> ImportReport:
    report = ImportReport(path.name, None, kind or LookupKind.ELIGIBILITY, problem=reason)
    report.errors.append(RowError(path.name, row, None, reason))
    return report


FORMULA_REASON = (
    "the cell holds a formula with no saved value (open the file in Excel and save it, "
    "or paste the values)"
)


def _import_row(
    report: ImportReport,
    cells: list[str],
    columns: dict[str, int],
    kind: LookupKind,
    payers: PayerDirectory,
    settings: Settings,
    row_number: int,
    seen: dict[str, int],
    today: date,
    formulas: Collection[str] = (),
) -> None:
    values = {f: cells[i].strip() if i < len(cells) else "" for f, i in columns.items()}
    problems: list[tuple[str | None, str]] = [(f, FORMULA_REASON) for f in formulas]
    problems += [
        p for p in _row_problems(values, kind, payers, settings, today) if p[0] not in formulas
    ]
    for column, reason in problems:
        report.errors.append(RowError(report.source_file, row_number, column, reason))
    if problems:
        return
    query = _build_query(values, kind, payers, settings, report, row_number, today)
    if query is None:
        return
    reference = query.reference()
    if reference in seen:
        report.errors.append(
            RowError(
                report.source_file,
                row_number,
                None,
                f"duplicate of row {seen[reference]}: same question asked twice",
            )
        )
        return
    seen[reference] = row_number
    report.rows.append(WorklistRow(row_number, query))


def write_import_report(report: ImportReport, path: Path) -> Path:
    """The JSON report of an import: counts and every rejected row (no values)."""
    private_dir(path.parent)
    path.write_text(
        json.dumps(
            {
                "source_file": report.source_file,
                "preset": report.preset,
                "kind": report.kind.value,
                "rows": report.total_rows,
                "problem": report.problem,
                "accepted": len(report.rows),
                "rejected": len({e.source_row for e in report.errors}),
                "errors": [e.as_dict() for e in report.errors],
            },
            indent=1,
        )
    )
    path.chmod(0o600)
    return path


def _row_problems(
    values: dict[str, str],
    kind: LookupKind,
    payers: PayerDirectory,
    settings: Settings,
    today: date,
) -> Iterator[tuple[str | None, str]]:
    for fld in REQUIRED[kind]:
        if not values.get(fld):
            yield fld, "required value is empty"
    payer_text = values.get("payer", "")
    if payer_text and payers.resolve(payer_text) is None:
        yield "payer", "unknown payer name (add it to the payer's aliases in config/portals.toml)"
    for fld in DATE_ROLES.keys() & values.keys():
        if values[fld]:
            try:
                value = parse_date(values[fld], DATE_ROLES[fld], today)
            except ValueError as exc:
                yield fld, str(exc)
                continue
            problem = date_problem(fld, value, settings, today)
            if problem is not None:
                yield fld, problem
    for fld in MONEY_FIELDS & values.keys():
        if values[fld]:
            try:
                parse_money(values[fld])
            except ValueError as exc:
                yield fld, str(exc)


def _build_query(
    values: dict[str, str],
    kind: LookupKind,
    payers: PayerDirectory,
    settings: Settings,
    report: ImportReport,
    row_number: int,
    today: date,
) -> EligibilityQuery | ClaimStatusQuery | None:
    data: dict[str, Any] = {}
    for fld, text in values.items():
        if not text:
            continue
        if fld == "payer":
            data["payer_id"] = payers.resolve(text)
        elif fld in DATE_ROLES:
            data[fld] = parse_date(text, DATE_ROLES[fld], today)
        elif fld in MONEY_FIELDS:
            data[fld] = parse_money(text)
        elif fld == "member_id":
            data[fld] = re.sub(r"\s+", "", text).upper()
        elif fld in {"first_name", "last_name"}:
            data[fld] = " ".join(text.split()).upper()
        elif fld == "visit_type":  # the practice's visit names map to X12 service types
            service = settings.worklists.service_type_for(text)
            if service is not None and "service_type" not in values:
                data["service_type"] = service
        else:
            data[fld] = text
    model: type[EligibilityQuery | ClaimStatusQuery]
    model = EligibilityQuery if kind == LookupKind.ELIGIBILITY else ClaimStatusQuery
    try:
        return model(**data)
    except ValidationError as exc:  # the question's shape (bots/models.py), in plain words
        for column, reason in plain_problems(exc):
            report.errors.append(RowError(report.source_file, row_number, column, reason))
        return None
