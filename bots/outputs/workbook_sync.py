"""Keeping the specialists' workbook in step with the follow-up queue (edits merged back).

Before each write the workbook's Status / Assignee / Notes cells are read back and merged
into the store by follow-up id: a cell that differs from what the last write put there is
a specialist's edit and is applied (actor ``workbook``, audited), unless the same field was
also changed elsewhere since (console, CLI): then the store keeps its value and the run
report names the conflict. Everything else in the workbook is rewritten from the store.

A downloaded copy (the console's download) comes back the same way, by upload or
`payerbot workbook import FILE` (:func:`import_workbook`): its hidden "As downloaded" sheet
stands in for the store's record of the last write. Either way a row is refused, with one
sentence naming it, when its Status is not in the drop-down list, its Assignee is not a
console user (matched without regard to spaces and capitals), or its follow-up is unknown.

Items without an answer yet because their portal was paused (the drift canary) or postponed
(maintenance, the rate-limit budget) are listed with that reason (:func:`waiting_items`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bots.dates import local_datetime_text
from bots.followups import queue as fq
from bots.followups.estimates import estimate_patient_cost
from bots.logs import get_logger
from bots.models import EligibilityResult
from bots.outputs.evidence_links import EvidenceLinks
from bots.outputs.run_workbook import Waiting
from bots.outputs.specialists_workbook import (
    DownloadedCopy,
    EligibilityLine,
    Streamed,
    WorkbookEdit,
    WorkbookUnreadable,
    WrittenWorkbook,
    read_baseline,
    read_edits,
    timestamped,
    write_specialist_workbook,
)
from bots.settings import Settings
from bots.store import FollowUp, ItemState, Outcome, Store, utcnow
from bots.store.states import OPEN_STATES

log = get_logger("payerbot.workbook")
FIELDS = ("status", "assignee", "notes")


@dataclass
class WorkbookSync:
    path: Path
    locked_copy: bool = False
    applied: int = 0
    conflicts: list[int] = field(default_factory=list)
    unreadable: str | None = None
    refused: list[str] = field(default_factory=list)

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
        said += [f"{r} (in the workbook)" for r in self.refused]
        return said


@dataclass
class Merge:
    """What merging a workbook's edits did: changes taken, conflicts, rows refused."""

    taken: int = 0
    conflicts: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one sentence per row

    def summary(self) -> str:
        """In words: "3 changes taken, 1 conflict kept the newer edit, 2 rows refused."."""
        parts = [_count(self.taken, "change", "changes") + " taken"]
        if self.conflicts:
            parts.append(
                _count(len(self.conflicts), "conflict", "conflicts")
                + " kept the newer edit made elsewhere (follow-up "
                + ", ".join(map(str, self.conflicts))
                + ")"
            )
        if self.refused:
            parts.append(_count(len(self.refused), "row", "rows") + " refused")
        return ", ".join(parts) + "."


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip() == (b or "").strip()


def _refusal(edit: WorkbookEdit, why: str) -> str:
    where = (
        f"Row {edit.row} (follow-up {edit.followup_id})"
        if edit.row
        else (f"Follow-up {edit.followup_id}")
    )
    return f"{where}: {why}."


def checked_edits(
    store: Store,
    edits: dict[int, WorkbookEdit],
    merge: Merge,
    baseline: dict[int, WorkbookEdit] | None = None,
    *,
    known_only: bool,
) -> dict[int, WorkbookEdit]:
    """The edits that may be merged: a status from the list, an assignee who is a console
    user (spelled as the user is; any name while there are no console users), a known
    follow-up (``known_only``). Each refused row adds one sentence to ``merge.refused``."""
    people = {u.username.casefold(): u.username for u in store.users()}
    known = store.followups_by_id(edits)
    fine = {}
    for followup_id, edit in edits.items():
        if edit.problem:
            merge.refused.append(_refusal(edit, edit.problem))
            continue
        if known_only and followup_id not in known:
            merge.refused.append(
                _refusal(edit, "there is no such follow-up in the queue, so the row was skipped")
            )
            continue
        assignee = edit.assignee
        base = baseline.get(followup_id) if baseline is not None else None
        row = known.get(followup_id)
        was = base.assignee if base is not None else row.exported_assignee if row else None
        if assignee and people and not _same(assignee, was):
            user = people.get(" ".join(assignee.split()).casefold())
            if user is None:
                merge.refused.append(
                    _refusal(
                        edit,
                        f'"{assignee[:40]}" is not a console user (users: '
                        + ", ".join(sorted(people.values()))
                        + "), so the row was left as it is",
                    )
                )
                continue
            edit = WorkbookEdit(followup_id, edit.status, user, edit.notes, None, edit.row)
        fine[followup_id] = edit
    return fine


