"""Ground truth -> the normalized result payload the bot must produce (independent of the flow)."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bots.codes import CLAIM_STATUS_CATEGORIES, CoverageLevel, YesNoUnknown

PHI_COLUMNS = ("Patient Last", "Patient First", "DOB", "Member ID", "Claim #", "Patient Acct #")
SEGMENT_PORTALS = {"medicaidportal"}
"""Portals whose eligibility page lists coverage segments: a date of service none of them
spans is no answer (``no_coverage_on_date``), never a segment picked in its place."""
BUSINESS_OUTCOMES = {
    "member_not_found",
    "claim_not_found",
    "patient_mismatch",
    "ambiguous_match",
    "no_coverage_on_date",
}


def member(gt: dict[str, Any], member_key: str) -> dict[str, Any]:
    return next(m for m in gt["members"] if m["member_key"] == member_key)


def _money(value: Any) -> str | None:
    return None if value is None else str(Decimal(str(value)).quantize(Decimal("0.01")))


def _benefit_key(b: dict[str, Any]) -> tuple[str, ...]:
    return (
        b["service_type"],
        b["benefit"],
        b["in_network"],
        b.get("coverage_level") or "",
        b.get("time_period") or "",
    )


def portal_of(gt: dict[str, Any], payer_id: str) -> str:
    return str(next(p["portal"] for p in gt["payers"] if p["payer_id"] == payer_id))


def coverage_segment(m: dict[str, Any], dos: date) -> dict[str, Any] | None:
    """The member's coverage span (``coverage.segments`` when listed) holding the date."""
    cov = m["coverage"]
    for seg in cov.get("segments") or [cov]:
        end = seg["termination_date"]
        if date.fromisoformat(seg["effective_date"]) <= dos and (
            end is None or dos <= date.fromisoformat(end)
        ):
            return dict(seg)
    return None


def expected_eligibility_outcome(gt: dict[str, Any], member_key: str, dos: date) -> str:
    """How looking this member up on this date ends: "result", or the failure's code.

    Strict reading: a portal that lists coverage segments answers nothing for a date none
    of them spans; a benefit word outside the X12 tables the flows know is a changed page."""
    m = member(gt, member_key)
    if portal_of(gt, m["payer_id"]) in SEGMENT_PORTALS and coverage_segment(m, dos) is None:
        return "no_coverage_on_date"
    known = {
        "in_network": {c.value for c in YesNoUnknown},
        "prior_auth_required": {c.value for c in YesNoUnknown},
        "coverage_level": {c.value for c in CoverageLevel} | {None},
    }
    words = [b[k] for b in m["benefits"] for k in known if b[k] not in known[k]]
    return "layout_changed" if words and coverage_segment(m, dos) else "result"


def expected_claim_outcome(gt: dict[str, Any], claim_number: str) -> str:
    """How a lookup of a claim on file by its number ends: "result", or "layout_changed"
    when its status category is one the flows were never taught (not in bots.codes)."""
    c = next(c for c in gt["claims"] if c["claim_number"] == claim_number)
    return "result" if c["status"]["category"] in CLAIM_STATUS_CATEGORIES else "layout_changed"


def claims_fitting(
    gt: dict[str, Any],
    payer_id: str,
    member_id: str,
    dos_from: date,
    dos_to: date,
    billed: str | None = None,
) -> list[str]:
    """The claims a member + dates question fits: the member's claims whose service dates
    lie inside the asked range (and whose billed amount is the one asked, when asked)."""
    return [
        c["claim_number"]
        for c in gt["claims"]
        if c["payer_id"] == payer_id
        and c["member_id"] == member_id
        and dos_from.isoformat() <= c["dos_from"] <= c["dos_to"] <= dos_to.isoformat()
        and (not billed or _money(c["billed"]) == _money(billed))
    ]


def claim_question_outcome(fits: list[str]) -> str:
    """No fitting claim is "claim_not_found", one is its lookup, several are "ambiguous_match"."""
    if not fits:
        return "claim_not_found"
    return "ambiguous_match" if len(fits) > 1 else "result"


def benefit_flags(gt: dict[str, Any], member_key: str, service_type: str) -> dict[str, Any]:
    """What a person must read for a service type: prior auth per network (Y/N/U, U shown
    as unknown, never "no") and coinsurance in and out of network (None: not stated)."""
    rows = [b for b in member(gt, member_key)["benefits"] if b["service_type"] == service_type]
    coins = {b["in_network"]: b["percent"] for b in rows if b["benefit"] == "A"}
    return {
        "prior_auth": sorted({b["prior_auth_required"] for b in rows}),
        "coinsurance_in_network": coins.get("Y"),
        "coinsurance_out_of_network": coins.get("N"),
    }


