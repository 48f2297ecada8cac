"""Small, portal-independent helpers flows use to read pages and portal formats.

Reading a whole panel in one ``evaluate`` round-trip keeps lookups fast; parsing the
portal's text formats (money, US dates, open-ended 12/31/9999) lives here once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

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

# The roles of the form controls a ``label:`` landmark names (by their accessible name).
_FIELD_ROLES = (
    "textbox",
    "searchbox",
    "combobox",
    "listbox",
    "spinbutton",
    "checkbox",
    "radio",
    "switch",
    "slider",
)
_ROLE_KINDS = ("heading", "button", "link", "region", "combobox", "textbox", "checkbox", "radio")
KINDS = ("label", *_ROLE_KINDS)


class Landmark:
    """Something a portal page must show for a flow to work, found by its accessible role and
    name, exactly (whole text, case-sensitive, spaces trimmed): "Member ID" never matches
    "Subscriber Member ID".

    Kinds (``kind:name`` in ``landmarks()``):

    - ``heading``, ``button``, ``link``, ``region``, ``combobox`` (a select), ``textbox``,
      ``checkbox``, ``radio``: an element of that ARIA role with that accessible name.
    - ``label``: a form field named so: by its ``<label>`` (for= or wrapping it; a select
      inside its label is named by the label's own words, not its options: Chromium's
      accessible name of ``<label>Month <select>...</select></label>`` is "Month"; text
      after a wrapped input is part of the name, "Year (four digits)"), ``aria-label``,
      ``aria-labelledby``, or as Chromium names a field without any (its placeholder, title).

    ``frame``: the landmark is inside the frame of that name (else the first frame whose URL
    path contains it); ``missing_landmarks`` reports the frame itself when it is missing.
    """

    __slots__ = ("frame", "kind", "name")

    def __init__(self, kind: str, name: str, frame: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(
                f"unknown landmark kind {kind!r}: use one of {', '.join(sorted(KINDS))}"
            )
        if not name.strip():
            raise ValueError(f"the {kind} landmark has no name")
        if frame is not None and not frame.strip():
            raise ValueError(f"the {kind} landmark {name!r} names an empty frame")
        self.kind, self.name, self.frame = kind, name, frame

    def locate(self, root: Page | Frame | Locator) -> Locator:
        """Where this landmark is inside ``root`` (its ``frame`` is for ``missing_landmarks``)."""
        if self.kind == "label":
            found = root.get_by_label(self.name, exact=True)
            for role in _FIELD_ROLES:
                found = found.or_(root.get_by_role(role, name=self.name, exact=True))  # type: ignore[arg-type]  # role names Playwright lists as a Literal
            return found
        return root.get_by_role(self.kind, name=self.name, exact=True)  # type: ignore[arg-type]  # kind is a role name Playwright lists as a Literal

    def __repr__(self) -> str:
        return f"{self.kind} {self.name!r}"


def landmarks(*specs: str, frame: str | None = None) -> tuple[Landmark, ...]:
    """``landmarks("heading:Sign in", "label:Username")`` -> Landmarks; ``frame="main"``:
    all of them inside the frame named ``main``."""
    marks = []
    for spec in specs:
        kind, colon, name = spec.partition(":")
        if not colon:
            raise ValueError(f"landmark {spec!r} is not written kind:name, as in 'label:Member ID'")
        marks.append(Landmark(kind.strip(), name, frame))
    return tuple(marks)


def _frames_under(root: Page | Frame | Locator) -> list[Frame]:
    """The frames a frame-scoped landmark may be in: a page's, a frame's own and its
    descendants', a locator's page's."""
    if isinstance(root, Frame):
        frames, todo = [], [root]
        while todo:
            frame = todo.pop(0)
            frames.append(frame)
            todo += frame.child_frames
        return frames
    return (root if isinstance(root, Page) else root.page).frames


def find_frame(root: Page | Frame | Locator, name: str) -> Frame | None:
    """The frame named ``name``, else the first whose URL path contains it (None: neither)."""
    frames = _frames_under(root)
    named = [f for f in frames if f.name == name]
    if named:
        return named[0]
    return next((f for f in frames if name in urlsplit(f.url).path), None)


async def missing_landmarks(
    root: Page | Frame | Locator, marks: tuple[Landmark, ...], where: str
) -> list[str]:
    """The landmarks the page lacks, as PHI-free descriptions ("login page: no label 'X'",
    "search page: no frame 'main'", "search page: no button 'Search' in frame 'main'").

    ``root``: a Page, a Frame or a Locator; a landmark with a ``frame`` is looked for in that
    frame among the page's frames (a Frame root: itself and the frames inside it).
    The landmarks of one root are asked for all at once (one locator count each, sent
    together), not one after another; the answer is the same."""
    scopes: dict[str, Frame | None] = {}
    checks: list[tuple[str, Locator | None]] = []  # in the flow's order; None: no frame
    for mark in marks:
        if mark.frame is None:
            checks.append((f"{where}: no {mark!r}", mark.locate(root)))
            continue
        if mark.frame not in scopes:
            scopes[mark.frame] = scope = find_frame(root, mark.frame)
            if scope is None:
                checks.append((f"{where}: no frame {mark.frame!r}", None))
        scope = scopes[mark.frame]
        if scope is not None:
            checks.append((f"{where}: no {mark!r} in frame {mark.frame!r}", mark.locate(scope)))
    counts = await asyncio.gather(
        *(found.count() for _, found in checks if found is not None), return_exceptions=True
    )
    for count in counts:
        if isinstance(count, BaseException):  # after all of them ended: none left unawaited
            raise count
    found_counts = iter(counts)
    return [message for message, found in checks if found is None or not next(found_counts)]
