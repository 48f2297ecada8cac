"""The right patient or no result: ONE rule for "is this the member / the claim asked about".

Every flow picks candidates with these functions, and the engine checks every answer with
them again before it is recorded (``check_result``): a flow that forgot to check cannot
store another patient's answer.

The member-ID rule (``member_fits``)
    IDs compare without case, spaces and dashes, keeping leading zeros. The ID shown may
    also be the asked ID plus a two-character member suffix (the worklist gave the
    subscriber ID): that alone never identifies anyone, so it counts only when both dates
    of birth are known and equal. A date of birth shown and asked must always be equal.

The claim-fits rule (``claim_fits``)
    The claim number, when asked, is the one shown; the patient account number, when asked
    and shown, is equal (a list that does not show it cannot contradict it); the member
    fits by the rule above when the claim shows one (a claim list without member IDs
    lists the searched member's claims only); the claim's service dates
    lie within the asked range [dos_from, dos_to or dos_from]; the billed amount is equal
    when both are known.

"Exactly one candidate" (``one_candidate``)
    None fits: not found (the flow says which: MemberNotFound, ClaimNotFound, or
    PatientMismatch for a list of members none of whom is the one asked about). Several
    fit: AmbiguousMatch, a person must look. Never the first.

The identity basis (``IdentityBasis`` in bots/models.py)
    A result carries the identity the portal showed, never the question's values. A portal
    whose answer shows no identity leaves those fields None and its flow declares how the
    identity was established (``search_unique``: searched by member ID + date of birth, the
    portal returned exactly one member); the engine records the basis with the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from bots.errors import AmbiguousMatch, ClaimNotFound, MemberNotFound, PatientMismatch
from bots.models import (
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    IdentityBasis,
)

T = TypeVar("T")


def norm_member_id(member_id: str | None) -> str:
    """A member ID without case, spaces and dashes; leading zeros kept."""
    return "".join(ch for ch in (member_id or "").upper() if ch.isalnum())


def member_fits(
    asked_id: str | None,
    asked_dob: date | None,
    shown_id: str | None,
    shown_dob: date | None,
) -> bool:
    """Whether the member shown is the member asked about (the module's member-ID rule)."""
    if asked_dob is not None and shown_dob is not None and asked_dob != shown_dob:
        return False
    asked, shown = norm_member_id(asked_id), norm_member_id(shown_id)
    if not asked or not shown:
        return False
    if asked == shown:
        return True
    subscriber = len(shown) == len(asked) + 2 and shown.startswith(asked)
    return subscriber and asked_dob is not None and asked_dob == shown_dob


@dataclass(frozen=True)
class ShownClaim:
    """What a page, a list row or an answer shows about a claim (None: not shown)."""

    claim_number: str | None = None
    patient_account_number: str | None = None
    member_id: str | None = None
    dob: date | None = None
    dos_from: date | None = None
    dos_to: date | None = None
    billed: Decimal | None = None

    @classmethod
    def of(cls, result: ClaimStatusResult) -> ShownClaim:
        return cls(
            claim_number=result.claim_number,
            patient_account_number=result.patient_account_number,
            member_id=result.member_id,
            dob=result.dob,
            dos_from=result.dos_from,
            dos_to=result.dos_to,
            billed=result.billed,
        )


def _same_text(asked: str, shown: str | None) -> bool:
    return shown is not None and asked.strip().upper() == shown.strip().upper()


def claim_mismatch(query: ClaimStatusQuery, shown: ShownClaim) -> str | None:
    """Why the claim shown does not fit the question (the claim-fits rule), or None."""
    if query.claim_number and not _same_text(query.claim_number, shown.claim_number):
        return "the claim number differs from the one asked for"
    account = query.patient_account_number
    if (
        account
        and shown.patient_account_number
        and not _same_text(account, shown.patient_account_number)
    ):
        return "the patient account number differs from the one asked for"
    if query.member_id and shown.member_id is not None:
        if not member_fits(query.member_id, query.dob, shown.member_id, shown.dob):
            return "the claim belongs to a member whose ID or date of birth differs"
    elif query.dob and shown.dob is not None and query.dob != shown.dob:
        return "the claim belongs to a member whose date of birth differs"
    if query.dos_from:
        last = query.dos_to or query.dos_from
        if shown.dos_from is None or shown.dos_to is None:
            return "the claim shows no service dates"
        if shown.dos_from < query.dos_from or shown.dos_to > last:
            return "the claim's service dates lie outside the dates asked for"
    if query.billed is not None and shown.billed is not None and query.billed != shown.billed:
        return "the claim's billed amount differs from the one asked for"
    return None


def claim_fits(query: ClaimStatusQuery, shown: ShownClaim) -> bool:
    """Whether the claim shown is an answer to the question (the claim-fits rule)."""
    return claim_mismatch(query, shown) is None


def one_candidate(
    candidates: Iterable[T],
    fits: Callable[[T], bool],
    *,
    not_found: type[ClaimNotFound] | type[MemberNotFound] | type[PatientMismatch],
    what: str = "candidates",
) -> T:
    """The one candidate that fits; none: ``not_found``; several: AmbiguousMatch."""
    found = [c for c in candidates if fits(c)]
    if not found:
        raise not_found(f"none of the {what} listed fits the question")
    if len(found) > 1:
        raise AmbiguousMatch(f"{len(found)} {what} fit the question: a person must choose")
    return found[0]


def check_member(query: EligibilityQuery, shown_id: str | None, shown_dob: date | None) -> None:
    """Raise PatientMismatch unless the member shown is the member asked about."""
    if not member_fits(query.member_id, query.dob, shown_id, shown_dob):
        raise PatientMismatch(
            "the answer is for a member whose ID or date of birth differs from the question"
        )


def check_claim(query: ClaimStatusQuery, shown: ShownClaim) -> None:
    """Raise PatientMismatch unless the claim shown is an answer to the question."""
    why = claim_mismatch(query, shown)
    if why is not None:
        raise PatientMismatch(f"the claim shown is not the one asked about: {why}")


def check_result(
    query: EligibilityQuery | ClaimStatusQuery, result: EligibilityResult | ClaimStatusResult
) -> None:
    """The engine's check before an answer is recorded: the identity the portal showed fits
    the question, or the flow declared how it established the identity otherwise. Raises
    PatientMismatch (a business outcome: a person looks; nothing is stored)."""
    if result.kind != query.kind:
        raise PatientMismatch("the answer is not of the kind of question asked")
    shown = result.identity_basis == IdentityBasis.SHOWN
    if isinstance(query, EligibilityQuery):
        assert isinstance(result, EligibilityResult)
        if result.member_id is None:
            if shown:
                raise PatientMismatch(
                    "the answer shows no member and its flow declared no other basis"
                )
            return
        check_member(query, result.member_id, result.dob)
        return
    assert isinstance(query, ClaimStatusQuery) and isinstance(result, ClaimStatusResult)
    if shown and query.member_id and result.member_id is None:
        raise PatientMismatch("the claim answer shows no member and its flow declared no basis")
    check_claim(query, ShownClaim.of(result))
