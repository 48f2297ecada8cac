"""Scheduled maintenance windows a portal's config declares, e.g. ``"Sun 00:00-04:00"``.

A window is ``<days> HH:MM-HH:MM`` read as wall-clock time in the portal's IANA time zone:

- ``daily 23:30-00:15``: every day;
- ``Sun 00:00-04:00``: one day (``Mon`` .. ``Sun``, any case);
- ``Sat-Sun 01:00-02:00``: a range of days, which may wrap (``Fri-Mon``);
- ``Mon,Wed 22:00-23:00``: a comma list of days and ranges (``Mon-Wed,Fri``).

Start is inclusive, end exclusive. A window whose end is not after its start crosses
midnight and belongs to the day it starts on: ``Sat 23:00-01:00`` runs from Saturday
23:00 to Sunday 01:00. Start equal to end is an error (write ``daily 00:00-23:59`` if the
portal really is down all day). There is no ``24:00``; end a window at ``00:00`` instead.

Daylight saving time. Each occurrence is computed from the wall-clock start and end on its
local date with ``datetime.combine(date, time, tzinfo=tz)`` and then converted to UTC, so
it keeps its wall-clock meaning on a change day:

- A local time that does not exist (spring forward, 02:00-03:00 in America/New_York)
  follows zoneinfo's ``fold=0`` rule: it is read with the offset in force *before* the
  change, which lands it that far *after* the gap (02:30 reads as 03:30 EDT). So
  ``01:00-02:30`` on that day ends at 03:30 EDT and lasts 1½ hours, ``02:00-04:00`` runs
  03:00-04:00 EDT, and a window wholly inside the gap (``02:00-03:00``,
  ``02:30-03:00``) comes out empty and does not happen that day.
- A local time that happens twice (fall back, 01:00-02:00 in America/New_York) also takes
  ``fold=0``, its *first* occurrence. So ``01:00-02:00`` on that day lasts two real hours
  (it covers both passes through 01:xx) and ``01:00-01:30`` only the first pass.

Overlapping or touching occurrences (``daily 23:00-01:00`` and ``daily 00:30-02:00``) are
merged into one period, so the end returned is when the portal is back, not when the first
of several windows ends. Only occurrences from the day before ``now`` (local date) to
LOOKAHEAD_DAYS after it are considered, so a schedule that never lets the portal up reports
an end at that horizon rather than never.

This module is pure: it must not import settings (settings imports it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["MaintenanceWindow", "active_window", "next_window"]

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_INDEX = {name.lower(): index for index, name in enumerate(DAY_NAMES)}

_FORMAT = (
    "expected '<days> HH:MM-HH:MM' where <days> is 'daily', a day Mon..Sun, a range "
    "like 'Sat-Sun' or a comma list like 'Mon,Wed' (e.g. 'Sun 00:00-04:00', "
    "'daily 23:30-00:15')"
)
_WINDOW = re.compile(
    r"(?P<days>.+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})", re.ASCII
)
_TIME = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})", re.ASCII)

LOOKBACK_DAYS = 1
"""Local dates before today whose windows may still be running (one crossing midnight)."""
LOOKAHEAD_DAYS = 8
"""How far ahead next_window searches."""


@dataclass(frozen=True)
class MaintenanceWindow:
    """Weekly recurring downtime: on each of ``days`` (0 = Monday) from ``start`` to ``end``,
    wall-clock time in the portal's zone. ``end <= start`` means it ends the next day."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"maintenance window days must be 0..6 (Mon..Sun), got {self.days}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("maintenance window times are wall-clock times: no tzinfo")
        if self.start == self.end:
            raise ValueError(f"maintenance window starts and ends at {self.start:%H:%M}")

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        """``"Sat-Sun 01:00-02:00"`` → a window; ``ValueError`` naming the text otherwise."""
        match = _WINDOW.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"invalid maintenance window {text!r}: {_FORMAT}")
        try:
            days = _parse_days(match["days"])
            start = _parse_time(match["start"])
            end = _parse_time(match["end"])
        except ValueError as exc:
            raise ValueError(f"invalid maintenance window {text!r}: {exc}; {_FORMAT}") from None
        if start == end:
            raise ValueError(
                f"invalid maintenance window {text!r}: start and end are both "
                f"{start:%H:%M}; {_FORMAT}"
            )
        return cls(days=days, start=start, end=end)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def occurrence(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Bounds (UTC) of the window that starts on local ``day``, whether or not ``day``
        is one of its days. Empty (start >= end) if it falls wholly in a DST gap."""
        end_day = day + timedelta(days=1) if self.crosses_midnight else day
        start = datetime.combine(day, self.start, tzinfo=tz)
        end = datetime.combine(end_day, self.end, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def __str__(self) -> str:
        days = (
            "daily"
            if len(self.days) == 7
            else ",".join(DAY_NAMES[index] for index in sorted(self.days))
        )
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


def _parse_days(text: str) -> frozenset[int]:
    spec = text.strip().lower()
    if spec == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        bounds = [_parse_day(name) for name in part.split("-")]
        if len(bounds) == 1:
            days.add(bounds[0])
        elif len(bounds) == 2:
            first, last = bounds
            if first == last:
                raise ValueError(f"day range {part.strip()!r} starts and ends on the same day")
            days.update((first + offset) % 7 for offset in range((last - first) % 7 + 1))
        else:
            raise ValueError(f"bad day range {part.strip()!r}")
    return frozenset(days)


def _parse_day(name: str) -> int:
    try:
        return _DAY_INDEX[name.strip()]
    except KeyError:
        raise ValueError(f"unknown day {name.strip()!r} (use Mon..Sun or daily)") from None


def _parse_time(text: str) -> time:
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"bad time {text!r}")
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        raise ValueError(f"time {text!r} out of range 00:00..23:59 (end at 00:00, not 24:00)")
    return time(hour, minute)


def _aware_utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"maintenance windows need an aware datetime, got naive {now!r}")
    return now.astimezone(UTC)


def _periods(
    windows: Sequence[MaintenanceWindow], now: datetime, tz: ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Maintenance periods (UTC, merged, in order) starting from LOOKBACK_DAYS before the
    local date of ``now`` to LOOKAHEAD_DAYS after it."""
    today = now.astimezone(tz).date()
    occurrences: list[tuple[datetime, datetime]] = []
    for offset in range(-LOOKBACK_DAYS, LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        for window in windows:
            if day.weekday() in window.days:
                start, end = window.occurrence(day, tz)
                if start < end:
                    occurrences.append((start, end))
    occurrences.sort()
    current: tuple[datetime, datetime] | None = None
    for start, end in occurrences:
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def active_window(
    windows: Sequence[MaintenanceWindow], now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """The maintenance period (UTC start, end) that ``now`` (aware, any zone) falls in, or
    None. Start inclusive, end exclusive."""
    instant = _aware_utc(now)
    for start, end in _periods(windows, instant, tz):
        if start <= instant < end:
            return start, end
        if start > instant:
            break
    return None


def next_window(
    windows: Sequence[MaintenanceWindow], now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """The active maintenance period if there is one, else the next to start within
    LOOKAHEAD_DAYS (UTC start, end), else None."""
    instant = _aware_utc(now)
    for start, end in _periods(windows, instant, tz):
        if instant < end:
            return start, end
    return None
