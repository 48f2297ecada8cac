"""Items left without an answer because their portal was paused (the drift canary) or
postponed (the rate-limit budget, a maintenance window) are rows of the specialists'
workbook with the reason in words, not missing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bots.engine.drift import _reason as drift_reason
from bots.models import LookupKind
from bots.outputs.workbook_sync import sync_workbook
from bots.services.finishers import write_run_outputs
from bots.settings import QueueSettings, load_settings
from bots.store import ItemState, Question, Store, utcnow
from tests.unit.test_workbook import eligibility_payload

RATE_LIMITED = (
    "asked us to slow down for 31 minutes without answering one lookup (the budget is 30 "
    "minutes); its items stay queued for `payerbot runs resume`"
)


@pytest.fixture
def store(store_url):
    s = Store(store_url, QueueSettings(max_attempts=1, lease_seconds=60))
    yield s
    s.close()


def _question(ref: str, kind: str, portal: str) -> Question:
    return Question(reference=ref, kind=kind, payer_id="ACME", portal=portal, query={})


def _rows(path: Path, sheet: str) -> list[dict[str, object]]:
    ws = load_workbook(path)[sheet]
    header = [c.value for c in ws[1]]
    return [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_paused_and_postponed_items_are_listed_with_their_reason(store, tmp_path):
    run_id = store.start_run("eligibility", "batch", None)[0]
    for ref, portal in [("answered", "payerhub"), ("drift", "legacyportal"), ("slow", "hub2")]:
        store.enqueue(run_id, _question(ref, "eligibility", portal), force=True)
    item = store.claim(run_id, "payerhub")
    store.complete(
        item,
        run_id,
        outcome=ItemState.SUCCEEDED,
        started_at=utcnow(),
        payload=eligibility_payload(),
    )
    until = utcnow() + timedelta(minutes=30)
    assert store.postpone_pending(run_id, "hub2", until) == 1
    claims = store.start_run("claim_status", "batch", None)[0]
    store.enqueue(claims, _question("claim", "claim_status", "hub2"), force=True)
    store.postpone_pending(claims, "hub2", until)
    shot = tmp_path / "evidence" / "drift" / "legacyportal-drift-search.jpg"
    store.finish_run(
        run_id,
        "finished",
        {},
        notes={
            "stopped_portals": {"legacyportal": drift_reason(["the member search form"], shot)},
            "postponed_portals": {"hub2": RATE_LIMITED},
        },
    )
    store.finish_run(claims, "finished", {}, notes={"postponed_portals": {"hub2": RATE_LIMITED}})
    # a run without pauses (an earlier one) adds nothing
    quiet = store.start_run("eligibility", "batch", None)[0]
    store.finish_run(quiet, "finished", {}, notes={})

    settings = load_settings(data_dir=tmp_path)
    synced = sync_workbook(store, settings)
    eligibility = {r["Item ID"]: r for r in _rows(synced.path, "Eligibility")}
    assert len(eligibility) == 3, "the answer and both waiting items"
    by_outcome = {str(r["Outcome"]): r for r in eligibility.values()}
    paused = by_outcome["Paused: the portal's pages changed"]
    assert paused["Problem"] == (
        "Not looked up yet: portal legacyportal was paused by the drift canary: its pages "
        "changed (the member search form); its items stay queued for `payerbot runs resume` "
        "once the flow is fixed"
    )
    (postponed,) = [r for o, r in by_outcome.items() if o.startswith("Postponed until ")]
    assert re.fullmatch(
        r"Postponed until \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M", str(postponed["Outcome"])
    )
    assert postponed["Problem"] == f"Not looked up yet: portal hub2 {RATE_LIMITED}"
    assert "Active" in by_outcome, "the answered item is unchanged"
    (claim,) = _rows(synced.path, "Claim status")
    assert str(claim["Outcome"]).startswith("Postponed until ")
    assert claim["Problem"] == f"Not looked up yet: portal hub2 {RATE_LIMITED}"

    # the run's own workbook says the same of its items
    _, run_book, _ = write_run_outputs(settings, store, run_id, LookupKind.ELIGIBILITY)
    outcomes = sorted(str(r["Outcome"]) for r in _rows(run_book, "Eligibility"))
    assert outcomes[0] == "Active" and outcomes[1] == "Paused: the portal's pages changed"
    assert outcomes[2].startswith("Postponed until ")
