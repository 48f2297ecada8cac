"""PayerHub: the modern multi-payer hub (single-page app, TOTP MFA, client-side results)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, NoReturn

import pyotp
from playwright.async_api import Locator, Page
from pydantic import ValidationError

from bots.codes import (
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
    looks_like_date,
    missing_landmarks,
    money,
    next_clock_time,
    number,
    percent,
    read_definitions,
    read_tables,
    require,
    require_all,
    require_headers,
    split_name,
    table_records,
    us_date,
    yes_no,
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
    member_id_fits,
    same_member_id,
)

BENEFITS = {
    "Co-payment": BenefitInfo.COPAYMENT,
    "Coinsurance": BenefitInfo.COINSURANCE,
    "Deductible": BenefitInfo.DEDUCTIBLE,
    "Out-of-pocket maximum": BenefitInfo.OUT_OF_POCKET,
    "Not covered": BenefitInfo.NON_COVERED,
}
PERIODS = {
    "Calendar year": TimePeriod.CALENDAR_YEAR,
    "Service year": TimePeriod.SERVICE_YEAR,
    "Year to date": TimePeriod.YEAR_TO_DATE,
    "Remaining": TimePeriod.REMAINING,
    "Lifetime": TimePeriod.LIFETIME,
    "Visit": TimePeriod.VISIT,
}
LEVELS = {"Individual": CoverageLevel.INDIVIDUAL, "Family": CoverageLevel.FAMILY}
AUTH = {
    "Required": YesNoUnknown.YES,
    "Not required": YesNoUnknown.NO,
    "Unknown": YesNoUnknown.UNKNOWN,
}
SERVICE_CODES = {name: code for code, name in SERVICE_TYPES.items()}
LOGIN_LANDMARKS = landmarks(
    "heading:Sign in to PayerHub", "label:Username", "label:Password", "button:Sign in"
)
PAYMENT: dict[str, Literal["CHK", "ACH"]] = {"Check": "CHK", "EFT": "ACH"}
SIGNED_OUT = ("session has expired", "signed out because")
MEMBER_FIELDS = (
    "Member name",
    "Member ID",
    "Date of birth",
    "Relationship",
    "Coverage status",
    "Plan",
    "Plan number",
    "Network type",
    "Group number",
    "Group name",
    "Coverage effective",
    "Coverage termination",
    "Other coverage",
    "Primary care provider",
    "Date of service",
)
BENEFIT_COLUMNS = (
    "Benefit",
    "Network",
    "Coverage level",
    "Amount",
    "Total",
    "Met",
    "Remaining",
    "Prior authorization",
)
CLAIM_FIELDS = (
    "Claim number",
    "Patient account number",
    "Patient name",
    "Member ID",
    "Date of birth",
    "Service dates",
    "Status",
    "Status category",
    "Status code",
    "Billed amount",
    "Allowed amount",
    "Paid amount",
    "Patient responsibility",
    "Received date",
    "Adjudication date",
    "Payment method",
    "Check/EFT number",
    "Payment date",
)
LINE_COLUMNS = (
    "Line",
    "Procedure",
    "Modifiers",
    "Service date",
    "Units",
    "Billed",
    "Allowed",
    "Paid",
)
ADJUSTMENT_COLUMNS = ("Line", "Group", "Reason code", "Description", "Amount", "Remarks")
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

    async def _refused_or(self, page: Page, success: Locator) -> None:
        alert = page.get_by_role("alert")
        await success.or_(alert).first.wait_for()
        if not await success.is_visible():
            text = (await alert.first.inner_text()).strip()
            _raise_for_outage(text)  # the portal failed or is closed: it did not say no
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
            return await self._api_eligibility(page, query)
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
        return await self._read_eligibility(results, query)

    async def _pick_member(self, results: Locator, query: EligibilityQuery) -> None:
        rows = results.get_by_role("row").filter(has=results.get_by_role("button", name="Select"))
        matches = []
        for i in range(await rows.count()):
            cells = [c.strip() for c in await rows.nth(i).get_by_role("cell").all_inner_texts()]
            dob = next((us_date(c) for c in cells if looks_like_date(c)), None)
            ids = [c for c in cells if member_id_fits(c, query.member_id)]
            if dob == query.dob and ids:
                matches.append(i)
        if len(matches) != 1:
            raise PatientMismatch(
                f"{rows and await rows.count()} members share this ID; "
                f"{len(matches)} have the date of birth asked for: a person must choose"
            )
        await rows.nth(matches[0]).get_by_role("button", name="Select").click()

    async def _read_eligibility(
        self, results: Locator, query: EligibilityQuery
    ) -> EligibilityResult:
        fields = await read_definitions(results)
        require_all(fields, MEMBER_FIELDS, "eligibility page")
        member_id = require(fields, "Member ID")
        _same_member(query, member_id, us_date(require(fields, "Date of birth")))
        first, last = split_name(require(fields, "Member name"))
        pcp = fields.get("Primary care provider", "")
        pcp_name, pcp_npi = _pcp(pcp)
        active = require(fields, "Coverage status").strip().lower() == "active"
        benefits = []
        for table in await read_tables(results):
            code = SERVICE_CODES.get(table["heading"])
            if code is None:  # a section we cannot name would silently drop its benefits
                raise LayoutChanged(
                    "a benefit section has a service type name the flow does not know"
                )
            require_headers(table, BENEFIT_COLUMNS)
            benefits += [_benefit(code, rec) for rec in table_records(table)]
        return EligibilityResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=await results.inner_text(),
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=query.dob,
            relationship=(fields.get("Relationship") or "").lower() or None,
            date_of_service=us_date(fields.get("Date of service")) or query.date_of_service,
            coverage_active=active,
            plan_name=fields.get("Plan"),
            plan_number=fields.get("Plan number"),
            network_type=fields.get("Network type"),
            group_number=fields.get("Group number"),
            group_name=fields.get("Group name"),
            effective_date=us_date(fields.get("Coverage effective")),
            termination_date=us_date(fields.get("Coverage termination"), open_ended_is_none=True),
            other_coverage=yes_no(fields.get("Other coverage")),
            pcp_name=pcp_name,
            pcp_npi=pcp_npi,
            benefits=tuple(benefits),
        )

    # --- claim status -----------------------------------------------------------------------

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        if self.api_reads:
            return await self._api_claim_status(page, query)
        await self._open(page, "#/claims", "Claim Status", CLAIM_FORM, ("Search claims",))
        await self._choose_payer(page, query.payer_id)
        if query.provider_npi:
            await page.get_by_label("Provider NPI").fill(query.provider_npi)
        number = query.claim_number or query.patient_account_number
        if number:
            await page.get_by_role("radio", name="Claim number").check()
            await page.get_by_role("textbox", name="Claim number").fill(number)
        else:
            if not (query.member_id and query.dos_from):
                raise LayoutChanged("a claim search needs a claim number or a member and dates")
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
        return await self._read_claim(results, query)

    async def _pick_claim(self, page: Page, results: Locator, query: ClaimStatusQuery) -> None:
        """Walk every page of the claims list; exactly one claim must fit the question."""
        fits: list[tuple[int, int]] = []
        page_no = 0
        while True:
            table = results.get_by_role("table", name="Claims")
            records = table_records((await read_tables(table.locator("xpath=..")))[0])
            for i, rec in enumerate(records):
                if _claim_fits(rec, query):
                    fits.append((page_no, i))
            nxt = results.get_by_role("button", name="Next")
            if len(fits) > 1 or not await nxt.is_visible() or await nxt.is_disabled():
                break
            label = await results.get_by_text("Page ").first.inner_text()
            await nxt.click()
            await results.get_by_text("Page ").filter(has_not_text=label).first.wait_for()
            page_no += 1
        if not fits:
            raise ClaimNotFound("no claim on file matches the service dates and billed amount")
        if len(fits) > 1:
            raise AmbiguousMatch("several claims match the member and service dates")
        if fits[0][0] != page_no:
            raise LayoutChanged("claim list pages changed while reading them")
        await (
            results.get_by_role("table", name="Claims")
            .get_by_role("button", name="View")
            .nth(fits[0][1])
            .click()
        )

    async def _read_claim(self, results: Locator, query: ClaimStatusQuery) -> ClaimStatusResult:
        fields = await read_definitions(results)
        require_all(fields, CLAIM_FIELDS, "claim detail")
        member_id = require(fields, "Member ID")
        dob = us_date(fields.get("Date of birth"))
        claim_number = require(fields, "Claim number")
        account = fields.get("Patient account number")
        _same_claim(query, claim_number, account, member_id, dob)
        first, last = split_name(require(fields, "Patient name"))
        dos_from, dos_to = date_range(require(fields, "Service dates"))
        lines: tuple[ServiceLine, ...] = ()
        adjustments: tuple[Adjustment, ...] = ()
        for table in await read_tables(results):
            if table["heading"] == "Service lines":
                require_headers(table, LINE_COLUMNS)
                lines = tuple(_service_line(r) for r in table_records(table))
            elif table["heading"] == "Adjustments":
                require_headers(table, ADJUSTMENT_COLUMNS)
                adjustments = tuple(_adjustment(r) for r in table_records(table))
            else:
                raise LayoutChanged("the claim detail has a table the flow does not know")
        method = fields.get("Payment method", "")
        return ClaimStatusResult(
            portal=self.name,
            payer_id=query.payer_id,
            as_of=datetime.now(UTC),
            raw_text=await results.inner_text(),
            claim_number=claim_number,
            patient_account_number=None if blank(account) else account,
            member_id=member_id,
            first_name=first,
            last_name=last,
            dob=dob,
            dos_from=dos_from,
            dos_to=dos_to,
            category=require(fields, "Status category"),
            status_code=fields.get("Status code"),
            status_text=fields.get("Status"),
            billed=money(fields.get("Billed amount")),
            allowed=money(fields.get("Allowed amount")),
            paid=money(fields.get("Paid amount")),
            patient_responsibility=money(fields.get("Patient responsibility")),
            received_date=us_date(fields.get("Received date")),
            adjudication_date=us_date(fields.get("Adjudication date")),
            payment_method=PAYMENT.get(method.strip()),
            payment_trace_number=None
            if blank(fields.get("Check/EFT number"))
            else fields["Check/EFT number"],
            payment_date=us_date(fields.get("Payment date")),
            service_lines=lines,
            adjustments=adjustments,
        )

    # --- API reads: the JSON the hub's own pages fetch, through the logged-in context ---------
    #
    # The same questions as the pages ask, the same answers required (the patient's ID and
    # date of birth, exactly one claim that fits), the same errors; no rendering and no
    # screenshot: the evidence is the portal's JSON response, saved as received.

    async def _api(
        self, page: Page, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Attachment]:
        """One call of the hub's API in the browser's session; errors as the pages show them."""
        response = await page.context.request.fetch(
            f"{self.base_url}{path}",
            method=method,
            headers={"Accept": "application/json"},
            data=body,
            fail_on_status_code=False,
        )
        try:
            data = await response.json()
        except Exception:  # an HTML error page, an empty body
            data = None
        status = response.status
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 401:
            raise SessionExpired("PayerHub ended the session")
        if status == 429:
            retry = response.headers.get("retry-after")
            if isinstance(data, dict) and data.get("retry_after") is not None:
                retry = str(data["retry_after"])
            raise RateLimited(
                "PayerHub asks us to slow down",
                retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        if error == "maintenance" or (status == 503 and isinstance(data, dict)):
            until = data.get("until") if isinstance(data, dict) else None
            raise PortalMaintenance(
                "PayerHub is in its maintenance window",
                until=datetime.fromisoformat(until) if isinstance(until, str) else None,
            )
        if status >= 500:
            raise PortalUnavailable("PayerHub answered with a server error")
        if status >= 400 or not isinstance(data, dict):
            # a request the hub no longer understands (a changed API) is a redesign
            raise LayoutChanged(f"PayerHub's API refused the request ({status} {error or '-'})")
        evidence = Attachment(
            filename=f"payerhub-{path.strip('/').split('/')[1]}-response.json",
            media_type="application/json",
            content=json.dumps(
                {
                    "portal": self.name,
                    "request": f"{method} {path}",
                    "status": status,
                    "received_at": datetime.now(UTC).isoformat(),
                    "response": data,
                },
                indent=1,
            ).encode(),
        )
        return data, evidence

    async def _api_eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        data, evidence = await self._api(
            page,
            "POST",
            "/api/eligibility",
            {
                "payer_id": query.payer_id,
                "npi": query.provider_npi or "",
                "member_id": query.member_id,
                "dob": query.dob.isoformat(),
                "date_of_service": query.date_of_service.isoformat(),
                "service_type": query.service_type,
            },
        )
        if data.get("result") == "candidates":
            fits = [
                c
                for c in data.get("candidates") or []
                if member_id_fits(str(c.get("member_id", "")), query.member_id)
                and _iso_date(c.get("dob")) == query.dob
            ]
            if len(fits) != 1:
                raise PatientMismatch(
                    f"{len(data.get('candidates') or [])} members share this ID; "
                    f"{len(fits)} have the date of birth asked for: a person must choose"
                )
            data, evidence = await self._api(
                page,
                "POST",
                "/api/eligibility/member",
                {
                    "token": fits[0].get("token"),
                    "date_of_service": query.date_of_service.isoformat(),
                    "service_type": query.service_type,
                },
            )
        if data.get("result") == "not_found":
            raise MemberNotFound("the portal found no match for the search")
        if data.get("result") != "detail":
            raise LayoutChanged("PayerHub's eligibility answer has an unknown shape")
        try:
            return _api_eligibility_result(self.name, query, data, evidence)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise LayoutChanged(
                f"PayerHub's eligibility answer changed shape ({type(exc).__name__})"
            ) from None

    async def _api_claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        number = query.claim_number or query.patient_account_number
        body: dict[str, Any] = {"payer_id": query.payer_id, "npi": query.provider_npi or ""}
        if number:
            body |= {"mode": "claim", "claim_number": number}
        elif query.member_id and query.dos_from:
            body |= {
                "mode": "member",
                "member_id": query.member_id,
                "dob": query.dob.isoformat() if query.dob else "",
                "dos_from": query.dos_from.isoformat(),
                "dos_to": (query.dos_to or query.dos_from).isoformat(),
            }
        else:
            raise LayoutChanged("a claim search needs a claim number or a member and dates")
        fits: list[dict[str, Any]] = []
        page_no, pages, total = 1, 1, 0
        while page_no <= pages:
            found, _ = await self._api(page, "POST", "/api/claims/search", body | {"page": page_no})
            total, pages = int(found.get("total", 0)), int(found.get("pages", 1))
            rows = found.get("results") or []
            if number and total == 1:
                fits = rows[:1]  # the hub opens a single hit directly, as its page does
                break
            fits += [r for r in rows if _api_claim_fits(r, query)]
            if len(fits) > 1:
                break
            page_no += 1
        if total == 0:
            raise ClaimNotFound("the portal found no match for the search")
        if not fits:
            raise ClaimNotFound("no claim on file matches the service dates and billed amount")
        if len(fits) > 1:
            raise AmbiguousMatch("several claims match the member and service dates")
        detail, evidence = await self._api(page, "GET", f"/api/claims/{fits[0]['id']}")
        try:
            return _api_claim_result(self.name, query, detail, evidence)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise LayoutChanged(
                f"PayerHub's claim answer changed shape ({type(exc).__name__})"
            ) from None

    # --- shared -----------------------------------------------------------------------------

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
    """Turn the hub's alert banner into the matching error."""
    lowered = text.strip().lower()
    _raise_for_outage(text)
    if any(s in lowered for s in SIGNED_OUT):
        raise SessionExpired("PayerHub ended the session")
    if "no member found" in lowered or "no claims found" in lowered:
        raise not_found("the portal found no match for the search")
    raise LayoutChanged("PayerHub showed an unexpected message")


