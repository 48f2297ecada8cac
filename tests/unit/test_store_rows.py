"""Store rows: typed and frozen, enums with labels, JSON as before; the store opens from settings."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import socket
import subprocess
import sys

import pytest

from bots import errors
from bots.models import LookupKind
from bots.settings import load_settings
from bots.store import ItemState, OutcomeCode, Question, Run, RunStatus, Store, utcnow
from bots.store.states import _LABELS


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def test_every_error_code_the_store_keeps_is_an_outcome_code_with_a_label():
    codes = {
        cls.code()
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.PayerbotError)
    }
    assert codes <= {c.value for c in OutcomeCode}, codes - {c.value for c in OutcomeCode}
    for enum in (ItemState, RunStatus, OutcomeCode):
        for member in enum:
            assert member.label and member.label != member.value.upper()
    unlabelled = {c.value for c in OutcomeCode} - set(_LABELS[OutcomeCode])
    assert unlabelled == set(), "every outcome code has a label a person reads"
    assert OutcomeCode.AUTHENTICATION_ERROR.label == "portal login refused"
    assert ItemState.BUSINESS_FAILED.label == "no result"


def test_a_word_the_enum_does_not_know_still_reads():
    code = OutcomeCode("retired_code")  # written by another payerbot version
    assert code == "retired_code" and code.label == "retired code" and f"{code}" == code
    assert OutcomeCode.parse(None) is None


def test_rows_are_typed_frozen_and_print_as_the_json_of_old(store):
    run_id, _ = store.start_run(
        "eligibility",
        "batch",
        "w.csv",
        [
            Question(
                reference="r1",
                kind="eligibility",
                payer_id="ACME",
                portal="payerhub",
                query={
                    "payer_id": "ACME",
                    "member_id": "M1",
                    "dob": "1980-01-02",
                    "date_of_service": "2026-12-01",
                },
            )
        ],
    )
    item = store.claim(run_id, "payerhub")
    store.complete(
        item,
        run_id,
        outcome=ItemState.BUSINESS_FAILED,
        started_at=utcnow(),
        error_code="member_not_found",
        reason_code="75",
    )
    (outcome,) = store.run_outcomes(run_id)
    assert outcome.state is ItemState.BUSINESS_FAILED
    assert outcome.last_error_code is OutcomeCode.MEMBER_NOT_FOUND
    assert outcome.kind is LookupKind.ELIGIBILITY and outcome.answered_in_run == run_id
    assert outcome.position == 1 and outcome.disposition == "queued"
    assert outcome.question.member_id == "M1"
    assert "M1" not in repr(outcome) and "1980" not in repr(outcome), "no PHI in a row's repr"
    assert outcome.as_dict()["query"]["member_id"] == "M1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.state = ItemState.NEW  # type: ignore[misc]

    run = store.get_run(run_id)
    assert isinstance(run, Run) and run.status is RunStatus.RUNNING and run.seconds is None
    store.finish_run(run_id, "finished", {"items": 1})
    (listed,) = store.list_runs()
    data = json.loads(json.dumps(listed.as_dict(), default=str))
    assert list(data) == [
        "id",
        "kind",
        "trigger",
        "source",
        "status",
        "started_at",
        "finished_at",
        "host",
        "pid",
        "counts",
        "log_path",
        "spreadsheet_path",
        "message",
        "notes",
        "executor",
    ]
    assert data["status"] == "finished" and data["kind"] == "eligibility"
    assert data["counts"] == {"items": 1} and data["notes"] is None
    assert listed.seconds is not None and listed.seconds >= 0


def test_the_store_opens_from_settings_with_its_node(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'node.db'}"
    monkeypatch.setenv("PAYERBOT_DATABASE_URL", url)
    monkeypatch.setenv("PAYERBOT_NODE", "night-box")
    settings = load_settings()
    assert settings.node == "night-box" and settings.store_url == url
    assert "node.db" not in repr(settings), "the database URL may hold a password"
    store = Store.open(settings)
    try:
        assert store.node == "night-box" and store.owner == f"night-box:{os.getpid()}"
        run_id, _ = store.start_run("eligibility", "batch", None)
        assert store.get_run(run_id).host == "night-box"
    finally:
        store.close()
    monkeypatch.delenv("PAYERBOT_NODE")
    assert Store.open(load_settings()).node == socket.gethostname()


def test_leases_of_a_dead_process_are_taken_over_only_on_its_own_node(store_url):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here, elsewhere = Store(store_url, node="m1"), Store(store_url, node="m2")
    try:
        here.lease_account("payerhub", "main", f"m1:{dead}:tok", None, 3600)
        assert not elsewhere.lease_account("payerhub", "main", "m2:1:x", None, 60).acquired
        assert here.lease_account("payerhub", "main", "m1:1:y", None, 60).acquired
    finally:
        here.close()
        elsewhere.close()
