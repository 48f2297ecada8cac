"""A desk lookup that fails after a good answer: the answer stays the item's last good one,
the failure is recorded next to it, and the follow-up raised from the answer stays open."""

from __future__ import annotations

from typing import Any

import pytest

from bots.errors import PatientMismatch, PortalTimeout
from bots.flowkit.scripted import ScriptedFlow, answer_for
from bots.followups.queue import list_followups
from bots.models import LookupKind
from bots.services.finishers import followups_only
from bots.services.lookups import LookupAnswer, estimate_for
from bots.store import ItemState, OutcomeCode, Store
from tests.conftest import run_async
from tests.engine.conftest import elig, new_runner

pytestmark = pytest.mark.timeout(30)

RULES: dict[str, Any] = {
    "followups": {
        "rules": {
            "coverage_inactive": {
                "priority": "high",
                "reason": "Coverage not active on {date_of_service}",
                "action": "Confirm the plan with the patient",
            },
            "patient_review": {
                "priority": "high",
                "reason": "The portal shows another patient",
                "action": "Look the patient up by hand",
            },
        }
    }
}


def _desk_lookup(settings, store: Store, flow: ScriptedFlow) -> LookupAnswer:
    """What bots.services.lookups.lookup does, with the scripted portal."""
    runner = new_runner(settings, store, {"alpha": flow}, finisher=followups_only(settings, store))
    summary = run_async(
        runner.run(LookupKind.ELIGIBILITY, [elig("M1")], trigger="lookup", force=True)
    )
    item = store.run_outcomes(summary.run_id)[0]
    return LookupAnswer(summary.run_id, item, estimate_for(item), [], summary.duration_seconds)


@pytest.mark.parametrize(
    ("later", "code"),
    [
        (PortalTimeout("the portal did not answer"), OutcomeCode.PORTAL_TIMEOUT),
        (PatientMismatch("the page shows someone else"), OutcomeCode.PATIENT_MISMATCH),
    ],
)
def test_a_failed_desk_lookup_keeps_the_good_answer_and_its_followup(make_settings, later, code):
    settings = make_settings(queue={"max_attempts": 1}, **RULES)
    store = Store.open(settings)
    try:
        inactive = answer_for(elig("M1")[1]).model_copy(update={"coverage_active": False})
        flow = ScriptedFlow({"M1": [inactive, later]})
        first = _desk_lookup(settings, store, flow)
        assert first.item.state == ItemState.SUCCEEDED
        (raised,) = list_followups(store, status=["open"])
        assert raised.rule == "coverage_inactive"

        again = _desk_lookup(settings, store, flow)
        item = again.item
        assert item.last_error_code == code
        assert item.last_good is not None
        assert item.last_good.payload == first.item.payload
        assert item.last_good.checked_at == first.item.checked_at
        assert item.newer_failure is not None and item.newer_failure.error_code == code
        shown = again.as_json()
        assert shown["last_good"]["result"] == first.item.payload
        assert shown["last_good"]["checked_at"] == first.item.checked_at.isoformat()
        assert shown["newer_failure"]["error"] == code.value
        # the follow-up raised from the good answer is not closed by a lookup that failed
        still = {f.rule: f for f in list_followups(store, status=["open", "in progress"])}
        assert still["coverage_inactive"].id == raised.id
        assert still["coverage_inactive"].status == "open"
    finally:
        store.close()
