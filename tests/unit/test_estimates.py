"""Patient responsibility estimates: worked examples from hand-written benefit lines.

The four examples of docs/estimates.md are the first four tests; keep them in step.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bots.codes import BenefitInfo, CoverageLevel, TimePeriod, YesNoUnknown
from bots.followups.estimates import Estimate, estimate_patient_cost
from bots.models import Benefit, EligibilityResult

D = Decimal
IND, FAM = CoverageLevel.INDIVIDUAL, CoverageLevel.FAMILY
Y, N = YesNoUnknown.YES, YesNoUnknown.NO


def result(*benefits: Benefit, active: bool = True) -> EligibilityResult:
    return EligibilityResult(
        portal="payerhub",
        payer_id="ACME",
        as_of=datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
        member_id="ACM100200300",
        first_name="JANE",
        last_name="DOE",
        dob=date(1980, 5, 17),
        date_of_service=date(2026, 12, 1),
        coverage_active=active,
        benefits=benefits,
    )


def accumulator(
    info: BenefitInfo,
    total: str,
    met: str,
    *,
    level: CoverageLevel = IND,
    service_type: str = "30",
    network: YesNoUnknown = Y,
) -> Benefit:
    return Benefit(
        service_type=service_type,
        benefit=info,
        in_network=network,
        coverage_level=level,
        time_period=TimePeriod.CALENDAR_YEAR,
        total=D(total),
        met=D(met),
        remaining=D(total) - D(met),
    )


def deductible(total: str, met: str, **kw: Any) -> Benefit:
    return accumulator(BenefitInfo.DEDUCTIBLE, total, met, **kw)


def oop(total: str, met: str, **kw: Any) -> Benefit:
    return accumulator(BenefitInfo.OUT_OF_POCKET, total, met, **kw)


def copay(service_type: str, amount: str, network: YesNoUnknown = Y) -> Benefit:
    return Benefit(
        service_type=service_type,
        benefit=BenefitInfo.COPAYMENT,
        in_network=network,
        coverage_level=IND,
        amount=D(amount),
    )


def coinsurance(service_type: str, percent: str, network: YesNoUnknown = Y) -> Benefit:
    return Benefit(
        service_type=service_type,
        benefit=BenefitInfo.COINSURANCE,
        in_network=network,
        coverage_level=IND,
        percent=D(percent),
    )


# --- the four worked examples of docs/estimates.md -------------------------------------


def test_example_1_copay_visit() -> None:
    res = result(
        deductible("1500.00", "200.00"),
        oop("4000.00", "1600.00"),
        copay("98", "30.00"),
        coinsurance("98", "40", network=N),
    )
    est = estimate_patient_cost(res, "98", D("180.00"))
    assert est.amount == D("30.00")
    assert est.copay == D("30.00") and est.oop_remaining == D("2400.00")
    assert est.deductible_remaining is None and est.coinsurance_percent is None  # not used
    assert "copay: min(30.00, 180.00 charge) = 30.00" in est.steps
    assert "out-of-pocket cap: min(30.00, 2,400.00 remaining) = 30.00" in est.steps
    assert est.caveats == ("out-of-network benefits not considered",)


def test_example_2_deductible_partly_met_then_20_percent() -> None:
    res = result(
        deductible("1500.00", "1350.00"),
        oop("4000.00", "1000.00"),
        coinsurance("47", "20"),
    )
    est = estimate_patient_cost(res, "47", D("225.00"))
    assert est.amount == D("165.00")
    assert est.deductible_remaining == D("150.00")
    assert est.coinsurance_percent == D("20")
    assert est.oop_remaining == D("3000.00")
    assert est.steps == (
        "expected charge: 225.00",
        "out-of-pocket remaining (plan-level, individual): 3,000.00",
        "deductible remaining (plan-level, individual): 150.00",
        "deductible: min(225.00, 150.00 remaining) = 150.00",
        "coinsurance: 20% of 75.00 = 15.00",
        "subtotal: 150.00 + 15.00 = 165.00",
        "out-of-pocket cap: min(165.00, 3,000.00 remaining) = 165.00",
        "estimate: 165.00",
    )
    assert est.caveats == ()


def test_example_3_out_of_pocket_nearly_met_caps_the_estimate() -> None:
    res = result(
        deductible("2000.00", "1500.00"),
        oop("5000.00", "4690.00"),
        coinsurance("47", "20"),
    )
    est = estimate_patient_cost(res, "47", D("800.00"))
    # 500.00 deductible + 20% of 300.00 = 560.00, but only 310.00 is left to the maximum
    assert "subtotal: 500.00 + 60.00 = 560.00" in est.steps
    assert "out-of-pocket cap: min(560.00, 310.00 remaining) = 310.00" in est.steps
    assert est.amount == D("310.00")


def test_example_4_inactive_coverage_is_the_full_charge() -> None:
    res = result(deductible("1500.00", "0.00"), copay("98", "30.00"), active=False)
    est = estimate_patient_cost(res, "98", D("225.00"))
    assert est.amount == D("225.00") and est.charge == D("225.00")
    assert est.copay is None and est.deductible_remaining is None
    assert est.caveats == (
        "coverage inactive on the date of service: the patient may owe the full charge",
    )
    assert est.steps[-1] == "self-pay: full charge = 225.00"


# --- rule 1: no coverage ---------------------------------------------------------------


def test_inactive_without_a_charge_is_no_estimate() -> None:
    est = estimate_patient_cost(result(active=False), "98")
    assert est.amount is None and est.charge is None
    assert est.summary == (
        "No estimate: coverage inactive on the date of service: the patient may owe the full charge"
    )


def test_a_service_the_plan_does_not_cover_is_self_pay() -> None:
    not_covered = Benefit(service_type="AL", benefit=BenefitInfo.NON_COVERED, in_network=Y)
    res = result(deductible("500.00", "0.00"), oop("3000.00", "2990.00"), not_covered)
    est = estimate_patient_cost(res, "AL", D("140.00"))
    assert est.amount == D("140.00")  # not capped: non-covered charges do not count to OOP
    assert est.caveats == ("service type AL not covered: the patient may owe the full charge",)
    # other service types of the same plan are unaffected
    assert estimate_patient_cost(res, "98", D("140.00")).amount == D("10.00")


# --- rule 2: which lines ---------------------------------------------------------------


def test_family_remaining_smaller_than_individual_is_used() -> None:
    res = result(
        deductible("2000.00", "500.00"),  # 1,500.00 left for the patient
        deductible("4000.00", "3800.00", level=FAM),  # 200.00 left for the family
        oop("6000.00", "1000.00"),
        oop("12000.00", "11900.00", level=FAM),  # 100.00 left for the family
        coinsurance("30", "20"),
    )
    est = estimate_patient_cost(res, "30", D("300.00"))
    assert est.deductible_remaining == D("200.00")
    assert est.oop_remaining == D("100.00")
    assert (
        "deductible remaining (plan-level): min(1,500.00 individual, 200.00 family) = 200.00"
        in est.steps
    )
    # 200.00 + 20% of 100.00 = 220.00, capped at the family's 100.00
    assert est.amount == D("100.00")


def test_individual_remaining_smaller_than_family_is_used() -> None:
    res = result(
        deductible("1000.00", "950.00"),
        deductible("3000.00", "1000.00", level=FAM),
        coinsurance("30", "10"),
    )
    est = estimate_patient_cost(res, "30", D("150.00"))
    assert est.deductible_remaining == D("50.00")
    assert est.amount == D("60.00")  # 50.00 + 10% of 100.00


def test_family_only_accumulator_is_used() -> None:
    res = result(deductible("3000.00", "2900.00", level=FAM), coinsurance("30", "0"))
    est = estimate_patient_cost(res, "30", D("250.00"))
    assert est.deductible_remaining == D("100.00")
    assert "deductible remaining (plan-level, family only): 100.00" in est.steps
    assert est.amount == D("100.00")


def test_service_type_without_cost_share_falls_back_to_plan_level() -> None:
    res = result(
        deductible("1000.00", "1000.00"),
        oop("3000.00", "500.00"),
        coinsurance("30", "25"),
        copay("98", "20.00"),
    )
    est = estimate_patient_cost(res, "MH", D("200.00"))
    assert est.amount == D("50.00")
    assert est.coinsurance_percent == D("25")
    assert "benefit amounts unknown for service type MH: plan-level values used" in est.caveats


def test_service_type_lines_win_over_plan_level() -> None:
    res = result(
        deductible("1000.00", "0.00"),
        copay("30", "50.00"),
        copay("UC", "75.00"),
        oop("3000.00", "0.00"),
    )
    est = estimate_patient_cost(res, "UC", D("400.00"))
    assert est.copay == D("75.00") and est.amount == D("75.00")
    assert est.caveats == ()


def test_service_type_with_its_own_deductible_uses_it() -> None:
    res = result(
        deductible("1000.00", "0.00"),
        deductible("300.00", "250.00", service_type="MH"),
        coinsurance("MH", "10"),
    )
    est = estimate_patient_cost(res, "MH", D("150.00"))
    assert est.deductible_remaining == D("50.00")
    assert "deductible remaining (service type MH, individual): 50.00" in est.steps
    assert est.amount == D("60.00")  # 50.00 + 10% of 100.00


def test_out_of_network_lines_are_ignored() -> None:
    res = result(
        deductible("1000.00", "1000.00"),
        deductible("3000.00", "0.00", network=N),
        oop("4000.00", "1000.00"),
        copay("98", "90.00", network=N),
        coinsurance("98", "50", network=N),
        coinsurance("98", "10"),
    )
    est = estimate_patient_cost(res, "98", D("200.00"))
    assert est.copay is None and est.deductible_remaining == D("0.00")
    assert est.amount == D("20.00")
    assert est.caveats == ("out-of-network benefits not considered",)


def test_lines_for_both_networks_count_as_in_network() -> None:
    res = result(copay("86", "250.00", network=YesNoUnknown.BOTH), oop("4000.00", "0.00"))
    assert estimate_patient_cost(res, "86", D("1800.00")).amount == D("250.00")


def test_remaining_is_computed_from_total_and_met_when_missing() -> None:
    line = Benefit(
        service_type="30",
        benefit=BenefitInfo.DEDUCTIBLE,
        in_network=Y,
        coverage_level=IND,
        total=D("500.00"),
        met=D("420.00"),
    )
    est = estimate_patient_cost(result(line, coinsurance("30", "20")), "30", D("100.00"))
    assert est.deductible_remaining == D("80.00")
    assert est.amount == D("84.00")


# --- rule 3: copay ---------------------------------------------------------------------


def test_copay_is_not_more_than_the_charge() -> None:
    res = result(copay("98", "40.00"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "98", D("25.00"))
    assert est.amount == D("25.00")
    assert "copay: min(40.00, 25.00 charge) = 25.00" in est.steps


def test_copay_ignores_the_deductible() -> None:
    res = result(deductible("3000.00", "0.00"), copay("98", "30.00"), oop("5000.00", "0.00"))
    assert estimate_patient_cost(res, "98", D("250.00")).amount == D("30.00")


def test_copay_without_a_charge_is_the_copay_only() -> None:
    res = result(copay("98", "30.00"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "98")
    assert est.amount == D("30.00") and est.charge is None
    assert est.caveats == ("no expected charge on the worklist: copay only",)


def test_copay_is_capped_at_out_of_pocket_remaining() -> None:
    res = result(copay("UC", "75.00"), oop("3000.00", "2960.00"))
    assert estimate_patient_cost(res, "UC", D("300.00")).amount == D("40.00")
    assert estimate_patient_cost(res, "UC").amount == D("40.00")


# --- rule 4: deductible and coinsurance ------------------------------------------------


def test_out_of_pocket_met_owes_nothing() -> None:
    res = result(
        deductible("1000.00", "400.00"), oop("3000.00", "3000.00"), coinsurance("30", "20")
    )
    est = estimate_patient_cost(res, "30", D("900.00"))
    assert est.oop_remaining == D("0.00")
    assert est.amount == D("0.00")
    assert est.steps[-2] == "out-of-pocket cap: min(660.00, 0.00 remaining) = 0.00"


def test_charge_all_within_the_deductible() -> None:
    res = result(deductible("2500.00", "100.00"), coinsurance("30", "20"), oop("6000.00", "100.00"))
    est = estimate_patient_cost(res, "30", D("180.00"))
    assert est.amount == D("180.00")
    assert "coinsurance: 20% of 0.00 = 0.00" in est.steps


def test_deductible_met_coinsurance_only() -> None:
    res = result(deductible("2500.00", "2500.00"), coinsurance("30", "30"), oop("6000.00", "0.00"))
    assert estimate_patient_cost(res, "30", D("410.00")).amount == D("123.00")


def test_no_coinsurance_line_means_zero_after_the_deductible() -> None:
    res = result(deductible("1000.00", "900.00"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "47", D("500.00"))
    assert est.amount == D("100.00")
    assert est.coinsurance_percent is None
    assert "no coinsurance line: 0% assumed after the deductible" in est.caveats


def test_no_deductible_line_means_coinsurance_on_the_whole_charge() -> None:
    res = result(coinsurance("47", "15"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "47", D("200.00"))
    assert est.amount == D("30.00")
    assert "no deductible line: none assumed" in est.caveats


def test_nothing_to_go_on_is_no_estimate() -> None:
    est = estimate_patient_cost(result(oop("3000.00", "0.00")), "98", D("200.00"))
    assert est.amount is None
    assert (
        est.summary
        == "No estimate: no in-network copay, coinsurance or deductible for service type 98"
    )


def test_no_out_of_pocket_line_is_not_capped() -> None:
    res = result(deductible("500.00", "0.00"), coinsurance("30", "20"))
    est = estimate_patient_cost(res, "30", D("700.00"))
    assert est.amount == D("540.00")
    assert est.oop_remaining is None
    assert "no out-of-pocket maximum line: no cap applied" in est.caveats


def test_missing_charge_fills_the_components_but_no_amount() -> None:
    res = result(
        deductible("1500.00", "1350.00"), oop("4000.00", "1000.00"), coinsurance("47", "20")
    )
    est = estimate_patient_cost(res, "47")
    assert est.amount is None and est.charge is None
    assert est.deductible_remaining == D("150.00")
    assert est.coinsurance_percent == D("20")
    assert est.oop_remaining == D("3000.00")
    assert est.caveats[0] == "no expected charge on the worklist: no amount estimated"
    assert est.summary.startswith("No estimate: no expected charge on the worklist")


# --- rule 5: rounding, never negative --------------------------------------------------


def test_coinsurance_rounds_to_cents() -> None:
    res = result(deductible("500.00", "500.00"), coinsurance("30", "20"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "30", D("33.33"))
    assert est.amount == D("6.67")  # 6.666
    assert "coinsurance: 20% of 33.33 = 6.67" in est.steps


def test_rounding_is_half_up_not_half_even() -> None:
    res = result(deductible("500.00", "500.00"), coinsurance("30", "10"), oop("3000.00", "0.00"))
    assert estimate_patient_cost(res, "30", D("0.25")).amount == D("0.03")  # 0.025
    assert estimate_patient_cost(res, "30", D("0.45")).amount == D("0.05")  # 0.045


def test_charge_is_rounded_to_cents_first() -> None:
    res = result(copay("98", "30.00"), oop("3000.00", "0.00"), active=False)
    est = estimate_patient_cost(res, "98", D("99.995"))
    assert est.charge == D("100.00") and est.amount == D("100.00")


def test_fractional_percent() -> None:
    res = result(deductible("0.00", "0.00"), coinsurance("30", "12.5"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "30", D("101.00"))
    assert est.amount == D("12.63")  # 12.625
    assert "coinsurance: 12.5% of 101.00 = 12.63" in est.steps


def test_negative_values_count_as_zero() -> None:
    odd = Benefit(
        service_type="30",
        benefit=BenefitInfo.DEDUCTIBLE,
        in_network=Y,
        coverage_level=IND,
        remaining=D("-50.00"),
    )
    res = result(odd, coinsurance("30", "-20"), oop("3000.00", "0.00"))
    est = estimate_patient_cost(res, "30", D("100.00"))
    assert est.deductible_remaining == D("0.00") and est.coinsurance_percent == D("0")
    assert est.amount == D("0.00")
    assert estimate_patient_cost(res, "30", D("-100.00")).amount == D("0.00")


def test_percent_above_100_is_100() -> None:
    res = result(coinsurance("30", "120"), oop("3000.00", "0.00"), deductible("0", "0"))
    assert estimate_patient_cost(res, "30", D("80.00")).amount == D("80.00")


# --- summary ---------------------------------------------------------------------------


def test_summary_is_one_line_without_phi() -> None:
    res = result(
        deductible("1500.00", "1350.00"),
        oop("4000.00", "1000.00"),
        coinsurance("47", "20"),
        coinsurance("47", "40", network=N),
    )
    summary = estimate_patient_cost(res, "47", D("225.00")).summary
    assert summary == (
        "Est. patient share $165.00 (deductible left 150.00, coinsurance 20%, "
        "OOP left 3,000.00) - out-of-network benefits not considered"
    )
    for phi in ("JANE", "DOE", "ACM100200300", "1980"):
        assert phi not in summary


def test_summary_of_a_copay() -> None:
    est = Estimate(amount=D("30.00"), copay=D("30.00"), oop_remaining=D("2400.00"))
    assert est.summary == "Est. patient share $30.00 (copay 30.00, OOP left 2,400.00)"
    assert "\n" not in Estimate(amount=D("1.00"), caveats=("a\nb",)).summary


# --- properties ------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=20000, places=2, allow_nan=False, allow_infinity=False)
percent = st.decimals(min_value=0, max_value=100, places=1, allow_nan=False, allow_infinity=False)
service_types = st.sampled_from(["30", "98", "UC", "86", "47", "MH"])


@st.composite
def benefit_lines(draw: st.DrawFn) -> tuple[Benefit, ...]:
    lines: list[Benefit] = []
    for info in (BenefitInfo.DEDUCTIBLE, BenefitInfo.OUT_OF_POCKET):
        for level in (IND, FAM):
            if draw(st.booleans()):
                total = draw(money)
                met = draw(st.decimals(min_value=0, max_value=total, places=2))
                st_code = draw(st.sampled_from(["30", "30", "MH"]))
                lines.append(
                    accumulator(info, str(total), str(met), level=level, service_type=st_code)
                )
    for _ in range(draw(st.integers(0, 4))):
        st_code = draw(service_types)
        network = draw(st.sampled_from([Y, N, YesNoUnknown.BOTH]))
        if draw(st.booleans()):
            lines.append(copay(st_code, str(draw(money)), network))
        else:
            lines.append(coinsurance(st_code, str(draw(percent)), network))
    return tuple(draw(st.permutations(lines)))


@given(benefit_lines(), service_types, st.one_of(st.none(), money))
def test_estimate_is_within_the_charge_and_the_out_of_pocket_remaining(
    lines: tuple[Benefit, ...], service_type: str, charge: Decimal | None
) -> None:
    est = estimate_patient_cost(result(*lines), service_type, charge)
    has_oop = any(
        b.benefit == BenefitInfo.OUT_OF_POCKET and b.service_type in ("30", service_type)
        for b in lines
    )
    if has_oop:
        assert est.oop_remaining is not None
    if est.amount is None:
        return
    assert est.amount >= 0
    assert est.amount == est.amount.quantize(D("0.01"))
    if charge is not None:
        assert est.amount <= charge
    if est.oop_remaining is not None:
        assert est.amount <= est.oop_remaining
    assert "\n" not in est.summary


@pytest.mark.parametrize("charge", [None, D("0.00"), D("75.50")])
def test_inactive_is_always_the_charge(charge: Decimal | None) -> None:
    res = result(copay("98", "30.00"), oop("3000.00", "3000.00"), active=False)
    assert estimate_patient_cost(res, "98", charge).amount == charge
