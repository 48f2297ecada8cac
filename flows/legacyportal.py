"""Prairie Provider Connect: a legacy server-rendered portal (frames, caption tables, no ids).

Everything after login happens inside the "main" frame of a frameset; the "menu" frame
holds the links. Form fields have no labels: each is found by the caption in the cell
before it. Results are read by caption and by column header, never by position, and the
portal's words (services, benefit types, claim statuses) are mapped strictly: an unknown
word is a LayoutChanged, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from playwright.async_api import Frame, Locator, Page, Response

from bots.codes import AdjustmentGroup, BenefitInfo, CoverageLevel, TimePeriod, YesNoUnknown
from bots.errors import (
    AmbiguousMatch,
    AuthenticationError,
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PatientMismatch,
    PortalMaintenance,
    PortalUnavailable,
    RateLimited,
    SessionExpired,
)
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow, register
from bots.flowkit.pages import (
    blank,
    date_range,
    landmarks,
    missing_landmarks,
    money,
    next_clock_time,
    number,
    percent,
    require,
    split_name,
    us_date,
    word,
)
from bots.models import (
    Adjustment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    LookupKind,
    ServiceLine,
    member_id_fits,
)

PAYERS = {"DELTA": "Delta Prairie Health", "ELM": "Elmwood Benefit Trust"}
LOGIN_CAPTIONS = ("User ID:", "Password:")
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
SERVICES = {
    "Plan Level": "30",
    "Office Visit": "98",
    "Urgent Care": "UC",
    "Emergency Room": "86",
    "Hospital Inpatient": "47",
    "Mental Health Outpatient": "MH",
    "Routine Vision": "AL",
}
BENEFITS = {
    "Co-Pay": BenefitInfo.COPAYMENT,
    "Co-Ins": BenefitInfo.COINSURANCE,
    "Deductible": BenefitInfo.DEDUCTIBLE,
    "Out of Pocket": BenefitInfo.OUT_OF_POCKET,
    "Not Covered": BenefitInfo.NON_COVERED,
}
PERIODS = {
    "Calendar Year": TimePeriod.CALENDAR_YEAR,
    "Plan Year": TimePeriod.SERVICE_YEAR,
    "Year to Date": TimePeriod.YEAR_TO_DATE,
    "Per Visit": TimePeriod.VISIT,
    "Lifetime": TimePeriod.LIFETIME,
}
NETWORKS = {"In Network": YesNoUnknown.YES, "Out of Network": YesNoUnknown.NO}
LEVELS = {"Individual": CoverageLevel.INDIVIDUAL, "Family": CoverageLevel.FAMILY, "": None}
AUTH = {"Yes": YesNoUnknown.YES, "No": YesNoUnknown.NO, "Unknown": YesNoUnknown.UNKNOWN}
RELATIONSHIPS = {"Self": "subscriber", "Spouse": "spouse", "Child": "child"}
COVERAGE = {"ACTIVE": True, "TERMINATED": False, "NOT YET EFFECTIVE": False}
YES_NO = {"Yes": True, "No": False}
PAYMENT: dict[str, Literal["CHK", "ACH"] | None] = {"CHECK": "CHK", "EFT": "ACH", "": None}
# The portal's claim status words -> 277 category (507) and status code (508).
STATUSES = {
    "PAID": ("F1", "65"),
    "DENIED": ("F2", "85"),
    "DENIED - PATIENT NOT ELIGIBLE": ("F2", "88"),
    "FINALIZED - NO PAYMENT": ("F4", "1"),
    "PENDED - IN PROCESS": ("P1", "20"),
    "PENDED - UNDER REVIEW": ("P2", "41"),
    "PENDED - ADDITIONAL INFO REQUESTED FROM PROVIDER": ("P3", "21"),
    "PENDED - ADDITIONAL INFO REQUESTED FROM PATIENT": ("P4", "21"),
    "ACCEPTED": ("A2", "20"),
}
ZONES = {
    "Eastern": "America/New_York",
    "Central": "America/Chicago",
    "Mountain": "America/Denver",
    "Pacific": "America/Los_Angeles",
}
BENEFIT_COLUMNS = {"Service", "Type", "Network", "Level", "Copay", "Coins %"}
BENEFIT_COLUMNS |= {"Ded/OOP Total", "Met", "Remaining", "Auth Req"}
LIST_COLUMNS = {"Claim Number", "Member ID", "Dates of Service", "Billed", "Status"}
LINE_COLUMNS = {"Line", "DOS", "Proc Code", "Modifiers", "Units", "Billed", "Allowed", "Paid"}
REMARK_COLUMNS = {"Line", "Group", "CARC", "RARC", "Amount"}
MAINTENANCE = "unavailable during scheduled maintenance"
TOO_MANY = "Too many requests"
SERVER_ERROR = "Server Error in '/' Application"
TIMED_OUT = "Your session has timed out"

_READ = """
() => {
  const text = (el) => (el ? el.innerText.trim() : '');
  const fields = [];
  for (const td of document.querySelectorAll('td')) {
    const b = td.firstElementChild;
    if (!b || td.children.length !== 1 || !['B', 'STRONG'].includes(b.tagName)) continue;
    const caption = text(td);
    const next = td.nextElementSibling;
    if (caption.endsWith(':') && next && next.tagName === 'TD')
      fields.push([caption.slice(0, -1).trim(), text(next)]);
  }
  const tables = [];
  for (const table of document.querySelectorAll('table')) {
    const rows = Array.from(table.rows);
    const head = rows.findIndex((r) => r.cells.length > 0 &&
      Array.from(r.cells).every((c) => c.classList.contains('hdr')));
    if (head < 0) continue;
    const headers = Array.from(rows[head].cells).map(text);
    const body = rows.slice(head + 1).filter((r) => r.cells.length === headers.length);
    tables.push({
      headers,
      rows: body.map((r) => Array.from(r.cells).map(text)),
      links: body.map((r) => { const a = r.querySelector('a[href]'); return a ? a.href : null; }),
    });
  }
  return {
    fields, tables,
    titles: Array.from(document.querySelectorAll('td.title')).map(text),
    errors: Array.from(document.querySelectorAll('.err')).map(text),
    text: document.body ? document.body.innerText : '',
  };
}
"""


@register
class LegacyPortalFlow(PortalFlow):
    """Login with a security question, eligibility & benefits, claim status with pagination."""

    name = "legacyportal"
    title = "Prairie Provider Connect (legacy)"

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        frame = page.main_frame
        await self._navigate(frame, lambda: page.goto(f"{self.base_url}/login.aspx"))
        await _fill(frame, {"User ID:": secrets.username, "Password:": secrets.password})
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
            found = await frame.evaluate(_PROBE, list(LOGIN_CAPTIONS))
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
            found = await main.evaluate(_PROBE, list(captions))
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
        question = (await _cell_after(frame, "Question:").inner_text()).strip()
        answer = secrets.answer(question)
        if answer is None:
            raise AuthenticationError(
                f"the portal asks the security question {question!r} and no answer is "
                "configured for it (security_answers)"
            )
        await _fill(frame, {"Answer:": answer})
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
        if TIMED_OUT in await _text(main):
            return False
        return await menu.get_by_role("link", name="Log Off").count() > 0

    # --- eligibility ------------------------------------------------------------------------

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        main = await self._open(page, "Eligibility Inquiry")
        await _fill(
            main,
            {
                "Payer:": _payer_name(query.payer_id),
                "Subscriber ID:": query.member_id,
                "Patient Last Name:": query.last_name or "",
                "Patient DOB (MMDDYYYY):": query.dob.strftime("%m%d%Y"),
                "Date of Service:": query.date_of_service.strftime("%m/%d/%Y"),
            },
        )
        submit = main.get_by_role("button", name="Submit Inquiry")
        content = await self._navigate(main, submit.click)
        if "Eligibility and Benefits" not in content["titles"]:
            _eligibility_refusal(content)
            rows = _records(content, {"Patient Name", "Member ID", "Date of Birth"})
            pick = main.get_by_role("link", name="Select").nth(_pick(rows, query))
            content = await self._navigate(main, pick.click)
            if "Eligibility and Benefits" not in content["titles"]:
                raise LayoutChanged("the portal did not show the patient picked")
        return self._eligibility_result(content, query)

    def _eligibility_result(
        self, content: dict[str, Any], query: EligibilityQuery
    ) -> EligibilityResult:
        fields = _fields(content)
        member_id = require(fields, "Subscriber ID")
        if not _same_patient(member_id, us_date(require(fields, "Date of Birth")), query):
            raise PatientMismatch(
                "the eligibility page shows a member whose ID or date of birth differs "
                "from the worklist"
            )
        first, last = split_name(require(fields, "Patient Name"))
        active = word(COVERAGE, require(fields, "Coverage Status"), "coverage status")
        benefits: list[Benefit] = []
        if active:
            benefits = [_benefit(r) for r in _records(content, BENEFIT_COLUMNS)]
        pcp_name = require(fields, "PCP Name")
        return EligibilityResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=content["text"],
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=query.dob,
            relationship=word(RELATIONSHIPS, require(fields, "Relationship"), "relationship"),
            date_of_service=us_date(require(fields, "Date of Service")) or query.date_of_service,
            coverage_active=active,
            plan_name=require(fields, "Plan Name") or None,
            plan_number=require(fields, "Plan Number") or None,
            network_type=require(fields, "Network Type") or None,
            group_number=require(fields, "Group Number") or None,
            group_name=require(fields, "Group Name") or None,
            effective_date=us_date(require(fields, "Effective Date")),
            termination_date=us_date(require(fields, "Termination Date"), open_ended_is_none=True),
            other_coverage=word(YES_NO, require(fields, "Other Coverage"), "other coverage"),
            pcp_name=None if pcp_name == "None Assigned" or blank(pcp_name) else pcp_name,
            pcp_npi=None if blank(require(fields, "PCP NPI")) else fields["PCP NPI"],
            benefits=tuple(benefits),
        )

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        main = await self._open(page, "Claim Inquiry")
        search = {"Payer:": _payer_name(query.payer_id)}
        number = query.claim_number or query.patient_account_number
        if number:
            search["Claim Number (ICN):"] = number
        elif query.member_id:
            search["Subscriber ID:"] = query.member_id
            search["DOS From (MMDDYYYY):"] = _mmddyyyy(query.dos_from)
            search["DOS To (MMDDYYYY):"] = _mmddyyyy(query.dos_to)
        else:
            raise AmbiguousMatch("a claim search needs a claim number or a member ID")
        await _fill(main, search)
        content = await self._navigate(main, main.get_by_role("button", name="Search").click)
        if "Claim Search Results" in content["titles"]:
            href = await self._walk_results(main, content, query)
            content = await self._navigate(main, lambda: main.goto(href))
        elif "Claim Detail" not in content["titles"]:
            _claim_refusal(content)
        if "Claim Detail" not in content["titles"]:
            raise LayoutChanged("the portal did not show the claim detail")
        return self._claim_result(content, query)

    async def _walk_results(
        self, main: Frame, content: dict[str, Any], query: ClaimStatusQuery
    ) -> str:
        """Every page of the results list; exactly one claim must fit. Returns its link."""
        fits: list[str] = []
        for _page in range(100):
            table = _table(content, LIST_COLUMNS)
            for row, href in zip(table["rows"], table["links"], strict=True):
                if _claim_fits(dict(zip(table["headers"], row, strict=True)), query):
                    fits.append(href or "")
            following = main.get_by_role("link", name="Next >", exact=True)
            if len(fits) > 1 or not await following.count():
                break
            content = await self._navigate(main, following.click)
        if not fits:
            raise ClaimNotFound("no claim in the results fits the member, dates and amount")
        if len(fits) > 1 or not fits[0]:
            raise AmbiguousMatch("several claims fit the member and service dates")
        return fits[0]

    def _claim_result(self, content: dict[str, Any], query: ClaimStatusQuery) -> ClaimStatusResult:
        fields = _fields(content)
        claim_number = require(fields, "Claim Number")
        account = require(fields, "Patient Account #")
        member_id = require(fields, "Member ID")
        dob = us_date(require(fields, "Date of Birth"))
        wanted = query.claim_number or query.patient_account_number
        if wanted and wanted.strip().upper() not in {claim_number.upper(), account.upper()}:
            raise PatientMismatch("the claim shown is not the claim asked for")
        if (query.member_id and not member_id_fits(member_id, query.member_id)) or (
            query.dob and dob != query.dob
        ):
            raise PatientMismatch(
                "the claim belongs to a member whose ID or date of birth differs from the worklist"
            )
        status = require(fields, "Claim Status")
        category, code = word(STATUSES, status, "claim status")
        first, last = split_name(require(fields, "Patient Name"))
        dos_from, dos_to = date_range(require(fields, "Dates of Service"))
        trace = require(fields, "Check/EFT #")
        return ClaimStatusResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=content["text"],
            claim_number=claim_number,
            patient_account_number=None if blank(account) else account,
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=dob,
            dos_from=dos_from,
            dos_to=dos_to,
            category=category,
            status_code=code,
            status_text=status,
            billed=money(require(fields, "Total Billed")),
            allowed=money(require(fields, "Allowed Amount")),
            paid=money(require(fields, "Paid Amount")),
            patient_responsibility=money(require(fields, "Patient Responsibility")),
            received_date=us_date(require(fields, "Received Date")),
            adjudication_date=us_date(require(fields, "Processed Date")),
            payment_method=word(PAYMENT, require(fields, "Payment Type"), "payment type"),
            payment_trace_number=None if blank(trace) else trace,
            payment_date=us_date(require(fields, "Check/EFT Date")),
            service_lines=tuple(_service_line(r) for r in _records(content, LINE_COLUMNS)),
            adjustments=tuple(_adjustment(r) for r in _records(content, REMARK_COLUMNS)),
        )

    # --- frames, navigation, error pages ----------------------------------------------------

    def _at_home(self, page: Page) -> bool:
        return page.url.partition("?")[0] == f"{self.base_url}/default.aspx"

    async def _frames(self, page: Page) -> tuple[Frame, Frame]:
        """The main and menu frames of a live session, or the reason there are none."""
        main, menu = page.frame(name="main"), page.frame(name="menu")
        if main is None or menu is None:
            await self._check(await _text(page.main_frame), None)
            raise SessionExpired("the portal is not showing its frames (logged out)")
        if not await menu.get_by_role("link", name="Log Off").count():
            await self._check(await _text(menu), None)  # an error page in the menu says why
            raise LayoutChanged("the portal's menu frame has no Log Off link")
        return main, menu  # what main shows now is never read: it is loaded afresh

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
        what the new page shows (see _READ)."""
        async with frame.expect_navigation() as navigation:
            await action()
        response = await navigation.value
        content = await _read(frame)
        await self._check(content["text"], response)
        return content

    async def _check(self, text: str, response: Response | None) -> None:
        """Turn the portal's error pages (by status or by text) into errors."""
        status = response.status if response is not None else 200
        if status == 503 or MAINTENANCE in text:
            raise PortalMaintenance(
                "the portal is in its scheduled maintenance window", until=maintenance_until(text)
            )
        if status == 429 or TOO_MANY in text:
            header = await response.header_value("retry-after") if response else None
            raise RateLimited(
                "the portal asks to slow down (too many requests)",
                retry_after=_retry_after(header, text),
            )
        if status >= 500 or SERVER_ERROR in text:
            raise PortalUnavailable(f"the portal answered with a server error ({status})")
        if TIMED_OUT in text:
            raise SessionExpired("the portal says the session has timed out")
        if status >= 400:
            raise LayoutChanged(f"the portal answered HTTP {status} for a page the flow uses")


