"""Answers in words, codes beside them: what every surface says of an answer (issue 20).

The console answer, both workbooks and ``payerbot lookup`` say coverage, benefit lines,
claim status and adjustments with these functions: words first, the code beside them
("Denied (F2)", "CO-16: <description>"), a blank amount as "—". Descriptions come from the
code tables shipped in bots/codetables (bots/codes.py); ``bots.outputs.shown`` re-exports
them with the rest of what a person reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bots.codes import (
    BENEFIT_WORDS,
    LEVEL_WORDS,
    PERIOD_WORDS,
    BenefitInfo,
    carc_text,
    claim_status_code_text,
    network_label,
    prior_auth_label,
    rarc_text,
    service_type_name,
    service_type_short,
    status_category_words,
)
from bots.dates import local_date_text
from bots.models import Adjustment, Benefit, ClaimStatusResult, EligibilityResult


def percent_text(value: Decimal | None) -> str | None:
    """``20%`` for a coinsurance percent; None stays None."""
    return None if value is None else f"{format(value.normalize(), 'f')}%"


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
