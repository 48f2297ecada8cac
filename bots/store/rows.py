"""Typed rows the store hands out: frozen, slotted dataclasses, never a bare dict.

Columns keep their names; text that stands for a state or a code reads as its enum
(bots/store/states.py); times are aware UTC datetimes. JSON columns (a run's counts and
notes, an item's question, a result's payload) stay dicts inside the row: they are the
normalized models' own JSON. ``as_dict()`` gives the row as the CLI's ``--json`` prints it.

A row's ``repr`` never shows a patient: the question, the answer and the patient fields are
left out of it (a row in a log line, a traceback or a failed test's output stays PHI-free).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, Self, TypeVar

from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.store.states import ItemState, OutcomeCode, RunStatus

R = TypeVar("R", bound="_Row")
Columns = Mapping[Any, Any]
"""A result row by column name (SQLAlchemy's ``RowMapping``)."""
_NAMES: dict[type, tuple[str, ...]] = {}
"""Per row class, its fields' names (``dataclasses.fields`` costs on every row otherwise)."""


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class _Row:
    """What every row can do: read itself from a result mapping, print itself as JSON."""

    __slots__ = ()

    @classmethod
    def _pick(cls: type[R], row: Columns, **converted: Any) -> R:
        """The row from a SQLAlchemy mapping: columns by name (a missing one is None),
        ``converted`` values instead of the raw ones."""
        values = {
            name: converted[name] if name in converted else row.get(name) for name in _names(cls)
        }
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The row as plain data (enums as their text, tuples as lists) for JSON output."""
        return {name: _plain(getattr(self, name)) for name in _names(type(self))}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, _Row):
        return value.as_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


# --- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run(_Row):
    """One run: a batch, a single lookup, a scheduled job's batch or a fleet run."""

    id: str
    kind: LookupKind
    trigger: str  # batch | lookup | schedule | retry | console
    source: str | None  # worklist file name (never PHI)
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    host: str | None
    pid: int | None
    counts: dict[str, int]  # items per state, reused, import errors
    log_path: str | None
    spreadsheet_path: str | None
    message: str | None
    notes: dict[str, Any] | None  # what a supervisor must hear beyond the counts (no PHI)
    executor: str  # local | fleet

    @classmethod
    def of(cls, row: Columns) -> Run:
        return cls._pick(
            row,
            kind=LookupKind(row["kind"]),
            status=RunStatus(row["status"]),
            counts=row["counts"] or {},
        )

    @property
    def seconds(self) -> float | None:
        """How long it ran (None while it runs)."""
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)


@dataclass(frozen=True, slots=True)
class RejectedRow(_Row):
    """A worklist row the import refused: where it is and why (never the value)."""

    id: int
    run_id: str
    source_file: str
    source_row: int
    column: str | None
    reason: str

    @classmethod
    def of(cls, row: Columns) -> RejectedRow:
        return cls._pick(row)


# --- the queue -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item(_Row):
    """A work item: one question (its unique reference) and where it is in the queue."""

    id: int
    reference: str
    kind: LookupKind
    payer_id: str
    portal: str
    query: dict[str, Any] = field(repr=False)  # the question (its model's JSON): PHI
    state: ItemState
    attempts: int
    not_before: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error_code: OutcomeCode | None
    last_error_message: str | None
    reason_code: str | None  # the X12 code a portal gave with a "no"
    source_file: str | None
    source_row: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Columns) -> Self:
        """The row (an ``Outcome``'s too: its extra columns are picked by name)."""
        state = ItemState(row["state"])
        code = OutcomeCode.parse(row["last_error_code"])
        return cls._pick(
            row,
            kind=LookupKind(row["kind"]),
            state=state,
            last_error_code=code,
            **cls._derived(row, state, code),
        )

    @classmethod
    def _derived(cls, row: Columns, state: ItemState, code: OutcomeCode | None) -> dict[str, Any]:
        """Fields a subclass computes from several columns."""
        return {}

    @property
    def question(self) -> EligibilityQuery | ClaimStatusQuery:
        """The question as its model (validated on each call: read it once)."""
        if self.kind == LookupKind.ELIGIBILITY:
            return EligibilityQuery.model_validate(self.query)
        return ClaimStatusQuery.model_validate(self.query)


@dataclass(frozen=True, slots=True)
class Answer(_Row):
    """The portal's last good answer to an item: a succeeded attempt and when it came."""

    payload: dict[str, Any] = field(repr=False)  # the answer's JSON (PHI)
    checked_at: datetime
    evidence_path: str | None
    run_id: str


