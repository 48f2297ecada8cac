"""Small, portal-independent helpers flows use to read pages and portal formats.

Reading a whole panel in one ``evaluate`` round-trip keeps lookups fast; parsing the
portal's text formats (money, US dates, open-ended 12/31/9999) lives here once.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from playwright.async_api import Frame, Locator, Page

from bots.dates import DateRole as DateRole  # re-exported: flows import the flow kit only
from bots.dates import parse_date
from bots.errors import LayoutChanged

_READ_DL = """
(root) => {
  const out = {};
  for (const dt of root.querySelectorAll('dt')) {
    const dd = dt.nextElementSibling;
    if (dd && dd.tagName === 'DD') out[dt.innerText.trim()] = dd.innerText.trim();
  }
  return out;
}
"""

_READ_TABLES = """
(root) => Array.from(root.querySelectorAll('table')).map((table) => {
  let heading = '';
  const caption = table.querySelector('caption');
  if (caption) heading = caption.innerText.trim();
  else if (table.getAttribute('aria-label')) heading = table.getAttribute('aria-label');
  else {
    const section = table.closest('section');
    const h = section && section.querySelector('h1,h2,h3,h4');
    if (h) heading = h.innerText.trim();
  }
  const headers = Array.from(table.querySelectorAll('thead th')).map((th) => th.innerText.trim());
  const rows = Array.from(table.querySelectorAll('tbody tr')).map((tr) =>
    Array.from(tr.querySelectorAll('td')).map((td) => td.innerText.trim()));
  return {heading, headers, rows};
})
"""


async def read_definitions(root: Locator) -> dict[str, str]:
    """All <dt>/<dd> pairs under ``root`` as {label: text}."""
    result: dict[str, str] = await root.evaluate(_READ_DL)
    return result


async def read_tables(root: Locator) -> list[dict[str, Any]]:
    """Every table under ``root``: its heading (caption, aria-label or section heading),
    header cells and rows of cell texts."""
    result: list[dict[str, Any]] = await root.evaluate(_READ_TABLES)
    return result


def table_records(table: dict[str, Any]) -> list[dict[str, str]]:
    headers: list[str] = table["headers"]
    return [dict(zip(headers, row, strict=False)) for row in table["rows"]]


def require(fields: dict[str, str], label: str) -> str:
    """A field the flow cannot do without; its absence means the page changed."""
    if label not in fields:
        raise LayoutChanged(f"the result page has no {label!r} field")
    return fields[label]


def require_all(fields: dict[str, str], labels: tuple[str, ...], where: str) -> None:
    """Every label the flow reads must be on the page: a renamed one would read as empty."""
    missing = [label for label in labels if label not in fields]
    if missing:
        raise LayoutChanged(f"the {where} lacks {', '.join(repr(m) for m in missing)}")


def require_headers(table: dict[str, Any], headers: tuple[str, ...]) -> None:
    """A table's header row must be exactly what the flow knows, in any order."""
    if set(table["headers"]) - {""} != set(headers):
        raise LayoutChanged(f"the {table['heading'] or 'result'} table's columns changed")


def blank(text: str | None) -> bool:
    return text is None or text.strip() in {"", "—", "-", "–", "N/A", "n/a", "None"}


def money(text: str | None) -> Decimal | None:
    """'$1,234.50' -> Decimal('1234.50'); '(12.00)' -> -12.00; blank or dash -> None."""
    if blank(text):
        return None
    assert text is not None
    cleaned = text.strip().replace("$", "").replace(",", "")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    try:
        value = Decimal(cleaned.strip("()")).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise LayoutChanged("an amount on the page is not a number") from None
    return -value if negative else value


def number(text: str | None) -> Decimal | None:
    """'20%', '1', '2.5' -> Decimal as written; blank -> None."""
    if blank(text):
        return None
    assert text is not None
    try:
        return Decimal(text.strip().rstrip("%").strip().replace(",", ""))
    except InvalidOperation:
        raise LayoutChanged("a number on the page is not a number") from None


percent = number


OPEN_ENDED = {date(9999, 12, 31), date(2099, 12, 31)}


def us_date(
    text: str | None,
    *,
    open_ended_is_none: bool = False,
    role: DateRole | None = None,
    today: date | None = None,
) -> date | None:
    """'MM/DD/YYYY' (also ISO) -> date; 12/31/9999 (open-ended) -> None when asked.

    The one date parser (bots.dates). A two-digit year is read only when ``role`` says what
    the date is (a birth lies in the past, a service near ``today``); otherwise it is a
    layout change, never a guess. ``today`` defaults to the machine's date: the century of a
    two-digit year does not turn on which side of midnight the practice is.
    """
    if blank(text):
        return None
    assert text is not None
    try:
        value = parse_date(text, role, today or date.today())
    except ValueError:
        raise LayoutChanged("a date on the page is not in a known format") from None
    return None if open_ended_is_none and value in OPEN_ENDED else value


def birth_date(text: str | None) -> date | None:
    """A date of birth on a page (a two-digit year lies in the past)."""
    return us_date(text, role=DateRole.BIRTH)


def looks_like_date(text: str) -> bool:
    return re.fullmatch(r"\d{2}/\d{2}/\d{4}", text.strip()) is not None


def date_range(text: str) -> tuple[date, date]:
    """'06/01/2026 - 06/03/2026' or a single date -> (from, to)."""
    parts = [p for p in re.split(r"\s*[–—-]\s+|\s+to\s+", text.strip()) if p]
    first = us_date(parts[0], role=DateRole.SERVICE)
    last = us_date(parts[-1], role=DateRole.SERVICE)
    if first is None or last is None:
        raise LayoutChanged("service dates on the page are not in a known format")
    return first, last


def split_name(text: str) -> tuple[str, str]:
    """'LAST, FIRST' or 'First Last' -> (first, last), upper-cased."""
    if "," in text:
        last, first = (p.strip() for p in text.split(",", 1))
    else:
        first, _, last = text.strip().rpartition(" ")
    return first.upper(), last.upper()


# --- landmarks (the drift canary) ------------------------------------------------------------


class Landmark:
    """Something a portal page must show for a flow to work: a heading, a labelled field, a
    button, a link or a named region, found by its accessible role and name, exactly."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str) -> None:
        if kind not in {"heading", "label", "button", "link", "region"}:
            raise ValueError(f"unknown landmark kind {kind!r}")
        self.kind, self.name = kind, name

    def locate(self, root: Page | Frame | Locator) -> Locator:
        if self.kind == "label":
            return root.get_by_label(self.name, exact=True)
        return root.get_by_role(self.kind, name=self.name, exact=True)  # type: ignore[arg-type]  # kind is a role name Playwright lists as a Literal

    def __repr__(self) -> str:
        return f"{self.kind} {self.name!r}"


def landmarks(*specs: str) -> tuple[Landmark, ...]:
    """``landmarks("heading:Sign in", "label:Username")`` -> Landmarks."""
    return tuple(Landmark(*spec.split(":", 1)) for spec in specs)


async def missing_landmarks(
    root: Page | Frame | Locator, marks: tuple[Landmark, ...], where: str
) -> list[str]:
    """The landmarks the page lacks, as PHI-free descriptions ("login page: no label 'X'")."""
    return [f"{where}: no {mark!r}" for mark in marks if not await mark.locate(root).count()]
