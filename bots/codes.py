"""X12 code tables (271 eligibility, 277 claim status, 835 adjustments) used by the result models.

Only the codes a payer portal screen can show are listed; each table maps the code
to the words a billing specialist reads. Flows translate portal wording into these
codes; everything downstream (rules, spreadsheet) works on codes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from importlib.resources import files


class BenefitInfo(StrEnum):
    """EB01 eligibility or benefit information."""

    ACTIVE_COVERAGE = "1"
    INACTIVE = "6"
    COINSURANCE = "A"
    COPAYMENT = "B"
    DEDUCTIBLE = "C"
    OUT_OF_POCKET = "G"
    NON_COVERED = "I"
    LIMITATIONS = "F"
    PRIMARY_CARE_PROVIDER = "L"
    OTHER_PAYER = "R"
    CANNOT_PROCESS = "V"


class CoverageLevel(StrEnum):
    """EB02 coverage level."""

    INDIVIDUAL = "IND"
    FAMILY = "FAM"
    EMPLOYEE = "EMP"
    EMPLOYEE_AND_SPOUSE = "ESP"
    CHILDREN = "CHD"
    DEPENDENTS = "DEP"
    SPOUSE_AND_CHILDREN = "SPC"
    SPOUSE = "SPO"


class TimePeriod(StrEnum):
    """EB06 time period qualifier."""

    SERVICE_YEAR = "22"
    CALENDAR_YEAR = "23"
    YEAR_TO_DATE = "24"
    VISIT = "27"
    REMAINING = "29"
    LIFETIME = "32"
    LIFETIME_REMAINING = "33"


class YesNoUnknown(StrEnum):
    """EB11 authorization required and EB12 in plan network (W: both networks)."""

    YES = "Y"
    NO = "N"
    UNKNOWN = "U"
    BOTH = "W"


PRIOR_AUTH_LABELS: dict[str, str] = {
    YesNoUnknown.YES: "Required",
    YesNoUnknown.NO: "Not required",
    YesNoUnknown.UNKNOWN: "Unknown",
    YesNoUnknown.BOTH: "Unknown",  # EB11 has no W; whatever it meant, it is not a "no"
}
"""EB11 prior authorization in a specialist's words."""

NETWORK_LABELS: dict[str, str] = {
    YesNoUnknown.YES: "In network",
    YesNoUnknown.NO: "Out of network",
    YesNoUnknown.UNKNOWN: "Network unknown",
    YesNoUnknown.BOTH: "In and out of network",
}
"""EB12 in plan network in a specialist's words."""


def prior_auth_label(code: str | None) -> str:
    """Required / Not required / Unknown: only an N reads "Not required"; U, W, a missing or
    unknown code read "Unknown" (a specialist reading "no" would skip the authorization)."""
    return PRIOR_AUTH_LABELS.get(code or "", "Unknown")


def network_label(code: str | None) -> str:
    return NETWORK_LABELS.get(code or "", "Network unknown")


def prior_auth_of(codes: Iterable[str]) -> YesNoUnknown:
    """One prior-auth answer from the flags of several benefit lines (of one service type):
    any Y -> Y (some line needs it); every line N -> N; otherwise (no line, U, W, N and U
    mixed) -> U. Lines that disagree never add up to "not required"."""
    flags = set(codes)
    if YesNoUnknown.YES in flags:
        return YesNoUnknown.YES
    if flags and flags <= {YesNoUnknown.NO}:
        return YesNoUnknown.NO
    return YesNoUnknown.UNKNOWN


SERVICE_TYPES: dict[str, str] = {
    "1": "Medical Care",
    "30": "Health Benefit Plan Coverage",
    "33": "Chiropractic",
    "47": "Hospital",
    "86": "Emergency Services",
    "88": "Pharmacy",
    "98": "Professional (Physician) Visit - Office",
    "AL": "Vision (Optometry)",
    "MH": "Mental Health",
    "UC": "Urgent Care",
}
"""EB03 service type codes and their names."""

