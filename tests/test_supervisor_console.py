"""The supervisor's morning in real Chromium: the home page's counts, a 290-item run found
by outcome and patient 50 at a time, its status in words and its resume action, the runs
list's filters, portal health in words, local times on the pages and UTC in the store; and
the digest that flags failures, stopped runs and rejected rows.

The runs are seeded straight into the store (synthetic patients, no portal) except the one
resumed, which is worked by the real runner against the mock portals.
PAYERBOT_DOCS_SCREENSHOTS=1 also writes home, runs, run and portals to docs/screenshots/."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert, update

from bots.models import EligibilityQuery
from bots.ops import mock_portals as fixture_portals
from bots.settings import Settings, load_settings
from bots.store import Question, RunStatus, Store, utcnow
from bots.store.schema import followups, results, run_items, runs, work_items
from tests.test_console import add_console_users, log_in, serving, shoot
from tests.timing import deadline_in

pytestmark = pytest.mark.browser
ZONE = "America/Chicago"  # not the default: the page must read Settings.timezone
LAYOUT_WORDS = "the portal's pages changed"


def _query(i: int, tag: str, payer: str = "ACME") -> dict[str, Any]:
    return EligibilityQuery(
        payer_id=payer,
        member_id=f"SYN{tag}{i:05d}",
        dob=date(1970, 1, 1) + timedelta(days=i),
        date_of_service=date(2026, 12, 1),
        first_name=f"Pat{i:03d}",
        last_name="Synthetic" if i != 7 else "Quillfeather",
    ).model_dump(mode="json")


def seed_run(
    store: Store,
    settings: Settings,
    *,
    tag: str,
    items: int,
    failed: int = 0,
    waiting: int = 0,
    reused: int = 0,
    status: RunStatus = RunStatus.FINISHED,
    started: datetime | None = None,
    trigger: str = "batch",
    notes: dict[str, Any] | None = None,
    portal: str = "payerhub",
    payer: str = "ACME",
) -> str:
    """A run of synthetic items: the first ``failed`` failed (pages changed), the next
    ``waiting`` still queued, the rest answered (the last ``reused`` of them by an earlier
    run, within the dedupe window); a screenshot and a trace for each failure."""
    questions = [
        Question(
            reference=f"elig|{payer}|SYN{tag}{i:05d}",
            kind="eligibility",
            payer_id=payer,
            portal=portal,
            query=_query(i, tag, payer),
            source_file="appointments.csv",
            source_row=i + 1,
        )
        for i in range(items)
    ]
    run_id, queued = store.start_run("eligibility", trigger, "appointments.csv", questions)
    started = started or utcnow() - timedelta(hours=2)
    now = utcnow()
    states = {"system_failed": failed, "new": waiting, "succeeded": items - failed - waiting}
    shots = settings.data_dir / "evidence" / run_id
    traces = settings.data_dir / "traces" / run_id
    shots.mkdir(parents=True, exist_ok=True)
    traces.mkdir(parents=True, exist_ok=True)
    with store._tx() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=status,
                started_at=started,
                finished_at=None if status == RunStatus.RUNNING else started + timedelta(minutes=9),
                counts={"items": items, **{k: v for k, v in states.items() if v}},
                notes=notes,
            )
        )
        for n, q in enumerate(queued):
            if n < failed:
                state, code = "system_failed", "layout_changed"
            elif n < failed + waiting:
                state, code = "new", None
            else:
                state, code = "succeeded", None
            conn.execute(
                update(work_items)
                .where(work_items.c.id == q.item_id)
                .values(
                    state=state,
                    attempts=0 if state == "new" else 1,
                    last_error_code=code,
                    last_error_message="pages changed: member search form not found"
                    if code
                    else None,
                )
            )
            if n >= items - reused:
                conn.execute(
                    update(run_items)
                    .where(run_items.c.run_id == run_id, run_items.c.item_id == q.item_id)
                    .values(disposition="reused")
                )
            if state == "new":
                continue
            shot = trace = None
            if code:
                shot = shots / f"{q.item_id}.png"
                shot.write_bytes(PNG)
                trace = traces / f"{q.item_id}.zip"
                trace.write_bytes(b"PK\x05\x06" + b"\0" * 18)
            conn.execute(
                insert(results).values(
                    item_id=q.item_id,
                    run_id=run_id,
                    attempt=1,
                    outcome=state,
                    error_code=code,
                    evidence_path=str(shot) if shot else None,
                    trace_path=str(trace) if trace else None,
                    started_at=now,
                    finished_at=now,
                    duration_ms=900.0,
                )
            )
    return run_id


# a 1x1 PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc000000301010018dd8db40000000049454e44ae426082"
)


@pytest.fixture
def morning(env, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """A console in Central time over a fresh store (its users, the portals' logins)."""
    monkeypatch.setenv("PAYERBOT_TIMEZONE", ZONE)
    env = {**env, "PAYERBOT_TIMEZONE": ZONE, "PAYERBOT_CONSOLE__IDLE_MINUTES": "15"}
    settings = load_settings()
    assert settings.timezone == ZONE
    for portal_id in fixture_portals.wanted(settings):
        fixture_portals.provision_credentials(settings, portal_id)
    add_console_users(settings)
    store = Store.open(settings)
    with serving(env, tmp_path / "console.log") as url:
        try:
            yield {"url": url, "env": env, "settings": settings, "store": store}
        finally:
            store.close()


def test_a_290_item_run_is_found_by_outcome_and_patient_50_at_a_time(morning, page: Page):
    store, settings, url = morning["store"], morning["settings"], morning["url"]
    run_id = seed_run(store, settings, tag="A", items=290, failed=17, reused=30)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "sam", "sam-supervisor-pw")
    page.goto(f"{url}/runs/{run_id}")
    status = page.locator("#run-status")
    expect(status).to_have_text("Finished with 17 failures")
    expect(status).to_have_class(re.compile(r"\bbad\b"))  # in red
    # answered (asked this run) and reused (answered earlier) apart, as `runs show` says
    expect(page.locator("#run-parts")).to_have_text(
        "290 item(s): 243 answered, 30 reused, 0 no result, 17 failed, 0 waiting"
    )
    items = page.get_by_role("table", name="Items")
    expect(page.locator("#showing").first).to_have_text("Showing 1–50 of 290")
    expect(items.locator("tr[id^=item-]")).to_have_count(50)
    expect(items).to_contain_text("Synthetic, Pat001")  # patient and identifier columns
    expect(items).to_contain_text("member SYNA00001")
    page.get_by_role("link", name="Next").first.click()
    expect(page.locator("#showing").first).to_have_text("Showing 51–100 of 290")
    expect(items.locator("tr[id^=item-]")).to_have_count(50)

    # failed only: the 17, with their screenshot and trace as links
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#showing").first).to_have_text("Showing 1–17 of 17")
    rows = items.locator("tr[id^=item-]")
    expect(rows).to_have_count(17)
    for text in rows.all_inner_texts():
        assert LAYOUT_WORDS in text and "(layout_changed)" in text
    first = rows.first
    assert (
        first.get_by_role("link", name="screenshot")
        .get_attribute("href")
        .startswith(f"/files/evidence/{run_id}/")
    )
    assert (
        first.get_by_role("link", name="trace")
        .get_attribute("href")
        .startswith(f"/files/traces/{run_id}/")
    )
    expect(page.get_by_role("button", name="Retry the 17 failed item(s)")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Resume"))).to_have_count(0)  # none left
    shoot(page, "run")
    for outcome, n in (("answered", 243), ("reused", 30)):  # each filter shows its count
        page.get_by_label("Outcome").select_option(outcome)
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#showing").first).to_have_text(f"Showing 1–{min(n, 50)} of {n}")

    # search by patient name, then by member ID (any outcome)
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Patient, member ID or claim").fill("quillfeather")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#showing").first).to_have_text("Showing 1–1 of 1")
    expect(items.locator("tr[id^=item-]")).to_contain_text("Quillfeather, Pat007")
    page.get_by_label("Patient, member ID or claim").fill("SYNA00123")
    page.get_by_role("button", name="Find").click()
    expect(items.locator("tr[id^=item-]")).to_have_count(1)
    expect(items.locator("tr[id^=item-]")).to_contain_text("Synthetic, Pat123")
    page.get_by_label("Patient, member ID or claim").fill("nobody-like-this")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#showing").first).to_have_text("Nothing matches.")