def _raise_for_outage(text: str) -> None:
    """Maintenance, rate limit or server error banners: the portal is not answering."""
    lowered = text.strip().lower()
    if "scheduled maintenance" in lowered:
        raise PortalMaintenance(
            "PayerHub is in its maintenance window", until=next_clock_time(text, "America/New_York")
        )
    if "too many requests" in lowered:
        wait = re.search(r"wait (\d+) seconds", lowered)
        raise RateLimited(
            "PayerHub asks us to slow down", retry_after=float(wait.group(1)) if wait else None
        )
    if _server_error(lowered):
        raise PortalUnavailable("PayerHub answered with a server error")


def _server_error(text: str) -> bool:
    lowered = text.lower()
    return "error 5" in lowered or "something went wrong" in lowered


def _pcp(text: str) -> tuple[str | None, str | None]:
    if blank(text) or text.strip().lower() == "none on file":
        return None, None
    if "(NPI" in text:
        name, _, rest = text.partition("(NPI")
        return name.strip(), rest.strip(" )")
    return text.strip(), None


def _benefit(service_type: str, rec: dict[str, str]) -> Benefit:
    label, _, period = rec["Benefit"].partition(" (")
    kind = BENEFITS.get(label.strip())
    if kind is None:
        raise LayoutChanged("a benefit line has an unknown benefit name")
    amount_text = rec.get("Amount", "")
    return Benefit(
        service_type=service_type,
        benefit=kind,
        in_network=YesNoUnknown.YES if rec["Network"] == "In-network" else YesNoUnknown.NO,
        coverage_level=LEVELS.get(rec.get("Coverage level", "")),
        time_period=PERIODS.get(period.rstrip(")")) if period else None,
        amount=None if "%" in amount_text else money(amount_text),
        percent=percent(amount_text) if "%" in amount_text else None,
        total=money(rec.get("Total")),
        met=money(rec.get("Met")),
        remaining=money(rec.get("Remaining")),
        prior_auth_required=AUTH.get(rec.get("Prior authorization", ""), YesNoUnknown.UNKNOWN),
    )


