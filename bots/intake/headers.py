"""The header row of a worklist: which row it is, which preset its columns fit, and why
not, said without echoing a row of data (a name, a date of birth, a member ID is PHI)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bots.errors import ConfigurationError
from bots.models import LookupKind
from bots.settings import WorklistPreset

REQUIRED: dict[str, tuple[str, ...]] = {
    LookupKind.ELIGIBILITY: ("payer", "member_id", "dob", "date_of_service"),
    LookupKind.CLAIM_STATUS: ("payer",),
}


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9#]", "", header.lower())


HEADER_SEARCH_ROWS = 10
"""The header row is looked for in this many first rows (a report's title lines above it)."""
FIELD_WORDS = {
    "payer": "payer",
    "member_id": "member ID",
    "dob": "date of birth",
    "date_of_service": "date of service",
    "claim_number": "claim number",
}
MAX_SHOWN = 30  # characters of one header quoted in a message
MAX_HEADERS_SHOWN = 20  # headers quoted in a message, at most


@dataclass(frozen=True)
class HeaderMatch:
    """The row the headers are on (index in the table) and the preset its columns fit."""

    index: int
    preset: str
    columns: dict[str, int]
    missing: tuple[str, ...]


def _preset_matches(
    headers: list[str], presets: dict[str, WorklistPreset], kind: LookupKind | None
) -> list[tuple[str, dict[str, int], tuple[str, ...]]]:
    keyed: dict[str, int] = {}
    for i, h in enumerate(headers):
        keyed.setdefault(_key(h), i)
    matches = []
    for name, preset in presets.items():
        if kind is not None and preset.kind != kind:
            continue
        found = {}
        for fld, names in preset.columns.items():
            for candidate in names:
                if _key(candidate) in keyed:
                    found[fld] = keyed[_key(candidate)]
                    break
        missing = tuple(f for f in REQUIRED[LookupKind(preset.kind)] if f not in found)
        matches.append((name, found, missing))
    return matches


def _best(
    matches: list[tuple[str, dict[str, int], tuple[str, ...]]],
) -> tuple[str, dict[str, int], tuple[str, ...]] | None:
    """The preset that fits: the complete one with most columns, unless an incomplete one
    fits clearly more of them (an appointments file without its DOB column is not a claims
    report: it is an appointments file missing a column)."""
    complete = [m for m in matches if not m[2]]
    best_complete = max(complete, key=lambda m: len(m[1]), default=None)
    best_any = max(matches, key=lambda m: len(m[1]), default=None)
    if best_any is None or not best_any[1]:
        return None
    if best_complete is not None and len(best_complete[1]) >= len(best_any[1]):
        return best_complete
    return best_any


def find_header(
    rows: list[list[str]], presets: dict[str, WorklistPreset], kind: LookupKind | None
) -> HeaderMatch:
    """The header row among the first rows: the one whose columns fit a preset best."""
    found: HeaderMatch | None = None
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        best = _best(_preset_matches([c.strip() for c in cells], presets, kind))
        if best is None:
            continue
        name, columns, missing = best
        if found is None or (len(columns), not missing) > (len(found.columns), not found.missing):
            found = HeaderMatch(index, name, columns, missing)
    if found is None:
        raise ConfigurationError(_no_header_reason(rows[0] if rows else []))
    if found.missing:
        preset = presets[found.preset]
        first = found.missing[0]
        raise ConfigurationError(
            f"the worklist has no {FIELD_WORDS.get(first, first)} column "
            f"(the {found.preset} preset looks for one of: "
            f"{', '.join(preset.columns.get(first, []))})"
        )
    return found


_DATE_LIKE = re.compile(r"\d{1,4}\s*[/.\-]\s*\d{1,2}\s*[/.\-]\s*\d{1,4}")


def looks_like_data(value: str) -> bool:
    """A value no column header would be: digits only, a date, an ID (3 or more digits, or
    one word of letters and digits)."""
    text = value.strip()
    return bool(
        _DATE_LIKE.search(text)
        or sum(c.isdigit() for c in text) >= 3
        or (text and re.fullmatch(r"[\d\s.,$()+\-]+", text))
        or re.fullmatch(r"(?=\S*[A-Za-z])(?=\S*\d)\S{5,}", text)
    )


def shown(value: str) -> str:
    """A header for a message: non-printable characters escaped, cut to ``MAX_SHOWN``."""
    text = "".join(
        c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        for c in value.strip()
    )
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _no_header_reason(first_row: list[str]) -> str:
    """Why no preset fits, quoting the first row only when it reads as headers (a row of
    data holds PHI: a name, a date of birth, a member ID)."""
    cells = [c for c in first_row if c.strip()]
    lead = "no worklist preset in config/worklists.toml matches"
    if not cells or any(looks_like_data(c) for c in cells):
        return (
            f"{lead} this file: the first row looks like data, not headers "
            "(add a row of column headers above it)"
        )
    quoted = [f'"{shown(c)}"' for c in cells[:MAX_HEADERS_SHOWN]]
    more = f" and {len(cells) - MAX_HEADERS_SHOWN} more" if len(cells) > MAX_HEADERS_SHOWN else ""
    return f"{lead} these column headers: {', '.join(quoted)}{more}"
