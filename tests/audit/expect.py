"""What each surface must show for a worklist row, from ``tests.truth.Expected`` alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from bots.codes import carc_text, rarc_text
from tests.audit.columns import OUTCOME_WORDS, PER_RUN_FIELDS, PRIOR_AUTH_WORDS
from tests.audit.tally import Ident, OneOf, Percent, Tally, Words
from tests.truth import (
    Expected,
    _benefit_key,
    _norm_id,
    benefit,
    parse_worklist_date,
    prior_auth,
)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _worklist_name(e: Expected) -> str | None:
    parts = [e.cells.get("Patient Last", "").strip(), e.cells.get("Patient First", "").strip()]
    return ", ".join(p for p in parts if p) or None


def _answer_name(p: dict[str, Any]) -> str:
    return f"{p['last_name']}, {p['first_name']}"


def failed_outcome(e: Expected) -> Words:
    return Words(OUTCOME_WORDS.get(e.outcome, (e.outcome.replace("_", " "),)))


def ids(*values: str | None) -> list[Ident]:
    """Identifiers a row must show somewhere (case, spaces, dashes ignored)."""
    return [Ident(v) for v in dict.fromkeys(_norm_id(v) for v in values if v and _norm_id(v))]


def eligibility_cells(e: Expected) -> dict[str, Any]:
    """Field -> expected cell of an Eligibility sheet row (fields in ``many`` columns: a list
    of values that must each appear in one of them)."""
    cells: dict[str, Any] = {
        "row": Decimal(e.row),
        "payer": e.payer_id,
        "date_of_service": parse_worklist_date(e.cells["Appt Date"], past=False),
    }
    account = e.cells.get("Patient Acct #") or e.cells.get("Account")
    if account:
        cells["account"] = [account.strip()]
    benefit_fields = (
        "copay_in",
        "coinsurance_in",
        "coinsurance_out",
        "deductible_in",
        "oop_in",
        "prior_auth",
    )
    result_fields = ("coverage", "plan", "network", "group", "effective", "termination", "pcp")
    p = e.payload
    if p is None:
        cells |= {
            "member_id": ids(e.cells.get("Member ID")),
            "patient": _worklist_name(e),
            "dob": parse_worklist_date(e.cells["DOB"], past=True),
            "outcome": failed_outcome(e),
        }
        cells |= dict.fromkeys(result_fields + benefit_fields)
        return cells
    active = p["coverage_active"]
    withheld = p.get("identity_basis") == "search_unique"  # the answer shows no identity
    cells |= {
        "member_id": ids(p["member_id"], e.cells.get("Member ID")),
        # the question's patient stays; an answer that shows none adds nothing beside it
        "patient": _worklist_name(e) if withheld else _answer_name(p),
        "dob": parse_worklist_date(e.cells["DOB"], past=True) if withheld else _day(p["dob"]),
        "outcome": Words(("active",)) if active else Words(("inactive", "not active")),
        "coverage": "Active" if active else OneOf(("Inactive", "Not active")),
        "plan": p["plan_name"],
        "network": p["network_type"],
        "group": p["group_number"],
        "effective": _day(p["effective_date"]),
        "termination": _day(p["termination_date"]),
        "pcp": p["pcp_name"],
    }
    if not active:  # no benefits on an inactive date: nothing to read, never "No"
        cells |= dict.fromkeys(benefit_fields[:-1])
        cells["prior_auth"] = OneOf((None, "Unknown"))
        return cells
    # copay and coinsurance of the service type asked; the plan-level (30) lines stand in
    # only when that service type has no copay or coinsurance line at all
    asked = e.service_type or "30"
    own = any(b["service_type"] == asked and b["benefit"] in "AB" for b in p["benefits"])
    sharing = asked if own else "30"
    copay = benefit(p, sharing, "B", "Y")
    coins_in = benefit(p, sharing, "A", "Y")
    coins_out = benefit(p, sharing, "A", "N")
    deductible = benefit(p, "30", "C", "Y")
    oop = benefit(p, "30", "G", "Y")
    cells |= {
        "copay_in": _money(copay["amount"]) if copay else None,
        "coinsurance_in": Percent(Decimal(coins_in["percent"]))
        if coins_in and coins_in["percent"] is not None
        else None,
        "coinsurance_out": Percent(Decimal(coins_out["percent"]))
        if coins_out and coins_out["percent"] is not None
        else None,
        "deductible_in": _money(deductible["remaining"]) if deductible else None,
        "oop_in": _money(oop["remaining"]) if oop else None,
        "prior_auth": prior_auth(p, e.service_type or "30"),
    }
    return cells


def _acted_on(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Adjustments a specialist acts on: all of a denied claim's, else the non-contractual;
    one per reason (group, CARC, RARCs), in the portal's order."""
    denied = p["category"] in ("F2", "F4")
    shown: dict[str, dict[str, Any]] = {}
    for a in p["adjustments"]:
        if denied or a["group_code"] != "CO":
            shown.setdefault(_adjustment_codes(a), a)
    return list(shown.values())


