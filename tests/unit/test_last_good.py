"""A later failure never replaces the last good answer: it is recorded as an attempt, and the
item carries both (the last good answer with its time, and the newer failure)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bots.settings import QueueSettings
from bots.store import ItemState, OutcomeCode, Question, Store, utcnow
from bots.store.schema import results

GOOD = {"kind": "eligibility", "coverage_active": True}


@pytest.fixture
def store(store_url):
    s = Store(store_url, QueueSettings(max_attempts=1, lease_seconds=60))
    yield s
    s.close()


def _ask(store: Store, trigger: str = "batch") -> str:
    run_id = store.start_run("eligibility", trigger, None)[0]
    store.enqueue(
        run_id,
        Question(reference="r1", kind="eligibility", payer_id="ACME", portal="payerhub", query={}),
        force=True,
    )
    return run_id


def _answered(store: Store) -> str:
    run_id = _ask(store)
    item = store.claim(run_id, "payerhub")
    store.complete(
        item,
        run_id,
        outcome=ItemState.SUCCEEDED,
        started_at=utcnow(),
        payload=GOOD,
        evidence_path="good.jpeg",
    )
    return run_id


def _attempts(store: Store) -> int:
    with store.engine.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(results)).scalar_one())


def test_a_failed_relookup_keeps_the_good_answer(store):
    first = _answered(store)
    (good,) = store.run_outcomes(first)
    again = _ask(store, "lookup")
    item = store.claim(again, "payerhub")
    store.complete(
        item,
        again,
        outcome=ItemState.SYSTEM_FAILED,
        started_at=utcnow(),
        error_code="portal_timeout",
        error_message="the portal did not answer",
    )
    for outcome in (
        store.run_outcomes(again)[0],
        store.recent_outcomes("eligibility", good.checked_at)[0],
    ):
        assert outcome.state == ItemState.SYSTEM_FAILED  # the queue's truth: the last try
        assert outcome.last_good is not None
        assert outcome.last_good.payload == GOOD
        assert outcome.last_good.checked_at == good.checked_at
        assert outcome.last_good.evidence_path == "good.jpeg"
        assert outcome.last_good.run_id == first
        failure = outcome.newer_failure
        assert failure is not None
        assert failure.error_code == OutcomeCode.PORTAL_TIMEOUT
        assert failure.at > good.checked_at
        shown = outcome.as_answered()
        assert (shown.state, shown.payload, shown.evidence_path) == (
            ItemState.SUCCEEDED,
            GOOD,
            "good.jpeg",
        )
        assert shown.newer_failure == failure


def test_a_lookup_ended_for_a_locked_account_is_an_attempt_and_keeps_the_answer(store):
    _answered(store)
    again = _ask(store, "lookup")
    assert store.fail_pending(again, "payerhub", "account_locked", "not attempted") == 1
    assert _attempts(store) == 2, "the locked-account ending is recorded as an attempt"
    (outcome,) = store.run_outcomes(again)
    assert outcome.last_good is not None and outcome.last_good.payload == GOOD
    assert outcome.newer_failure is not None
    assert outcome.newer_failure.error_code == OutcomeCode.ACCOUNT_LOCKED
    assert outcome.newer_failure.words == "not tried: every account is locked"
    assert outcome.as_answered().payload == GOOD


def test_a_newer_answer_replaces_the_old_one_and_no_failure_is_shown(store):
    _answered(store)
    again = _ask(store)
    item = store.claim(again, "payerhub")
    store.complete(item, again, outcome=ItemState.SYSTEM_FAILED, started_at=utcnow())
    third = _answered(store)
    (outcome,) = store.run_outcomes(third)
    assert outcome.last_good is not None and outcome.last_good.run_id == third
    assert outcome.newer_failure is None
    assert outcome.as_answered() is outcome


def test_an_item_never_answered_has_no_good_answer(store):
    run_id = _ask(store)
    item = store.claim(run_id, "payerhub")
    store.complete(item, run_id, outcome=ItemState.SYSTEM_FAILED, started_at=utcnow())
    (outcome,) = store.run_outcomes(run_id)
    assert outcome.last_good is None and outcome.newer_failure is None
    assert outcome.as_answered() is outcome
