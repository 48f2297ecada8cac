"""What every run ends with, handed to the engine as its ``RunFinisher``: the specialists'
follow-ups raised from the run's answers, then the run workbook and the
specialists' workbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bots.followups.queue import raise_followups
from bots.logs import get_logger
from bots.models import LookupKind
from bots.outputs.evidence_links import EvidenceLinks
from bots.outputs.run_workbook import write_workbook
from bots.outputs.workbook_sync import WorkbookSync, run_waiting, sync_workbook
from bots.settings import Settings
from bots.store import Outcome, Store

log = get_logger("payerbot.finishers")

RunOutputs = tuple[list[Outcome], Path, WorkbookSync]
"""A run's outcomes, its run workbook and the specialists' workbook's sync."""


class FollowupsAndWorkbooks:
    """The engine's ``RunFinisher`` for every entry point: follow-ups before the run record
    closes, then (``workbooks``) the run's workbook and the specialists' workbook. A single
    lookup raises follow-ups only, as it always has."""

    def __init__(self, settings: Settings, store: Store, *, workbooks: bool = True) -> None:
        self.settings = settings
        self.store = store
        self.workbooks = workbooks
        self.published: dict[str, RunOutputs] = {}
        """run id -> what ``publish`` wrote, for the caller's report."""

    def conclude(self, run_id: str) -> dict[str, Any]:
        try:  # the specialists' work from this run's answers; never loses the run
            raised = raise_followups(self.store, self.settings, run_id)
        except Exception:
            log.exception("followups.failed", run_id=run_id)
            return {}
        log.info("followups.raised", **vars(raised))
        return {"followups": vars(raised)}

    def publish(self, run_id: str) -> None:
        if self.workbooks:
            run = self.store.get_run(run_id)
            if run is None:
                raise LookupError(f"run {run_id} is gone")
            self.published[run_id] = write_run_outputs(self.settings, self.store, run_id, run.kind)


def followups_only(settings: Settings, store: Store) -> FollowupsAndWorkbooks:
    """The finisher of a single lookup (and of tests driving the Runner): follow-ups only."""
    return FollowupsAndWorkbooks(settings, store, workbooks=False)


def write_run_outputs(
    settings: Settings, store: Store, run_id: str, kind: LookupKind
) -> RunOutputs:
    """Write a finished run's run workbook and sync the specialists' workbook."""
    sheet = settings.data_dir / "spreadsheets" / f"{kind.value}-{run_id}.xlsx"
    outcomes = store.run_outcomes(run_id)
    run = store.get_run(run_id)
    written = write_workbook(
        sheet,
        {kind: outcomes},
        store.import_errors(run_id),
        EvidenceLinks.of(settings),
        run_waiting(settings, run.notes if run else None, outcomes),
        settings.timezone,
    )
    store.update_run(run_id, spreadsheet_path=str(written))
    synced = sync_workbook(store, settings)
    run = store.get_run(run_id)
    store.update_run(
        run_id,
        notes={
            **((run.notes if run else None) or {}),
            "workbook": str(synced.path),
            "workbook_notices": synced.messages(),
        },
    )
    return outcomes, written, synced
