"""State Medicaid Provider Portal: terms on every login, masked dates, 429s, CAPTCHA, claim PDFs."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn

from playwright.async_api import Download, Locator, Page

from bots.errors import (
    AmbiguousMatch,
    AuthenticationError,
    CapabilityMissing,
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PortalTimeout,
    PortalUnavailable,
)
from bots.flowkit.error_pages import ClockTime, ErrorPages, Marker, raise_for_error_page
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow, register
from bots.flowkit.pages import landmarks, missing_landmarks
from bots.flowkit.readonly import Send
from bots.flowkit.views import posted_to
from bots.matching import claim_fits, one_candidate
from bots.models import (
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    LookupKind,
)
from flows import _medicaidportal_pages as read

EASTERN = "America/New_York"  # the portal's times ("until 6:00 AM Eastern")
DOWNLOAD_SECONDS = 30.0  # a deadline for the PDF to start, not a pause

# The portal's error pages, each known by its heading (the pages' HTTP status is not read).
ERROR_PAGES = ErrorPages(
    "the Medicaid portal",
    captcha=Marker(heading="Security Check"),  # never typed into: a person must look
    maintenance=Marker(heading="Scheduled Maintenance"),
    maintenance_ends=ClockTime(EASTERN),  # "... down for scheduled maintenance until 6:00 AM"
    rate_limited=Marker(heading="Too Many Requests"),
    wait_seconds=r"wait (\d+) seconds",
    server_error=Marker(heading="System Error"),
    signed_out=Marker(heading=("Session Ended", "Provider Login", "Terms of Use")),
)
ELIGIBILITY_LANDMARKS = landmarks(
    "label:From Date of Service", "label:To Date of Service", "button:Search"
)
CLAIM_LANDMARKS = landmarks(
    "region:Search by ICN", "region:Search by Recipient", "label:ICN", "button:Search by ICN"
)
_PAGE = """() => {
  const main = document.querySelector('main');
  const h1 = main && main.querySelector('h1');
  return {h1: h1 ? h1.innerText.trim() : '', text: main ? main.innerText : ''};
}"""


@register
class MedicaidPortalFlow(PortalFlow):
    """Provider ID + password, Terms of Use each login, eligibility, claim status + detail PDF."""

    name = "medicaidportal"
    title = "State Medicaid Provider Portal"
    # Forms the flow submits: login, the Terms of Use, the two searches (never the CAPTCHA).
    sends = (
        Send("POST", "/login"),
        Send("POST", "/terms"),
        Send("POST", "/eligibility"),
        Send("POST", "/claims"),
    )
    write_pages = ("/claims/submit", "/provider/enrollment", "/claims/*/adjust")
    payers = frozenset({"STATEMCD"})  # the state's own program: it answers for no other payer
    # An eligibility answer is its Eligibility Results region (below the search form, which
    # the answer page carries again: <main>'s top would show the form); a Claim Summary is
    # <main> itself.
    result_region: ClassVar[str | None] = (
        "section[aria-label='Eligibility Results'], "
        "main:not(:has(section[aria-label='Eligibility Results']))"
    )

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        await self._goto(page, "/login", "Provider Login")
        await (await _one(page.get_by_label("Provider ID", exact=True))).fill(secrets.username)
        await (await _one(page.get_by_label("Password", exact=True))).fill(secrets.password)
        button = await _one(page.get_by_role("button", name="Log In", exact=True))
        landed = await self._submit(page, button, "Terms of Use", "Provider Login")
        if landed == "Provider Login":
            alert = page.get_by_role("alert")
            text = (await alert.first.inner_text()).strip() if await alert.count() else ""
            raise AuthenticationError(f"the Medicaid portal refused the login: {text[:120]}")
        # The terms come back on every login; the checkbox unlocks once they are scrolled.
        terms = await _one(page.get_by_role("region", name="Terms of Use text"))
        await terms.evaluate("(box) => box.scrollTo(0, box.scrollHeight)")
        await page.get_by_label("I have read and agree to the Terms of Use", exact=True).check()
        accept = await _one(page.get_by_role("button", name="Accept", exact=True))
        await self._submit(page, accept, "Provider Home")
        return None

    async def logout(self, page: Page) -> None:
        """The portal's Log Out (it takes a GET too): back on the login page, or an error."""
        await self._goto(page, "/logout", "Provider Login")

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        """Three page loads in all (each counts toward the portal's rate limit)."""
        if stage == "login":
            await self._goto(page, "/login", "Provider Login")
            marks = landmarks("label:Provider ID", "label:Password", "button:Log In")
            return await missing_landmarks(page, marks, "login page")
        missing: list[str] = []
        if kinds is None or LookupKind.ELIGIBILITY in kinds:
            await self._goto(page, "/eligibility", "Eligibility Verification")
            missing += await missing_landmarks(page, ELIGIBILITY_LANDMARKS, "eligibility page")
            for key, names in read.LABELS.items():
                if not any([await page.get_by_label(n, exact=True).count() for n in names]):
                    missing.append(f"eligibility page: no field for {key} ({' / '.join(names)})")
        if kinds is None or LookupKind.CLAIM_STATUS in kinds:
            await self._goto(page, "/claims", "Claim Inquiry")
            missing += await missing_landmarks(page, CLAIM_LANDMARKS, "claim inquiry page")
        return missing

    async def is_logged_in(self, page: Page) -> bool:
        """Read from the page on screen, without a request (each one counts toward the rate
        limit). Error pages (429, maintenance) have no menu: they count as still logged in,
        and a session that did end shows up as SessionExpired on the next page."""
        if not page.url.startswith(self.base_url):
            return False
        if await page.get_by_role("button", name="Log Out", exact=True).count():
            return True
        heading: str = (await page.evaluate(_PAGE))["h1"]
        return not ERROR_PAGES.signed_out.matches(heading=heading)

    # --- eligibility ------------------------------------------------------------------------

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        """Search from the eligibility form on screen (an answer shows the form again, so
        consecutive lookups stay on it: one page request each); the answer read is the page
        the form's own POST brought, in one round trip."""
        dos = query.date_of_service.strftime("%m/%d/%Y")
        fields: list[read.SearchField] = [
            ("the Medicaid ID", read.LABELS["member_id"], query.member_id, False),
            ("the date of birth", read.LABELS["dob"], query.dob.strftime("%m/%d/%Y"), True),
            ("the first date of service", ("From Date of Service",), dos, True),
            ("the last date of service", ("To Date of Service",), dos, True),
        ]
        filled = await read.fill_search(page, "Search", fields)
        if not filled["form"]:
            await self._goto(page, "/eligibility", "Eligibility Verification")
            filled = await read.fill_search(page, "Search", fields)
            if not filled["form"]:
                raise LayoutChanged("the eligibility page has no search form")
        await read.type_masked(page, "Search", fields, filled["masks"])
        async with page.expect_navigation(wait_until="domcontentloaded") as navigation:
            await read.submit_search(page, "Search", fields)
        response = await navigation.value
        if not posted_to(response, f"{self.base_url}/eligibility"):
            raise LayoutChanged("the portal answered the search with a page from elsewhere")
        seen = await read.answer_page(page, "Eligibility Results")
        self._verdict(seen["h1"], seen["text"], "Eligibility Verification")
        if seen["region"] is None:
            if seen["regions"]:
                raise LayoutChanged("the eligibility page shows its results region twice")
            _refusal(seen["alert"] or "", MemberNotFound)
        return read.eligibility_answer(self.name, seen["region"], query)

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        if query.claim_number:
            form = await self._claim_form(page, "Search by ICN")
            await (await _one(form.get_by_label("ICN", exact=True))).fill(query.claim_number)
        elif query.member_id and query.dos_from:
            form = await self._claim_form(page, "Search by Recipient")
            await (await _labelled(form, *read.LABELS["member_id"])).fill(query.member_id)
            await _type_date(await _labelled(form, "From Date of Service"), query.dos_from)
            await _type_date(
                await _labelled(form, "To Date of Service"), query.dos_to or query.dos_from
            )
        else:
            raise CapabilityMissing(
                "the Medicaid portal finds claims by ICN or by Medicaid ID and service dates only"
            )
        button = "Search by ICN" if query.claim_number else "Search by Recipient"
        search = await _one(form.get_by_role("button", name=button, exact=True))
        async with page.expect_navigation(wait_until="domcontentloaded") as navigation:
            await search.click()
        if not posted_to(await navigation.value, f"{self.base_url}/claims"):
            raise LayoutChanged("the portal answered the search with a page from elsewhere")
        seen = await read.answer_page(page, "Claim Search Results")
        self._verdict(seen["h1"], seen["text"], "Claim Inquiry")
        if seen["region"] is None:
            if seen["regions"]:
                raise LayoutChanged("the claim inquiry page shows its results region twice")
            _refusal(seen["alert"] or "", ClaimNotFound)
        results = page.get_by_role("region", name="Claim Search Results")
        tables = {t["heading"]: t for t in seen["region"]["tables"]}
        rows = read.records(tables, "Claims", read.CLAIM_LIST_COLUMNS)
        fit = one_candidate(
            rows,
            lambda r: claim_fits(query, read.listed_claim(r)),
            not_found=ClaimNotFound,
            what="claims",
        )
        link = await _one(results.get_by_role("link", name=fit["ICN"], exact=True))
        await self._submit(page, link, "Claim Summary")
        return await self._read_claim(page, query)

    async def _read_claim(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        """The Claim Summary, checked before anything is downloaded; then its detail PDF."""
        summary = await read.summary_page(page)
        read.check_claim_summary(summary["fields"], query)
        link = await _one(page.get_by_role("link", name="Download Claim Detail (PDF)", exact=True))
        pdf = await self._download(page, link)
        return read.claim_result(self.name, query, summary["fields"], summary["text"], pdf)

    async def _claim_form(self, page: Page, name: str) -> Locator:
        await self._goto(page, "/claims", "Claim Inquiry")
        return await _one(page.get_by_role("region", name=name))

    async def _download(self, page: Page, link: Locator) -> bytes:
        """Click the PDF link: either a download starts, or the portal answers with a page
        (429, CAPTCHA, maintenance, session ended) that is classified like any other."""
        outcome: asyncio.Future[Download | None] = asyncio.get_running_loop().create_future()

        def on_download(download: Download) -> None:
            if not outcome.done():
                outcome.set_result(download)

        def on_page(_: Any) -> None:
            if not outcome.done():
                outcome.set_result(None)

        page.on("download", on_download)
        page.on("domcontentloaded", on_page)
        try:
            await link.click()
            download = await asyncio.wait_for(outcome, DOWNLOAD_SECONDS)
        except TimeoutError:
            raise PortalTimeout("the claim detail PDF did not start downloading") from None
        finally:
            page.remove_listener("download", on_download)
            page.remove_listener("domcontentloaded", on_page)
        if download is None:
            await self._landed(page)  # raises: an error page came instead of the PDF
            raise LayoutChanged("the claim detail link opened a page instead of a PDF")
        if await download.failure():
            raise PortalUnavailable("the claim detail PDF download failed")
        return Path(await download.path()).read_bytes()

    # --- pages ------------------------------------------------------------------------------

    async def _goto(self, page: Page, path: str, *expected: str) -> str:
        await page.goto(f"{self.base_url}{path}")
        return await self._landed(page, *expected)

    async def _submit(self, page: Page, control: Locator, *expected: str) -> str:
        async with page.expect_navigation():
            await control.click()
        return await self._landed(page, *expected)

    async def _landed(self, page: Page, *expected: str) -> str:
        """The page's heading when it is one of ``expected``; otherwise the matching error.

        Server-rendered pages are complete once loaded, so one read decides."""
        seen: dict[str, str] = await page.evaluate(_PAGE)
        return self._verdict(seen["h1"], seen["text"], *expected)

    @staticmethod
    def _verdict(heading: str, text: str, *expected: str) -> str:
        if heading in expected:
            return heading
        raise_for_error_page(ERROR_PAGES, heading=heading, text=text)
        raise LayoutChanged("the Medicaid portal showed a page the flow does not know")


async def _one(locator: Locator) -> Locator:
    """The locator, when exactly one element matches (no waiting: pages arrive complete)."""
    if await locator.count() != 1:
        raise LayoutChanged("an element the flow relies on is missing or repeated")
    return locator


async def _labelled(root: Page | Locator, *labels: str) -> Locator:
    pattern = re.compile("^(" + "|".join(re.escape(x) for x in labels) + ")$")
    return await _one(root.get_by_label(pattern))


async def _type_date(field: Locator, value: date) -> None:
    """The mask refuses fill(): type the digits key by key (it adds the slashes itself),
    then check that it shows the date."""
    await field.press_sequentially(value.strftime("%m%d%Y"))
    if await field.input_value() != value.strftime("%m/%d/%Y"):
        raise LayoutChanged("the masked date field did not take the date typed into it")


def _refusal(text: str, not_found: type[MemberNotFound | ClaimNotFound]) -> NoReturn:
    """The portal's alert after a search, as the error it means."""
    text = text.strip()
    if text.startswith("Recipient not found"):  # unknown ID and wrong DOB read the same
        raise MemberNotFound("the portal found no recipient with this ID and date of birth")
    if text.startswith("No claims found"):
        raise ClaimNotFound("the portal found no claim for the search")
    if "must be 12 digits" in text:  # AAA03 72: invalid member ID
        code = "72" if not_found is MemberNotFound else None
        raise not_found("the portal refused the Medicaid ID as malformed", reason_code=code)
    if text.startswith("ICN must be 13 digits"):
        raise ClaimNotFound("the portal refused the ICN as malformed")
    if text.startswith("More than one recipient"):
        raise AmbiguousMatch("several recipients match the ID and date of birth")
    raise LayoutChanged("the Medicaid portal showed a message the flow does not know")
