"""One live session per portal account across processes: leases on accounts in the store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from bots.store import ItemState, Question, Store


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def test_an_account_has_one_holder_until_released(store):
    assert store.lease_account("payerhub", "main", "h:1:a", "run-a", 60).acquired
    taken = store.lease_account("payerhub", "main", "h:2:b", "run-b", 60)
    assert not taken.acquired and taken.holder_run == "run-a"
    assert store.lease_account("payerhub", "second", "h:2:b", "run-b", 60).acquired
    assert store.lease_account("payerhub", "main", "h:1:a", "run-a", 60).acquired, "re-entrant"
    store.release_account("payerhub", "main", "h:2:b")  # not the holder: no effect
    assert not store.lease_account("payerhub", "main", "h:2:b", "run-b", 60).acquired
    store.release_account("payerhub", "main", "h:1:a")
    assert store.lease_account("payerhub", "main", "h:2:b", "run-b", 60).acquired


def test_a_lapsed_lease_is_taken_over_and_renewal_keeps_it(store):
    store.lease_account("payerhub", "main", "other-host:1:a", "run-a", 0.3)
    store.renew_account_leases("other-host:1:a", 0.3)
    assert not store.lease_account("payerhub", "main", "h:2:b", "run-b", 60).acquired
    time.sleep(0.4)
    assert store.lease_account("payerhub", "main", "h:2:b", "run-b", 60).acquired


def test_a_dead_holder_on_this_host_lets_go_at_once(store):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    holder = f"{socket.gethostname()}:{dead.stdout.strip()}:tok"
    store.lease_account("payerhub", "main", holder, "run-a", 3600)
    assert store.account_sessions("payerhub")[0].holder is None, "reported as free"
    assert store.lease_account("payerhub", "main", "h:2:b", "run-b", 60).acquired


def test_password_notice_and_last_login_are_remembered(store):
    store.note_login("legacyportal", "main", 9)
    store.note_login("legacyportal", "main", None)  # a later login without a notice
    row = store.account_sessions("legacyportal")[0]
    assert row.password_days_left == 9 and row.last_login_at is not None


def _question(ref):
    return Question(
        reference=ref, kind="eligibility", payer_id="ACME", portal="payerhub", query={"q": ref}
    )


def test_a_delegated_lookup_is_claimed_first_by_a_session_holder(store):
    batch, _ = store.start_run(
        "eligibility", "batch", "a.csv", [_question(f"b{n}") for n in range(3)]
    )
    lookup, _ = store.start_run("eligibility", "lookup", None, [_question("desk")])
    # Not delegated yet: a holder only works its own run.
    assert store.claim(batch, "payerhub", serve_delegated=True).reference == "b0"
    store.update_run(lookup, status="delegated")
    item = store.claim(batch, "payerhub", serve_delegated=True)
    assert item.reference == "desk" and item.for_run == lookup
    assert store.claim(batch, "payerhub", serve_delegated=False).reference == "b1"
    store.complete(item, item.for_run, outcome=ItemState.SUCCEEDED, started_at=item_started())
    outcomes = store.run_outcomes(lookup)
    assert outcomes[0].state == "succeeded" and outcomes[0].answered_in_run == lookup


def item_started():
    from bots.store import utcnow

    return utcnow()
