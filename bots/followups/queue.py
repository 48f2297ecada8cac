"""The follow-up queue: raised from answers after each run, worked by specialists.

One follow-up per patient and problem: the same rule for the same patient at the same payer
(for claims, the same claim) raised for several appointment dates is one follow-up listing
the dates. After a run, every item the run answered is evaluated again: a rule that fires
creates its follow-up, adds the item's date of service to the open one (a specialist's
status, assignee and notes stay), or reopens a done one (the problem is still there); an
open follow-up whose rule no longer fires on a newer answer drops that date, and is closed
automatically with a note when no date is left (the claim got paid, the plan was fixed). A
system failure changes nothing: no answer, no conclusion; a business "no" (not found,
another patient) raises its own follow-up and closes none.

Priority is scored (bots/followups/priority.py) from the rule, the appointment's nearness
and the money at stake.

The CLI (`payerbot queue ...`), the workbook merge and the console call these functions;
every change made by a person is written to the audit log (ids and fields, never PHI).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from bots.dates import parse_date
from bots.errors import ConfigurationError
from bots.followups import priority as scoring
from bots.followups.rules import Finding, RuleBook
from bots.settings import Settings
from bots.store import (
    FollowUp,
    FollowupEdits,
    FollowupPage,
    FollowupQuery,
    ItemState,
    Outcome,
    Store,
    utcnow,
)

STATUSES = ("open", "in progress", "done")
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SYSTEM = "payerbot"


@dataclass
class Raised:
    """What evaluating a run did to the queue."""

    created: int = 0
    confirmed: int = 0
    reopened: int = 0
    closed: int = 0
    merged: int = 0  # a new appointment date joined an open follow-up of the same problem
    by_rule: dict[str, int] = field(default_factory=dict)


class FollowupNotFound(ConfigurationError):
    """No follow-up with that id."""


def _append(notes: str | None, actor: str, text: str) -> str:
    line = f"[{utcnow():%Y-%m-%d %H:%M} {actor}] {text.strip()}"
    return f"{notes}\n{line}" if notes else line


def _norm(text: Any) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(text or "").upper())


def problem_key(rule: str, kind: str, payer_id: str, query: Mapping[str, Any]) -> str:
    """Which problem a finding is, across appointment dates: the rule, the payer and the
    member (or the patient's name and birth date when there is no member ID); for claims
    the claim number. Hashed: the key says nothing about the patient."""
    if kind == "claim_status":
        who = f"claim:{_norm(query.get('claim_number'))}"
        if who == "claim:":
            who = f"member:{_norm(query.get('member_id'))}:{query.get('dos_from')}"
    elif query.get("member_id"):
        who = f"member:{_norm(query.get('member_id'))}"
    else:
        names = (_norm(query.get("last_name")), _norm(query.get("first_name")))
        who = f"patient:{names[0]}:{names[1]}:{query.get('dob')}"
    digest = hashlib.sha256(f"{payer_id}|{who}".encode()).hexdigest()[:40]
    return f"{rule}:{digest}"


def _service_date(query: Mapping[str, Any]) -> date | None:
    text = query.get("date_of_service") or query.get("dos_from")
    return date.fromisoformat(str(text)) if text else None


def _patient_columns(query: Mapping[str, Any]) -> dict[str, Any]:
    names = [query.get("last_name"), query.get("first_name")]
    return {
        "patient": ", ".join(n for n in names if n) or None,
        "member_id": query.get("member_id"),
        "claim_number": query.get("claim_number"),
    }


def _dates(days: Sequence[date] | set[date]) -> dict[str, Any]:
    ordered = sorted(set(days))
    return {
        "service_dates": [d.isoformat() for d in ordered],
        "service_date": ordered[0] if ordered else None,
    }


def raise_followups(
    store: Store, settings: Settings, run_id: str, as_of: date | None = None
) -> Raised:
    """Evaluate every item the run answered and bring the queue up to date."""
    book = RuleBook(settings.followups)
    as_of = as_of or utcnow().date()
    raised = Raised()
    items = [
        i
        for i in store.run_outcomes(run_id)
        if i.answered_in_run == run_id
        and i.state in (ItemState.SUCCEEDED, ItemState.BUSINESS_FAILED)
    ]
    with store.followup_edits() as edits:
        for item in items:
            _evaluate(edits, raised, book, settings, item, run_id, as_of)
    return raised


def _current(edits: FollowupEdits, item: Outcome, rules: Sequence[str]) -> dict[str, FollowUp]:
    """The follow-up each rule would update for this item: an open one of the same problem
    first, then the item's own, then the newest done one of the problem."""
    keys = [problem_key(r, item.kind, item.payer_id, item.query) for r in rules]
    seen: dict[int, FollowUp] = {r.id: r for r in edits.of_problems(keys)}
    seen.update({r.id: r for r in edits.of_item(item.id)})
    ordered = sorted(seen.values(), key=lambda r: (r.status == "done", r.item_id != item.id, -r.id))
    current: dict[str, FollowUp] = {}
    for row in ordered:
        current.setdefault(row.rule, row)
    return current


def _evaluate(
    edits: FollowupEdits,
    raised: Raised,
    book: RuleBook,
    settings: Settings,
    item: Outcome,
    run_id: str,
    as_of: date,
) -> None:
    findings = {f.rule: f for f in book.evaluate(item, as_of)}
    existing = _current(edits, item, list(settings.followups.rules))
    day = _service_date(item.query)
    for rule, finding in findings.items():
        raised.by_rule[rule] = raised.by_rule.get(rule, 0) + 1
        _upsert(edits, raised, item, run_id, finding, existing.get(rule), settings, as_of)
    # only a newer answer closes what an answer raised; a business "no" after it (patient
    # mismatch, not found) raises its own follow-up and closes nothing
    if item.state != ItemState.SUCCEEDED:
        return
    for rule, row in existing.items():
        if rule in findings or row.status == "done":
            continue
        if day not in row.service_dates and row.item_id != item.id:
            continue  # another appointment's follow-up: this answer says nothing about it
        left = set(row.service_dates) - {day} if day else set()
        if left:
            edits.update(row.id, updated_at=utcnow(), **_dates(left))
            continue
        edits.update(
            row.id,
            status="done",
            resolved_at=utcnow(),
            resolved_by=SYSTEM,
            updated_at=utcnow(),
            notes=_append(
                row.notes,
                SYSTEM,
                f"closed: the lookup of {as_of:%m/%d/%Y} no longer shows this",
            ),
        )
        edits.audit(SYSTEM, "auto_close", f"followup:{row.id}", f"run {run_id}")
        raised.closed += 1


def _upsert(
    edits: FollowupEdits,
    raised: Raised,
    item: Outcome,
    run_id: str,
    finding: Finding,
    row: FollowUp | None,
    settings: Settings,
    as_of: date,
) -> None:
    now = utcnow()
    day = _service_date(item.query)
    days = set(row.service_dates if row is not None else ()) | ({day} if day else set())
    upcoming = [d for d in days if d >= as_of]
    level = scoring.priority(
        finding.priority,
        scoring.days_ahead(item.kind, min(upcoming) if upcoming else day, as_of),
        scoring.at_stake(item.kind, item.query, item.payload),
        settings.followups.priority,
    )
    if row is not None and set(row.service_dates) - {day}:
        # other appointments keep what they scored
        level = min(level, row.priority, key=lambda p: scoring.RANK.get(p, 9))
    values: dict[str, object] = {
        "reason": finding.reason,
        "category": finding.category,
        "priority": level,
        "action": finding.action,
        "evidence_path": item.evidence_path,
        "run_id": run_id,
        "updated_at": now,
        "problem_key": problem_key(finding.rule, item.kind, item.payer_id, item.query),
        **_patient_columns(item.query),
        **_dates(days),
    }
    if row is None:
        edits.create(
            item_id=item.id,
            rule=finding.rule,
            kind=item.kind,
            payer_id=item.payer_id,
            assignee=finding.assignee,
            status="open",
            created_at=now,
            **values,
        )
        raised.created += 1
        return
    joined = day is not None and day not in row.service_dates
    if row.status == "done":
        values |= {
            "status": "open",
            "resolved_at": None,
            "resolved_by": None,
            "notes": _append(row.notes, SYSTEM, "reopened: the new lookup still shows this"),
        }
        raised.reopened += 1
        edits.audit(SYSTEM, "reopen", f"followup:{row.id}", f"run {run_id}")
    elif joined:
        raised.merged += 1
        edits.audit(SYSTEM, "add_date", f"followup:{row.id}", f"run {run_id}")
    else:
        raised.confirmed += 1
    edits.update(row.id, **values)


# --- reading ---------------------------------------------------------------------------------


def list_followups(
    store: Store,
    *,
    status: Sequence[str] | None = None,
    assignee: str | None = None,
    priority: str | None = None,
    rule: str | None = None,
    updated_since: datetime | None = None,
    limit: int | None = None,
) -> list[FollowUp]:
    """All the follow-ups matching (or the first ``limit``), open and high first: for
    the workbook, the digest and counts. A person's list is ``find_followups`` (pages)."""
    rows = store.list_followups(
        status=status,
        assignee=assignee,
        priority=priority,
        rule=rule,
        updated_since=updated_since,
    )
    rows.sort(key=lambda r: (r.status == "done", PRIORITY_ORDER.get(r.priority, 9), r.id))
    return rows[:limit]


SORT_NAMES = {
    "date": "date of service",
    "member": "member ID",
    "claim": "claim number",
    "patient": "patient",
    "payer": "payer",
    "reason": "reason",
    "priority": "priority",
    "status": "status",
    "assignee": "assignee",
    "id": "follow-up id",
}
"""What the queue can be sorted by, in words (the store keeps the SQL of each)."""
MAX_PER_PAGE = 500


def build_query(
    *,
    text: str = "",
    status: Sequence[str] = (),
    priority: Sequence[str] = (),
    payer: str = "",
    rule: str = "",
    assignee: str = "",
    dos_from: str = "",
    dos_to: str = "",
    sort: str = "",
    descending: bool = False,
    page: str | int = 1,
    per_page: str | int = 50,
) -> FollowupQuery:
    """The queue's search from what a person typed (console form, CLI options); a plain
    sentence (ConfigurationError) for anything that cannot be searched for."""
    for value in status:
        if value not in STATUSES:
            raise ConfigurationError(f"A status is one of: {', '.join(STATUSES)}.")
    for value in priority:
        if value not in PRIORITY_ORDER:
            raise ConfigurationError("A priority is high, medium or low.")
    if sort and sort not in SORT_NAMES:
        raise ConfigurationError(f"Sort by one of: {', '.join(SORT_NAMES)}.")
    try:
        page_no, size = int(page or 1), int(per_page or 50)
    except ValueError:
        raise ConfigurationError("The page and rows per page are whole numbers.") from None
    if page_no < 1 or not 1 <= size <= MAX_PER_PAGE:
        raise ConfigurationError(f"Pages start at 1 and hold 1 to {MAX_PER_PAGE} rows.")
    return FollowupQuery(
        text=text.strip(),
        status=tuple(status),
        priority=tuple(priority),
        payer_id=payer.strip().upper() or None,
        rule=rule.strip() or None,
        assignee=assignee.strip() or None,
        dos_from=_search_date(dos_from, "from"),
        dos_to=_search_date(dos_to, "to"),
        sort=sort or "priority",
        descending=descending,
        page=page_no,
        per_page=size,
    )


def _search_date(text: str, which: str) -> date | None:
    if not text.strip():
        return None
    try:
        return parse_date(text, None, utcnow().date())
    except ValueError:
        raise ConfigurationError(
            f"The date of service {which} is not a date (MM/DD/YYYY)."
        ) from None


def showing(page: FollowupPage) -> str:
    """The count line of a page ("Showing 1-50 of 5,000", with an en dash)."""
    if not page.total:
        return "No follow-ups match."
    return f"Showing {page.first:,}–{page.last:,} of {page.total:,}"


def find_followups(store: Store, query: FollowupQuery) -> FollowupPage:
    """One page of the queue (search, filters, sort) with how many match in all; a page
    past the end (the queue got shorter since the link was made) is the last page."""
    found = store.find_followups(query)
    if not found.rows and found.total and query.page > found.pages:
        found = store.find_followups(replace(query, page=found.pages))
    return found


def followups_of(store: Store, settings: Settings, item: Outcome) -> list[FollowUp]:
    """The open follow-ups an item's answer stands in: its own, and those of the same
    problem its date of service joined (raised for another appointment of the patient)."""
    keys = {problem_key(r, item.kind, item.payer_id, item.query) for r in settings.followups.rules}
    day = _service_date(item.query)
    return [
        f
        for f in list_followups(store, status=["open", "in progress"])
        if f.item_id == item.id or (f.problem_key in keys and day in f.service_dates)
    ]


def get_followup(store: Store, followup_id: int) -> FollowUp:
    """One follow-up with its history."""
    row = store.get_followup(followup_id)
    if row is None:
        raise FollowupNotFound(f"no follow-up {followup_id}")
    return row


# --- a person's changes ------------------------------------------------------------------------


def _change(
    store: Store,
    followup_id: int,
    actor: str,
    action: str,
    detail: str,
    *,
    note: str | None = None,
    **values: object,
) -> FollowUp:
    with store.followup_edits() as edits:
        row = edits.get(followup_id)
        if row is None:
            raise FollowupNotFound(f"no follow-up {followup_id}")
        if note:
            values["notes"] = _append(row.notes, actor, note)
        edits.update(followup_id, updated_at=utcnow(), **values)
        edits.audit(actor, action, f"followup:{followup_id}", detail)
    return get_followup(store, followup_id)


def assign(store: Store, followup_id: int, assignee: str | None, actor: str) -> FollowUp:
    """Give the follow-up to someone (None: unassign); an open one becomes in progress."""
    current = get_followup(store, followup_id)
    status = current.status
    if assignee and status == "open":
        status = "in progress"
    elif not assignee and status == "in progress":
        status = "open"  # nobody works it now
    return _change(
        store,
        followup_id,
        actor,
        "assign",
        f"assignee {'set' if assignee else 'cleared'}; status {status}",
        assignee=assignee or None,
        status=status,
    )


def set_status(
    store: Store, followup_id: int, status: str, actor: str, note: str | None = None
) -> FollowUp:
    if status not in STATUSES:
        raise ConfigurationError(f"status must be one of {', '.join(STATUSES)}")
    done = status == "done"
    return _change(
        store,
        followup_id,
        actor,
        "resolve" if done else "status",
        f"status {status}" + (" with a note" if note else ""),
        status=status,
        note=note,
        resolved_at=utcnow() if done else None,
        resolved_by=actor if done else None,
    )


def resolve(store: Store, followup_id: int, note: str, actor: str) -> FollowUp:
    """Done, with what was done (the note is required: the next person must know)."""
    if not note.strip():
        raise ConfigurationError("say what was done: a resolution needs a note")
    return set_status(store, followup_id, "done", actor, note)


def reopen(store: Store, followup_id: int, actor: str, note: str | None = None) -> FollowUp:
    """Put a done follow-up back in the queue."""
    return set_status(store, followup_id, "open", actor, note)


def add_note(store: Store, followup_id: int, note: str, actor: str) -> FollowUp:
    return _change(store, followup_id, actor, "note", "note added", note=note)
