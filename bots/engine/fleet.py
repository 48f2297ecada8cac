"""The fleet worker: `payerbot worker` processes, on any number of machines, working the runs
queued in one shared store (enqueueing is bots/services/fleet_runs.py).

- **Workers** (`Worker`): each has its own browser and up to ``sessions`` portal sessions.
  A session exists only under a lease on its portal account in the store, and the store
  refuses a lease while the portal's ``max_sessions`` accounts are held anywhere in the
  fleet: one account is never logged in from two places, and a portal never sees more
  sessions than configured. Sessions claim items of every active fleet run (oldest first)
  with ``FOR UPDATE SKIP LOCKED``, through the loop a local run uses (worker.py); item
  leases are renewed while a lookup runs.
- **Crashes**: a worker that dies leaves items ``in_progress`` under a lease that lapses
  (at once when the dead process was on the same node); any other worker's next claim takes
  them back. Its account leases lapse the same way, and the next holder resumes the session
  it left, sealed in the store (``StoreVault``), instead of logging in again.
- **Finishing**: whoever sees a fleet run with nothing left moves it to ``finishing`` (one
  conditional update: exactly one worker wins) and closes it (``close_fleet_run``): counts,
  then the services' ``RunFinisher`` (follow-ups, workbooks).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from bots.engine.attempts import ItemWorker
from bots.engine.credentials import login_secrets
from bots.engine.gates import PortalFlows, PortalGate, maintenance_ends
from bots.engine.leases import AccountLeases
from bots.engine.runs import NO_FINISHER, NoticeCallback, RunFinisher
from bots.engine.sessions import ChromiumSessions, SessionFactory
from bots.engine.vault import open_vault
from bots.engine.worker import FleetItems, SessionStats, SessionWorker, pause_unless_stopped
from bots.errors import AuthenticationError, ConfigurationError, PortalBlocked, ReadOnlyViolation
from bots.flowkit.flow import PortalFlow
from bots.logs import close_run_log, get_logger, open_run_log
from bots.settings import Settings
from bots.store import ItemState, Store

log = get_logger("payerbot.fleet")


def close_fleet_run(store: Store, run_id: str, status: str, finisher: RunFinisher) -> None:
    """Close a fleet run this process won (``fleet_runs_to_finish``): counts, then what the
    finisher adds. Never loses the run: a failing step is logged and the rest still happens."""
    run = store.get_run(run_id)
    outcomes = store.run_outcomes(run_id)
    states = Counter(o.state for o in outcomes)
    before = run.counts if run else {}
    counts = {s.value: states.get(s, 0) for s in ItemState}
    counts |= {
        "items": len(outcomes),
        "reused": int(before.get("reused", 0)),
        "import_errors": int(before.get("import_errors", 0)),
    }
    notes: dict[str, Any] = {
        **((run.notes if run else None) or {}),
        "executor": "fleet",
        "finished_by": store.owner,
        "worker_logs": "workers/*.jsonl in each worker's data folder (lines carry run_id)",
    }
    try:
        notes |= finisher.conclude(run_id)
    except Exception:
        log.exception("run.conclude_failed", run_id=run_id)
    store.finish_run(run_id, status, counts, notes=notes)
    try:
        finisher.publish(run_id)
    except Exception:
        log.exception("outputs.failed", run_id=run_id)
    log.info("fleet.run_finished", run_id=run_id, status=status, counts=counts)


class FleetItemWorker(ItemWorker):
    """Items of any fleet run. A refused login flags its account (as everywhere) but stops
    the portal and ends its items only when no account of the portal is left: the others
    carry on."""

    async def _portal_ends(
        self,
        gate: PortalGate,
        account: str,
        exc: AuthenticationError | PortalBlocked | ReadOnlyViolation,
    ) -> bool:
        if isinstance(exc, PortalBlocked | ReadOnlyViolation):  # the portal, not an account
            return True
        flagged = {
            f.account for f in await asyncio.to_thread(self.store.flagged_accounts, gate.portal_id)
        }
        accounts = self.settings.portals[gate.portal_id].accounts
        return all(a in flagged or a == account for a in accounts)


@dataclass
class WorkerStats(SessionStats):
    """What a worker did: its sessions' lookups and logins, and the runs it finished."""

    runs_finished: list[str] = field(default_factory=list)
    log_path: Path | None = None


