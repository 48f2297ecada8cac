"""PayerHub API reads: the JSON the hub's own pages fetch, asked through the logged-in context.

The same questions as the pages ask, the same answers required (the patient's ID and date
of birth, exactly one claim that fits: the one rule of bots/matching.py), the
same errors (the flow's ``ERROR_PAGES``, which knows the hub's JSON error answers too); no
rendering and no screenshot: the evidence is the portal's JSON response, saved as received.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from playwright.async_api import Page
from pydantic import ValidationError

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
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PatientMismatch,
)
from bots.flowkit.error_pages import ErrorPages, raise_for_error_page
from bots.flowkit.pages import blank
from bots.flowkit.readonly import portal_request
from bots.flowkit.words import Words
from bots.matching import (
    ShownClaim,
    check_claim,
    check_member,
    claim_fits,
    member_fits,
    one_candidate,
)
from bots.models import (
    Adjustment,
    Attachment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    ServiceLine,
)

# The API's codes and flags, read as strictly as the pages' words: a value the flow has not
# seen (a new network code, a missing prior-auth flag) is a changed API, never a default.
SERVICE = Words("service type", {code: code for code in SERVICE_TYPES})
BENEFIT = Words("benefit", {c.value: c for c in BenefitInfo})
NETWORK = Words("network", {c.value: c for c in YesNoUnknown})
LEVEL = Words("coverage level", {c.value: c for c in CoverageLevel}, blank=None)
PERIOD = Words("benefit period", {c.value: c for c in TimePeriod}, blank=None)
AUTH = Words("prior authorization", {c.value: c for c in YesNoUnknown})
COVERAGE = Words("coverage status", {"true": True, "false": False})
OTHER_COVERAGE = Words("other coverage", {"true": True, "false": False}, blank=None)
RELATIONSHIP = Words(
    "relationship", {"subscriber": "subscriber", "spouse": "spouse", "child": "child"}
)
CATEGORY = Words("claim status category", {code: code for code in CLAIM_STATUS_CATEGORIES})
PAYMENT = Words[Literal["CHK", "ACH"] | None](
    "payment method", {"CHK": "CHK", "ACH": "ACH"}, blank=None
)
GROUP = Words("adjustment group", {g.value: g for g in AdjustmentGroup})


@dataclass(frozen=True)
class HubApi:
    """The hub's API for one flow: its address, its name in results, its error pages."""

    base_url: str
    portal: str
    error_pages: ErrorPages

    async def _call(
        self, page: Page, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Attachment]:
        """One call of the hub's API in the browser's session; errors as the pages show them."""
        response = await portal_request(  # the engine's read-only allowlist applies
            page,
            method,
            f"{self.base_url}{path}",
            headers={"Accept": "application/json"},
            data=body,
        )
        body_bytes = await response.body()
        try:
            data = json.loads(body_bytes)
        except ValueError:  # an HTML error page, an empty body
            data = None
        status = response.status
        raise_for_error_page(
            self.error_pages,
            status=status,
            headers=response.headers,
            body=data if isinstance(data, dict) else None,
        )
        if not isinstance(data, dict):  # a 2xx that is not the hub's JSON: its API changed
            raise LayoutChanged(f"PayerHub's API answered {status} without a JSON object")
        received = {
            "portal": self.portal,
            "request": f"{method} {path}",
            "status": status,
            "received_at": datetime.now(UTC).isoformat(),
        }
        evidence = Attachment(
            filename=f"payerhub-{path.strip('/').split('/')[1]}-response.json",
            media_type="application/json",
            content=_kept(received, body_bytes),
        )
        return data, evidence

    async def landmarks(self, page: Page) -> list[str]:
        """What the API reads rely on inside the session, asked of the API itself (the drift
        canary's search stage): the hub's payer list as JSON, one GET, no page loaded. The
        search pages are not what these reads use: their redesign must not pause them."""
        response = await portal_request(
            page, "GET", f"{self.base_url}/api/payers", headers={"Accept": "application/json"}
        )
        try:
            data = await response.json()
        except Exception:  # an HTML page, an empty body
            data = None
        try:  # an outage, a 429, an ended session raise as in a lookup
            raise_for_error_page(
                self.error_pages,
                status=response.status,
                headers=response.headers,
                body=data if isinstance(data, dict) else None,
            )
        except LayoutChanged:  # a 404: the API moved, which is drift (listed below)
            data = None
        payers = data if isinstance(data, list) else []
        if response.status == 200 and payers and all(_payer(p) for p in payers):
            return []
        return [f"PayerHub's API: no payer list (GET /api/payers answered {response.status})"]

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        data, evidence = await self._call(
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
            chosen = one_candidate(
                data.get("candidates") or [],
                lambda c: member_fits(
                    query.member_id, query.dob, str(c.get("member_id", "")), _iso_date(c.get("dob"))
                ),
                not_found=PatientMismatch,
                what="members",
            )
            data, evidence = await self._call(
                page,
                "POST",
                "/api/eligibility/member",
                {
                    "token": chosen.get("token"),
                    "date_of_service": query.date_of_service.isoformat(),
                    "service_type": query.service_type,
                },
            )
        if data.get("result") == "not_found":
            raise MemberNotFound("the portal found no match for the search")
        if data.get("result") != "detail":
            raise LayoutChanged("PayerHub's eligibility answer has an unknown shape")
        try:
            return _eligibility_result(self.portal, query, data, evidence)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise LayoutChanged(
                f"PayerHub's eligibility answer changed shape ({type(exc).__name__})"
            ) from None

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
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
            raise AssertionError("ClaimStatusQuery validates its shape")
        fits: list[dict[str, Any]] = []
        page_no, pages, total = 1, 1, 0
        while page_no <= pages:
            found, _ = await self._call(
                page, "POST", "/api/claims/search", body | {"page": page_no}
            )
            try:  # a search answer without its counts or rows is a changed API, not "none"
                total, pages = int(found["total"]), int(found["pages"])
                rows = list(found["results"])
            except (KeyError, TypeError, ValueError):
                raise LayoutChanged("PayerHub's claim search answer changed shape") from None
            if number and total == 1:
                fits = rows[:1]  # the hub opens a single hit directly, as its page does
                break
            fits += [r for r in rows if claim_fits(query, _listed_claim(r))]
            if len(fits) > 1:
                break
            page_no += 1
        if total == 0:
            raise ClaimNotFound("the portal found no match for the search")
        chosen = one_candidate(fits, lambda _: True, not_found=ClaimNotFound, what="claims")
        detail, evidence = await self._call(page, "GET", f"/api/claims/{chosen['id']}")
        try:
            return _claim_result(self.portal, query, detail, evidence)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise LayoutChanged(
                f"PayerHub's claim answer changed shape ({type(exc).__name__})"
            ) from None


def _kept(received: dict[str, Any], body: bytes) -> bytes:
    """The evidence file: what was asked and when, and the portal's JSON as received, its
    bytes untouched (not parsed and written again: re-encoding a large answer cost more
    CPU than the rest of the lookup). ``body`` is JSON already read without error."""
    fields = "".join(f"{json.dumps(k)}: {json.dumps(v)},\n " for k, v in received.items())
    return b"{" + fields.encode() + b'"response": ' + body + b"\n}\n"


def _payer(row: Any) -> bool:
    """A payer of the hub's list: an object with its payer ID."""
    return isinstance(row, dict) and bool(row.get("payer_id"))


def _iso_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _eligibility_result(
    portal: str, query: EligibilityQuery, data: dict[str, Any], evidence: Attachment
) -> EligibilityResult:
    member = data["member"]
    dob = _iso_date(member["dob"])
    check_member(query, member["member_id"], dob)
    benefits = []
    for group in data["benefit_groups"]:
        service = SERVICE.read_value(group["service_type"])
        benefits += [_benefit(service, b) for b in group["benefits"]]
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
        dob=dob,
        relationship=RELATIONSHIP.read_value(member["relationship"]),
        date_of_service=_iso_date(data.get("date_of_service")) or query.date_of_service,
        coverage_active=COVERAGE.read_value(data["coverage_active"]),
        plan_name=member.get("plan_name"),
        plan_number=member.get("plan_number"),
        network_type=member.get("network_type"),
        group_number=member.get("group_number"),
        group_name=member.get("group_name"),
        effective_date=_iso_date(member.get("effective_date")),
        termination_date=_iso_date(member.get("termination_date")),
        other_coverage=OTHER_COVERAGE.read_value(member["other_coverage"]),
        pcp_name=pcp.get("name"),
        pcp_npi=pcp.get("npi"),
        benefits=tuple(benefits),
    )


