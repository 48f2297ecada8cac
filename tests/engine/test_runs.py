"""A run as a whole: stopped and resumed, resumed after a crash, a desk lookup served by the
batch holding the account, refused before any session when the portal cannot do it, paced,
an item kept by its heartbeat, and closed through the services' hook."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from bots.engine.browserless import BrowserlessSessions
from bots.engine.runs import questions_for
from bots.errors import CapabilityMissing, ConfigurationError
from bots.flowkit.flow import LoginInfo
from bots.flowkit.scripted import ScriptedEligibilityFlow, ScriptedFlow, Slow, answer_for
from bots.models import LookupKind
from bots.store import ItemState, Store, utcnow
from tests.conftest import run_async
from tests.engine.conftest import claim, elig, new_runner, outcomes, run, tries
from tests.timing import scaled

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


def _store(settings):
    return Store.open(settings)


@pytest.mark.parametrize("asked_by", ["runs stop", "SIGTERM"])
def test_a_stop_finishes_the_lookup_in_flight_and_leaves_the_rest_resumable(
    make_settings, asked_by
):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    flow = ScriptedFlow({"M1": Slow(0.2)})
    runner = new_runner(settings, store, {"alpha": flow})
    rows = [elig(f"M{n}") for n in range(1, 5)]

    async def stopped_mid_item():
        night = asyncio.create_task(runner.run(LookupKind.ELIGIBILITY, rows, force=True))
        while not flow.asked():
            await asyncio.sleep(0.005)
        if asked_by == "runs stop":  # any process, through the store
            assert await asyncio.to_thread(store.request_stop, runner.run_id)
        else:
            runner.request_stop()
        return await night

    summary = run_async(stopped_mid_item())
    items = outcomes(store, summary.run_id)
    assert items["M1"].state == "succeeded", "the lookup in flight finished"
    assert [(items[k].state, items[k].attempts) for k in ("M2", "M3", "M4")] == [("new", 0)] * 3
    assert store.get_run(summary.run_id).status == "stopped"
    resumed = run_async(new_runner(settings, store, {"alpha": flow}).resume(summary.run_id))
    assert {i.state for i in outcomes(store, resumed.run_id).values()} == {"succeeded"}
    assert [c.key for c in flow.asked()] == ["M1", "M2", "M3", "M4"], "nothing asked twice"
    assert store.get_run(summary.run_id).status == "finished"
    store.close()


def test_resume_after_a_crash_takes_back_what_the_dead_process_held(settings, store):
    rows = [elig(f"M{n}") for n in range(1, 5)]
    run_id, _ = store.start_run(
        "eligibility", "batch", None, questions_for(settings, LookupKind.ELIGIBILITY, rows, None)
    )
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    crashed = _store(settings)  # the process that died: it answered M1, held M2 and M3
    crashed.owner = f"{crashed.node}:{gone.pid}"
    first = crashed.claim(run_id, "alpha")
    crashed.complete(
        first,
        run_id,
        outcome=ItemState.SUCCEEDED,
        started_at=utcnow(),
        payload=answer_for(rows[0][1]).model_dump(mode="json"),
    )
    held = [crashed.claim(run_id, "alpha"), crashed.claim(run_id, "alpha")]
    assert [i.reference for i in held] == [r[1].reference() for r in rows[1:3]]
    crashed.close()
    store.update_run(run_id, status="interrupted")

    flow = ScriptedFlow()
    summary = run_async(new_runner(settings, store, {"alpha": flow}).resume(run_id))
    items = outcomes(store, run_id)
    assert sorted(c.key for c in flow.asked()) == ["M2", "M3", "M4"], "M1 was answered already"
    assert {i.state for i in items.values()} == {"succeeded"}
    assert [items[k].attempts for k in ("M2", "M3", "M4")] == [2, 2, 1]
    assert [len(tries(store, i.id)) for i in items.values()] == [1, 1, 1, 1]
    assert summary.counts["succeeded"] == 4 and store.get_run(run_id).status == "finished"


def test_a_desk_lookup_is_served_by_the_batch_holding_the_account_before_its_own_items(
    make_settings,
):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    night_store, desk_store = _store(settings), _store(settings)  # two processes
    flow = ScriptedFlow(default=Slow(0.03))
    night = new_runner(settings, night_store, {"alpha": flow})
    desk = new_runner(settings, desk_store, {"alpha": flow})
    batch = [elig(f"B{n}") for n in range(1, 9)]

    async def lookup_during_the_batch():
        running = asyncio.create_task(night.run(LookupKind.ELIGIBILITY, batch, force=True))
        while len(flow.asked()) < 2:
            await asyncio.sleep(0.005)
        lookup = await desk.run(LookupKind.ELIGIBILITY, [elig("L1")], trigger="lookup", force=True)
        return lookup, await running

    lookup, batch_summary = run_async(lookup_during_the_batch())
    (item,) = desk_store.run_outcomes(lookup.run_id)
    assert item.state == "succeeded" and item.answered_in_run == lookup.run_id
    assert lookup.borrowed_from == {"alpha": batch_summary.run_id}
    assert [c.key for c in flow.logins()] == ["main"], "the desk never logged in"
    assert [c.key for c in flow.asked()].index("L1") <= 4, "ahead of the batch's queue"
    assert {i.state for i in outcomes(night_store, batch_summary.run_id).values()} == {"succeeded"}
    night_store.close()
    desk_store.close()


def test_a_desk_lookup_nobody_answers_ends_account_busy_without_a_login(make_settings):
    settings = make_settings(
        portals={"alpha": {"accounts": ["main"]}}, sessions={"borrow_wait_seconds": 0.2}
    )
    store = _store(settings)
    elsewhere = f"{store.node}:{os.getpid()}:night"  # alive, but serving nobody
    assert store.lease_account("alpha", "main", elsewhere, "night-run", 60).acquired
    flow = ScriptedFlow()
    runner = new_runner(settings, store, {"alpha": flow})
    lookup = run_async(
        runner.run(LookupKind.ELIGIBILITY, [elig("L1")], trigger="lookup", force=True)
    )
    (item,) = store.run_outcomes(lookup.run_id)
    assert (item.state, item.last_error_code) == ("system_failed", "account_busy")
    assert "night-run" in item.last_error_message and item.attempts == 0
    assert flow.calls == [], "no second login beside the holder's"
    assert store.get_run(lookup.run_id).status == "finished"
    store.close()


def test_a_desk_lookup_takes_the_account_when_the_holder_lets_go(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    elsewhere = f"{store.node}:{os.getpid()}:night"
    assert store.lease_account("alpha", "main", elsewhere, "night-run", 60).acquired
    flow = ScriptedFlow()
    runner = new_runner(settings, store, {"alpha": flow})

    async def holder_lets_go_meanwhile():
        lookup = asyncio.create_task(
            runner.run(LookupKind.ELIGIBILITY, [elig("L1")], trigger="lookup", force=True)
        )
        await asyncio.sleep(0.15)
        assert flow.calls == [], "waiting for the holder"
        await asyncio.to_thread(store.release_account, "alpha", "main", elsewhere)
        return await lookup

    summary = run_async(holder_lets_go_meanwhile())
    (item,) = store.run_outcomes(summary.run_id)
    assert item.state == "succeeded" and summary.borrowed_from == {}
    assert [c.key for c in flow.logins()] == ["main"], "logged in itself, once"
    store.close()


def test_a_batch_finding_every_account_held_leaves_its_items_queued(settings, store):
    elsewhere = f"{store.node}:{os.getpid()}:elsewhere"
    for account in ("main", "second"):
        assert store.lease_account("alpha", account, elsewhere, "other-run", 60).acquired
    flow = ScriptedFlow()
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    assert flow.calls == []
    assert [(i.state, i.attempts) for i in items.values()] == [("new", 0)] * 2
    assert "every account is in use by run other-run" in summary.postponed_portals["alpha"]


def test_a_kind_the_portal_cannot_do_is_refused_before_any_session(settings, store):
    flow = ScriptedEligibilityFlow()
    sessions = BrowserlessSessions()
    with pytest.raises(CapabilityMissing, match="cannot do claim status"):
        run(
            settings,
            store,
            {"alpha": flow},
            [claim("C1")],
            kind=LookupKind.CLAIM_STATUS,
            sessions=sessions,
        )
    assert sessions.opened == [] and flow.calls == []
    assert store.list_runs() == [], "no run was even queued"


class _AlphaOnlyFlow(ScriptedFlow):
    """A portal whose pages list one payer only (as the legacy portal's forms do)."""

    payers = frozenset({"ALPHA"})


@pytest.mark.parametrize(
    ("portal", "payer", "says"),
    [
        ("alpha", "GAMMA", "portal 'alpha' does not serve payer 'GAMMA'"),
        ("nowhere", "GAMMA", "routed to portal 'nowhere', which is not configured"),
        ("alpha", "UNKNOWN", "payer 'UNKNOWN' is not configured"),
    ],
    ids=["portal-does-not-serve-the-payer", "no-such-portal", "no-such-payer"],
)
def test_a_payer_no_portal_serves_is_refused_before_any_session(make_settings, portal, payer, says):
    settings = make_settings(payers={"GAMMA": {"name": "Gamma Care", "portal": portal}})
    store = Store.open(settings)
    flow, sessions = _AlphaOnlyFlow(), BrowserlessSessions()
    with pytest.raises(ConfigurationError, match=says):
        run(settings, store, {"alpha": flow}, [elig("M1", payer=payer)], sessions=sessions)
    assert sessions.opened == [] and flow.calls == []
    assert store.list_runs() == [], "no run was even queued"
    store.close()


def test_pacing_spaces_the_lookups_of_a_portal_across_its_sessions(make_settings):
    settings = make_settings(portals={"alpha": {"pace_seconds": 0.05}})
    store = _store(settings)
    flow = ScriptedFlow()
    _, items = run(settings, store, {"alpha": flow}, [elig(f"M{n}") for n in range(8)])
    times = sorted(c.at for c in flow.asked())
    assert {i.state for i in items.values()} == {"succeeded"}
    # turns are 0.05 s apart; the store round trip between a turn and its lookup adds jitter
    # (unpaced, eight lookups take a few milliseconds)
    assert times[-1] - times[0] >= 7 * 0.05 - 0.1
    assert len({c.account for c in flow.asked()}) == 2, "both sessions took turns"
    store.close()


def test_the_lease_heartbeat_keeps_a_slow_item_from_being_taken_twice(make_settings):
    # renewed every third of the lease; the lookup takes four leases (both stretched on a
    # loaded machine, where a starved event loop could miss a renewal of a 0.15 s lease)
    lease = scaled(0.15)
    settings = make_settings(queue={"lease_seconds": lease})
    store = _store(settings)
    flow = ScriptedFlow({"M1": Slow(4 * lease)})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2"), elig("M3")])
    assert len(flow.asked("M1")) == 1, "the other session never took it over"
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 1)
    store.close()


