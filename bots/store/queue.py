"""The work queue: enqueue (dedupe by reference), claim under a lease (a run's, delegated,
or any fleet run's), complete with retries, release, postpone or fail pending items."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, insert, select, update

from bots.settings import QueueSettings
from bots.store.conditions import (
    UNCLAIMED,
    delegated_items,
    due,
    in_fleet,
    in_run,
    unclaimed,
)
from bots.store.engine import StoreBase, alive, utcnow
from bots.store.rows import Enqueued, Question, WorkItem
from bots.store.schema import UTCDateTime, results, run_items, runs, work_items
from bots.store.states import (
    ACTIVE_FLEET_STATUSES,
    FINISHED_STATES,
    OPEN_STATES,
    ItemState,
    RunStatus,
)

# The hot path's statements, built once: building a statement and its cache key cost more
# CPU than SQLite takes to run it (docs/profile.md). Values come as parameters.
_ITEM_BY_REFERENCE = (
    select(work_items).where(work_items.c.reference == bindparam("b_reference")).with_for_update()
)
_NEW_ITEM = insert(work_items)
_ITEM_IN_RUN = select(run_items.c.item_id).where(
    run_items.c.run_id == bindparam("b_run"), run_items.c.item_id == bindparam("b_item")
)
_NEW_RUN_ITEM = insert(run_items)
_RECORD_ATTEMPT = insert(results)
_SET_ITEM = update(work_items).where(work_items.c.id == bindparam("b_item"))
"""Sets the columns named by the parameters of the item ``b_item``."""
_DUE_ITEM = (
    select(work_items)
    .where(
        work_items.c.portal == bindparam("b_portal"),
        work_items.c.state.in_(UNCLAIMED),
        due(bindparam("b_now", type_=UTCDateTime)),
    )
    .order_by(work_items.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)
_DUE_DELEGATED = _DUE_ITEM.where(delegated_items())
_DUE_IN_FLEET = _DUE_ITEM.where(in_fleet())
_DUE_IN_RUN = _DUE_ITEM.where(in_run(bindparam("b_run", type_=String)))

SWEEP_SECONDS = 5.0
"""At most how often a claim looks for items whose holder's lease lapsed (one UPDATE)."""


def enqueue_in(
    conn: Connection,
    queue: QueueSettings,
    run_id: str,
    position: int,
    question: Question,
    *,
    force: bool = False,
) -> Enqueued:
    """Add one question to a run inside the caller's transaction (see ``enqueue_many``)."""
    reference, kind, payer_id = question.reference, question.kind, question.payer_id
    portal, query = question.portal, question.query
    source_file, source_row = question.source_file, question.source_row
    now = utcnow()
    window = timedelta(hours=queue.dedupe_window_hours)
    row = conn.execute(_ITEM_BY_REFERENCE, {"b_reference": reference}).mappings().first()
    fields = {
        "query": dict(query),
        "source_file": source_file,
        "source_row": source_row,
        "updated_at": now,
    }
    if row is None:
        item_id = conn.execute(
            _NEW_ITEM,
            {
                "reference": reference,
                "kind": kind,
                "payer_id": payer_id,
                "portal": portal,
                "state": ItemState.NEW,
                "attempts": 0,
                "created_at": now,
                **fields,
            },
        ).inserted_primary_key[0]  # type: ignore[index]  # one row inserted: one key
        disposition = "queued"
    else:
        item_id = row["id"]
        state = ItemState(row["state"])
        fresh = row["finished_at"] is not None and now - row["finished_at"] < window
        if state in (ItemState.IN_PROGRESS, ItemState.NEW, ItemState.ABANDONED):
            disposition = "pending"  # someone will answer it; this run reports it too
        elif state in FINISHED_STATES and fresh and not force and state != ItemState.SYSTEM_FAILED:
            disposition = "reused"
        else:
            conn.execute(
                update(work_items)
                .where(work_items.c.id == item_id)
                .values(
                    state=ItemState.NEW,
                    attempts=0,
                    not_before=None,
                    last_error_code=None,
                    last_error_message=None,
                    reason_code=None,
                    finished_at=None,
                    portal=portal,
                    **fields,
                )
            )
            disposition = "requeued"
    exists = row is not None and (  # a new item is in no run yet: no need to look
        conn.execute(_ITEM_IN_RUN, {"b_run": run_id, "b_item": item_id}).first()
    )
    if not exists:
        conn.execute(
            _NEW_RUN_ITEM,
            {
                "run_id": run_id,
                "item_id": item_id,
                "position": position,
                "disposition": disposition,
            },
        )
    return Enqueued(int(item_id), disposition)


