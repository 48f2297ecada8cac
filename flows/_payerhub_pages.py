"""PayerHub's result pages, read into results; and the one identity rule its readers share.

The flow (``flows/payerhub.py``) drives the hub's pages and reads the results region in one
round trip once it shows an answer (``flowkit.views.Region``); this module turns it into a
result. The right patient or no result: bots/matching.py is the rule, for page answers and
API answers (``_payerhub_api``) alike.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from bots.codes import (
    CLAIM_STATUS_CATEGORIES,
    SERVICE_TYPES,
    AdjustmentGroup,
    BenefitInfo,
    CoverageLevel,
    TimePeriod,
    YesNoUnknown,
)
from bots.errors import LayoutChanged
from bots.flowkit.pages import (
    birth_date,
    blank,
    date_range,
    money,
    number,
    percent,
    require,
    require_all,
    require_headers,
    split_name,
    table_records,
    us_date,
)
from bots.flowkit.views import Region
from bots.flowkit.words import Words
from bots.matching import ShownClaim, check_claim, check_member
from bots.models import (
    Adjustment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    ServiceLine,
)

# The hub's words -> payerbot's codes, read strictly (an unknown word is a LayoutChanged).
BENEFITS = Words(
    "benefit",
    {
        "Co-payment": BenefitInfo.COPAYMENT,
        "Coinsurance": BenefitInfo.COINSURANCE,
        "Deductible": BenefitInfo.DEDUCTIBLE,
        "Out-of-pocket maximum": BenefitInfo.OUT_OF_POCKET,
        "Not covered": BenefitInfo.NON_COVERED,
    },
)
PERIODS = Words(
    "benefit period",
    {
        "Calendar year": TimePeriod.CALENDAR_YEAR,
        "Service year": TimePeriod.SERVICE_YEAR,
        "Year to date": TimePeriod.YEAR_TO_DATE,
        "Remaining": TimePeriod.REMAINING,
        "Lifetime": TimePeriod.LIFETIME,
        "Visit": TimePeriod.VISIT,
    },
)
NETWORKS = Words("network", {"In-network": YesNoUnknown.YES, "Out-of-network": YesNoUnknown.NO})
LEVELS = Words(
    "coverage level",
    {"Individual": CoverageLevel.INDIVIDUAL, "Family": CoverageLevel.FAMILY},
    blank=None,
)
AUTH = Words(
    "prior authorization",
    {
        "Required": YesNoUnknown.YES,
        "Not required": YesNoUnknown.NO,
        "Unknown": YesNoUnknown.UNKNOWN,
    },
)
COVERAGE = Words("coverage status", {"Active": True, "Inactive": False})
RELATIONSHIPS = Words(
    "relationship", {"Subscriber": "subscriber", "Spouse": "spouse", "Child": "child"}
)
OTHER_COVERAGE = Words("other coverage", {"Yes": True, "No": False}, blank=None)
SERVICE_CODES = Words("service type", {name: code for code, name in SERVICE_TYPES.items()})
CATEGORIES = Words("claim status category", {code: code for code in CLAIM_STATUS_CATEGORIES})
GROUPS = Words("adjustment group", {g.value: g for g in AdjustmentGroup})
PAYMENT = Words[Literal["CHK", "ACH"] | None](
    "payment method", {"Check": "CHK", "EFT": "ACH"}, blank=None
)

MEMBER_FIELDS = (
    "Member name",
    "Member ID",
    "Date of birth",
    "Relationship",
    "Coverage status",
    "Plan",
    "Plan number",
    "Network type",
    "Group number",
    "Group name",
    "Coverage effective",
    "Coverage termination",
    "Other coverage",
    "Primary care provider",
    "Date of service",
)
BENEFIT_COLUMNS = (
    "Benefit",
    "Network",
    "Coverage level",
    "Amount",
    "Total",
    "Met",
    "Remaining",
    "Prior authorization",
)
CLAIM_FIELDS = (
    "Claim number",
    "Patient account number",
    "Patient name",
    "Member ID",
    "Date of birth",
    "Service dates",
    "Status",
    "Status category",
    "Status code",
    "Billed amount",
    "Allowed amount",
    "Paid amount",
    "Patient responsibility",
    "Received date",
    "Adjudication date",
    "Payment method",
    "Check/EFT number",
    "Payment date",
)
LINE_COLUMNS = (
    "Line",
    "Procedure",
    "Modifiers",
    "Service date",
    "Units",
    "Billed",
    "Allowed",
    "Paid",
)
ADJUSTMENT_COLUMNS = ("Line", "Group", "Reason code", "Description", "Amount", "Remarks")


def eligibility_result(portal: str, results: Region, query: EligibilityQuery) -> EligibilityResult:
    """The eligibility results region (read in one round trip), for the member asked about."""
    fields = results.fields
    require_all(fields, MEMBER_FIELDS, "eligibility page")
    member_id = require(fields, "Member ID")
    dob = birth_date(require(fields, "Date of birth"))
    check_member(query, member_id, dob)
    first, last = split_name(require(fields, "Member name"))
    pcp_name, pcp_npi = primary_care_provider(fields.get("Primary care provider", ""))
    active = COVERAGE.read(require(fields, "Coverage status"))
    benefits = []
    for table in results.tables:
        code = SERVICE_CODES.read(table["heading"])  # an unnamed section would drop benefits
        require_headers(table, BENEFIT_COLUMNS)
        benefits += [benefit(code, rec) for rec in table_records(table)]
    return EligibilityResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=results.text,
        member_id=member_id,
        first_name=first,
        last_name=last,
        dob=dob,
        relationship=RELATIONSHIPS.read(fields["Relationship"]),
        date_of_service=us_date(fields.get("Date of service")) or query.date_of_service,
        coverage_active=active,
        plan_name=fields.get("Plan"),
        plan_number=fields.get("Plan number"),
        network_type=fields.get("Network type"),
        group_number=fields.get("Group number"),
        group_name=fields.get("Group name"),
        effective_date=us_date(fields.get("Coverage effective")),
        termination_date=us_date(fields.get("Coverage termination"), open_ended_is_none=True),
        other_coverage=OTHER_COVERAGE.read(fields["Other coverage"]),
        pcp_name=pcp_name,
        pcp_npi=pcp_npi,
        benefits=tuple(benefits),
    )


def claim_result(portal: str, results: Region, query: ClaimStatusQuery) -> ClaimStatusResult:
    """The claim detail in the results region (read in one round trip), for the claim and
    member asked about."""
    fields = results.fields
    require_all(fields, CLAIM_FIELDS, "claim detail")
    member_id = require(fields, "Member ID")
    dob = birth_date(fields.get("Date of birth"))
    claim_number = require(fields, "Claim number")
    account = fields.get("Patient account number")
    dos_from, dos_to = date_range(require(fields, "Service dates"))
    billed = money(fields.get("Billed amount"))
    shown = ShownClaim(claim_number, None if blank(account) else account, member_id, dob)
    check_claim(query, replace(shown, dos_from=dos_from, dos_to=dos_to, billed=billed))
    first, last = split_name(require(fields, "Patient name"))
    lines: tuple[ServiceLine, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    for table in results.tables:
        if table["heading"] == "Service lines":
            require_headers(table, LINE_COLUMNS)
            lines = tuple(service_line(r) for r in table_records(table))
        elif table["heading"] == "Adjustments":
            require_headers(table, ADJUSTMENT_COLUMNS)
            adjustments = tuple(adjustment(r) for r in table_records(table))
        else:
            raise LayoutChanged("the claim detail has a table the flow does not know")
    return ClaimStatusResult(
        portal=portal,
        payer_id=query.payer_id,
        as_of=datetime.now(UTC),
        raw_text=results.text,
        claim_number=claim_number,
        patient_account_number=None if blank(account) else account,
        member_id=member_id,
        first_name=first,
        last_name=last,
        dob=dob,
        dos_from=dos_from,
        dos_to=dos_to,
        category=CATEGORIES.read(require(fields, "Status category")),
        status_code=fields.get("Status code"),
        status_text=fields.get("Status"),
        billed=billed,
        allowed=money(fields.get("Allowed amount")),
        paid=money(fields.get("Paid amount")),
        patient_responsibility=money(fields.get("Patient responsibility")),
        received_date=us_date(fields.get("Received date")),
        adjudication_date=us_date(fields.get("Adjudication date")),
        payment_method=PAYMENT.read(fields["Payment method"]),
        payment_trace_number=None
        if blank(fields.get("Check/EFT number"))
        else fields["Check/EFT number"],
        payment_date=us_date(fields.get("Payment date")),
        service_lines=lines,
        adjustments=adjustments,
    )


def primary_care_provider(text: str) -> tuple[str | None, str | None]:
    if blank(text) or text.strip().lower() == "none on file":
        return None, None
    if "(NPI" in text:
        name, _, rest = text.partition("(NPI")
        return name.strip(), rest.strip(" )")
    return text.strip(), None


def benefit(service_type: str, rec: dict[str, str]) -> Benefit:
    label, _, period = rec["Benefit"].partition(" (")
    kind = BENEFITS.read(label)
    amount_text = rec.get("Amount", "")
    return Benefit(
        service_type=service_type,
        benefit=kind,
        in_network=NETWORKS.read(rec["Network"]),
        coverage_level=LEVELS.read(rec["Coverage level"]),
        time_period=PERIODS.read(period.rstrip(")")) if period else None,
        amount=None if "%" in amount_text else money(amount_text),
        percent=percent(amount_text) if "%" in amount_text else None,
        total=money(rec.get("Total")),
        met=money(rec.get("Met")),
        remaining=money(rec.get("Remaining")),
        prior_auth_required=AUTH.read(rec["Prior authorization"]),
    )


def listed_claim(rec: dict[str, str]) -> ShownClaim:
    """What a row of the claims list shows, for the one claim-fits rule."""
    dos_from, dos_to = date_range(rec.get("Service dates", ""))
    return ShownClaim(
        claim_number=rec.get("Claim number"),
        dos_from=dos_from,
        dos_to=dos_to,
        billed=money(rec.get("Billed")),
    )


def service_line(rec: dict[str, str]) -> ServiceLine:
    mods = tuple(m.strip() for m in rec.get("Modifiers", "").split(",") if not blank(m))
    return ServiceLine(
        line=int(rec["Line"]),
        procedure_code=rec["Procedure"],
        modifiers=mods,
        dos=us_date(rec.get("Service date")),
        units=number(rec.get("Units")),
        billed=money(rec.get("Billed")),
        allowed=money(rec.get("Allowed")),
        paid=money(rec.get("Paid")),
    )


def adjustment(rec: dict[str, str]) -> Adjustment:
    remarks = tuple(r.strip() for r in rec.get("Remarks", "").split(",") if not blank(r))
    line = rec.get("Line", "")
    return Adjustment(
        group_code=GROUPS.read(rec["Group"]),
        carc=rec["Reason code"],
        rarc=remarks,
        amount=money(rec.get("Amount")),
        line=int(line) if line.isdigit() else None,
        description=rec.get("Description") or None,
    )
