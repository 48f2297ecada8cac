"""Reading answers: a run's items with their latest result, the last days' outcomes, every
question the store knows, and each portal's recent record."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from bots.store.engine import StoreBase, utcnow
from bots.store.rows import Item, Outcome, PortalActivity
from bots.store.schema import results, run_items, work_items
from bots.store.states import ItemState

_RESULT_FIELDS = (
    results.c.payload,
    results.c.evidence_path,
    results.c.trace_path,
    results.c.finished_at.label("checked_at"),
    results.c.duration_ms,
    results.c.run_id.label("answered_in_run"),
)
"""What an outcome row carries from the item's latest result."""

_good = results.alias("good")
_GOOD_FIELDS = (
    _good.c.payload.label("good_payload"),
    _good.c.finished_at.label("good_checked_at"),
    _good.c.evidence_path.label("good_evidence_path"),
    _good.c.run_id.label("good_run"),
)
"""What an outcome row carries from the item's last good (succeeded) result."""


def _last_good() -> Any:
    """Per item, the id of its newest succeeded result, however old."""
    return (
        select(results.c.item_id, func.max(results.c.id).label("result_id"))
        .where(results.c.outcome == ItemState.SUCCEEDED)
        .group_by(results.c.item_id)
        .subquery()
    )


def _latest_results(since: datetime | None = None) -> Any:
    """Per item, the id of its latest result (of those finished since ``since``)."""
    stmt = select(results.c.item_id, func.max(results.c.id).label("result_id"))
    if since is not None:
        stmt = stmt.where(results.c.finished_at >= since)
    return stmt.group_by(results.c.item_id).subquery()


_RUN_STATES = (
    select(work_items.c.state, func.count())
    .join(run_items, run_items.c.item_id == work_items.c.id)
    .where(run_items.c.run_id == bindparam("b_run"))
    .group_by(work_items.c.state)
)
"""Each state of a run's items and how many are in it (built once, as the hot path's)."""


class OutcomesMixin(StoreBase):
    """Items with their latest answers, for reports, workbooks, rules and the scheduler."""

    def run_outcomes(self, run_id: str) -> list[Outcome]:
        """Every item of a run in worklist order with its state and its latest result."""
        latest, good = _latest_results(), _last_good()
        stmt = (
            select(
                work_items,
                run_items.c.position,
                run_items.c.disposition,
                *_RESULT_FIELDS,
                *_GOOD_FIELDS,
            )
            .join(run_items, run_items.c.item_id == work_items.c.id)
            .outerjoin(latest, latest.c.item_id == work_items.c.id)
            .outerjoin(results, results.c.id == latest.c.result_id)
            .outerjoin(good, good.c.item_id == work_items.c.id)
            .outerjoin(_good, _good.c.id == good.c.result_id)
            .where(run_items.c.run_id == run_id)
            .order_by(run_items.c.position)
        )
        with self._tx() as conn:
            return [Outcome.of(r) for r in conn.execute(stmt).mappings()]

    def run_states(self, run_id: str) -> dict[str, int]:
        """How many of a run's items are in each state (states with none left out): the
        run's final counts without reading its answers."""
        with self._tx() as conn:
            return {str(state): n for state, n in conn.execute(_RUN_STATES, {"b_run": run_id})}

    def recent_outcomes(self, kind: str, since: datetime) -> list[Outcome]:
        """Every item of a kind answered (or tried) since ``since``, with its latest result
        (the specialists' workbook's rows); position and disposition are None."""
        return list(self.outcomes_of(self.recent_item_ids(kind, since), since))

    def recent_item_ids(self, kind: str, since: datetime) -> list[int]:
        """The ids of :meth:`recent_outcomes`' items, in order, without their answers."""
        latest = _latest_results(since)
        stmt = (
            select(work_items.c.id)
            .join(latest, latest.c.item_id == work_items.c.id)
            .where(work_items.c.kind == kind)
            .order_by(work_items.c.id)
        )
        with self._tx() as conn:
            return list(conn.execute(stmt).scalars())

    def outcomes_of(
        self, ids: Sequence[int], since: datetime, page: int = 500
    ) -> Iterator[Outcome]:
        """The items ``ids`` with their latest result since ``since`` (as
        :meth:`recent_outcomes`), read ``page`` at a time as they are iterated: a day's
        answers are never all in memory (the workbook writes them row by row). An item
        whose results were pruned meanwhile is left out."""
        latest, good = _latest_results(since), _last_good()
        stmt = (
            select(work_items, *_RESULT_FIELDS, *_GOOD_FIELDS)
            .join(latest, latest.c.item_id == work_items.c.id)
            .join(results, results.c.id == latest.c.result_id)
            .outerjoin(good, good.c.item_id == work_items.c.id)
            .outerjoin(_good, _good.c.id == good.c.result_id)
            .where(work_items.c.id.in_(bindparam("b_ids", expanding=True)))
            .order_by(work_items.c.id)
        )
        for start in range(0, len(ids), page):
            with self._tx() as conn:
                rows = conn.execute(stmt, {"b_ids": list(ids[start : start + page])})
                chunk = [Outcome.of(r) for r in rows.mappings()]
            yield from chunk

    def items(self) -> list[Item]:
        """Every question the store knows, asked or not (the scheduler's due-item sources)."""
        with self._tx() as conn:
            return [Item.of(r) for r in conn.execute(select(work_items)).mappings()]

    def portal_activity(self) -> dict[str, PortalActivity]:
        """Per portal: last successful lookup and the last day's outcome counts."""
        since = utcnow() - timedelta(days=1)
        with self._tx() as conn:
            last = conn.execute(
                select(work_items.c.portal, func.max(results.c.finished_at))
                .join(results, results.c.item_id == work_items.c.id)
                .where(results.c.outcome == ItemState.SUCCEEDED)
                .group_by(work_items.c.portal)
            ).all()
            recent = conn.execute(
                select(work_items.c.portal, results.c.outcome, func.count())
                .join(results, results.c.item_id == work_items.c.id)
                .where(results.c.finished_at >= since)
                .group_by(work_items.c.portal, results.c.outcome)
            ).all()
        last_success = {portal: when for portal, when in last}
        counts: dict[str, dict[str, int]] = {}
        for portal, outcome, n in recent:
            counts.setdefault(portal, {})[outcome] = n
        return {
            portal: PortalActivity(last_success.get(portal), counts.get(portal))
            for portal in sorted(last_success.keys() | counts.keys())
        }