def maintenance_until(text: str) -> datetime | None:
    """'... 5:00 AM Central. Please try again after 5:00 AM.' -> the next 5:00 AM Central."""
    zone = next((z for word, z in ZONES.items() if f" {word}." in text), None)
    back_at = text.partition("try again after")[2]
    return next_clock_time(back_at, zone) if zone and back_at else None


def _retry_after(header: str | None, text: str) -> float | None:
    if header and header.strip().isdigit():
        return float(header)
    found = re.search(r"Retry after (\d+) seconds", text)
    return float(found[1]) if found else None


async def _text(frame: Frame) -> str:
    text: str = await frame.evaluate("() => document.body ? document.body.innerText : ''")
    return text


async def _read(frame: Frame) -> dict[str, Any]:
    content: dict[str, Any] = await frame.evaluate(_READ)
    return content


_PROBE = """
(captions) => captions.map((caption) => {
  const cells = Array.from(document.querySelectorAll('td'))
    .filter((td) => td.innerText.trim() === caption);
  const next = cells.length === 1 ? cells[0].nextElementSibling : null;
  const controls = next ? next.querySelectorAll('input, select') : [];
  if (controls.length !== 1) return null;
  const c = controls[0];
  return c.tagName === 'SELECT' ? Array.from(c.options).map((o) => o.text.trim()) : [];
})
"""


