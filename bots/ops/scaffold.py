"""`payerbot new-flow NAME`: a new portal's flow, its config entry and its test module, each
with TODOs that say what to fill in (README, "Adding a payer portal")."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from bots.errors import ConfigurationError

FLOW = '''"""{title}.

TODO: one line on the portal (a single-page app? frames? MFA? rate limits?).

Made by `payerbot new-flow {name}`. Fill in every TODO; record the pages first with
`playwright codegen {base_url}` (README, "Adding a payer portal"). Two rules: the right
patient or no result, and only read (never press a button that changes anything).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from playwright.async_api import Page

from bots.errors import (
    AuthenticationError,  # noqa: F401  (TODO: raise it on a refused login)
    LayoutChanged,  # noqa: F401  (TODO: raise it when a page lacks what the flow reads)
    MemberNotFound,  # noqa: F401  (TODO: raise it when the portal finds nobody)
)
from bots.flowkit.error_pages import ClockTime, ErrorPages, Marker, raise_for_page
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow, register
from bots.flowkit.pages import (
    landmarks,
    missing_landmarks,
    read_definitions,  # noqa: F401  (TODO: read the result's labelled fields)
    require,
    require_all,
    split_name,
    us_date,
)
from bots.flowkit.readonly import Send
from bots.flowkit.words import Words
from bots.matching import check_member
from bots.models import EligibilityQuery, EligibilityResult, LookupKind

# TODO(landmarks): what the sign-in page and the search form must show for this flow to
# work, by accessible role and name ("label:Member ID", "button:Search", "heading:...").
LOGIN_LANDMARKS = landmarks("label:Username", "label:Password", "button:Sign in")
SEARCH_LANDMARKS = landmarks("label:Member ID", "label:Date of birth", "button:Search")
# TODO(fields): the labels of the result the flow reads; all must be there, or it stops.
RESULT_FIELDS = ("Member name", "Member ID", "Date of birth", "Coverage status")
# TODO(words): every word the portal shows for a coded field, mapped strictly: a word not
# listed stops the lookup (LayoutChanged naming the field), it is never guessed at.
COVERAGE = Words("coverage status", {{"Active": True, "Inactive": False}})
# TODO(error pages): how the portal says it is closed, busy, broken or done with the session,
# as recorded: a Marker takes phrases of the page's text (any case), and/or status=...,
# heading=... (its <h1>, exactly). HTTP 429 and 5xx count without a marker; any other 4xx is
# LayoutChanged. raise_for_page checks them in one order (CAPTCHA first) and raises the typed
# error the engine acts on (postpone, pause, retry, log in again, stop for a person).
ERROR_PAGES = ErrorPages(
    "{title}",
    captcha=Marker("verify you are human"),
    maintenance=Marker("scheduled maintenance", status=503),
    maintenance_ends=ClockTime("America/New_York"),  # the zone of "back by 5:00 AM"
    rate_limited=Marker("too many requests"),
    wait_seconds=r"wait (\\d+) seconds",
    server_error=Marker("something went wrong"),
    unavailable=Marker("could not reach"),  # an outage banner: retried, never a redesign
    signed_out=Marker("session has expired", "signed out"),
)