def expected_eligibility(
    gt: dict[str, Any], member_key: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """What a correct EligibilityResult for this member on the payload's date of service holds."""
    m = member(gt, member_key)
    dos = date.fromisoformat(payload["date_of_service"])
    cov = m["coverage"]
    segment = coverage_segment(m, dos)
    active = segment is not None
    if segment is not None and cov.get("segments"):
        cov = {**cov, **segment}  # the page's answer is read off the segment spanning the date
    benefits = []
    if active:
        for b in m["benefits"]:
            benefits.append(
                {
                    "service_type": b["service_type"],
                    "benefit": b["benefit"],
                    "in_network": b["in_network"],
                    "coverage_level": b["coverage_level"],
                    "time_period": b["time_period"],
                    "amount": _money(b["amount"]),
                    "percent": b["percent"],
                    "total": _money(b["total"]),
                    "met": _money(b["met"]),
                    "remaining": _money(b["remaining"]),
                    "prior_auth_required": b["prior_auth_required"],
                }
            )
    got = sorted(payload["benefits"], key=_benefit_key)
    payload_benefits = got  # compared sorted: the page orders sections by the service asked for
    expected = {
        "payer_id": m["payer_id"],
        "member_id": m["member_id"],
        "first_name": m["first_name"].upper(),
        "last_name": m["last_name"].upper(),
        "dob": m["dob"],
        "relationship": m["relationship"],
        "date_of_service": payload["date_of_service"],
        "coverage_active": active,
        "plan_name": m["plan_name"],
        "plan_number": m["plan_number"],
        "network_type": m["network_type"],
        "group_number": m["group_number"],
        "group_name": m["group_name"],
        "effective_date": cov["effective_date"],
        "termination_date": cov["termination_date"],
        "other_coverage": cov["other_coverage"],
        "pcp_name": m["pcp"]["name"] if m["pcp"] else None,
        "pcp_npi": m["pcp"]["npi"] if m["pcp"] else None,
        "benefits": sorted(benefits, key=_benefit_key),
    }
    payload["benefits"] = payload_benefits
    return expected


def expected_claim(
    gt: dict[str, Any], claim_number: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """What a correct ClaimStatusResult for this claim holds."""
    c = next(c for c in gt["claims"] if c["claim_number"] == claim_number)
    m = member(gt, c["member_key"])
    payment = c["payment"] or {}
    for adj in payload["adjustments"]:
        adj.pop("description", None)  # the portal's wording of the CARC, not ground truth
    return {
        "payer_id": c["payer_id"],
        "claim_number": c["claim_number"],
        "patient_account_number": c["patient_account_number"],
        "member_id": c["member_id"],
        "first_name": m["first_name"].upper(),
        "last_name": m["last_name"].upper(),
        "dob": m["dob"],
        "dos_from": c["dos_from"],
        "dos_to": c["dos_to"],
        "category": c["status"]["category"],
        "status_code": c["status"]["code"],
        "billed": _money(c["billed"]),
        "allowed": _money(c["allowed"]),
        "paid": _money(c["paid"]),
        "patient_responsibility": _money(c["patient_responsibility"]),
        "received_date": c["received_date"],
        "adjudication_date": c["adjudication_date"],
        "payment_method": payment.get("method"),
        "payment_trace_number": payment.get("trace_number"),
        "payment_date": payment.get("date"),
        "service_lines": [
            {
                "line": s["line"],
                "procedure_code": s["procedure_code"],
                "modifiers": s["modifiers"],
                "dos": s["dos"],
                "units": str(s["units"]),
                "billed": _money(s["billed"]),
                "allowed": _money(s["allowed"]),
                "paid": _money(s["paid"]),
            }
            for s in c["service_lines"]
        ],
        "adjustments": [
            {
                "group_code": a["group_code"],
                "carc": a["carc"],
                "rarc": a["rarc"],
                "amount": _money(a["amount"]),
                "line": a["line"],
            }
            for a in c["adjustments"]
        ],
    }


def phi_strings(gt: dict[str, Any], worklist: Path) -> list[str]:
    """Every PHI value a run over this worklist handles, in the forms a log could show."""
    values: set[str] = set()
    with worklist.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            for column in PHI_COLUMNS:
                text = (row.get(column) or "").strip()
                if len(text) >= 3:
                    values.add(text)
                    if column == "DOB":
                        values.add(datetime.strptime(text, "%m/%d/%Y").date().isoformat())
    return sorted(values)


def contains_word(text: str, value: str) -> bool:
    return (
        re.search(rf"(?<![A-Z0-9]){re.escape(value.upper())}(?![A-Z0-9])", text.upper()) is not None
    )


def _subset_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A result payload without the fields that differ per run (time, evidence, raw text)."""
    # status_text is each portal's own wording: the codes carry the meaning, compared exactly
    drop = {"as_of", "evidence", "raw_text", "portal", "kind", "attachments", "status_text"}
    return {k: v for k, v in payload.items() if k not in drop}
