"""The CLI's run views: parts that add up, durations in words, 80 columns without cutting a
run id, local time in tables and UTC in JSON, progress lines for a log."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from rich.console import Console

from bots.dates import local_datetime_text
from bots.interfaces.cli.common import ProgressLines
from bots.models import LookupKind
from bots.outputs.run_views import (
    PARTS,
    duration_text,
    run_duration,
    run_json,
    runs_table,
    sentence,
    status_words,
    summary_parts,
)
from bots.store import ItemState, OutcomeCode, Run, RunStatus

ZONE = "America/New_York"
STARTED = datetime(2026, 12, 4, 8, 7, 5, tzinfo=UTC)  # 3:07 AM in New York


def item(state: str, code: str | None = None, disposition: str = "queued", portal: str = "hub"):
    return SimpleNamespace(
        state=ItemState(state),
        last_error_code=OutcomeCode(code) if code else None,
        disposition=disposition,
        portal=portal,
    )


def run(status: str = "finished", seconds: float | None = 3725, run_id: str = "") -> Run:
    return Run(
        id=run_id or "20261204-080705-a1b2c3",
        kind=LookupKind.ELIGIBILITY,
        trigger="schedule",
        source="appointments.csv",
        status=RunStatus(status),
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=seconds) if seconds is not None else None,
        host="h",
        pid=1,
        counts={"items": 12, "succeeded": 7, "business_failed": 2, "system_failed": 1},
        log_path=None,
        spreadsheet_path=None,
        message=None,
        notes={},
        executor="local",
    )


FAULTY = [
    item("succeeded"),
    item("succeeded"),
    item("succeeded", disposition="reused"),
    item("business_failed", "member_not_found"),
    item("business_failed", "member_not_found", disposition="reused"),
    item("system_failed", "portal_timeout"),
    item("system_failed", "account_locked", portal="legacy"),
    item("new", portal="medicaid"),  # postponed: maintenance
    item("new", portal="paused"),  # the drift canary paused its portal
    item("new", "portal_error"),  # waiting for its retry
    item("in_progress"),
    item("new"),  # never started: the run stopped
]
NOTES = {
    "postponed_portals": {"medicaid": "maintenance until 6:00 AM"},
    "stopped_portals": {"paused": "the portal's pages changed"},
}


def test_each_item_is_counted_once_and_the_parts_add_up():
    parts = summary_parts(FAULTY, NOTES, "stopped")  # type: ignore[arg-type]
    assert sum(parts[p] for p in PARTS) == parts["total"] == len(FAULTY)
    assert (parts["answered"], parts["reused"], parts["no result"], parts["failed"]) == (2, 2, 1, 1)
    assert parts["waiting_by_reason"] == {
        "in progress": 1,
        "not started: the run stopped": 1,
        "paused portal (paused)": 1,
        "postponed (medicaid)": 1,
        "waiting for a retry": 1,
        "waiting for an account": 1,
    }
    assert sum(parts["waiting_by_reason"].values()) == parts["waiting"]
    said = sentence(parts)
    assert said.startswith("12 item(s): 2 answered, 2 reused, 1 no result, 1 failed, 6 waiting")


def test_the_summary_table_lists_every_part_and_the_total():
    from bots.outputs.run_views import summary_table

    parts = summary_parts(FAULTY, NOTES, "stopped")  # type: ignore[arg-type]
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(summary_table("Run x", parts, import_errors=3))
    text = console.export_text()
    for part in PARTS:
        assert part in text
    assert "waiting for an account" in text and "member not found" in text
    assert "skipped rows" in text and "12" in text


def test_durations_read_as_hours_minutes_seconds_and_running_runs_say_so():
    assert duration_text(4.24) == "4.2 s"
    assert duration_text(200) == "3 m 20 s"
    assert duration_text(3725) == "1 h 02 m 05 s"
    assert run_duration(run()) == "1 h 02 m 05 s"
    running = run("running", seconds=None)
    assert run_duration(running, now=STARTED + timedelta(minutes=3, seconds=10)) == (
        "running for 3 m"
    )
    assert "None" not in run_duration(run("stopped", seconds=None))


def test_run_ids_are_never_cut_in_80_columns_and_times_are_local():
    rows = [run(run_id=f"20261204-0807{n:02d}-a1b2c{n}") for n in range(5)]
    worst = run(run_id="20261204-080799-ffffff")  # long words in every column
    counts = {"items": 12345, "succeeded": 1, "system_failed": 12344, "new": 9}
    worst = replace(worst, kind=LookupKind.CLAIM_STATUS, counts=counts)
    rows.append(worst)
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(runs_table(rows, ZONE))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for r in rows:
        assert r.id in text, "the run id whole, on one line"
        assert local_datetime_text(r.started_at, ZONE).split(" ")[0] in text, "date whole"
    assert "12/04/2026" in text and "3:07" in text and "AM" in text
    assert "failure" in text and status_words(rows[0]) == "Finished with 1 failure"
    assert local_datetime_text(STARTED, ZONE) == "12/04/2026 3:07 AM"


def test_json_keeps_utc_with_its_offset():
    data = json.loads(json.dumps(run_json(run()), default=str))
    assert data["started_at"] == "2026-12-04T08:07:05+00:00"
    assert datetime.fromisoformat(data["finished_at"]) == STARTED + timedelta(seconds=3725)


def test_progress_lines_for_a_log_every_n_items_and_at_the_end():
    buffer = io.StringIO()
    lines = ProgressLines(Console(file=buffer, width=200), every_items=5, every_seconds=3600)
    with lines:
        for done in range(1, 13):
            lines.update(done, 12)
    said = buffer.getvalue().splitlines()
    assert [s.split(" lookups")[0] for s in said] == [
        "progress: 5 of 12",
        "progress: 10 of 12",
        "progress: 12 of 12",
    ]
    assert said[-1].startswith("progress: 12 of 12 lookups done (100%), ")
