"""A desk lookup nobody asked to add to the queue: its follow-ups are suggested, not stored;
with ``add_to_queue`` the same answer raises them. The estimate names its service type."""

from __future__ import annotations

import pytest

from bots.flowkit.scripted import ScriptedFlow, answer_for
from bots.followups.queue import list_followups
from bots.models import LookupKind
from bots.services.finishers import followups_only
from bots.services.lookups import SuggestFollowups, estimate_for
from bots.store import Store
from tests.conftest import run_async
from tests.engine.conftest import elig, new_runner
from tests.engine.test_relookup import RULES

pytestmark = pytest.mark.timeout(30)


def test_follow_ups_are_suggested_unless_added_and_the_estimate_names_its_service(
    make_settings,
):
    settings = make_settings(
        **RULES, worklists={"service_types": {"Office visit": "98", "Plan coverage": "30"}}
    )
    store = Store.open(settings)
    try:
        inactive = answer_for(elig("M1")[1]).model_copy(update={"coverage_active": False})
        flow = ScriptedFlow({"M1": [inactive, inactive]})
        suggest = SuggestFollowups(settings, store)
        runner = new_runner(settings, store, {"alpha": flow}, finisher=suggest)
        summary = run_async(
            runner.run(LookupKind.ELIGIBILITY, [elig("M1")], trigger="lookup", force=True)
        )
        assert [f.rule for f in suggest.suggested] == ["coverage_inactive"]
        assert list_followups(store, status=["open", "in progress", "done"]) == []
        item = store.run_outcomes(summary.run_id)[0]
        estimate = estimate_for(item, settings)
        assert estimate is not None
        code = item.query.get("service_type") or "30"
        name = {"98": "Office visit", "30": "Plan coverage"}[code]
        assert estimate.summary.startswith(f"Estimate for {name} ({code}): ")

        added = new_runner(
            settings, store, {"alpha": flow}, finisher=followups_only(settings, store)
        )
        run_async(added.run(LookupKind.ELIGIBILITY, [elig("M1")], trigger="lookup", force=True))
        assert [f.rule for f in list_followups(store, status=["open"])] == ["coverage_inactive"]
    finally:
        store.close()
