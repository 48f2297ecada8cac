"""A portal asking us to wait: 429s pause it (free up to a limit, Retry-After honoured),
maintenance is waited out or postpones its items (never fails them), a configured window
postpones before any login; the other portals carry on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bots.errors import PortalMaintenance, RateLimited
from bots.flowkit.scripted import ANSWER, ScriptedFlow, Slow
from tests.engine.conftest import elig, run, tries

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


def _store(settings):
    from bots.store import Store

    return Store.open(settings)


def test_a_429_pauses_the_portal_and_costs_no_attempt(make_settings):
    settings = make_settings(queue={"rate_limit_pause_seconds": 0.15})
    store = _store(settings)
    flow = ScriptedFlow({"M1": [RateLimited("429"), ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    first, second = (c.at for c in flow.asked("M1"))
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    assert tries(store, items["M1"].id) == [(1, "succeeded", None)], "the 429 is no attempt"
    assert second - first >= 0.14, "the pause without Retry-After is the configured one"
    store.close()


def test_retry_after_is_honoured(make_settings):
    settings = make_settings(queue={"rate_limit_pause_seconds": 0.01})
    store = _store(settings)
    flow = ScriptedFlow({"M1": [RateLimited("429", retry_after=0.25), ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    first, second = (c.at for c in flow.asked("M1"))
    assert items["M1"].state == "succeeded" and second - first >= 0.24
    store.close()


def test_a_429_pauses_every_session_of_the_portal_not_the_others(make_settings):
    settings = make_settings(queue={"rate_limit_pause_seconds": 0.01})
    store = _store(settings)
    alpha = ScriptedFlow({"M0": [RateLimited("429", retry_after=0.3), ANSWER]}, default=Slow(0.01))
    beta = ScriptedFlow(default=Slow(0.01))
    rows = [elig(f"M{n}") for n in range(6)] + [elig(f"B{n}", "BETA") for n in range(8)]
    _, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert {i.state for i in items.values()} == {"succeeded"}
    refused = alpha.asked("M0")[0]
    refused_at = refused.at
    other = {"main", "second"} - {refused.account}  # whichever session claimed M0 first
    # during the pause alpha starts nothing new: only the other session's turn taken before
    # the 429 (then in a store round trip) may still reach the portal
    during = [c for c in alpha.asked() if refused_at < c.at < refused_at + 0.28]
    assert len(during) <= 1 and {c.account for c in during} <= other, during
    assert [c for c in beta.asked() if refused_at < c.at < refused_at + 0.28], "beta went on"
    store.close()


def test_429s_beyond_the_free_pauses_spend_attempts_until_system_failed(make_settings):
    settings = make_settings(
        queue={"rate_limit_pause_seconds": 0.0, "rate_limit_free_pauses": 2, "max_attempts": 3}
    )
    store = _store(settings)
    flow = ScriptedFlow({"M1": RateLimited("429")})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert (items["M1"].state, items["M1"].attempts) == ("system_failed", 3)
    assert items["M1"].last_error_code == "rate_limited"
    assert len(flow.asked("M1")) == 2 + 3, "two free pauses, then three attempts spent"
    store.close()


def test_an_answer_resets_the_count_of_429s_in_a_row(make_settings):
    settings = make_settings(
        queue={"rate_limit_pause_seconds": 0.0, "rate_limit_free_pauses": 1},
        portals={"alpha": {"accounts": ["main"]}},
    )
    store = _store(settings)
    flow = ScriptedFlow({f"M{n}": [RateLimited("429"), ANSWER] for n in range(4)})
    _, items = run(settings, store, {"alpha": flow}, [elig(f"M{n}") for n in range(4)])
    assert [(i.state, i.attempts) for i in items.values()] == [("succeeded", 1)] * 4
    assert len(flow.asked()) == 8
    store.close()


def test_a_short_maintenance_is_waited_out_without_spending_an_attempt(settings, store):
    made = time.monotonic()  # the flow's clock (Asked.at)
    until = datetime.now(UTC) + timedelta(seconds=0.25)  # shorter than maintenance_wait
    flow = ScriptedFlow({"M1": [PortalMaintenance("down", until=until), ANSWER]})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    second = flow.asked("M1")[1]
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    # asked again no sooner than the portal said (timed from `until`, not from the first
    # ask, which a loaded machine may make late; 20 ms for the clocks' resolution)
    assert datetime.now(UTC) >= until and second.at - made >= 0.25 - 0.02
    assert not summary.postponed_portals and summary.ok


def test_a_maintenance_page_without_an_end_waits_the_configured_time(make_settings):
    settings = make_settings(queue={"maintenance_wait_minutes": 0.004})  # 0.24 s
    store = _store(settings)
    flow = ScriptedFlow({"M1": [PortalMaintenance("down for maintenance"), ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    first, second = (c.at for c in flow.asked("M1"))
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    assert second - first >= 0.2
    store.close()


def test_a_long_maintenance_postpones_the_portals_items_and_the_others_carry_on(
    make_settings,
):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    until = datetime.now(UTC) + timedelta(hours=2)
    alpha = ScriptedFlow({"M1": PortalMaintenance("down until morning", until=until)})
    beta = ScriptedFlow()
    rows = [elig(f"M{n}") for n in range(1, 5)] + [elig("B1", "BETA"), elig("B2", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    waiting = [items[f"M{n}"] for n in range(1, 5)]
    assert [(i.state, i.attempts) for i in waiting] == [("new", 0)] * 4, "queued, not failed"
    assert all(abs((i.not_before.replace(tzinfo=UTC) - until).total_seconds()) < 1 for i in waiting)
    assert len(alpha.asked()) == 1, "nothing more asked of a portal in maintenance"
    assert items["B1"].state == items["B2"].state == "succeeded"
    assert "alpha" in summary.postponed_portals and summary.ok, "postponed is not failed"
    assert store.get_run(summary.run_id).status == "finished"
    store.close()


def test_a_configured_maintenance_window_postpones_the_portal_before_any_login(make_settings):
    now = datetime.now(UTC)
    window = f"daily {now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    settings = make_settings(portals={"alpha": {"maintenance_windows": [window]}})
    store = _store(settings)
    alpha, beta = ScriptedFlow(), ScriptedFlow()
    rows = [elig("M1"), elig("M2"), elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert alpha.calls == [], "not even a login"
    assert [(items[k].state, items[k].attempts) for k in ("M1", "M2")] == [("new", 0)] * 2
    end = items["M1"].not_before.replace(tzinfo=UTC)
    assert timedelta(minutes=58) < end - now <= timedelta(hours=1, minutes=1)
    assert "scheduled maintenance" in summary.postponed_portals["alpha"]
    assert items["B1"].state == "succeeded" and summary.ok
    store.close()
