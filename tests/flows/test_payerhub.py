"""The PayerHub flow against the mock hub in real Chromium: the portal's traps, one at a time."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from playwright.async_api import Page

from bots.engine.credentials import login_secrets
from bots.errors import PortalUnavailable, SessionExpired
from bots.models import EligibilityQuery, LookupKind
from bots.settings import Settings
from bots.store import Store
from flows.payerhub import PayerHubFlow
from tests import browser_thread
from tests.browser_thread import BrowserThread
from tests.cli_here import payerbot_here
from tests.conftest import eligibility_rows, run_async, run_rows
from tests.timing import scaled
from tests.truth import _subset_payload, expected_claim, expected_eligibility

pytestmark = pytest.mark.browser


def with_page(
    chromium: BrowserThread,
    settings: Settings,
    body: Callable[[Page, PayerHubFlow], Awaitable[Any]],
) -> Any:
    """``body`` on a guarded page of a fresh context of the module's Chromium."""
    flow = PayerHubFlow(settings.portals["payerhub"].base_url)
    return chromium.on_guarded_page(flow, body, timeout_seconds=15)


chromium = browser_thread.chromium  # the module's browser (a fixture)


def active_member(gt: dict[str, Any], payer: str = "ACME") -> dict[str, Any]:
    return next(
        m
        for m in gt["members"]
        if m["payer_id"] == payer
        and m["coverage"]["termination_date"] is None
        and m["coverage"]["effective_date"] <= "2026-01-01"
        and m["relationship"] == "subscriber"
    )


def api_login(url: str, account: dict[str, str]) -> None:
    """Someone else logs in with the same account (the portal then ends the older session)."""
    with httpx.Client(base_url=url) as client:
        challenge = client.post(
            "/api/auth/login",
            json={"username": account["username"], "password": account["password"]},
        ).json()
        code = pyotp.TOTP(account["totp_seed"]).now()
        client.post(
            "/api/auth/mfa", json={"challenge": challenge["challenge"], "code": code}
        ).raise_for_status()


def payerbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [".venv/bin/payerbot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )


def test_lookup_json_prints_exactly_one_result(env, hub, ground_truth):
    m = active_member(ground_truth, "CARDINAL")
    proc = payerbot(
        "lookup",
        "eligibility",
        "--payer",
        "Cardinal Care",
        "--member-id",
        m["member_id"],
        "--dob",
        m["dob"],
        "--dos",
        "2026-12-01",
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert answer["state"] == "succeeded" and answer["evidence"].endswith(".jpg")
    assert expected_eligibility(ground_truth, m["member_key"], answer["result"]) == _subset_payload(
        answer["result"]
    )

    claim = next(
        c
        for c in ground_truth["claims"]
        if c["payer_id"] == "BLUESTEM" and c["status"]["category"] == "F2"
    )
    proc = payerbot(
        "lookup",
        "claim-status",
        "--payer",
        "BLUESTEM",
        "--claim-number",
        claim["claim_number"],
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert expected_claim(ground_truth, claim["claim_number"], answer["result"]) == _subset_payload(
        answer["result"]
    )
    assert answer["result"]["adjustments"], "a denial carries its CARC"


def test_wrong_password_is_one_attempt_and_a_clear_error(env, hub, ground_truth):
    bad = {
        **env,
        "PAYERBOT_CREDENTIALS__PAYERHUB__MAIN__PASSWORD": "not-the-password",
        "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]',  # no other account to carry on
        "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": "1",
    }
    m = active_member(ground_truth)
    proc = payerbot(
        "lookup",
        "eligibility",
        "--payer",
        "ACME",
        "--member-id",
        m["member_id"],
        "--dob",
        m["dob"],
        "--json",
        env=bad,
    )
    assert proc.returncode == 3
    answer = json.loads(proc.stdout)
    assert answer["error"] == "account_locked", "no account left: not tried, resumable"
    assert (
        "refused the login" in answer["message"]
        and "Invalid username or password" in answer["message"]
    )
    counters = hub.counters()
    assert counters["failed_logins"] == {"clinic.main": 1}
    assert not any(counters["logins"].values())
    assert "not-the-password" not in proc.stdout + proc.stderr


def test_a_batch_whose_logins_are_all_refused_stops_the_portal_after_one_try_per_account(
    env, hub, settings, ground_truth, tmp_path
):
    bad = {
        **env,
        "PAYERBOT_CREDENTIALS__PAYERHUB__MAIN__PASSWORD": "wrong1",
        "PAYERBOT_CREDENTIALS__PAYERHUB__SECOND__PASSWORD": "wrong2",
    }
    from tests.worklist_factory import eligibility_worklist

    worklist = tmp_path / "appointments.csv"  # the hub's payers only: the others log in fine
    eligibility_worklist(ground_truth, worklist, 6, {"ACME", "BLUESTEM", "CARDINAL"})
    proc = payerbot("run", "eligibility", "--worklist", str(worklist), env=bad)
    assert proc.returncode == 1
    assert "portal payerhub stopped" in proc.stdout
    # The drift canary's login (the first account) is the first try: refused once, the
    # account is set aside and the second one tried; refused too, no account is left.
    assert hub.counters()["failed_logins"] == {"clinic.main": 1, "clinic.second": 1}
    store = Store.open(settings)
    outcomes = [o for o in store.run_outcomes(store.list_runs(1)[0].id) if o.portal == "payerhub"]
    store.close()
    assert {(o.state, o.last_error_code, o.attempts) for o in outcomes} == {
        ("system_failed", "account_locked", 0)
    }, "not attempted: resumable once a person fixed the logins"


def test_session_lifetime_ends_mid_run_and_the_bot_logs_in_again(
    env, hub, settings, ground_truth, monkeypatch
):
    # The lifetime is counted in signed-in requests, not seconds: a fast run and a slow
    # machine both see the session end part-way (a lookup costs a few requests).
    hub.knobs(session_max_requests=12)
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS", "1")
    from bots.settings import load_settings

    settings = load_settings()
    members = [m for m in ground_truth["members"] if m["payer_id"] == "BLUESTEM"][:12]
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))
    assert [o.state for o in outcomes] == ["succeeded"] * len(members)
    assert all(o.attempts == 1 for o in outcomes), "an expired session costs no attempt"
    logins = hub.counters()["logins"]["clinic.main"]
    assert summary.logins == {"payerhub/main": logins} and logins >= 2


def test_newer_login_elsewhere_is_detected_as_session_expiry(settings, hub, ground_truth, chromium):
    account = next(a for a in ground_truth["accounts"]["payerhub"] if a["account"] == "main")
    m = active_member(ground_truth)
    query = EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        assert await flow.is_logged_in(page)
        assert (await flow.eligibility(page, query)).member_id == m["member_id"]
        api_login(flow.base_url, account)
        with pytest.raises(SessionExpired):
            await flow.eligibility(page, query)
        assert not await flow.is_logged_in(page)

    with_page(chromium, settings, body)


def test_server_errors_are_portal_failures_not_refused_logins(
    settings, hub, ground_truth, chromium
):
    m = active_member(ground_truth)
    query = EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )

    async def body(page: Page, flow: PayerHubFlow) -> None:
        secrets = login_secrets(settings, "payerhub", "main")
        hub.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await flow.login(page, secrets)
        hub.knobs(error_rate=0.0)
        await flow.login(page, secrets)
        hub.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await flow.eligibility(page, query)

    with_page(chromium, settings, body)
    assert hub.counters()["failed_logins"] == {} or not any(
        hub.counters()["failed_logins"].values()
    )


def test_portal_down_is_retried_with_backoff_then_failed_with_evidence(
    env, hub, settings, ground_truth, monkeypatch
):
    monkeypatch.setenv("PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS", "0.2")
    monkeypatch.setenv("PAYERBOT_QUEUE__MAX_ATTEMPTS", "3")
    from bots.settings import load_settings

    settings = load_settings()
    hub.knobs(error_rate=1.0)
    m = active_member(ground_truth)
    summary, (item,) = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows([m]))
    assert (item.state, item.last_error_code, item.attempts) == (
        "system_failed",
        "portal_unavailable",
        3,
    )
    assert item.evidence_path.endswith(".jpg")
    # Every attempt failed inside the login: a login is never traced (a trace would keep the
    # filled form), so the screenshot is the evidence.
    assert item.trace_path is None
    assert not summary.ok


