"""payerbot's engine: everything that is not specific to one payer portal.

The public surface is small: the extension point (PortalFlow, and the error-page table a
flow declares), the result models and errors a flow returns or raises, and the runner,
store and settings a caller drives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from bots.flowkit.error_pages import (
        ClockTime,
        ErrorPages,
        JsonFields,
        Marker,
        raise_for_page,
    )
    from bots.flowkit.flow import LoginSecrets, PortalFlow, register
    from bots.flowkit.readonly import Send, portal_request

_FLOWKIT = {
    "ClockTime": "bots.flowkit.error_pages",
    "ErrorPages": "bots.flowkit.error_pages",
    "JsonFields": "bots.flowkit.error_pages",
    "Marker": "bots.flowkit.error_pages",
    "raise_for_page": "bots.flowkit.error_pages",
    "LoginSecrets": "bots.flowkit.flow",
    "PortalFlow": "bots.flowkit.flow",
    "register": "bots.flowkit.flow",
    "Send": "bots.flowkit.readonly",
    "portal_request": "bots.flowkit.readonly",
}
"""The flow API loads (with Playwright) when first named: `payerbot lookup` answered by a
running console never needs it, and starts that much sooner."""


def __getattr__(name: str) -> Any:
    module = _FLOWKIT.get(name)
    if module is None:
        raise AttributeError(f"module 'bots' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
