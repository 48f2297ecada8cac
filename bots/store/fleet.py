"""The fleet: runs any `payerbot worker` works; what is due across them, and who finishes each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from bots.store.conditions import UNCLAIMED, due, in_fleet
from bots.store.engine import StoreBase, utcnow
from bots.store.schema import run_items, runs, work_items
from bots.store.states import ACTIVE_FLEET_STATUSES, OPEN_STATES, ItemState, RunStatus


class FleetMixin(StoreBase):
    """Fleet runs (``runs.executor = 'fleet'``) seen across every worker; claiming their
    items is ``claim(fleet=True)``."""

    def fleet_due(self) -> dict[str, int]:
        """Per portal, how many items of active fleet runs wait to be claimed now."""
        now = utcnow()
        with self._tx() as conn:
            rows = conn.execute(
                select(work_items.c.portal, func.count())
                .where(work_items.c.state.in_(UNCLAIMED), due(now), in_fleet())
                .group_by(work_items.c.portal)
            ).all()
        return {portal: n for portal, n in rows}

    def fleet_next_due(self, portal: str) -> datetime | None:
        """When the earliest open item of the portal's active fleet runs is due (None: none
        is open, in progress elsewhere included)."""
        with self._tx() as conn:
            return conn.execute(
                select(
                    func.min(func.coalesce(work_items.c.not_before, work_items.c.updated_at))
                ).where(
                    work_items.c.portal == portal,
                    work_items.c.state.in_(OPEN_STATES),
                    in_fleet(),
                )
            ).scalar_one_or_none()

    def fleet_runs_to_finish(self) -> list[tuple[str, RunStatus]]:
        """Fleet runs with nothing left to do (stopping: nothing in progress), each moved to
        ``finishing`` by exactly one caller: (run id, final status) for this caller."""
        run_open = (
            select(run_items.c.item_id)
            .join(work_items, work_items.c.id == run_items.c.item_id)
            .where(run_items.c.run_id == runs.c.id)
        )
        done = ~run_open.where(work_items.c.state.in_(OPEN_STATES)).exists()
        settled = ~run_open.where(work_items.c.state == ItemState.IN_PROGRESS).exists()
        with self._tx() as conn:
            candidates = conn.execute(
                select(runs.c.id, runs.c.status).where(
                    runs.c.executor == "fleet",
                    (runs.c.status.in_(ACTIVE_FLEET_STATUSES) & done)
                    | ((runs.c.status == RunStatus.STOPPING) & settled),
                )
            ).all()
            mine = []
            for run_id, status in candidates:
                taken = conn.execute(
                    update(runs)
                    .where(
                        runs.c.id == run_id,
                        runs.c.status.in_([*ACTIVE_FLEET_STATUSES, RunStatus.STOPPING]),
                    )
                    .values(status=RunStatus.FINISHING)
                ).rowcount
                if taken:
                    final = (
                        RunStatus.STOPPED if status == RunStatus.STOPPING else RunStatus.FINISHED
                    )
                    mine.append((run_id, final))
        return mine
