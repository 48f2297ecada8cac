"""Failure types: what went wrong, and whether trying again could help.

The tree::

    PayerbotError
    ├── BusinessError            the portal answered and the answer is "no": recorded, never retried
    │   ├── MemberNotFound       eligibility search found nobody (AAA 75-style)
    │   ├── ClaimNotFound        claim not on file (277 category A4)
    │   ├── PatientMismatch      the page shows someone else, or several candidates none of
    │                            which matches exactly: a person must look ("right patient, or
    │                            no result")
    │   ├── AmbiguousMatch       several claims or members fit the question equally well
    │   └── NoCoverageOnDate     the portal lists coverage segments, none spans the date of
    │                            service: not an answer read off a segment
    ├── PortalError              the portal or the bot failed: retried with backoff
    │   ├── PortalTimeout        a page or an answer did not come in time
    │   ├── PortalUnavailable    5xx, connection refused
    │   ├── PortalMaintenance    a maintenance page: the portal's items are postponed, not failed
    │   ├── RateLimited          429 / "too many requests": the portal is paused, then resumed
    │   ├── SessionExpired       logged out under us (inactivity, absolute lifetime, newer login)
    │   └── LayoutChanged        an element the flow relies on is not on the page
    ├── PortalBlocked            CAPTCHA or a lockout warning: stop using the portal, call a person
    ├── ReadOnlyViolation        the flow tried to write (a request it did not declare, a write
    │                            page): blocked by the engine's guard, portal stopped, never retried
    ├── AuthenticationError      login rejected (password, TOTP, locked): never retried
    ├── CapabilityMissing        the portal's flow cannot do this kind of lookup
    ├── FlowBug                  an unexpected exception inside a flow (not a portal failure,
    │                            not a redesign): never retried, traceback in the log
    └── ConfigurationError       settings or credentials are missing or wrong; also a payer
                                 no configured portal serves (found before any browser starts)

Messages never contain PHI or secrets: they describe the failure, not the patient.
Each error has a stable ``code`` (its class name in snake case) for reports and rules.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar


class PayerbotError(Exception):
    """Base of every error payerbot raises on purpose."""

    retryable: ClassVar[bool] = False

    @classmethod
    def code(cls) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class BusinessError(PayerbotError):
    """The portal answered and the answer is "no"; recorded as an outcome, never retried.

    ``reason_code`` carries the X12 code when the portal gives one (AAA03 for
    eligibility rejects, 277 category for claims).
    """

    default_reason_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, reason_code: str | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code or self.default_reason_code


class MemberNotFound(BusinessError):
    """No member matches the search (AAA03 75)."""

    default_reason_code = "75"


class ClaimNotFound(BusinessError):
    """The claim is not on file with the payer (277 category A4)."""

    default_reason_code = "A4"


class PatientMismatch(BusinessError):
    """The page identifies a different or ambiguous member: a person must decide."""


class AmbiguousMatch(BusinessError):
    """Several candidates fit the question and nothing on the page tells them apart."""


class NoCoverageOnDate(BusinessError):
    """The portal lists the member's coverage segments and none spans the date of service.

    No segment is picked in its place (the latest, the nearest): the date is uncovered as
    far as the page shows, and a person confirms coverage before the visit."""


class PortalError(PayerbotError):
    """The portal or the bot failed; worth another try after a pause."""

    retryable = True


class PortalTimeout(PortalError):
    """A page, a spinner or an answer did not finish in time."""


class PortalUnavailable(PortalError):
    """The portal answered with an error page (5xx, maintenance) or not at all."""


class PortalMaintenance(PortalError):
    """The portal shows a maintenance page. ``until`` is when it says it will be back."""

    def __init__(self, message: str, *, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


class RateLimited(PortalError):
    """The portal asks us to slow down (HTTP 429). ``retry_after`` in seconds, when given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionExpired(PortalError):
    """The portal logged us out: log in again and retry the item once."""


class LayoutChanged(PortalError):
    """An element the flow relies on is missing: the portal may have been redesigned."""


class PortalBlocked(PayerbotError):
    """The portal put up a CAPTCHA or warns of a lockout. The bot never solves or pushes
    past one: it stops using the portal for the run and reports it for a person."""


class ReadOnlyViolation(PayerbotError):
    """The flow sent a request it did not declare (anything but a read) or opened a page its
    portal marks as a write. The engine's read-only guard blocked it; the lookup ends, is
    not retried, and the portal stops for the run: a person must look at the flow."""


class AuthenticationError(PayerbotError):
    """The portal rejected the login. Never retried: retries lock accounts."""


class CapabilityMissing(PayerbotError):
    """The portal's flow does not implement this kind of lookup."""


class FlowBug(PayerbotError):
    """A flow raised something no portal explains (a KeyError, a TypeError, a failed
    assertion): a bug in payerbot's code. A system failure, never retried (the same code
    fails the same way) and not counted as a layout change (the portal is fine); the log
    keeps the traceback for the developer."""


class ConfigurationError(PayerbotError):
    """Settings or credentials are missing or inconsistent."""