def _cell_after(frame: Frame, caption: str) -> Locator:
    return frame.locator(f"xpath=//td[normalize-space(.)='{caption}']/following-sibling::td[1]")


async def _fill(frame: Frame, values: dict[str, str]) -> None:
    """Fill a form whose fields are known only by the caption in the cell before them
    (no labels, no ids); a select takes the option shown. Every caption is checked first."""
    found: list[list[str] | None] = await frame.evaluate(_PROBE, list(values))
    for (caption, value), options in zip(values.items(), found, strict=True):
        if options is None:
            raise LayoutChanged(f"the page has no field captioned {caption!r}")
        if options and value not in options:
            raise LayoutChanged(f"the {caption!r} list does not offer the value wanted")
    for (caption, value), options in zip(values.items(), found, strict=True):
        control = _cell_after(frame, caption).locator("input, select")
        if options:
            await control.select_option(label=value)
        else:
            await control.fill(value)


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


def _eligibility_refusal(content: dict[str, Any]) -> None:
    """Raise for the inquiry form's red message; return quietly on the patient pick list."""
    message = " ".join(content["errors"])
    if "No eligibility information found" in message:
        raise MemberNotFound("the portal found no eligibility for the patient (AAA 75)")
    if "date of birth does not match" in message:
        raise PatientMismatch("the date of birth does not match the member ID", reason_code="58")
    if "last name does not match" in message:
        raise PatientMismatch("the last name does not match the member ID", reason_code="73")
    if "More than one patient matches" not in message:
        raise LayoutChanged("the portal answered the inquiry with an unexpected message")


