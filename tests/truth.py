"""Ground truth -> the normalized result payload the bot must produce (independent of the flow)."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

PHI_COLUMNS = ("Patient Last", "Patient First", "DOB", "Member ID", "Claim #", "Patient Acct #")


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


def expected_eligibility(
    gt: dict[str, Any], member_key: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """What a correct EligibilityResult for this member on the payload's date of service holds."""
    m = member(gt, member_key)
    dos = date.fromisoformat(payload["date_of_service"])
    cov = m["coverage"]
    active = date.fromisoformat(cov["effective_date"]) <= dos and (
        cov["termination_date"] is None or dos <= date.fromisoformat(cov["termination_date"])
    )
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
    # a confidential Medicaid recipient's answer shows no identity: the flow declares how
    # it knows the answer is theirs (searched by ID + date of birth, exactly one found)
    withheld = bool(m.get("confidential")) and payload.get("portal") == "medicaidportal"
    expected = {
        "payer_id": m["payer_id"],
        "identity_basis": "search_unique" if withheld else "shown",
        "member_id": None if withheld else m["member_id"],
        "first_name": None if withheld else m["first_name"].upper(),
        "last_name": None if withheld else m["last_name"].upper(),
        "dob": None if withheld else m["dob"],
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
        "identity_basis": "shown",
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