@register
class {cls}(PortalFlow):
    """TODO: what this flow can do on the portal."""

    name = "{name}"
    title = "{title}"
    # TODO(sends): every request the flow makes that is not a GET: the sign-in form, MFA,
    # the search forms (as recorded: the method and the path each form posts to; ``*``
    # stands for one path segment). The engine's read-only guard aborts any other and ends
    # the lookup as read_only_violation, the portal stopped for the run. API reads go
    # through bots.flowkit.readonly.portal_request, never page.request.
    sends = (
        Send("POST", "/login"),
        Send("POST", "/search"),
    )
    # TODO(write pages): the portal's pages that change something (appeals, profile,
    # change password, claim submission): opening one ends the lookup the same way.
    write_pages = ("/profile", "/change-password")

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        # TODO(login): open the sign-in page (self._open), fill it, answer MFA / security
        # questions, dismiss interstitials (never act on them), wait for the signed-in home
        # page. Check for an error page (raise_for_page) before calling a login refused: a
        # refused login raises AuthenticationError and is never retried (lockouts).
        raise NotImplementedError("TODO(login)")

    async def is_logged_in(self, page: Page) -> bool:
        # TODO(is_logged_in): something only a signed-in page shows (the user, "Log out").
        raise NotImplementedError("TODO(is_logged_in)")

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        # TODO(landmarks): the sign-in URL and the search URL of the portal.
        if stage == "login":
            await self._open(page, "/")
            return await missing_landmarks(page, LOGIN_LANDMARKS, "sign-in page")
        await self._open(page, "/")
        return await missing_landmarks(page, SEARCH_LANDMARKS, "search page")

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        # TODO(eligibility): open the search form fresh (self._open: never read an earlier
        # answer), fill it from the query, submit, wait for a result or a message; an error
        # page raises (raise_for_page). "No member" raises MemberNotFound; a page about
        # someone else raises PatientMismatch; a page the flow does not recognise raises
        # LayoutChanged. Then read it (below).
        raise NotImplementedError("TODO(eligibility)")

    async def _open(self, page: Page, path: str) -> None:
        """Load one of the portal's pages; an error page raises its error (ERROR_PAGES)."""
        response = await page.goto(f"{{self.base_url}}{{path}}")
        await raise_for_page(ERROR_PAGES, page, response)

    def _result(
        self, query: EligibilityQuery, fields: dict[str, str], text: str
    ) -> EligibilityResult:
        """The result from the labelled fields of the page (read_definitions)."""
        require_all(fields, RESULT_FIELDS, "eligibility result")
        member_id = require(fields, "Member ID")
        dob = us_date(require(fields, "Date of birth"))
        # The right patient or no result: the ONE rule (bots/matching.py) raises
        # PatientMismatch for someone else. The result carries what the page SHOWED, never
        # the query's values: the engine checks it again before anything is stored.
        # TODO(identity): if the portal's answer shows no identity at all, leave member_id,
        # names and dob None and set identity_basis=IdentityBasis.SEARCH_UNIQUE, but only
        # when the search was by member ID + date of birth and the portal returned exactly
        # one member (a portal that falls back to "somebody on the contract" must show who).
        check_member(query, member_id, dob)
        first, last = split_name(require(fields, "Member name"))
        active = COVERAGE.read(require(fields, "Coverage status"))
        return EligibilityResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=text,
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=dob,
            date_of_service=query.date_of_service,
            coverage_active=active,
            plan_name=fields.get("Plan"),
            # TODO(fields): group, dates, benefits (bots.models.Benefit) as the portal shows
        )
