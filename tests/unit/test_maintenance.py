"""Configured maintenance windows: parsing, active/next window, DST days, settings validation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bots.maintenance import MaintenanceWindow, active_window, next_window
from bots.settings import PortalSettings

NY = ZoneInfo("America/New_York")
# 2026-07-05 is a Sunday; EDT (UTC-4) all week.
SUN = 5


def ny(day: int, hour: int, minute: int = 0, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def utc(day: int, hour: int, minute: int = 0, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def windows(*texts: str) -> list[MaintenanceWindow]:
    return [MaintenanceWindow.parse(text) for text in texts]


# --- parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("Sun 00:00-04:00", {6}, time(0), time(4)),
        ("daily 23:30-00:15", set(range(7)), time(23, 30), time(0, 15)),
        ("DAILY 1:00-2:00", set(range(7)), time(1), time(2)),
        ("Sat-Sun 01:00-02:00", {5, 6}, time(1), time(2)),
        ("Mon,Wed 22:00-23:00", {0, 2}, time(22), time(23)),
        ("mon, WED 22:00 - 23:00", {0, 2}, time(22), time(23)),
        ("Fri-Mon 03:00-04:00", {4, 5, 6, 0}, time(3), time(4)),
        ("Mon-Wed,Fri 03:00-04:00", {0, 1, 2, 4}, time(3), time(4)),
        ("  Tue 12:00-00:00  ", {1}, time(12), time(0)),
    ],
)
def test_parse(text: str, days: set[int], start: time, end: time) -> None:
    window = MaintenanceWindow.parse(text)
    assert window == MaintenanceWindow(days=frozenset(days), start=start, end=end)
    assert MaintenanceWindow.parse(str(window)) == window


def test_str_is_canonical() -> None:
    assert str(MaintenanceWindow.parse("Mon-Sun 1:05-2:00")) == "daily 01:05-02:00"
    assert str(MaintenanceWindow.parse("wed,mon 22:00-23:00")) == "Mon,Wed 22:00-23:00"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Funday 1-2", "expected '<days> HH:MM-HH:MM'"),
        ("Funday 01:00-02:00", "unknown day 'funday'"),
        ("Sunday 01:00-02:00", "unknown day 'sunday'"),
        ("Sun 01:00-01:00", "start and end are both 01:00"),
        ("Sun 24:00-01:00", "out of range"),
        ("Sun 01:00-24:00", "out of range"),
        ("Sun 01:60-02:00", "out of range"),
        ("Sun 01:00", "expected '<days> HH:MM-HH:MM'"),
        ("01:00-02:00", "expected '<days> HH:MM-HH:MM'"),
        ("", "expected '<days> HH:MM-HH:MM'"),
        ("Sat-Sat 01:00-02:00", "same day"),
        ("Mon-Wed-Fri 01:00-02:00", "bad day range"),
        ("Mon,,Wed 01:00-02:00", "unknown day ''"),
        ("Sun 001:00-02:00", "expected '<days> HH:MM-HH:MM'"),
    ],
)
def test_parse_errors_name_the_text_and_the_format(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid maintenance window") as caught:
        MaintenanceWindow.parse(text)
    message = str(caught.value)
    assert repr(text) in message
    assert reason in message
    assert "'Sun 00:00-04:00'" in message  # the example of the expected format


def test_constructor_rejects_empty_window() -> None:
    with pytest.raises(ValueError, match="starts and ends"):
        MaintenanceWindow(days=frozenset({0}), start=time(1), end=time(1))


# --- active / next -------------------------------------------------------------------


def test_inside_and_outside() -> None:
    ws = windows("Sun 00:00-04:00")
    assert active_window(ws, ny(SUN, 2), NY) == (utc(SUN, 4), utc(SUN, 8))
    assert active_window(ws, ny(SUN, 5), NY) is None
    assert active_window(ws, ny(SUN + 1, 2), NY) is None  # Monday


def test_boundaries_start_inclusive_end_exclusive() -> None:
    ws = windows("Sun 00:00-04:00")
    assert active_window(ws, ny(SUN, 0), NY) == (utc(SUN, 4), utc(SUN, 8))
    assert active_window(ws, ny(SUN, 0) - timedelta(microseconds=1), NY) is None
    assert active_window(ws, ny(SUN, 4) - timedelta(microseconds=1), NY) is not None
    assert active_window(ws, ny(SUN, 4), NY) is None
    # at the end, the next one is a week later
    assert next_window(ws, ny(SUN, 4), NY) == (utc(SUN + 7, 4), utc(SUN + 7, 8))


def test_now_in_any_zone() -> None:
    ws = windows("Sun 00:00-04:00")
    assert active_window(ws, utc(SUN, 4), NY) == (utc(SUN, 4), utc(SUN, 8))
    tokyo = datetime(2026, 7, 5, 15, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 02:00 EDT Sunday
    assert active_window(ws, tokyo, NY) == (utc(SUN, 4), utc(SUN, 8))
    tokyo = datetime(2026, 7, 5, 20, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 07:00 EDT Sunday
    assert active_window(ws, tokyo, NY) is None
    assert active_window(ws, utc(SUN, 8), NY) is None


def test_results_are_utc() -> None:
    start, end = next_window(windows("Sun 00:00-04:00"), ny(SUN - 2, 12), NY) or (None, None)
    assert start is not None and end is not None
    assert start.tzinfo is UTC and end.tzinfo is UTC


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        active_window(windows("daily 01:00-02:00"), datetime(2026, 7, 5, 1, 30), NY)


def test_crossing_midnight_belongs_to_its_start_day() -> None:
    ws = windows("Sat 23:00-01:00")  # Saturday 4 July 23:00 to Sunday 01:00
    window = (utc(SUN, 3), utc(SUN, 5))
    assert active_window(ws, ny(SUN - 1, 23, 30), NY) == window
    assert active_window(ws, ny(SUN, 0, 30), NY) == window
    assert active_window(ws, ny(SUN, 1), NY) is None
    # Sunday 23:30 is not in it: the window belongs to Saturday only
    assert active_window(ws, ny(SUN, 23, 30), NY) is None
    # and Saturday 00:30 is not either (that would be Friday's)
    assert active_window(ws, ny(SUN - 1, 0, 30), NY) is None


def test_daily_crossing_midnight() -> None:
    ws = windows("daily 23:30-00:15")
    assert active_window(ws, ny(SUN, 0, 10), NY) == (utc(SUN, 3, 30), utc(SUN, 4, 15))
    assert active_window(ws, ny(SUN, 23, 45), NY) == (utc(SUN + 1, 3, 30), utc(SUN + 1, 4, 15))
    assert active_window(ws, ny(SUN, 0, 15), NY) is None
    assert next_window(ws, ny(SUN, 12), NY) == (utc(SUN + 1, 3, 30), utc(SUN + 1, 4, 15))


def test_day_ranges_and_lists() -> None:
    ws = windows("Sat-Sun 01:00-02:00")
    assert active_window(ws, ny(SUN - 1, 1, 30), NY) is not None  # Saturday
    assert active_window(ws, ny(SUN, 1, 30), NY) is not None  # Sunday
    assert active_window(ws, ny(SUN + 1, 1, 30), NY) is None  # Monday
    ws = windows("Mon,Wed 22:00-23:00")
    assert active_window(ws, ny(SUN + 1, 22, 30), NY) is not None  # Monday
    assert active_window(ws, ny(SUN + 2, 22, 30), NY) is None  # Tuesday
    assert next_window(ws, ny(SUN + 2, 22, 30), NY) == (utc(SUN + 4, 2), utc(SUN + 4, 3))


def test_wrapping_day_range() -> None:
    ws = windows("Fri-Mon 03:00-04:00")
    hits = [active_window(ws, ny(SUN + offset, 3, 30), NY) is not None for offset in range(7)]
    #        Sun   Mon   Tue    Wed    Thu    Fri   Sat
    assert hits == [True, True, False, False, False, True, True]


def test_next_window() -> None:
    ws = windows("Sun 00:00-04:00", "Wed 22:00-23:00")
    assert next_window(ws, ny(SUN, 2), NY) == (utc(SUN, 4), utc(SUN, 8))  # active
    assert next_window(ws, ny(SUN, 5), NY) == (utc(SUN + 4, 2), utc(SUN + 4, 3))
    assert next_window(ws, ny(SUN + 3, 23), NY) == (utc(SUN + 7, 4), utc(SUN + 7, 8))
    assert next_window([], ny(SUN, 2), NY) is None
    assert active_window([], ny(SUN, 2), NY) is None


def test_overlapping_windows_merge() -> None:
    ws = windows("daily 23:00-01:00", "Sun 00:30-02:00")
    # Saturday 23:00 .. Sunday 02:00 is one period
    assert active_window(ws, ny(SUN, 1, 30), NY) == (utc(SUN, 3), utc(SUN, 6))
    assert active_window(ws, ny(SUN - 1, 23, 30), NY) == (utc(SUN, 3), utc(SUN, 6))
    # touching windows merge too
    ws = windows("Sun 01:00-02:00", "Sun 02:00-03:00")
    assert active_window(ws, ny(SUN, 1, 30), NY) == (utc(SUN, 5), utc(SUN, 7))


def test_zone_matters() -> None:
    ws = windows("Sun 00:00-04:00")
    la = ZoneInfo("America/Los_Angeles")
    assert active_window(ws, ny(SUN, 2), la) is None
    assert active_window(ws, ny(SUN, 5), la) == (utc(SUN, 7), utc(SUN, 11))


# --- DST in America/New_York: 2026-03-08 spring forward, 2026-11-01 fall back (Sundays) ---


def test_spring_forward_window_across_the_gap() -> None:
    ws = windows("Sun 01:00-03:00")
    # 01:00 EST = 06:00 UTC; 03:00 EDT = 07:00 UTC: one real hour
    assert active_window(ws, ny(8, 1, 30, month=3), NY) == (utc(8, 6, month=3), utc(8, 7, month=3))
    assert active_window(ws, ny(8, 3, 0, month=3), NY) is None
    # the Sunday before, it is two hours of EST
    assert next_window(ws, ny(1, 0, month=3), NY) == (utc(1, 6, month=3), utc(1, 8, month=3))


def test_spring_forward_nonexistent_times_follow_fold_0() -> None:
    # 02:30 does not exist: fold=0 reads it as EST, i.e. 07:30 UTC = 03:30 EDT
    ws = windows("Sun 01:00-02:30")
    assert next_window(ws, ny(7, 12, month=3), NY) == (utc(8, 6, month=3), utc(8, 7, 30, month=3))
    ws = windows("Sun 02:00-04:00")  # runs 03:00-04:00 EDT
    assert next_window(ws, ny(7, 12, month=3), NY) == (utc(8, 7, month=3), utc(8, 8, month=3))
    assert active_window(ws, utc(8, 6, 59, month=3), NY) is None


def test_spring_forward_window_inside_the_gap_does_not_happen() -> None:
    ws = windows("Sun 02:00-03:00")
    # on 8 March it is empty; next_window skips to the following Sunday (EDT)
    assert next_window(ws, ny(7, 12, month=3), NY) == (utc(15, 6, month=3), utc(15, 7, month=3))
    for minute in range(0, 120, 5):
        assert active_window(ws, utc(8, 6, month=3) + timedelta(minutes=minute), NY) is None


def test_fall_back_window_covers_both_passes() -> None:
    ws = windows("Sun 01:00-02:00")
    # 01:00 EDT (05:00 UTC) .. 02:00 EST (07:00 UTC): two real hours
    window = (utc(1, 5, month=11), utc(1, 7, month=11))
    first_pass = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=0)
    second_pass = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=1)
    assert active_window(ws, first_pass, NY) == window
    assert active_window(ws, second_pass, NY) == window
    assert active_window(ws, utc(1, 7, month=11), NY) is None


def test_fall_back_ambiguous_end_takes_first_occurrence() -> None:
    ws = windows("Sun 00:30-01:30")  # 01:30 is ambiguous; fold=0: 01:30 EDT
    window = (utc(1, 4, 30, month=11), utc(1, 5, 30, month=11))
    assert active_window(ws, datetime(2026, 11, 1, 1, 15, tzinfo=NY, fold=0), NY) == window
    assert active_window(ws, datetime(2026, 11, 1, 1, 15, tzinfo=NY, fold=1), NY) is None


def test_fall_back_crossing_midnight() -> None:
    ws = windows("Sat 23:00-03:00")  # 23:00 EDT .. 03:00 EST: five real hours
    assert next_window(ws, ny(31, 12, month=10), NY) == (
        utc(1, 3, month=11),
        utc(1, 8, month=11),
    )


# --- settings ------------------------------------------------------------------------


def test_settings_parse_windows() -> None:
    portal = PortalSettings(
        base_url="http://x",
        accounts=["a"],
        timezone="America/Chicago",
        maintenance_windows=["Sun 00:00-04:00", "daily 23:30-00:15"],
    )
    assert portal.windows() == windows("Sun 00:00-04:00", "daily 23:30-00:15")
    assert PortalSettings(base_url="http://x", accounts=["a"]).windows() == []
    assert PortalSettings(base_url="http://x", accounts=["a"]).timezone is None


def test_settings_reject_a_bad_window() -> None:
    with pytest.raises(ValidationError, match="invalid maintenance window 'Funday 1-2'"):
        PortalSettings(base_url="http://x", accounts=["a"], maintenance_windows=["Funday 1-2"])


def test_settings_reject_an_unknown_zone() -> None:
    for zone in ("Mars/Olympus", "America/", ""):
        with pytest.raises(ValidationError, match="unknown time zone"):
            PortalSettings(base_url="http://x", accounts=["a"], timezone=zone)


# --- properties ----------------------------------------------------------------------

ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",  # 30-minute DST shift
        "Asia/Kolkata",
        "Pacific/Chatham",
        "America/Santiago",
    )
]
day_specs = st.one_of(
    st.just("daily"),
    st.lists(st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]), min_size=1).map(
        ",".join
    ),
    st.tuples(
        st.sampled_from(["Mon", "Wed", "Fri", "Sat"]), st.sampled_from(["Tue", "Sun", "Thu"])
    ).map("-".join),
)
clock = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59])).map(
    lambda hm: f"{hm[0]:02d}:{hm[1]:02d}"
)
window_texts = st.tuples(day_specs, clock, clock).filter(lambda t: t[1] != t[2])
window_lists = st.lists(
    window_texts.map(lambda t: MaintenanceWindow.parse(f"{t[0]} {t[1]}-{t[2]}")), max_size=4
)
nows = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(ZONES),
)


@settings(max_examples=400, deadline=None)
@given(ws=window_lists, now=nows, tz=st.sampled_from(ZONES))
def test_property_active_contains_now_and_next_is_not_over(
    ws: list[MaintenanceWindow], now: datetime, tz: ZoneInfo
) -> None:
    active = active_window(ws, now, tz)
    if active is not None:
        start, end = active
        assert start.tzinfo is UTC and end.tzinfo is UTC
        assert start <= now < end
    upcoming = next_window(ws, now, tz)
    if upcoming is not None:
        start, end = upcoming
        assert start.tzinfo is UTC and end.tzinfo is UTC
        assert start < end
        assert end > now
        if active is None:
            assert start > now
            # a moment before it starts, it is not active; at its start, it is
            assert active_window(ws, start, tz) is not None
            assert active_window(ws, start - timedelta(microseconds=1), tz) is None
    if active is not None:
        assert upcoming == active
    if ws:
        assert upcoming is not None  # every window recurs weekly
