"""The read-only guard in real Chromium: a flow that tries to write is stopped by the engine.

Each careless flow below hides what it did (it swallows the blocked request's error and
answers the question anyway); the engine still ends the lookup as ``read_only_violation``,
keeps the screenshot, does not retry it, stops the portal for the run, and the portal's
write counter stays 0.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from bots.engine.runner import Runner
from bots.errors import ReadOnlyViolation
from bots.flowkit.flow import PortalFlow
from bots.flowkit.readonly import portal_request
from bots.models import EligibilityQuery, EligibilityResult, LookupKind
from bots.settings import Settings, load_settings
from bots.store import OutcomeCode, Store
from flows.legacyportal import LegacyPortalFlow
from flows.payerhub import PayerHubFlow
from tests.conftest import Portal, eligibility_rows, run_async

pytestmark = pytest.mark.browser


class AppealingHub(PayerHubFlow):
    """Submits the hub's appeal form in the middle of a lookup, then answers as usual."""

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        await page.goto(f"{self.base_url}/#/appeals")
        await page.get_by_label("Claim number").fill("C123")
        await page.get_by_label("Reason for appeal").fill("the bot thought it should")
        async with page.expect_request(lambda r: r.method == "POST") as sent:
            await page.get_by_role("button", name="Submit appeal").click()
        await (await sent.value).response()  # sent (or stopped on the way): done either way
        return await super().eligibility(page, query)


class ProfileUpdatingHub(PayerHubFlow):
    """Posts to the hub's profile through the request API and swallows the refusal."""

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        with contextlib.suppress(ReadOnlyViolation):  # careless: carries on regardless
            await portal_request(page, "POST", f"{self.base_url}/api/profile", data={"x": "y"})
        return await super().eligibility(page, query)


class PasswordChangingLegacy(LegacyPortalFlow):
    """Opens the legacy portal's change-password page, then posts its form by script; both
    errors swallowed."""

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        address = f"{self.base_url}/ChangePassword.aspx"
        with contextlib.suppress(Exception):
            await page.goto(address)
        await page.evaluate(
            "url => fetch(url, {method: 'POST', body: new URLSearchParams({NewPassword: 'x'})})"
            ".catch(() => null)",
            address,
        )
        return await super().eligibility(page, query)


def one_session(monkeypatch: pytest.MonkeyPatch, portal: str = "payerhub") -> Settings:
    monkeypatch.setenv(f"PAYERBOT_PORTALS__{portal.upper()}__MAX_SESSIONS", "1")
    return load_settings()


def run_with(settings: Settings, flow: PortalFlow, members: list[dict[str, Any]]) -> list[Any]:
    store = Store.open(settings)
    try:
        runner = Runner(settings, store, flows={flow.name: flow})
        summary = run_async(runner.run(LookupKind.ELIGIBILITY, eligibility_rows(members)))
        return store.run_outcomes(summary.run_id)
    finally:
        store.close()


def of_payer(ground_truth: dict[str, Any], payer: str, n: int) -> list[dict[str, Any]]:
    return [m for m in ground_truth["members"] if m["payer_id"] == payer][:n]


def assert_stopped_by_the_guard(outcomes: list[Any], hub: Portal) -> None:
    first, *others = sorted(outcomes, key=lambda o: o.attempts, reverse=True)
    assert (first.state, first.last_error_code, first.attempts) == (
        "system_failed",
        OutcomeCode.READ_ONLY_VIOLATION,
        1,
    ), "stopped, never retried"
    assert "read-only guard" in (first.last_error_message or "")
    assert first.payload is None, "nothing read after a write attempt is an answer"
    assert first.evidence_path and Path(first.evidence_path).is_file(), "screenshot kept"
    # the portal stopped for the run: its other items were never tried
    assert all(o.attempts == 0 and o.state == "system_failed" for o in others)
    assert all("not attempted" in (o.last_error_message or "") for o in others)
    counters = hub.counters()
    assert counters["writes"] == 0
    assert counters["lookups"]["eligibility"] <= 1  # only the careless lookup's own search


def test_a_flow_that_submits_a_write_form_is_stopped_and_the_portal_paused(
    settings, hub, ground_truth, monkeypatch
):
    settings = one_session(monkeypatch)
    flow = AppealingHub(settings.portals["payerhub"].base_url)
    outcomes = run_with(settings, flow, of_payer(ground_truth, "CARDINAL", 3))
    assert_stopped_by_the_guard(outcomes, hub)
    (stopped,) = [o for o in outcomes if o.attempts]
    # the single-page app's write route is seen too, though no request opens it
    assert "opened /#/appeals" in (stopped.last_error_message or "")


def test_a_flow_that_posts_through_the_request_api_is_stopped_too(
    settings, hub, ground_truth, monkeypatch
):
    settings = one_session(monkeypatch)
    flow = ProfileUpdatingHub(settings.portals["payerhub"].base_url)
    outcomes = run_with(settings, flow, of_payer(ground_truth, "CARDINAL", 2))
    assert_stopped_by_the_guard(outcomes, hub)


def test_a_flow_that_opens_a_write_page_and_posts_its_form_is_stopped(
    settings, mock_portals, ground_truth, monkeypatch
):
    legacy = mock_portals["legacyportal"]
    settings = one_session(monkeypatch, "legacyportal")
    flow = PasswordChangingLegacy(settings.portals["legacyportal"].base_url)
    outcomes = run_with(settings, flow, of_payer(ground_truth, "DELTA", 2))
    assert_stopped_by_the_guard(outcomes, legacy)
