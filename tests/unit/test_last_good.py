"""A later failure never replaces the last good answer: it is recorded as an attempt, and the
item carries both (the last good answer with its time, and the newer failure)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from openpyxl import load_workbook
from rich.console import Console
from sqlalchemy import func, select

from bots.flowkit.scripted import answer_for
from bots.models import EligibilityQuery
from bots.outputs.report import print_lookup
from bots.outputs.workbook_sync import sync_workbook
from bots.settings import QueueSettings, load_settings
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


def test_in_the_fleet_a_locked_portal_records_the_ending_under_the_items_run(store):
    _answered(store)
    question = Question(
        reference="r1", kind="eligibility", payer_id="ACME", portal="payerhub", query={}
    )
    fleet_run = store.start_run(
        "eligibility", "batch", None, [question], executor="fleet", force=True
    )[0]
    assert store.fail_pending(None, "payerhub", "account_locked", "not attempted") == 1
    (outcome,) = store.run_outcomes(fleet_run)
    assert outcome.answered_in_run == fleet_run, "the ending is an attempt of the fleet run"
    assert outcome.last_good is not None and outcome.last_good.payload == GOOD
    assert outcome.newer_failure is not None
    assert outcome.newer_failure.error_code == OutcomeCode.ACCOUNT_LOCKED


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


def test_the_specialists_workbook_keeps_the_answer_after_a_failed_relookup(store, tmp_path):
    query = EligibilityQuery(
        payer_id="ACME", member_id="ACM1", dob=date(1980, 5, 17), date_of_service=date(2026, 12, 1)
    )
    inactive = answer_for(query).model_copy(update={"coverage_active": False})
    run_id = store.start_run("eligibility", "batch", None)[0]
    store.enqueue(
        run_id,
        Question(
            reference=query.reference(),
            kind="eligibility",
            payer_id="ACME",
            portal="payerhub",
            query=query.model_dump(mode="json"),
        ),
    )
    item = store.claim(run_id, "payerhub")
    store.complete(
        item,
        run_id,
        outcome=ItemState.SUCCEEDED,
        started_at=utcnow(),
        payload=inactive.model_dump(mode="json"),
    )
    again = store.start_run("eligibility", "lookup", None)[0]
    store.enqueue(
        again,
        Question(
            query.reference(), "eligibility", "ACME", "payerhub", query.model_dump(mode="json")
        ),
        force=True,
    )
    store.fail_pending(again, "payerhub", "account_locked", "not attempted")

    settings = load_settings(data_dir=tmp_path)
    synced = sync_workbook(store, settings)
    ws = load_workbook(synced.path)["Eligibility"]
    header = [c.value for c in ws[1]]
    (row,) = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert (row["Member ID"], row["Coverage"], row["Plan"]) == ("ACM1", "Inactive", "Scripted PPO")
    assert row["Outcome"] == "Inactive on 12/01/2026 — Scripted PPO"  # the coverage sentence
    assert re.fullmatch(
        r"A newer lookup on \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M failed: not tried: every "
        r"account is locked; the answer shown is from \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M",
        row["Newer lookup"],
    )


def test_an_item_never_answered_has_no_good_answer(store):
    run_id = _ask(store)
    item = store.claim(run_id, "payerhub")
    store.complete(item, run_id, outcome=ItemState.SYSTEM_FAILED, started_at=utcnow())
    (outcome,) = store.run_outcomes(run_id)
    assert outcome.last_good is None and outcome.newer_failure is None
    assert outcome.as_answered() is outcome


def test_the_terminal_says_the_last_good_answer_stands():
    console = Console(record=True, width=200)
    print_lookup(
        console,
        {
            "state": "system_failed",
            "error": "account_locked",
            "message": "not attempted",
            "result": None,
            "last_good": {"checked_at": "2026-12-02T09:15:00+00:00"},
        },
    )
    text = console.export_text()
    assert "system_failed: account_locked - not attempted" in text
    assert "the last good answer, checked at 2026-12-02T09:15:00+00:00, still stands" in text
