"""PayerHub: the modern multi-payer hub (single-page app, TOTP MFA, client-side results).

The flow drives the hub's pages; ``_payerhub_pages`` reads the results they show and
``_payerhub_api`` asks the hub's JSON API instead when ``api_reads`` is on. Both classify
the hub's faults with one table, ``ERROR_PAGES`` (its banners and its JSON error answers).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Literal, NoReturn

import pyotp
from playwright.async_api import Locator, Page

from bots.errors import (
    AuthenticationError,
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PatientMismatch,
    PortalError,
    SessionExpired,
)
from bots.flowkit.error_pages import (
    ClockTime,
    ErrorPages,
    JsonFields,
    Marker,
    classify_error_page,
    raise_for_error_page,
)
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow, register
from bots.flowkit.pages import (
    birth_date,
    landmarks,
    looks_like_date,
    missing_landmarks,
    table_records,
)
from bots.flowkit.readonly import Send, portal_request
from bots.flowkit.views import (
    Answer,
    Region,
    Shown,
    check,
    click_button,
    fill,
    fill_form,
    on_view,
    select,
    submit_and_wait,
)
from bots.matching import claim_fits, member_fits, one_candidate
from bots.models import (
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    LookupKind,
)
from flows import _payerhub_pages as read
from flows._payerhub_api import HubApi

# The hub's faults, as its banners word them and as its API answers them (JSON error codes,
# HTTP 401 when the session is gone; 429 and 5xx count without a marker).
ERROR_PAGES = ErrorPages(
    "PayerHub",
    maintenance=Marker("scheduled maintenance", code="maintenance"),
    maintenance_ends=ClockTime("America/New_York"),  # "We expect to be back by 2:00 AM ET."
    rate_limited=Marker("too many requests"),
    wait_seconds=r"wait (\d+) seconds",
    server_error=Marker("something went wrong", "error 5"),
    unavailable=Marker("we could not reach payerhub"),  # the app's banner for a network error
    signed_out=Marker("session has expired", "signed out because", status=401),
    json=JsonFields(code="error", wait="retry_after", until="until"),
)
LOGIN_LANDMARKS = landmarks(
    "heading:Sign in to PayerHub", "label:Username", "label:Password", "button:Sign in"
)
ELIGIBILITY_FORM = (
    "Payer",
    "Provider NPI",
    "Member ID",
    "Date of birth",
    "Date of service",
    "Service type",
)
CLAIM_FORM = (
    "Payer",
    "Provider NPI",
    "Member ID",
    "Date of birth",
    "Service date from",
    "Service date to",
)

# The search views' parts the flow waits on (CSS, read in the page in one round trip each).
ELIGIBILITY_RESULTS = "section[aria-label='Eligibility results']"
CLAIM_RESULTS = "section[aria-label='Claim results']"
ELIGIBILITY_DETAIL = Shown("h2", "Eligibility & Benefits")
SEVERAL_MEMBERS = Shown("h2", "Multiple members found")
CLAIM_DETAIL = Shown("h2", "Claim detail")
CLAIM_LIST = Shown("table > caption", "Claims")
PAYERS_LOADED = "select[name='payer'] option:not([value=''])"
BUSY = ".spinner"  # the app's spinner: up while any of its requests is under way
SIGN_IN = Shown("h1", "Sign in to PayerHub")


@register
class PayerHubFlow(PortalFlow):
    """Login with TOTP, eligibility & benefits, claim status by number or by member and dates."""

    name = "payerhub"
    title = "PayerHub multi-payer hub"
    offers_api_reads = True
    # Everything the hub's pages (and the API reads) post: sign-in, MFA and the searches.
    # Its writes (appeals, profile) are POSTs too: the guard refuses them undeclared.
    sends = (
        Send("POST", "/api/auth/login"),
        Send("POST", "/api/auth/mfa"),
        Send("POST", "/api/eligibility"),
        Send("POST", "/api/eligibility/member"),
        Send("POST", "/api/claims/search"),
        Send("POST", "/api/auth/logout"),  # sign out before a new login: one session at a time
    )
    write_pages = ("/#/appeals", "/#/profile")
    result_region = "section.results"  # the search view's results (the evidence's clip)

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        await self._sign_in_form(page)
        await page.get_by_label("Username").fill(secrets.username)
        await page.get_by_label("Password").fill(secrets.password)
        await page.get_by_role("button", name="Sign in").click()
        mfa = page.get_by_role("heading", name="Two-step verification")
        await self._refused_or(page, mfa)
        if not secrets.totp_seed:
            raise AuthenticationError(
                "the portal asks for a verification code and no TOTP seed is configured"
            )
        await page.get_by_label("Verification code").fill(pyotp.TOTP(secrets.totp_seed).now())
        await page.get_by_role("button", name="Verify").click()
        await self._refused_or(page, page.get_by_role("heading", name="Welcome"))
        # A banner on the welcome page, only right after a login; the link is never followed.
        notice = page.get_by_role("status").filter(has_text="password expires")
        if await notice.count():
            days = re.search(r"expires in (\d+) days?", await notice.first.inner_text())
            return LoginInfo(password_expires_in_days=int(days[1]) if days else None)
        return None

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        if stage == "login":
            await page.goto(f"{self.base_url}/#/login")
            await page.get_by_role("heading", level=1).first.wait_for()
            return await missing_landmarks(page, LOGIN_LANDMARKS, "sign-in page")
        if self.api_reads:  # the lookups read the API, not the search pages
            return await self._api().landmarks(page)
        missing = []
        for kind, route, heading, labels, buttons in (
            (
                LookupKind.ELIGIBILITY,
                "#/eligibility",
                "Eligibility & Benefits",
                ELIGIBILITY_FORM,
                ("Check eligibility",),
            ),
            (LookupKind.CLAIM_STATUS, "#/claims", "Claim Status", CLAIM_FORM, ("Search claims",)),
        ):
            if kinds is not None and kind not in kinds:
                continue
            await page.goto(f"{self.base_url}/#/home")
            await page.goto(f"{self.base_url}/{route}")
            await page.get_by_role("heading", level=1).first.wait_for()
            if await page.get_by_role("heading", name="Sign in to PayerHub").is_visible():
                raise SessionExpired("PayerHub shows its sign-in page")
            marks = landmarks(
                f"heading:{heading}",
                *(f"label:{label}" for label in labels),
                *(f"button:{b}" for b in buttons),
            )
            missing += await missing_landmarks(page, marks, f"{heading} page")
        return missing

    async def logout(self, page: Page) -> None:
        """The hub's own sign out (what its Sign out button posts); confirmed by a 200."""
        response = await portal_request(
            page, "POST", f"{self.base_url}/api/auth/logout", headers={"Accept": "application/json"}
        )
        try:
            data = await response.json()
        except Exception:  # an HTML error page, an empty body
            data = None
        raise_for_error_page(
            ERROR_PAGES,
            status=response.status,
            headers=response.headers,
            body=data if isinstance(data, dict) else None,
        )
        if response.status != 200:
            raise PortalError(f"PayerHub did not confirm the sign out (HTTP {response.status})")

    async def _sign_in_form(self, page: Page) -> None:
        """Be on the sign-in form of a freshly loaded app. On a page already in the app,
        opening #/login is only a hash change: the app keeps the signed-in state it holds in
        memory (it knows nothing of a sign out by request, or of a session the portal ended)
        and its router sends #/login on to #/home. So that page is loaded again: the app
        then asks the server, and shows the form, or the home page of a session still live,
        which is signed out first (never two sessions; a login is what was asked for)."""
        url = f"{self.base_url}/#/login"
        form = page.get_by_label("Username")
        signed_in = page.locator("#current-user").filter(has_text=re.compile(r"\S"))
        for _ in range(2):
            if await page.goto(url) is None:  # the same document: only the hash changed
                await page.reload()
            await form.or_(signed_in).first.wait_for()
            if await form.is_visible():
                return
            await self.logout(page)
        raise PortalError("PayerHub still shows a signed-in session after its sign out")

    async def _refused_or(self, page: Page, success: Locator) -> None:
        alert = page.get_by_role("alert")
        await success.or_(alert).first.wait_for()
        if not await success.is_visible():
            text = (await alert.first.inner_text()).strip()
            outage = classify_error_page(ERROR_PAGES, text=text)
            if outage is not None and not isinstance(outage, SessionExpired):
                raise outage  # the portal failed or is closed: it did not say no
            raise AuthenticationError(f"PayerHub refused the login: {text[:120]}")

    async def is_logged_in(self, page: Page) -> bool:
        if not page.url.startswith(self.base_url) or "#/login" in page.url:
            return False
        # The Sign out button is no evidence: the site's CSS shows it even when signed out.
        # The signed-in user's name in the header is; it is filled once the app has asked the
        # server who we are, so wait for that verdict (the name, or the sign-in form).
        signed_in = page.locator("#current-user").filter(has_text=re.compile(r"\S"))
        sign_in = page.get_by_role("heading", name="Sign in to PayerHub")
        await signed_in.or_(sign_in).first.wait_for()
        return await signed_in.is_visible() and not await sign_in.is_visible()

    # --- eligibility ------------------------------------------------------------------------
    #
    # The hub clears its results (and its banner) on every submit, so the flow stays on the
    # search view across lookups: one round trip checks the view, one fills and submits, one
    # waits for the answer to *this* question (tied to the search request's response) and
    # reads the results region (bots/flowkit/views.py).

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        if self.api_reads:
            return await self._api().eligibility(page, query)
        await self._on_view(page, "#/eligibility", "Eligibility & Benefits", ELIGIBILITY_FORM)
        entries = (
            select("Payer", query.payer_id),
            fill("Provider NPI", query.provider_npi),  # None empties an earlier lookup's NPI
            fill("Member ID", query.member_id),
            fill("Date of birth", query.dob.isoformat()),
            fill("Date of service", query.date_of_service.isoformat()),
            select("Service type", query.service_type),
        )
        answer = await self._submit(
            page,
            lambda: fill_form(
                page, entries, submit="Check eligibility", where="Eligibility & Benefits"
            ),
            "/api/eligibility",
            ELIGIBILITY_RESULTS,
            {"detail": ELIGIBILITY_DETAIL, "several": SEVERAL_MEMBERS},
        )
        if answer.kind == "several":
            pick = self._pick_member(_region(answer), query)
            answer = await self._submit(
                page,
                lambda: click_button(page, "Select", pick, within=ELIGIBILITY_RESULTS),
                "/api/eligibility/member",
                ELIGIBILITY_RESULTS,
                {"detail": ELIGIBILITY_DETAIL},
            )
        _settle(answer, "detail", MemberNotFound)
        return read.eligibility_result(self.name, _region(answer), query)

    @staticmethod
    def _pick_member(region: Region, query: EligibilityQuery) -> int:
        """Several members share the ID: exactly one must have the ID and date of birth.
        Returns the index of its row (and of its Select button)."""
        tables = [t for t in region.tables if t["rows"]]
        selects = [b for b in region.buttons if b["name"] == "Select"]
        if len(tables) != 1 or len(tables[0]["rows"]) != len(selects):
            raise LayoutChanged("the list of members changed its shape")

        def fits(cells: list[str]) -> bool:
            cells = [c.strip() for c in cells]
            dob = next((birth_date(c) for c in cells if looks_like_date(c)), None)
            return any(member_fits(query.member_id, query.dob, c, dob) for c in cells)

        rows: list[list[str]] = tables[0]["rows"]
        fitting = [fits(row) for row in rows]
        return one_candidate(
            range(len(fitting)), fitting.__getitem__, not_found=PatientMismatch, what="members"
        )

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        if self.api_reads:
            return await self._api().claim_status(page, query)
        await self._on_view(page, "#/claims", "Claim Status", CLAIM_FORM)
        entries = [select("Payer", query.payer_id), fill("Provider NPI", query.provider_npi)]
        number = query.claim_number or query.patient_account_number
        if number:
            entries += [check("Claim number"), fill("Claim number", number)]
        else:
            assert query.member_id and query.dos_from, "ClaimStatusQuery validates its shape"
            entries += [
                check("Member and dates"),
                fill("Member ID", query.member_id),
                fill("Date of birth", query.dob.isoformat() if query.dob else None),
                fill("Service date from", query.dos_from.isoformat()),
                fill("Service date to", (query.dos_to or query.dos_from).isoformat()),
            ]
        answer = await self._submit(
            page,
            lambda: fill_form(page, entries, submit="Search claims", where="Claim Status"),
            "/api/claims/search",
            CLAIM_RESULTS,
            {"detail": CLAIM_DETAIL, "listing": CLAIM_LIST},
        )
        if answer.kind == "listing":
            answer = await self._pick_claim(page, answer, query)
        _settle(answer, "detail", ClaimNotFound)
        return read.claim_result(self.name, _region(answer), query)

    async def _pick_claim(self, page: Page, answer: Answer, query: ClaimStatusQuery) -> Answer:
        """Walk every page of the claims list; exactly one claim must fit the question."""
        seen: list[tuple[int, int, bool]] = []
        page_no = 0
        while True:
            _settle(answer, "listing", ClaimNotFound)
            region = _region(answer)
            listing = [t for t in region.tables if t["heading"] == "Claims"]
            if len(listing) != 1:
                raise LayoutChanged("the claims list changed its shape")
            seen += [
                (page_no, i, claim_fits(query, read.listed_claim(rec)))
                for i, rec in enumerate(table_records(listing[0]))
            ]
            nxt = region.button("Next")
            if sum(x[2] for x in seen) > 1 or nxt is None or nxt["disabled"]:
                break
            answer = await self._submit(
                page,
                lambda: click_button(page, "Next", within=CLAIM_RESULTS),
                "/api/claims/search",
                CLAIM_RESULTS,
                {"listing": CLAIM_LIST},
            )
            page_no += 1
        found = one_candidate(seen, lambda x: x[2], not_found=ClaimNotFound, what="claims")
        if found[0] != page_no:
            raise LayoutChanged("claim list pages changed while reading them")
        return await self._submit(
            page,
            lambda: click_button(page, "View", found[1], within=CLAIM_RESULTS),
            re.compile(r"/api/claims/[^/]+"),
            CLAIM_RESULTS,
            {"detail": CLAIM_DETAIL},
            method="GET",
        )

    # --- shared -----------------------------------------------------------------------------

    def _api(self) -> HubApi:
        return HubApi(self.base_url, self.name, ERROR_PAGES)

    async def _on_view(self, page: Page, route: str, heading: str, labels: tuple[str, ...]) -> None:
        """Be on a search view with its payer list loaded: stay when the page is on it (the
        hub clears its results on submit; the wait is tied to each search's response),
        else open it; check the landmarks the flow relies on (a redesign fails fast, never
        reads wrong). The payer list loads by fetch: its error banner is classified."""
        buttons = {"Eligibility & Benefits": "Check eligibility", "Claim Status": "Search claims"}
        alert = await on_view(
            page,
            f"{self.base_url}/{route}",
            heading,
            labels=labels,
            buttons=(buttons[heading],),
            ready=PAYERS_LOADED,
            busy=BUSY,
            signed_out=SIGN_IN,
            portal="PayerHub",
        )
        if alert is not None:
            _raise_for_alert(alert, MemberNotFound)

    @staticmethod
    async def _submit(
        page: Page,
        click: Callable[[], Awaitable[object]],
        path: str | re.Pattern[str],
        region: str,
        answers: dict[str, Shown],
        method: str = "POST",
    ) -> Answer:
        return await submit_and_wait(
            page,
            click,
            method=method,
            path=path,
            region=region,
            answers=answers,
            busy=BUSY,
            signed_out=SIGN_IN,
        )


def _region(answer: Answer) -> Region:
    if answer.region is None:  # an answer kind always comes with its region read
        raise LayoutChanged("PayerHub showed no result region")
    return answer.region


def _settle(
    answer: Answer, wanted: str, not_found: type[ClaimNotFound] | type[MemberNotFound]
) -> None:
    """The answer is the one wanted, or its alert / sign-in page becomes the matching error."""
    if answer.kind == wanted:
        return
    if answer.kind == "signed_out":
        raise SessionExpired("PayerHub shows its sign-in page")
    if answer.kind == "alert":
        _raise_for_alert(answer.alert, not_found)
    raise LayoutChanged("PayerHub showed another answer than the one expected")


def _raise_for_alert(text: str, not_found: type[ClaimNotFound] | type[MemberNotFound]) -> NoReturn:
    """Turn the hub's alert banner into the matching error: an error page (ERROR_PAGES), or
    the hub's business answer "no member/claims found"."""
    raise_for_error_page(ERROR_PAGES, text=text)
    lowered = text.strip().lower()
    if "no member found" in lowered or "no claims found" in lowered:
        raise not_found("the portal found no match for the search")
    raise LayoutChanged("PayerHub showed an unexpected message")
