"""The morning digest flags what needs a person (issue 20, item 13): a run with failures is
titled so, failures are grouped by reason with counts, a stopped run says how many items
are left and the exact resume command, rejected files and rows are listed without values,
each run links to its console page, and times are local."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import update

from bots.outputs import digest
from bots.store import RunStatus, Store
from bots.store.schema import runs, work_items
from tests.test_supervisor_console import seed_run

PUBLIC = "https://payerbot.clinic.example"


def test_the_digest_flags_failures_stopped_runs_and_rejected_rows(make_settings):
    settings = make_settings(timezone="America/Chicago", console={"public_url": PUBLIC + "/"})
    store = Store.open(settings)
    job_run = store.start_job_run("nightly")
    failed = seed_run(
        store,
        settings,
        tag="F",
        items=30,
        failed=5,
        portal="alpha",
        payer="ALPHA",
        started=datetime(2026, 12, 2, 9, 5, tzinfo=UTC),
    )
    ids = [i.id for i in store.run_outcomes(failed)][:2]
    with store._tx() as conn:  # two of the five failed otherwise: the portal timed out
        conn.execute(
            update(work_items)
            .where(work_items.c.id.in_(ids))
            .values(last_error_code="portal_timeout")
        )
    stopped = seed_run(
        store,
        settings,
        tag="S",
        items=12,
        waiting=9,
        status=RunStatus.STOPPED,
        portal="beta",
        payer="BETA",
    )
    store.record_import_errors(
        failed,
        [
            {
                "source_file": "appointments.csv",
                "source_row": 4,
                "column": "dob",
                "reason": "not a date (expected MM/DD/YYYY)",
            },
            {
                "source_file": "appointments.csv",
                "source_row": 9,
                "column": "dob",
                "reason": "not a date (expected MM/DD/YYYY)",
            },
            {
                "source_file": "appointments.csv",
                "source_row": 9,
                "column": "member_id",
                "reason": "missing",
            },
        ],
    )
    rejected = settings.drop_folder / "rejected"
    rejected.mkdir(parents=True)
    (rejected / "20261202-030000-claims.xlsx").write_bytes(b"PK")
    (rejected / "20261202-030000-claims.xlsx.reason.txt").write_text(
        "claims.xlsx: every row was rejected (12 of 12)\n"
    )
    with store._tx() as conn:
        conn.execute(update(runs).where(runs.c.id == failed).values(source="appointments.csv"))
    store.update_run(failed, notes={"followups": {"by_rule": {"coverage_terminated": 2}}})

    data = digest.build(settings, store, "nightly", job_run, [failed, stopped], "finished", "2")
    text, html = digest._plain(data), digest.render_html(data)

    assert data["title"] == "payerbot nightly: finished with 5 failures, 9 items left"
    assert text.startswith("payerbot nightly: finished with 5 failures, 9 items left")
    assert "<title>payerbot nightly: finished with 5 failures, 9 items left</title>" in html
    assert [(g["words"], g["code"], g["count"]) for g in data["failure_groups"]] == [
        ("the portal's pages changed", "layout_changed", 3),
        ("the portal did not answer in time", "portal_timeout", 2),
    ]
    assert "  3 x the portal's pages changed (layout_changed)" in text
    assert "  2 x the portal did not answer in time (portal_timeout)" in text
    assert "the portal&#39;s pages changed <small>(layout_changed)</small></td><td>3<" in html
    # the stopped run: its items left and the exact command
    assert f"9 item(s) left; resume them with: payerbot runs resume {stopped}" in text
    assert f"<code>payerbot runs resume {stopped}</code>" in html
    # follow-ups by rule: the rule in words, its key beside it
    assert "Coverage terminated <span" in html and "(coverage_terminated)</span>" in html
    assert "Stopped: 9 items left" in text and "Finished with 5 failures" in text
    # rejected files and rows: counts and reasons, never the values
    assert (
        "REJECTED FILE - 20261202-030000-claims.xlsx: claims.xlsx: every row was rejected" in text
    )
    assert data["rejected_rows"] == [
        {
            "run_id": failed,
            "file": "appointments.csv",
            "rows": 2,
            "reasons": {"dob: not a date (expected MM/DD/YYYY)": 2, "member_id: missing": 1},
        }
    ]
    assert "rejected rows - appointments.csv" in text and "2 x dob: not a date" in text
    for item in store.run_outcomes(failed) + store.run_outcomes(stopped):
        for value in (item.query["member_id"], item.query["first_name"]):
            assert value not in text and value not in html, "no PHI in the digest"
    # links to the console pages, from console.public_url
    assert f"{PUBLIC}/runs/{failed}" in text and f'href="{PUBLIC}/runs/{stopped}"' in html
    assert f'href="{PUBLIC}/portals"' in html and f"{PUBLIC}/" in text
    # times a person reads are local (Chicago: 09:05 UTC is 3:05 AM); the JSON keeps UTC
    assert f"run {failed} eligibility (12/02/2026 3:05 AM)" in text
    assert data["generated_at"].endswith("+00:00")
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M", data["generated_local"])
    assert f"written {data['generated_local']}" in text
    store.close()


def test_a_clean_run_keeps_its_plain_title_and_links_default_to_the_console_address(
    make_settings,
):
    settings = make_settings()
    store = Store.open(settings)
    clean = seed_run(store, settings, tag="C", items=4, portal="alpha", payer="ALPHA")
    data = digest.build(settings, store, "nightly", 1, [clean], "finished", "1")
    assert data["title"] == "payerbot nightly: finished"
    assert data["failure_groups"] == [] and data["rejected_rows"] == []
    assert data["runs"][0]["link"] == f"http://127.0.0.1:8700/runs/{clean}"
    store.close()
