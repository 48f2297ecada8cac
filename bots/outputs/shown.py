"""What a person reads of one item, worked out once for every surface that shows it.

The run workbook, the specialists' workbook, the console and ``payerbot lookup --json`` all
read an item through these views, so they cannot disagree:

- **Identifiers.** The question's own values (from the worklist or the lookup form: member
  ID, patient account number, claim number, name) are kept; the portal's value is shown
  beside them only when the portal shows one that differs. A question without names reads
  ``(no name given)``, never ``", "``.
- **Prior authorization** for the asked service type, tri-state (``codes.prior_auth_of``),
  read from its in-network lines (in network, both, or network unstated) as the follow-up
  rules read it: any Y -> Required; every line N -> Not required; anything else (U, W, no
  line at all, N and U mixed) -> Unknown. Unknown never reads as "No" or a blank. An
  out-of-network answer that differs is said in the benefit notes.
- **Cost sharing** for the asked service type, in and out of network. Copay and coinsurance
  come from the service type's lines, or from the plan-level (``30``) lines when it has no
  copay or coinsurance line at all; deductible and out-of-pocket remaining (individual and
  family) from the service type's own lines when it has them, else plan level (where plans
  keep them as a rule). A note says when plan-level copay or coinsurance stands in. A value
  the portal did not show is None: an empty cell in the workbooks, "—" on the console,
  ``null`` in JSON; never 0.

Benefit lines whose network is unknown (EB12 U) fill neither network's value (a note says
they exist); no bundled portal shows one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bots.codes import (
    BENEFIT_WORDS,
    GROUP_WORDS,
    LEVEL_WORDS,
    PERIOD_WORDS,
    BenefitInfo,
    CoverageLevel,
    YesNoUnknown,
    carc_text,
    claim_status_code_text,
    network_label,
    prior_auth_label,
    prior_auth_of,
    rarc_text,
    service_type_name,
    service_type_short,
    status_category_text,
    status_category_words,
)
from bots.dates import local_date_text
from bots.matching import norm_member_id
from bots.models import Adjustment, Benefit, ClaimStatusResult, EligibilityResult

NO_NAME = "(no name given)"
"""The patient of a question that carries no name (a desk lookup by member ID)."""
PLAN_LEVEL = "30"
IN = (YesNoUnknown.YES, YesNoUnknown.BOTH)
OUT = (YesNoUnknown.NO, YesNoUnknown.BOTH)


def person_name(last: Any, first: Any) -> str | None:
    """``LAST, FIRST`` from whichever parts exist; None when there is no name at all."""
    parts = [str(p).strip() for p in (last, first) if p is not None and str(p).strip()]
    return ", ".join(parts) or None


def percent_text(value: Decimal | None) -> str | None:
    """``20%`` for a coinsurance percent; None stays None."""
    return None if value is None else f"{format(value.normalize(), 'f')}%"


def _words(text: str) -> str:
    return " ".join(text.split()).casefold()


def _code(text: str) -> str:
    return "".join(text.split()).upper()


def _beside(asked: Any, shown: Any, same: Callable[[str, str], bool]) -> str | None:
    """The portal's value when it shows one that differs from the question's."""
    if shown is None or not str(shown).strip():
        return None
    if asked is not None and str(asked).strip() and same(str(asked), str(shown)):
        return None
    return str(shown)


@dataclass(frozen=True)
class Identifiers:
    """The question's identifiers, with the portal's beside them where they differ."""

    patient: str  # the question's name, or NO_NAME
    patient_portal: str | None
    member_id: str | None
    member_id_portal: str | None
    claim_number: str | None = None
    claim_number_portal: str | None = None
    account_number: str | None = None
    account_number_portal: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "patient": self.patient,
            "patient_on_portal": self.patient_portal,
            "member_id": self.member_id,
            "member_id_on_portal": self.member_id_portal,
            "claim_number": self.claim_number,
            "claim_number_on_portal": self.claim_number_portal,
            "patient_account_number": self.account_number,
            "patient_account_number_on_portal": self.account_number_portal,
        }


def identifiers(query: Mapping[str, Any], payload: Mapping[str, Any] | None) -> Identifiers:
    """The identifiers of an item's question (``query``) and of its answer (``payload``)."""
    shown = payload or {}
    asked_name = person_name(query.get("last_name"), query.get("first_name"))
    return Identifiers(
        patient=asked_name or NO_NAME,
        patient_portal=_beside(
            asked_name,
            person_name(shown.get("last_name"), shown.get("first_name")),
            lambda a, b: _words(a) == _words(b),
        ),
        member_id=query.get("member_id"),
        member_id_portal=_beside(
            query.get("member_id"),
            shown.get("member_id"),
            lambda a, b: norm_member_id(a) == norm_member_id(b),
        ),
        claim_number=query.get("claim_number"),
        claim_number_portal=_beside(
            query.get("claim_number"), shown.get("claim_number"), lambda a, b: _code(a) == _code(b)
        ),
        account_number=query.get("patient_account_number"),
        account_number_portal=_beside(
            query.get("patient_account_number"),
            shown.get("patient_account_number"),
            lambda a, b: _code(a) == _code(b),
        ),
    )