def _claim_refusal(content: dict[str, Any]) -> None:
    if any("No claims found" in e for e in content["errors"]):
        raise ClaimNotFound("the portal found no claim for the search")
    raise LayoutChanged("the portal answered the claim search with an unexpected page")


def _pick(rows: list[dict[str, str]], query: EligibilityQuery) -> int:
    """The one listed patient with the ID (or its subscriber part) and DOB asked for."""
    fits = [
        i
        for i, r in enumerate(rows)
        if _same_patient(r["Member ID"], us_date(r["Date of Birth"]), query)
    ]
    if not fits:
        raise PatientMismatch(f"none of the {len(rows)} patients listed has this ID and DOB")
    if len(fits) > 1:
        raise AmbiguousMatch(f"{len(fits)} patients listed have this ID and date of birth")
    return fits[0]


def _same_patient(member_id: str, dob: date | None, query: EligibilityQuery) -> bool:
    return member_id_fits(member_id, query.member_id) and dob == query.dob


def _fields(content: dict[str, Any]) -> dict[str, str]:
    """Caption -> value; a caption shown twice with different values is not guessed at."""
    out: dict[str, str] = {}
    for caption, value in content["fields"]:
        if out.get(caption, value) != value:
            raise LayoutChanged(f"the page shows {caption!r} twice with different values")
        out[caption] = value
    return out


