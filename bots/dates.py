"""Dates as people and portals write them: one parser for worklists, page readers and forms.

A two-digit year is resolved by what the date *is*, never by one rule for all:

- a date of birth lies in the past: ``05/01/60`` is the latest 1960/2060/... not after today;
- a date of service lies near today (appointments weeks ahead, claims months or a few years
  back): ``12/03/26`` is the century that puts it closest to today;
- any other date with a two-digit year is refused as ambiguous (no guessing).

"Today" is always the local date of the practice (``Settings.timezone``), handed in by the
caller so tests can fix it; this module never reads the clock on its own except in
``local_today``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "DateRole",
    "birth_date_problem",
    "iso_utc",
    "local_date_text",
    "local_datetime_text",
    "local_time_text",
    "local_today",
    "parse_date",
    "service_date_problem",
]


class DateRole(StrEnum):
    """What a date is: decides the century of a two-digit year and what is plausible."""

    BIRTH = "birth"
    """Lies in the past (or today)."""
    SERVICE = "service"
    """Lies near today: a visit, a claim's service dates, a payer's processing dates."""


FOUR_DIGIT_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%Y%m%d", "%Y/%m/%d")
_TWO_DIGIT = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{2})")
_SERIAL = re.compile(r"\d{5}(\.0+)?")
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's 1900 date system, its leap-year bug included


def local_today(timezone: str, now: datetime | None = None) -> date:
    """The practice's date now (or at ``now``) in ``timezone``: not the machine's date."""
    zone = ZoneInfo(timezone)
    return (now or datetime.now(zone)).astimezone(zone).date()


def parse_date(
    text: str, role: DateRole | None, today: date, *, spreadsheet_serials: bool = False
) -> date:
    """MM/DD/YYYY, M/D/YY, YYYY-MM-DD, MM-DD-YYYY, YYYYMMDD, YYYY/MM/DD -> date.

    ``role`` resolves a two-digit year (None: a two-digit year is refused).
    ``spreadsheet_serials``: also accept Excel serial day numbers (worklist cells).
    Raises ValueError with a plain sentence that does not repeat the value.
    """
    raw = text.strip()
    if spreadsheet_serials and _SERIAL.fullmatch(raw):
        return _EXCEL_EPOCH + timedelta(days=int(float(raw)))
    for fmt in FOUR_DIGIT_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    short = _TWO_DIGIT.fullmatch(raw)
    if short is None:
        raise ValueError("not a date (expected MM/DD/YYYY)")
    if role is None:
        raise ValueError("a two-digit year is ambiguous for this date (expected MM/DD/YYYY)")
    month, day, year = int(short.group(1)), int(short.group(3)), int(short.group(4))
    candidates = []
    for century in (today.year // 100 - 1, today.year // 100, today.year // 100 + 1):
        try:
            candidates.append(date(century * 100 + year, month, day))
        except ValueError:
            continue
    if not candidates:
        raise ValueError("not a date (expected MM/DD/YYYY)")
    if role is DateRole.BIRTH:
        past = [c for c in candidates if c <= today]
        return max(past) if past else min(candidates)  # a future birth date is checked later
    return min(candidates, key=lambda c: abs((c - today).days))


def service_date_problem(
    value: date, today: date, *, days_back: int, days_ahead: int, what: str = "date of service"
) -> str | None:
    """Why a date of service is implausibly far from today, or None when it is plausible."""
    if value < today - timedelta(days=days_back):
        return (
            f"the {what} is more than {days_back} days before today, too far back to check "
            "(a typo in the year?)"
        )
    if value > today + timedelta(days=days_ahead):
        return (
            f"the {what} is more than {days_ahead} days after today, too far ahead to check "
            "(a typo in the year?)"
        )
    return None


def birth_date_problem(value: date, today: date) -> str | None:
    """Why a date of birth cannot be right, or None."""
    if value > today:
        return "the date of birth is after today"
    return None


def _as_local(when: datetime, timezone: str) -> datetime:
    """A stored time (UTC; a naive value is read as UTC) in the practice's time zone."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo("UTC"))
    return when.astimezone(ZoneInfo(timezone))


def local_datetime_text(when: datetime | None, timezone: str, *, empty: str = "") -> str:
    """A stored time as a person reads it: ``12/04/2026 3:07 AM`` in the practice's zone.

    Every surface a person reads (console, workbooks, digest, CLI tables, log views) shows
    times this way; the store and JSON keep UTC (``iso_utc``).
    """
    if when is None:
        return empty
    local = _as_local(when, timezone)
    hour = local.hour % 12 or 12
    return f"{local:%m/%d/%Y} {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def local_time_text(when: datetime | None, timezone: str, *, empty: str = "") -> str:
    """Only the clock of a stored time in the practice's zone: ``3:07 AM``."""
    if when is None:
        return empty
    return local_datetime_text(when, timezone).split(" ", 1)[1]


def local_date_text(when: datetime | date | None, *, empty: str = "") -> str:
    """A date as a US reader writes it: ``12/04/2026``."""
    if when is None:
        return empty
    return f"{when:%m/%d/%Y}"


def iso_utc(when: datetime | None) -> str | None:
    """A stored time for JSON outputs: ISO 8601 in UTC with its offset (``+00:00``)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo("UTC"))
    return when.astimezone(ZoneInfo("UTC")).isoformat()