class QueueMixin(StoreBase):
    """Work items: queued, claimed under a lease, completed, retried, released."""

    def enqueue(self, run_id: str, question: Question, *, force: bool = False) -> Enqueued:
        """Add one question to the run (see ``enqueue_many``)."""
        return self.enqueue_many(run_id, [question], force=force)[0]

    def enqueue_many(
        self, run_id: str, questions: Sequence[Question], *, force: bool = False
    ) -> list[Enqueued]:
        """Add a worklist's questions to the run in one transaction: all of them or none,
        so a crash while queueing never leaves a run with half its worklist.

        The same reference is never queued twice. A finished answer younger than the dedupe
        window is reused; an older one, a system failure, or ``force`` re-queues the item.
        """
        with self._tx() as conn:
            base = conn.execute(
                select(func.count()).select_from(run_items).where(run_items.c.run_id == run_id)
            ).scalar_one()
            return [
                enqueue_in(conn, self.queue, run_id, base + n, q, force=force)
                for n, q in enumerate(questions, start=1)
            ]

    def claim(
        self,
        run_id: str | None,
        portal: str,
        lease_seconds: float | None = None,
        *,
        serve_delegated: bool = False,
        fleet: bool = False,
    ) -> WorkItem | None:
        """Take the next due item of a portal (of one run, or any) under a lease.

        With ``serve_delegated`` (a process holding a session of the portal), items of runs
        waiting for a session holder come first: a specialist's lookup jumps the batch.
        With ``fleet`` (a `payerbot worker`), items of every active fleet run, oldest first;
        the item says which run it is answered for. On PostgreSQL ``FOR UPDATE SKIP LOCKED``
        lets any number of workers claim at once, each getting a different item."""
        now = utcnow()
        lease = timedelta(seconds=lease_seconds or self.queue.lease_seconds)
        with self._tx() as conn:
            swept = self._sweep_due()
            if swept:
                self._abandon_lapsed(conn, now)
            row, for_run = self._next_item(conn, run_id, portal, now, serve_delegated, fleet)
            if row is None and not swept and self._abandon_lapsed(conn, now):
                row, for_run = self._next_item(conn, run_id, portal, now, serve_delegated, fleet)
            if row is None:
                return None
            conn.execute(
                _SET_ITEM,
                {
                    "b_item": row["id"],
                    "state": ItemState.IN_PROGRESS,
                    "attempts": row["attempts"] + 1,
                    "lease_owner": self.owner,
                    "lease_expires_at": now + lease,
                    "updated_at": now,
                },
            )
        return WorkItem(
            id=row["id"],
            reference=row["reference"],
            kind=row["kind"],
            payer_id=row["payer_id"],
            portal=row["portal"],
            query=row["query"],
            attempts=row["attempts"] + 1,
            source_row=row["source_row"],
            for_run=for_run,
        )

    def _sweep_due(self) -> bool:
        """Whether this claim first abandons the items whose lease lapsed (a holder that
        died): at most once every ``SWEEP_SECONDS`` (a lease lapses after minutes, so a
        claim need not look every time), and always when nothing else is due (below)."""
        now = time.monotonic()
        if now - self._swept_at < min(SWEEP_SECONDS, self.queue.lease_seconds / 10):
            return False
        self._swept_at = now
        return True

    @staticmethod
    def _abandon_lapsed(conn: Connection, now: datetime) -> int:
        """Items held under a lease that lapsed are nobody's now (claimable again)."""
        lapsed = (
            select(work_items.c.id)
            .where(
                work_items.c.state == ItemState.IN_PROGRESS,
                work_items.c.lease_expires_at < now,
            )
            .with_for_update(skip_locked=True)
        )
        return int(
            conn.execute(
                update(work_items)
                .where(work_items.c.id.in_(lapsed.scalar_subquery()))
                .values(state=ItemState.ABANDONED, lease_owner=None, updated_at=now)
            ).rowcount
        )

    def _next_item(
        self,
        conn: Connection,
        run_id: str | None,
        portal: str,
        now: datetime,
        serve_delegated: bool,
        fleet: bool,
    ) -> tuple[Any, str | None]:
        """The next due unclaimed item's row, locked, and the run it is answered for."""
        params: dict[str, Any] = {"b_portal": portal, "b_now": now}
        row = None
        for_run = None
        if serve_delegated:
            row = conn.execute(_DUE_DELEGATED, params).mappings().first()
            if row is not None:
                for_run = self._run_for(conn, row["id"], (RunStatus.DELEGATED,))
        if row is None:
            if fleet:
                row = conn.execute(_DUE_IN_FLEET, params).mappings().first()
                if row is not None:
                    for_run = self._run_for(conn, row["id"], ACTIVE_FLEET_STATUSES, "fleet")
                    conn.execute(
                        update(runs)
                        .where(runs.c.id == for_run, runs.c.status == RunStatus.QUEUED)
                        .values(status=RunStatus.RUNNING)
                    )
            elif run_id is not None:
                row = conn.execute(_DUE_IN_RUN, {**params, "b_run": run_id}).mappings().first()
            else:
                row = conn.execute(_DUE_ITEM, params).mappings().first()
        return row, for_run

    @staticmethod
    def _run_for(
        conn: Connection, item_id: int, statuses: Sequence[str], executor: str | None = None
    ) -> str | None:
        """The oldest run in one of ``statuses`` that holds the item."""
        stmt = (
            select(runs.c.id)
            .join(run_items, run_items.c.run_id == runs.c.id)
            .where(run_items.c.item_id == item_id, runs.c.status.in_(statuses))
            .order_by(runs.c.started_at, runs.c.id)
            .limit(1)
        )
        if executor is not None:
            stmt = stmt.where(runs.c.executor == executor)
        return conn.execute(stmt).scalar()

    def next_due(self, run_id: str, portal: str) -> datetime | None:
        """When the earliest waiting item of this run and portal becomes due (None: none wait)."""
        with self._tx() as conn:
            return conn.execute(
                select(
                    func.min(func.coalesce(work_items.c.not_before, work_items.c.updated_at))
                ).where(
                    work_items.c.portal == portal,
                    work_items.c.state.in_(OPEN_STATES),
                    in_run(run_id),
                )
            ).scalar_one_or_none()

    def heartbeat(self, item_id: int, lease_seconds: float | None = None) -> None:
        lease = timedelta(seconds=lease_seconds or self.queue.lease_seconds)
        with self._tx() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.id == item_id, work_items.c.lease_owner == self.owner)
                .values(lease_expires_at=utcnow() + lease)
            )

    def complete(
        self,
        item: WorkItem,
        run_id: str,
        *,
        outcome: ItemState,
        started_at: datetime,
        payload: Mapping[str, Any] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        reason_code: str | None = None,
        evidence_path: str | None = None,
        trace_path: str | None = None,
        account: str | None = None,
        retryable: bool = False,
    ) -> ItemState:
        """Record one attempt and move the item on. Returns the item's new state.

        A retryable failure with attempts left goes back to ``new`` after an exponential
        backoff with full jitter; otherwise it ends in ``system_failed``.
        """
        now = utcnow()
        state = outcome
        not_before = None
        if (
            outcome == ItemState.SYSTEM_FAILED
            and retryable
            and item.attempts < self.queue.max_attempts
        ):
            state = ItemState.NEW
            cap = min(
                self.queue.backoff_max_seconds,
                self.queue.backoff_base_seconds * 2 ** (item.attempts - 1),
            )
            # jitter, not secrecy: spreads retries of many items apart
            not_before = now + timedelta(seconds=random.uniform(cap / 2, cap))  # noqa: S311
        with self._tx() as conn:
            conn.execute(
                _RECORD_ATTEMPT,
                {
                    "item_id": item.id,
                    "run_id": run_id,
                    "attempt": item.attempts,
                    "outcome": outcome,
                    "payload": dict(payload) if payload is not None else None,
                    "error_code": error_code,
                    "error_message": error_message,
                    "reason_code": reason_code,
                    "evidence_path": evidence_path,
                    "trace_path": trace_path,
                    "account": account,
                    "started_at": started_at,
                    "finished_at": now,
                    "duration_ms": (now - started_at).total_seconds() * 1000,
                },
            )
            conn.execute(
                _SET_ITEM,
                {
                    "b_item": item.id,
                    "state": state,
                    "not_before": not_before,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_error_code": error_code,
                    "last_error_message": error_message,
                    "reason_code": reason_code,
                    "updated_at": now,
                    "finished_at": now if state in FINISHED_STATES else None,
                },
            )
        return state

    def release(self, item: WorkItem, not_before: datetime | None = None) -> None:
        """Give a claimed item back, its attempt not counted (the portal asked us to wait)."""
        with self._tx() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.id == item.id)
                .values(
                    state=ItemState.NEW,
                    attempts=item.attempts - 1,
                    not_before=not_before,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
            )

    def postpone_pending(self, run_id: str | None, portal: str, until: datetime) -> int:
        """Hold every unclaimed item of a portal in this run until ``until`` (maintenance)."""
        with self._tx() as conn:
            return conn.execute(
                update(work_items)
                .where(*unclaimed(run_id, portal))
                .values(state=ItemState.NEW, not_before=until, updated_at=utcnow())
            ).rowcount

    def fail_pending(self, run_id: str | None, portal: str, error_code: str, message: str) -> int:
        """End every unclaimed item of a portal in this run (e.g. its login was refused).

        Each ending is recorded as an attempt (a result row without an answer, under the
        run that ended it), so an item's earlier answer stays its last good one."""
        now = utcnow()
        with self._tx() as conn:
            ended = conn.execute(  # one statement: an item claimed meanwhile is not ended
                update(work_items)
                .where(*unclaimed(run_id, portal))
                .values(
                    state=ItemState.SYSTEM_FAILED,
                    last_error_code=error_code,
                    last_error_message=message,
                    updated_at=now,
                    finished_at=now,
                )
                .returning(work_items.c.id, work_items.c.attempts)
            ).all()
            if not ended:
                return 0
            ids = [item_id for item_id, _ in ended]
            owner = _owning_runs(conn, ids) if run_id is None else dict.fromkeys(ids, run_id)
            attempts = [
                {
                    "item_id": item_id,
                    "run_id": owner[item_id],
                    "attempt": tries,
                    "outcome": ItemState.SYSTEM_FAILED,
                    "error_code": error_code,
                    "error_message": message,
                    "started_at": now,
                    "finished_at": now,
                    "duration_ms": 0.0,
                }
                for item_id, tries in ended
                if item_id in owner
            ]
            if attempts:
                conn.execute(insert(results), attempts)
            return len(ids)

    def reopen_ended(self, run_id: str, portal: str, codes: Sequence[str]) -> int:
        """Give the run's items of a portal that ended without being tried, for a reason a
        person has since fixed (``account_locked``, ``no_credentials``), back to the queue
        (`payerbot runs resume`). Their attempts stay as they were: none was spent."""
        with self._tx() as conn:
            return conn.execute(
                update(work_items)
                .where(
                    work_items.c.portal == portal,
                    work_items.c.state == ItemState.SYSTEM_FAILED,
                    work_items.c.last_error_code.in_(list(codes)),
                    in_run(run_id),
                )
                .values(state=ItemState.NEW, not_before=None, finished_at=None, updated_at=utcnow())
            ).rowcount

    def reclaim_dead_leases(self) -> int:
        """Items leased by a process of this node that no longer runs are abandoned now,
        without waiting for the lease to lapse (a crash, a kill -9)."""
        with self._tx() as conn:
            rows = conn.execute(
                select(work_items.c.id, work_items.c.lease_owner).where(
                    work_items.c.state == ItemState.IN_PROGRESS,
                    work_items.c.lease_owner.like(f"{self.node}:%"),
                )
            ).all()
            dead = [item_id for item_id, owner in rows if not alive(int(owner.rsplit(":", 1)[1]))]
            if dead:
                conn.execute(
                    update(work_items)
                    .where(work_items.c.id.in_(dead))
                    .values(
                        state=ItemState.ABANDONED,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=utcnow(),
                    )
                )
        return len(dead)


def _owning_runs(conn: Connection, item_ids: Sequence[int]) -> dict[int, str]:
    """Per item, the newest active fleet run it belongs to (where its ending is recorded)."""
    rows = conn.execute(
        select(run_items.c.item_id, run_items.c.run_id)
        .join(runs, runs.c.id == run_items.c.run_id)
        .where(
            run_items.c.item_id.in_(item_ids),
            runs.c.executor == "fleet",
            runs.c.status.in_(ACTIVE_FLEET_STATUSES),
        )
        .order_by(runs.c.started_at)
    ).all()
    return {item_id: run_id for item_id, run_id in rows}  # the newest run wins