def _table(content: dict[str, Any], columns: set[str]) -> dict[str, Any]:
    found = [t for t in content["tables"] if columns <= set(t["headers"])]
    if len(found) != 1:
        raise LayoutChanged(f"the page has {len(found)} tables with columns {sorted(columns)}")
    table: dict[str, Any] = found[0]
    return table


def _records(content: dict[str, Any], columns: set[str]) -> list[dict[str, str]]:
    table = _table(content, columns)
    return [dict(zip(table["headers"], row, strict=True)) for row in table["rows"]]


def _benefit(rec: dict[str, str]) -> Benefit:
    kind, _, period = rec["Type"].partition(" (")
    copay, coins = rec["Copay"], rec["Coins %"]
    return Benefit(
        service_type=word(SERVICES, rec["Service"], "service"),
        benefit=word(BENEFITS, kind, "benefit type"),
        in_network=word(NETWORKS, rec["Network"], "network"),
        coverage_level=word(LEVELS, rec["Level"], "coverage level"),
        time_period=word(PERIODS, period.rstrip(")"), "time period") if period else None,
        amount=money(copay),
        percent=percent(coins),
        total=money(rec["Ded/OOP Total"]),
        met=money(rec["Met"]),
        remaining=money(rec["Remaining"]),
        prior_auth_required=word(AUTH, rec["Auth Req"], "authorization flag"),
    )