def test_status_in_words_for_stopped_and_running_runs(morning, page: Page):
    store, settings, url = morning["store"], morning["settings"], morning["url"]
    stopped = seed_run(store, settings, tag="S", items=60, waiting=40, status=RunStatus.STOPPED)
    running = seed_run(store, settings, tag="R", items=290, waiting=170, status=RunStatus.RUNNING)
    log_in(page, url, "sam", "sam-supervisor-pw")
    page.goto(f"{url}/runs/{stopped}")
    expect(page.locator("#run-status")).to_have_text("Stopped: 40 items left")
    expect(page.get_by_role("button", name="Resume the 40 queued/paused item(s)")).to_be_visible()
    expect(page.get_by_text(f"payerbot runs resume {stopped}")).to_be_visible()
    page.get_by_label("Outcome").select_option("waiting")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#showing").first).to_have_text("Showing 1–40 of 40")
    page.goto(f"{url}/runs/{running}")
    expect(page.locator("#run-status")).to_have_text("Running: 120 of 290")
    expect(page.get_by_role("button", name=re.compile("^Resume"))).to_have_count(0)  # it runs


def test_resume_works_the_waiting_items_of_a_stopped_run(morning, page: Page, ground_truth):
    store, url = morning["store"], morning["url"]
    members = [m for m in ground_truth["members"] if m["payer_id"] == "ACME"][:3]
    asked = [
        EligibilityQuery(
            payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
        )
        for m in members
    ]
    questions = [
        Question(
            reference=q.reference(),
            kind="eligibility",
            payer_id="ACME",
            portal="payerhub",
            query=q.model_dump(mode="json"),
            source_row=n + 1,
        )
        for n, q in enumerate(asked)
    ]
    run_id, _ = store.start_run("eligibility", "batch", "appointments.csv", questions)
    store.finish_run(run_id, RunStatus.STOPPED, {"items": 3, "new": 3})
    log_in(page, url, "sam", "sam-supervisor-pw")
    page.goto(f"{url}/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("Stopped: 3 items left")
    page.get_by_role("button", name="Resume the 3 queued/paused item(s)").click()
    expect(page.get_by_role("status").first).to_contain_text("Resuming the 3 waiting item(s)")
    deadline = deadline_in(120)
    while (run := store.get_run(run_id)) is None or run.status != RunStatus.FINISHED:
        assert time.monotonic() < deadline, "the resumed run never finished"
        time.sleep(0.5)
    assert {i.state for i in store.run_outcomes(run_id)} <= {"succeeded", "business_failed"}
    page.reload()
    expect(page.locator("#run-status")).to_have_text("Finished")
    expect(page.get_by_role("button", name=re.compile("^Resume"))).to_have_count(0)


def test_the_runs_list_filters_batches_desk_lookups_status_and_dates(morning, page: Page):
    store, settings, url = morning["store"], morning["settings"], morning["url"]
    old = datetime(2026, 7, 4, 7, 12, tzinfo=UTC)
    seed_run(store, settings, tag="O", items=5, failed=2, started=old)
    seed_run(store, settings, tag="B", items=8, waiting=8, status=RunStatus.STOPPED)
    desk = seed_run(store, settings, tag="D", items=1, trigger="lookup")
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "sam", "sam-supervisor-pw")
    page.goto(f"{url}/runs")
    table = page.get_by_role("table", name="Runs")
    expect(table.locator("tr").filter(has=page.get_by_role("link"))).to_have_count(3)
    expect(page.locator("#showing")).to_have_text("Showing 1–3 of 3")
    shoot(page, "runs")
    page.get_by_label("Which runs").select_option("desk")
    page.get_by_role("button", name="Filter").click()
    rows = table.locator("tr").filter(has=page.get_by_role("link"))
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(desk)
    expect(rows).to_contain_text("desk lookup")
    page.get_by_label("Which runs").select_option("batches")
    page.get_by_label("Status").select_option("stopped")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Stopped: 8 items left")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Started from").fill("2026-07-04")
    page.get_by_label("to", exact=True).fill("2026-07-04")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Finished with 2 failures")
    expect(rows).to_contain_text("07/04/2026 2:12 AM")  # 07:12 UTC in Chicago (CDT)
    # a "to" before the "from" is one sentence, not an error page
    page.goto(f"{url}/runs?from=2026-07-05&to=2026-07-04")
    expect(page.get_by_role("alert")).to_have_text("The “from” date is after the “to” date.")
    page.goto(f"{url}/runs?from=13/45/2026")
    expect(page.get_by_role("alert")).to_have_text(
        "The “from” date is not a date: write it as MM/DD/YYYY."
    )


