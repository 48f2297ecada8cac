"""The mock hub as a person sees it (pytest-playwright's page, real Chromium): is it awkward enough?

These tests guard the fixture itself: if the SPA stopped showing its spinner, its MFA
step or its client-side results, the flow tests would pass against a politer world.
"""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.timing import scaled

pytestmark = pytest.mark.browser


def sign_in(page: Page, url: str, account: dict[str, str], code: str | None = None) -> None:
    page.goto(f"{url}/#/login")
    page.get_by_label("Username").fill(account["username"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    page.get_by_label("Verification code").fill(code or pyotp.TOTP(account["totp_seed"]).now())
    page.get_by_role("button", name="Verify").click()
    if code is None:
        expect(page.get_by_role("heading", name="Welcome")).to_be_visible()


def test_mfa_rejects_a_wrong_code_and_accepts_the_right_one(page: Page, hub, ground_truth):
    account = ground_truth["accounts"]["payerhub"][2]
    sign_in(
        page,
        hub.url,
        account,
        code="000000" if pyotp.TOTP(account["totp_seed"]).now() != "000000" else "111111",
    )
    expect(page.get_by_role("alert")).to_contain_text("Invalid verification code")
    sign_in(page, hub.url, account)
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    assert hub.counters()["logins"] == {account["username"]: 1}


def test_results_render_client_side_behind_a_spinner(page: Page, hub, ground_truth):
    hub.knobs(latency_ms=700, jitter_ms=0)
    account = ground_truth["accounts"]["payerhub"][3]
    sign_in(page, hub.url, account)
    page.goto(f"{hub.url}/#/eligibility")
    spinner = page.get_by_role("progressbar", name="Loading")
    expect(spinner).to_be_visible()  # the payer list is still loading
    member = next(m for m in ground_truth["members"] if m["payer_id"] == "BLUESTEM")
    page.get_by_label("Payer").select_option("BLUESTEM")
    page.get_by_label("Member ID").fill(member["member_id"])
    page.get_by_label("Date of birth").fill(member["dob"])
    page.get_by_role("button", name="Check eligibility").click()
    expect(spinner).to_be_visible()
    results = page.get_by_role("region", name="Eligibility results")
    expect(results.get_by_role("heading", name="Eligibility & Benefits")).to_be_visible()
    expect(spinner).to_have_count(0)
    assert "index.html" not in page.url and page.url.endswith("#/eligibility")  # no page load


def test_the_idle_warning_blocks_the_page_until_dismissed(page: Page, hub, ground_truth):
    hub.knobs(session_idle_seconds=4)
    sign_in(page, hub.url, ground_truth["accounts"]["payerhub"][4])
    dialog = page.get_by_role("dialog", name="Are you still there?")
    expect(dialog).to_be_visible(timeout=scaled(5) * 1000)
    page.get_by_role("button", name="Stay signed in").click()
    expect(dialog).to_be_hidden()
