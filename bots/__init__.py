"""payerbot's engine: everything that is not specific to one payer portal.

The public surface is small: the extension point (PortalFlow, and the error-page table a
flow declares), the result models and errors a flow returns or raises, and the runner,
store and settings a caller drives.
"""

from __future__ import annotations

from bots.errors import (
    AmbiguousMatch,
    AuthenticationError,
    BusinessError,
    CapabilityMissing,
    ClaimNotFound,
    ConfigurationError,
    FlowBug,
    LayoutChanged,
    MemberNotFound,
    NoCoverageOnDate,
    PatientMismatch,
    PayerbotError,
    PortalBlocked,
    PortalError,
    PortalMaintenance,
    PortalTimeout,
    PortalUnavailable,
    RateLimited,
    ReadOnlyViolation,
    SessionExpired,
)
from bots.flowkit.error_pages import ClockTime, ErrorPages, JsonFields, Marker, raise_for_page
from bots.flowkit.flow import LoginSecrets, PortalFlow, register
from bots.flowkit.readonly import Send, portal_request
from bots.models import (
    Adjustment,
    Attachment,
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    IdentityBasis,
    LookupKind,
    ServiceLine,
)
from bots.settings import Settings, load_settings

__all__ = [
    "Adjustment",
    "AmbiguousMatch",
    "Attachment",
    "AuthenticationError",
    "Benefit",
    "BusinessError",
    "CapabilityMissing",
    "ClaimNotFound",
    "ClaimStatusQuery",
    "ClaimStatusResult",
    "ClockTime",
    "ConfigurationError",
    "EligibilityQuery",
    "EligibilityResult",
    "ErrorPages",
    "FlowBug",
    "IdentityBasis",
    "JsonFields",
    "LayoutChanged",
    "LoginSecrets",
    "LookupKind",
    "Marker",
    "MemberNotFound",
    "NoCoverageOnDate",
    "PatientMismatch",
    "PayerbotError",
    "PortalBlocked",
    "PortalError",
    "PortalFlow",
    "PortalMaintenance",
    "PortalTimeout",
    "PortalUnavailable",
    "RateLimited",
    "ReadOnlyViolation",
    "Send",
    "ServiceLine",
    "SessionExpired",
    "Settings",
    "load_settings",
    "portal_request",
    "raise_for_page",
    "register",
]
