"""The follow-up queue: raised from answers after each run, worked by specialists.

One follow-up per item and rule. After a run, every item the run answered is evaluated
again: a rule that fires creates its follow-up, or confirms an open one (or reopens a done
one: the problem is still there); an open follow-up whose rule no longer fires on a newer
answer is closed automatically with a note saying so (the claim got paid, the plan was
fixed). A system failure changes nothing: no answer, no conclusion; a business "no" (not
found, another patient) raises its own follow-up and closes none.

The CLI (`payerbot queue ...`), the workbook merge and the console call these functions;
every change made by a person is written to the audit log (ids and fields, never PHI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from bots.errors import ConfigurationError
from bots.followups.rules import Finding, RuleBook
from bots.settings import Settings
from bots.store import FollowUp, FollowupEdits, ItemState, Outcome, Store, utcnow

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
    by_rule: dict[str, int] = field(default_factory=dict)


class FollowupNotFound(ConfigurationError):
    """No follow-up with that id."""


def _append(notes: str | None, actor: str, text: str) -> str:
    line = f"[{utcnow():%Y-%m-%d %H:%M} {actor}] {text.strip()}"
    return f"{notes}\n{line}" if notes else line


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
            findings = {f.rule: f for f in book.evaluate(item, as_of)}
            existing = {row.rule: row for row in edits.of_item(item.id)}
            for rule, finding in findings.items():
                raised.by_rule[rule] = raised.by_rule.get(rule, 0) + 1
                _upsert(edits, raised, item, run_id, finding, existing.get(rule))
            for rule, row in existing.items():
                # only a newer answer closes what an answer raised; a business "no" after it
                # (patient mismatch, not found) raises its own follow-up and closes nothing
                answered = item.state == ItemState.SUCCEEDED
                if answered and rule not in findings and row.status != "done":
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
    return raised


def _upsert(
    edits: FollowupEdits,
    raised: Raised,
    item: Outcome,
    run_id: str,
    finding: Finding,
    row: FollowUp | None,
) -> None:
    now = utcnow()
    values: dict[str, object] = {
        "reason": finding.reason,
        "category": finding.category,
        "priority": finding.priority,
        "action": finding.action,
        "evidence_path": item.evidence_path,
        "run_id": run_id,
        "updated_at": now,
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
    if row.status == "done":
        values |= {
            "status": "open",
            "resolved_at": None,
            "resolved_by": None,
            "notes": _append(row.notes, SYSTEM, "reopened: the new lookup still shows this"),
        }
        raised.reopened += 1
        edits.audit(SYSTEM, "reopen", f"followup:{row.id}", f"run {run_id}")
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
    limit: int = 500,
) -> list[FollowUp]:
    """Follow-ups with the patient fields of their item, open and high first."""
    rows = store.list_followups(
        status=status,
        assignee=assignee,
        priority=priority,
        rule=rule,
        updated_since=updated_since,
    )
    rows.sort(key=lambda r: (r.status == "done", PRIORITY_ORDER.get(r.priority, 9), r.id))
    return rows[:limit]


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


def add_note(store: Store, followup_id: int, note: str, actor: str) -> FollowUp:
    return _change(store, followup_id, actor, "note", "note added", note=note)
