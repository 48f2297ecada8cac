"""Ground truth -> the normalized result payload the bot must produce (independent of the flow)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
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


# --- the truth audit's expectations (tests/test_truth_audit.py) --------------------------------
# Everything below is computed from the ground truth, the worklist row and the practice's
# configuration files (config/*.toml, data), never from bots/ or flows/ code, so a defect in
# the bot's flows or outputs cannot hide by being repeated in the expectation.

ROUTINE_CARCS = frozenset({"45", "1", "2", "3"})  # contractual + PR deductible/coins/copay

# Outcome codes as the store records them; the fixture generator's spelling on the left.
OUTCOME_CODES = {"ambiguous": "ambiguous_match"}
# A trap of the data set that does not say what the bot must do with it (no
# ``expected_outcome`` key) but whose kind decides it: kind -> outcome code. A portal word
# the flow never saw is a layout change, never a guessed answer.
TRAP_OUTCOMES: dict[str, str] = {
    "unseen_status_word": "layout_changed",  # portalkit.strict_traps: a 277 category (R1)
    "unseen_word": "layout_changed",
    "unknown_word": "layout_changed",
    "new_word": "layout_changed",
}
# Outcome codes that are the bot's failures, not the portal's answer (state system_failed).
SYSTEM_OUTCOMES = frozenset({"layout_changed", "read_only_violation", "flow_error"})


def expected_state(outcome: str) -> str:
    """The item state an expected outcome code ends in."""
    if outcome == "result":
        return "succeeded"
    return "system_failed" if outcome in SYSTEM_OUTCOMES else "business_failed"


def _config(name: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads((Path(__file__).resolve().parent.parent / "config" / name).read_text())


def _norm_id(text: str | None) -> str:
    return re.sub(r"[\s\-]", "", text or "").upper()


def _norm_word(text: str | None) -> str:
    return " ".join((text or "").split()).upper()


def us_date(d: date | str | None) -> str:
    if d is None:
        return ""
    d = date.fromisoformat(d) if isinstance(d, str) else d
    return f"{d:%m/%d/%Y}"


def _worklist_date(text: str) -> date:
    """A worklist date: MM/DD/YYYY, or MM/DD/YY with the century of the field's own kind
    decided by the caller (see ``worklist_dates``)."""
    return datetime.strptime(text.strip(), "%m/%d/%Y").date()


def _two_digit(text: str, *, past: bool, today: date) -> date:
    """MM/DD/YY: a date of birth lies in the past; a date of service near today."""
    month, day, yy = (int(p) for p in text.strip().split("/"))
    candidates = [date(c + yy, month, day) for c in (1900, 2000, 2100)]
    if past:
        return max(d for d in candidates if d <= today)
    return min(candidates, key=lambda d: abs((d - today).days))


def parse_worklist_date(text: str, *, past: bool, today: date | None = None) -> date:
    today = today or date.today()
    if re.fullmatch(r"\s*\d{1,2}/\d{1,2}/\d{2}\s*", text):
        return _two_digit(text, past=past, today=today)
    return _worklist_date(text)


def payer_for(name: str) -> str | None:
    """The payer a worklist's insurance name means, from config/portals.toml's aliases."""
    wanted = _norm_word(name)
    for payer_id, payer in _config("portals.toml").get("payers", {}).items():
        names = {payer_id, payer.get("name", ""), *payer.get("aliases", [])}
        if wanted in {_norm_word(n) for n in names}:
            return str(payer_id)
    return None


def service_type_for(visit_type: str | None) -> str:
    """config/worklists.toml's visit types -> X12 service type (not listed: plan level 30)."""
    types = _config("worklists.toml")["worklists"].get("visit_types", {})
    wanted = _norm_word(visit_type).casefold()
    return next((v for k, v in types.items() if _norm_word(k).casefold() == wanted), "30")


def _segments(m: dict[str, Any]) -> list[dict[str, Any]]:
    """A member's coverage segments: ``coverage.segments`` when the data set lists several,
    else the one ``coverage``."""
    cov = m["coverage"]
    segs = cov.get("segments")
    if isinstance(segs, list) and segs:
        return [{**cov, **seg} for seg in segs]  # a segment overrides the coverage's dates
    return [cov]


