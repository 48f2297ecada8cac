"""One live session per account, always: under faults (500s, idle expiry, a short session
lifetime, a rate limit) a run over the three mock portals never logs an account in while
an older session of it is alive (the portals count ``max_concurrent_sessions``), and
`creds check` twice in a row tries the kept session first, so the next run resumes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bots.models import LookupKind
from bots.settings import load_settings
from tests.conftest import eligibility_rows, run_rows
from tests.test_cli import payerbot
from tests.test_sessions import members_of

pytestmark = pytest.mark.browser

FAULTS = {
    "error_rate": 0.15,
    "session_idle_seconds": 20,
    "session_max_seconds": 60,
    "rate_limit_per_minute": 120,
}


def peaks(mock_portals: dict[str, Any]) -> dict[str, int]:
    return {
        f"{name}/{user}": n
        for name, portal in mock_portals.items()
        for user, n in portal.counters()["max_concurrent_sessions"].items()
    }


@pytest.mark.timeout(150)
def test_under_faults_no_account_ever_has_two_live_sessions(
    settings, mock_portals, ground_truth, monkeypatch
):
    for portal in mock_portals.values():
        portal.knobs(**FAULTS)
    for name in ("PAYERHUB", "LEGACYPORTAL", "MEDICAIDPORTAL"):
        # a fresh context every few lookups: each recycle checks the session it carries
        monkeypatch.setenv(f"PAYERBOT_PORTALS__{name}__LOOKUPS_PER_CONTEXT", "3")
    monkeypatch.setenv("PAYERBOT_QUEUE__MAX_ATTEMPTS", "4")
    settings = load_settings()
    payers = ("ACME", "DELTA", "STATEMCD")
    rows = eligibility_rows([m for p in payers for m in members_of(ground_truth, p, 8)])
    _, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows)
    assert sum(o.state == "succeeded" for o in outcomes) >= len(rows) // 2, "the run worked"
    relogins = sum(
        n for portal in mock_portals.values() for n in portal.counters()["logins"].values()
    )
    found = peaks(mock_portals)
    assert found and set(found.values()) == {1}, (found, relogins)


@pytest.mark.timeout(120)
def test_creds_check_twice_keeps_the_session_the_next_run_resumes(
    env, settings, mock_portals, ground_truth, monkeypatch
):
    for _ in range(2):
        proc = payerbot("creds", "check", "--json", env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
    checks = json.loads(proc.stdout)
    assert {c["status"] for c in checks} == {"ok"}
    assert {c["detail"] for c in checks} == {"the kept session is still live (no login needed)"}
    logins = {name: dict(p.counters()["logins"]) for name, p in mock_portals.items()}
    assert all(set(n.values()) == {1} for n in logins.values()), "one login per account"
    assert set(peaks(mock_portals).values()) == {1}
    for portal in ("PAYERHUB", "LEGACYPORTAL", "MEDICAIDPORTAL"):
        monkeypatch.setenv(f"PAYERBOT_PORTALS__{portal}__ACCOUNTS", '["main"]')
        monkeypatch.setenv(f"PAYERBOT_PORTALS__{portal}__MAX_SESSIONS", "1")
    payers = ("ACME", "DELTA", "STATEMCD")
    rows = eligibility_rows([m for p in payers for m in members_of(ground_truth, p, 1)])
    summary, outcomes = run_rows(load_settings(), LookupKind.ELIGIBILITY, rows)
    assert {o.state for o in outcomes} == {"succeeded"}
    assert sorted(summary.resumed_sessions) == [
        "legacyportal/main",
        "medicaidportal/main",
        "payerhub/main",
    ], "the run resumed the sessions creds check kept: no login"
    assert {name: dict(p.counters()["logins"]) for name, p in mock_portals.items()} == logins
