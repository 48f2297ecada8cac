"""What a run, a work item and an outcome can be: the words the store keeps, with labels.

Each enum is a ``StrEnum``: a member compares equal to the text stored in its column
(``item.state == "succeeded"`` holds), prints as that text, and has a ``label`` a person
reads. A value the enum does not know (written by an older or newer payerbot) still reads:
it becomes a pseudo-member whose label is the text itself, never an error in a report.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self


class _Stored(StrEnum):
    """A word kept in a text column; unknown words read as themselves."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    @classmethod
    def parse(cls, value: str | None) -> Self | None:
        """The member for a column's text; None stays None."""
        return None if value is None else cls(value)

    @property
    def label(self) -> str:
        """What a person reads for this value."""
        return _LABELS.get(type(self), {}).get(self.value, self.value.replace("_", " "))


class ItemState(_Stored):
    """Where a work item is in its life (the proven RPA queue model)."""

    NEW = "new"  # waiting; also a system failure waiting for its retry (not_before)
    IN_PROGRESS = "in_progress"  # claimed under a lease
    SUCCEEDED = "succeeded"
    BUSINESS_FAILED = "business_failed"  # the portal said no: recorded, never retried
    SYSTEM_FAILED = "system_failed"  # retries used up, or authentication refused
    ABANDONED = "abandoned"  # lease lapsed (worker died): claimable again


FINISHED_STATES = frozenset(
    {ItemState.SUCCEEDED, ItemState.BUSINESS_FAILED, ItemState.SYSTEM_FAILED}
)
OPEN_STATES = (ItemState.NEW, ItemState.ABANDONED, ItemState.IN_PROGRESS)
"""Someone will still work these (unclaimed, or claimed under a lease)."""


class RunStatus(_Stored):
    """Where a run is: worked, waiting for a worker or a session holder, or over."""

    QUEUED = "queued"  # a fleet run no worker has claimed from yet
    RUNNING = "running"
    DELEGATED = "delegated"  # a single lookup waiting for the session holder to answer it
    STOPPING = "stopping"  # asked to stop: lookups in flight finish, nothing new is claimed
    FINISHING = "finishing"  # a fleet run one worker is closing (follow-ups, workbooks)
    FINISHED = "finished"
    STOPPED = "stopped"  # stopped on request; resumable
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the process was cancelled; resumable


ACTIVE_FLEET_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
"""Statuses of fleet runs whose items workers claim (``stopping``: no new claims)."""
FINAL_RUN_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.FAILED})


class OutcomeCode(_Stored):
    """Why an item is not simply answered: the code kept in ``last_error_code`` and
    ``results.error_code``. Most are a ``PayerbotError.code()`` (the class name in snake
    case, bots/errors.py); ``account_locked``, ``account_busy`` and ``no_credentials`` are
    the engine's own, for items it ended without trying."""

    PAYERBOT_ERROR = "payerbot_error"
    BUSINESS_ERROR = "business_error"
    MEMBER_NOT_FOUND = "member_not_found"
    CLAIM_NOT_FOUND = "claim_not_found"
    PATIENT_MISMATCH = "patient_mismatch"
    AMBIGUOUS_MATCH = "ambiguous_match"
    NO_COVERAGE_ON_DATE = "no_coverage_on_date"
    PORTAL_ERROR = "portal_error"
    PORTAL_TIMEOUT = "portal_timeout"
    PORTAL_UNAVAILABLE = "portal_unavailable"
    PORTAL_MAINTENANCE = "portal_maintenance"
    RATE_LIMITED = "rate_limited"
    SESSION_EXPIRED = "session_expired"
    LAYOUT_CHANGED = "layout_changed"
    PORTAL_BLOCKED = "portal_blocked"
    READ_ONLY_VIOLATION = "read_only_violation"
    AUTHENTICATION_ERROR = "authentication_error"
    CAPABILITY_MISSING = "capability_missing"
    CONFIGURATION_ERROR = "configuration_error"
    FLOW_BUG = "flow_bug"
    ACCOUNT_LOCKED = "account_locked"
    ACCOUNT_BUSY = "account_busy"
    NO_CREDENTIALS = "no_credentials"


_LABELS: dict[type[_Stored], dict[str, str]] = {
    ItemState: {
        "new": "waiting for a retry",
        "in_progress": "in progress",
        "succeeded": "answered",
        "business_failed": "no result",
        "system_failed": "failed",
        "abandoned": "abandoned (lease lapsed)",
    },
    RunStatus: {
        "queued": "queued for the fleet",
        "delegated": "waiting for the session holder",
        "stopped": "stopped (resumable)",
        "interrupted": "interrupted (resumable)",
    },
    OutcomeCode: {
        "payerbot_error": "payerbot error",
        "business_error": "the portal said no",
        "member_not_found": "member not found",
        "claim_not_found": "claim not on file",
        "patient_mismatch": "patient mismatch: review",
        "ambiguous_match": "several matches: review",
        "no_coverage_on_date": "no coverage segment covers the date of service",
        "portal_error": "portal or browser error",
        "portal_timeout": "the portal did not answer in time",
        "portal_unavailable": "the portal was unavailable",
        "portal_maintenance": "portal in maintenance",
        "rate_limited": "the portal asked us to slow down",
        "session_expired": "portal session ended",
        "layout_changed": "the portal's pages changed",
        "portal_blocked": "CAPTCHA or lockout warning",
        "read_only_violation": "blocked: the bot tried to change something on the portal",
        "authentication_error": "portal login refused",
        "capability_missing": "the portal cannot answer this kind of lookup",
        "configuration_error": "settings or credentials missing",
        "flow_bug": "a bug in payerbot's flow for this portal (see the log)",
        "account_locked": "not tried: every account is locked",
        "account_busy": "not tried: every account was busy",
        "no_credentials": "not tried: no account of the portal has its login set",
    },
}
"""Labels that say more than the word itself (the others read as the word, spaced)."""
