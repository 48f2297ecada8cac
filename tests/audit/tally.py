"""Counting differences per surface and field, and the table the audit fails with.

Cells are compared as a person reads them: money as cents, dates as days, text with its
spaces and case ignored, a blank as nothing at all ("—" too, never 0). The table names rows
by worklist row number and a short hash of the item's reference: never a value (PHI).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.audit.columns import BLANKS


@dataclass(frozen=True)
class Words:
    """Text containing one of these words (case ignored)."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class OneOf:
    """Any one of these expected values."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Ident:
    """An identifier: case, spaces and dashes ignored (how front desks type member IDs)."""

    value: str


def norm_ident(text: Any) -> str:
    return re.sub(r"[\s\-]", "", str(text)).upper()


@dataclass(frozen=True)
class Percent:
    """A percentage: "40%", "40", 40 or 0.4 formatted as a percent all read 40."""

    value: Decimal


def ref_hash(reference: str | None) -> str:
    return hashlib.sha256((reference or "").encode()).hexdigest()[:8]


def is_blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and cell.strip() in BLANKS)


def as_money(cell: Any) -> Decimal | None:
    if is_blank(cell) or isinstance(cell, bool):
        return None
    try:
        text = str(cell).replace("$", "").replace(",", "").strip()
        return Decimal(text).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def as_day(cell: Any) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if is_blank(cell):
        return None
    text = str(cell).strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def as_text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return " ".join(str(cell).split()).casefold()


def same(expected: Any, cell: Any) -> bool:
    """Does the cell show the expected value, as a person reads it?"""
    if isinstance(expected, OneOf):
        return any(same(v, cell) for v in expected.values)
    if expected is None:
        return is_blank(cell)
    if is_blank(cell):
        return False
    if isinstance(expected, Ident):
        return norm_ident(cell) == norm_ident(expected.value)
    if isinstance(expected, Words):
        text = as_text(cell)
        return any(w.casefold() in text for w in expected.words)
    if isinstance(expected, Percent):
        if isinstance(cell, (int, float)) and not isinstance(cell, bool):
            number = Decimal(str(cell))
            return number == expected.value or number * 100 == expected.value
        try:
            return Decimal(str(cell).replace("%", "").strip()) == expected.value
        except InvalidOperation:
            return False
    if isinstance(expected, bool):
        return cell is expected
    if isinstance(expected, Decimal):
        return as_money(cell) == expected
    if isinstance(expected, date):
        return as_day(cell) == expected
    return as_text(cell) == as_text(expected)


@dataclass
class Tally:
    """Checked and mismatched cells per (surface, field); rows named without PHI."""

    checked: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    wrong: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def check(self, surface: str, name: str, where: str, ok: bool) -> bool:
        self.checked[(surface, name)] += 1
        if not ok:
            self.wrong[(surface, name)].append(where)
        return ok

    def compare(self, surface: str, name: str, where: str, expected: Any, cell: Any) -> bool:
        return self.check(surface, name, where, same(expected, cell))

    def surfaces(self) -> set[str]:
        return {s for s, _ in self.checked}

    def mismatches(self, surface: str | None = None) -> int:
        return sum(len(v) for (s, _), v in self.wrong.items() if surface in (None, s))

    def table(self, surface: str | None = None, *, all_rows: bool = False) -> str:
        """surface | field | checked | mismatched | rows (``row N #hash``), worst first."""
        keys = [k for k in self.checked if surface in (None, k[0])]
        keys.sort(key=lambda k: (k[0], -len(self.wrong.get(k, [])), k[1]))
        lines = [f"{'surface':<22} {'field':<34} {'checked':>7} {'wrong':>6}  rows"]
        for key in keys:
            wrong = self.wrong.get(key, [])
            if not wrong and not all_rows:
                continue
            rows = list(dict.fromkeys(wrong))  # a row wrong in several cells is named once
            shown = ", ".join(rows[:6]) + (
                f", ... (+{len(rows) - 6} rows)" if len(rows) > 6 else ""
            )
            lines.append(
                f"{key[0]:<22} {key[1]:<34} {self.checked[key]:>7} {len(wrong):>6}  {shown}"
            )
        total = sum(self.checked[k] for k in keys)
        bad = sum(len(self.wrong.get(k, [])) for k in keys)
        pct = 100.0 * (total - bad) / total if total else 0.0
        lines.append(
            f"{bad} of {total} checked cells differ from the ground truth ({pct:.1f}% equal)"
        )
        return "\n".join(lines)