def _claim_fits(rec: dict[str, str], query: ClaimStatusQuery) -> bool:
    dos_from, dos_to = date_range(rec.get("Service dates", ""))
    if query.dos_from and dos_from != query.dos_from:
        return False
    if query.dos_to and dos_to != query.dos_to:
        return False
    return query.billed is None or money(rec.get("Billed")) == query.billed


def _service_line(rec: dict[str, str]) -> ServiceLine:
    mods = tuple(m.strip() for m in rec.get("Modifiers", "").split(",") if not blank(m))
    return ServiceLine(
        line=int(rec["Line"]),
        procedure_code=rec["Procedure"],
        modifiers=mods,
        dos=us_date(rec.get("Service date")),
        units=number(rec.get("Units")),
        billed=money(rec.get("Billed")),
        allowed=money(rec.get("Allowed")),
        paid=money(rec.get("Paid")),
    )


def _adjustment(rec: dict[str, str]) -> Adjustment:
    remarks = tuple(r.strip() for r in rec.get("Remarks", "").split(",") if not blank(r))
    line = rec.get("Line", "")
    return Adjustment(
        group_code=AdjustmentGroup(rec["Group"]),
        carc=rec["Reason code"],
        rarc=remarks,
        amount=money(rec.get("Amount")),
        line=int(line) if line.isdigit() else None,
        description=rec.get("Description") or None,
    )


