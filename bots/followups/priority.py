"""A follow-up's priority that means something: points for the rule's own priority, for the
appointment's nearness (today or tomorrow counts most, weeks away little) and for the money
at stake (the expected charge, the billed amount, an underpayment's shortfall), weighed by
config/followups.toml [followups.priority] into high, medium or low."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from bots.settings import PrioritySettings

RANK = {"high": 0, "medium": 1, "low": 2}


def _money(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def at_stake(kind: str, query: Mapping[str, Any], payload: Mapping[str, Any] | None) -> Decimal:
    """The money a follow-up is about: the largest of the charge, the billed amount and the
    shortfall of a payment below the expected one."""
    answer = payload or {}
    amounts = [_money(query.get("expected_charge")), _money(query.get("billed"))]
    amounts.append(_money(answer.get("billed")))
    expected, paid = _money(query.get("expected_paid")), _money(answer.get("paid"))
    if expected is not None and paid is not None:
        amounts.append(expected - paid)
    return max((a for a in amounts if a is not None), default=Decimal(0))


def days_ahead(kind: str, service_date: date | None, as_of: date) -> int | None:
    """Days from today to the appointment (eligibility only: a claim's date is behind us)."""
    if kind != "eligibility" or service_date is None:
        return None
    return (service_date - as_of).days


def score(rule_priority: str, days: int | None, money: Decimal, settings: PrioritySettings) -> int:
    points = settings.rule_points.get(rule_priority, 0)
    if days is not None and days >= 0:
        points += next((p for within, p in settings.nearness if days <= within), 0)
    points += next((p for floor, p in settings.money if money >= floor), 0)
    return int(points)


def priority(
    rule_priority: str, days: int | None, money: Decimal, settings: PrioritySettings
) -> str:
    """high, medium or low from the score against the configured thresholds."""
    total = score(rule_priority, days, money, settings)
    if total >= settings.high_from:
        return "high"
    return "medium" if total >= settings.medium_from else "low"