REJECT_REASONS: dict[str, str] = {
    "15": "Required application data missing",
    "42": "Unable to respond at current time",
    "43": "Invalid/missing provider identification",
    "58": "Invalid/missing date of birth",
    "72": "Invalid/missing subscriber/insured ID",
    "73": "Invalid/missing subscriber/insured name",
    "75": "Subscriber/insured not found",
}
"""AAA03 reject reasons for eligibility requests."""


def reject_reason_text(code: str | None) -> str | None:
    """ "Subscriber/insured not found (75)": an AAA03 reject reason in words, the code beside
    it; None when there is no code."""
    if not code:
        return None
    return f"{REJECT_REASONS.get(code.strip(), '(no description on file)')} ({code.strip()})"


CLAIM_STATUS_CATEGORIES: dict[str, str] = {
    "A0": "Acknowledgement/Forwarded",
    "A1": "Acknowledgement/Receipt",
    "A2": "Acknowledgement/Acceptance into adjudication system",
    "A3": "Acknowledgement/Returned as unprocessable claim",
    "A4": "Acknowledgement/Not found",
    "A6": "Acknowledgement/Rejected for missing information",
    "A7": "Acknowledgement/Rejected for invalid information",
    "A8": "Acknowledgement/Rejected for relational field in error",
    "P0": "Pending: Adjudication/Details",
    "P1": "Pending/In process",
    "P2": "Pending/Payer review",
    "P3": "Pending/Provider requested information",
    "P4": "Pending/Patient requested information",
    "P5": "Pending/Payer administrative/system hold",
    "F0": "Finalized",
    "F1": "Finalized/Payment",
    "F2": "Finalized/Denial",
    "F3": "Finalized/Revised",
    "F4": "Finalized/Adjudication complete - no payment forthcoming",
    "R0": "Requests for additional information/General requests",
    "E0": "Response not possible - error on submitted request data",
    "E1": "Response not possible - system status",
    "E2": "Information holder is not responding",
    "D0": "Data search unsuccessful",
}
"""277 STC01-1 claim status category codes (code source 507)."""


class AdjustmentGroup(StrEnum):
    """835 CAS claim adjustment group codes."""

    CONTRACTUAL = "CO"
    PATIENT_RESPONSIBILITY = "PR"
    OTHER = "OA"
    PAYER_INITIATED = "PI"
    CORRECTION = "CR"


def claim_is_final(category: str) -> bool:
    """A finalized claim (F0-F4) will not change without a new action."""
    return category.startswith("F")


def claim_is_pending(category: str) -> bool:
    return category.startswith("P")


# --- code tables shipped with the project (bots/codetables/*.csv) ---------------------------
#
# Each file opens with a comment line naming its source and "as of" date, then a header row.
# A code not in a table reads NO_DESCRIPTION, never a blank: a specialist then knows to look
# it up rather than reading nothing as "nothing to do".

NO_DESCRIPTION = "(no description on file)"