@dataclass(frozen=True)
class Networks:
    """One value in and out of network (None: the portal showed none)."""

    in_network: Decimal | None = None
    out_of_network: Decimal | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "in_network": _text(self.in_network),
            "out_of_network": _text(self.out_of_network),
        }


@dataclass(frozen=True)
class CostSharing:
    """The asked service type's benefits as the workbooks, console and JSON show them."""

    service_type: str
    prior_auth: YesNoUnknown
    copay: Networks
    coinsurance: Networks  # percent: 20 = the patient pays 20%
    deductible_individual: Networks
    deductible_family: Networks
    out_of_pocket_individual: Networks
    out_of_pocket_family: Networks
    notes: tuple[str, ...] = ()

    @property
    def service_type_label(self) -> str:
        return service_type_label(self.service_type)

    @property
    def prior_auth_label(self) -> str:
        return prior_auth_label(self.prior_auth)

    def as_json(self) -> dict[str, Any]:
        return {
            "service_type": {"code": self.service_type, "label": self.service_type_label},
            "prior_auth": {"code": self.prior_auth.value, "label": self.prior_auth_label},
            "copay": self.copay.as_json(),
            "coinsurance_percent": self.coinsurance.as_json(),
            "deductible_remaining": {
                "individual": self.deductible_individual.as_json(),
                "family": self.deductible_family.as_json(),
            },
            "out_of_pocket_remaining": {
                "individual": self.out_of_pocket_individual.as_json(),
                "family": self.out_of_pocket_family.as_json(),
            },
            "notes": list(self.notes),
        }


def cost_sharing(result: EligibilityResult, service_type: str | None) -> CostSharing:
    """The benefits of ``service_type`` (default plan level) in ``result``; see the module."""
    asked = service_type or PLAN_LEVEL
    lines = [b for b in result.benefits if b.service_type == asked]
    notes: list[str] = []
    # Prior auth is the in-network answer (lines in network, both networks, or unstated), as
    # the follow-up rules read it; an out-of-network answer that differs is said in the notes.
    in_network = [b for b in lines if b.in_network != YesNoUnknown.NO]
    prior_auth = prior_auth_of(b.prior_auth_required for b in in_network)
    flags = {b.prior_auth_required for b in in_network}
    if len(flags) > 1:
        said = ", ".join(sorted(prior_auth_label(f).lower() for f in flags))
        notes.append(f"prior auth differs between benefit lines ({said})")
    out_lines = [b for b in lines if b.in_network == YesNoUnknown.NO]
    out_of_network = prior_auth_of(b.prior_auth_required for b in out_lines)
    if out_lines and out_of_network != prior_auth:
        notes.append(f"out of network, prior auth: {prior_auth_label(out_of_network).lower()}")

    if any(b.in_network == YesNoUnknown.UNKNOWN for b in lines):
        notes.append("some benefit lines do not say which network: see the portal's page")

    sharing = asked
    if asked != PLAN_LEVEL and not any(
        b.benefit in (BenefitInfo.COPAYMENT, BenefitInfo.COINSURANCE) for b in lines
    ):
        sharing = PLAN_LEVEL
        if _has(result, PLAN_LEVEL, BenefitInfo.COPAYMENT, BenefitInfo.COINSURANCE):
            notes.append(f"copay and coinsurance: plan-level values (no lines for {asked})")

    def accumulator(info: BenefitInfo, level: CoverageLevel) -> Networks:
        # plans keep accumulators at plan level as a rule: no note when they come from there
        source = asked if _has(result, asked, info) else PLAN_LEVEL
        return Networks(
            _pick(result, source, info, IN, level, _left),
            _pick(result, source, info, OUT, level, _left),
        )

    return CostSharing(
        service_type=asked,
        prior_auth=prior_auth,
        copay=Networks(
            _pick(result, sharing, BenefitInfo.COPAYMENT, IN, None, _amount),
            _pick(result, sharing, BenefitInfo.COPAYMENT, OUT, None, _amount),
        ),
        coinsurance=Networks(
            _pick(result, sharing, BenefitInfo.COINSURANCE, IN, None, _percent),
            _pick(result, sharing, BenefitInfo.COINSURANCE, OUT, None, _percent),
        ),
        deductible_individual=accumulator(BenefitInfo.DEDUCTIBLE, CoverageLevel.INDIVIDUAL),
        deductible_family=accumulator(BenefitInfo.DEDUCTIBLE, CoverageLevel.FAMILY),
        out_of_pocket_individual=accumulator(BenefitInfo.OUT_OF_POCKET, CoverageLevel.INDIVIDUAL),
        out_of_pocket_family=accumulator(BenefitInfo.OUT_OF_POCKET, CoverageLevel.FAMILY),
        notes=tuple(notes),
    )


