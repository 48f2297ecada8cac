"""PayerHub: the modern multi-payer hub (single-page app, TOTP MFA, client-side results).

The flow drives the hub's pages; ``_payerhub_pages`` reads the results they show and
``_payerhub_api`` asks the hub's JSON API instead when ``api_reads`` is on. Both classify
the hub's faults with one table, ``ERROR_PAGES`` (its banners and its JSON error answers).
"""

from __future__ import annotations

import re
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
    read_tables,
    table_records,
)
from bots.flowkit.readonly import Send, portal_request
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

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        await page.goto(f"{self.base_url}/#/login")
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

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        if self.api_reads:
            return await self._api().eligibility(page, query)
        await self._open(
            page,
            "#/eligibility",
            "Eligibility & Benefits",
            ELIGIBILITY_FORM,
            ("Check eligibility",),
        )
        await self._choose_payer(page, query.payer_id)
        if query.provider_npi:
            await page.get_by_label("Provider NPI").fill(query.provider_npi)
        await page.get_by_label("Member ID").fill(query.member_id)
        await page.get_by_label("Date of birth").fill(query.dob.isoformat())
        await page.get_by_label("Date of service").fill(query.date_of_service.isoformat())
        await page.get_by_label("Service type").select_option(query.service_type)
        await page.get_by_role("button", name="Check eligibility").click()
        results = page.get_by_role("region", name="Eligibility results")
        detail = results.get_by_role("heading", name="Eligibility & Benefits")
        several = results.get_by_role("heading", name="Multiple members found")
        await self._outcome(page, results, detail, several)
        if await several.is_visible():
            await self._pick_member(results, query)
            await self._outcome(page, results, detail)
        return await read.eligibility_result(self.name, results, query)

    async def _pick_member(self, results: Locator, query: EligibilityQuery) -> None:
        """Several members share the ID: exactly one must have the ID and date of birth."""
        # an inner locator is matched inside each row: it must not restart from ``results``
        select = results.page.get_by_role("button", name="Select")
        rows = results.get_by_role("row").filter(has=select)

        async def fits(i: int) -> bool:
            cells = [c.strip() for c in await rows.nth(i).get_by_role("cell").all_inner_texts()]
            dob = next((birth_date(c) for c in cells if looks_like_date(c)), None)
            return any(member_fits(query.member_id, query.dob, c, dob) for c in cells)

        fitting = [await fits(i) for i in range(await rows.count())]
        pick = one_candidate(
            range(len(fitting)), fitting.__getitem__, not_found=PatientMismatch, what="members"
        )
        await rows.nth(pick).get_by_role("button", name="Select").click()

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        if self.api_reads:
            return await self._api().claim_status(page, query)
        await self._open(page, "#/claims", "Claim Status", CLAIM_FORM, ("Search claims",))
        await self._choose_payer(page, query.payer_id)
        if query.provider_npi:
            await page.get_by_label("Provider NPI").fill(query.provider_npi)
        number = query.claim_number or query.patient_account_number
        if number:
            await page.get_by_role("radio", name="Claim number").check()
            await page.get_by_role("textbox", name="Claim number").fill(number)
        else:
            assert query.member_id and query.dos_from, "ClaimStatusQuery validates its shape"
            await page.get_by_role("radio", name="Member and dates").check()
            await page.get_by_label("Member ID").fill(query.member_id)
            if query.dob:
                await page.get_by_label("Date of birth").fill(query.dob.isoformat())
            await page.get_by_label("Service date from").fill(query.dos_from.isoformat())
            await page.get_by_label("Service date to").fill(
                (query.dos_to or query.dos_from).isoformat()
            )
        await page.get_by_role("button", name="Search claims").click()
        results = page.get_by_role("region", name="Claim results")
        detail = results.get_by_role("heading", name="Claim detail")
        listing = results.get_by_role("table", name="Claims")
        await self._outcome(page, results, detail, listing, not_found=ClaimNotFound)
        if not await detail.is_visible():
            await self._pick_claim(page, results, query)
            await self._outcome(page, results, detail, not_found=ClaimNotFound)
        return await read.claim_result(self.name, results, query)

    async def _pick_claim(self, page: Page, results: Locator, query: ClaimStatusQuery) -> None:
        """Walk every page of the claims list; exactly one claim must fit the question."""
        seen: list[tuple[int, int, bool]] = []
        page_no = 0
        while True:
            table = results.get_by_role("table", name="Claims")
            records = table_records((await read_tables(table.locator("xpath=..")))[0])
            seen += [
                (page_no, i, claim_fits(query, read.listed_claim(rec)))
                for i, rec in enumerate(records)
            ]
            nxt = results.get_by_role("button", name="Next")
            if sum(x[2] for x in seen) > 1 or not await nxt.is_visible() or await nxt.is_disabled():
                break
            label = await results.get_by_text("Page ").first.inner_text()
            await nxt.click()
            await results.get_by_text("Page ").filter(has_not_text=label).first.wait_for()
            page_no += 1
        found = one_candidate(seen, lambda x: x[2], not_found=ClaimNotFound, what="claims")
        if found[0] != page_no:
            raise LayoutChanged("claim list pages changed while reading them")
        await (
            results.get_by_role("table", name="Claims")
            .get_by_role("button", name="View")
            .nth(found[1])
            .click()
        )

    # --- shared -----------------------------------------------------------------------------

    def _api(self) -> HubApi:
        return HubApi(self.base_url, self.name, ERROR_PAGES)

    async def _open(
        self,
        page: Page,
        route: str,
        heading: str,
        labels: tuple[str, ...],
        buttons: tuple[str, ...],
    ) -> None:
        """Open a search view fresh, so no earlier result can be read by mistake, and check
        the landmarks the flow relies on are there (a redesign fails fast, never reads wrong).

        Going to the URL the page already shows would change nothing in a hash-routed app
        and leave the previous answer on screen: step through the home route first.
        """
        url = f"{self.base_url}/{route}"
        sign_in = page.get_by_role("heading", name="Sign in to PayerHub")
        if page.url == url:
            await page.goto(f"{self.base_url}/#/home")
            await page.get_by_role("heading", name="Welcome").or_(sign_in).first.wait_for()
        await page.goto(url)
        h1 = page.get_by_role("heading", level=1)
        await h1.first.wait_for()
        problem = None
        if (await h1.first.inner_text()).strip() != heading:
            problem = f"the {heading!r} page has another heading"
        for label in labels:
            if not problem and not await page.get_by_label(label, exact=True).count():
                problem = f"the {heading!r} form has no {label!r} field"
        for button in buttons:
            if (
                not problem
                and not await page.get_by_role("button", name=button, exact=True).count()
            ):
                problem = f"the {heading!r} form has no {button!r} button"
        # The app may have found the session gone while we looked: that is no redesign.
        if await sign_in.is_visible():
            raise SessionExpired("PayerHub shows its sign-in page")
        if problem:
            raise LayoutChanged(problem)

    async def _choose_payer(self, page: Page, payer_id: str) -> None:
        """The payer list loads by fetch after the page: wait for it, or for the error instead."""
        select = page.get_by_label("Payer")
        loaded = select.locator("option:not([value=''])")
        alert = page.get_by_role("alert")
        await loaded.first.or_(alert).first.wait_for(state="attached")
        if await alert.count() and await alert.first.is_visible():
            _raise_for_alert(await alert.first.inner_text(), MemberNotFound)
        if not await select.locator(f"option[value='{payer_id}']").count():
            raise LayoutChanged("PayerHub's payer list does not offer this payer")
        await select.select_option(payer_id)

    async def _outcome(
        self,
        page: Page,
        results: Locator,
        *wanted: Locator,
        not_found: type[ClaimNotFound] | type[MemberNotFound] = MemberNotFound,
    ) -> None:
        """Wait for a result, an alert, or the sign-in page; turn the non-results into errors."""
        alert = page.get_by_role("alert")
        combined = alert
        for w in wanted:
            combined = combined.or_(w)
        await combined.first.wait_for()
        for w in wanted:
            if await w.is_visible():
                return
        _raise_for_alert(await alert.first.inner_text(), not_found)


def _raise_for_alert(text: str, not_found: type[ClaimNotFound] | type[MemberNotFound]) -> NoReturn:
    """Turn the hub's alert banner into the matching error: an error page (ERROR_PAGES), or
    the hub's business answer "no member/claims found"."""
    raise_for_error_page(ERROR_PAGES, text=text)
    lowered = text.strip().lower()
    if "no member found" in lowered or "no claims found" in lowered:
        raise not_found("the portal found no match for the search")
    raise LayoutChanged("PayerHub showed an unexpected message")
