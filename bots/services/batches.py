"""A batch end to end, for every caller (CLI, scheduler, console): import the worklist,
run it against the portals, write the run workbook and the specialists' workbook.

The bundled mock portals are the interfaces' business (``bots.ops.mock_portals.running``
around the call), never this module's: a production path does not start fixtures.

Printing is the caller's business; this module only returns what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bots.engine.runner import ProgressCallback, Rows, Runner, RunSummary
from bots.intake.worklists import ImportReport, RowError, import_worklist, write_import_report
from bots.models import LookupKind
from bots.outputs.run_workbook import write_workbook
from bots.outputs.workbook_sync import WorkbookSync, sync_workbook
from bots.settings import Settings
from bots.store import Outcome, Store

Wrap = Callable[[Runner, Coroutine[Any, Any, RunSummary]], RunSummary]
"""How to drive the run's coroutine: plain asyncio.run, or with signal handlers (CLI)."""


def plain(runner: Runner, job: Coroutine[Any, Any, RunSummary]) -> RunSummary:
    return asyncio.run(job)


@dataclass
class BatchResult:
    summary: RunSummary
    outcomes: list[Outcome]
    run_sheet: Path
    workbook: WorkbookSync
    import_report: ImportReport | None = None


def run_worklist_file(
    settings: Settings,
    kind: LookupKind | None,
    worklist: Path,
    *,
    trigger: str = "batch",
    progress: ProgressCallback | None = None,
    wrap: Wrap = plain,
) -> BatchResult:
    """Import a worklist file (CSV/XLSX; ``kind`` None: decided by its columns) and run it."""
    report = import_worklist(worklist, settings, kind)
    result = run_rows(
        settings,
        report.kind,
        [(r.source_row, r.query) for r in report.rows],
        trigger=trigger,
        source=report.source_file,
        import_errors=report.errors,
        progress=progress,
        wrap=wrap,
    )
    write_import_report(report, result.summary.log_path.parent / "import.json")
    result.import_report = report
    return result


def run_rows(
    settings: Settings,
    kind: LookupKind,
    rows: Rows,
    *,
    trigger: str = "batch",
    source: str | None = None,
    import_errors: Sequence[RowError] = (),
    progress: ProgressCallback | None = None,
    wrap: Wrap = plain,
    force: bool = False,
) -> BatchResult:
    store = Store.open(settings)
    try:
        runner = Runner(settings, store, progress=progress)
        summary = wrap(
            runner,
            runner.run(
                kind,
                rows,
                trigger=trigger,
                source=source,
                import_errors=import_errors,
                force=force,
            ),
        )
        return finish_outputs(settings, store, summary)
    finally:
        store.close()


def finish_outputs(settings: Settings, store: Store, summary: RunSummary) -> BatchResult:
    """The run's own workbook, then the rolling specialists' workbook (edits merged)."""
    outcomes, written, synced = write_run_outputs(
        settings, store, summary.run_id, LookupKind(summary.kind)
    )
    return BatchResult(summary, outcomes, written, synced)


def write_run_outputs(
    settings: Settings, store: Store, run_id: str, kind: LookupKind
) -> tuple[list[Outcome], Path, WorkbookSync]:
    """Write a finished run's workbook and sync the rolling one (also a fleet worker's job
    for the fleet run it finishes)."""
    sheet = settings.data_dir / "spreadsheets" / f"{kind.value}-{run_id}.xlsx"
    outcomes = store.run_outcomes(run_id)
    written = write_workbook(sheet, {kind: outcomes}, store.import_errors(run_id))
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