@cache
def code_table(name: str) -> dict[str, dict[str, str]]:
    """The rows of ``bots/codetables/<name>.csv`` by code (comment lines skipped)."""
    text = files("bots").joinpath("codetables", f"{name}.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {row["code"].strip().upper(): row for row in csv.DictReader(lines)}


def table_source(name: str) -> str:
    """The comment line of a table: where it comes from and as of when."""
    text = files("bots").joinpath("codetables", f"{name}.csv").read_text(encoding="utf-8")
    return text.splitlines()[0].lstrip("# ").strip()


def _look_up(table: str, code: str | None, column: str = "description") -> str:
    row = code_table(table).get((code or "").strip().upper())
    return row[column] if row and row.get(column) else NO_DESCRIPTION


def carc_text(code: str | None) -> str:
    """CARC (code source 139) description."""
    return _look_up("carc", code)


def rarc_text(code: str | None) -> str:
    """RARC (code source 411) description."""
    return _look_up("rarc", code)


def status_category_text(code: str | None) -> str:
    """277 STC01-1 category (code source 507) description."""
    return _look_up("claim_status_category", code)


def status_category_words(code: str | None) -> str:
    """277 STC01-1 category as a specialist says it first: Paid, Denied, Pending..."""
    return _look_up("claim_status_category", code, "words")


def claim_status_code_text(code: str | None) -> str:
    """277 STC01-2 claim status code (code source 508) description."""
    return _look_up("claim_status", code)


def service_type_name(code: str | None) -> str:
    """EB03 service type name as published (98: Professional (Physician) Visit - Office)."""
    return _look_up("service_type", code, "name")


def service_type_short(code: str | None) -> str:
    """EB03 service type in a specialist's words (98: Office visit); the published name
    when there is no short one."""
    row = code_table("service_type").get((code or "").strip().upper())
    return (row.get("short") or row["name"]) if row else NO_DESCRIPTION


BENEFIT_WORDS: dict[str, str] = {
    BenefitInfo.ACTIVE_COVERAGE: "active coverage",
    BenefitInfo.INACTIVE: "inactive",
    BenefitInfo.COINSURANCE: "coinsurance",
    BenefitInfo.COPAYMENT: "copay",
    BenefitInfo.DEDUCTIBLE: "deductible",
    BenefitInfo.OUT_OF_POCKET: "out-of-pocket maximum",
    BenefitInfo.NON_COVERED: "not covered",
    BenefitInfo.LIMITATIONS: "limitations",
    BenefitInfo.PRIMARY_CARE_PROVIDER: "primary care provider",
    BenefitInfo.OTHER_PAYER: "other or additional payer",
    BenefitInfo.CANNOT_PROCESS: "cannot process",
}
"""EB01 benefit information in a specialist's words."""

LEVEL_WORDS: dict[str, str] = {
    CoverageLevel.INDIVIDUAL: "individual",
    CoverageLevel.FAMILY: "family",
    CoverageLevel.EMPLOYEE: "employee only",
    CoverageLevel.EMPLOYEE_AND_SPOUSE: "employee and spouse",
    CoverageLevel.CHILDREN: "children only",
    CoverageLevel.DEPENDENTS: "dependents only",
    CoverageLevel.SPOUSE_AND_CHILDREN: "spouse and children",
    CoverageLevel.SPOUSE: "spouse only",
}
"""EB02 coverage level in a specialist's words."""

PERIOD_WORDS: dict[str, str] = {
    TimePeriod.SERVICE_YEAR: "service year",
    TimePeriod.CALENDAR_YEAR: "calendar year",
    TimePeriod.YEAR_TO_DATE: "year to date",
    TimePeriod.VISIT: "per visit",
    TimePeriod.REMAINING: "remaining",
    TimePeriod.LIFETIME: "lifetime",
    TimePeriod.LIFETIME_REMAINING: "lifetime remaining",
}
"""EB06 time period in a specialist's words."""

GROUP_WORDS: dict[str, str] = {
    AdjustmentGroup.CONTRACTUAL: "Contractual obligation",
    AdjustmentGroup.PATIENT_RESPONSIBILITY: "Patient responsibility",
    AdjustmentGroup.OTHER: "Other adjustment",
    AdjustmentGroup.PAYER_INITIATED: "Payer-initiated reduction",
    AdjustmentGroup.CORRECTION: "Correction or reversal",
}
"""835 CAS adjustment group codes in words."""


def category_words(key: str | None) -> str:
    """A follow-up's claim category key in words: ``missing_information`` -> "Missing
    information"; an empty key reads empty (a follow-up without a category)."""
    text = " ".join((key or "").replace("_", " ").split())
    return text[:1].upper() + text[1:]