'''

TEST = '''"""The {name} flow in a real browser: fill in the TODOs (a test instance of the portal, or
a recording replayed offline: README, "Adding a payer portal"). Made by `payerbot new-flow`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from bots.engine import browser as browser_mod
from bots.errors import MemberNotFound
from bots.flowkit.flow import LoginSecrets
from bots.flowkit.readonly import ReadOnlyGuard
from bots.models import EligibilityQuery
from bots.settings import BrowserSettings
from flows.{name} import {cls}

pytestmark = pytest.mark.browser

# TODO(test): where the flow is tested, with which login, and what that portal knows.
BASE_URL = "{base_url}"
# A test account of the portal, from the environment: never a login in a file.
LOGIN = LoginSecrets(
    username=os.environ.get("{env}_USERNAME", "TODO"),
    password=os.environ.get("{env}_PASSWORD", "TODO"),
)
KNOWN = EligibilityQuery(
    payer_id="TODO", member_id="TODO", dob="1970-01-01", date_of_service="2026-01-01"
)
KNOWN_LAST_NAME = "TODO"
KNOWN_ACTIVE = True
UNKNOWN_MEMBER_ID = "TODO"


def run(body: Callable[[Page, {cls}], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with async_playwright() as pw:
            browser = await browser_mod.launch(pw, BrowserSettings())
            try:
                flow = {cls}(BASE_URL)
                context = await browser.new_context()
                guard = ReadOnlyGuard(flow.read_only_policy())  # as the engine's contexts
                await guard.install(context)
                page = await context.new_page()
                page.set_default_timeout(10_000)
                answer = await body(page, flow)
                assert guard.violations == [], "a request the flow does not declare (sends)"
                return answer
            finally:
                await browser.close()

    return asyncio.run(main())


def test_the_pages_have_the_landmarks_the_flow_relies_on() -> None:
    async def body(page: Page, flow: {cls}) -> None:
        assert await flow.landmarks(page, "login") == []
        await flow.login(page, LOGIN)
        assert await flow.is_logged_in(page)
        assert await flow.landmarks(page, "search") == []

    run(body)


def test_a_known_member_is_read_and_an_unknown_one_is_not_found() -> None:
    async def body(page: Page, flow: {cls}) -> None:
        await flow.login(page, LOGIN)
        result = await flow.eligibility(page, KNOWN)
        assert (result.member_id, result.last_name) == (KNOWN.member_id, KNOWN_LAST_NAME)
        assert result.coverage_active is KNOWN_ACTIVE
        unknown = KNOWN.model_copy(update={{"member_id": UNKNOWN_MEMBER_ID}})
        with pytest.raises(MemberNotFound):
            await flow.eligibility(page, unknown)
        # the answer before must never be read as this one: ask the known member again
        assert (await flow.eligibility(page, KNOWN)).member_id == KNOWN.member_id

    run(body)
'''

CONFIG = """
# Added by `payerbot new-flow {name}`: TODO fill in, then add the payers it answers for.
[portals.{name}]
title = "{title}"
base_url = "{base_url}"
accounts = ["main"]              # TODO: the portal's accounts (`payerbot creds set {name} main`)
max_sessions = 1                 # TODO: what the portal tolerates; never more than accounts
# maintenance_windows = ["Sun 02:00-04:00"]   # TODO: as the portal announces them

# [payers.TODO]
# name = "TODO"
# portal = "{name}"
# aliases = ["TODO"]
"""


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Flow"


def new_flow(name: str, root: Path, base_url: str, title: str | None = None) -> list[Path]:
    """Write flows/NAME.py, tests/flows/test_NAME.py and a config block under ``root``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", name) or keyword.iskeyword(name):
        raise ConfigurationError(
            "a flow name is 2-40 lowercase letters, digits or _ and starts with a letter"
        )
    flow_path = root / "flows" / f"{name}.py"
    test_path = root / "tests" / "flows" / f"test_{name}.py"
    for path in (flow_path, test_path):
        if path.exists():
            raise ConfigurationError(f"{path} exists already: not overwritten")
    config = root / "config" / "portals.toml"
    if config.exists() and f"[portals.{name}]" in config.read_text(encoding="utf-8"):
        raise ConfigurationError(f"config/portals.toml has a [portals.{name}] already")
    values = {
        "name": name,
        "cls": _class_name(name),
        "title": title or f"{name} (TODO: the portal's name)",
        "base_url": base_url,
        "env": f"PAYERBOT_TEST_{name.upper()}",
    }
    for package in (root / "flows", root / "tests", root / "tests" / "flows"):
        package.mkdir(parents=True, exist_ok=True)  # packages, as in this repository
        (package / "__init__.py").touch(exist_ok=True)
    for path, template in ((flow_path, FLOW), (test_path, TEST)):
        path.write_text(template.format(**values), encoding="utf-8")
    config.parent.mkdir(parents=True, exist_ok=True)
    with config.open("a", encoding="utf-8") as fh:
        fh.write(CONFIG.format(**values))
    return [flow_path, test_path, config]
