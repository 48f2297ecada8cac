"""Engine behaviour the portal fleet needs, through the Runner against the real mock portals:
a CAPTCHA stops a portal (and only that portal), a redesign pauses it (the circuit breaker),
and files a portal hands over are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.engine.runner import Runner
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.store import Store
from tests.conftest import eligibility_rows, run_async, run_rows
from tests.timing import deadline_in, scaled

pytestmark = pytest.mark.browser


def members(gt, payer, n):
    return [
        m
        for m in gt["members"]
        if m["payer_id"] == payer and m["coverage"]["termination_date"] is None
    ][:n]


def test_a_captcha_stops_that_portal_for_a_person_and_the_others_carry_on(
    settings, mock_portals, ground_truth
):
    # 8 pages a minute: the drift canary's few page loads pass, the lookups then meet it
    mock_portals["medicaidportal"].knobs(captcha_after_per_minute=8)
    rows = eligibility_rows(
        members(ground_truth, "STATEMCD", 6) + members(ground_truth, "DELTA", 3)
    )
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    medicaid = [o for o in outcomes if o.portal == "medicaidportal"]
    legacy = [o for o in outcomes if o.portal == "legacyportal"]
    assert "medicaidportal" in summary.stopped_portals and not summary.ok
    assert any(o.last_error_code == "portal_blocked" and o.evidence_path for o in medicaid)
    assert all(o.state in ("succeeded", "system_failed") for o in medicaid)
    blocked = [o for o in medicaid if o.state == "system_failed"]
    assert blocked and all(o.last_error_code == "portal_blocked" for o in blocked)
    assert all(o.attempts <= 1 for o in blocked), "never retried into the CAPTCHA"
    assert [o.state for o in legacy] == ["succeeded"] * 3
    assert mock_portals["medicaidportal"].counters()["captcha_submissions"] == 0


def test_the_claim_pdf_a_portal_hands_over_is_kept_as_evidence(
    settings, mock_portals, ground_truth
):
    claim = next(
        c
        for c in ground_truth["claims"]
        if c["payer_id"] == "STATEMCD" and c["status"]["category"] == "F2"
    )
    rows = [(None, ClaimStatusQuery(payer_id="STATEMCD", claim_number=claim["claim_number"]))]
    store = Store.open(settings)
    summary = run_async(Runner(settings, store).run(LookupKind.CLAIM_STATUS, rows))
    (item,) = store.run_outcomes(summary.run_id)
    store.close()
    assert item.state == "succeeded", item.last_error_code
    (attachment,) = item.payload["attachments"]
    path = settings.data_dir / "evidence" / summary.run_id / f"item-{item.id}-try1.file1.pdf"
    assert attachment["path"] == str(path) and attachment["media_type"] == "application/pdf"
    assert path.read_bytes().startswith(b"%PDF")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert claim["claim_number"] not in path.name  # evidence names carry no PHI


def test_a_transient_fault_is_retried_and_then_succeeds(
    settings, mock_portals, ground_truth, monkeypatch
):
    import threading
    import time

    monkeypatch.setenv("PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS", "1.0")
    from bots.settings import load_settings

    settings = load_settings()
    legacy = mock_portals["legacyportal"]
    legacy.knobs(error_rate=1.0)
    (m,) = members(ground_truth, "ELM", 1)
    rows = [
        (
            None,
            EligibilityQuery(
                payer_id="ELM", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
            ),
        )
    ]
    store = Store.open(settings)
    outcome: dict = {}
    worker = threading.Thread(
        target=lambda: outcome.update(
            summary=run_async(Runner(settings, store).run(LookupKind.ELIGIBILITY, rows))
        )
    )
    worker.start()
    deadline = deadline_in(60)
    while not any(
        '"next_state": "new"' in p.read_text() for p in settings.data_dir.glob("runs/*/run.jsonl")
    ):
        assert time.monotonic() < deadline, "the first attempt never failed"
        time.sleep(0.05)
    legacy.knobs(error_rate=0.0)  # the portal recovers before the retry
    worker.join(timeout=scaled(120))
    (item,) = store.run_outcomes(outcome["summary"].run_id)
    store.close()
    assert (item.state, item.attempts) == ("succeeded", 2)


def test_a_redesigned_portal_trips_the_breaker_and_only_it_pauses(
    settings, mock_portals, ground_truth
):
    """PayerHub switched to layout B mid-season: five lookups in a row that cannot read its
    pages pause it for the run, its other items stay queued (not failed), the legacy portal
    answers everything, and the run says why, with a screenshot."""
    mock_portals["payerhub"].knobs(layout="B")
    settings.queue.drift_canary = False  # the redesign lands mid-run, after the canary
    rows = eligibility_rows(members(ground_truth, "ACME", 12) + members(ground_truth, "DELTA", 3))
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    hub = [o for o in outcomes if o.portal == "payerhub"]
    legacy = [o for o in outcomes if o.portal == "legacyportal"]
    reason = summary.stopped_portals["payerhub"]
    assert "lookups in a row could not read its pages" in reason and not summary.ok
    screenshot = reason.split("screenshot ")[1].split(";")[0]
    assert screenshot.endswith((".jpg", ".png")) and Path(screenshot).is_file()
    assert [o.state for o in legacy] == ["succeeded"] * 3
    assert all(o.state == "new" for o in hub), "paused, not failed one by one"
    tried = sum(o.attempts for o in hub)
    assert 5 <= tried < 12, tried  # the breaker opened long before every item was tried
    assert sum(1 for o in hub if o.last_error_code == "layout_changed") >= 1
    store = Store.open(settings)
    try:
        notes = store.get_run(summary.run_id).notes
    finally:
        store.close()
    assert "payerhub" in notes["stopped_portals"]


def test_the_drift_canary_pauses_a_redesigned_portal_before_its_first_lookup(
    settings, mock_portals, ground_truth
):
    """Layout B on PayerHub: the canary finds the search form's landmarks gone before any
    lookup, pauses only PayerHub with a screenshot, and the run report says so."""
    hub = mock_portals["payerhub"]
    hub.knobs(layout="B")
    rows = eligibility_rows(members(ground_truth, "ACME", 6) + members(ground_truth, "DELTA", 3))
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    reason = summary.stopped_portals["payerhub"]
    assert reason.startswith("paused by the drift canary") and "no label" in reason, reason
    assert "legacyportal" not in summary.stopped_portals
    screenshot = Path(reason.split("screenshot ")[1].split(";")[0])
    assert screenshot.is_file() and screenshot.stat().st_size > 1000
    assert hub.counters()["lookups"]["eligibility"] == 0, "paused before its first lookup"
    hub_rows = [o for o in outcomes if o.portal == "payerhub"]
    assert [o.state for o in hub_rows] == ["new"] * 6 and all(o.attempts == 0 for o in hub_rows)
    assert [o.state for o in outcomes if o.portal == "legacyportal"] == ["succeeded"] * 3
    # the same portal as it should be: the canary passes and everything is answered
    hub.knobs(layout="A")
    fine, answered = run_rows(settings, LookupKind.ELIGIBILITY, rows, force=True)
    assert not fine.stopped_portals and {o.state for o in answered} == {"succeeded"}


def test_doctor_portals_names_the_portal_whose_pages_changed(env, mock_portals):
    """The canary on demand: layout B on PayerHub is drift (exit 1, with a screenshot); the
    other two portals are as their flows expect."""
    import json
    import subprocess

    mock_portals["payerhub"].knobs(layout="B")
    proc = subprocess.run(
        [".venv/bin/payerbot", "doctor", "portals", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    checks = {c["portal"]: c for c in json.loads(proc.stdout)}
    assert checks["payerhub"]["status"] == "drift", checks["payerhub"]
    assert "no label 'Member ID'" in checks["payerhub"]["detail"]
    assert Path(checks["payerhub"]["screenshot"]).is_file()
    assert checks["legacyportal"]["status"] == "ok", checks["legacyportal"]
    assert checks["medicaidportal"]["status"] == "ok", checks["medicaidportal"]
    assert all(p.counters()["writes"] == 0 for p in mock_portals.values())
