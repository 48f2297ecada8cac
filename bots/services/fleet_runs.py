"""Fleet runs for every caller (CLI, scheduler, bench): queue a worklist for `payerbot worker`
processes, wait for the fleet to finish it, close a run a worker won, and the worker itself
built with the services' finisher (follow-ups, workbooks)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bots.engine.fleet import Worker, close_fleet_run
from bots.engine.gates import PortalFlows
from bots.engine.runs import Rows, questions_for
from bots.intake.worklists import RowError, import_worklist, write_import_report
from bots.logs import get_logger
from bots.models import LookupKind
from bots.services.finishers import FollowupsAndWorkbooks
from bots.settings import Settings
from bots.store import Store

log = get_logger("payerbot.fleet")

FINAL_RUN_STATES = frozenset({"finished", "stopped", "failed"})


@dataclass
class Enqueued:
    run_id: str
    kind: str
    items: int
    dispositions: dict[str, int]
    import_errors: int
    why_nothing_runs: str | None = None
    """One sentence when no row of the worklist could be queued (see ImportReport)."""


def enqueue_worklist(
    settings: Settings,
    store: Store,
    kind: LookupKind | None,
    worklist: Path,
    *,
    trigger: str = "batch",
) -> Enqueued:
    """Import a worklist and queue it as one fleet run; returns at once."""
    report = import_worklist(worklist, settings, kind)
    queued = enqueue_rows(
        settings,
        store,
        report.kind,
        [(r.source_row, r.query) for r in report.rows],
        trigger=trigger,
        source=report.source_file,
        import_errors=report.errors,
    )
    write_import_report(report, settings.data_dir / "runs" / queued.run_id / "import.json")
    queued.why_nothing_runs = report.why_nothing_runs()
    return queued


def enqueue_rows(
    settings: Settings,
    store: Store,
    kind: LookupKind,
    rows: Rows,
    *,
    trigger: str = "batch",
    source: str | None = None,
    import_errors: Sequence[RowError] = (),
    force: bool = False,
) -> Enqueued:
    """Queue questions as one fleet run (the run and all its items in one transaction).
    A worklist no worker could do is refused (unknown portal, a flow without the kind);
    credentials are the workers' business: the enqueuing machine need not hold them."""
    PortalFlows(settings).route(kind, {q.payer_id for _, q in rows})
    questions = questions_for(settings, kind, rows, source)
    run_id, queued = store.start_run(
        kind.value, trigger, source, questions, force=force, executor="fleet"
    )
    store.record_import_errors(run_id, [e.as_dict() for e in import_errors])
    dispositions = Counter(q.disposition for q in queued)
    store.update_run(
        run_id,
        counts={
            "rows": len(questions),
            "import_errors": len(import_errors),
            "reused": dispositions["reused"],
        },
    )
    log.info("fleet.enqueued", run_id=run_id, items=len(questions), **dispositions)
    # A worklist whose every answer was reused has nothing for a worker: finish it here.
    for finished, status in store.fleet_runs_to_finish():
        finish_fleet_run(settings, store, finished, status)
    return Enqueued(run_id, kind.value, len(questions), dict(dispositions), len(import_errors))


def wait_for_runs(
    store: Store, run_ids: Sequence[str], *, stop: Callable[[], bool], poll: float = 2.0
) -> dict[str, str]:
    """Wait until the fleet has finished these runs (or ``stop()`` says to give up).
    Returns each run's status."""
    while True:
        status = {r: str(run.status if (run := store.get_run(r)) else None) for r in run_ids}
        if all(s in FINAL_RUN_STATES for s in status.values()) or stop():
            return status
        time.sleep(poll)


def finish_fleet_run(settings: Settings, store: Store, run_id: str, status: str) -> None:
    """Close a fleet run this process won (``fleet_runs_to_finish``): counts, follow-ups,
    workbooks. Never loses the run: a failing step is logged and the rest still happens."""
    close_fleet_run(store, run_id, status, FollowupsAndWorkbooks(settings, store))


def new_worker(settings: Settings, store: Store, **options: Any) -> Worker:
    """A `payerbot worker` that closes the fleet runs it wins with follow-ups and workbooks
    (``options``: Worker's, e.g. ``sessions``, ``portals``, ``exit_when_idle``)."""
    return Worker(settings, store, finisher=FollowupsAndWorkbooks(settings, store), **options)
