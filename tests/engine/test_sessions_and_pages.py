"""Sessions and pages: an expired session gets one free re-login per attempt; lookups that
cannot read the pages open the circuit breaker (items left queued), a business answer
resets it; the drift canary pauses a redesigned portal before its first lookup."""

from __future__ import annotations

import pytest

from bots.errors import LayoutChanged, MemberNotFound, SessionExpired
from bots.flowkit.scripted import ANSWER, ScriptedFlow
from bots.models import LookupKind
from tests.conftest import run_async
from tests.engine.conftest import elig, new_runner, run, tries

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


def _store(settings):
    from bots.store import Store

    return Store.open(settings)


def _one_account(make_settings, **queue):
    return make_settings(portals={"alpha": {"accounts": ["main"]}}, queue=queue)


def test_an_expired_session_is_logged_into_again_once_for_free(make_settings):
    settings = _one_account(make_settings)
    store = _store(settings)
    flow = ScriptedFlow({"M1": [SessionExpired("logged out"), ANSWER]})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    assert tries(store, items["M1"].id) == [(1, "succeeded", None)]
    assert len(flow.logins("main")) == 2 and summary.logins == {"alpha/main": 2}
    store.close()


def test_a_second_expiry_in_the_same_attempt_is_a_failure(make_settings):
    settings = _one_account(make_settings)
    store = _store(settings)
    expired = SessionExpired("logged out")
    flow = ScriptedFlow({"M1": [expired, expired, ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert [t[1:] for t in tries(store, items["M1"].id)] == [
        ("system_failed", "session_expired"),
        ("succeeded", None),
    ]
    assert len(flow.logins("main")) == 2, "one re-login for the first expiry, none for the second"
    store.close()


def test_the_layout_breaker_pauses_the_portal_and_leaves_its_items_queued(make_settings):
    settings = make_settings(
        portals={"alpha": {"accounts": ["main"]}}, queue={"layout_breaker": 3, "max_attempts": 1}
    )
    store = _store(settings)
    alpha = ScriptedFlow(default=LayoutChanged("no label 'Member ID'"))
    beta = ScriptedFlow()
    rows = [elig(f"M{n}") for n in range(1, 8)] + [elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert [c.key for c in alpha.asked()] == ["M1", "M2", "M3"]
    assert [items[f"M{n}"].last_error_code for n in (1, 2, 3)] == ["layout_changed"] * 3
    assert [(items[f"M{n}"].state, items[f"M{n}"].attempts) for n in range(4, 8)] == [
        ("new", 0)
    ] * 4, "paused, not failed one by one"
    assert "lookups in a row could not read its pages" in summary.stopped_portals["alpha"]
    assert items["B1"].state == "succeeded"
    store.close()


def test_a_business_answer_resets_the_layout_breaker(make_settings):
    settings = make_settings(
        portals={"alpha": {"accounts": ["main"]}}, queue={"layout_breaker": 2, "max_attempts": 1}
    )
    store = _store(settings)
    flow = ScriptedFlow(
        {
            "M1": LayoutChanged("no label"),
            "M2": MemberNotFound("no such member"),
            "M3": LayoutChanged("no label"),
            "M4": ANSWER,
            "M5": LayoutChanged("no label"),
        }
    )
    summary, items = run(settings, store, {"alpha": flow}, [elig(f"M{n}") for n in range(1, 6)])
    assert [c.key for c in flow.asked()] == ["M1", "M2", "M3", "M4", "M5"]
    assert "alpha" not in summary.stopped_portals
    assert items["M4"].state == "succeeded"
    store.close()


def test_flow_bugs_do_not_trip_the_layout_breaker(make_settings):
    settings = make_settings(
        portals={"alpha": {"accounts": ["main"]}}, queue={"layout_breaker": 2, "max_attempts": 3}
    )
    store = _store(settings)
    flow = ScriptedFlow(default=KeyError("status"))
    summary, items = run(settings, store, {"alpha": flow}, [elig(f"M{n}") for n in range(1, 5)])
    assert {(i.state, i.last_error_code, i.attempts) for i in items.values()} == {
        ("system_failed", "flow_bug", 1)
    }, "every item tried once, none left queued by a breaker"
    assert "alpha" not in summary.stopped_portals
    store.close()


def test_the_drift_canary_pauses_a_redesigned_portal_before_its_first_lookup(make_settings):
    settings = make_settings(queue={"drift_canary": True})
    store = _store(settings)
    alpha = ScriptedFlow(landmarks={"search": ["no label 'Member ID'"]})
    beta = ScriptedFlow()
    rows = [elig("M1"), elig("M2"), elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert alpha.asked() == [], "paused before its first lookup"
    assert [(items[k].state, items[k].attempts) for k in ("M1", "M2")] == [("new", 0)] * 2
    assert summary.stopped_portals["alpha"].startswith("paused by the drift canary")
    assert [c.key for c in beta.calls if c.what == "landmarks"] == ["login", "search"]
    assert items["B1"].state == "succeeded"
    store.close()


def test_a_desk_lookup_skips_the_drift_canary(make_settings):
    settings = make_settings(queue={"drift_canary": True})
    store = _store(settings)
    flow = ScriptedFlow(landmarks={"search": ["no label 'Member ID'"]})
    runner = new_runner(settings, store, {"alpha": flow})
    summary = run_async(
        runner.run(LookupKind.ELIGIBILITY, [elig("M1")], trigger="lookup", force=True)
    )
    assert [c.what for c in flow.calls] == ["login", "eligibility"], "a person is waiting"
    assert store.run_outcomes(summary.run_id)[0].state == "succeeded"
    store.close()