class Worker:
    """One `payerbot worker` process: its browser, its sessions, the shared queue.

    ``finisher``: how a fleet run it wins is closed (the services' follow-ups and workbooks;
    bots/services/fleet_runs.py builds workers with it). ``session_factory`` and ``flows``
    as for the Runner (policy tests)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        sessions: int = 4,
        portals: set[str] | None = None,
        exit_when_idle: float | None = None,
        linger_seconds: float = 10.0,
        notice: NoticeCallback | None = None,
        finisher: RunFinisher = NO_FINISHER,
        session_factory: SessionFactory | None = None,
        flows: Mapping[str, PortalFlow] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.capacity = max(1, sessions)
        self.portals = portals
        self.exit_when_idle = exit_when_idle
        self.notice = notice
        self.finisher = finisher
        self.flows = PortalFlows(settings, flows)
        self.sessions = session_factory or ChromiumSessions(settings, open_vault(settings, store))
        self.leases = AccountLeases(store, settings.sessions.account_lease_seconds)
        self.holder = self.leases.holder
        self.stats = WorkerStats()
        self._stop = asyncio.Event()
        # an idle session keeps its account ``linger_seconds`` for new runs
        self.items = FleetItems(store, self._stop, linger_seconds, self._finish_runs)
        self.worker = SessionWorker(
            settings,
            store,
            FleetItemWorker(settings, store, None, lambda _n: None),
            self.sessions,
            self.stats,
        )
        self._gates: dict[str, PortalGate] = {}
        self._slots: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._no_credentials: set[tuple[str, str]] = set()

    def request_stop(self) -> None:
        """Finish the lookups in flight, claim nothing more, let the accounts go (SIGTERM)."""
        self._stop.set()

    async def run(self) -> WorkerStats:
        path = self.settings.data_dir / "workers" / f"{self.store.node}-{os.getpid()}.jsonl"
        self.stats.log_path = open_run_log(path)
        structlog.contextvars.bind_contextvars(worker=self.holder)
        log.info("worker.start", sessions=self.capacity, portals=sorted(self.portals or []))
        self._tell(f"worker {self.holder}: up to {self.capacity} session(s); log {path}")
        renew = asyncio.create_task(self.leases.renew_forever())
        try:
            try:
                await self._loop()
            finally:
                self._stop.set()
                await asyncio.gather(*self._slots.values(), return_exceptions=True)
                await self.sessions.close()
        finally:
            renew.cancel()
            await self._finish_runs()
            log.info(
                "worker.stop",
                lookups=self.stats.lookups,
                logins=dict(self.stats.logins),
                runs_finished=len(self.stats.runs_finished),
            )
            structlog.contextvars.unbind_contextvars("worker")
            close_run_log(path)
        return self.stats

    async def _loop(self) -> None:
        idle_since = time.monotonic()
        while not self._stop.is_set():
            reclaimed = await asyncio.to_thread(self.store.reclaim_dead_leases)
            if reclaimed:
                log.warning("fleet.items_reclaimed", items=reclaimed)
            await self._finish_runs()
            due = await asyncio.to_thread(self.store.fleet_due)
            if self.portals is not None:
                due = {p: n for p, n in due.items() if p in self.portals}
            await self._open_sessions(due)
            if self._slots or any(due.values()):
                idle_since = time.monotonic()
            elif (
                self.exit_when_idle is not None
                and time.monotonic() - idle_since >= self.exit_when_idle
            ):
                log.info("worker.idle_exit")
                return
            await pause_unless_stopped(self._stop, self.settings.queue.poll_seconds)

    async def _finish_runs(self) -> None:
        for run_id, status in await asyncio.to_thread(self.store.fleet_runs_to_finish):
            await asyncio.to_thread(close_fleet_run, self.store, run_id, status, self.finisher)
            self.stats.runs_finished.append(run_id)

    # --- sessions ----------------------------------------------------------------------------

    def _gate(self, portal_id: str) -> PortalGate | None:
        if portal_id not in self._gates:
            if portal_id not in self.settings.portals:
                log.error("fleet.unknown_portal", portal=portal_id)
                return None
            self._gates[portal_id] = self.flows.gate(portal_id, self.store)
        return self._gates[portal_id]

    async def _open_sessions(self, due: dict[str, int]) -> None:
        """Spread free capacity over the portals with due work, one account per portal per
        round, never more sessions on a portal than its backlog or its ``max_sessions``."""
        mine: Counter[str] = Counter(p for p, _ in self._slots)
        order = sorted((p for p, n in due.items() if n > 0), key=lambda p: -due[p])
        progress = True
        while progress and len(self._slots) < self.capacity:
            progress = False
            for portal_id in order:
                if len(self._slots) >= self.capacity:
                    return
                portal = self.settings.portals.get(portal_id)
                gate = self._gate(portal_id)
                if portal is None or gate is None or gate.stopped:
                    continue
                if mine[portal_id] >= min(due[portal_id], portal.max_sessions):
                    continue
                if await self._in_maintenance(portal_id):
                    continue
                if await self._every_account_locked(portal_id):
                    continue
                account = await self._lease_free_account(portal_id)
                if account is None:
                    continue
                mine[portal_id] += 1
                progress = True
                self._slots[(portal_id, account)] = asyncio.create_task(
                    self._session(gate, account)
                )

    async def _in_maintenance(self, portal_id: str) -> bool:
        until = maintenance_ends(self.settings, portal_id)
        if until is None:
            return False
        held = await asyncio.to_thread(self.store.postpone_pending, None, portal_id, until)
        if held:
            log.warning("portal.maintenance_window", portal=portal_id, until=until.isoformat())
        return True

    async def _every_account_locked(self, portal_id: str) -> bool:
        """With every account of the portal flagged (a refused login, here or anywhere in
        the fleet), its due items end ``account_locked`` instead of waiting forever: a person
        must fix the login (`creds reset-lock`), then `runs resume`."""
        flagged = {
            f.account for f in await asyncio.to_thread(self.store.flagged_accounts, portal_id)
        }
        if not all(a in flagged for a in self.settings.portals[portal_id].accounts):
            return False
        ended = await asyncio.to_thread(
            self.store.fail_pending,
            None,
            portal_id,
            "account_locked",
            f"not attempted: every {portal_id} account is locked out by the bot after a "
            f"refused login; fix the login, then `payerbot creds reset-lock {portal_id}`",
        )
        if ended:
            log.error("portal.accounts_locked", portal=portal_id, items=ended)
        return True

    async def _lease_free_account(self, portal_id: str) -> str | None:
        portal = self.settings.portals[portal_id]

        def usable(account: str) -> bool:
            if (portal_id, account) in self._slots:
                return False
            try:
                login_secrets(self.settings, portal_id, account)
            except ConfigurationError as exc:
                if (portal_id, account) not in self._no_credentials:  # said once, not per poll
                    self._no_credentials.add((portal_id, account))
                    log.error(
                        "fleet.no_credentials", portal=portal_id, account=account, error=str(exc)
                    )
                    self._tell(f"{portal_id}/{account}: {exc}")
                return False
            return True

        return await self.leases.lease_first_free(
            portal_id, portal.accounts, None, portal_limit=portal.max_sessions, usable=usable
        )

    async def _session(self, gate: PortalGate, account: str) -> None:
        """One account's session, from its lease to its release."""
        portal_id = gate.portal_id
        structlog.contextvars.bind_contextvars(portal=portal_id, account=account)
        try:
            await self.sessions.start()
            session = self.worker.open(gate, account)
            log.info("fleet.session_open")
            canary = self.settings.queue.drift_canary and not gate.canary_done
            gate.canary_done = True  # once per portal per worker
            shots = self.settings.data_dir / "evidence" / "fleet"
            await self.worker.run(gate, session, self.items, canary_shots=shots if canary else None)
        except Exception:
            log.exception("fleet.session_failed")
        finally:
            await self.leases.release(portal_id, account)
            self._slots.pop((portal_id, account), None)
            log.info("fleet.session_closed")
            structlog.contextvars.unbind_contextvars("portal", "account")

    def _tell(self, message: str) -> None:
        if self.notice is not None:
            self.notice(message)


def default_sessions() -> int:
    """Sessions per worker from the benchmark's sizing: two per core (docs/deployment.md)."""
    return max(1, 2 * (os.cpu_count() or 1))