# --- the right patient or no result: one rule for pages and API answers alike --------------


def _same_member(query: EligibilityQuery, member_id: str, dob: date | None) -> None:
    if not member_id_fits(member_id, query.member_id) or dob != query.dob:
        raise PatientMismatch(
            "the eligibility answer is for a member whose ID or date of birth "
            "differs from the worklist"
        )


def _same_claim(
    query: ClaimStatusQuery,
    claim_number: str,
    account: str | None,
    member_id: str,
    dob: date | None,
) -> None:
    wanted = query.claim_number or query.patient_account_number
    if wanted and wanted.strip().upper() not in {claim_number.upper(), (account or "").upper()}:
        raise PatientMismatch("the claim shown is not the claim asked for")
    if (query.member_id and not same_member_id(member_id, query.member_id)) or (
        query.dob and dob != query.dob
    ):
        raise PatientMismatch(
            "the claim belongs to a member whose ID or date of birth differs from the worklist"
        )


# --- API answers -> results ------------------------------------------------------------------


def _iso_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _api_eligibility_result(
    portal: str, query: EligibilityQuery, data: dict[str, Any], evidence: Attachment
) -> EligibilityResult:
    member = data["member"]
    _same_member(query, member["member_id"], _iso_date(member["dob"]))
    benefits = []
    for group in data["benefit_groups"]:
        if group["service_type"] not in SERVICE_TYPES:
            raise LayoutChanged("a benefit group has a service type the flow does not know")
        benefits += [
            Benefit.model_validate({**b, "service_type": group["service_type"]})
            for b in group["benefits"]
        ]
    pcp = member.get("pcp") or {}
    return EligibilityResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=json.dumps(data, sort_keys=True),
        attachments=(evidence,),
        member_id=member["member_id"],
        first_name=member["first_name"].strip().upper(),  # names upper-cased, as read from pages
        last_name=member["last_name"].strip().upper(),
        dob=query.dob,
        relationship=(member.get("relationship") or "").lower() or None,
        date_of_service=_iso_date(data.get("date_of_service")) or query.date_of_service,
        coverage_active=bool(data["coverage_active"]),
        plan_name=member.get("plan_name"),
        plan_number=member.get("plan_number"),
        network_type=member.get("network_type"),
        group_number=member.get("group_number"),
        group_name=member.get("group_name"),
        effective_date=_iso_date(member.get("effective_date")),
        termination_date=_iso_date(member.get("termination_date")),
        other_coverage=YesNoUnknown.YES if member.get("other_coverage") else YesNoUnknown.NO,
        pcp_name=pcp.get("name"),
        pcp_npi=pcp.get("npi"),
        benefits=tuple(benefits),
    )