def apply_edits(
    store: Store,
    edits: dict[int, WorkbookEdit],
    baseline: dict[int, WorkbookEdit] | None = None,
    actor: str = "workbook",
) -> tuple[int, list[int]]:
    """Save specialists' workbook edits; returns (changed follow-ups, conflicting ids).

    A cell is an edit when it differs from what the workbook held when written: the store's
    record of the last write (the rolling workbook), or ``baseline`` (a downloaded copy's
    values as downloaded). A field changed elsewhere since is a conflict: the store keeps
    the newer change."""
    applied, conflicts = 0, []
    rows = store.followups_by_id(edits)
    for followup_id, edit in edits.items():
        row = rows.get(followup_id)
        base = baseline.get(followup_id) if baseline is not None else None
        if row is None or (baseline is None and row.exported_status is None):
            continue  # not a row this store wrote
        if baseline is not None and base is None:
            continue  # not a row of that download
        changes: dict[str, str | None] = {}
        for name in FIELDS:
            wanted = getattr(edit, name)
            if name == "status" and wanted is None:
                continue  # an empty status is not an edit
            exported = getattr(base, name) if base is not None else getattr(row, f"exported_{name}")
            current = getattr(row, name)
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
                resolved_by=(row.resolved_by or actor) if done else None,
                **changes,
            )
            followups.audit(
                actor,
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


def import_workbook(store: Store, settings: Settings, path: Path, actor: str) -> Merge:
    """Merge the Status / Assignee / Notes edits of a workbook file (a downloaded copy, or
    the rolling workbook) into the store, then rewrite the rolling workbook. Raises
    WorkbookUnreadable for a file that is not a specialists' workbook."""
    merge = Merge()
    baseline = read_baseline(path)
    edits = checked_edits(store, read_edits(path), merge, baseline, known_only=True)
    merge.taken, merge.conflicts = apply_edits(store, edits, baseline, actor)
    sync_workbook(store, settings)
    log.info(
        "workbook.imported",
        taken=merge.taken,
        conflicts=len(merge.conflicts),
        refused=len(merge.refused),
    )
    return merge


_SCREENSHOT = re.compile(r"; screenshot [^;]*")


def run_waiting(
    settings: Settings, notes: dict[str, Any] | None, items: Iterable[Outcome]
) -> dict[int, Waiting]:
    """Why a run's items have no answer yet, from the run's notes: their portal was paused
    (the drift canary, another stop) or postponed (maintenance, the rate-limit budget)."""
    stopped: dict[str, str] = (notes or {}).get("stopped_portals") or {}
    postponed: dict[str, str] = (notes or {}).get("postponed_portals") or {}
    why: dict[int, Waiting] = {}
    for item in items:
        if item.state not in OPEN_STATES:
            continue
        if item.portal in postponed:
            until = local_datetime_text(item.not_before, settings.timezone, empty="later")
            reason = postponed[item.portal] or "is in its maintenance window"
            why[item.id] = Waiting(
                f"Postponed until {until}", f"Not looked up yet: portal {item.portal} {reason}"
            )
        elif item.portal in stopped:
            reason = _SCREENSHOT.sub("", stopped[item.portal])  # a path is not for paper
            paused = "drift canary" in reason
            why[item.id] = Waiting(
                "Paused: the portal's pages changed" if paused else "Paused: portal stopped",
                f"Not looked up yet: portal {item.portal} was {reason}",
            )
    return why


def waiting_items(
    store: Store, settings: Settings, since: datetime, answered: set[int]
) -> tuple[list[Outcome], dict[int, Waiting]]:
    """Items of recent runs left without an answer because their portal was paused or
    postponed (:func:`run_waiting`); ``answered`` (item ids already listed) are left out."""
    found: list[Outcome] = []
    why: dict[int, Waiting] = {}
    for run in store.list_runs(limit=200):
        if run.started_at < since:
            break
        notes = run.notes or {}
        if not notes.get("stopped_portals") and not notes.get("postponed_portals"):
            continue
        items = [i for i in store.run_outcomes(run.id) if i.id not in answered | set(why)]
        reasons = run_waiting(settings, notes, items)
        found += [i for i in items if i.id in reasons]
        why.update(reasons)
    return found, why


def _write_from_store(
    store: Store,
    settings: Settings,
    target: Path,
    now: datetime | None = None,
    download: DownloadedCopy | None = None,
) -> tuple[WrittenWorkbook, list[FollowUp]]:
    since = utcnow() - timedelta(days=settings.outputs.workbook_days)
    rows = fq.list_followups(store, status=["open", "in progress"], limit=100_000)
    rows += fq.list_followups(store, status=["done"], updated_since=since, limit=100_000)
    # The day's answers are read from the store page by page as the sheets are written
    # (Streamed): a night's memory does not grow with its rows. An answer stays in the
    # workbook when a newer lookup of it failed (noted in its row).
    elig_ids = store.recent_item_ids("eligibility", since)
    claim_ids = store.recent_item_ids("claim_status", since)
    waiting, why = waiting_items(store, settings, since, {*elig_ids, *claim_ids})
    elig_waiting = [i for i in waiting if i.kind == "eligibility"]
    claim_waiting = [i for i in waiting if i.kind == "claim_status"]

    def eligibility() -> Iterator[EligibilityLine]:
        for item in store.outcomes_of(elig_ids, since):
            yield _estimated(item.as_answered())
        for item in elig_waiting:
            yield _estimated(item)

    def claims() -> Iterator[Outcome]:
        for item in store.outcomes_of(claim_ids, since):
            yield item.as_answered()
        yield from claim_waiting

    written = write_specialist_workbook(
        target,
        rows,
        Streamed(len(elig_ids) + len(elig_waiting), eligibility),
        Streamed(len(claim_ids) + len(claim_waiting), claims),
        store.import_errors_since(since),
        high_patient_cost=settings.outputs.high_patient_cost,
        now=now,
        links=EvidenceLinks.of(settings),
        waiting=why,
        timezone=settings.timezone,
        download=download,
    )
    return written, rows


def write_download(store: Store, settings: Settings, target: Path, made_for: str) -> Path:
    """A copy of the specialists' workbook to download: console links only, a first sheet
    saying where edits go back, the values as downloaded kept for the upload."""
    base = EvidenceLinks.of(settings).base_url or ""
    copy = DownloadedCopy(
        upload_url=f"{base}/workbook/upload",
        made_for=made_for,
        made_at_text=local_datetime_text(utcnow(), settings.timezone),
    )
    written, _ = _write_from_store(store, settings, target, download=copy)
    return written.path


def sync_workbook(store: Store, settings: Settings, now: datetime | None = None) -> WorkbookSync:
    """Merge the workbook's edits into the store, then rewrite it from the store."""
    path = settings.workbook_path
    report = WorkbookSync(path)
    target = path
    try:
        merge = Merge()
        edits = checked_edits(store, read_edits(path), merge, known_only=False)
        report.applied, report.conflicts = apply_edits(store, edits)
        report.refused = merge.refused
    except WorkbookUnreadable as exc:
        report.unreadable = str(exc)
        target = timestamped(path, (now or datetime.now()).astimezone())
    written, rows = _write_from_store(store, settings, target, now)
    report.path = written.path
    report.locked_copy = written.locked_copy
    if written.path == path:  # only the real workbook's cells are read back next time
        store.mark_exported(rows)
    for message in report.messages():
        log.warning("workbook.notice", message=message)
    return report
