"""X12 code tables (271 eligibility, 277 claim status, 835 adjustments) used by the result models.

Only the codes a payer portal screen can show are listed; each table maps the code
to the words a billing specialist reads. Flows translate portal wording into these
codes; everything downstream (rules, spreadsheet) works on codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


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