def test_a_failure_after_the_login_keeps_a_trace_of_its_retries(
    env, hub, settings, ground_truth, monkeypatch
):
    monkeypatch.setenv("PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS", "0.2")
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS", "1")
    # the redesign lands after the drift canary looked (else the run pauses before trying)
    monkeypatch.setenv("PAYERBOT_QUEUE__DRIFT_CANARY", "false")
    from bots.settings import load_settings

    settings = load_settings()
    first, second = [m for m in ground_truth["members"] if m["payer_id"] == "ACME"][:2]
    run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows([first]))  # logs in, keeps it
    hub.knobs(layout="B")  # a redesign overnight: the kept session still works, pages do not
    summary, (item,) = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows([second]))
    assert summary.resumed_sessions == ["payerhub/main"]
    assert (item.state, item.last_error_code) == ("system_failed", "layout_changed")
    assert item.trace_path.endswith(".zip") and Path(item.trace_path).stat().st_size > 0
    assert hub.counters()["logins"] == {"clinic.main": 1}


def test_an_earlier_answer_on_screen_is_never_read_as_the_next_one(
    settings, hub, ground_truth, chromium
):
    """A 'not found' left on the page must not answer the next (valid) search, and vice versa."""
    m = active_member(ground_truth)
    found = EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )
    missing = found.model_copy(update={"member_id": "ACM99999999999"})

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        from bots.errors import MemberNotFound

        for query, ok in ((missing, False), (found, True), (missing, False), (found, True)):
            if ok:
                assert (await flow.eligibility(page, query)).member_id == m["member_id"]
            else:
                with pytest.raises(MemberNotFound):
                    await flow.eligibility(page, query)

    with_page(chromium, settings, body)


def test_recycled_contexts_keep_the_session_one_login(settings, hub, ground_truth, monkeypatch):
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS", "1")
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__LOOKUPS_PER_CONTEXT", "3")
    from bots.settings import load_settings

    settings = load_settings()
    members = [m for m in ground_truth["members"] if m["payer_id"] == "ACME"][:8]
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))
    assert [o.state for o in outcomes] == ["succeeded"] * 8
    assert hub.counters()["logins"] == {"clinic.main": 1}
    recycled = [
        line
        for line in summary.log_path.read_text().splitlines()
        if "portal.context_recycled" in line
    ]
    assert len(recycled) == 2  # after lookups 3 and 6


def test_layout_b_fails_as_layout_changed_never_a_wrong_value(
    settings, hub, ground_truth, chromium
):
    from bots.errors import LayoutChanged

    m = active_member(ground_truth)
    query = EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )
    claim = next(c for c in ground_truth["claims"] if c["payer_id"] == "ACME")

    async def body(page: Page, flow: PayerHubFlow) -> None:
        hub.knobs(layout="B")  # the redesign is live from the next page load: the login
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        with pytest.raises(LayoutChanged):
            await flow.eligibility(page, query)
        from bots.models import ClaimStatusQuery

        with pytest.raises(LayoutChanged):
            await flow.claim_status(
                page, ClaimStatusQuery(payer_id="ACME", claim_number=claim["claim_number"])
            )

    with_page(chromium, settings, body)


def test_maintenance_postpones_the_portal_instead_of_failing(settings, hub, ground_truth):
    hub.knobs(maintenance=True)
    members = [m for m in ground_truth["members"] if m["payer_id"] == "ACME"][:3]
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))
    assert {o.state for o in outcomes} == {"new"}  # postponed, resumable, not failed
    assert all(o.attempts == 0 and o.not_before is not None for o in outcomes)
    assert "payerhub" in summary.postponed_portals and summary.ok
    assert summary.duration_seconds < 60