class RecordingFinisher:
    """A RunFinisher that notes when it was called and what the run's status was then."""

    def __init__(self, store, fail=False):
        self.store = store
        self.fail = fail
        self.calls = []

    def conclude(self, run_id):
        self.calls.append(("conclude", run_id, self.store.get_run(run_id).status))
        if self.fail:
            raise RuntimeError("the rules broke")
        return {"followups": {"created": 2, "by_rule": {"coverage_inactive": 2}}}

    def publish(self, run_id):
        self.calls.append(("publish", run_id, self.store.get_run(run_id).status))


def test_the_finisher_concludes_before_the_run_closes_and_publishes_after(settings, store):
    finisher = RecordingFinisher(store)
    summary, _ = run(settings, store, {"alpha": ScriptedFlow()}, [elig("M1")], finisher=finisher)
    run_id = summary.run_id
    assert finisher.calls == [("conclude", run_id, "running"), ("publish", run_id, "finished")]
    assert summary.followups["created"] == 2
    assert store.get_run(run_id).notes["followups"]["by_rule"] == {"coverage_inactive": 2}


def test_a_failing_finisher_never_loses_the_run(settings, store):
    finisher = RecordingFinisher(store, fail=True)
    summary, items = run(
        settings, store, {"alpha": ScriptedFlow()}, [elig("M1")], finisher=finisher
    )
    run_record = store.get_run(summary.run_id)
    assert run_record.status == "finished" and run_record.counts["succeeded"] == 1
    assert [c[0] for c in finisher.calls] == ["conclude", "publish"]
    assert items["M1"].state == "succeeded"


def test_a_password_expiry_notice_is_kept_for_a_person(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    flow = ScriptedFlow(logins={"main": LoginInfo(password_expires_in_days=5)})
    summary, _ = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert summary.password_notices == {"alpha/main": 5}
    (account,) = store.account_sessions("alpha")
    assert (account.account, account.password_days_left) == ("main", 5)
    assert store.get_run(summary.run_id).notes["password_notices"] == {"alpha/main": 5}
    store.close()
