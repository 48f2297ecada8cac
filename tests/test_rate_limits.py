"""A portal that rate-limits hard costs time, never answers: 429s slow the portal's pace,
cost no attempt and no login, and the run says how far it was slowed (issue 19, item 1).
And an outage is not a redesign: PayerHub's "We could not reach PayerHub" banner is
``portal_unavailable``, retried, and never trips the layout breaker (item 4)."""

from __future__ import annotations

import pytest

from bots.models import LookupKind
from bots.settings import load_settings
from tests.conftest import eligibility_rows, run_rows
from tests.test_sessions import members_of

pytestmark = pytest.mark.browser


@pytest.mark.timeout(120)
def test_a_rate_limited_legacy_portal_is_paced_not_failed_and_logged_into_once(
    settings, mock_portals, ground_truth, monkeypatch
):
    legacy = mock_portals["legacyportal"]
    # 12 page requests per 4 s: a login takes 8, so the two sessions' logins together are
    # past it (429s during a login, whatever the machine's speed), and so are the lookups
    # (3 requests each) of both sessions unpaced
    legacy.knobs(rate_limit_per_minute=12, rate_window_seconds=4)
    # (the drift canary runs too, as every night: its page loads count toward the limit)
    monkeypatch.setenv("PAYERBOT_QUEUE__RATE_LIMIT_FIRST_PACE_SECONDS", "0.5")
    settings = load_settings()
    members = members_of(ground_truth, "DELTA", 3) + members_of(ground_truth, "ELM", 3)
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))

    counters = legacy.counters()
    assert counters["rate_limited"] > 0, "the limit was low enough for 429s to happen"
    assert [(o.state, o.attempts) for o in outcomes] == [("succeeded", 1)] * len(members), (
        "no item failed, waited or spent an attempt for a 429"
    )
    assert counters["logins"] and max(counters["logins"].values()) <= 1, counters["logins"]
    assert max(counters["max_concurrent_sessions"].values()) == 1
    pace = summary.notes()["portal_pace"]["legacyportal"]
    assert pace["rate_limited"] >= 1 and pace["slowest_seconds"] >= 0.5
    sentence = summary.notes()["slowed_portals"]["legacyportal"]
    assert "asked us to slow down" in sentence and "one lookup every" in sentence
    assert "(was 0 s)" in sentence, sentence


def _failed_attempts(settings, run_id: str) -> list[str]:
    from sqlalchemy import select

    from bots.store import Store
    from bots.store.schema import results

    store = Store.open(settings)
    try:
        with store.engine.begin() as conn:
            codes = conn.execute(select(results.c.error_code).where(results.c.run_id == run_id))
            return [c for c in codes.scalars() if c is not None]
    finally:
        store.close()


def _one_hub_account(monkeypatch) -> None:
    monkeypatch.setenv("PAYERBOT_QUEUE__DRIFT_CANARY", "false")
    monkeypatch.setenv("PAYERBOT_QUEUE__MAX_ATTEMPTS", "12")  # the test is the kind, not the count
    monkeypatch.setenv("PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS", "0.1")
    monkeypatch.setenv("PAYERBOT_QUEUE__BACKOFF_MAX_SECONDS", "0.3")
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS", '["main"]')
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS", "1")


@pytest.mark.timeout(90)
def test_payerhub_unreachable_during_lookups_is_retried_and_never_pauses_the_portal(
    settings, mock_portals, ground_truth, monkeypatch
):
    hub = mock_portals["payerhub"]
    _one_hub_account(monkeypatch)
    settings = load_settings()
    members = members_of(ground_truth, "ACME", 6)
    # logged in and one answer first, then the next six searches fail as network errors:
    # six "We could not reach PayerHub" banners in a row, past the layout breaker's five
    run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members[:1]))
    hub.knobs(unreachable_requests=6, unreachable_path="/api/eligibility")
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members[1:]))

    assert hub.counters()["unreachable"] == 6
    assert not summary.stopped_portals, "an outage is not a redesign: the portal goes on"
    assert [o.state for o in outcomes] == ["succeeded"] * 5, "retried and answered"
    failed = _failed_attempts(settings, summary.run_id)
    assert failed == ["portal_unavailable"] * 6, failed


@pytest.mark.timeout(90)
def test_payerhub_unreachable_at_sign_in_is_an_outage_not_a_refused_login(
    settings, mock_portals, ground_truth, monkeypatch
):
    hub = mock_portals["payerhub"]
    # the next fourteen API calls fail as network errors, the sign-in's first: the app shows
    # "We could not reach PayerHub" on the sign-in page and on the searches
    hub.knobs(unreachable_requests=14)
    _one_hub_account(monkeypatch)
    settings = load_settings()
    members = members_of(ground_truth, "ACME", 4)
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))

    assert hub.counters()["unreachable"] == 14
    assert not summary.stopped_portals, summary.stopped_portals
    assert [o.state for o in outcomes] == ["succeeded"] * 4, "retried and answered"
    assert hub.counters()["failed_logins"] == {}, "an outage is not a refused login"
    failed = _failed_attempts(settings, summary.run_id)
    assert len(failed) >= 3 and set(failed) == {"portal_unavailable"}, failed