def _has(result: EligibilityResult, service_type: str, *infos: BenefitInfo) -> bool:
    return any(b.service_type == service_type and b.benefit in infos for b in result.benefits)


def _pick(
    result: EligibilityResult,
    service_type: str,
    info: BenefitInfo,
    networks: tuple[YesNoUnknown, ...],
    level: CoverageLevel | None,
    value: Callable[[Benefit], Decimal | None],
) -> Decimal | None:
    """The value of the first line of this service type, benefit and network that has one.

    ``level`` None (copay, coinsurance): individual lines (or lines without a level) first,
    then any level, so a family-only value is still shown. A level: that level only (lines
    without a level count as individual)."""
    candidates = [
        b
        for b in result.benefits
        if b.service_type == service_type and b.benefit == info and b.in_network in networks
    ]
    if level is None:
        individual = (CoverageLevel.INDIVIDUAL, None)
        candidates.sort(key=lambda b: b.coverage_level not in individual)  # stable
    elif level == CoverageLevel.INDIVIDUAL:
        candidates = [b for b in candidates if b.coverage_level in (level, None)]
    else:
        candidates = [b for b in candidates if b.coverage_level == level]
    for line in candidates:
        found = value(line)
        if found is not None:
            return found
    return None


def _amount(line: Benefit) -> Decimal | None:
    return line.amount


def _percent(line: Benefit) -> Decimal | None:
    return line.percent


