"""One live session per account, always: under faults (500s, idle expiry, a short session
lifetime, a rate limit) a run over the three mock portals never logs an account in while
an older session of it is alive (the portals count ``max_concurrent_sessions``), and
`creds check` twice in a row tries the kept session first, so the next run resumes it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bots.models import LookupKind
from bots.outputs.run_views import logins_text
from bots.settings import load_settings
from tests.conftest import eligibility_rows, run_rows
from tests.test_cli import payerbot
from tests.test_sessions import members_of
from tests.timing import scaled

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
    said = []
    for _ in range(2):
        proc = payerbot("creds", "check", "--json", env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        said.append(json.loads(proc.stdout))
    first, checks = said
    assert {c["session"] for c in first} == {"new_login"}
    assert all(c["detail"].startswith("new login (no kept session)") for c in first), first
    assert {c["status"] for c in checks} == {"ok"}
    assert {c["session"] for c in checks} == {"resumed"}
    assert {c["detail"] for c in checks} == {"resumed the kept session (no login needed)"}
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
    assert logins_text(summary.notes()) == (
        "logins: legacyportal/main 0 (resumed 1), medicaidportal/main 0 (resumed 1), "
        "payerhub/main 0 (resumed 1)"
    )


def here(*args: str) -> Any:
    """`payerbot ARGS` in this process (a patched flow is the one it runs), in a thread of its
    own (the command calls asyncio.run): its exit code and JSON output."""
    from concurrent.futures import ThreadPoolExecutor

    from typer.testing import CliRunner

    from bots.interfaces.cli import app
    from tests.test_truth_audit import logging_kept

    def invoke() -> Any:
        with logging_kept():
            result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output[-2000:]
        return json.loads(result.stdout)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result(timeout=scaled(300))


async def misreading_resume(self: Any, page: Any) -> bool:
    """A wrong resume: it never finds the kept session live, so every run logs in again. It
    leaves the page on the signed-in app, as a real resume does: the engine's sign out and
    new login then start from the hardest page (a single-page app still holding its
    signed-in state in memory)."""
    await page.goto(self.base_url)
    await self.is_logged_in(page)
    return False


@pytest.mark.timeout(120)
def test_a_flow_whose_resume_is_wrong_is_named_by_creds_check_the_first_day(
    env, settings, hub, monkeypatch
):
    from flows.payerhub import PayerHubFlow

    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS", '["main"]')
    (first,) = here("creds", "check", "payerhub", "--json")
    assert first["session"] == "new_login", first
    with monkeypatch.context() as patched:
        patched.setattr(PayerHubFlow, "resume", misreading_resume)
        (wrong,) = here("creds", "check", "payerhub", "--json")
    assert wrong["status"] == "ok" and wrong["session"] == "new_login_kept_session_not_resumed"
    assert re.fullmatch(
        r"the kept session from \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M did not resume: a new "
        r"login was needed; if the portal still had it, check the flow's resume\(\)(; .*)?",
        wrong["detail"],
    ), wrong["detail"]
    (right,) = here("creds", "check", "payerhub", "--json")  # the bundled flow's resume
    assert right["session"] == "resumed", right
    assert sum(hub.counters()["logins"].values()) == 2, "the wrong resume cost one login"
    assert set(peaks({"payerhub": hub}).values()) == {1}, "the old session ended first"


@pytest.mark.timeout(120)
def test_doctor_portals_says_resumed_or_new_login_and_names_a_wrong_resume(
    env, settings, hub, monkeypatch
):
    from flows.payerhub import PayerHubFlow

    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS", '["main"]')
    said = [here("doctor", "portals", "--portal", "payerhub", "--json")[0] for _ in range(2)]
    assert [c["status"] for c in said] == ["ok", "ok"], said
    assert [c["session"] for c in said] == ["new_login", "resumed"]
    assert "main: new login (no kept session)" in said[0]["detail"]
    assert "main: resumed the kept session" in said[1]["detail"]
    with monkeypatch.context() as patched:
        patched.setattr(PayerHubFlow, "resume", misreading_resume)
        (wrong,) = here("doctor", "portals", "--portal", "payerhub", "--json")
    assert wrong["session"] == "new_login_kept_session_not_resumed", wrong
    assert "check the flow's resume()" in wrong["detail"]
