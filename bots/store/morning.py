"""What a supervisor looks for in the morning: runs found by kind, status and date; the
day's counts for the home page (new, mine, high, failed last night); portals a run paused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from bots.store.engine import StoreBase
from bots.store.rows import Run
from bots.store.schema import followups, run_items, runs, work_items
from bots.store.states import ItemState

DESK_TRIGGER = "lookup"
"""The trigger of a run made by one desk lookup (console or CLI `lookup`): every other
trigger is a batch (worklist, schedule, retry, console upload)."""


@dataclass(frozen=True, slots=True)
class MorningCounts:
    """The home page's numbers (supervisor-only ones are None for a specialist's page)."""

    new_followups: int  # raised since the start of the practice's day
    mine: int  # open or in progress, assigned to the reader
    high: int  # open or in progress, high priority
    failed_items: int | None  # failed items of the runs started since ``since`` (last night)
    failed_runs: list[str]  # those runs, newest first


@dataclass(frozen=True, slots=True)
class PausedPortal:
    """A portal a run stopped or postponed, with no successful lookup since."""

    portal: str
    run_id: str
    since: datetime  # the run's start (the page-change check runs before the first lookup)
    reason: str  # the run's note, in words
    postponed: bool  # postponed (slow down) rather than stopped


class MorningMixin(StoreBase):
    """Queries of the console's home, runs and portals pages."""

    def find_runs(
        self,
        *,
        desk: bool | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Run], int]:
        """Runs newest first matching every filter given (``desk``: True desk lookups,
        False batches), and how many match in all."""
        where = []
        if desk is True:
            where.append(runs.c.trigger == DESK_TRIGGER)
        elif desk is False:
            where.append(runs.c.trigger != DESK_TRIGGER)
        if status:
            where.append(runs.c.status == status)
        if since is not None:
            where.append(runs.c.started_at >= since)
        if until is not None:
            where.append(runs.c.started_at < until)
        with self._tx() as conn:
            counted = select(func.count()).select_from(runs).where(*where)
            total = int(conn.execute(counted).scalar_one())
            rows = conn.execute(
                select(runs)
                .where(*where)
                .order_by(runs.c.started_at.desc())
                .limit(limit)
                .offset(offset)
            ).mappings()
            return [Run.of(r) for r in rows], total

    def run_state_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        """Per run, its items per state now (a running run's counts are not kept yet)."""
        if not run_ids:
            return {}
        stmt = (
            select(run_items.c.run_id, work_items.c.state, func.count())
            .join(work_items, work_items.c.id == run_items.c.item_id)
            .where(run_items.c.run_id.in_(run_ids))
            .group_by(run_items.c.run_id, work_items.c.state)
        )
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        with self._tx() as conn:
            for run_id, state, n in conn.execute(stmt).all():
                counts[run_id][str(state)] = int(n)
        return counts

    def run_reused_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        """Per run, its items answered by an earlier run (disposition reused) per state."""
        if not run_ids:
            return {}
        stmt = (
            select(run_items.c.run_id, work_items.c.state, func.count())
            .join(work_items, work_items.c.id == run_items.c.item_id)
            .where(run_items.c.run_id.in_(run_ids), run_items.c.disposition == "reused")
            .group_by(run_items.c.run_id, work_items.c.state)
        )
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        with self._tx() as conn:
            for run_id, state, n in conn.execute(stmt).all():
                counts[run_id][str(state)] = int(n)
        return counts

    def morning_counts(self, today_start: datetime, since: datetime, me: str) -> MorningCounts:
        """Follow-ups raised since ``today_start``, open ones of ``me`` and of high priority,
        and failed items of the batches started since ``since``."""
        open_ = followups.c.status.in_(["open", "in progress"])
        with self._tx() as conn:

            def count(*where: object) -> int:
                stmt = select(func.count()).select_from(followups).where(*where)  # type: ignore[arg-type]
                return int(conn.execute(stmt).scalar_one())

            new = count(followups.c.created_at >= today_start)
            mine = count(open_, followups.c.assignee == me)
            high = count(open_, followups.c.priority == "high")
            failed = conn.execute(
                select(runs.c.id, func.count())
                .join(run_items, run_items.c.run_id == runs.c.id)
                .join(work_items, work_items.c.id == run_items.c.item_id)
                .where(
                    runs.c.started_at >= since,
                    runs.c.trigger != DESK_TRIGGER,
                    work_items.c.state == ItemState.SYSTEM_FAILED,
                )
                .group_by(runs.c.id)
                .order_by(runs.c.id.desc())
            ).all()
        return MorningCounts(
            new_followups=new,
            mine=mine,
            high=high,
            failed_items=sum(int(n) for _, n in failed),
            failed_runs=[str(run_id) for run_id, _ in failed],
        )

    def paused_portals(self, since: datetime) -> dict[str, PausedPortal]:
        """Per portal, the newest run since ``since`` that stopped or postponed it, when no
        lookup on that portal succeeded after that run started."""
        with self._tx() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.started_at, runs.c.notes)
                .where(runs.c.started_at >= since, runs.c.notes.is_not(None))
                .order_by(runs.c.started_at.desc())
            ).all()
        found: dict[str, PausedPortal] = {}
        for run_id, started, notes in rows:
            for key, postponed in (("stopped_portals", False), ("postponed_portals", True)):
                for portal, why in ((notes or {}).get(key) or {}).items():
                    if portal not in found:
                        found[portal] = PausedPortal(portal, run_id, started, str(why), postponed)
        return found
