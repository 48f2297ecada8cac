"""Two-digit years through a real run: tomorrow's appointment is asked, answered and followed
up as tomorrow, and a date of birth written with a two-digit year stays in the past."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bots.dates import local_today
from bots.settings import Settings
from bots.store import Store
from tests.cli_here import payerbot_here
from tests.test_cli import payerbot
from tests.test_followups import _active, _unique

pytestmark = pytest.mark.browser


def _short(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}"


def _long(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def test_tomorrows_appointment_with_a_two_digit_year_is_asked_as_tomorrow(
    env: dict[str, str], settings: Settings, ground_truth: dict[str, Any], tmp_path: Path
) -> None:
    tomorrow = local_today(settings.timezone) + timedelta(days=1)
    ended = next(
        m
        for m in _unique(ground_truth)
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and m["coverage"]["termination_date"]
        and not _active(m, tomorrow)
    )
    dob = date.fromisoformat(ended["dob"])
    worklist = tmp_path / "appointments.csv"
    with worklist.open("w", newline="") as fh:
        csv.writer(fh).writerows(
            [
                ["Appt Date", "Patient Last", "Patient First", "DOB", "Insurance", "Member ID"],
                [
                    _short(tomorrow),
                    ended["last_name"],
                    ended["first_name"],
                    _short(dob),
                    "ACME HEALTH",
                    ended["member_id"],
                ],
            ]
        )
    proc = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]

    store = Store.open(settings)
    try:
        (item,) = store.recent_outcomes("eligibility", datetime(2000, 1, 1, tzinfo=UTC))
    finally:
        store.close()
    assert item.query["date_of_service"] == tomorrow.isoformat()
    assert item.query["dob"] == dob.isoformat()
    assert item.payload is not None, item.last_error_code
    # the portal was asked about tomorrow and answered about tomorrow
    assert item.payload["date_of_service"] == tomorrow.isoformat()

    followups = json.loads(payerbot_here("queue", "list", "--json", env=env).stdout)
    (followup,) = followups
    assert f"the visit on {_long(tomorrow)}" in followup["reason"]


def test_local_time_is_shown_in_the_practice_zone_and_utc_kept_for_json():
    from bots.dates import iso_utc, local_date_text, local_datetime_text, local_time_text

    stored = datetime(2026, 12, 4, 8, 7, tzinfo=UTC)  # 3:07 AM in New York (EST, UTC-5)
    assert local_datetime_text(stored, "America/New_York") == "12/04/2026 3:07 AM"
    assert local_time_text(stored, "America/New_York") == "3:07 AM"
    assert local_datetime_text(stored.replace(hour=17), "America/New_York") == "12/04/2026 12:07 PM"
    assert (
        local_datetime_text(stored.replace(tzinfo=None), "America/Chicago") == "12/04/2026 2:07 AM"
    )
    assert local_datetime_text(None, "America/New_York", empty="—") == "—"
    assert local_date_text(date(2026, 1, 2)) == "01/02/2026"
    assert iso_utc(stored.astimezone(ZoneInfo("America/New_York"))) == "2026-12-04T08:07:00+00:00"