def _benefit(service: str, b: dict[str, Any]) -> Benefit:
    """One benefit line; every coded field must be present and known (KeyError: changed)."""
    return Benefit.model_validate(
        {
            **b,
            "service_type": service,
            "benefit": BENEFIT.read_value(b["benefit"]),
            "in_network": NETWORK.read_value(b["in_network"]),
            "coverage_level": LEVEL.read_value(b["coverage_level"]),
            "time_period": PERIOD.read_value(b["time_period"]),
            "prior_auth_required": AUTH.read_value(b["prior_auth_required"]),
        }
    )


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _listed_claim(row: dict[str, Any]) -> ShownClaim:
    """What a claim search hit shows, for the one claim-fits rule."""
    return ShownClaim(
        claim_number=row.get("claim_number"),
        dos_from=_iso_date(row.get("dos_from")),
        dos_to=_iso_date(row.get("dos_to")),
        billed=_money(row.get("billed")),
    )


def _claim_result(
    portal: str, query: ClaimStatusQuery, data: dict[str, Any], evidence: Attachment
) -> ClaimStatusResult:
    claim_number, account = data["claim_number"], data.get("patient_account_number")
    dob = _iso_date(data.get("dob"))
    shown = ShownClaim(
        claim_number=claim_number,
        patient_account_number=None if blank(account) else account,
        member_id=data["member_id"],
        dob=dob,
        dos_from=_iso_date(data["dos_from"]),
        dos_to=_iso_date(data["dos_to"]),
        billed=_money(data.get("billed")),
    )
    check_claim(query, shown)
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
        category=CATEGORY.read_value(status["category"]),
        status_code=status.get("code"),
        status_text=status.get("text"),
        billed=data.get("billed"),
        allowed=data.get("allowed"),
        paid=data.get("paid"),
        patient_responsibility=data.get("patient_responsibility"),
        received_date=_iso_date(data.get("received_date")),
        adjudication_date=_iso_date(data.get("adjudication_date")),
        payment_method=PAYMENT.read_value(payment.get("method")),
        payment_trace_number=payment.get("trace_number") or None,
        payment_date=_iso_date(payment.get("date")),
        service_lines=tuple(ServiceLine.model_validate(r) for r in data["service_lines"]),
        adjustments=tuple(
            Adjustment.model_validate(
                {
                    **a,
                    "group_code": GROUP.read_value(a["group_code"]),
                    "description": a.get("description") or None,
                }
            )
            for a in data["adjustments"]
        ),
    )
