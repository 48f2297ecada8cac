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

- **Answers in words, codes beside them** (bots/outputs/words.py, re-exported here): the
  coverage sentence, benefit lines, claim status and adjustments with CARC/RARC
  descriptions from the code tables shipped in bots/codetables.

Benefit lines whose network is unknown (EB12 U) fill neither network's value (a note says
they exist); no bundled portal shows one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bots.codes import (
    GROUP_WORDS,
    BenefitInfo,
    CoverageLevel,
    YesNoUnknown,
    prior_auth_label,
    prior_auth_of,
    status_category_text,
    status_category_words,
)
from bots.matching import norm_member_id
from bots.models import Benefit, ClaimStatusResult, EligibilityResult
from bots.outputs.words import BLANK as BLANK
from bots.outputs.words import BenefitGroup as BenefitGroup
from bots.outputs.words import acted_on as acted_on
from bots.outputs.words import adjustment_codes as adjustment_codes
from bots.outputs.words import adjustment_text as adjustment_text
from bots.outputs.words import benefit_groups as benefit_groups
from bots.outputs.words import benefit_line_codes as benefit_line_codes
from bots.outputs.words import benefit_line_text as benefit_line_text
from bots.outputs.words import benefits_text as benefits_text
from bots.outputs.words import claim_status_sentence as claim_status_sentence
from bots.outputs.words import claim_status_words as claim_status_words
from bots.outputs.words import coverage_sentence as coverage_sentence
from bots.outputs.words import money_text as money_text
from bots.outputs.words import percent_text as percent_text
from bots.outputs.words import service_type_label as service_type_label
from bots.outputs.words import status_code_words as status_code_words
from bots.outputs.words import with_descriptions as with_descriptions

NO_NAME = "(no name given)"
"""The patient of a question that carries no name (a desk lookup by member ID)."""
PLAN_LEVEL = "30"
IN = (YesNoUnknown.YES, YesNoUnknown.BOTH)
OUT = (YesNoUnknown.NO, YesNoUnknown.BOTH)


def person_name(last: Any, first: Any) -> str | None:
    """``LAST, FIRST`` from whichever parts exist; None when there is no name at all."""
    parts = [str(p).strip() for p in (last, first) if p is not None and str(p).strip()]
    return ", ".join(parts) or None


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
