"""Prairie Provider Connect: a legacy server-rendered portal (frames, caption tables, no ids).

Everything after login happens inside the "main" frame of a frameset; the "menu" frame
holds the links. Form fields have no labels: each is found by the caption in the cell
before it. Results are read by caption and by column header, never by position, and the
portal's words (services, benefit types, claim statuses) are mapped strictly: an unknown
word is a LayoutChanged, never a guess. A search is filled and sent in one evaluate from the
form the frame shows (a refused search shows it again; an answer does not, so the form is
loaded first), and the page read is the one that form's POST brought.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, ClassVar, Literal

from playwright.async_api import Frame, Page, Response

from bots.errors import (
    AuthenticationError,
    ClaimNotFound,
    LayoutChanged,
    SessionExpired,
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
from flows import _legacyportal_pages as read

PAYERS = {"DELTA": "Delta Prairie Health", "ELM": "Elmwood Benefit Trust"}
LOGIN_CAPTIONS = ("User ID:", "Password:")
SEARCH_PATHS = {  # where each inquiry form lives (and posts to)
    LookupKind.ELIGIBILITY: "/Eligibility/Inquiry.aspx",
    LookupKind.CLAIM_STATUS: "/Claims/Inquiry.aspx",
}
SEARCH_FORMS = (  # menu link, the field captions the lookups fill, the button they press
    (
        LookupKind.ELIGIBILITY,
        "Eligibility Inquiry",
        (
            "Payer:",
            "Subscriber ID:",
            "Patient Last Name:",
            "Patient DOB (MMDDYYYY):",
            "Date of Service:",
        ),
        "Submit Inquiry",
    ),
    (
        LookupKind.CLAIM_STATUS,
        "Claim Inquiry",
        ("Payer:", "Claim Number (ICN):", "Subscriber ID:", "DOS From (MMDDYYYY):"),
        "Search",
    ),
)
ZONES = {
    "Eastern": "America/New_York",
    "Central": "America/Chicago",
    "Mountain": "America/Denver",
    "Pacific": "America/Los_Angeles",
}
# The portal's error pages, by status or by text (HTTP 429 and 5xx count without a marker).
ERROR_PAGES = ErrorPages(
    "the legacy portal",
    # "... from 11:00 PM to 5:00 AM Central. Please try again after 5:00 AM."
    maintenance=Marker("unavailable during scheduled maintenance", status=503),
    maintenance_ends=ClockTime(zones=ZONES, after="try again after"),
    rate_limited=Marker("Too many requests"),
    wait_seconds=r"Retry after (\d+) seconds",
    server_error=Marker("Server Error in '/' Application"),
    signed_out=Marker("Your session has timed out"),
)


@register
class LegacyPortalFlow(PortalFlow):
    """Login with a security question, eligibility & benefits, claim status with pagination."""

    name = "legacyportal"
    title = "Prairie Provider Connect (legacy)"
    # Forms the flow submits: login, the security question, the two inquiries.
    sends = (
        Send("POST", "/login.aspx"),
        Send("POST", "/security.aspx"),
        Send("POST", "/Eligibility/Inquiry.aspx"),
        Send("POST", "/Claims/Inquiry.aspx"),
    )
    write_pages = ("/ChangePassword.aspx",)
    payers = frozenset(PAYERS)  # the payer list of its inquiry forms
    # The answer is inside the "main" frame (a <frame> of the frameset, not an iframe): the
    # region is that frame element itself.
    result_region: ClassVar[str | None] = "frame[name=main]"

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        # What each main frame showed when the flow last read it (its URL, its forms'
        # buttons): a refused search shows its form again, so the next search stays on it.
        # A hint only: a form that is not there after all is loaded afresh.
        self._shown: weakref.WeakKeyDictionary[Frame, tuple[str, tuple[str, ...]]] = (
            weakref.WeakKeyDictionary()
        )

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        frame = page.main_frame
        await self._navigate(frame, lambda: page.goto(f"{self.base_url}/login.aspx"))
        await read.fill(frame, {"User ID:": secrets.username, "Password:": secrets.password})
        content = await self._navigate(frame, frame.get_by_role("button", name="Log In").click)
        info = None
        for _step in range(3):  # security question, then password notice, then the frames
            if self._at_home(page):
                await self._frames(page)
                return info
            if "Security Question" in content["titles"]:
                content = await self._answer(frame, secrets)
            elif "Password Expiration Notice" in content["titles"]:
                days = re.search(r"expire in (\d+) days?", content["text"])
                info = LoginInfo(password_expires_in_days=int(days[1]) if days else None)
                later = frame.get_by_role("button", name="Remind Me Later", exact=True)
                content = await self._navigate(frame, later.click)  # never change the password
            else:
                _refused(content["text"])
        raise LayoutChanged("the portal did not reach its home page after login")

    async def logout(self, page: Page) -> None:
        """The menu's Log Off link: the login page again (error pages raise)."""
        frame = page.main_frame
        content = await self._navigate(frame, lambda: page.goto(f"{self.base_url}/logoff.aspx"))
        if "logged off" not in content["text"]:
            raise LayoutChanged("the portal did not confirm the log off")

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        """Captions, not labels: this portal's forms are tables (see ``_fill``)."""
        if stage == "login":
            frame = page.main_frame
            await self._navigate(frame, lambda: page.goto(f"{self.base_url}/login.aspx"))
            found = await read.controls(frame, list(LOGIN_CAPTIONS))
            missing = [
                f"login page: no field captioned {c!r}"
                for c, f in zip(LOGIN_CAPTIONS, found, strict=True)
                if f is None
            ]
            return missing + await missing_landmarks(
                frame, landmarks("button:Log In"), "login page"
            )
        missing = []
        for kind, link, captions, button in SEARCH_FORMS:
            if kinds is not None and kind not in kinds:
                continue
            try:
                main = await self._open(page, link)
            except LayoutChanged as exc:
                missing.append(str(exc))
                continue
            found = await read.controls(main, list(captions))
            missing += [
                f"{link}: no field captioned {c!r}"
                for c, f in zip(captions, found, strict=True)
                if f is None
            ]
            missing += await missing_landmarks(main, landmarks(f"button:{button}"), link)
        return missing

    async def resume(self, page: Page) -> bool:
        """The frameset's home is default.aspx; a dead session shows the timed-out page or
        lands on the login page (SessionExpired counts as not live: the session says so)."""
        await self._navigate(page.main_frame, lambda: page.goto(f"{self.base_url}/default.aspx"))
        if not self._at_home(page):
            return False
        await self._frames(page)
        return await self.is_logged_in(page)

    async def _answer(self, frame: Frame, secrets: LoginSecrets) -> dict[str, Any]:
        question = (await read.cell_after(frame, "Question:").inner_text()).strip()
        answer = secrets.answer(question)
        if answer is None:
            raise AuthenticationError(
                f"the portal asks the security question {question!r} and no answer is "
                "configured for it (security_answers)"
            )
        await read.fill(frame, {"Answer:": answer})
        remember = frame.locator(
            "xpath=//td[contains(normalize-space(.), 'Remember this computer')]"
            "/input[@type='checkbox']"
        )
        if await remember.count() == 1:  # a known computer is not asked again
            await remember.check()
        return await self._navigate(frame, frame.get_by_role("button", name="Continue").click)

    async def is_logged_in(self, page: Page) -> bool:
        main, menu = page.frame(name="main"), page.frame(name="menu")
        if not self._at_home(page) or main is None or menu is None:
            return False
        if ERROR_PAGES.signed_out.matches(text=await read.frame_text(main)):
            return False
        return await menu.get_by_role("link", name="Log Off").count() > 0

    # --- eligibility ------------------------------------------------------------------------

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        values = {
            "Payer:": _payer_name(query.payer_id),
            "Subscriber ID:": query.member_id,
            "Patient Last Name:": query.last_name or "",
            "Patient DOB (MMDDYYYY):": query.dob.strftime("%m%d%Y"),
            "Date of Service:": query.date_of_service.strftime("%m/%d/%Y"),
        }
        main, content = await self._search(page, LookupKind.ELIGIBILITY, values)
        if "Eligibility and Benefits" not in content["titles"]:
            read.eligibility_refusal(content)
            rows = read.rows_of(content, {"Patient Name", "Member ID", "Date of Birth"})
            pick = main.get_by_role("link", name="Select").nth(read.pick(rows, query))
            content = await self._navigate(main, pick.click)
            if "Eligibility and Benefits" not in content["titles"]:
                raise LayoutChanged("the portal did not show the patient picked")
        return read.eligibility_result(self.name, content, query)

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        search = {"Payer:": _payer_name(query.payer_id)}
        number = query.claim_number or query.patient_account_number
        if number:
            search["Claim Number (ICN):"] = number
        else:
            assert query.member_id and query.dos_from, "ClaimStatusQuery validates its shape"
            search["Subscriber ID:"] = query.member_id
            search["DOS From (MMDDYYYY):"] = _mmddyyyy(query.dos_from)
            search["DOS To (MMDDYYYY):"] = _mmddyyyy(query.dos_to or query.dos_from)
        main, content = await self._search(page, LookupKind.CLAIM_STATUS, search)
        if "Claim Search Results" in content["titles"]:
            href = await self._walk_results(main, content, query)
            content = await self._navigate(main, lambda: main.goto(href))
        elif "Claim Detail" not in content["titles"]:
            read.claim_refusal(content)
        if "Claim Detail" not in content["titles"]:
            raise LayoutChanged("the portal did not show the claim detail")
        return read.claim_result(self.name, content, query)

    async def _walk_results(
        self, main: Frame, content: dict[str, Any], query: ClaimStatusQuery
    ) -> str:
        """Every page of the results list; exactly one claim must fit. Returns its link."""
        seen: list[tuple[str, bool]] = []
        for _page in range(100):
            table = read.table_with(content, read.LIST_COLUMNS)
            for row, href in zip(table["rows"], table["links"], strict=True):
                rec = dict(zip(table["headers"], row, strict=True))
                seen.append((href or "", claim_fits(query, read.listed_claim(rec))))
            following = main.get_by_role("link", name="Next >", exact=True)
            if sum(fit for _, fit in seen) > 1 or not await following.count():
                break
            content = await self._navigate(main, following.click)
        href, _ = one_candidate(seen, lambda x: x[1], not_found=ClaimNotFound, what="claims")
        if not href:
            raise LayoutChanged("the claim that fits has no link to its detail")
        return href

    # --- frames, navigation, error pages ----------------------------------------------------

    def _at_home(self, page: Page) -> bool:
        return page.url.partition("?")[0] == f"{self.base_url}/default.aspx"

    async def _frames(self, page: Page) -> tuple[Frame, Frame]:
        """The main and menu frames of a live session, or the reason there are none."""
        main, menu = page.frame(name="main"), page.frame(name="menu")
        if main is None or menu is None:
            _check(await read.frame_text(page.main_frame), None)
            raise SessionExpired("the portal is not showing its frames (logged out)")
        if not await menu.get_by_role("link", name="Log Off").count():
            _check(await read.frame_text(menu), None)  # an error page in the menu says why
            raise LayoutChanged("the portal's menu frame has no Log Off link")
        return main, menu  # what main shows is read only as the answer to a search sent

    async def _open(self, page: Page, link_name: str) -> Frame:
        """Load a search form fresh into the main frame from the menu frame."""
        main, menu = await self._frames(page)
        link = menu.get_by_role("link", name=link_name, exact=True)
        if not await link.count():
            raise LayoutChanged(f"the portal's menu has no {link_name!r} link")
        await self._navigate(main, link.click)
        return main

    async def _navigate(self, frame: Frame, action: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        """Do something that loads a new page into ``frame``; classify error pages; return
        what the new page shows (``_legacyportal_pages.page_content``)."""
        async with frame.expect_navigation() as navigation:
            await action()
        response = await navigation.value
        content = await read.page_content(frame)
        self._shown[frame] = (frame.url, tuple(content["buttons"]))
        _check(content["text"], response)
        return content

    async def _search(
        self, page: Page, kind: LookupKind, values: dict[str, str]
    ) -> tuple[Frame, dict[str, Any]]:
        """Fill and submit an inquiry form in the main frame; the page that answers it, read.

        The form is loaded only when the frame does not show it already (a refused search
        shows it again, an answer does not). The page read is the one the form's own POST
        brought: the navigation awaited is the one the submit started, and its request is
        checked to be that POST (through any redirects)."""
        main = page.frame(name="main")
        if main is None or page.frame(name="menu") is None:
            main, _menu = await self._frames(page)  # raises: the frames are gone
        path = SEARCH_PATHS[kind]
        button = next(b for k, _link, _captions, b in SEARCH_FORMS if k == kind)
        shown = self._shown.get(main)
        loaded = None
        if shown is None or shown[0] != main.url or button not in shown[1]:
            loaded = await self._load(main, path)
        while True:
            try:
                async with main.expect_navigation(wait_until="domcontentloaded") as navigation:
                    await read.fill_and_submit(main, button, values)
            except read.NoForm as absent:
                self._shown.pop(main, None)
                if loaded is None:  # the frame no longer showed the form: load it
                    loaded = await self._load(main, path)
                    continue
                _check(absent.text, loaded)  # an error page (a timed-out session) says why
                raise LayoutChanged(f"the portal's {path} page has no {button!r} form") from None
            break
        response = await navigation.value
        if not posted_to(response, f"{self.base_url}{path}"):
            raise LayoutChanged("the portal answered the search with a page from elsewhere")
        content = await read.page_content(main)
        self._shown[main] = (main.url, tuple(content["buttons"]))
        _check(content["text"], response)
        return main, content

    async def _load(self, frame: Frame, path: str) -> Response | None:
        """Load a page of the portal into ``frame`` (error pages are classified once read)."""
        self._shown.pop(frame, None)
        return await frame.goto(f"{self.base_url}{path}", wait_until="domcontentloaded")


def _check(text: str, response: Response | None) -> None:
    """Turn the portal's error pages (by status or by text) into errors (ERROR_PAGES)."""
    raise_for_error_page(
        ERROR_PAGES,
        status=response.status if response is not None else None,
        text=text,
        headers=response.headers if response is not None else None,
    )


def _payer_name(payer_id: str) -> str:
    if payer_id not in PAYERS:
        raise LayoutChanged("the portal does not serve this payer")
    return PAYERS[payer_id]


def _mmddyyyy(day: date | None) -> str:
    return day.strftime("%m%d%Y") if day else ""


def _refused(text: str) -> None:
    """The login page's verdicts (each raises)."""
    if "does not match our records" in text:
        raise AuthenticationError("the portal rejected the security answer")
    if "account has been locked" in text:
        raise AuthenticationError("the portal says the account is locked")
    if "Invalid User ID or Password" in text:
        raise AuthenticationError("the portal refused the login: Invalid User ID or Password")
    if "login attempt has expired" in text:
        raise AuthenticationError("the portal let the login attempt expire")
    raise LayoutChanged("the portal showed an unexpected page during login")