def test_local_time_is_shown_and_utc_stored(morning, page: Page):
    """A run stored at 12/02/2026 09:05 UTC reads 3:05 AM in Chicago (CST, UTC-6) on the
    console, while its store row keeps 09:05 UTC."""
    store, settings, url = morning["store"], morning["settings"], morning["url"]
    stored_at = datetime(2026, 12, 2, 9, 5, tzinfo=UTC)
    run_id = seed_run(store, settings, tag="T", items=3, started=stored_at)
    db = Path(settings.store_url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as raw:
        (started,) = raw.execute("select started_at from runs where id = ?", (run_id,)).fetchone()
    assert started.startswith("2026-12-02 09:05:00"), started  # UTC in the store
    assert store.get_run(run_id).started_at == stored_at
    log_in(page, url, "sam", "sam-supervisor-pw")
    page.goto(f"{url}/runs")
    row = page.get_by_role("row").filter(has_text=run_id)
    expect(row).to_contain_text("12/02/2026 3:05 AM")
    assert "09:05" not in row.inner_text() and "2026-12-02" not in row.inner_text()
    page.goto(f"{url}/runs/{run_id}")
    expect(page.locator(".card").first).to_contain_text("started 12/02/2026 3:05 AM")
    expect(page.locator(".card").first).to_contain_text("ended 12/02/2026 3:14 AM")


def test_the_home_page_shows_todays_counts_with_links(morning, page: Page):
    store, settings, url = morning["store"], morning["settings"], morning["url"]
    failed_run = seed_run(store, settings, tag="N", items=20, failed=4)
    older = seed_run(
        store, settings, tag="W", items=5, failed=3, started=utcnow() - timedelta(days=3)
    )
    seed_run(
        store,
        settings,
        tag="P",
        items=4,
        waiting=4,
        status=RunStatus.STOPPED,
        portal="legacyportal",
        payer="DELTA",
        notes={
            "stopped_portals": {"legacyportal": "paused by the drift canary: its pages changed"}
        },
    )
    item_ids = [i.id for i in store.run_outcomes(failed_run)]
    now = utcnow()
    spec = [  # (created, assignee, priority, status)
        (now, "sam", "high", "open"),
        (now, "sam", "low", "in progress"),
        (now, None, "high", "open"),
        (now, "dana", "medium", "open"),
        (now, None, "high", "done"),
        (now - timedelta(days=2), "sam", "high", "open"),
        (now - timedelta(days=2), None, "low", "open"),
    ]
    with store._tx() as conn:
        for n, (created, assignee, priority, status) in enumerate(spec):
            conn.execute(
                insert(followups).values(
                    item_id=item_ids[n],
                    rule="coverage_inactive",
                    kind="eligibility",
                    payer_id="ACME",
                    reason="Coverage ended",
                    priority=priority,
                    action="Ask the patient for new insurance",
                    assignee=assignee,
                    status=status,
                    created_at=created,
                    updated_at=created,
                )
            )
    # the practice's day began at local midnight: a follow-up from before it is not "new"
    start = datetime.now(ZoneInfo(ZONE))
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    new_today = sum(1 for created, *_ in spec if created >= midnight)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "sam", "sam-supervisor-pw")
    expect(page).to_have_url(f"{url}/")
    expect(page.locator("#count-new td").nth(1)).to_have_text(str(new_today))
    expect(page.locator("#count-mine td").nth(1)).to_have_text("3")  # sam's open: 2 today + 1
    expect(page.locator("#count-high td").nth(1)).to_have_text("3")  # open high, any day
    expect(page.locator("#count-failed td").nth(1)).to_have_text("4")  # last night's only
    expect(page.locator("#count-paused td").nth(1)).to_have_text("1")
    counts = store.morning_counts(midnight, midnight - timedelta(hours=12), "sam")
    assert (counts.new_followups, counts.mine, counts.high, counts.failed_items) == (
        new_today,
        3,
        3,
        4,
    )
    assert older not in counts.failed_runs
    expect(page.get_by_role("region", name="Paused portals")).to_contain_text(
        "legacyportal: Paused since"
    )
    expect(page.get_by_role("region", name="Paused portals")).to_contain_text(
        "by the page-change check"
    )
    shoot(page, "home")
    page.locator("#count-failed").get_by_role("link").first.click()
    expect(page).to_have_url(f"{url}/runs/{failed_run}?outcome=failed")
    expect(page.locator("#showing").first).to_have_text("Showing 1–4 of 4")

    # a specialist sees her own counts and none of the supervisor's
    page.get_by_role("button", name="Log out").click()
    log_in(page, url, "dana", "dana-specialist-pw")
    expect(page).to_have_url(f"{url}/")
    expect(page.locator("#count-mine td").nth(1)).to_have_text("1")
    expect(page.locator("#count-failed")).to_have_count(0)
    expect(page.locator("#count-paused")).to_have_count(0)
    expect(page.get_by_role("region", name="Paused portals")).to_have_count(0)