def coverage_on(m: dict[str, Any], dos: date) -> tuple[dict[str, Any], bool]:
    """The segment a date of service falls in (active), else the last one that began before
    it (inactive), else the first (inactive: not yet effective)."""
    segs = sorted(_segments(m), key=lambda s: s["effective_date"])
    for s in segs:
        ends = s["termination_date"]
        if date.fromisoformat(s["effective_date"]) <= dos and (
            ends is None or dos <= date.fromisoformat(ends)
        ):
            return s, True
    before = [s for s in segs if date.fromisoformat(s["effective_date"]) <= dos]
    return (before[-1] if before else segs[0]), False


def expected_eligibility_for(gt: dict[str, Any], member_key: str, dos: date) -> dict[str, Any]:
    """The normalized EligibilityResult payload (without per-run fields) for a member on a
    date of service; benefits sorted by ``_benefit_key``."""
    m = member(gt, member_key)
    cov, active = coverage_on(m, dos)
    # a confidential Medicaid recipient's answer shows no identity: the flow declares how
    # it knows the answer is theirs (searched by ID + date of birth, exactly one found)
    withheld = bool(m.get("confidential")) and portal_of(gt, m["payer_id"]) == "medicaidportal"
    benefits = [
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
        for b in (m["benefits"] if active else [])
    ]
    return {
        "payer_id": m["payer_id"],
        "identity_basis": "search_unique" if withheld else "shown",
        "member_id": None if withheld else m["member_id"],
        "first_name": None if withheld else m["first_name"].upper(),
        "last_name": None if withheld else m["last_name"].upper(),
        "dob": None if withheld else m["dob"],
        "relationship": m["relationship"],
        "date_of_service": dos.isoformat(),
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


def expected_claim_for(gt: dict[str, Any], claim_number: str) -> dict[str, Any]:
    """The normalized ClaimStatusResult payload (without per-run fields) of a claim."""
    return expected_claim(gt, claim_number, {"adjustments": []})


# --- which answer a worklist row must get ------------------------------------------------------


@dataclass
class Expected:
    """What one worklist row must end as, from the ground truth alone."""

    kind: str  # "eligibility" | "claim_status"
    row: int  # the worklist's row number (header = 1)
    cells: dict[str, str]  # the worklist row as written (PHI: never printed)
    payer_id: str | None
    portal: str | None
    outcome: str  # "result" or the store's outcome code
    rule: str  # which rule decided it (no PHI): "exact member id", "trap:twins", ...
    member_key: str | None = None
    claim_number: str | None = None
    service_type: str | None = None
    payload: dict[str, Any] | None = None
    worklist: str = ""  # the worklist's file name (several worklists share a kind)

    @property
    def trap(self) -> str:
        return self.rule

    @property
    def answered(self) -> bool:
        return self.outcome == "result"


def _flagged(gt: dict[str, Any], *, member_key: str | None = None, claim: str | None = None):
    """A trap of the data set that names its own expected outcome (``expected_outcome``) for
    this member or claim: new fixture traps declare what the bot must do with them."""
    for t in gt.get("traps", []):
        if "expected_outcome" not in t and t.get("kind") not in TRAP_OUTCOMES:
            continue
        keys = {t.get("member_key"), *t.get("member_keys", [])}
        claims = {t.get("claim_number"), *t.get("claim_numbers", [])}
        if (member_key and member_key in keys) or (claim and claim in claims):
            return t
    return None


def _trap_outcome(trap: dict[str, Any]) -> str:
    code = str(trap.get("expected_outcome") or TRAP_OUTCOMES[trap["kind"]])
    return OUTCOME_CODES.get(code, code)


def _eligibility_expected(gt: dict[str, Any], row: int, cells: dict[str, str]) -> Expected:
    payer_id = payer_for(cells.get("Insurance", ""))
    portal = next((p["portal"] for p in gt["payers"] if p["payer_id"] == payer_id), None)
    asked = _norm_id(cells.get("Member ID"))
    dob = parse_worklist_date(cells["DOB"], past=True)
    dos = parse_worklist_date(cells["Appt Date"], past=False)
    service = service_type_for(cells.get("Visit Type"))
    base = dict(kind="eligibility", row=row, cells=cells, payer_id=payer_id, portal=portal)
    base["service_type"] = service
    theirs = [m for m in gt["members"] if m["payer_id"] == payer_id]
    exact = [m for m in theirs if _norm_id(m["member_id"]) == asked]
    if exact:
        m = exact[0]
        if date.fromisoformat(m["dob"]) != dob:  # the portal shows the ID's owner, not ours
            return Expected(**base, outcome="patient_mismatch", rule="member id, other dob")
        found, rule = m, "exact member id"
    else:
        family = [m for m in theirs if _norm_id(m["subscriber_id"]) == asked]
        if not family:
            return Expected(**base, outcome="member_not_found", rule="unknown member id")
        same_dob = [m for m in family if date.fromisoformat(m["dob"]) == dob]
        if len(same_dob) > 1:  # twins: two patients fit equally well, a person must choose
            return Expected(**base, outcome="ambiguous_match", rule="subscriber id, twins")
        if not same_dob:  # nobody of the family has this date of birth
            return Expected(**base, outcome="patient_mismatch", rule="subscriber id, other dob")
        found, rule = same_dob[0], "subscriber id + dob"
    flag = _flagged(gt, member_key=found["member_key"])
    if flag is not None:
        code = _trap_outcome(flag)
        if code != "result":
            return Expected(**base, outcome=code, rule=f"trap:{flag['kind']}")
    strict = expected_eligibility_outcome(gt, found["member_key"], dos)
    if strict != "result":  # no segment spans the date, or a word the flows never learned
        return Expected(**base, outcome=strict, rule=f"strict:{strict}")
    return Expected(
        **base,
        outcome="result",
        rule=rule,
        member_key=found["member_key"],
        payload=expected_eligibility_for(gt, found["member_key"], dos),
    )


def _overlaps(c: dict[str, Any], start: date, end: date) -> bool:
    return date.fromisoformat(c["dos_from"]) <= end and start <= date.fromisoformat(c["dos_to"])


def _claim_expected(gt: dict[str, Any], row: int, cells: dict[str, str]) -> Expected:
    payer_id = payer_for(cells.get("Payer", ""))
    portal = next((p["portal"] for p in gt["payers"] if p["payer_id"] == payer_id), None)
    base = dict(kind="claim_status", row=row, cells=cells, payer_id=payer_id, portal=portal)
    number = (cells.get("Claim #") or "").strip()
    account = (cells.get("Patient Acct #") or "").strip()
    asked_member = _norm_id(cells.get("Member ID"))
    dob = parse_worklist_date(cells["DOB"], past=True) if cells.get("DOB") else None
    theirs = [c for c in gt["claims"] if c["payer_id"] == payer_id]
    if number:
        candidates, rule = [c for c in theirs if c["claim_number"] == number], "claim number"
    elif account:
        candidates = [c for c in theirs if c["patient_account_number"] == account]
        rule = "account number"
    else:
        start = parse_worklist_date(cells["DOS From"], past=False)
        end = parse_worklist_date(cells.get("DOS To") or cells["DOS From"], past=False)
        # the claim-fits rule: a claim of this member whose service dates meet the range
        candidates = [
            c
            for c in theirs
            if _norm_id(c["member_id"]) == asked_member and _overlaps(c, start, end)
        ]
        rule = "member + dates"
    if not candidates:
        return Expected(**base, outcome="claim_not_found", rule=f"{rule}: none")
    if len(candidates) > 1:
        return Expected(**base, outcome="ambiguous_match", rule=f"{rule}: several")
    c = candidates[0]
    owner = member(gt, c["member_key"])
    if (asked_member and _norm_id(c["member_id"]) != asked_member) or (
        dob is not None and date.fromisoformat(owner["dob"]) != dob
    ):
        return Expected(**base, outcome="patient_mismatch", rule=f"{rule}: another member")
    flag = _flagged(gt, claim=c["claim_number"])
    if flag is not None:
        code = _trap_outcome(flag)
        if code != "result":
            return Expected(**base, outcome=code, rule=f"trap:{flag['kind']}")
    return Expected(
        **base,
        outcome="result",
        rule=rule,
        claim_number=c["claim_number"],
        payload=expected_claim_for(gt, c["claim_number"]),
    )


def expected_worklist(gt: dict[str, Any], kind: str, worklist: Path) -> list[Expected]:
    """Every row of a worklist with the answer (or the outcome code) it must get."""
    with worklist.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    build = _eligibility_expected if kind == "eligibility" else _claim_expected
    rows_expected = [
        build(gt, i, {k: (v or "") for k, v in r.items()}) for i, r in enumerate(rows, 2)
    ]
    for e in rows_expected:
        e.worklist = worklist.name
    return rows_expected


# --- what a person must read for a benefit ---------------------------------------------------

PRIOR_AUTH_WORDS = {"Y": "Required", "N": "Not required", "U": "Unknown"}


def benefit(
    payload: dict[str, Any], service_type: str, code: str, network: str, level: str | None = "IND"
) -> dict[str, Any] | None:
    """The benefit line of an (expected) payload: service type, EB01, network (W counts as
    both), coverage level (None: any)."""
    for b in payload["benefits"]:
        if (
            b["service_type"] == service_type
            and b["benefit"] == code
            and b["in_network"] in (network, "W")
            and (level is None or b["coverage_level"] in (level, None))
        ):
            return b
    return None


def prior_auth(payload: dict[str, Any], service_type: str) -> str:
    """Required / Not required / Unknown for the service asked, read from the in-network
    lines (in network Y, both W, or unstated U) of that service type: any Y is Required,
    all N is Not required, anything else (U, or nothing said) is Unknown."""
    flags = {
        b["prior_auth_required"]
        for b in payload["benefits"]
        if b["service_type"] == service_type and b["in_network"] in ("Y", "W", "U")
    }
    if "Y" in flags:
        return "Required"
    if flags == {"N"}:
        return "Not required"
    return "Unknown"


# --- follow-ups the rules must raise -----------------------------------------------------------


@dataclass(frozen=True)
class ExpectedFollowUp:
    rule: str
    says: tuple[str, ...]  # texts its reason must contain (dates, codes: no PHI)
    category: str | None = None


def _denial_category(adjustments: list[dict[str, Any]]) -> str:
    carcs = {a["carc"] for a in adjustments if a["carc"] not in ROUTINE_CARCS}
    for key, category in _config("followups.toml")["followups"].get("denials", {}).items():
        if carcs & set(category.get("carcs", [])):
            return str(key)
    return "other"


def expected_followups(e: Expected, as_of: date) -> list[ExpectedFollowUp]:
    """The follow-ups config/followups.toml's rules must raise for this row's answer."""
    pended_days = int(_config("followups.toml")["followups"].get("pended_days", 30))
    if not e.answered:
        return {
            "member_not_found": [ExpectedFollowUp("member_not_found", ())],
            "claim_not_found": [ExpectedFollowUp("claim_not_on_file", ())],
            "patient_mismatch": [ExpectedFollowUp("patient_review", ())],
            "ambiguous_match": [ExpectedFollowUp("patient_review", ())],
            "no_coverage_on_date": [ExpectedFollowUp("no_coverage_on_date", ())],
        }.get(e.outcome, [])
    p = e.payload
    assert p is not None
    found: list[ExpectedFollowUp] = []
    if e.kind == "eligibility":
        dos = us_date(p["date_of_service"])
        if not p["coverage_active"]:
            ends = p["termination_date"]
            if ends is not None and ends < p["date_of_service"]:
                return [ExpectedFollowUp("coverage_terminated", (us_date(ends), dos))]
            return [ExpectedFollowUp("coverage_inactive", (dos,))]
        on_file = re.sub(r"[^A-Z0-9]", "", e.cells.get("Group #", "").upper())
        payer_group = re.sub(r"[^A-Z0-9]", "", (p["group_number"] or "").upper())
        if on_file and payer_group and on_file != payer_group:
            found.append(ExpectedFollowUp("plan_changed", ()))
        if prior_auth(p, e.service_type or "30") == "Required":
            found.append(ExpectedFollowUp("prior_auth_required", (e.service_type or "30",)))
        return found
    category = p["category"]
    non_routine = [a for a in p["adjustments"] if a["carc"] not in ROUTINE_CARCS]
    if category == "F2" or (category == "F4" and non_routine):
        found.append(
            ExpectedFollowUp("claim_denied", (), category=_denial_category(p["adjustments"]))
        )
    elif category.startswith("P") and p["received_date"]:
        days = (as_of - date.fromisoformat(p["received_date"])).days
        if days > pended_days:
            found.append(ExpectedFollowUp("claim_pended", (str(days), us_date(p["received_date"]))))
    return found