def _adjustment_codes(a: dict[str, Any]) -> str:
    return f"{a['group_code']}-{a['carc']}" + (f" {' '.join(a['rarc'])}" if a["rarc"] else "")


def _denials(p: dict[str, Any]) -> str | None:
    """The reasons in words: each code with its description from the shipped tables."""
    said = [
        " — ".join(
            [f"{a['group_code']}-{a['carc']}: {carc_text(a['carc'])}"]
            + [f"{r}: {rarc_text(r)}" for r in a["rarc"]]
        )
        for a in _acted_on(p)
    ]
    return "; ".join(said) or None


def _denial_codes(p: dict[str, Any]) -> str | None:
    """The same reasons as raw codes."""
    return "; ".join(_adjustment_codes(a) for a in _acted_on(p)) or None


def claim_cells(e: Expected) -> dict[str, Any]:
    """Field -> expected cell of a Claim status sheet row."""
    c = e.cells
    cells: dict[str, Any] = {"row": Decimal(e.row), "payer": e.payer_id}
    worklist_account = (c.get("Patient Acct #") or "").strip()
    money_fields = ("billed", "allowed", "paid", "patient_responsibility")
    result_fields = ("category", "status_code", "adjudicated", "trace", "payment_date")
    p = e.payload
    if p is None:
        cells |= {
            "claim_number": (c.get("Claim #") or "").strip() or None,
            "claim_number_portal": None,
            "account": [worklist_account] if worklist_account else [],
            "member_id": ids(c.get("Member ID")),
            "patient": _worklist_name(e),
            "dos_from": parse_worklist_date(c["DOS From"], past=False)
            if c.get("DOS From")
            else None,
            "dos_to": parse_worklist_date(c["DOS To"], past=False) if c.get("DOS To") else None,
            "outcome": failed_outcome(e),
            "denials": None,
            "denial_codes": None,
        }
        cells |= dict.fromkeys(money_fields + result_fields)
        return cells
    accounts = [p["patient_account_number"], worklist_account]
    asked_number = (c.get("Claim #") or "").strip() or None
    cells |= {  # the worklist's claim number stays; the portal's beside it when it differs
        "claim_number": asked_number,
        "claim_number_portal": None if asked_number == p["claim_number"] else p["claim_number"],
        "account": [a for a in dict.fromkeys(accounts) if a],
        "member_id": ids(p["member_id"], c.get("Member ID")),
        "patient": _answer_name(p),
        "dos_from": _day(p["dos_from"]),
        "dos_to": _day(p["dos_to"]),
        "category": p["category"],
        "status_code": p["status_code"],
        "billed": _money(p["billed"]),
        "allowed": _money(p["allowed"]),
        "paid": _money(p["paid"]),
        "patient_responsibility": _money(p["patient_responsibility"]),
        "adjudicated": _day(p["adjudication_date"]),
        "trace": p["payment_trace_number"],
        "payment_date": _day(p["payment_date"]),
        "denials": _denials(p),
        "denial_codes": _denial_codes(p),
    }
    return cells


def row_cells(e: Expected) -> dict[str, Any]:
    return eligibility_cells(e) if e.kind == "eligibility" else claim_cells(e)


# --- a stored (or printed) result payload --------------------------------------------------


def compare_payload(
    tally: Tally, surface: str, where: str, e: Expected, got: dict[str, Any] | None
) -> None:
    """Every field of a result payload against the expected one. Benefit lines are matched
    by (service type, benefit, network, level, period) and compared field by field; a field
    the truth does not know (new in the result model) is a mismatch until added here."""
    want = e.payload
    assert want is not None
    if not tally.check(surface, "payload present", where, got is not None):
        return
    assert got is not None
    shown = {k: v for k, v in got.items() if k not in PER_RUN_FIELDS}
    for key in sorted(set(want) | set(shown)):
        if key == "benefits":
            continue
        if key not in want:
            tally.check(surface, f"{key} (not in truth)", where, False)
            continue
        value = shown.get(key)
        if key == "adjustments" and isinstance(value, list):
            value = [{k: v for k, v in a.items() if k != "description"} for a in value]
        tally.check(surface, key, where, value == want[key])
    if "benefits" not in want:
        return
    lines = {_benefit_key(b): b for b in shown.get("benefits") or []}
    expected_lines = {_benefit_key(b): b for b in want["benefits"]}
    tally.check(surface, "benefits (lines)", where, lines.keys() == expected_lines.keys())
    for key, line in expected_lines.items():
        if key not in lines:
            continue
        for name, value in line.items():
            tally.check(surface, f"benefits.{name}", where, lines[key].get(name) == value)


def prior_auth_word(flag: str | None) -> str:
    return PRIOR_AUTH_WORDS.get(flag or "U", "Unknown")
