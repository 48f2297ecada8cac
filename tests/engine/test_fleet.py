"""The fleet worker through the same loop: it works every fleet run, a refused login flags
the account while the portal's other account carries on (its items end only when no account
is left), a dead worker's items are taken back, and each run is finished exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from bots.errors import AuthenticationError
from bots.flowkit.scripted import ScriptedFlow, Slow
from bots.store import Store
from tests.conftest import run_async
from tests.engine.conftest import elig, enqueue_fleet_run, new_worker, outcomes

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


class CountingFinisher:
    """A RunFinisher shared by several workers: how often each run was concluded, published."""

    def __init__(self):
        self.calls = []

    def conclude(self, run_id):
        self.calls.append(("conclude", run_id))
        return {"followups": {"created": 0}}

    def publish(self, run_id):
        self.calls.append(("publish", run_id))


def test_each_fleet_run_is_finished_exactly_once_by_one_worker(settings, store):
    first = enqueue_fleet_run(settings, store, [elig(f"A{n}") for n in range(6)])
    second = enqueue_fleet_run(settings, store, [elig(f"B{n}", "BETA") for n in range(4)])
    finisher = CountingFinisher()
    flow = ScriptedFlow(default=Slow(0.01))
    stores = [Store.open(settings) for _ in range(2)]  # two machines
    workers = [
        new_worker(settings, s, {"alpha": flow, "beta": flow}, finisher=finisher) for s in stores
    ]

    async def fleet():
        return await asyncio.gather(*(w.run() for w in workers))

    stats = run_async(fleet())
    assert sorted(finisher.calls) == sorted(
        [("conclude", first), ("publish", first), ("conclude", second), ("publish", second)]
    ), "each run concluded and published once, by one worker"
    assert sorted(r for s in stats for r in s.runs_finished) == sorted([first, second])
    for run_id in (first, second):
        record = store.get_run(run_id)
        assert record.status == "finished" and record.notes["executor"] == "fleet"
        assert {i.state for i in outcomes(store, run_id).values()} == {"succeeded"}
    keys = [c.key for c in flow.asked()]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 10, "nothing answered twice"
    for s in stores:
        s.close()


def test_in_the_fleet_a_refused_login_flags_the_account_and_the_other_carries_on(settings, store):
    run_id = enqueue_fleet_run(settings, store, [elig(f"M{n}") for n in range(8)])
    flow = ScriptedFlow(
        default=Slow(0.01), logins={"second": Slow(0.03, AuthenticationError("refused"))}
    )
    stats = run_async(new_worker(settings, store, {"alpha": flow}, sessions=2).run())
    assert [f.account for f in store.flagged_accounts("alpha")] == ["second"]
    assert len(flow.logins("second")) == 1, "the refused account is never tried again"
    items = outcomes(store, run_id).values()
    assert {(i.state, i.attempts) for i in items} == {("succeeded", 1)}, (
        "the item in its hands went back to the queue, no attempt spent; main answered all"
    )
    assert {c.account for c in flow.asked()} == {"main"}
    assert store.get_run(run_id).status == "finished" and stats.runs_finished == [run_id]


def test_in_the_fleet_the_items_end_when_no_account_of_the_portal_is_left(settings, store):
    run_id = enqueue_fleet_run(settings, store, [elig(f"M{n}") for n in range(5)])
    flow = ScriptedFlow(
        logins={"main": AuthenticationError("refused"), "second": AuthenticationError("locked")}
    )
    run_async(new_worker(settings, store, {"alpha": flow}, sessions=2).run())
    assert sorted(f.account for f in store.flagged_accounts("alpha")) == ["main", "second"]
    assert sorted(c.key for c in flow.logins()) == ["main", "second"], "one login each"
    items = outcomes(store, run_id).values()
    # the two items the refused logins were for went back to the queue; every item ended,
    # not attempted, once the last account was set aside
    assert {(i.state, i.last_error_code, i.attempts) for i in items} == {
        ("system_failed", "account_locked", 0)
    }
    assert flow.asked() == [] and store.get_run(run_id).status == "finished"


def test_in_the_fleet_a_portal_whose_accounts_are_all_flagged_ends_its_items_account_locked(
    settings, store
):
    for account in ("main", "second"):
        store.flag_account("alpha", account, "login_refused", "password refused", None)
    run_id = enqueue_fleet_run(settings, store, [elig("M1"), elig("M2")])
    flow = ScriptedFlow()
    run_async(new_worker(settings, store, {"alpha": flow}, sessions=2).run())
    assert flow.calls == [], "not a single login"
    items = outcomes(store, run_id).values()
    assert {(i.state, i.last_error_code, i.attempts) for i in items} == {
        ("system_failed", "account_locked", 0)
    }
    assert store.get_run(run_id).status == "finished"


def test_a_worker_takes_back_the_items_a_dead_worker_held(settings, store):
    run_id = enqueue_fleet_run(settings, store, [elig(f"M{n}") for n in range(3)])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = Store.open(settings)
    dead.owner = f"{dead.node}:{gone.pid}"
    held = dead.claim(None, "alpha", fleet=True)
    assert held is not None and held.for_run == run_id
    dead.close()
    flow = ScriptedFlow()
    run_async(new_worker(settings, store, {"alpha": flow}).run())
    items = outcomes(store, run_id)
    assert {i.state for i in items.values()} == {"succeeded"}
    assert sorted(c.key for c in flow.asked()) == ["M0", "M1", "M2"], "each asked once"
    assert items["M0"].attempts == 2, "taken back from the dead worker"


def test_in_the_fleet_a_maintenance_window_postpones_the_portal_before_any_login(
    make_settings,
):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    window = f"daily {now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    settings = make_settings(portals={"alpha": {"maintenance_windows": [window]}})
    store = Store.open(settings)
    run_id = enqueue_fleet_run(settings, store, [elig("M1"), elig("M2")])
    flow = ScriptedFlow()
    run_async(new_worker(settings, store, {"alpha": flow}).run())
    assert flow.calls == [], "not even a login"
    items = outcomes(store, run_id).values()
    assert [(i.state, i.attempts) for i in items] == [("new", 0)] * 2
    assert all(i.not_before.replace(tzinfo=UTC) > now + timedelta(minutes=58) for i in items)
    assert store.get_run(run_id).status == "queued", "waiting, not finished"
    store.close()


def test_a_desk_lookup_is_served_by_the_fleet_worker_holding_the_account(make_settings):
    from bots.models import LookupKind
    from tests.engine.conftest import new_runner

    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    worker_store, desk_store = (Store.open(settings) for _ in range(2))
    run_id = enqueue_fleet_run(settings, worker_store, [elig(f"B{n}") for n in range(8)])
    flow = ScriptedFlow(default=Slow(0.03))
    worker = new_worker(settings, worker_store, {"alpha": flow})
    desk = new_runner(settings, desk_store, {"alpha": flow})

    async def lookup_while_the_fleet_works():
        working = asyncio.create_task(worker.run())
        while len(flow.asked()) < 2:
            await asyncio.sleep(0.005)
        lookup = await desk.run(LookupKind.ELIGIBILITY, [elig("L1")], trigger="lookup", force=True)
        await working
        return lookup

    lookup = run_async(lookup_while_the_fleet_works())
    (item,) = desk_store.run_outcomes(lookup.run_id)
    assert item.state == "succeeded" and item.answered_in_run == lookup.run_id
    assert [c.key for c in flow.logins()] == ["main"], "the desk never logged in"
    assert [c.key for c in flow.asked()].index("L1") <= 4, "ahead of the fleet's queue"
    assert worker_store.get_run(run_id).status == "finished"
    worker_store.close()
    desk_store.close()
