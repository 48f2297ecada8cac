"""The test module `payerbot new-flow` writes (tests/flows/test_NAME.py), as a template: both
lookups and a kept-session resume in a real browser, skipped (with the reason) wherever the
portal or its test login is not there. ``bots.ops.scaffold`` fills in the names."""

from __future__ import annotations

TEST = '''"""The __NAME__ flow in a real browser, against a test instance of the portal:
the landmarks, both lookups, and a kept session resumed without a new login. Made by
`payerbot new-flow`.

A test login of the portal comes from the environment, never from a file:
    __ENV___USERNAME, __ENV___PASSWORD,
    __ENV___TOTP_SEED (a portal with a one-time code),
    __ENV___BASE_URL (default: [portals.__NAME__] base_url).
The known member and claim come from the constants below, or from the environment
(__ENV___MEMBER_ID ...). Without a login, or with the portal
unreachable, every test here is skipped with the reason, so `make test` passes where the
portal cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright

from bots.engine import browser as browser_mod
from bots.engine.gates import build_flow
from bots.errors import ClaimNotFound, MemberNotFound, SessionExpired
from bots.flowkit.flow import LoginSecrets
from bots.flowkit.readonly import ReadOnlyGuard
from bots.models import ClaimStatusQuery, EligibilityQuery
from bots.settings import BrowserSettings, load_settings
from flows.__NAME__ import __CLS__

pytestmark = pytest.mark.browser

ENV = "__ENV__"
MFA = True  # TODO(test): False for a portal that asks for no one-time code


def setting(key: str, default: str) -> str:
    return os.environ.get(f"{ENV}_{key}") or default


# TODO(test): what the test instance knows: a member with coverage, a claim, and IDs it
# does not know (or set them in the environment: __ENV___MEMBER_ID, ...).
PAYER_ID = setting("PAYER_ID", "TODO")
KNOWN = EligibilityQuery(
    payer_id=PAYER_ID,
    member_id=setting("MEMBER_ID", "TODO"),
    dob=date.fromisoformat(setting("MEMBER_DOB", "1970-01-01")),
    date_of_service=date.fromisoformat(setting("DATE_OF_SERVICE", "2026-01-01")),
)
KNOWN_LAST_NAME = setting("MEMBER_LAST_NAME", "TODO")
KNOWN_ACTIVE = setting("MEMBER_ACTIVE", "true") == "true"
UNKNOWN_MEMBER_ID = setting("UNKNOWN_MEMBER_ID", "TODO")
KNOWN_CLAIM = ClaimStatusQuery(
    payer_id=PAYER_ID,
    claim_number=setting("CLAIM_NUMBER", "TODO"),
    member_id=setting("CLAIM_MEMBER_ID", "TODO"),
)
KNOWN_CLAIM_PAID = Decimal(setting("CLAIM_PAID", "0.00"))
UNKNOWN_CLAIM_NUMBER = setting("UNKNOWN_CLAIM_NUMBER", "TODO")


def make_flow() -> __CLS__:
    """The flow as the engine builds it: [portals.__NAME__] and its options from config/."""
    settings = load_settings()
    portal = settings.portals["__NAME__"]
    portal.base_url = setting("BASE_URL", portal.base_url)
    flow = build_flow(settings, "__NAME__", __CLS__)
    assert isinstance(flow, __CLS__)
    return flow


def why_skip() -> str | None:
    """Why these tests cannot run here (None: they can)."""
    wanted = ["USERNAME", "PASSWORD", *(["TOTP_SEED"] if MFA else [])]
    missing = [f"{ENV}_{key}" for key in wanted if not os.environ.get(f"{ENV}_{key}")]
    if missing:
        return f"no test login of the portal: set {', '.join(missing)}"
    base_url = make_flow().base_url
    try:
        httpx.get(base_url, timeout=10)
    except httpx.HTTPError:
        return f"the portal at {base_url} is not reachable from here"
    return None


LOGIN = LoginSecrets(
    username=os.environ.get(f"{ENV}_USERNAME", ""),
    password=os.environ.get(f"{ENV}_PASSWORD", ""),
    totp_seed=os.environ.get(f"{ENV}_TOTP_SEED") or None,
)

Body = Callable[[Page, __CLS__], Awaitable[Any]]


class Portal:
    """One browser for the module; each test gets a fresh context, read-only guarded as the
    engine's contexts are."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.playwright: Playwright = self.loop.run_until_complete(async_playwright().start())
        self.browser: Browser = self.loop.run_until_complete(
            browser_mod.launch(self.playwright, BrowserSettings())
        )

    def run(self, body: Body, storage_state: Any = None) -> Any:
        async def main() -> Any:
            flow = make_flow()
            context = await self.browser.new_context(storage_state=storage_state)
            try:
                guard = ReadOnlyGuard(flow.read_only_policy())
                await guard.install(context)
                page = await context.new_page()
                page.set_default_timeout(15_000)
                answer = await body(page, flow)
                assert guard.violations == [], "a request the flow does not declare (sends)"
                return answer
            finally:
                await context.close()

        return self.loop.run_until_complete(main())

    def close(self) -> None:
        self.loop.run_until_complete(self.browser.close())
        self.loop.run_until_complete(self.playwright.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    reason = why_skip()
    if reason is not None:
        pytest.skip(reason)
    started = Portal()
    try:
        yield started
    finally:
        started.close()


def test_the_pages_have_the_landmarks_the_flow_relies_on(portal: Portal) -> None:
    async def body(page: Page, flow: __CLS__) -> None:
        assert await flow.landmarks(page, "login") == []
        await flow.login(page, LOGIN)
        assert await flow.is_logged_in(page)
        assert await flow.landmarks(page, "search") == []

    portal.run(body)


def test_a_known_member_is_read_and_an_unknown_one_is_not_found(portal: Portal) -> None:
    async def body(page: Page, flow: __CLS__) -> None:
        await flow.login(page, LOGIN)
        result = await flow.eligibility(page, KNOWN)
        assert (result.member_id, result.last_name) == (KNOWN.member_id, KNOWN_LAST_NAME)
        assert result.coverage_active is KNOWN_ACTIVE
        unknown = KNOWN.model_copy(update={"member_id": UNKNOWN_MEMBER_ID})
        with pytest.raises(MemberNotFound):
            await flow.eligibility(page, unknown)
        # the answer before must never be read as this one: ask the known member again
        assert (await flow.eligibility(page, KNOWN)).member_id == KNOWN.member_id

    portal.run(body)


def test_a_known_claim_is_read_and_an_unknown_one_is_not_found(portal: Portal) -> None:
    async def body(page: Page, flow: __CLS__) -> None:
        await flow.login(page, LOGIN)
        result = await flow.claim_status(page, KNOWN_CLAIM)
        assert (result.claim_number, result.member_id) == (
            KNOWN_CLAIM.claim_number,
            KNOWN_CLAIM.member_id,
        )
        assert result.paid == KNOWN_CLAIM_PAID
        unknown = KNOWN_CLAIM.model_copy(update={"claim_number": UNKNOWN_CLAIM_NUMBER})
        with pytest.raises(ClaimNotFound):
            await flow.claim_status(page, unknown)

    portal.run(body)


def test_a_kept_session_resumes_without_a_new_login(portal: Portal) -> None:
    """What the engine does between runs: keep the signed-in storage state, open a new
    browser context from it, resume() instead of a login. False here means every run logs
    in again (TODO(resume) in the flow)."""

    async def sign_in(page: Page, flow: __CLS__) -> Any:
        await flow.login(page, LOGIN)
        return await page.context.storage_state()

    kept = portal.run(sign_in)

    async def resumed(page: Page, flow: __CLS__) -> None:
        assert await flow.resume(page), "the kept session did not resume: resume() is wrong"
        result = await flow.eligibility(page, KNOWN)  # no login on this context
        assert result.member_id == KNOWN.member_id

    portal.run(resumed, storage_state=kept)


def test_logout_ends_the_session(portal: Portal) -> None:
    """The engine signs out before a new login (one live session per account)."""

    async def body(page: Page, flow: __CLS__) -> None:
        await flow.login(page, LOGIN)
        await flow.logout(page)
        try:
            live = await flow.resume(page)
        except SessionExpired:  # as the engine reads it: not live
            live = False
        assert not live, "the session is still live after logout()"

    portal.run(body)
'''