@dataclass(frozen=True, slots=True)
class Attempt(_Row):
    """An attempt at an item that did not answer it: how it ended and when."""

    state: ItemState
    error_code: OutcomeCode | None
    error_message: str | None
    at: datetime

    @property
    def words(self) -> str:
        """Why, as a person reads it."""
        return self.error_code.label if self.error_code else self.state.label


_NOT_ANSWERED = frozenset({ItemState.SYSTEM_FAILED, ItemState.BUSINESS_FAILED, ItemState.ABANDONED})


@dataclass(frozen=True, slots=True)
class Outcome(Item):
    """An item with its latest result: what a run (or the last days) asked and got.

    A later failure never hides an earlier answer: ``last_good`` is the item's newest
    succeeded attempt, ``newer_failure`` the attempt that failed after it (None when the
    newest attempt answered), and ``as_answered()`` the outcome as a person should read it.
    """

    position: int | None = None  # in the run's worklist (run_outcomes only)
    disposition: str | None = None  # queued | reused | requeued | pending (run_outcomes only)
    payload: dict[str, Any] | None = field(default=None, repr=False)  # the answer's JSON
    evidence_path: str | None = None
    trace_path: str | None = None
    checked_at: datetime | None = None  # when the latest result was recorded
    duration_ms: float | None = None
    answered_in_run: str | None = None  # the run whose attempt gave the latest result
    last_good: Answer | None = None  # the newest succeeded attempt, however old
    newer_failure: Attempt | None = None  # the newest attempt, failed after last_good

    @classmethod
    def _derived(cls, row: Columns, state: ItemState, code: OutcomeCode | None) -> dict[str, Any]:
        good = None
        if row.get("good_checked_at") is not None and row.get("good_payload") is not None:
            good = Answer(
                payload=row["good_payload"],
                checked_at=row["good_checked_at"],
                evidence_path=row.get("good_evidence_path"),
                run_id=row["good_run"],
            )
        failed = state in _NOT_ANSWERED or (state == ItemState.NEW and code is not None)
        at: datetime | None = row.get("finished_at") or row.get("updated_at")
        newer = None
        if good is not None and failed and at is not None and at > good.checked_at:
            newer = Attempt(state, code, row.get("last_error_message"), at)
        return {"last_good": good, "newer_failure": newer}

    def as_answered(self) -> Outcome:
        """The outcome as a person should read it: after a newer failure, the last good
        answer (state, answer, evidence and time of that answer; ``newer_failure`` kept so
        the failure is shown next to it). Otherwise the outcome itself."""
        good = self.last_good
        if good is None or self.newer_failure is None:
            return self
        return replace(
            self,
            state=ItemState.SUCCEEDED,
            payload=good.payload,
            checked_at=good.checked_at,
            evidence_path=good.evidence_path,
            trace_path=None,
            answered_in_run=good.run_id,
            last_error_code=None,
            last_error_message=None,
            reason_code=None,
        )


