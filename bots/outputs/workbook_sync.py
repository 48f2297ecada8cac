"""Keeping the specialists' workbook in step with the follow-up queue (edits merged back).

Before each write the workbook's Status / Assignee / Notes cells are read back and merged
into the store by follow-up id: a cell that differs from what the last write put there is
a specialist's edit and is applied (actor ``workbook``, audited), unless the same field was
also changed elsewhere since (console, CLI): then the store keeps its value and the run
report names the conflict. Everything else in the workbook is rewritten from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bots.followups import queue as fq
from bots.followups.estimates import estimate_patient_cost
from bots.logs import get_logger
from bots.models import EligibilityResult
from bots.outputs.specialists_workbook import (
    EligibilityLine,
    WorkbookEdit,
    WorkbookUnreadable,
    read_edits,
    timestamped,
    write_specialist_workbook,
)
from bots.settings import Settings
from bots.store import ItemState, Outcome, Store, utcnow

log = get_logger("payerbot.workbook")
FIELDS = ("status", "assignee", "notes")


@dataclass
class WorkbookSync:
    path: Path
    locked_copy: bool = False
    applied: int = 0
    conflicts: list[int] = field(default_factory=list)
    unreadable: str | None = None

    def messages(self) -> list[str]:
        said = []
        if self.unreadable:
            said.append(
                f"the workbook could not be read back ({self.unreadable}); it was left as it "
                f"is and a new one written to {self.path}"
            )
        elif self.locked_copy:
            said.append(
                f"the workbook is open elsewhere: this update went to {self.path} "
                "(edits made there are not read back; close the workbook for the next run)"
            )
        if self.applied:
            said.append(f"{self.applied} change(s) made in the workbook were saved")
        if self.conflicts:
            ids = ", ".join(map(str, self.conflicts))
            said.append(
                f"follow-up(s) {ids} were changed both in the workbook and elsewhere: "
                "the other change was kept"
            )
        return said


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip() == (b or "").strip()


def apply_edits(store: Store, edits: dict[int, WorkbookEdit]) -> tuple[int, list[int]]:
    """Save specialists' workbook edits; returns (changed follow-ups, conflicting ids)."""
    applied, conflicts = 0, []
    rows = store.followups_by_id(edits)
    for followup_id, edit in edits.items():
        row = rows.get(followup_id)
        if row is None or row.exported_status is None:
            continue  # not a row this store wrote
        changes: dict[str, str | None] = {}
        for name in FIELDS:
            wanted = getattr(edit, name)
            if name == "status" and wanted is None:
                continue  # an empty or unknown status is not an edit
            exported, current = getattr(row, f"exported_{name}"), getattr(row, name)
            if _same(wanted, exported):
                continue
            if not _same(current, exported) and not _same(current, wanted):
                conflicts.append(followup_id)
                continue
            if not _same(current, wanted):
                changes[name] = (wanted or "").strip() or None
        if not changes:
            continue
        status = changes.get("status", row.status)
        done = status == "done"
        with store.followup_edits() as followups:
            followups.update(
                followup_id,
                updated_at=utcnow(),
                resolved_at=(row.resolved_at or utcnow()) if done else None,
                resolved_by=(row.resolved_by or "workbook") if done else None,
                **changes,
            )
            followups.audit(
                "workbook",
                "resolve" if done and "status" in changes else "edit",
                f"followup:{followup_id}",
                "changed in the workbook: " + ", ".join(sorted(changes)),
            )
        applied += 1
    return applied, sorted(set(conflicts))


def _estimated(item: Outcome) -> EligibilityLine:
    if item.state != ItemState.SUCCEEDED or not item.payload:
        return EligibilityLine(item)
    query = item.query
    charge = query.get("expected_charge")
    estimate = estimate_patient_cost(
        EligibilityResult.model_validate(item.payload),
        query.get("service_type") or "30",
        Decimal(str(charge)) if charge is not None else None,
    )
    return EligibilityLine(item, estimate.amount, estimate.summary)


def sync_workbook(store: Store, settings: Settings, now: datetime | None = None) -> WorkbookSync:
    """Merge the workbook's edits into the store, then rewrite it from the store."""
    path = settings.workbook_path
    report = WorkbookSync(path)
    target = path
    try:
        report.applied, report.conflicts = apply_edits(store, read_edits(path))
    except WorkbookUnreadable as exc:
        report.unreadable = str(exc)
        target = timestamped(path, (now or datetime.now()).astimezone())
    since = utcnow() - timedelta(days=settings.outputs.workbook_days)
    rows = fq.list_followups(store, status=["open", "in progress"], limit=100_000)
    rows += fq.list_followups(store, status=["done"], updated_since=since, limit=100_000)
    written = write_specialist_workbook(
        target,
        rows,
        # an answer stays in the workbook when a newer lookup of it failed (noted in its row)
        [_estimated(i.as_answered()) for i in store.recent_outcomes("eligibility", since)],
        [i.as_answered() for i in store.recent_outcomes("claim_status", since)],
        store.import_errors_since(since),
        high_patient_cost=settings.outputs.high_patient_cost,
        now=now,
    )
    report.path = written.path
    report.locked_copy = written.locked_copy
    if written.path == path:  # only the real workbook's cells are read back next time
        store.mark_exported(rows)
    for message in report.messages():
        log.warning("workbook.notice", message=message)
    return report
