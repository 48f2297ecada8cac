"""Follow-up rules: which answers become a specialist's work, and denial triage by CARC.

The rules are code (what to look at), their wording, priority and assignee are data
(config/followups.toml). Each rule looks at one item's latest answer: the question the
worklist asked (``query``) and the normalized result (``payload``) or the business error
the portal gave (``last_error_code`` / ``reason_code``). A system failure (the bot could
not get an answer) raises nothing here: it is the supervisor's, in the run report.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bots.codes import CLAIM_STATUS_CATEGORIES, YesNoUnknown
from bots.models import ClaimStatusResult, EligibilityResult
from bots.settings import DenialCategory, FollowupSettings
from bots.store import ItemState, Outcome, OutcomeCode

ROUTINE_CARCS = frozenset({"45", "1", "2", "3"})
"""Contractual adjustment and the patient's deductible, coinsurance, copay: not a denial."""


@dataclass(frozen=True)
class Finding:
    """One follow-up a rule raised for an item."""

    rule: str
    reason: str
    action: str
    priority: str
    category: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class Triage:
    category: str  # key in config (e.g. "authorization")
    label: str
    carcs: tuple[str, ...]  # the deciding adjustments, e.g. ("CO-197",)
    priority: str
    action: str


def triage_denial(result: ClaimStatusResult, categories: Mapping[str, DenialCategory]) -> Triage:
    """The category of a denied claim from its non-routine CARCs (first configured wins)."""
    denials = [a for a in result.adjustments if a.carc not in ROUTINE_CARCS]
    codes = tuple(dict.fromkeys(f"{a.group_code}-{a.carc}" for a in denials))
    carcs = {a.carc for a in denials}
    for key, category in categories.items():
        if carcs & set(category.carcs):
            deciding = tuple(c for c in codes if c.split("-", 1)[1] in category.carcs)
            return Triage(key, category.label, deciding, category.priority, category.action)
    other = categories.get("other") or DenialCategory(
        label="other", action="Read the CARC / RARC on the remittance and decide"
    )
    return Triage("other", other.label, codes, other.priority, other.action)


def _is_denial(result: ClaimStatusResult) -> bool:
    """F2 is a denial; F4 (no payment forthcoming) only when a non-routine CARC says why."""
    if result.category == "F2":
        return True
    return result.category == "F4" and any(a.carc not in ROUTINE_CARCS for a in result.adjustments)


def _norm(text: str | None) -> str:
    return re.sub(r"[^A-Z0-9]", "", (text or "").upper())


def _us(day: date | None) -> str:
    return f"{day:%m/%d/%Y}" if day else "unknown"


class RuleBook:
    """Evaluates the configured rules against one item (an ``Outcome`` of the store)."""

    def __init__(self, settings: FollowupSettings) -> None:
        self.settings = settings

    def evaluate(self, item: Outcome, as_of: date) -> list[Finding]:
        return [f for f in self._raw(item, as_of) if self._enabled(f.rule)]

    def _enabled(self, rule: str) -> bool:
        configured = self.settings.rules.get(rule)
        return configured is not None and configured.enabled

    def _raw(self, item: Outcome, as_of: date) -> Iterator[Finding]:
        code = item.last_error_code
        query = item.query
        if item.state == ItemState.BUSINESS_FAILED:
            if code == OutcomeCode.MEMBER_NOT_FOUND:
                yield self._finding("member_not_found", {"reason_code": item.reason_code or "75"})
            elif code == OutcomeCode.CLAIM_NOT_FOUND:
                yield self._finding("claim_not_on_file", {"reason_code": item.reason_code or "A4"})
            elif code in (OutcomeCode.PATIENT_MISMATCH, OutcomeCode.AMBIGUOUS_MATCH):
                yield self._finding("patient_review", {})
            elif code == OutcomeCode.NO_COVERAGE_ON_DATE:
                dos = query.get("date_of_service")
                facts = {"date_of_service": _us(date.fromisoformat(dos)) if dos else "unknown"}
                yield self._finding("no_coverage_on_date", facts)
            return
        if item.state != ItemState.SUCCEEDED or not item.payload:
            return
        if item.kind == "eligibility":
            yield from self._eligibility(EligibilityResult.model_validate(item.payload), query)
        else:
            yield from self._claim(ClaimStatusResult.model_validate(item.payload), query, as_of)

    def _eligibility(self, res: EligibilityResult, query: Mapping[str, Any]) -> Iterator[Finding]:
        facts = {
            "date_of_service": _us(res.date_of_service),
            "termination_date": _us(res.termination_date),
            "effective_date": _us(res.effective_date),
            "plan_name": res.plan_name or "plan name not shown",
            "group_on_file": query.get("group_number") or "",
            "group_found": res.group_number or "",
            "service_type": query.get("service_type") or "30",
        }
        if not res.coverage_active:
            ended = res.termination_date is not None and res.termination_date < res.date_of_service
            yield self._finding("coverage_terminated" if ended else "coverage_inactive", facts)
            return  # the other checks are about an active plan
        on_file, found = _norm(query.get("group_number")), _norm(res.group_number)
        if on_file and found and on_file != found:
            yield self._finding("plan_changed", facts)
        service = query.get("service_type") or "30"
        if any(
            b.service_type == service and b.prior_auth_required == YesNoUnknown.YES
            for b in res.benefits
            if b.in_network in (YesNoUnknown.YES, YesNoUnknown.BOTH, YesNoUnknown.UNKNOWN)
        ):
            yield self._finding("prior_auth_required", facts)

    def _claim(
        self, res: ClaimStatusResult, query: Mapping[str, Any], as_of: date
    ) -> Iterator[Finding]:
        facts: dict[str, Any] = {
            "status_text": res.status_text or CLAIM_STATUS_CATEGORIES.get(res.category, ""),
            "received_date": _us(res.received_date),
        }
        if _is_denial(res):
            triage = triage_denial(res, self.settings.denials)
            facts |= {"category": triage.label, "carcs": ", ".join(triage.carcs) or "no CARC"}
            base = self._finding("claim_denied", facts)
            yield Finding(
                base.rule,
                base.reason,
                triage.action,
                triage.priority,
                triage.category,
                base.assignee,
            )
        elif res.category.startswith("P") and res.received_date is not None:
            days = (as_of - res.received_date).days
            if days > self.settings.pended_days:
                yield self._finding("claim_pended", facts | {"days_pended": days})
        expected = query.get("expected_paid")
        if res.category == "F1" and expected is not None and res.paid is not None:
            shortfall = Decimal(str(expected)) - res.paid
            if shortfall > self.settings.underpaid_tolerance:
                yield self._finding(
                    "claim_underpaid",
                    facts
                    | {
                        "paid": f"${res.paid:,.2f}",
                        "expected_paid": f"${Decimal(str(expected)):,.2f}",
                        "shortfall": f"${shortfall:,.2f}",
                    },
                )

    def _finding(self, rule: str, facts: Mapping[str, Any]) -> Finding:
        configured = self.settings.rules.get(rule)
        if configured is None:  # a rule missing from config: raise nothing, say nothing
            return Finding(rule, "", "", "low")
        values: defaultdict[str, str] = defaultdict(str, {k: str(v) for k, v in facts.items()})
        return Finding(
            rule=rule,
            reason=configured.reason.format_map(values),
            action=configured.action.format_map(values),
            priority=configured.priority,
            assignee=configured.assignee or None,
        )
