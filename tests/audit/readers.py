"""Reading the surfaces as a person (or an integrator) reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.audit.columns import Col
from tests.audit.tally import Tally, same


def read_sheets(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every sheet of a workbook: its rows as {header: value} (header row 1)."""
    wb = load_workbook(path, data_only=True)
    try:
        sheets: dict[str, list[dict[str, Any]]] = {}
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            if not rows:
                sheets[ws.title] = []
                continue
            headers = [str(h) if h is not None else "" for h in rows[0]]
            sheets[ws.title] = [
                {h: v for h, v in zip(headers, r, strict=False) if h}
                for r in rows[1:]
                if any(v is not None for v in r)
            ]
        return sheets
    finally:
        wb.close()


def headers_of(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else []


def locate(headers: list[str], columns: dict[str, Col]) -> dict[str, list[str]]:
    """Field -> the headers that carry it (several only for ``many`` fields)."""
    found: dict[str, list[str]] = {}
    for name, col in columns.items():
        hits = [h for h in headers if col.matches(h)]
        found[name] = hits if col.many else hits[:1]
    return found


def compare_row(
    tally: Tally,
    surface: str,
    where: str,
    expected: dict[str, Any],
    row: dict[str, Any],
    located: dict[str, list[str]],
) -> None:
    """Each expected field of a sheet row: a missing column counts against every row."""
    for name, want in expected.items():
        headers = located.get(name) or []
        if not headers:
            tally.check(surface, f"{name} (no column)", where, False)
            continue
        if isinstance(want, list):  # each value must be shown in one of the columns
            for value in want:
                tally.check(surface, name, where, any(same(value, row.get(h)) for h in headers))
            continue
        tally.compare(surface, name, where, want, row.get(headers[0]))
