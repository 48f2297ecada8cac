"""The store: runs, the work queue with leases and retries, results. SQLite or PostgreSQL.

Every method is synchronous and short; async callers hop to a thread
(``await asyncio.to_thread(store.claim, ...)``). On SQLite every transaction starts
with ``BEGIN IMMEDIATE`` so two processes never claim the same item; on PostgreSQL
claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update

from bots.files import private_dir
from bots.settings import QueueSettings
from bots.store.migrate import ensure_schema
from bots.store.schema import (
    FINISHED_STATES,
    ItemState,
    account_flags,
    account_sessions,
    import_errors,
    results,
    run_items,
    runs,
    work_items,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def node_name() -> str:
    """This machine's name in leases and runs: ``PAYERBOT_NODE`` or the host name. Leases
    of a process on this node that is gone are taken over at once; those of another node
    only when they lapse (its clock and process table are not ours to read)."""
    return os.environ.get("PAYERBOT_NODE") or socket.gethostname()


ACTIVE_FLEET_STATES = ("queued", "running")
"""Statuses of fleet runs whose items workers claim (``stopping``: no new claims)."""


@dataclass(frozen=True)
class WorkItem:
    """A claimed item as the runner sees it."""

    id: int
    reference: str
    kind: str
    payer_id: str
    portal: str
    query: dict[str, Any]
    attempts: int
    source_row: int | None
    for_run: str | None = None
    """Set when the item belongs to another process's run that asked the session holder to
    answer it (a single lookup borrowing a running batch's session)."""


@dataclass(frozen=True)
class AccountLease:
    """The outcome of asking for an account: ours now, or who holds it."""

    acquired: bool
    holder: str | None = None
    holder_run: str | None = None


@dataclass(frozen=True)
class Enqueued:
    """What enqueue did with one question: new work, an answer reused, or work re-queued."""

    item_id: int
    disposition: str  # queued | reused | requeued | pending


def open_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        private_dir(path.parent)
        if not path.exists():
            path.touch(mode=0o600)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _in_run(run_id: str) -> Any:
    """The condition "this work item belongs to the run"."""
    return work_items.c.id.in_(select(run_items.c.item_id).where(run_items.c.run_id == run_id))


def _in_fleet(statuses: Sequence[str] = ACTIVE_FLEET_STATES) -> Any:
    """The condition "this work item belongs to a fleet run in one of these statuses"."""
    return work_items.c.id.in_(
        select(run_items.c.item_id)
        .join(runs, runs.c.id == run_items.c.run_id)
        .where(runs.c.executor == "fleet", runs.c.status.in_(statuses))
    )


def _unclaimed(run_id: str | None, portal: str) -> tuple[Any, ...]:
    """The run's items of one portal that nobody holds: new or abandoned. ``None``: those
    of every active fleet run (a fleet worker's portal stops or waits for all of them)."""
    return (
        work_items.c.portal == portal,
        work_items.c.state.in_([ItemState.NEW.value, ItemState.ABANDONED.value]),
        _in_run(run_id) if run_id is not None else _in_fleet(),
    )


OPEN_STATES = (ItemState.NEW.value, ItemState.ABANDONED.value, ItemState.IN_PROGRESS.value)


_RESULT_FIELDS = (
    results.c.payload,
    results.c.evidence_path,
    results.c.trace_path,
    results.c.finished_at.label("checked_at"),
    results.c.duration_ms,
    results.c.run_id.label("answered_in_run"),
)
"""What an outcome row carries from the item's latest result."""


def _latest_results(since: datetime | None = None) -> Any:
    """Per item, the id of its latest result (of those finished since ``since``)."""
    stmt = select(results.c.item_id, func.max(results.c.id).label("result_id"))
    if since is not None:
        stmt = stmt.where(results.c.finished_at >= since)
    return stmt.group_by(results.c.item_id).subquery()


def _delegated_items() -> Any:
    """Items of runs that wait for a session holder to answer them (status ``delegated``)."""
    return work_items.c.id.in_(
        select(run_items.c.item_id)
        .join(runs, runs.c.id == run_items.c.run_id)
        .where(runs.c.status == "delegated")
    )


def _holder_dead(holder: str) -> bool:
    """A holder (host:pid:token) on this host whose process is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return host == node_name() and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """Runs, the work queue and results, behind one small API."""

    def __init__(self, url: str, queue: QueueSettings | None = None) -> None:
        self.url = url
        self.queue = queue or QueueSettings()
        self.engine = open_engine(url)
        # SQLite (one machine) upgrades itself; a shared PostgreSQL is upgraded on purpose.
        ensure_schema(self.engine, auto_upgrade=self.is_sqlite)
        self.owner = f"{node_name()}:{os.getpid()}"

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def transaction(self) -> Any:
        """One transaction (``with store.transaction() as conn:``) for modules that keep
        their own tables in this store (follow-ups)."""
        return self._tx()

    # --- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        kind: str,
        trigger: str,
        source: str | None,
        questions: Sequence[dict[str, Any]] = (),
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
                    status="queued" if executor == "fleet" else "running",
                    executor=executor,
                    started_at=now,
                    host=node_name(),
                    pid=os.getpid(),
                    counts={"rows": len(questions)},
                )
            )
            queued = [
                self._enqueue_in(conn, run_id, n, force=force, **q)
                for n, q in enumerate(questions, start=1)
            ]
        return run_id, queued

    def update_run(self, run_id: str, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def finish_run(self, run_id: str, status: str, counts: dict[str, int], **values: Any) -> None:
        self.update_run(run_id, status=status, counts=counts, finished_at=utcnow(), **values)

    def request_stop(self, run_id: str) -> bool:
        """Ask a running run to stop after its in-flight lookups (any process may ask)."""
        with self._tx() as conn:
            return bool(
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status.in_(ACTIVE_FLEET_STATES))
                    .values(status="stopping")
                ).rowcount
            )

    def stop_requested(self, run_id: str) -> bool:
        with self._tx() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
        return status == "stopping"

    def reclaim_dead_leases(self) -> int:
        """Items leased by a process of this host that no longer runs are abandoned now,
        without waiting for the lease to lapse (a crash, a kill -9)."""
        host = node_name()
        with self._tx() as conn:
            rows = conn.execute(
                select(work_items.c.id, work_items.c.lease_owner).where(
                    work_items.c.state == ItemState.IN_PROGRESS.value,
                    work_items.c.lease_owner.like(f"{host}:%"),
                )
            ).all()
            dead = [item_id for item_id, owner in rows if not _alive(int(owner.rsplit(":", 1)[1]))]
            if dead:
                conn.execute(
                    update(work_items)
                    .where(work_items.c.id.in_(dead))
                    .values(
                        state=ItemState.ABANDONED.value,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=utcnow(),
                    )
                )
        return len(dead)

    # --- account flags (lockout guard) --------------------------------------------------------

    def flag_account(
        self, portal: str, account: str, flag: str, reason: str, run_id: str | None
    ) -> None:
        """Stop every use of an account until a person clears it (`creds reset-lock`)."""
        with self._tx() as conn:
            conn.execute(
                account_flags.delete().where(
                    account_flags.c.portal == portal, account_flags.c.account == account
                )
            )
            conn.execute(
                insert(account_flags).values(
                    portal=portal,
                    account=account,
                    flag=flag,
                    reason=reason,
                    since=utcnow(),
                    run_id=run_id,
                )
            )

    def flagged_accounts(self, portal: str | None = None) -> list[dict[str, Any]]:
        stmt = select(account_flags).order_by(account_flags.c.portal, account_flags.c.account)
        if portal is not None:
            stmt = stmt.where(account_flags.c.portal == portal)
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def clear_account_flags(self, portal: str, account: str | None = None) -> int:
        stmt = account_flags.delete().where(account_flags.c.portal == portal)
        if account is not None:
            stmt = stmt.where(account_flags.c.account == account)
        with self._tx() as conn:
            return conn.execute(stmt).rowcount

    # --- account sessions (one live login per account, across processes) ---------------------

    def lease_account(
        self,
        portal: str,
        account: str,
        holder: str,
        run_id: str | None,
        seconds: float,
        *,
        portal_limit: int | None = None,
    ) -> AccountLease:
        """Take the account for ``holder`` unless a live holder has it. A lapsed lease, or
        one held by a dead process on this node, is taken over.

        ``portal_limit``: refuse while that many of the portal's accounts are held live by
        others (the portal's ``max_sessions``, across every process and machine)."""
        now = utcnow()
        expires = now + timedelta(seconds=seconds)
        where = (account_sessions.c.portal == portal, account_sessions.c.account == account)
        with self._tx() as conn:
            if conn.dialect.name == "postgresql":  # one leaser per portal at a time
                conn.execute(
                    select(func.pg_advisory_xact_lock(func.hashtext(f"payerbot-lease:{portal}")))
                )
            if portal_limit is not None:
                live = conn.execute(
                    select(account_sessions.c.holder, account_sessions.c.holder_run).where(
                        account_sessions.c.portal == portal,
                        account_sessions.c.account != account,
                        account_sessions.c.holder.is_not(None),
                        account_sessions.c.holder != holder,
                        account_sessions.c.lease_expires_at >= now,
                    )
                ).all()
                live = [r for r in live if not _holder_dead(r.holder)]
                if len(live) >= portal_limit:
                    return AccountLease(False, live[0].holder, live[0].holder_run)
            row = (
                conn.execute(select(account_sessions).where(*where).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    insert(account_sessions).values(
                        portal=portal,
                        account=account,
                        holder=holder,
                        holder_run=run_id,
                        lease_expires_at=expires,
                    )
                )
                return AccountLease(True, holder, run_id)
            current = row["holder"]
            free = (
                current is None
                or current == holder
                or row["lease_expires_at"] is None
                or row["lease_expires_at"] < now
                or _holder_dead(current)
            )
            if not free:
                return AccountLease(False, current, row["holder_run"])
            conn.execute(
                update(account_sessions)
                .where(*where)
                .values(holder=holder, holder_run=run_id, lease_expires_at=expires)
            )
        return AccountLease(True, holder, run_id)

    def renew_account_leases(self, holder: str, seconds: float) -> int:
        with self._tx() as conn:
            return conn.execute(
                update(account_sessions)
                .where(account_sessions.c.holder == holder)
                .values(lease_expires_at=utcnow() + timedelta(seconds=seconds))
            ).rowcount

    def release_account(self, portal: str, account: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(account_sessions)
                .where(
                    account_sessions.c.portal == portal,
                    account_sessions.c.account == account,
                    account_sessions.c.holder == holder,
                )
                .values(holder=None, holder_run=None, lease_expires_at=None)
            )

    def note_login(self, portal: str, account: str, password_days_left: int | None) -> None:
        """Remember a login, and the password-expiry notice the portal showed with it."""
        now = utcnow()
        values: dict[str, Any] = {"last_login_at": now}
        if password_days_left is not None:
            values |= {"password_days_left": password_days_left, "password_notice_at": now}
        with self._tx() as conn:
            done = conn.execute(
                update(account_sessions)
                .where(account_sessions.c.portal == portal, account_sessions.c.account == account)
                .values(**values)
            ).rowcount
            if not done:
                conn.execute(
                    insert(account_sessions).values(portal=portal, account=account, **values)
                )

    def account_sessions(self, portal: str | None = None) -> list[dict[str, Any]]:
        """Every account the bot has used: holder (if its lease is live), last login,
        password notice. A lapsed or dead holder is reported as none."""
        stmt = select(account_sessions).order_by(
            account_sessions.c.portal, account_sessions.c.account
        )
        if portal is not None:
            stmt = stmt.where(account_sessions.c.portal == portal)
        now = utcnow()
        with self._tx() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
        for row in rows:
            lapsed = row["lease_expires_at"] is None or row["lease_expires_at"] < now
            if row["holder"] and (lapsed or _holder_dead(row["holder"])):
                row["holder"] = row["holder_run"] = None
        return rows

    def portal_activity(self) -> dict[str, dict[str, Any]]:
        """Per portal: last successful lookup and the last day's outcome counts."""
        since = utcnow() - timedelta(days=1)
        with self._tx() as conn:
            last = conn.execute(
                select(work_items.c.portal, func.max(results.c.finished_at))
                .join(results, results.c.item_id == work_items.c.id)
                .where(results.c.outcome == ItemState.SUCCEEDED.value)
                .group_by(work_items.c.portal)
            ).all()
            recent = conn.execute(
                select(work_items.c.portal, results.c.outcome, func.count())
                .join(results, results.c.item_id == work_items.c.id)
                .where(results.c.finished_at >= since)
                .group_by(work_items.c.portal, results.c.outcome)
            ).all()
        activity: dict[str, dict[str, Any]] = {}
        for portal, when in last:
            activity.setdefault(portal, {})["last_success"] = when
        for portal, outcome, n in recent:
            activity.setdefault(portal, {}).setdefault("last_24h", {})[outcome] = n
        return activity

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return dict(row) if row else None

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(runs).order_by(runs.c.started_at.desc()).limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    def record_import_errors(self, run_id: str, errors: Sequence[dict[str, Any]]) -> None:
        if errors:
            with self._tx() as conn:
                conn.execute(insert(import_errors), [{"run_id": run_id, **e} for e in errors])

    # --- the queue ------------------------------------------------------------------------

    def enqueue(self, run_id: str, *, force: bool = False, **question: Any) -> Enqueued:
        """Add one question to the run (see ``enqueue_many``)."""
        return self.enqueue_many(run_id, [question], force=force)[0]

    def enqueue_many(
        self, run_id: str, questions: Sequence[dict[str, Any]], *, force: bool = False
    ) -> list[Enqueued]:
        """Add a worklist's questions to the run in one transaction: all of them or none,
        so a crash while queueing never leaves a run with half its worklist.

        Each question: reference, kind, payer_id, portal, query, source_file, source_row.
        The same reference is never queued twice. A finished answer younger than the dedupe
        window is reused; an older one, a system failure, or ``force`` re-queues the item.
        """
        with self._tx() as conn:
            base = conn.execute(
                select(func.count()).select_from(run_items).where(run_items.c.run_id == run_id)
            ).scalar_one()
            return [
                self._enqueue_in(conn, run_id, base + n, force=force, **q)
                for n, q in enumerate(questions, start=1)
            ]

    def _enqueue_in(
        self,
        conn: Connection,
        run_id: str,
        position: int,
        *,
        reference: str,
        kind: str,
        payer_id: str,
        portal: str,
        query: dict[str, Any],
        source_file: str | None = None,
        source_row: int | None = None,
        force: bool = False,
    ) -> Enqueued:
        now = utcnow()
        window = timedelta(hours=self.queue.dedupe_window_hours)
        row = (
            conn.execute(
                select(work_items).where(work_items.c.reference == reference).with_for_update()
            )
            .mappings()
            .first()
        )
        fields = {
            "query": query,
            "source_file": source_file,
            "source_row": source_row,
            "updated_at": now,
        }
        if row is None:
            item_id = conn.execute(
                insert(work_items).values(
                    reference=reference,
                    kind=kind,
                    payer_id=payer_id,
                    portal=portal,
                    state=ItemState.NEW.value,
                    attempts=0,
                    created_at=now,
                    **fields,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            disposition = "queued"
        else:
            item_id = row["id"]
            state = ItemState(row["state"])
            fresh = row["finished_at"] is not None and now - row["finished_at"] < window
            if state in (ItemState.IN_PROGRESS, ItemState.NEW, ItemState.ABANDONED):
                disposition = "pending"  # someone will answer it; this run reports it too
            elif (
                state in FINISHED_STATES
                and fresh
                and not force
                and state != ItemState.SYSTEM_FAILED
            ):
                disposition = "reused"
            else:
                conn.execute(
                    update(work_items)
                    .where(work_items.c.id == item_id)
                    .values(
                        state=ItemState.NEW.value,
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
        exists = conn.execute(
            select(run_items.c.item_id).where(
                run_items.c.run_id == run_id, run_items.c.item_id == item_id
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(run_items).values(
                    run_id=run_id,
                    item_id=item_id,
                    position=position,
                    disposition=disposition,
                )
            )
        return Enqueued(int(item_id), disposition)

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
            lapsed = (
                select(work_items.c.id)
                .where(
                    work_items.c.state == ItemState.IN_PROGRESS.value,
                    work_items.c.lease_expires_at < now,
                )
                .with_for_update(skip_locked=True)
            )
            conn.execute(
                update(work_items)
                .where(work_items.c.id.in_(lapsed.scalar_subquery()))
                .values(state=ItemState.ABANDONED.value, lease_owner=None, updated_at=now)
            )
            stmt = (
                select(work_items)
                .where(
                    work_items.c.portal == portal,
                    work_items.c.state.in_([ItemState.NEW.value, ItemState.ABANDONED.value]),
                    (work_items.c.not_before.is_(None)) | (work_items.c.not_before <= now),
                )
                .order_by(work_items.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            row = None
            for_run = None
            if serve_delegated:
                row = conn.execute(stmt.where(_delegated_items())).mappings().first()
                if row is not None:
                    for_run = self._run_for(conn, row["id"], ("delegated",))
            if row is None:
                if fleet:
                    row = conn.execute(stmt.where(_in_fleet())).mappings().first()
                    if row is not None:
                        for_run = self._run_for(conn, row["id"], ACTIVE_FLEET_STATES, "fleet")
                        conn.execute(
                            update(runs)
                            .where(runs.c.id == for_run, runs.c.status == "queued")
                            .values(status="running")
                        )
                else:
                    if run_id is not None:
                        stmt = stmt.where(_in_run(run_id))
                    row = conn.execute(stmt).mappings().first()
            if row is None:
                return None
            conn.execute(
                update(work_items)
                .where(work_items.c.id == row["id"])
                .values(
                    state=ItemState.IN_PROGRESS.value,
                    attempts=row["attempts"] + 1,
                    lease_owner=self.owner,
                    lease_expires_at=now + lease,
                    updated_at=now,
                )
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
                    work_items.c.state.in_(
                        [
                            ItemState.NEW.value,
                            ItemState.ABANDONED.value,
                            ItemState.IN_PROGRESS.value,
                        ]
                    ),
                    _in_run(run_id),
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
        payload: dict[str, Any] | None = None,
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
            not_before = now + timedelta(seconds=random.uniform(cap / 2, cap))  # noqa: S311
        with self._tx() as conn:
            conn.execute(
                insert(results).values(
                    item_id=item.id,
                    run_id=run_id,
                    attempt=item.attempts,
                    outcome=outcome.value,
                    payload=payload,
                    error_code=error_code,
                    error_message=error_message,
                    reason_code=reason_code,
                    evidence_path=evidence_path,
                    trace_path=trace_path,
                    account=account,
                    started_at=started_at,
                    finished_at=now,
                    duration_ms=(now - started_at).total_seconds() * 1000,
                )
            )
            conn.execute(
                update(work_items)
                .where(work_items.c.id == item.id)
                .values(
                    state=state.value,
                    not_before=not_before,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error_code=error_code,
                    last_error_message=error_message,
                    reason_code=reason_code,
                    updated_at=now,
                    finished_at=now if state in FINISHED_STATES else None,
                )
            )
        return state

    def release(self, item: WorkItem, not_before: datetime | None = None) -> None:
        """Give a claimed item back, its attempt not counted (the portal asked us to wait)."""
        with self._tx() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.id == item.id)
                .values(
                    state=ItemState.NEW.value,
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
                .where(*_unclaimed(run_id, portal))
                .values(state=ItemState.NEW.value, not_before=until, updated_at=utcnow())
            ).rowcount

    def fail_pending(self, run_id: str | None, portal: str, error_code: str, message: str) -> int:
        """End every unclaimed item of a portal in this run (e.g. its login was refused)."""
        now = utcnow()
        with self._tx() as conn:
            return conn.execute(
                update(work_items)
                .where(*_unclaimed(run_id, portal))
                .values(
                    state=ItemState.SYSTEM_FAILED.value,
                    last_error_code=error_code,
                    last_error_message=message,
                    updated_at=now,
                    finished_at=now,
                )
            ).rowcount

    # --- the fleet: runs that any `payerbot worker` works -------------------------------------

    def fleet_due(self) -> dict[str, int]:
        """Per portal, how many items of active fleet runs wait to be claimed now."""
        now = utcnow()
        with self._tx() as conn:
            rows = conn.execute(
                select(work_items.c.portal, func.count())
                .where(
                    work_items.c.state.in_([ItemState.NEW.value, ItemState.ABANDONED.value]),
                    (work_items.c.not_before.is_(None)) | (work_items.c.not_before <= now),
                    _in_fleet(),
                )
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
                    _in_fleet(),
                )
            ).scalar_one_or_none()

    def fleet_runs_to_finish(self) -> list[tuple[str, str]]:
        """Fleet runs with nothing left to do (stopping: nothing in progress), each moved to
        ``finishing`` by exactly one caller: (run id, final status) for this caller."""
        run_open = (
            select(run_items.c.item_id)
            .join(work_items, work_items.c.id == run_items.c.item_id)
            .where(run_items.c.run_id == runs.c.id)
        )
        done = ~run_open.where(work_items.c.state.in_(OPEN_STATES)).exists()
        settled = ~run_open.where(work_items.c.state == ItemState.IN_PROGRESS.value).exists()
        with self._tx() as conn:
            candidates = conn.execute(
                select(runs.c.id, runs.c.status).where(
                    runs.c.executor == "fleet",
                    (runs.c.status.in_(ACTIVE_FLEET_STATES) & done)
                    | ((runs.c.status == "stopping") & settled),
                )
            ).all()
            mine = []
            for run_id, status in candidates:
                taken = conn.execute(
                    update(runs)
                    .where(
                        runs.c.id == run_id,
                        runs.c.status.in_([*ACTIVE_FLEET_STATES, "stopping"]),
                    )
                    .values(status="finishing")
                ).rowcount
                if taken:
                    mine.append((run_id, "stopped" if status == "stopping" else "finished"))
        return mine

    # --- reading --------------------------------------------------------------------------

    def run_outcomes(self, run_id: str) -> list[dict[str, Any]]:
        """Every item of a run in worklist order with its state and its latest result."""
        latest = _latest_results()
        stmt = (
            select(work_items, run_items.c.position, run_items.c.disposition, *_RESULT_FIELDS)
            .join(run_items, run_items.c.item_id == work_items.c.id)
            .outerjoin(latest, latest.c.item_id == work_items.c.id)
            .outerjoin(results, results.c.id == latest.c.result_id)
            .where(run_items.c.run_id == run_id)
            .order_by(run_items.c.position)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def recent_outcomes(self, kind: str, since: datetime) -> list[dict[str, Any]]:
        """Every item of a kind answered (or tried) since ``since``, with its latest result,
        in the shape of ``run_outcomes`` (the rolling workbook's rows)."""
        latest = _latest_results(since)
        stmt = (
            select(work_items, *_RESULT_FIELDS)
            .join(latest, latest.c.item_id == work_items.c.id)
            .join(results, results.c.id == latest.c.result_id)
            .where(work_items.c.kind == kind)
            .order_by(work_items.c.id)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def import_errors_since(self, since: datetime) -> list[dict[str, Any]]:
        stmt = (
            select(import_errors)
            .join(runs, runs.c.id == import_errors.c.run_id)
            .where(runs.c.started_at >= since)
            .order_by(import_errors.c.id)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def import_errors(self, run_id: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(import_errors)
                .where(import_errors.c.run_id == run_id)
                .order_by(import_errors.c.id)
            ).mappings()
            return [dict(r) for r in rows]