def _left(line: Benefit) -> Decimal | None:
    """Remaining as shown, else total minus met (never below zero)."""
    if line.remaining is not None:
        return line.remaining
    if line.total is not None and line.met is not None:
        return max(line.total - line.met, Decimal(0))
    return None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def summary(
    kind: str, query: Mapping[str, Any], payload: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The words a person reads of one item, as ``payerbot lookup --json`` adds them beside
    the raw result: identifiers, and for an eligibility answer the asked service type's
    prior authorization (code and label) and cost sharing in and out of network."""
    shown: dict[str, Any] = {"identifiers": identifiers(query, payload).as_json()}
    if kind == "eligibility" and payload:
        result = EligibilityResult.model_validate(payload)
        shown["coverage"] = "Active" if result.coverage_active else "Inactive"
        shown["coverage_text"] = coverage_sentence(result, query.get("date_of_service"))
        shown["benefits"] = cost_sharing(result, query.get("service_type")).as_json()
        shown["benefit_groups"] = [g.as_json() for g in benefit_groups(result)]
    elif kind == "claim_status" and payload:
        claim = ClaimStatusResult.model_validate(payload)
        shown["claim"] = {
            "status_text": claim_status_sentence(claim),
            "category": claim.category,
            "category_words": status_category_words(claim.category),
            "category_text": status_category_text(claim.category),
            "status_code": claim.status_code,
            "status_code_text": status_code_words(claim.status_code),
            "amounts": {
                name: money_text(getattr(claim, name))
                for name in ("billed", "allowed", "paid", "patient_responsibility")
            },
            "adjustments": [
                {
                    "codes": adjustment_codes(a),
                    "text": adjustment_text(a),
                    "group_text": GROUP_WORDS.get(a.group_code, a.group_code),
                    "amount": money_text(a.amount),
                    "line": a.line,
                }
                for a in claim.adjustments
            ],
        }
    return shown


# --- answers in words, codes beside them ----------------------------------------------------
#
# Every surface (console answer, workbooks, `payerbot lookup`) says an answer with these
# functions: words first, the code beside them ("Denied (F2)", "CO-16: <description>"), a
# blank amount as "—". Descriptions come from the code tables shipped in bots/codetables.

BLANK = "—"
"""An amount the portal did not show."""


def money_text(value: Decimal | str | None) -> str:
    """``$1,500.00``; None reads "—"."""
    return BLANK if value is None else f"${Decimal(str(value)):,.2f}"


def coverage_sentence(result: EligibilityResult | None, date_of_service: date | str | None) -> str:
    """ "Active on 12/04/2026 — Acme Choice PPO, group G383822" / "Inactive on …" / "Unknown"
    (no answer)."""
    if result is None:
        return "Unknown"
    when = date_of_service or result.date_of_service
    day = when if isinstance(when, date) else date.fromisoformat(str(when))
    state = "Active" if result.coverage_active else "Inactive"
    plan = ", ".join(
        p
        for p in (result.plan_name, f"group {result.group_number}" if result.group_number else None)
        if p
    )
    sentence = f"{state} on {local_date_text(day)}"
    if plan:
        sentence += f" {BLANK} {plan}"
    if not result.coverage_active and result.termination_date is not None:
        sentence += f" (coverage ended {local_date_text(result.termination_date)})"
    return sentence


def benefit_line_text(line: Benefit) -> str:
    """One benefit line in words: "Office visit, in network, individual: copay $30.00";
    "Deductible, in network, individual: $1,500.00, $0.00 met, $1,500.00 left"."""
    network = network_label(line.in_network).lower()
    where = [network]
    if line.coverage_level is not None:
        where.append(LEVEL_WORDS.get(line.coverage_level, line.coverage_level))
    if line.time_period is not None:
        where.append(PERIOD_WORDS.get(line.time_period, line.time_period))
    what = BENEFIT_WORDS.get(line.benefit, line.benefit)
    if line.benefit in (BenefitInfo.DEDUCTIBLE, BenefitInfo.OUT_OF_POCKET):
        head = what[:1].upper() + what[1:]
        left = line.remaining
        if left is None and line.total is not None and line.met is not None:
            left = max(line.total - line.met, Decimal(0))
        parts = [money_text(line.total)]
        if line.met is not None:
            parts.append(f"{money_text(line.met)} met")
        parts.append(f"{money_text(left)} left")
        value = ", ".join(parts)
    else:
        head = service_type_short(line.service_type)
        if line.percent is not None:
            value = f"{what} {percent_text(line.percent)}"
        elif line.amount is not None:
            value = f"{what} {money_text(line.amount)}"
        elif line.benefit == BenefitInfo.NON_COVERED:
            value = what
        else:
            value = f"{what} {BLANK}"
    return f"{head}, {', '.join(where)}: {value}"


def benefit_line_codes(line: Benefit) -> str:
    """The raw X12 codes of a benefit line, for a code column or a tooltip."""
    parts = [
        f"EB01 {line.benefit}",
        f"EB02 {line.coverage_level or '-'}",
        f"EB03 {line.service_type}",
        f"EB06 {line.time_period or '-'}",
        f"EB11 {line.prior_auth_required}",
        f"EB12 {line.in_network}",
    ]
    return " · ".join(parts)


@dataclass(frozen=True)
class BenefitGroup:
    """The benefit lines of one service type, named."""

    service_type: str
    name: str  # the published name with the code beside it

    lines: tuple[Benefit, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "service_type": self.service_type,
            "name": self.name,
            "lines": [
                {
                    "text": benefit_line_text(b),
                    "codes": benefit_line_codes(b),
                    "service_type": b.service_type,
                    "benefit": b.benefit.value,
                    "network": network_label(b.in_network),
                    "level": LEVEL_WORDS.get(b.coverage_level or "", ""),
                    "level_code": b.coverage_level,
                    "amount": _line_amount(b),
                    "remaining": None if b.remaining is None else money_text(b.remaining),
                    "prior_auth": prior_auth_label(b.prior_auth_required),
                }
                for b in self.lines
            ],
        }


def _line_amount(line: Benefit) -> str | None:
    if line.amount is not None:
        return money_text(line.amount)
    if line.percent is not None:
        return percent_text(line.percent)
    if line.total is not None:
        return money_text(line.total)
    return None


def service_type_label(code: str) -> str:
    """``Professional (Physician) Visit - Office (98)``: the name, the code beside it."""
    return f"{service_type_name(code)} ({code})"


def benefit_groups(result: EligibilityResult) -> list[BenefitGroup]:
    """The answer's benefit lines grouped by service type, in the portal's order."""
    order: dict[str, list[Benefit]] = {}
    for line in result.benefits:
        order.setdefault(line.service_type, []).append(line)
    return [BenefitGroup(st, service_type_label(st), tuple(ls)) for st, ls in order.items()]


def benefits_text(result: EligibilityResult) -> str | None:
    """All benefit lines in words, one group per service type (a workbook cell)."""
    groups = benefit_groups(result)
    if not groups:
        return None
    return "\n".join(
        f"{g.name}: " + "; ".join(benefit_line_text(b) for b in g.lines) for g in groups
    )


def adjustment_text(adjustment: Adjustment) -> str:
    """ "CO-16: Claim/service lacks information… — MA130: …" (the CARC with its group, each
    RARC, each with its description)."""
    parts = [f"{adjustment.group_code}-{adjustment.carc}: {carc_text(adjustment.carc)}"]
    parts += [f"{r}: {rarc_text(r)}" for r in adjustment.rarc]
    return f" {BLANK} ".join(parts)


def adjustment_codes(adjustment: Adjustment) -> str:
    """``CO-16 MA130 M51``: the raw codes of an adjustment."""
    return f"{adjustment.group_code}-{adjustment.carc}" + (
        f" {' '.join(adjustment.rarc)}" if adjustment.rarc else ""
    )


def acted_on(result: ClaimStatusResult) -> list[Adjustment]:
    """The adjustments a specialist acts on, one per reason in the portal's order: all of a
    denied (F2) or unpaid (F4) claim's, else those that are not contractual (CO)."""
    seen: dict[str, Adjustment] = {}
    for a in result.adjustments:
        if result.category in ("F2", "F4") or a.group_code != "CO":
            seen.setdefault(adjustment_codes(a), a)
    return list(seen.values())


def claim_status_words(category: str) -> str:
    """ "Denied (F2)": the category in words, its code beside it."""
    return f"{status_category_words(category)} ({category})"


def claim_status_sentence(result: ClaimStatusResult) -> str:
    """ "Denied (F2) — CO-16: Claim/service lacks information… — MA130: …"."""
    return f" {BLANK} ".join(
        [claim_status_words(result.category), *(adjustment_text(a) for a in acted_on(result))]
    )


def status_code_words(code: str | None) -> str | None:
    """ "65: Claim/line has been paid" (277 STC01-2); None when the portal gave no code."""
    return None if not code else f"{code}: {claim_status_code_text(code)}"


_ADJUSTMENT_CODE = re.compile(r"\b(CO|PR|OA|PI|CR)-([A-Z]?\d{1,3})\b(?!:)")
_SERVICE_TYPE = re.compile(r"\bservice type ([0-9A-Z]{1,2})\b(?! \()")


def with_descriptions(text: str | None) -> str:
    """Text written with codes (a follow-up's reason: "Denied: coding (CO-97)") with each
    code's description beside it: "CO-97: <description>"; "service type 98" gains its name."""
    if not text:
        return ""
    text = _ADJUSTMENT_CODE.sub(lambda m: f"{m.group(0)}: {carc_text(m.group(2))}", text)
    return _SERVICE_TYPE.sub(lambda m: f"service type {service_type_label(m.group(1))}", text)
