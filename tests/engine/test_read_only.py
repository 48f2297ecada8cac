"""The read-only guard's policy without a browser: whatever a flow made of a blocked write
(here it swallowed it and answered), the lookup ends as read_only_violation, is never
retried, and the portal stops for the run, in a local run and in the fleet."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bots.engine.browserless import BrowserlessSessions
from bots.errors import ReadOnlyViolation
from bots.flowkit.scripted import ScriptedFlow, Slow, answer_for
from bots.models import EligibilityQuery, EligibilityResult
from bots.store import Store
from tests.conftest import run_async
from tests.engine.conftest import elig, enqueue_fleet_run, new_worker, outcomes, run

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


class CarelessFlow(ScriptedFlow):
    """Answers every question; on ``writes_on`` (a member id, or a landmarks stage) its
    guard saw a write first (the session's guard records it, as Chromium's route would)
    and the flow said nothing."""

    def __init__(self, sessions: BrowserlessSessions, writes_on: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.sessions = sessions
        self.writes_on = writes_on

    def _wrote(self, page: Any) -> None:
        mine = [s for s in self.sessions.opened if s.flow is self]
        (session,) = [s for s in mine if s.account == page.account][-1:]
        session.violations.append(ReadOnlyViolation("the guard stopped POST /appeals"))

    async def eligibility(self, page: Any, query: EligibilityQuery) -> EligibilityResult:
        if query.member_id == self.writes_on:
            self._wrote(page)
            return cast(EligibilityResult, answer_for(query))
        return await super().eligibility(page, query)

    async def landmarks(self, page: Any, stage: Any, kinds: Any = None) -> list[str]:
        if stage == self.writes_on:
            self._wrote(page)
        return await super().landmarks(page, stage, kinds)


def test_a_swallowed_write_ends_the_lookup_and_stops_the_portal(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = Store.open(settings)
    sessions = BrowserlessSessions()
    alpha = CarelessFlow(sessions, "M2")
    rows = [elig(f"M{n}") for n in range(1, 5)] + [elig("B1", "BETA")]
    summary, items = run(
        settings, store, {"alpha": alpha, "beta": ScriptedFlow()}, rows, sessions=sessions
    )
    assert items["M1"].state == "succeeded"
    assert (items["M2"].state, items["M2"].attempts) == ("system_failed", 1), "not retried"
    assert items["M2"].last_error_code == "read_only_violation"
    assert items["M2"].payload is None, "the answer read after a write is never kept"
    for key in ("M3", "M4"):
        assert (items[key].state, items[key].attempts) == ("system_failed", 0)
        assert items[key].last_error_message.startswith("not attempted: alpha stopped")
    assert items["B1"].state == "succeeded", "the other portal carries on"
    assert "alpha" in summary.stopped_portals
    store.close()


def test_in_the_fleet_a_write_stops_the_portal_whatever_accounts_are_left(settings, store):
    run_id = enqueue_fleet_run(settings, store, [elig(f"M{n}") for n in range(1, 6)])
    sessions = BrowserlessSessions()
    # the others take a while: the careless lookup ends first, whichever session has it
    flow = CarelessFlow(sessions, "M1", default=Slow(0.3))
    run_async(new_worker(settings, store, {"alpha": flow}, session_factory=sessions).run())
    items = outcomes(store, run_id)
    assert items["M1"].last_error_code == "read_only_violation"
    assert items["M1"].attempts == 1
    assert store.flagged_accounts("alpha") == [], "not the account's fault"
    untried = [i for k, i in items.items() if i.attempts == 0]
    assert untried and all(i.state == "system_failed" for i in untried)


def test_a_write_during_the_drift_canary_stops_the_portal_before_its_first_lookup(
    make_settings,
):
    settings = make_settings(queue={"drift_canary": True})
    store = Store.open(settings)
    sessions = BrowserlessSessions()
    alpha = CarelessFlow(sessions, "search")
    summary, items = run(settings, store, {"alpha": alpha}, [elig("M1")], sessions=sessions)
    assert alpha.asked() == [], "stopped before its first lookup"
    assert items["M1"].last_error_code == "read_only_violation"
    assert items["M1"].attempts == 0
    assert "alpha" in summary.stopped_portals
    store.close()
