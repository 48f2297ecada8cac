"""A refused login costs its account, not the portal: against the real mock portals, a
wrong password on one of PayerHub's two accounts leaves every item to the other account
with exactly one failed login; with a portal's only account refused, its items end
``account_locked`` and `runs resume` answers them after `creds reset-lock`."""

from __future__ import annotations

import pytest

from bots.engine.runner import Runner
from bots.models import LookupKind
from bots.settings import load_settings
from bots.store import Store
from tests.conftest import eligibility_rows, run_async, run_rows
from tests.test_sessions import members_of

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_a_wrong_password_on_one_account_leaves_every_item_to_the_other_account(
    settings, hub, ground_truth, monkeypatch
):
    monkeypatch.setenv("PAYERBOT_CREDENTIALS__PAYERHUB__MAIN__PASSWORD", "not-the-password")
    settings = load_settings()
    rows = eligibility_rows(members_of(ground_truth, "ACME", 8))
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    assert [(o.state, o.attempts) for o in outcomes] == [("succeeded", 1)] * 8
    counters = hub.counters()
    assert sum(counters["failed_logins"].values()) == 1, "exactly one failed login"
    assert len(counters["logins"]) == 1, "the other account did every lookup"
    assert sum(counters["lookups"].values()) == 8
    assert not summary.stopped_portals and summary.ok
    assert "creds reset-lock payerhub --account main" in summary.accounts_set_aside["payerhub/main"]
    store = Store.open(settings)
    try:
        assert [f.account for f in store.flagged_accounts("payerhub")] == ["main"]
    finally:
        store.close()


def test_items_ended_account_locked_are_answered_by_runs_resume_after_creds_reset_lock(
    settings, mock_portals, ground_truth, monkeypatch
):
    medicaid = mock_portals["medicaidportal"]
    monkeypatch.setenv("PAYERBOT_CREDENTIALS__MEDICAIDPORTAL__MAIN__PASSWORD", "not-it")
    rows = eligibility_rows(members_of(ground_truth, "STATEMCD", 3))
    summary, outcomes = run_rows(load_settings(), LookupKind.ELIGIBILITY, rows)
    assert {(o.state, o.last_error_code, o.attempts) for o in outcomes} == {
        ("system_failed", "account_locked", 0)
    }
    assert sum(medicaid.counters()["failed_logins"].values()) == 1
    monkeypatch.delenv("PAYERBOT_CREDENTIALS__MEDICAIDPORTAL__MAIN__PASSWORD")  # fixed
    fixed = load_settings()
    store = Store.open(fixed)
    try:
        assert store.clear_account_flags("medicaidportal") == 1  # `payerbot creds reset-lock`
        resumed = run_async(Runner(fixed, store).resume(summary.run_id))
        after = store.run_outcomes(summary.run_id)
    finally:
        store.close()
    assert [(o.state, o.attempts) for o in after] == [("succeeded", 1)] * 3
    assert resumed.ok and sum(medicaid.counters()["failed_logins"].values()) == 1
