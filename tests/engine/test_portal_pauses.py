"""A portal asking us to wait: 429s pause it and slow its pace (never an attempt, Retry-After
honoured; tests/engine/test_pacing.py has the pace itself),
maintenance is waited out or postpones its items (never fails them), a configured window
postpones before any login; the other portals carry on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

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


def test_any_number_of_429s_costs_no_attempt_and_no_login(make_settings):
    settings = make_settings(
        queue={"rate_limit_pause_seconds": 0.0, "max_attempts": 3},
        portals={"alpha": {"accounts": ["main"]}},
    )
    store = _store(settings)
    flow = ScriptedFlow({"M1": [RateLimited("429")] * 12 + [ANSWER]})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    assert tries(store, items["M1"].id) == [(1, "succeeded", None)], "no 429 is an attempt"
    assert len(flow.asked("M1")) == 13
    assert len(flow.logins()) == 1, "a 429 never costs a login"
    assert summary.portal_pace["alpha"]["rate_limited"] == 12 and summary.ok
    store.close()


def test_a_short_maintenance_is_waited_out_without_spending_an_attempt(settings, store):
    # The flow's ask times are monotonic: anchored to the wall clock once, so the assertion is
    # "never asked again before the window ends", however long a loaded machine takes to start.
    wall0, mono0 = datetime.now(UTC), time.monotonic()
    until = wall0 + timedelta(seconds=0.25)  # shorter than maintenance_wait (0.3 s here)
    flow = ScriptedFlow({"M1": [PortalMaintenance("down", until=until), ANSWER]})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    first, second = (wall0 + timedelta(seconds=c.at - mono0) for c in flow.asked("M1"))
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    assert first < second and second >= until - timedelta(milliseconds=20)
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
    with capture_logs() as logged:
        summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    waiting = [items[f"M{n}"] for n in range(1, 5)]
    postponed = [e for e in logged if e["event"] == "portal.maintenance_postponed"]
    assert [e["items"] for e in postponed] == [4], "the log counts each postponed item once"
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
