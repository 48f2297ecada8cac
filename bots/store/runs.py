"""Runs: made with their whole worklist, updated, stopped and finished; rejected rows."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from bots.store.engine import StoreBase, utcnow
from bots.store.queue import enqueue_in
from bots.store.rows import Enqueued, Question, RejectedRow, Run
from bots.store.schema import import_errors, results, runs
from bots.store.states import ACTIVE_FLEET_STATUSES, RunStatus


class RunsMixin(StoreBase):
    """Runs and the worklist rows their import rejected."""

    def start_run(
        self,
        kind: str,
        trigger: str,
        source: str | None,
        questions: Sequence[Question] = (),
        *,
        force: bool = False,
        executor: str = "local",
    ) -> tuple[str, list[Enqueued]]:
        """Create a run with its questions in one transaction: a run that exists has its
        whole worklist queued, so a crash at any point leaves nothing half-started.

        ``executor="fleet"``: the run is ``queued`` for any `payerbot worker` to work."""
        now = utcnow()
        run_id = f"{now:%Y%m%d-%H%M%S}-{random.getrandbits(24):06x}"
        with self._tx() as conn:
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    kind=kind,
                    trigger=trigger,
                    source=source,
                    status=RunStatus.QUEUED if executor == "fleet" else RunStatus.RUNNING,
                    executor=executor,
                    started_at=now,
                    host=self.node,
                    pid=os.getpid(),
                    counts={"rows": len(questions)},
                )
            )
            queued = [
                enqueue_in(conn, self.queue, run_id, n, q, force=force)
                for n, q in enumerate(questions, start=1)
            ]
        return run_id, queued

    def update_run(self, run_id: str, **values: Any) -> None:
        """Set columns of a run (status, notes, paths...)."""
        with self._tx() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def finish_run(
        self, run_id: str, status: str, counts: Mapping[str, int], **values: Any
    ) -> None:
        self.update_run(run_id, status=status, counts=dict(counts), finished_at=utcnow(), **values)

    def request_stop(self, run_id: str) -> bool:
        """Ask a running run to stop after its in-flight lookups (any process may ask)."""
        with self._tx() as conn:
            return bool(
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status.in_(ACTIVE_FLEET_STATUSES))
                    .values(status=RunStatus.STOPPING)
                ).rowcount
            )

    def stop_requested(self, run_id: str) -> bool:
        with self._tx() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
        return status == RunStatus.STOPPING

    def get_run(self, run_id: str) -> Run | None:
        with self._tx() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return Run.of(row) if row else None

    def list_runs(self, limit: int = 20) -> list[Run]:
        """The most recent runs, newest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(runs).order_by(runs.c.started_at.desc()).limit(limit)
            ).mappings()
            return [Run.of(r) for r in rows]

    # --- rejected worklist rows --------------------------------------------------------------

    def record_import_errors(self, run_id: str, errors: Sequence[Mapping[str, Any]]) -> None:
        """Keep the rows a worklist import refused (file, row, column, reason: no values)."""
        if errors:
            with self._tx() as conn:
                conn.execute(insert(import_errors), [{"run_id": run_id, **e} for e in errors])

    def import_errors(self, run_id: str) -> list[RejectedRow]:
        with self._tx() as conn:
            rows = conn.execute(
                select(import_errors)
                .where(import_errors.c.run_id == run_id)
                .order_by(import_errors.c.id)
            ).mappings()
            return [RejectedRow.of(r) for r in rows]

    def import_errors_since(self, since: datetime) -> list[RejectedRow]:
        """Rejected rows of every run started since ``since`` (the specialists' workbook)."""
        stmt = (
            select(import_errors)
            .join(runs, runs.c.id == import_errors.c.run_id)
            .where(runs.c.started_at >= since)
            .order_by(import_errors.c.id)
        )
        with self._tx() as conn:
            return [RejectedRow.of(r) for r in conn.execute(stmt).mappings()]

    # --- retention ---------------------------------------------------------------------------

    def runs_finished_before(self, cutoff: datetime) -> list[str]:
        """Ids of the runs that finished before ``cutoff``."""
        with self._tx() as conn:
            return list(
                conn.execute(
                    select(runs.c.id).where(
                        runs.c.finished_at.is_not(None), runs.c.finished_at < cutoff
                    )
                ).scalars()
            )

    def forget_run_files(self, run_ids: Sequence[str]) -> None:
        """The runs' evidence, traces, logs and workbooks are gone: clear the paths to them,
        keep the runs and their answers."""
        if not run_ids:
            return
        with self._tx() as conn:
            conn.execute(
                update(results)
                .where(results.c.run_id.in_(list(run_ids)))
                .values(evidence_path=None, trace_path=None)
            )
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(list(run_ids)))
                .values(log_path=None, spreadsheet_path=None)
            )