def test_rate_limit_pauses_the_portal_then_everything_succeeds(
    settings, hub, ground_truth, monkeypatch
):
    # the flow stays on the search view: one API call per lookup (no payer list each time),
    # so a tighter limit than the window's lookups
    hub.knobs(rate_limit_per_minute=5, rate_window_seconds=3)
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS", "1")
    from bots.settings import load_settings

    settings = load_settings()
    members = [m for m in ground_truth["members"] if m["payer_id"] == "CARDINAL"][:10]
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))
    assert [o.state for o in outcomes] == ["succeeded"] * 10
    assert all(o.attempts == 1 for o in outcomes), "a 429 costs no attempt"
    events = [json.loads(line)["event"] for line in summary.log_path.read_text().splitlines()]
    assert events.count("portal.rate_limited") >= 1


def test_a_refused_login_locks_the_account_for_the_bot_until_a_person_resets_it(
    env, hub, settings, ground_truth
):
    bad = {
        **env,
        "PAYERBOT_CREDENTIALS__PAYERHUB__MAIN__PASSWORD": "changed-by-the-practice",
        "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": "1",
    }
    m = active_member(ground_truth)
    ask = [
        "lookup",
        "eligibility",
        "--payer",
        "ACME",
        "--member-id",
        m["member_id"],
        "--dob",
        m["dob"],
        "--json",
    ]
    # Refused once, main is set aside and the portal's other account answers the lookup.
    first = payerbot(*ask, env=bad)
    assert first.returncode == 0, first.stderr[-2000:]
    assert hub.counters()["failed_logins"] == {"clinic.main": 1}
    assert hub.counters()["logins"] == {"clinic.second": 1}
    status = json.loads(payerbot_here("portals", "status", "--json", env=env).stdout)
    assert status["payerhub"]["accounts"]["main"]["flag"]["flag"] == "login_refused"
    assert "changed-by-the-practice" not in json.dumps(status)
    # The next lookup goes to the other account at once (its kept session): main not tried.
    fallback = payerbot(*ask, env=bad)
    assert fallback.returncode == 0 and hub.counters()["logins"] == {"clinic.second": 1}
    # With no other account, the next nights never offer the portal that password again.
    only_main = {**bad, "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]'}
    for _ in range(2):  # a night, and the night after its "account locked" answer
        again = payerbot(*ask, env=only_main)
        assert again.returncode != 0 and json.loads(again.stdout)["error"] == "account_locked"
    assert hub.counters()["failed_logins"] == {"clinic.main": 1}
    assert "creds reset-lock payerhub" in json.loads(again.stdout)["message"]
    # A person fixed the password and clears the flag: the bot logs in again.
    assert payerbot_here("creds", "reset-lock", "payerhub", env=env).returncode == 0
    ok = payerbot(*ask, env={**env, "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]'})
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert hub.counters()["logins"] == {"clinic.second": 1, "clinic.main": 1}


class CarelessHub(PayerHubFlow):
    """PayerHub's real flow, made careless: it asks the portal about another member and
    returns that member's page read as is. Its own check only sees the question it made up."""

    def __init__(self, base_url: str, other: dict[str, Any]) -> None:
        super().__init__(base_url)
        self.other = other

    async def eligibility(self, page: Page, query: EligibilityQuery) -> Any:
        wrong = query.model_copy(
            update={
                "member_id": self.other["member_id"],
                "dob": date.fromisoformat(self.other["dob"]),
            }
        )
        return await super().eligibility(page, wrong)


def test_the_engine_refuses_another_members_page_from_a_careless_flow(settings, ground_truth):
    from bots.engine.runner import Runner

    asked = active_member(ground_truth)
    other = next(
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "ACME"
        and m["member_id"] != asked["member_id"]
        and m["coverage"]["termination_date"] is None
    )
    store = Store.open(settings)
    try:
        careless = CarelessHub(settings.portals["payerhub"].base_url, other)
        runner = Runner(settings, store, flows={"payerhub": careless})
        summary = run_async(runner.run(LookupKind.ELIGIBILITY, eligibility_rows([asked])))
        (item,) = store.run_outcomes(summary.run_id)
    finally:
        store.close()
    assert (item.state, item.last_error_code) == ("business_failed", "patient_mismatch")
    assert item.payload is None, "right patient or no result"
    assert item.evidence_path and Path(item.evidence_path).is_file(), "the screenshot is kept"


# --- a new login on a page that was signed in -------------------------------------------------
#
# The hub is a single-page app: once loaded it holds "signed in" in memory, and its router
# sends a signed-in app from #/login to #/home. A login on such a page (after a sign out by
# request, a session ended server-side, a kept session whose check said no) must still reach
# the sign-in form instead of waiting for it until the login times out.


def _acme_query(ground_truth: dict[str, Any]) -> EligibilityQuery:
    m = active_member(ground_truth)
    return EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )


async def _login_soon(page: Page, flow: PayerHubFlow, settings: Settings) -> None:
    """A login that must not hang: well under the page's own 15 s wait for a missing form."""
    await asyncio.wait_for(
        flow.login(page, login_secrets(settings, "payerhub", "main")), scaled(10)
    )


def test_a_login_after_a_sign_out_on_the_same_page_reaches_the_sign_in_form(
    settings, hub, ground_truth, chromium
):
    query = _acme_query(ground_truth)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await _login_soon(page, flow, settings)
        assert (await flow.eligibility(page, query)).member_id == query.member_id
        assert "#/eligibility" in page.url
        await flow.logout(page)  # by request: the app on screen still shows itself signed in
        await _login_soon(page, flow, settings)
        assert await flow.is_logged_in(page)
        assert (await flow.eligibility(page, query)).member_id == query.member_id

    with_page(chromium, settings, body)
    assert hub.counters()["logins"] == {"clinic.main": 2}
    assert set(hub.counters()["max_concurrent_sessions"].values()) == {1}


def test_a_login_after_the_session_ended_elsewhere_on_the_same_page(
    settings, hub, ground_truth, chromium
):
    account = next(a for a in ground_truth["accounts"]["payerhub"] if a["account"] == "main")
    query = _acme_query(ground_truth)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await _login_soon(page, flow, settings)
        assert (await flow.eligibility(page, query)).member_id == query.member_id
        api_login(flow.base_url, account)  # the app on screen has not noticed yet
        await _login_soon(page, flow, settings)
        assert (await flow.eligibility(page, query)).member_id == query.member_id

    with_page(chromium, settings, body)
    assert hub.counters()["logins"] == {"clinic.main": 3}


def test_a_login_on_a_page_still_signed_in_signs_out_first(settings, hub, ground_truth, chromium):
    query = _acme_query(ground_truth)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await _login_soon(page, flow, settings)
        assert (await flow.eligibility(page, query)).member_id == query.member_id
        await _login_soon(page, flow, settings)  # no sign out before it: the flow signs out
        assert (await flow.eligibility(page, query)).member_id == query.member_id

    with_page(chromium, settings, body)
    assert hub.counters()["logins"] == {"clinic.main": 2}
    assert set(hub.counters()["max_concurrent_sessions"].values()) == {1}


async def resume_opening_the_app_then_misreading(self: PayerHubFlow, page: Page) -> bool:
    """A wrong resume that leaves the page on the signed-in app: the hardest page for the
    engine's sign out and new login that follow."""
    await page.goto(self.base_url)
    await self.is_logged_in(page)
    return False


def test_a_kept_session_whose_resume_says_no_costs_one_login_not_the_lookup(
    settings, hub, ground_truth, monkeypatch
):
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS", '["main"]')
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS", "1")
    monkeypatch.setenv("PAYERBOT_QUEUE__MAX_ATTEMPTS", "1")  # a hung login fails the item
    from bots.settings import load_settings

    settings = load_settings()
    first, second = [m for m in ground_truth["members"] if m["payer_id"] == "ACME"][:2]
    run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows([first]))  # logs in, keeps it
    monkeypatch.setattr(PayerHubFlow, "resume", resume_opening_the_app_then_misreading)
    summary, (item,) = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows([second]))
    assert (item.state, item.attempts) == ("succeeded", 1), item.last_error_code
    assert summary.resumed_sessions == []
    assert hub.counters()["logins"] == {"clinic.main": 2}, "one new login"
    assert set(hub.counters()["max_concurrent_sessions"].values()) == {1}
