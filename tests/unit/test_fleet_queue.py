"""The fleet's queue semantics, on SQLite and PostgreSQL: claims across fleet runs only,
concurrent claimers never share an item, each run is finished by exactly one caller, and
portal-wide session limits hold across holders."""

from __future__ import annotations

import threading

from bots.store import ItemState, Question, Store, utcnow
from tests.timing import scaled


def _questions(prefix: str, n: int, portal: str = "payerhub") -> list[Question]:
    return [
        Question(
            reference=f"{prefix}-{i}",
            kind="eligibility",
            payer_id="ACME",
            portal=portal,
            query={"i": i},
        )
        for i in range(n)
    ]


def test_workers_claim_fleet_runs_only_and_record_under_the_items_run(store_url):
    store = Store(store_url)
    try:
        local, _ = store.start_run("eligibility", "batch", None, _questions("local", 2))
        fleet, _ = store.start_run(
            "eligibility", "batch", None, _questions("fleet", 2), executor="fleet"
        )
        assert store.get_run(fleet).status == "queued"
        assert store.fleet_due() == {"payerhub": 2}
        first = store.claim(None, "payerhub", fleet=True)
        assert first.for_run == fleet and first.reference == "fleet-0"
        assert store.get_run(fleet).status == "running"
        second = store.claim(None, "payerhub", fleet=True)
        assert second.reference == "fleet-1"
        assert store.claim(None, "payerhub", fleet=True) is None, "a local run is not the fleet's"
        assert store.claim(local, "payerhub").reference == "local-0"
        for item in (first, second):
            store.complete(item, item.for_run, outcome=ItemState.SUCCEEDED, started_at=utcnow())
        assert store.fleet_runs_to_finish() == [(fleet, "finished")]
        assert store.fleet_runs_to_finish() == [], "finished by exactly one caller"
        assert store.get_run(local).status == "running"
    finally:
        store.close()


def test_a_stopped_fleet_run_ends_when_its_lookups_in_flight_end(store_url):
    store = Store(store_url)
    try:
        run, _ = store.start_run("eligibility", "batch", None, _questions("s", 3), executor="fleet")
        item = store.claim(None, "payerhub", fleet=True)
        assert store.request_stop(run)
        assert store.claim(None, "payerhub", fleet=True) is None, "no new claims once stopping"
        assert store.fleet_runs_to_finish() == []
        store.complete(item, run, outcome=ItemState.SUCCEEDED, started_at=utcnow())
        assert store.fleet_runs_to_finish() == [(run, "stopped")]
    finally:
        store.close()


def test_concurrent_claimers_never_share_an_item(store_url):
    """Four threads with their own connections drain 120 items: each claimed exactly once."""
    setup = Store(store_url)
    run, _ = setup.start_run("eligibility", "batch", None, _questions("c", 120), executor="fleet")
    setup.close()
    taken: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def drain() -> None:
        store = Store(store_url)
        try:
            while (item := store.claim(None, "payerhub", fleet=True)) is not None:
                store.complete(item, run, outcome=ItemState.SUCCEEDED, started_at=utcnow())
                with lock:
                    taken.append(item.id)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=scaled(120))
    assert not errors, errors
    assert len(taken) == 120 and len(set(taken)) == 120


def test_a_portal_never_has_more_held_accounts_than_its_limit(store_url):
    store = Store(store_url)
    try:
        assert store.lease_account("legacy", "main", "m1:1:a", None, 60, portal_limit=2).acquired
        assert store.lease_account("legacy", "second", "m2:1:b", None, 60, portal_limit=2).acquired
        refused = store.lease_account("legacy", "third", "m3:1:c", None, 60, portal_limit=2)
        assert not refused.acquired and refused.holder in {"m1:1:a", "m2:1:b"}
        # the holder itself may re-lease (renew) within the limit
        assert store.lease_account("legacy", "main", "m1:1:a", None, 60, portal_limit=2).acquired
        store.release_account("legacy", "second", "m2:1:b")
        assert store.lease_account("legacy", "third", "m3:1:c", None, 60, portal_limit=2).acquired
        # a worker's own sessions count too: m1 holds one, m3 one, m1 may not take a third
        store.release_account("legacy", "second", "m2:1:b")
        third = store.lease_account("legacy", "second", "m1:1:a", None, 60, portal_limit=2)
        assert not third.acquired
    finally:
        store.close()
