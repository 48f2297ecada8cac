"""The one matching rule (bots/matching.py) on synthetic rows: member IDs, claims, and
"exactly one candidate"; and the engine's check of a result against its question."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bots.errors import AmbiguousMatch, ClaimNotFound, MemberNotFound, PatientMismatch
from bots.matching import (
    ShownClaim,
    check_result,
    claim_fits,
    member_fits,
    one_candidate,
)
from bots.models import (
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    IdentityBasis,
)

DOB = date(1980, 1, 2)


@pytest.mark.parametrize(
    ("asked", "asked_dob", "shown", "shown_dob", "fits"),
    [
        ("ACM123456701", DOB, "acm-1234567 01", DOB, True),  # case, spaces, dashes
        ("ACM123456701", None, "ACM123456701", None, True),  # nothing to contradict
        ("0012345", DOB, "12345", DOB, False),  # leading zeros kept
        ("ACM123456701", DOB, "ACM123456701", date(1980, 1, 3), False),  # another DOB
        ("ACM1234567", DOB, "ACM123456701", DOB, True),  # subscriber ID + equal DOB
        ("ACM1234567", DOB, "ACM123456701", None, False),  # suffix rule needs a shown DOB
        ("ACM1234567", None, "ACM123456701", DOB, False),  # ... and an asked one
        ("ACM1234567", DOB, "ACM12345670123", DOB, False),  # a suffix is two characters
        ("", DOB, "", DOB, False),
        ("ACM123456701", DOB, None, DOB, False),
    ],
)
def test_the_member_id_rule(asked, asked_dob, shown, shown_dob, fits):
    assert member_fits(asked, asked_dob, shown, shown_dob) is fits


def _claim_query(**changes) -> ClaimStatusQuery:
    base = {
        "payer_id": "ACME",
        "member_id": "M100",
        "dob": DOB,
        "dos_from": date(2026, 3, 1),
        "dos_to": date(2026, 3, 31),
    }
    return ClaimStatusQuery(**{**base, **changes})


def _row(number: str, start: str, end: str, billed: str = "100.00", **kw) -> ShownClaim:
    return ShownClaim(
        claim_number=number,
        dos_from=date.fromisoformat(start),
        dos_to=date.fromisoformat(end),
        billed=Decimal(billed),
        **kw,
    )


def test_a_claim_fits_when_its_dates_lie_within_the_asked_range():
    query = _claim_query()
    assert claim_fits(query, _row("C1", "2026-03-01", "2026-03-01"))
    assert claim_fits(query, _row("C2", "2026-03-10", "2026-03-31"))
    assert not claim_fits(query, _row("C3", "2026-02-27", "2026-03-02")), "starts before"
    assert not claim_fits(query, _row("C4", "2026-03-30", "2026-04-01")), "ends after"


def test_a_single_date_asks_for_that_day_only():
    query = _claim_query(dos_to=None)
    assert claim_fits(query, _row("C1", "2026-03-01", "2026-03-01"))
    assert not claim_fits(query, _row("C2", "2026-03-01", "2026-03-02"))


def test_claim_number_member_and_billed_decide_when_asked_and_shown():
    query = _claim_query(claim_number="c-1", billed=Decimal("100.00"))
    assert claim_fits(query, _row("C-1", "2026-03-05", "2026-03-05"))
    assert not claim_fits(query, _row("C-2", "2026-03-05", "2026-03-05"))
    assert not claim_fits(query, _row("C-1", "2026-03-05", "2026-03-05", billed="99.00"))
    assert not claim_fits(query, _row("C-1", "2026-03-05", "2026-03-05", member_id="M200"))
    assert not claim_fits(
        query, _row("C-1", "2026-03-05", "2026-03-05", member_id="M100", dob=date(1990, 1, 1))
    )
    no_billed = ShownClaim("C-1", dos_from=date(2026, 3, 5), dos_to=date(2026, 3, 5))
    assert claim_fits(query, no_billed), "a billed amount not shown cannot contradict"


def test_two_claims_overlapping_the_asked_range_are_ambiguous():
    query = _claim_query()
    rows = [
        _row("C1", "2026-03-02", "2026-03-04"),
        _row("C2", "2026-03-03", "2026-03-05"),
        _row("C3", "2026-02-01", "2026-02-03"),
    ]
    with pytest.raises(AmbiguousMatch):
        one_candidate(rows, lambda r: claim_fits(query, r), not_found=ClaimNotFound)
    # the billed amount tells them apart
    rows[1] = _row("C2", "2026-03-03", "2026-03-05", billed="250.00")
    picked = one_candidate(
        rows,
        lambda r: claim_fits(_claim_query(billed=Decimal("250.00")), r),
        not_found=ClaimNotFound,
    )
    assert picked.claim_number == "C2"


def test_exactly_one_candidate():
    assert one_candidate([1, 2, 3], lambda n: n == 2, not_found=MemberNotFound) == 2
    with pytest.raises(MemberNotFound):
        one_candidate([1, 3], lambda n: n == 2, not_found=MemberNotFound)
    with pytest.raises(ClaimNotFound):
        one_candidate([], lambda n: True, not_found=ClaimNotFound)
    with pytest.raises(AmbiguousMatch):
        one_candidate([2, 2], lambda n: n == 2, not_found=MemberNotFound)


def _elig_query() -> EligibilityQuery:
    return EligibilityQuery(
        payer_id="ACME", member_id="M100", dob=DOB, date_of_service=date(2026, 12, 1)
    )


def _elig_result(**changes) -> EligibilityResult:
    base = {
        "portal": "p",
        "payer_id": "ACME",
        "as_of": datetime.now(UTC),
        "member_id": "M100",
        "dob": DOB,
        "date_of_service": date(2026, 12, 1),
        "coverage_active": True,
    }
    return EligibilityResult(**{**base, **changes})


def test_the_engine_check_of_an_eligibility_answer():
    query = _elig_query()
    check_result(query, _elig_result())
    with pytest.raises(PatientMismatch):
        check_result(query, _elig_result(member_id="M200"))
    with pytest.raises(PatientMismatch):
        check_result(query, _elig_result(dob=date(1999, 9, 9)))
    with pytest.raises(PatientMismatch):  # no identity shown and no basis declared
        check_result(query, _elig_result(member_id=None, dob=None))
    check_result(
        query,
        _elig_result(member_id=None, dob=None, identity_basis=IdentityBasis.SEARCH_UNIQUE),
    )


def test_the_engine_check_of_a_claim_answer():
    query = _claim_query(claim_number="C1")
    result = ClaimStatusResult(
        portal="p",
        payer_id="ACME",
        as_of=datetime.now(UTC),
        claim_number="C1",
        member_id="M100",
        dos_from=date(2026, 3, 5),
        dos_to=date(2026, 3, 6),
        category="F1",
    )
    check_result(query, result)
    for wrong in (
        {"claim_number": "C2"},
        {"member_id": "M200"},
        {"dos_to": date(2026, 4, 2)},
        {"member_id": None},
    ):
        with pytest.raises(PatientMismatch):
            check_result(query, result.model_copy(update=wrong))
