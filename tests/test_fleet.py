"""Engine behaviour the portal fleet needs, through the Runner against the real mock portals:
a CAPTCHA stops a portal (and only that portal), a redesign pauses it (the circuit breaker),
and files a portal hands over are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.runner import Runner
from bots.store import Store
from tests.conftest import eligibility_rows, run_async, run_rows

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
    mock_portals["medicaidportal"].knobs(captcha_after_per_minute=4)
    rows = eligibility_rows(
        members(ground_truth, "STATEMCD", 6) + members(ground_truth, "DELTA", 3)
    )
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    medicaid = [o for o in outcomes if o["portal"] == "medicaidportal"]
    legacy = [o for o in outcomes if o["portal"] == "legacyportal"]
    assert "medicaidportal" in summary.stopped_portals and not summary.ok
    assert any(o["last_error_code"] == "portal_blocked" and o["evidence_path"] for o in medicaid)
    assert all(o["state"] in ("succeeded", "system_failed") for o in medicaid)
    blocked = [o for o in medicaid if o["state"] == "system_failed"]
    assert blocked and all(o["last_error_code"] == "portal_blocked" for o in blocked)
    assert all(o["attempts"] <= 1 for o in blocked), "never retried into the CAPTCHA"
    assert [o["state"] for o in legacy] == ["succeeded"] * 3
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
    store = Store(settings.store_url, settings.queue)
    summary = run_async(Runner(settings, store).run(LookupKind.CLAIM_STATUS, rows))
    (item,) = store.run_outcomes(summary.run_id)
    store.close()
    assert item["state"] == "succeeded", item["last_error_code"]
    (attachment,) = item["payload"]["attachments"]
    path = settings.data_dir / "evidence" / summary.run_id / f"item-{item['id']}-try1.file1.pdf"
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
    store = Store(settings.store_url, settings.queue)
    outcome: dict = {}
    worker = threading.Thread(
        target=lambda: outcome.update(
            summary=run_async(Runner(settings, store).run(LookupKind.ELIGIBILITY, rows))
        )
    )
    worker.start()
    deadline = time.monotonic() + 60
    while not any(
        '"next_state": "new"' in p.read_text() for p in settings.data_dir.glob("runs/*/run.jsonl")
    ):
        assert time.monotonic() < deadline, "the first attempt never failed"
        time.sleep(0.05)
    legacy.knobs(error_rate=0.0)  # the portal recovers before the retry
    worker.join(timeout=120)
    (item,) = store.run_outcomes(outcome["summary"].run_id)
    store.close()
    assert (item["state"], item["attempts"]) == ("succeeded", 2)


def test_a_redesigned_portal_trips_the_breaker_and_only_it_pauses(
    settings, mock_portals, ground_truth
):
    """PayerHub switched to layout B mid-season: five lookups in a row that cannot read its
    pages pause it for the run, its other items stay queued (not failed), the legacy portal
    answers everything, and the run says why, with a screenshot."""
    mock_portals["payerhub"].knobs(layout="B")
    rows = eligibility_rows(members(ground_truth, "ACME", 12) + members(ground_truth, "DELTA", 3))
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    hub = [o for o in outcomes if o["portal"] == "payerhub"]
    legacy = [o for o in outcomes if o["portal"] == "legacyportal"]
    reason = summary.stopped_portals["payerhub"]
    assert "lookups in a row could not read its pages" in reason and not summary.ok
    screenshot = reason.split("screenshot ")[1].split(";")[0]
    assert screenshot.endswith((".jpg", ".png")) and Path(screenshot).is_file()
    assert [o["state"] for o in legacy] == ["succeeded"] * 3
    assert all(o["state"] == "new" for o in hub), "paused, not failed one by one"
    tried = sum(o["attempts"] for o in hub)
    assert 5 <= tried < 12, tried  # the breaker opened long before every item was tried
    assert sum(1 for o in hub if o["last_error_code"] == "layout_changed") >= 1
    store = Store(settings.store_url)
    try:
        notes = store.get_run(summary.run_id)["notes"]
    finally:
        store.close()
    assert "payerhub" in notes["stopped_portals"]
