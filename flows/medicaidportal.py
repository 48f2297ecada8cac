"""State Medicaid Provider Portal: terms on every login, masked dates, 429s, CAPTCHA, claim PDFs."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from playwright.async_api import Download, Locator, Page
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from bots.codes import (
    CLAIM_STATUS_CATEGORIES,
    SERVICE_TYPES,
    AdjustmentGroup,
    BenefitInfo,
    CoverageLevel,
    TimePeriod,
    YesNoUnknown,
)
from bots.errors import (
    AmbiguousMatch,
    AuthenticationError,
    CapabilityMissing,
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PatientMismatch,
    PortalBlocked,
    PortalMaintenance,
    PortalTimeout,
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
    read_definitions,
    read_tables,
    require_all,
    require_headers,
    split_name,
    table_records,
    us_date,
    word,
)
from bots.models import (
    Adjustment,
    Attachment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    LookupKind,
    ServiceLine,
    same_member_id,
)

EASTERN = "America/New_York"  # the portal's times ("until 6:00 AM Eastern")
DOWNLOAD_SECONDS = 30.0  # a deadline for the PDF to start, not a pause

# The portal's words -> payerbot's codes. An unknown word is a LayoutChanged, never a guess.
LABELS = {"member_id": ("Medicaid ID", "Recipient ID"), "dob": ("Date of Birth", "Birth Date")}
ELIGIBILITY_LANDMARKS = landmarks(
    "label:From Date of Service", "label:To Date of Service", "button:Search"
)
CLAIM_LANDMARKS = landmarks(
    "region:Search by ICN", "region:Search by Recipient", "label:ICN", "button:Search by ICN"
)
RELATIONSHIPS = {"Case Head": "subscriber", "Spouse": "spouse", "Child": "child"}
ELIGIBLE = {"Eligible": True, "Not Eligible": False}
BENEFITS = {
    "Copay": BenefitInfo.COPAYMENT,
    "Coinsurance": BenefitInfo.COINSURANCE,
    "Deductible": BenefitInfo.DEDUCTIBLE,
    "Out-of-Pocket Maximum": BenefitInfo.OUT_OF_POCKET,
    "Not Covered": BenefitInfo.NON_COVERED,
}
NETWORKS = {
    "Participating": YesNoUnknown.YES,
    "Non-Participating": YesNoUnknown.NO,
    "Both": YesNoUnknown.BOTH,
}
LEVELS = {"Recipient": CoverageLevel.INDIVIDUAL, "Case": CoverageLevel.FAMILY}
PERIODS = {
    "Calendar Year": TimePeriod.CALENDAR_YEAR,
    "Service Year": TimePeriod.SERVICE_YEAR,
    "Year To Date": TimePeriod.YEAR_TO_DATE,
    "Lifetime": TimePeriod.LIFETIME,
    "Visit": TimePeriod.VISIT,
}
PRIOR_AUTH = {"Yes": YesNoUnknown.YES, "No": YesNoUnknown.NO, "Unknown": YesNoUnknown.UNKNOWN}
SIGNED_OUT = ("Session Ended", "Provider Login", "Terms of Use")  # page headings
STATUS_WORDS = {"Finalized": "F", "Pending": "P", "Received": "A"}  # first word -> 507 letter
PAYMENT: dict[str, Literal["CHK", "ACH"]] = {"Check": "CHK", "EFT": "ACH"}
SERVICE_CODES = {name: code for code, name in SERVICE_TYPES.items()}

# What the flow reads, by label or column: a renamed one must fail loudly, not read as blank.
# fmt: off
RECIPIENT_FIELDS = ("Recipient Name", "Case Relationship", "Dates of Service",
                    "Other Insurance (TPL)", "Primary Care Provider")
SEGMENT_COLUMNS = ("Program", "Benefit Plan", "Plan Code", "Delivery System", "Aid Category",
                   "Begin Date", "End Date", "Status")
COPAY_COLUMNS = ("Service Type", "Benefit", "Network", "Level", "Copay/Coinsurance", "PA Required")
LIMIT_COLUMNS = ("Service Type", "Benefit", "Network", "Level", "Period", "Annual Limit", "Met",
                 "Remaining", "PA Required")
CLAIM_FIELDS = ("ICN", "Patient Account #", "Claim Status", "Claim Status Category",
                "Claim Status Code", "From Date of Service", "To Date of Service", "Date Received",
                "Date Adjudicated", "Recipient Name", "Total Billed", "Total Allowed", "Total Paid",
                "Recipient Liability", "Payment Method", "Check/EFT Number", "Payment Date")
CLAIM_LIST_COLUMNS = ("ICN", "Patient Account #", "Recipient Name", "From DOS", "To DOS",
                      "Billed", "Status")
# fmt: on
PDF_LINE_HEADER = ["LN", "DOS", "PROC", "MODS", "UNITS", "BILLED", "ALLOWED", "PAID"]
PDF_ADJUSTMENT_HEADER = ["LN", "GROUP", "CARC", "RARC", "AMOUNT", "DESCRIPTION"]

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
            for key, names in LABELS.items():
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
        return heading not in SIGNED_OUT

    # --- eligibility ------------------------------------------------------------------------

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        await self._goto(page, "/eligibility", "Eligibility Verification")
        await (await _labelled(page, *LABELS["member_id"])).fill(query.member_id)
        await _type_date(await _labelled(page, *LABELS["dob"]), query.dob)
        await _type_date(await _labelled(page, "From Date of Service"), query.date_of_service)
        await _type_date(await _labelled(page, "To Date of Service"), query.date_of_service)
        search = await _one(page.get_by_role("button", name="Search", exact=True))
        await self._submit(page, search, "Eligibility Verification")
        results = page.get_by_role("region", name="Eligibility Results")
        if not await results.count():
            await _raise_for_alert(page, MemberNotFound)
        return await self._read_eligibility(results, query)

    async def _read_eligibility(
        self, results: Locator, query: EligibilityQuery
    ) -> EligibilityResult:
        fields = await read_definitions(results)
        _require_fields(fields, RECIPIENT_FIELDS, "recipient information")
        member_id, dob = _either(fields, "member_id"), us_date(_either(fields, "dob"))
        if not same_member_id(member_id, query.member_id) or dob != query.dob:
            raise PatientMismatch(
                "the eligibility page shows a recipient whose ID or date of birth "
                "differs from the worklist"
            )
        relationship = word(RELATIONSHIPS, fields["Case Relationship"], "relationship")
        first, last = split_name(fields["Recipient Name"])
        dos = date_range(fields["Dates of Service"])[0]
        tables = {t["heading"]: t for t in await read_tables(results)}
        segment = _segment_for(_records(tables, "Coverage Segments", SEGMENT_COLUMNS), dos)
        active = word(ELIGIBLE, segment["Status"], "eligibility status")
        benefits: list[Benefit] = []
        if active:
            for caption, columns in (
                ("Copays and Coinsurance", COPAY_COLUMNS),
                ("Deductible and Out-of-Pocket", LIMIT_COLUMNS),
            ):
                benefits += [_benefit(r) for r in _records(tables, caption, columns)]
        pcp_name, pcp_npi = _pcp(fields["Primary Care Provider"])
        return EligibilityResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=await results.inner_text(),
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=query.dob,
            relationship=relationship,
            date_of_service=dos,
            coverage_active=active,
            plan_name=segment["Benefit Plan"],
            plan_number=segment["Plan Code"],
            network_type=segment["Delivery System"],
            group_number=segment["Aid Category"],
            group_name=segment["Program"],
            effective_date=us_date(segment["Begin Date"]),
            termination_date=us_date(segment["End Date"], open_ended_is_none=True),
            other_coverage=word({"Yes": True, "No": False}, fields["Other Insurance (TPL)"], "TPL"),
            pcp_name=pcp_name,
            pcp_npi=pcp_npi,
            benefits=tuple(benefits),
        )

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        if query.claim_number:
            form = await self._claim_form(page, "Search by ICN")
            await (await _one(form.get_by_label("ICN", exact=True))).fill(query.claim_number)
        elif query.member_id and query.dos_from:
            form = await self._claim_form(page, "Search by Recipient")
            await (await _labelled(form, *LABELS["member_id"])).fill(query.member_id)
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
        await self._submit(page, search, "Claim Inquiry")
        results = page.get_by_role("region", name="Claim Search Results")
        if not await results.count():
            await _raise_for_alert(page, ClaimNotFound)
        tables = {t["heading"]: t for t in await read_tables(results)}
        rows = _records(tables, "Claims", CLAIM_LIST_COLUMNS)
        fits = [r["ICN"] for r in rows if _claim_fits(r, query)]
        if not fits:
            raise ClaimNotFound("no claim on file matches the ICN or the service dates")
        if len(fits) > 1:
            raise AmbiguousMatch("several claims match the recipient and service dates")
        link = await _one(results.get_by_role("link", name=fits[0], exact=True))
        await self._submit(page, link, "Claim Summary")
        return await self._read_claim(page, query)

    async def _claim_form(self, page: Page, name: str) -> Locator:
        await self._goto(page, "/claims", "Claim Inquiry")
        return await _one(page.get_by_role("region", name=name))

    async def _read_claim(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        main = page.locator("main")
        fields = await read_definitions(main)
        _require_fields(fields, CLAIM_FIELDS, "claim summary")
        icn, member_id = fields["ICN"], _either(fields, "member_id")
        dob = us_date(_either(fields, "dob"))
        if query.claim_number and icn != query.claim_number.strip():
            raise PatientMismatch("the claim shown is not the claim asked for")
        if (query.member_id and not same_member_id(member_id, query.member_id)) or (
            query.dob and dob != query.dob
        ):
            raise PatientMismatch(
                "the claim belongs to a recipient whose ID or date of birth differs from "
                "the worklist"
            )
        category, status_text = fields["Claim Status Category"], fields["Claim Status"]
        word = status_text.partition(" - ")[0].strip()
        if category not in CLAIM_STATUS_CATEGORIES or STATUS_WORDS.get(word) != category[:1]:
            raise LayoutChanged("the claim status wording is not one the flow knows")
        link = await _one(page.get_by_role("link", name="Download Claim Detail (PDF)", exact=True))
        content = await self._download(page, link)
        pdf_text = _pdf_text(content)
        lines, adjustments = _parse_claim_pdf(pdf_text, icn, member_id)
        first, last = split_name(fields["Recipient Name"])
        account = fields["Patient Account #"]
        trace = fields["Check/EFT Number"]
        return ClaimStatusResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=f"{await main.inner_text()}\n\n{pdf_text}",
            attachments=(
                Attachment(
                    filename="claim-detail.pdf", media_type="application/pdf", content=content
                ),
            ),
            claim_number=icn,
            patient_account_number=None if blank(account) else account,
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=dob,
            dos_from=_date(fields["From Date of Service"]),
            dos_to=_date(fields["To Date of Service"]),
            category=category,
            status_code=None if blank(fields["Claim Status Code"]) else fields["Claim Status Code"],
            status_text=status_text,
            billed=money(fields["Total Billed"]),
            allowed=money(fields["Total Allowed"]),
            paid=money(fields["Total Paid"]),
            patient_responsibility=money(fields["Recipient Liability"]),
            received_date=us_date(fields["Date Received"]),
            adjudication_date=us_date(fields["Date Adjudicated"]),
            payment_method=None
            if blank(fields["Payment Method"])
            else PAYMENT.get(fields["Payment Method"]) or _unknown("payment method"),
            payment_trace_number=None if blank(trace) else trace,
            payment_date=us_date(fields["Payment Date"]),
            service_lines=lines,
            adjustments=adjustments,
        )

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
        heading, text = seen["h1"], seen["text"]
        if heading in expected:
            return heading
        if heading == "Security Check":  # never typed into: a person must look
            raise PortalBlocked("the Medicaid portal shows a CAPTCHA (Security Check)")
        if heading == "Scheduled Maintenance":
            raise PortalMaintenance(
                "the Medicaid portal is down for scheduled maintenance",
                until=next_clock_time(text, EASTERN),
            )
        if heading == "Too Many Requests":
            wait = re.search(r"wait (\d+) seconds", text)
            raise RateLimited(
                "the Medicaid portal asks to slow down",
                retry_after=float(wait.group(1)) if wait else None,
            )
        if heading == "System Error":
            raise PortalUnavailable("the Medicaid portal answered with a server error")
        if heading in SIGNED_OUT:
            raise SessionExpired("the Medicaid portal ended the session")
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


async def _raise_for_alert(page: Page, not_found: type[MemberNotFound | ClaimNotFound]) -> NoReturn:
    alert = page.get_by_role("alert")
    text = (await alert.first.inner_text()).strip() if await alert.count() else ""
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


def _require_fields(fields: dict[str, str], labels: tuple[str, ...], where: str) -> None:
    require_all(fields, labels, where)
    if not all(any(x in fields for x in LABELS[k]) for k in LABELS):
        raise LayoutChanged(f"the {where} lacks the recipient's ID or date of birth")


def _either(fields: dict[str, str], key: str) -> str:
    return next(fields[x] for x in LABELS[key] if x in fields)


def _records(
    tables: dict[str, dict[str, Any]], caption: str, columns: tuple[str, ...]
) -> list[dict[str, str]]:
    if caption not in tables:
        raise LayoutChanged(f"the page has no {caption!r} table")
    require_headers(tables[caption], columns)
    return table_records(tables[caption])


def _unknown(what: str) -> NoReturn:
    raise LayoutChanged(f"the portal shows a {what} the flow does not know")


def _date(text: str) -> date:
    value = us_date(text)
    if value is None:
        raise LayoutChanged("a date the flow needs is blank")
    return value


def _segment_for(segments: list[dict[str, str]], dos: date) -> dict[str, str]:
    """The coverage segment spanning the date of service, else the latest one."""
    if not segments:
        raise LayoutChanged("the eligibility page shows no coverage segment")
    spans = [(s, _date(s["Begin Date"]), _date(s["End Date"])) for s in segments]
    covering = [s for s, begin, end in spans if begin <= dos <= end]
    if len(covering) > 1:
        raise AmbiguousMatch("several coverage segments span the date of service")
    return covering[0] if covering else max(spans, key=lambda x: x[1])[0]


def _pcp(text: str) -> tuple[str | None, str | None]:
    if blank(text) or text.strip() == "None assigned":
        return None, None
    found = re.fullmatch(r"(.+) \(NPI (\d{10})\)", text.strip())
    if not found:
        _unknown("primary care provider format")
    return found.group(1), found.group(2)


def _benefit(rec: dict[str, str]) -> Benefit:
    share = rec.get("Copay/Coinsurance", "")
    period = rec.get("Period", "")
    return Benefit(
        service_type=word(SERVICE_CODES, rec["Service Type"], "service type"),
        benefit=word(BENEFITS, rec["Benefit"], "benefit"),
        in_network=word(NETWORKS, rec["Network"], "network"),
        coverage_level=None if blank(rec["Level"]) else word(LEVELS, rec["Level"], "level"),
        time_period=None if blank(period) else word(PERIODS, period, "benefit period"),
        amount=None if "%" in share else money(share),
        percent=number(share) if "%" in share else None,
        total=money(rec.get("Annual Limit")),
        met=money(rec.get("Met")),
        remaining=money(rec.get("Remaining")),
        prior_auth_required=word(PRIOR_AUTH, rec["PA Required"], "prior authorization"),
    )


def _claim_fits(rec: dict[str, str], query: ClaimStatusQuery) -> bool:
    if query.claim_number:
        return rec["ICN"] == query.claim_number.strip()
    if query.dos_from and us_date(rec["From DOS"]) != query.dos_from:
        return False
    if query.dos_to and us_date(rec["To DOS"]) != query.dos_to:
        return False
    account = query.patient_account_number
    if account and rec["Patient Account #"].upper() != account.strip().upper():
        return False
    return query.billed is None or money(rec["Billed"]) == query.billed


def _pdf_text(content: bytes) -> str:
    if not content.startswith(b"%PDF"):
        raise LayoutChanged("the claim detail download is not a PDF")
    try:
        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    except PyPdfError:
        raise LayoutChanged("the claim detail PDF cannot be read") from None


def _parse_claim_pdf(
    text: str, icn: str, member_id: str
) -> tuple[tuple[ServiceLine, ...], tuple[Adjustment, ...]]:
    """Service lines and adjustments from the claim detail report, after checking that the
    report is about the claim and recipient on screen."""
    rows = [" ".join(x.split()) for x in text.splitlines() if x.strip()]
    heads = {r.partition(": ")[0]: r.partition(": ")[2] for r in rows if ": " in r}
    if heads.get("ICN") != icn or not same_member_id(heads.get("Medicaid ID"), member_id):
        raise PatientMismatch("the claim detail PDF is not about the claim on screen")
    try:
        lines_at, adjustments_at = rows.index("SERVICE LINES"), rows.index("ADJUSTMENTS")
        end = rows.index("END OF CLAIM DETAIL")
    except ValueError:
        raise LayoutChanged("the claim detail PDF lacks a section the flow reads") from None
    if (
        rows[lines_at + 1].split() != PDF_LINE_HEADER
        or rows[adjustments_at + 1].split() != PDF_ADJUSTMENT_HEADER
    ):
        raise LayoutChanged("the claim detail PDF's columns changed")
    lines = tuple(_pdf_line(r.split()) for r in rows[lines_at + 2 : adjustments_at])
    adjustments = tuple(
        _pdf_adjustment(r.split(" ", 5))
        for r in rows[adjustments_at + 2 : end]
        if r != "No adjustments."
    )
    return lines, adjustments


def _pdf_line(cells: list[str]) -> ServiceLine:
    if len(cells) != len(PDF_LINE_HEADER) or not cells[0].isdigit():
        raise LayoutChanged("a service line in the claim detail PDF has an unknown shape")
    ln, dos, proc, mods, units, billed, allowed, paid = cells
    return ServiceLine(
        line=int(ln),
        procedure_code=proc,
        modifiers=() if blank(mods) else tuple(mods.split(",")),
        dos=us_date(dos),
        units=number(units),
        billed=money(billed),
        allowed=money(allowed),
        paid=money(paid),
    )


def _pdf_adjustment(cells: list[str]) -> Adjustment:
    if (
        len(cells) < 5
        or cells[1] not in {g.value for g in AdjustmentGroup}
        or not (cells[0].isdigit() or blank(cells[0]))
    ):
        raise LayoutChanged("an adjustment in the claim detail PDF has an unknown shape")
    ln, group, carc, rarc, amount = cells[:5]
    return Adjustment(
        group_code=AdjustmentGroup(group),
        carc=carc,
        rarc=() if blank(rarc) else tuple(rarc.split(",")),
        amount=money(amount),
        line=None if blank(ln) else int(ln),
        description=cells[5] if len(cells) > 5 else None,
    )
