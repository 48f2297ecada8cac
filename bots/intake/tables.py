"""Worklist files as rows of text, each with the row number a person sees in the file.

CSV: UTF-8 (+/- BOM), UTF-16 with a BOM, or Windows-1252; comma, semicolon or tab; any line
ending (CRLF, LF, CR-only). A row's number is the line it starts on, blank lines and
multi-line quoted fields counted as an editor counts them. XLSX: the sheet's row numbers,
and the cells holding a formula Excel never calculated (no saved value) are reported as such.
Content decides over the name: a workbook renamed ``.csv`` is read as a workbook; a binary
file is refused in one sentence, its bytes never echoed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls (and other Office binary files)
_CONTROL = set(range(1, 9)) | {11} | set(range(14, 27)) | set(range(28, 32))
"""Bytes no text export holds (tab, line ends, form feed, Ctrl-Z and ESC are allowed)."""


class UnreadableTable(ValueError):
    """The file is not a table this import can read; the message is one sentence for people."""


@dataclass
class Table:
    """Non-blank rows as (row number as a person sees it, cells)."""

    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    formulas: set[tuple[int, int]] = field(default_factory=set)
    """(row number, column index) of formula cells without a saved value (XLSX only)."""


def read_table(path: Path) -> Table:
    """The file's rows; raises ``UnreadableTable`` (one plain sentence) when it has none."""
    raw = path.read_bytes()
    if not raw.strip():
        raise UnreadableTable("the file is empty")
    if raw.startswith(ZIP_MAGIC):
        return _read_xlsx(raw)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise UnreadableTable("the file is named like an Excel workbook but is not one")
    if raw.startswith(OLE_MAGIC):
        raise UnreadableTable(
            "the file is an old Excel (.xls) workbook: save it as .xlsx or CSV and drop it again"
        )
    return _read_csv(raw)


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if _looks_binary(raw):
        raise UnreadableTable(
            "the file is not a readable CSV or XLSX: it holds binary data, not text"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return text.replace("\x00", "")  # NULs (UTF-16 without a BOM) carry no data


def _looks_binary(raw: bytes) -> bool:
    head = raw[:8192]
    return sum(b in _CONTROL for b in head) > max(2, len(head) // 50)


def _read_csv(raw: bytes) -> Table:
    text = re.sub(r"\r\n?", "\n", _decode(raw))  # CR-only (old Mac exports) reads like LF
    csv.field_size_limit(64 * 1024 * 1024)  # a huge cell is a bad row, not an unreadable file
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    table = Table()
    start = 1
    for cells in reader:
        if any(c.strip() for c in cells):
            table.rows.append((start, cells))
        start = reader.line_num + 1
    if not table.rows:
        raise UnreadableTable("the file is empty")
    return table


def _read_xlsx(raw: bytes) -> Table:
    from openpyxl import load_workbook

    table = Table()
    try:  # from bytes: whatever the file's name says (a workbook renamed .csv)
        values = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        formulas = load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    except Exception as exc:  # a damaged zip fails in many ways; none is the user's to read
        raise UnreadableTable("the file is not a readable Excel workbook") from exc
    try:
        if not values.worksheets:
            raise UnreadableTable("the workbook has no sheet")
        sheet, written = values.worksheets[0], formulas.worksheets[0]
        for row_values, row_written in zip(
            sheet.iter_rows(), written.iter_rows(values_only=True), strict=False
        ):
            number = next((c.row for c in row_values if getattr(c, "row", None)), None)
            cells = ["" if c.value is None else _cell_text(c.value) for c in row_values]
            if number is None or not any(c.strip() for c in cells + _texts(row_written)):
                continue
            for col, (text, formula) in enumerate(zip(cells, row_written, strict=False)):
                if not text and _is_formula(formula):
                    table.formulas.add((number, col))
            table.rows.append((number, cells + [""] * (len(row_written) - len(cells))))
    finally:
        values.close()
        formulas.close()
    if not table.rows:
        raise UnreadableTable("the workbook's first sheet is empty")
    return table


def _texts(row: tuple[Any, ...]) -> list[str]:
    return ["" if v is None else str(v) for v in row]


def _is_formula(value: object) -> bool:
    return (isinstance(value, str) and value.startswith("=")) or type(value).__name__ in {
        "ArrayFormula",
        "DataTableFormula",
    }


def _cell_text(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