@dataclass(frozen=True, slots=True)
class Question:
    """One question to queue: what a worklist row (or a desk lookup) asks of one portal.
    ``reference`` identifies it across runs; ``query`` is its model's JSON (PHI)."""

    reference: str
    kind: str
    payer_id: str
    portal: str
    query: dict[str, Any] = field(repr=False)
    source_file: str | None = None
    source_row: int | None = None


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A claimed item as the runner sees it."""

    id: int
    reference: str
    kind: str
    payer_id: str
    portal: str
    query: dict[str, Any] = field(repr=False)
    attempts: int
    source_row: int | None
    for_run: str | None = None
    """Set when the item belongs to another process's run that asked the session holder to
    answer it (a single lookup borrowing a running batch's session)."""


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What enqueue did with one question: new work, an answer reused, or work re-queued."""

    item_id: int
    disposition: str  # queued | reused | requeued | pending


@dataclass(frozen=True, slots=True)
class PortalActivity(_Row):
    """A portal's recent record: its last successful lookup, the last day's outcomes."""

    last_success: datetime | None = None
    last_24h: dict[str, int] | None = None  # outcome -> attempts (None: no attempt)


# --- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountFlag(_Row):
    """An account the bot must not use until a person clears it (`creds reset-lock`)."""

    portal: str
    account: str
    flag: str  # login_refused | portal_blocked
    reason: str  # what the portal said, never a credential
    since: datetime
    run_id: str | None

    @classmethod
    def of(cls, row: Columns) -> AccountFlag:
        return cls._pick(row)


@dataclass(frozen=True, slots=True)
class AccountSession(_Row):
    """A portal account the bot has used: who holds its one live session, its last login
    and the last password-expiry notice."""

    portal: str
    account: str
    holder: str | None  # host:pid:token of the process logged in with it now
    holder_run: str | None
    lease_expires_at: datetime | None
    last_login_at: datetime | None
    password_days_left: int | None  # as the portal said at the notice
    password_notice_at: datetime | None

    @classmethod
    def of(cls, row: Columns) -> AccountSession:
        return cls._pick(row)


@dataclass(frozen=True, slots=True)
class AccountLease:
    """The outcome of asking for an account: ours now, or who holds it."""

    acquired: bool
    holder: str | None = None
    holder_run: str | None = None


@dataclass(frozen=True, slots=True)
class KeptSession:
    """A portal account's sealed storage state, kept in the store for a fleet's workers."""

    token: str = field(repr=False)  # Fernet-sealed; still never printed
    saved_at: datetime | None = None


# --- follow-ups and people ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry(_Row):
    """One line of a follow-up's history: who did what, when (ids and fields, never PHI)."""

    at: datetime
    actor: str
    action: str
    detail: str | None

    @classmethod
    def of(cls, row: Columns) -> AuditEntry:
        return cls._pick(row)


@dataclass(frozen=True, slots=True)
class FollowUp(_Row):
    """A specialist's work item raised by a rule, with the patient fields of its question.

    ``exported_*``: what the last workbook showed, to tell a specialist's edit there from a
    change made elsewhere since. ``history`` is read only for one follow-up (``queue show``)."""

    id: int
    item_id: int
    rule: str
    kind: LookupKind
    payer_id: str
    run_id: str | None
    reason: str
    category: str | None
    priority: str  # high | medium | low
    action: str
    evidence_path: str | None
    assignee: str | None
    status: str  # open | in progress | done
    notes: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    exported_status: str | None
    exported_assignee: str | None
    exported_notes: str | None
    patient: str | None = field(default=None, repr=False)  # "LAST, FIRST" from the worklist
    member_id: str | None = field(default=None, repr=False)
    claim_number: str | None = field(default=None, repr=False)
    service_date: date | None = field(default=None, repr=False)  # the soonest of the dates
    service_dates: tuple[date, ...] = field(default=(), repr=False)  # one per appointment
    problem_key: str | None = field(default=None, repr=False)
    history: tuple[AuditEntry, ...] | None = None

    @classmethod
    def of(cls, row: Columns, history: tuple[AuditEntry, ...] | None = None) -> FollowUp:
        query = row.get("query") or {}
        names = [query.get("last_name"), query.get("first_name")]
        service = query.get("date_of_service") or query.get("dos_from")
        dates = tuple(sorted(date.fromisoformat(d) for d in row.get("service_dates") or ()))
        first = row.get("service_date") or (date.fromisoformat(service) if service else None)
        return cls._pick(
            row,
            kind=LookupKind(row["kind"]),
            patient=row.get("patient") or ", ".join(n for n in names if n) or None,
            member_id=row.get("member_id") or query.get("member_id"),
            claim_number=row.get("claim_number") or query.get("claim_number"),
            service_date=first,
            service_dates=dates or ((first,) if first else ()),
            history=history,
        )

    def as_dict(self) -> dict[str, Any]:
        data = _Row.as_dict(self)
        if self.history is None:  # a list's rows carry no history
            del data["history"]
        return data


@dataclass(frozen=True, slots=True)
class User(_Row):
    """A console user: a name and a role (the password hash never leaves the store)."""

    username: str
    role: str  # specialist | supervisor
    created_at: datetime
    disabled: bool

    @classmethod
    def of(cls, row: Columns) -> User:
        return cls._pick(row, disabled=bool(row["disabled"]))


# --- the scheduler -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRun(_Row):
    """One execution of a scheduled job: the runs it made and its digest."""

    id: int
    job: str  # its name in config/schedule.toml
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus  # running | finished | failed | stopped
    run_ids: tuple[str, ...]
    message: str | None  # what it did or why it failed (no PHI)
    report_path: str | None  # the digest

    @classmethod
    def of(cls, row: Columns) -> JobRun:
        return cls._pick(row, status=RunStatus(row["status"]), run_ids=tuple(row["run_ids"] or ()))
