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

from bots.engine.runner import Runner
from bots.engine.runs import ProgressCallback, Rows, RunSummary
from bots.intake.worklists import ImportReport, RowError, import_worklist, write_import_report
from bots.models import LookupKind
from bots.outputs.workbook_sync import WorkbookSync
from bots.services.finishers import FollowupsAndWorkbooks
from bots.settings import Settings
from bots.store import OPEN_STATES, Outcome, Store

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
        finisher = FollowupsAndWorkbooks(settings, store)
        runner = Runner(settings, store, progress=progress, finisher=finisher)
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
        return batch_result(finisher, summary)
    finally:
        store.close()


def resume_run(
    settings: Settings,
    store: Store,
    run_id: str,
    *,
    progress: ProgressCallback | None = None,
    wrap: Wrap = plain,
) -> BatchResult:
    """Finish a crashed or stopped run (`payerbot runs resume`), then its workbooks."""
    finisher = FollowupsAndWorkbooks(settings, store)
    runner = Runner(settings, store, progress=progress, finisher=finisher)
    return batch_result(finisher, wrap(runner, runner.resume(run_id)))


def nothing_looked_up(summary: RunSummary) -> str | None:
    """One sentence when a run with items looked none up: every item was left queued."""
    items = summary.counts.get("items", 0)
    waiting = sum(summary.counts.get(state.value, 0) for state in OPEN_STATES)
    if not items or summary.lookups or waiting < items:
        return None
    why = "; ".join(f"{p}: {r}" for p, r in sorted(summary.postponed_portals.items()))
    return (
        f"nothing was looked up: all {items} item(s) of run {summary.run_id} wait in the queue"
        f" ({why or 'the run stopped before its first lookup'}); "
        f"`payerbot runs resume {summary.run_id}` runs them"
    )


def batch_result(finisher: FollowupsAndWorkbooks, summary: RunSummary) -> BatchResult:
    """The run's summary with the workbooks its finisher wrote."""
    outcomes, written, synced = finisher.published[summary.run_id]
    return BatchResult(summary, outcomes, written, synced)