def _api_claim_fits(row: dict[str, Any], query: ClaimStatusQuery) -> bool:
    if query.dos_from and _iso_date(row.get("dos_from")) != query.dos_from:
        return False
    if query.dos_to and _iso_date(row.get("dos_to")) != query.dos_to:
        return False
    return query.billed is None or Decimal(str(row.get("billed"))) == query.billed


def _api_claim_result(
    portal: str, query: ClaimStatusQuery, data: dict[str, Any], evidence: Attachment
) -> ClaimStatusResult:
    claim_number, account = data["claim_number"], data.get("patient_account_number")
    dob = _iso_date(data.get("dob"))
    _same_claim(query, claim_number, account, data["member_id"], dob)
    status, payment = data["status"], data.get("payment") or {}
    return ClaimStatusResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=json.dumps(data, sort_keys=True),
        attachments=(evidence,),
        claim_number=claim_number,
        patient_account_number=None if blank(account) else account,
        member_id=data["member_id"],
        first_name=data["first_name"].strip().upper(),
        last_name=data["last_name"].strip().upper(),
        dob=dob,
        dos_from=_iso_date(data["dos_from"]),
        dos_to=_iso_date(data["dos_to"]),
        category=status["category"],
        status_code=status.get("code"),
        status_text=status.get("text"),
        billed=data.get("billed"),
        allowed=data.get("allowed"),
        paid=data.get("paid"),
        patient_responsibility=data.get("patient_responsibility"),
        received_date=_iso_date(data.get("received_date")),
        adjudication_date=_iso_date(data.get("adjudication_date")),
        payment_method=payment.get("method"),
        payment_trace_number=payment.get("trace_number") or None,
        payment_date=_iso_date(payment.get("date")),
        service_lines=tuple(ServiceLine.model_validate(r) for r in data["service_lines"]),
        adjustments=tuple(
            Adjustment.model_validate({**a, "description": a.get("description") or None})
            for a in data["adjustments"]
        ),
    )
