"""Patient responsibility estimate for one appointment, from an eligibility result.

This is the arithmetic a billing specialist does by hand with the 271 benefit lines on
one side and the practice's expected charge on the other, written down so every
estimate shows its work (``Estimate.steps``) and its doubts (``Estimate.caveats``).
In-network benefits only; amounts are ``Decimal`` dollars, rounded to cents
(ROUND_HALF_UP) at the end of every step.

Rules, in order:

1. **Coverage inactive** on the date of service: the patient may owe the full charge as
   self-pay, so the estimate is the expected charge (or ``None`` without one).
   **Service not covered** (an in-network EB01 ``I`` line for the service type): the
   same, because the plan pays nothing and non-covered charges do not count toward the
   out-of-pocket maximum.
2. **Which lines.** Copay/coinsurance lines of the visit's service type (``98`` office
   visit, ``UC``, ``86``, ``47``, ``MH``, ``AL``...) are used first; when the service type
   has neither, the plan-level (``30``) ones are used and a caveat says so. Deductible
   and out-of-pocket accumulators are taken from the service type when it has its own
   (e.g. a separate mental-health deductible), otherwise from ``30``, which is where
   plans normally keep them (so that fallback is recorded in the steps, not as a caveat).
   Individual level (or lines without a level); if a family-level remaining exists as
   well, the smaller of the two is used: the patient's cost sharing changes as soon as
   *either* limit is met (an embedded individual deductible, or the family total met by
   the other members), so the smaller remaining is the one that binds.
3. **Copay** for the service type: the patient owes ``min(copay, charge)``, capped at
   the out-of-pocket remaining. In this model the copay is *not* subject to the
   deductible and no coinsurance is added on top; plans vary (some apply the deductible
   first, some add coinsurance for services beyond the visit itself). Without an expected
   charge the estimate is the copay (still capped at the out-of-pocket remaining), with
   a caveat that it covers the copay only.
4. **No copay**: deductible part = ``min(charge, deductible remaining)``; the rest of the
   charge times the coinsurance percent (0 without a coinsurance line); the sum capped
   at the out-of-pocket remaining (out-of-pocket met, remaining 0: nothing owed).
   Without an expected charge the amount is ``None``, but the components that would be
   used are still filled in. With no copay, coinsurance or deductible line at all there
   is nothing to estimate from: ``None``.
5. Never negative: charges and remainings below zero count as zero, percents are kept
   within 0-100.

Limits. The estimate is computed against the *expected charge the practice gave*, not
the payer's allowed amount, which is usually lower (contracted rates): the deductible
and coinsurance apply to the allowed amount, so this estimate is an **upper bound** of
what the patient will owe. It also ignores claims in flight (accumulators are as of the
portal lookup), out-of-network benefits, visit limits, and secondary coverage.
``Benefit.percent`` is read as the patient's coinsurance share (``20`` = the patient
pays 20%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bots.codes import BenefitInfo, CoverageLevel, YesNoUnknown
from bots.models import Benefit, EligibilityResult

__all__ = ["PLAN_LEVEL", "Estimate", "estimate_patient_cost"]

PLAN_LEVEL = "30"
"""Service type of plan-level (Health Benefit Plan Coverage) benefit lines."""

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
IN_NETWORK = (YesNoUnknown.YES, YesNoUnknown.BOTH)


@dataclass(frozen=True)
class Estimate:
    """What the patient is expected to owe, with the values used and the working shown."""

    amount: Decimal | None
    """The patient's estimated share in dollars; None when it cannot be computed."""
    charge: Decimal | None = None
    copay: Decimal | None = None
    coinsurance_percent: Decimal | None = None
    deductible_remaining: Decimal | None = None
    oop_remaining: Decimal | None = None
    steps: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line for a spreadsheet cell: the amount, its basis and the caveats (no PHI)."""
        if self.amount is None:
            reason = self.caveats[0] if self.caveats else "not enough benefit information"
            return f"No estimate: {reason}"
        basis: list[str] = []
        if self.copay is not None:
            basis.append(f"copay {_money(self.copay)}")
        if self.deductible_remaining is not None:
            basis.append(f"deductible left {_money(self.deductible_remaining)}")
        if self.coinsurance_percent is not None:
            basis.append(f"coinsurance {_pct(self.coinsurance_percent)}%")
        if self.oop_remaining is not None:
            basis.append(f"OOP left {_money(self.oop_remaining)}")
        text = f"Est. patient share ${_money(self.amount)}"
        if basis:
            text += f" ({', '.join(basis)})"
        if self.caveats:
            text += " - " + "; ".join(self.caveats)
        return " ".join(text.split())  # one line, whatever a caveat holds


def estimate_patient_cost(
    result: EligibilityResult,
    service_type: str = PLAN_LEVEL,
    expected_charge: Decimal | None = None,
) -> Estimate:
    """Estimate the patient's in-network share of ``expected_charge`` for ``service_type``.

    See the module docstring for the rules; ``Estimate.steps`` shows the arithmetic.
    """
    charge = _cents(max(expected_charge, ZERO)) if expected_charge is not None else None
    steps: list[str] = []
    caveats: list[str] = []
    if charge is not None:
        steps.append(f"expected charge: {_money(charge)}")
    out_of_network = any(line.in_network == YesNoUnknown.NO for line in result.benefits)

    def done(amount: Decimal | None, **used: Decimal | None) -> Estimate:
        if out_of_network:
            caveats.append("out-of-network benefits not considered")
        return Estimate(
            amount=amount, charge=charge, steps=tuple(steps), caveats=tuple(caveats), **used
        )

    # Rule 1: no coverage, or a service the plan does not cover -> self-pay.
    not_covered = _first(result, service_type, BenefitInfo.NON_COVERED, _individual, _any)
    if not result.coverage_active or not_covered is not None:
        why = (
            "coverage inactive on the date of service"
            if not result.coverage_active
            else f"service type {service_type} not covered"
        )
        caveats.append(f"{why}: the patient may owe the full charge")
        if charge is not None:
            steps.append(f"self-pay: full charge = {_money(charge)}")
        return done(charge)

    # Rule 2: which lines.
    copay_line = _first(result, service_type, BenefitInfo.COPAYMENT, _individual, _has_amount)
    coins_line = _first(result, service_type, BenefitInfo.COINSURANCE, _individual, _has_pct)
    if copay_line is None and coins_line is None and service_type != PLAN_LEVEL:
        copay_line = _first(result, PLAN_LEVEL, BenefitInfo.COPAYMENT, _individual, _has_amount)
        coins_line = _first(result, PLAN_LEVEL, BenefitInfo.COINSURANCE, _individual, _has_pct)
        if copay_line is not None or coins_line is not None:
            caveats.append(
                f"benefit amounts unknown for service type {service_type}: plan-level values used"
            )
    oop = _remaining(result, service_type, BenefitInfo.OUT_OF_POCKET, "out-of-pocket", steps)

    # Rule 3: copay.
    if copay_line is not None and copay_line.amount is not None:
        copay = _cents(max(copay_line.amount, ZERO))
        if charge is None:
            caveats.append("no expected charge on the worklist: copay only")
            owed = copay
            steps.append(f"copay: {_money(copay)}")
        else:
            owed = min(copay, charge)
            steps.append(f"copay: min({_money(copay)}, {_money(charge)} charge) = {_money(owed)}")
        owed = _cap(owed, oop, steps, caveats)
        steps.append(f"estimate: {_money(owed)}")
        return done(owed, copay=copay, oop_remaining=oop)

    # Rule 4: deductible, then coinsurance.
    deductible = _remaining(result, service_type, BenefitInfo.DEDUCTIBLE, "deductible", steps)
    percent = None
    if coins_line is not None and coins_line.percent is not None:
        percent = min(max(coins_line.percent, Decimal(0)), HUNDRED)
    if deductible is None and percent is None:
        caveats.append(
            f"no in-network copay, coinsurance or deductible for service type {service_type}"
        )
        return done(None, oop_remaining=oop)
    if charge is None:
        caveats.insert(0, "no expected charge on the worklist: no amount estimated")
    if deductible is None:
        caveats.append("no deductible line: none assumed")
    if percent is None:
        caveats.append("no coinsurance line: 0% assumed after the deductible")
    used = {"coinsurance_percent": percent, "deductible_remaining": deductible}
    if charge is None:
        return done(None, oop_remaining=oop, **used)
    ded_part = ZERO
    if deductible is not None:
        ded_part = min(charge, deductible)
        steps.append(
            f"deductible: min({_money(charge)}, {_money(deductible)} remaining) = "
            f"{_money(ded_part)}"
        )
    rest = _cents(charge - ded_part)
    coins_part = _cents(rest * (percent or ZERO) / HUNDRED)
    steps.append(f"coinsurance: {_pct(percent or ZERO)}% of {_money(rest)} = {_money(coins_part)}")
    owed = _cents(ded_part + coins_part)
    steps.append(f"subtotal: {_money(ded_part)} + {_money(coins_part)} = {_money(owed)}")
    owed = _cap(owed, oop, steps, caveats)
    steps.append(f"estimate: {_money(owed)}")
    return done(owed, oop_remaining=oop, **used)


def _cap(owed: Decimal, oop: Decimal | None, steps: list[str], caveats: list[str]) -> Decimal:
    if oop is None:
        caveats.append("no out-of-pocket maximum line: no cap applied")
        return owed
    capped = min(owed, oop)
    steps.append(
        f"out-of-pocket cap: min({_money(owed)}, {_money(oop)} remaining) = {_money(capped)}"
    )
    return capped


def _remaining(
    result: EligibilityResult,
    service_type: str,
    info: BenefitInfo,
    label: str,
    steps: list[str],
) -> Decimal | None:
    """Remaining of an accumulator (deductible, out-of-pocket): the service type's own
    lines if it has any, else plan-level; the smaller of individual and family."""
    source = service_type
    ind = _first(result, service_type, info, _individual, _has_remaining)
    fam = _first(result, service_type, info, _family, _has_remaining)
    if ind is None and fam is None and service_type != PLAN_LEVEL:
        source = PLAN_LEVEL
        ind = _first(result, PLAN_LEVEL, info, _individual, _has_remaining)
        fam = _first(result, PLAN_LEVEL, info, _family, _has_remaining)
    where = "plan-level" if source == PLAN_LEVEL else f"service type {source}"
    ind_left = _left(ind) if ind is not None else None
    fam_left = _left(fam) if fam is not None else None
    if ind_left is not None and fam_left is not None:
        left = min(ind_left, fam_left)
        steps.append(
            f"{label} remaining ({where}): min({_money(ind_left)} individual, "
            f"{_money(fam_left)} family) = {_money(left)}"
        )
        return left
    if ind_left is not None:
        steps.append(f"{label} remaining ({where}, individual): {_money(ind_left)}")
        return ind_left
    if fam_left is not None:
        steps.append(f"{label} remaining ({where}, family only): {_money(fam_left)}")
        return fam_left
    return None


def _first(
    result: EligibilityResult,
    service_type: str,
    info: BenefitInfo,
    level: Callable[[Benefit], bool],
    usable: Callable[[Benefit], bool],
) -> Benefit | None:
    """The first in-network line of this service type and benefit, at this level, that
    carries the value needed."""
    for line in result.benefits:
        if (
            line.service_type == service_type
            and line.benefit == info
            and line.in_network in IN_NETWORK
            and level(line)
            and usable(line)
        ):
            return line
    return None


def _individual(line: Benefit) -> bool:
    return line.coverage_level in (CoverageLevel.INDIVIDUAL, None)


def _family(line: Benefit) -> bool:
    return line.coverage_level == CoverageLevel.FAMILY


def _any(line: Benefit) -> bool:
    return True


def _has_amount(line: Benefit) -> bool:
    return line.amount is not None


def _has_pct(line: Benefit) -> bool:
    return line.percent is not None


def _has_remaining(line: Benefit) -> bool:
    return _left(line) is not None


def _left(line: Benefit) -> Decimal | None:
    """Remaining as shown, else total minus met; never below zero."""
    if line.remaining is not None:
        left = line.remaining
    elif line.total is not None and line.met is not None:
        left = line.total - line.met
    else:
        return None
    return _cents(max(left, ZERO))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}"