def test_portal_health_is_said_in_words_with_local_times(morning, page: Page):
    store, settings, url = morning["store"], morning["settings"], morning["url"]
    seed_run(store, settings, tag="H", items=20, failed=3)  # payerhub: 17 of 20 answered
    yesterday = datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=1)
    paused_local = datetime.combine(yesterday, dtime(3, 12), ZoneInfo(ZONE))
    paused_at = paused_local.astimezone(UTC)
    seed_run(
        store,
        settings,
        tag="L",
        items=4,
        waiting=4,
        status=RunStatus.STOPPED,
        portal="legacyportal",
        payer="DELTA",
        started=paused_at,
        notes={
            "stopped_portals": {"legacyportal": "paused by the drift canary: its pages changed"}
        },
    )
    store.flag_account("payerhub", "main", "login_refused", "Invalid username or password", None)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "sam", "sam-supervisor-pw")
    page.get_by_role("link", name="Portals").click()
    hub = page.get_by_role("region", name=re.compile("^payerhub"))
    expect(hub).to_contain_text("85% of 20 lookups in the last 24 hours answered (3 failed)")
    expect(hub.locator(".portal-state")).to_have_text("Working")
    expect(hub.get_by_role("row").filter(has_text="Account second")).to_contain_text(
        "No open session"
    )
    main = hub.get_by_role("row").filter(has_text="Account main")
    expect(main).to_contain_text(
        re.compile(r"Account main locked since \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M: wrong password")
    )
    expect(main).to_contain_text("(login_refused)")
    expect(main).to_contain_text("payerbot creds reset-lock payerhub --account main")
    legacy = page.get_by_role("region", name=re.compile("^legacyportal"))
    state = legacy.locator(".portal-state")
    expect(state).to_have_class(re.compile(r"\bbad\b"))
    expect(state).to_have_text(
        f"Paused since {paused_local:%m/%d/%Y} 3:12 AM by the page-change check"
    )
    body = page.locator("main").inner_text()
    assert "{" not in body and "}" not in body, "no raw dicts"
    assert not re.search(r"\d{4}-\d\d-\d\dT", body), "no ISO times for people"
    shoot(page, "portals")
