"""The fleet: runs queued in one shared store, worked by `payerbot worker` processes on any
number of machines.

- **Enqueue** (`payerbot run ... --fleet`, a scheduler with ``schedule.execution =
  "fleet"``): a worklist becomes a run with ``executor="fleet"`` and status ``queued``;
  nothing is logged into.
- **Workers** (`Worker`): each has its own browser and up to ``sessions`` portal sessions.
  A session exists only under a lease on its portal account in the store, and the store
  refuses a lease while the portal's ``max_sessions`` accounts are held anywhere in the
  fleet: one account is never logged in from two places, and a portal never sees more
  sessions than configured. Sessions claim items of every active fleet run (oldest first)
  with ``FOR UPDATE SKIP LOCKED``; item leases are renewed while a lookup runs.
- **Crashes**: a worker that dies leaves items ``in_progress`` under a lease that lapses
  (at once when the dead process was on the same node); any other worker's next claim takes
  them back. Its account leases lapse the same way, and the next holder resumes the session
  it left, sealed in the store (``StoreVault``), instead of logging in again.
- **Finishing**: whoever sees a fleet run with nothing left moves it to ``finishing`` (one
  conditional update: exactly one worker wins), raises its follow-ups, writes its workbooks
  and marks it finished (or stopped, after `payerbot runs stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from playwright.async_api import Browser, async_playwright

from bots.engine import browser as browser_mod
from bots.engine import drift
from bots.engine.attempts import ItemWorker, PortalGate
from bots.engine.credentials import login_secrets
from bots.engine.runner import Rows, questions_for
from bots.engine.sessions import PortalSession
from bots.engine.vault import open_vault
from bots.errors import AuthenticationError, CapabilityMissing, ConfigurationError, PortalBlocked
from bots.flowkit.flow import LoginInfo, get_flow
from bots.followups.queue import raise_followups
from bots.intake.worklists import RowError, import_worklist, write_import_report
from bots.logs import close_run_log, get_logger, open_run_log
from bots.maintenance import active_window
from bots.models import LookupKind
from bots.services.batches import write_run_outputs
from bots.settings import Settings
from bots.store import ItemState, Store, utcnow

log = get_logger("payerbot.fleet")


# --- enqueueing -----------------------------------------------------------------------------


@dataclass
class Enqueued:
    run_id: str
    kind: str
    items: int
    dispositions: dict[str, int]
    import_errors: int


def check_portals(settings: Settings, kind: LookupKind, portals: set[str]) -> None:
    """Refuse a worklist no worker could do: unknown portal, or a flow without the kind.
    (Credentials are the workers' business: the enqueuing machine need not hold them.)"""
    for portal_id in sorted(portals):
        if portal_id not in settings.portals:
            raise ConfigurationError(
                f"portal {portal_id!r} is not configured in config/portals.toml"
            )
        flow_cls = get_flow(settings.flow_name(portal_id))
        if kind not in flow_cls.capabilities():
            raise CapabilityMissing(
                f"the {flow_cls.name} flow cannot do {kind.value.replace('_', ' ')} lookups"
            )


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
    """Queue questions as one fleet run (the run and all its items in one transaction)."""
    check_portals(settings, kind, {settings.portal_for_payer(q.payer_id) for _, q in rows})
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


FINAL_RUN_STATES = frozenset({"finished", "stopped", "failed"})


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
        notes["followups"] = vars(raise_followups(store, settings, run_id))
    except Exception:
        log.exception("followups.failed", run_id=run_id)
    store.finish_run(run_id, status, counts, notes=notes)
    try:
        if run is None:
            raise LookupError("the run is gone")
        write_run_outputs(settings, store, run_id, run.kind)
    except Exception:
        log.exception("outputs.failed", run_id=run_id)
    log.info("fleet.run_finished", run_id=run_id, status=status, counts=counts)


# --- the worker -----------------------------------------------------------------------------


class FleetItemWorker(ItemWorker):
    """Items of any fleet run. A refused login flags its account (as everywhere) but ends the
    portal's items only when no account of the portal is left: the others carry on."""

    async def _end_portal_items(
        self, gate: PortalGate, exc: AuthenticationError | PortalBlocked
    ) -> None:
        flagged = {
            f.account for f in await asyncio.to_thread(self.store.flagged_accounts, gate.portal_id)
        }
        accounts = self.settings.portals[gate.portal_id].accounts
        if isinstance(exc, PortalBlocked) or all(a in flagged for a in accounts):
            await super()._end_portal_items(gate, exc)


@dataclass
class WorkerStats:
    lookups: int = 0
    logins: Counter[str] = field(default_factory=Counter)
    resumed: Counter[str] = field(default_factory=Counter)
    runs_finished: list[str] = field(default_factory=list)
    log_path: Path | None = None


class Worker:
    """One `payerbot worker` process: its browser, its sessions, the shared queue."""

    POLL_SECONDS = 1.0

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        sessions: int = 4,
        portals: set[str] | None = None,
        exit_when_idle: float | None = None,
        linger_seconds: float = 10.0,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.capacity = max(1, sessions)
        self.portals = portals
        self.exit_when_idle = exit_when_idle
        self.linger_seconds = linger_seconds  # an idle session keeps its account this long
        self.notice = notice
        self.holder = f"{store.owner}:{secrets.token_hex(4)}"
        self.vault = open_vault(settings, store)
        self.items = FleetItemWorker(settings, store, None, lambda _n: None)
        self.stats = WorkerStats()
        self._gates: dict[str, PortalGate] = {}
        self._slots: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._browser: Browser | None = None
        self._browser_lock = asyncio.Lock()
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
        renew = asyncio.create_task(self._renew_leases())
        try:
            async with async_playwright() as playwright:
                self._playwright = playwright
                try:
                    await self._loop()
                finally:
                    self._stop.set()
                    await asyncio.gather(*self._slots.values(), return_exceptions=True)
                    if self._browser is not None:
                        await self._browser.close()
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
            await self._pause(self.POLL_SECONDS)

    async def _pause(self, seconds: float) -> None:
        """Sleep, waking at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _finish_runs(self) -> None:
        for run_id, status in await asyncio.to_thread(self.store.fleet_runs_to_finish):
            await asyncio.to_thread(finish_fleet_run, self.settings, self.store, run_id, status)
            self.stats.runs_finished.append(run_id)

    # --- sessions ----------------------------------------------------------------------------

    def _gate(self, portal_id: str) -> PortalGate | None:
        if portal_id not in self._gates:
            portal = self.settings.portals.get(portal_id)
            if portal is None:
                log.error("fleet.unknown_portal", portal=portal_id)
                return None
            flow_cls = get_flow(self.settings.flow_name(portal_id))
            self._gates[portal_id] = PortalGate(
                portal_id,
                flow_cls(portal.base_url, api_reads=portal.api_reads),
                pace_seconds=portal.pace_seconds,
            )
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
                account = await self._lease_free_account(portal_id)
                if account is None:
                    continue
                mine[portal_id] += 1
                progress = True
                self._slots[(portal_id, account)] = asyncio.create_task(
                    self._session_loop(gate, account)
                )

    async def _in_maintenance(self, portal_id: str) -> bool:
        portal = self.settings.portals[portal_id]
        zone = ZoneInfo(portal.timezone or self.settings.timezone)
        window = active_window(portal.windows(), utcnow(), zone)
        if window is None:
            return False
        held = await asyncio.to_thread(self.store.postpone_pending, None, portal_id, window[1])
        if held:
            log.warning("portal.maintenance_window", portal=portal_id, until=window[1].isoformat())
        return True

    async def _lease_free_account(self, portal_id: str) -> str | None:
        portal = self.settings.portals[portal_id]
        flagged = {
            f.account for f in await asyncio.to_thread(self.store.flagged_accounts, portal_id)
        }
        for account in portal.accounts:
            if account in flagged or (portal_id, account) in self._slots:
                continue
            try:
                login_secrets(self.settings, portal_id, account)
            except ConfigurationError as exc:
                if (portal_id, account) not in self._no_credentials:  # said once, not per poll
                    self._no_credentials.add((portal_id, account))
                    log.error(
                        "fleet.no_credentials", portal=portal_id, account=account, error=str(exc)
                    )
                    self._tell(f"{portal_id}/{account}: {exc}")
                continue
            lease = await asyncio.to_thread(
                self.store.lease_account,
                portal_id,
                account,
                self.holder,
                None,
                self.settings.sessions.account_lease_seconds,
                portal_limit=portal.max_sessions,
            )
            if lease.acquired:
                return account
        return None

    async def _renew_leases(self) -> None:
        seconds = self.settings.sessions.account_lease_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            await asyncio.to_thread(self.store.renew_account_leases, self.holder, seconds)

    async def _browser_ready(self) -> Browser:
        async with self._browser_lock:
            if self._browser is None:
                self._browser = await browser_mod.launch(self._playwright, self.settings.browser)
                log.info("browser.start", version=self._browser.version)
            return self._browser

    async def _session_loop(self, gate: PortalGate, account: str) -> None:
        portal_id = gate.portal_id
        structlog.contextvars.bind_contextvars(portal=portal_id, account=account)
        session: PortalSession | None = None
        idle_since: float | None = None
        try:
            browser = await self._browser_ready()

            async def on_login(s: PortalSession, info: LoginInfo | None) -> None:
                days = info.password_expires_in_days if info else None
                await asyncio.to_thread(self.store.note_login, portal_id, s.account, days)

            session = PortalSession(
                browser,
                gate.flow,
                portal_id,
                account,
                login_secrets(self.settings, portal_id, account),
                self.settings.browser,
                self.settings.portals[portal_id],
                vault=self.vault,
                on_login=on_login,
            )
            log.info("fleet.session_open")
            if self.settings.queue.drift_canary and not gate.canary_done:
                gate.canary_done = True  # once per portal per worker
                await drift.check_before_batch(
                    self.settings,
                    gate,
                    session,
                    browser,
                    self.items,
                    self.settings.data_dir / "evidence" / "fleet",
                )
            while not self._stop.is_set() and gate.stopped is None:
                await gate.wait_turn()
                if self._stop.is_set() or gate.stopped is not None:
                    break
                item = await asyncio.to_thread(
                    self.store.claim, None, portal_id, serve_delegated=True, fleet=True
                )
                if item is None:
                    due = await asyncio.to_thread(self.store.fleet_next_due, portal_id)
                    if due is None:  # nothing open: linger for new runs, then let go
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since >= self.linger_seconds:
                            break
                        wait = self.POLL_SECONDS
                    else:
                        idle_since = None
                        wait = min(max((due - utcnow()).total_seconds(), 0.1), self.POLL_SECONDS)
                    await self._pause(wait)
                    continue
                idle_since = None
                structlog.contextvars.bind_contextvars(run_id=item.for_run, item_id=item.id)
                try:
                    await self.items.work(gate, session, item)
                finally:
                    structlog.contextvars.unbind_contextvars("run_id", "item_id")
                self.stats.lookups += 1
                await self._finish_runs()
        except Exception:
            log.exception("fleet.session_failed")
        finally:
            if session is not None:
                key = f"{portal_id}/{account}"
                self.stats.logins[key] += session.logins
                self.stats.resumed[key] += int(session.resumed)
                await session.close()
            await asyncio.to_thread(self.store.release_account, portal_id, account, self.holder)
            self._slots.pop((portal_id, account), None)
            log.info("fleet.session_closed")
            structlog.contextvars.unbind_contextvars("portal", "account")

    def _tell(self, message: str) -> None:
        if self.notice is not None:
            self.notice(message)


def default_sessions() -> int:
    """Sessions per worker from the benchmark's sizing: two per core (docs/deployment.md)."""
    return max(1, 2 * (os.cpu_count() or 1))
