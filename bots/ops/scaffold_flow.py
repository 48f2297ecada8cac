"""The flow module `payerbot new-flow` writes (flows/NAME.py), as a template: both lookups,
login with an optional one-time code, resume, logout, landmarks, options, each TODO saying
what the engine expects. ``bots.ops.scaffold`` fills in the names."""

from __future__ import annotations

FLOW = '''"""__TITLE__.

TODO: one line on the portal (a single-page app or server-rendered forms? frames? MFA? a
location picker after sign-in? rate limits?).

Made by `payerbot new-flow __NAME__`. Look at the portal first, headless (per page: a
screenshot, the accessibility tree, the forms and the requests):

    payerbot explore __BASE_URL__

then fill in every TODO and delete it (README, "Adding a payer portal").
Two rules the engine holds every flow to: the right patient or no result, and only read
(never press a button that changes anything).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

import pyotp
from playwright.async_api import FrameLocator, Locator, Page
from pydantic import BaseModel, ConfigDict

from bots.errors import (
    AuthenticationError,
    ClaimNotFound,  # noqa: F401  (TODO(claim_status): raise it when the portal finds no claim)
    LayoutChanged,
    MemberNotFound,  # noqa: F401  (TODO(eligibility): raise it when the portal finds nobody)
    PortalError,
    SessionExpired,
)
from bots.flowkit.error_pages import ClockTime, ErrorPages, Marker, raise_for_page
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow, register
from bots.flowkit.pages import (
    landmarks,
    missing_landmarks,
    money,
    require,
    require_all,
    split_name,
    us_date,
)
from bots.flowkit.readonly import Send
from bots.flowkit.views import (
    posted_to,  # noqa: F401  (TODO(eligibility): the page a form's own POST brought)
    read_region,  # noqa: F401  (TODO(eligibility): the result region in one round trip)
)
from bots.flowkit.words import Words
from bots.matching import ShownClaim, check_claim, check_member
from bots.models import (
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    IdentityBasis,
    LookupKind,
)

# TODO(pages): the portal's addresses. The sign-in page; the search pages (each a page only a
# live session opens: resume() opens one); the sign-out link.
SIGN_IN_PATH = "/"
ELIGIBILITY_PATH = "/eligibility"
CLAIMS_PATH = "/claims"
SIGN_OUT_PATH = "/logout"
# TODO(login): the name of the <iframe name=...> the sign-in form sits in; None: on the page.
SIGN_IN_FRAME: str | None = None

# TODO(landmarks): what each page must show for this flow to work, by accessible role and
# name, exactly: "heading:...", "label:...", "button:...", "link:...", "region:...", and
# the form controls "combobox:..." (a select), "textbox:...", "checkbox:...", "radio:..."
# ("label:Month" finds a select inside its label too); landmarks(..., frame="NAME") looks
# inside a frame. The engine checks them before every batch (the drift canary) and pauses
# a portal whose pages changed; `payerbot explore` suggests a list per page. The sign-in
# landmarks are looked for inside SIGN_IN_FRAME when it is set.
LOGIN_LANDMARKS = landmarks("label:Username", "label:Password", "button:Sign in")
ELIGIBILITY_LANDMARKS = landmarks("label:Member ID", "button:Search")
CLAIM_LANDMARKS = landmarks("label:Claim number", "button:Search")

# TODO(fields): the labels of the answers the flow reads; all must be there, or it stops.
ELIGIBILITY_FIELDS = ("Member name", "Member ID", "Date of birth", "Coverage status")
CLAIM_FIELDS = ("Claim number", "Member ID", "Date of service", "Status", "Billed", "Paid")

# TODO(words): every word the portal shows for a coded field, mapped strictly: a word not
# listed stops the lookup (LayoutChanged naming the field), it is never guessed at. Claim
# statuses map to the 277 category (code source 507: F1 paid, F2 denied, P1 pending...).
COVERAGE = Words("coverage status", {"Active": True, "Inactive": False})
CLAIM_STATUS = Words("claim status", {"Paid": "F1", "Denied": "F2", "Pending": "P1"})

# TODO(error pages): how the portal says it is closed, busy, broken or done with the session,
# as recorded: a Marker takes phrases of the page's text (any case), and/or status=...,
# heading=... (its <h1>, exactly). HTTP 429 and 5xx count without a marker; any other 4xx is
# LayoutChanged. raise_for_page checks them in one order (CAPTCHA first) and raises the typed
# error the engine acts on (postpone, pause, retry, log in again, stop for a person).
ERROR_PAGES = ErrorPages(
    __TITLE_Q__,
    captcha=Marker("verify you are human"),
    maintenance=Marker("scheduled maintenance", status=503),
    maintenance_ends=ClockTime("America/New_York"),  # the zone of "back by 5:00 AM"
    rate_limited=Marker("too many requests"),
    wait_seconds=r"wait (\\d+) seconds",
    server_error=Marker("something went wrong"),
    unavailable=Marker("could not reach"),  # an outage banner: retried, never a redesign
    signed_out=Marker("session has expired", "signed out"),
)


async def _first_shown(*candidates: Locator) -> Locator:
    """The first of ``candidates`` to show. They may sit in different frames (the sign-in
    frame, the page), which one composite locator (``Locator.or_``) cannot span."""
    waits = {asyncio.ensure_future(c.first.wait_for()): c for c in candidates}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    shown = [task for task in done if task.exception() is None]
    if not shown:
        next(iter(done)).result()  # the page's timeout: raises
    return waits[shown[0]]


class Options(BaseModel):
    """The per-portal choices `[portals.__NAME__.options]` in config/portals.toml makes: validated
    when the flow is built (a missing or misspelt one stops the run before any browser)."""

    model_config = ConfigDict(extra="forbid")

    # TODO(options): what differs per installation: the practice location to pick after
    # sign-in, the NPI or tax ID to search under. Required (no default) when the flow
    # cannot work without it. Read as self.options.practice.
    practice: str | None = None


@register
class __CLS__(PortalFlow):
    """TODO: what this flow can do on the portal."""

    name = "__NAME__"
    title = __TITLE_Q__
    options_model = Options
    options: Options
    # TODO(sends): every request the flow makes that is not a GET: the sign-in form, MFA,
    # a location picker, the search forms (the method and the path each form posts to, as
    # `payerbot explore` lists them; ``*`` stands for one path segment). The engine's
    # read-only guard aborts any other and ends the lookup as read_only_violation, the
    # portal stopped for the run. API reads go through bots.flowkit.readonly.portal_request,
    # never page.request.
    sends = (
        Send("POST", "/login"),
        Send("POST", ELIGIBILITY_PATH),
        Send("POST", CLAIMS_PATH),
    )
    # TODO(write pages): the portal's pages that change something (appeals, profile, change
    # password, claim submission): opening one ends the lookup the same way.
    write_pages = ("/profile", "/change-password")
    # TODO(evidence): a CSS selector for where an answer shows (its screenshot is the
    # evidence); None: the viewport.
    result_region = "main"

    # --- session ------------------------------------------------------------------------

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        # TODO(login): the sign-in form's labels and buttons, as the portal shows them.
        await self._open(page, SIGN_IN_PATH)
        form = self._sign_in_form(page)
        await form.get_by_label("Username", exact=True).fill(secrets.username)
        await form.get_by_label("Password", exact=True).fill(secrets.password)
        await form.get_by_role("button", name="Sign in", exact=True).click()
        # TODO(login): the one-time code step (TOTP from secrets.totp_seed), when the portal
        # has one: its label and button. A portal that asks only sometimes is handled: the
        # wait below ends on whichever shows first.
        code = form.get_by_label("One-time code", exact=True)
        if await self._refused_or(page, code, self._signed_in(page)) is code:
            if not secrets.totp_seed:
                raise AuthenticationError(
                    "the portal asks for a one-time code and no TOTP seed is configured"
                )
            await code.fill(pyotp.TOTP(secrets.totp_seed).now())
            await form.get_by_role("button", name="Verify", exact=True).click()
            await self._refused_or(page, self._signed_in(page))
        # TODO(login): what comes after sign-in: a practice/location picker (pick
        # self.options.practice), terms, a notice or modal (close it; never act on one),
        # "password expires in N days" (return LoginInfo(password_expires_in_days=N)).
        return None

    async def _refused_or(self, page: Page, *success: Locator) -> Locator:
        """Wait for one of ``success`` (returned) or an alert. An alert is checked against
        the error pages first (a portal that is down did not say no); anything else is a
        refused login: AuthenticationError, which the engine never retries (lockouts)."""
        alert = self._sign_in_form(page).get_by_role("alert")
        shown = await _first_shown(*success, alert)
        if shown is not alert:
            return shown
        frame = page.frame(name=SIGN_IN_FRAME) if SIGN_IN_FRAME else None
        await raise_for_page(ERROR_PAGES, frame or page)
        # The portal's own words stay out of the message: they may name the user.
        raise AuthenticationError("the portal refused the login")

    def _sign_in_form(self, page: Page) -> Page | FrameLocator:
        """Where the sign-in form is: the page, or the frame SIGN_IN_FRAME names."""
        if SIGN_IN_FRAME is None:
            return page
        return page.frame_locator(f"iframe[name='{SIGN_IN_FRAME}']")

    @staticmethod
    def _signed_in(page: Page) -> Locator:
        # TODO(is_logged_in): something only a signed-in page shows (the sign-out link, the
        # user's name), never something the sign-in page shows too.
        return page.get_by_role("link", name="Sign out", exact=True)

    async def is_logged_in(self, page: Page) -> bool:
        if not page.url.startswith(self.base_url):
            return False
        return await self._signed_in(page).count() > 0

    async def resume(self, page: Page) -> bool:
        """A kept session (cookies of an earlier login) still live? Opens a search page."""
        # TODO(resume): open a page only a live session shows, NOT the portal's `/` when `/`
        # always shows the sign-in page (then every run would log in again, silently; the
        # generated test's resume case and `payerbot creds check` catch it). A session that
        # ended comes back False; a SessionExpired raised from ERROR_PAGES counts the same (the
        # engine catches it: bots/engine/sessions.py, _resume).
        await self._open(page, ELIGIBILITY_PATH)
        return await self.is_logged_in(page)

    async def logout(self, page: Page) -> None:
        # TODO(logout): the portal's sign out. The engine signs out before a new login, so an
        # account never has two live sessions; raise when the portal did not confirm it.
        try:
            await self._open(page, SIGN_OUT_PATH)
        except SessionExpired:
            return  # the page says the session is over: what a sign out is for
        if await self._signed_in(page).count():
            raise PortalError("the portal did not confirm the sign out")

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        if stage == "login":
            await self._open(page, SIGN_IN_PATH)
            root = page.frame(name=SIGN_IN_FRAME) if SIGN_IN_FRAME else page
            if root is None:
                return [f"sign-in page: no frame {SIGN_IN_FRAME!r}"]
            return await missing_landmarks(root, LOGIN_LANDMARKS, "sign-in page")
        missing: list[str] = []
        for kind, path, marks, where in (
            (LookupKind.ELIGIBILITY, ELIGIBILITY_PATH, ELIGIBILITY_LANDMARKS, "eligibility page"),
            (LookupKind.CLAIM_STATUS, CLAIMS_PATH, CLAIM_LANDMARKS, "claim status page"),
        ):
            if kinds is None or kind in kinds:
                await self._open(page, path)
                missing += await missing_landmarks(page, marks, where)
        return missing

    async def _open(self, page: Page, path: str) -> None:
        """Load one of the portal's pages; an error page raises its error (ERROR_PAGES)."""
        response = await page.goto(f"{self.base_url}{path}")
        await raise_for_page(ERROR_PAGES, page, response)

    # --- eligibility --------------------------------------------------------------------

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        # TODO(eligibility): ask, wait for THIS question's answer, read it (_eligibility_result).
        # Stay on the view: fill the form already on screen when the page is on it (open
        # ELIGIBILITY_PATH only when it is not), and never read an answer that was there
        # before the submit. A server-rendered form: submit inside page.expect_navigation()
        # and read only the page its own POST brought (posted_to); a single-page app:
        # bots.flowkit.views.on_view, fill_form and submit_and_wait (the wait is tied to the
        # search request's response). Check that page with raise_for_page. "No member"
        # raises MemberNotFound; a page the flow does not recognise raises LayoutChanged.
        raise NotImplementedError("TODO(eligibility)")

    def _eligibility_result(
        self, query: EligibilityQuery, fields: dict[str, str], text: str
    ) -> EligibilityResult:
        """The answer from the result's labelled fields (read_region(...).fields)."""
        require_all(fields, ELIGIBILITY_FIELDS, "eligibility result")
        member_id = require(fields, "Member ID")
        dob = us_date(require(fields, "Date of birth"))
        # The right patient or no result: one rule (bots/matching.py) raises PatientMismatch
        # for someone else. The result carries what the page SHOWED, never the question's
        # values: the engine checks it again before anything is stored.
        # TODO(identity): a portal whose answer shows no identity at all: leave member_id,
        # names and dob None and set identity_basis=IdentityBasis.SEARCH_UNIQUE, but only
        # when the search was by member ID + date of birth and the portal returned exactly
        # one member (a portal that falls back to "somebody on the contract" must show who).
        check_member(query, member_id, dob)
        first, last = split_name(require(fields, "Member name"))
        return EligibilityResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=text,
            identity_basis=IdentityBasis.SHOWN,
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=dob,
            date_of_service=query.date_of_service,
            coverage_active=COVERAGE.read(require(fields, "Coverage status")),
            plan_name=fields.get("Plan"),
            # TODO(fields): group, dates, benefits (bots.models.Benefit) as the portal shows
        )

    # --- claim status -------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        # TODO(claim_status): as eligibility: stay on the view, ask, wait for THIS answer,
        # read it (_claim_result). "No claim" raises ClaimNotFound. A question the portal
        # cannot ask (by member and dates where it finds claims by number only) raises
        # bots.errors.CapabilityMissing.
        raise NotImplementedError("TODO(claim_status)")

    def _claim_result(
        self, query: ClaimStatusQuery, fields: dict[str, str], text: str
    ) -> ClaimStatusResult:
        """The answer from the claim's labelled fields; checked to be the claim asked about."""
        require_all(fields, CLAIM_FIELDS, "claim result")
        dos = us_date(require(fields, "Date of service"))
        if dos is None:
            raise LayoutChanged("the claim result shows no date of service")
        result = ClaimStatusResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=text,
            identity_basis=IdentityBasis.SHOWN,  # TODO(identity): as in _eligibility_result
            claim_number=require(fields, "Claim number"),
            member_id=require(fields, "Member ID"),
            dos_from=dos,
            dos_to=dos,
            category=CLAIM_STATUS.read(require(fields, "Status")),
            status_text=require(fields, "Status"),
            billed=money(require(fields, "Billed")),
            paid=money(require(fields, "Paid")),
            # TODO(fields): check number and date, adjustments (CARC/RARC), service lines
        )
        check_claim(query, ShownClaim.of(result))  # the claim asked about, or PatientMismatch
        return result
'''
