"""Which work items a statement means: a run's, the active fleet's, unclaimed, delegated, due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, select

from bots.store.schema import run_items, runs, work_items
from bots.store.states import ACTIVE_FLEET_STATUSES, ItemState, RunStatus

UNCLAIMED = (ItemState.NEW, ItemState.ABANDONED)
"""Items nobody holds: never claimed, or claimed by a holder whose lease lapsed."""


def in_run(run_id: str | BindParameter[str]) -> Any:
    """The condition "this work item belongs to the run" (the run's id, or a parameter)."""
    return work_items.c.id.in_(select(run_items.c.item_id).where(run_items.c.run_id == run_id))


def in_fleet(statuses: Sequence[str] = ACTIVE_FLEET_STATUSES) -> Any:
    """The condition "this work item belongs to a fleet run in one of these statuses"."""
    return work_items.c.id.in_(
        select(run_items.c.item_id)
        .join(runs, runs.c.id == run_items.c.run_id)
        .where(runs.c.executor == "fleet", runs.c.status.in_(statuses))
    )


def unclaimed(run_id: str | None, portal: str) -> tuple[Any, ...]:
    """The run's items of one portal that nobody holds: new or abandoned. ``None``: those
    of every active fleet run (a fleet worker's portal stops or waits for all of them)."""
    return (
        work_items.c.portal == portal,
        work_items.c.state.in_(UNCLAIMED),
        in_run(run_id) if run_id is not None else in_fleet(),
    )


def delegated_items() -> Any:
    """Items of runs that wait for a session holder to answer them (status ``delegated``)."""
    return work_items.c.id.in_(
        select(run_items.c.item_id)
        .join(runs, runs.c.id == run_items.c.run_id)
        .where(runs.c.status == RunStatus.DELEGATED)
    )


def due(now: datetime | BindParameter[datetime]) -> Any:
    """The condition "this work item may be tried now" (no ``not_before``, or it passed)."""
    return (work_items.c.not_before.is_(None)) | (work_items.c.not_before <= now)
