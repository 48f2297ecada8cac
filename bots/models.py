"""Typed lookups and results, normalized across portals with X12 semantics (see codes.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bots.codes import AdjustmentGroup, BenefitInfo, CoverageLevel, TimePeriod, YesNoUnknown

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
"""Text from worklists: IDs, names and codes are short; anything longer is not one of them."""
Money = Decimal

PHI_FIELDS: frozenset[str] = frozenset(
    {
        "member_id",
        "subscriber_id",
        "first_name",
        "last_name",
        "patient_name",
        "member_name",
        "name",
        "dob",
        "date_of_birth",
        "claim_number",
        "patient_account_number",
        "raw_text",
    }
)
"""Field names whose values are protected health information (redacted from logs by key)."""


class LookupKind(StrEnum):
    """What a work item asks a portal."""

    ELIGIBILITY = "eligibility"
    CLAIM_STATUS = "claim_status"


class IdentityBasis(StrEnum):
    """How a result's identity was established (kept with the answer; see bots/matching.py).

    ``shown``: the answer page showed the member (and claim) and it was compared with the
    question. ``search_unique``: the page shows no identity; the portal was searched by
    member ID + date of birth and returned exactly one member, whose answer this is. The
    flow declares it; the engine records it with the answer."""

    SHOWN = "shown"
    SEARCH_UNIQUE = "search_unique"

    @property
    def label(self) -> str:
        return {
            "shown": "the portal showed the patient",
            "search_unique": "the portal found exactly one member for ID and date of birth",
        }[self.value]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EligibilityQuery(_Model):
    """One eligibility & benefits question (~ a 270 request)."""

    kind: Literal[LookupKind.ELIGIBILITY] = LookupKind.ELIGIBILITY
    payer_id: Text
    member_id: Text = Field(min_length=1)
    dob: date
    date_of_service: date
    first_name: Text | None = None
    last_name: Text | None = None
    provider_npi: Text | None = None
    service_type: Text = "30"
    expected_charge: Money | None = None
    group_number: Text | None = None
    """The group number the practice has on file (to notice a plan change)."""

    def reference(self) -> str:
        """Same payer, member and date of service is the same question."""
        return f"elig|{self.payer_id}|{_norm_id(self.member_id)}|{self.dob}|{self.date_of_service}"


CLAIM_QUERY_SHAPE = (
    "A claim status question needs a claim number (or patient account number), "
    "or a member ID with the date of service."
)


class ClaimStatusQuery(_Model):
    """One claim status question (~ a 276 request): by claim number, or by member and dates."""

    kind: Literal[LookupKind.CLAIM_STATUS] = LookupKind.CLAIM_STATUS
    payer_id: Text
    claim_number: Text | None = None
    patient_account_number: Text | None = None
    member_id: Text | None = None
    dob: date | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    dos_from: date | None = None
    dos_to: date | None = None
    billed: Money | None = None
    provider_npi: Text | None = None
    expected_paid: Money | None = None
    """What the practice expects the payer to pay (contract rate), to notice underpayment."""

    @model_validator(mode="after")
    def _answerable(self) -> ClaimStatusQuery:
        if self.claim_number or self.patient_account_number:
            return self
        if self.member_id and self.dos_from:
            return self
        raise ValueError(CLAIM_QUERY_SHAPE)

    def reference(self) -> str:
        if self.claim_number:
            return f"claim|{self.payer_id}|{self.claim_number.strip().upper()}"
        return (
            f"claim|{self.payer_id}|{_norm_id(self.member_id or '')}|{self.dos_from}|"
            f"{self.dos_to}|{self.billed}"
        )


Query = Annotated[EligibilityQuery | ClaimStatusQuery, Field(discriminator="kind")]


FIELD_WORDS = {
    "payer_id": "the payer",
    "member_id": "the member ID",
    "dob": "the date of birth",
    "date_of_service": "the date of service",
    "dos_from": "the first date of service",
    "dos_to": "the last date of service",
    "claim_number": "the claim number",
    "patient_account_number": "the patient account number",
    "first_name": "the first name",
    "last_name": "the last name",
    "billed": "the billed amount",
    "expected_charge": "the expected charge",
    "expected_paid": "the expected payment",
    "service_type": "the service type",
    "provider_npi": "the provider NPI",
}
_PROBLEMS = {
    "missing": "is required",
    "string_too_short": "is empty",
    "string_too_long": "is too long",
    "date_type": "is not a date",
    "date_parsing": "is not a date",
    "date_from_datetime_parsing": "is not a date",
    "date_from_datetime_inexact": "is not a date",
    "decimal_parsing": "is not an amount",
    "decimal_type": "is not an amount",
    "extra_forbidden": "is not part of this kind of question",
}


def plain_problems(exc: ValidationError) -> list[tuple[str | None, str]]:
    """A question's validation errors as (field, sentence) a person reads: plain words,
    never pydantic's or Python's text, never the value typed (it may be PHI)."""
    found: list[tuple[str | None, str]] = []
    for err in exc.errors(include_url=False, include_context=True):
        field = str(err["loc"][0]) if err["loc"] else None
        if err.get("input", "") is None:  # left empty: the value itself is never echoed
            err["type"] = "missing"
        if err["type"] == "value_error":  # a model rule: its message is written for people
            message = str((err.get("ctx") or {}).get("error", "the question is not valid"))
            found.append(
                (field or ("claim_number" if message == CLAIM_QUERY_SHAPE else None), message)
            )
            continue
        what = FIELD_WORDS.get(field or "", f"the {field or 'question'}".replace("_", " "))
        sentence = f"{what} {_PROBLEMS.get(err['type'], 'is not valid')}."
        found.append((field, sentence[0].upper() + sentence[1:]))
    return found


def plain_message(exc: ValidationError) -> str:
    """All problems of a question in one plain paragraph."""
    return " ".join(m if m.endswith(".") else f"{m}." for _, m in plain_problems(exc))


def _norm_id(member_id: str) -> str:
    return "".join(ch for ch in member_id.upper() if ch.isalnum())


class Benefit(_Model):
    """One benefit line (~ a 271 EB segment) for a service type, network and coverage level."""

    service_type: str
    benefit: BenefitInfo
    in_network: YesNoUnknown
    coverage_level: CoverageLevel | None = None
    time_period: TimePeriod | None = None
    amount: Money | None = None
    percent: Decimal | None = None
    total: Money | None = None
    met: Money | None = None
    remaining: Money | None = None
    prior_auth_required: YesNoUnknown = YesNoUnknown.UNKNOWN


class Attachment(_Model):
    """A file the portal handed over during a lookup (e.g. a claim PDF), kept as evidence.

    Flows return the bytes; the runner writes them to the evidence folder and records
    the path. ``content`` never reaches JSON, logs or the store.
    """

    filename: str
    media_type: str = "application/octet-stream"
    content: bytes = Field(default=b"", exclude=True, repr=False)
    path: str | None = None


class _Evidence(_Model):
    portal: str
    payer_id: str
    as_of: datetime
    evidence: str | None = None
    raw_text: str = Field(default="", repr=False)
    attachments: tuple[Attachment, ...] = ()


class EligibilityResult(_Evidence):
    """Coverage and benefits of one member on one date of service (~ a 271 response)."""

    kind: Literal[LookupKind.ELIGIBILITY] = LookupKind.ELIGIBILITY
    identity_basis: IdentityBasis = IdentityBasis.SHOWN
    member_id: str | None = None
    """The identity the portal showed (None: not shown; see ``identity_basis``)."""
    first_name: str | None = None
    last_name: str | None = None
    dob: date | None = None
    relationship: str | None = None
    date_of_service: date
    coverage_active: bool
    plan_name: str | None = None
    plan_number: str | None = None
    network_type: str | None = None
    group_number: str | None = None
    group_name: str | None = None
    effective_date: date | None = None
    termination_date: date | None = None
    other_coverage: bool | None = None
    pcp_name: str | None = None
    pcp_npi: str | None = None
    benefits: tuple[Benefit, ...] = ()

    @property
    def coverage_status(self) -> BenefitInfo:
        return BenefitInfo.ACTIVE_COVERAGE if self.coverage_active else BenefitInfo.INACTIVE

    def find_benefit(
        self,
        service_type: str,
        benefit: BenefitInfo,
        *,
        in_network: YesNoUnknown = YesNoUnknown.YES,
        coverage_level: CoverageLevel | None = CoverageLevel.INDIVIDUAL,
    ) -> Benefit | None:
        """The first matching benefit line; coverage_level None matches any level."""
        for line in self.benefits:
            if (
                line.service_type == service_type
                and line.benefit == benefit
                and line.in_network in (in_network, YesNoUnknown.BOTH)
                and (coverage_level is None or line.coverage_level in (coverage_level, None))
            ):
                return line
        return None


class ServiceLine(_Model):
    """One service line of a claim, with the 835-level amounts the portal shows."""

    line: int
    procedure_code: str
    modifiers: tuple[str, ...] = ()
    dos: date | None = None
    units: Decimal | None = None
    billed: Money | None = None
    allowed: Money | None = None
    paid: Money | None = None


class Adjustment(_Model):
    """A claim adjustment: CARC (code source 139) with its group code and RARC remarks (411)."""

    group_code: AdjustmentGroup
    carc: str
    rarc: tuple[str, ...] = ()
    amount: Money | None = None
    line: int | None = None
    description: str | None = None


class ClaimStatusResult(_Evidence):
    """Status of one claim (~ a 277 response, with 835 detail where the portal shows it)."""

    kind: Literal[LookupKind.CLAIM_STATUS] = LookupKind.CLAIM_STATUS
    identity_basis: IdentityBasis = IdentityBasis.SHOWN
    claim_number: str
    patient_account_number: str | None = None
    member_id: str | None = None
    """The identity the portal showed (None: not shown; see ``identity_basis``)."""
    first_name: str | None = None
    last_name: str | None = None
    dob: date | None = None
    dos_from: date
    dos_to: date
    category: str = Field(description="277 STC01-1, code source 507")
    status_code: str | None = Field(default=None, description="277 STC01-2, code source 508")
    status_text: str | None = None
    billed: Money | None = None
    allowed: Money | None = None
    paid: Money | None = None
    patient_responsibility: Money | None = None
    received_date: date | None = None
    adjudication_date: date | None = None
    payment_method: Literal["CHK", "ACH"] | None = None
    payment_trace_number: str | None = None
    payment_date: date | None = None
    service_lines: tuple[ServiceLine, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def denied(self) -> bool:
        return self.category == "F2"


LookupResult = Annotated[EligibilityResult | ClaimStatusResult, Field(discriminator="kind")]