def _claim_fits(rec: dict[str, str], query: ClaimStatusQuery) -> bool:
    if query.claim_number:
        return rec["Claim Number"].upper() == query.claim_number.strip().upper()
    if query.member_id and not member_id_fits(rec["Member ID"], query.member_id):
        return False
    dos_from, dos_to = date_range(rec["Dates of Service"])
    if (query.dos_from and dos_from < query.dos_from) or (query.dos_to and dos_to > query.dos_to):
        return False
    return query.billed is None or money(rec["Billed"]) == query.billed


def _service_line(rec: dict[str, str]) -> ServiceLine:
    mods = tuple(m.strip() for m in rec["Modifiers"].split(",") if not blank(m))
    if not rec["Line"].isdigit():
        raise LayoutChanged("a service line has no line number")
    return ServiceLine(
        line=int(rec["Line"]),
        procedure_code=rec["Proc Code"],
        modifiers=mods,
        dos=us_date(rec["DOS"]),
        units=number(rec["Units"]),
        billed=money(rec["Billed"]),
        allowed=money(rec["Allowed"]),
        paid=money(rec["Paid"]),
    )


def _adjustment(rec: dict[str, str]) -> Adjustment:
    remarks = tuple(r.strip() for r in rec["RARC"].split(",") if not blank(r))
    line = rec["Line"]
    return Adjustment(
        group_code=word({g.value: g for g in AdjustmentGroup}, rec["Group"], "group code"),
        carc=rec["CARC"],
        rarc=remarks,
        amount=money(rec["Amount"]),
        line=int(line) if line.isdigit() else None,
        description=rec.get("Description") or None,
    )
