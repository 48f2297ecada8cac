"""The work queue: unique references, leases, retries with backoff, reuse within the window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update

from bots.settings import QueueSettings
from bots.store import ItemState, Question, Store, utcnow
from bots.store.schema import work_items


@pytest.fixture
def store(store_url):
    s = Store(
        store_url,
        QueueSettings(
            max_attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02, lease_seconds=60
        ),
    )
    yield s
    s.close()


def add(store, run, ref="r1", portal="payerhub", force=False):
    return store.enqueue(
        run,
        Question(
            reference=ref, kind="eligibility", payer_id="ACME", portal=portal, query={"q": ref}
        ),
        force=force,
    )


def test_reference_is_unique_and_reused_within_window(store):
    run1 = store.start_run("eligibility", "batch", "a.csv")[0]
    assert add(store, run1).disposition == "queued"
    item = store.claim(run1, "payerhub")
    store.complete(item, run1, outcome=ItemState.SUCCEEDED, started_at=utcnow(), payload={"ok": 1})
    run2 = store.start_run("eligibility", "batch", "a.csv")[0]
    assert add(store, run2).disposition == "reused"
    assert store.claim(run2, "payerhub") is None
    assert (
        add(store, store.start_run("eligibility", "lookup", None)[0], force=True).disposition
        == "requeued"
    )
    with store.engine.begin() as conn:
        assert conn.execute(work_items.select()).all().__len__() == 1


def test_old_answers_are_asked_again(store):
    run1 = store.start_run("eligibility", "batch", None)[0]
    add(store, run1)
    item = store.claim(run1, "payerhub")
    store.complete(item, run1, outcome=ItemState.BUSINESS_FAILED, started_at=utcnow())
    with store.engine.begin() as conn:
        conn.execute(update(work_items).values(finished_at=utcnow() - timedelta(days=2)))
    run2 = store.start_run("eligibility", "batch", None)[0]
    assert add(store, run2).disposition == "requeued"
    assert store.claim(run2, "payerhub") is not None


def test_system_failures_retry_with_backoff_then_stop(store):
    run = store.start_run("eligibility", "batch", None)[0]
    add(store, run)
    states = []
    for _ in range(3):
        item = None
        while item is None:
            item = store.claim(run, "payerhub")
        states.append(
            store.complete(
                item,
                run,
                outcome=ItemState.SYSTEM_FAILED,
                started_at=utcnow(),
                retryable=True,
                error_code="portal_timeout",
            )
        )
    assert states == [ItemState.NEW, ItemState.NEW, ItemState.SYSTEM_FAILED]
    assert store.claim(run, "payerhub") is None
    assert store.next_due(run, "payerhub") is None
    outcomes = store.run_outcomes(run)
    assert outcomes[0].attempts == 3 and outcomes[0].state == "system_failed"


def test_business_failures_are_never_retried(store):
    run = store.start_run("eligibility", "batch", None)[0]
    add(store, run)
    item = store.claim(run, "payerhub")
    assert (
        store.complete(
            item,
            run,
            outcome=ItemState.BUSINESS_FAILED,
            started_at=utcnow(),
            error_code="member_not_found",
        )
        == ItemState.BUSINESS_FAILED
    )
    assert store.claim(run, "payerhub") is None


def test_lapsed_lease_is_reclaimed(store):
    run = store.start_run("eligibility", "batch", None)[0]
    add(store, run)
    first = store.claim(run, "payerhub", lease_seconds=60)
    assert store.claim(run, "payerhub") is None  # leased
    with store.engine.begin() as conn:
        conn.execute(update(work_items).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    again = store.claim(run, "payerhub")
    assert again is not None and again.id == first.id and again.attempts == 2


def test_claims_are_scoped_to_portal_and_run(store):
    run_a = store.start_run("eligibility", "batch", None)[0]
    run_b = store.start_run("eligibility", "batch", None)[0]
    add(store, run_a, "a", portal="payerhub")
    add(store, run_b, "b", portal="payerhub")
    add(store, run_a, "c", portal="other")
    assert store.claim(run_a, "payerhub").reference == "a"
    assert store.claim(run_a, "payerhub") is None
    assert store.claim(run_a, "other").reference == "c"


def test_fail_pending_ends_only_unclaimed_items_of_that_portal(store):
    run = store.start_run("eligibility", "batch", None)[0]
    for ref in ("a", "b", "c"):
        add(store, run, ref)
    claimed = store.claim(run, "payerhub")
    assert store.fail_pending(run, "payerhub", "authentication_error", "login refused") == 2
    states = {o.reference: o.state for o in store.run_outcomes(run)}
    assert states == {claimed.reference: "in_progress", "b": "system_failed", "c": "system_failed"}


def test_a_run_is_created_with_its_whole_worklist_or_not_at_all(store):
    questions = [
        Question(
            reference=f"q{n}",
            kind="eligibility",
            payer_id="ACME",
            portal="payerhub",
            query={"n": n},
        )
        for n in range(3)
    ]
    questions.append(replace(questions[0], reference=None))  # breaks the NOT NULL constraint
    with pytest.raises(Exception):  # noqa: B017 - any database error will do
        store.start_run("eligibility", "batch", "w.csv", questions)
    assert store.list_runs() == []
    run_id, queued = store.start_run("eligibility", "batch", "w.csv", questions[:3])
    assert [q.disposition for q in queued] == ["queued"] * 3
    assert [o.reference for o in store.run_outcomes(run_id)] == ["q0", "q1", "q2"]


def test_leases_of_a_dead_process_are_reclaimed_at_once(store):
    import subprocess
    import sys

    run = store.start_run("eligibility", "batch", None)[0]
    add(store, run)
    item = store.claim(run, "payerhub", lease_seconds=3600)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with store.engine.begin() as conn:
        conn.execute(
            update(work_items).values(
                lease_owner=f"{store.owner.split(':')[0]}:{dead.stdout.strip()}"
            )
        )
    assert store.claim(run, "payerhub") is None  # the lease is an hour long
    assert store.reclaim_dead_leases() == 1
    again = store.claim(run, "payerhub")
    assert again is not None and again.id == item.id


def test_stop_is_asked_through_the_store(store):
    run = store.start_run("eligibility", "batch", None)[0]
    assert not store.stop_requested(run)
    assert store.request_stop(run) and store.stop_requested(run)
    store.finish_run(run, "stopped", {})
    assert not store.request_stop(run)  # only a running run can be asked
