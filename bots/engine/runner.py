"""The runner: queue a run's questions, work them through portal sessions, close the run.

Per portal up to ``max_sessions`` sessions, each owning one account (one login per account
per run, none when the last run's kept session is still live), each working the run's
items through the loop the fleet shares (worker.py). What follows a run (follow-ups,
workbooks) is the services layer's ``RunFinisher``, called with the run id.

Accounts are leased in the store up front, so no two processes are ever logged in with the
same account. A single lookup whose accounts are all held by a running batch does not log
in: it marks its run ``delegated`` and the holder's sessions answer it before their own next
item (a desk lookup jumps the night's queue); if the holder lets go first, the lookup takes
the account itself. A batch finding every account of a portal held leaves that portal's
items queued for ``runs resume``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog
from playwright.async_api import Browser

from bots.engine.attempts import QUERY_ADAPTER, ItemWorker, register_phi
from bots.engine.gates import PortalFlows, PortalGate, gates_for_run
from bots.engine.leases import AccountLeases
from bots.engine.runs import (
    NO_FINISHER,
    NoticeCallback,
    ProgressCallback,
    Rows,
    RunFinisher,
    RunSummary,
    questions_for,
)
from bots.engine.sessions import ChromiumSessions, Session, SessionFactory
from bots.engine.vault import open_vault
from bots.engine.worker import RunItems, SessionStats, SessionWorker
from bots.errors import ConfigurationError
from bots.flowkit.flow import PortalFlow
from bots.intake.worklists import RowError
from bots.logs import close_run_log, get_logger, open_run_log
from bots.models import LookupKind
from bots.settings import Settings
from bots.store import FINISHED_STATES, ItemState, Store, utcnow

log = get_logger("payerbot.runner")
FINAL = {s.value for s in FINISHED_STATES}
WAITING_FOR_ACCOUNT = ("account_locked", "no_credentials")
"""Items ended, not tried, because no account of their portal could log in: `runs resume`
asks them again once one can."""


class PolledRunItems(RunItems):
    """A local run's items whose `payerbot runs stop` is asked of the store at most once a
    poll interval, not before every item: one store round trip per item saved. A stop is
    seen before the next claim once a poll interval has passed (after any lookup slower
    than that, at once); SIGTERM (the event) is seen at once as before."""

    def __init__(self, store: Store, run_id: str, stop: asyncio.Event) -> None:
        super().__init__(store, run_id, stop)
        self._asked_at = -float("inf")

    async def stopping(self) -> bool:
        now = time.monotonic()
        if self.stop.is_set() or now - self._asked_at < self.store.queue.poll_seconds:
            return self.stop.is_set()
        self._asked_at = now
        return await super().stopping()


def set_aside(gate: PortalGate) -> dict[str, str]:
    """The gate's accounts the run could not use, each with why and the fix, in words."""
    found = {f"{gate.portal_id}/{a}": why for a, why in gate.unusable.items()}
    for account in sorted(gate.refused_accounts):
        found[f"{gate.portal_id}/{account}"] = (
            f"the portal refused the login of {gate.portal_id}/{account}; the bot will not "
            f"try it again until a person fixes it and runs `payerbot creds reset-lock "
            f"{gate.portal_id} --account {account}`"
        )
    return found


class Runner:
    """Runs one batch (or one lookup) end to end against the store.

    ``finisher``: what follows the run (the services' follow-ups and workbooks; default
    nothing). ``browser``: a long-lived browser of the caller (the console), used and left
    open. ``session_factory`` and ``flows`` replace Chromium and the registered flows (policy
    tests: browserless sessions and a ScriptedFlow, bots/engine/scripted.py)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        progress: ProgressCallback | None = None,
        notice: NoticeCallback | None = None,
        browser: Browser | None = None,
        *,
        finisher: RunFinisher = NO_FINISHER,
        session_factory: SessionFactory | None = None,
        flows: Mapping[str, PortalFlow] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.progress = progress
        self.notice = notice  # PHI-free messages for the person waiting (CLI, console)
        self.finisher = finisher
        self.flows = PortalFlows(settings, flows)
        self.sessions = session_factory or ChromiumSessions(
            settings, open_vault(settings, store), browser
        )
        self.leases = AccountLeases(store, settings.sessions.account_lease_seconds)
        self.holder = self.leases.holder
        self.run_id: str | None = None  # the run being worked, once it exists
        self._trigger = "batch"
        self._kinds: frozenset[LookupKind] | None = None  # of the run: the canary's pages
        self._done = 0
        self._total = 0
        self._counts: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._launching: asyncio.Task[None] | None = None  # the browser, started early

    async def run(
        self,
        kind: LookupKind,
        rows: Rows,
        *,
        trigger: str = "batch",
        source: str | None = None,
        import_errors: Sequence[RowError] = (),
        force: bool = False,
    ) -> RunSummary:
        """Queue the rows as a new run and work it to the end (or until asked to stop)."""
        portals = self.flows.route(kind, {q.payer_id for _, q in rows})
        gates = gates_for_run(self.settings, self.store, self.flows, kind, portals)
        self._trigger, self._kinds = trigger, frozenset({kind})
        self._launch_early(gates)
        try:
            run_id, queued = await asyncio.to_thread(
                self.store.start_run,
                kind.value,
                trigger,
                source,
                questions_for(self.settings, kind, rows, source),
                force=force,
            )
        except BaseException:
            await self._drop_launch()
            raise
        self.run_id = run_id

        async def prepare() -> bool:
            log.info(
                "run.start",
                kind=kind.value,
                trigger=trigger,
                source=source,
                items=len(rows),
                import_errors=len(import_errors),
            )
            await asyncio.to_thread(
                self.store.record_import_errors, run_id, [e.as_dict() for e in import_errors]
            )
            for _, query in rows:
                register_phi(query)
            for result in queued:
                self._counts[result.disposition] += 1
            self._total = len(rows)
            self._done = self._counts["reused"]
            self._report_progress()
            return bool(
                self._counts["queued"] or self._counts["requeued"] or self._counts["pending"]
            )

        return await self._execute(run_id, kind, gates, prepare, len(import_errors))

    async def resume(self, run_id: str) -> RunSummary:
        """Finish what a crashed or stopped run left: its items not yet in a final state."""
        run = await asyncio.to_thread(self.store.get_run, run_id)
        if run is None:
            raise ConfigurationError(f"no run {run_id!r}")
        self.run_id = run_id
        self._trigger, self._kinds = run.trigger, frozenset({LookupKind(run.kind)})
        reclaimed = await asyncio.to_thread(self.store.reclaim_dead_leases)
        kind = LookupKind(run.kind)
        reopened = await asyncio.to_thread(self._reopen_for_accounts, run_id, kind)
        items = await asyncio.to_thread(self.store.run_outcomes, run_id)
        open_items = [i for i in items if i.state not in FINAL]
        portals = {i.portal for i in open_items}
        gates = gates_for_run(self.settings, self.store, self.flows, kind, portals)
        await asyncio.to_thread(self.store.update_run, run_id, status="running", finished_at=None)

        async def prepare() -> bool:
            log.info(
                "run.resume", open_items=len(open_items), reclaimed=reclaimed, reopened=reopened
            )
            for item in open_items:
                register_phi(QUERY_ADAPTER.validate_python(item.query))
            self._total = len(items)
            self._done = len(items) - len(open_items)
            self._report_progress()
            return bool(open_items)

        errors = int(run.counts.get("import_errors", 0))
        return await self._execute(run_id, kind, gates, prepare, errors)

    def _reopen_for_accounts(self, run_id: str, kind: LookupKind) -> int:
        """Items that ended because no account could log in go back to the queue, for each
        portal that has a usable account again (`creds reset-lock`, `creds set`)."""
        ended = {
            i.portal
            for i in self.store.run_outcomes(run_id)
            if i.state == ItemState.SYSTEM_FAILED and i.last_error_code in WAITING_FOR_ACCOUNT
        }
        if not ended:
            return 0
        gates = gates_for_run(self.settings, self.store, self.flows, kind, ended)
        return sum(
            self.store.reopen_ended(run_id, portal, WAITING_FOR_ACCOUNT)
            for portal, gate in gates.items()
            if gate.accounts
        )

    def _launch_early(self, gates: Mapping[str, PortalGate]) -> None:
        """A batch starts the browser while the store queues its questions (a second of a
        short run's fixed cost, off its critical path), once the gates let some portal
        run. A desk lookup does not: its session may be borrowed from a running batch."""
        if self._trigger != "lookup" and any(
            gate.accounts and not gate.stopped for gate in gates.values()
        ):
            self._launching = asyncio.create_task(self.sessions.start())

    async def _start_browser(self) -> None:
        """The browser, started here or by ``_launch_early`` (its failure raised here)."""
        launching, self._launching = self._launching, None
        if launching is not None:
            await launching
        await self.sessions.start()  # nothing to do once started

    async def _drop_launch(self) -> None:
        """A browser started early for a run that opened no session is closed again."""
        launching, self._launching = self._launching, None
        if launching is None:
            return
        try:
            await launching
        except Exception:  # never started: nothing to close; a run that needs it will say
            log.info("browser.not_started")
        await self.sessions.close()

    def request_stop(self) -> None:
        """Finish the lookups in flight, claim nothing more (SIGTERM, Ctrl-C)."""
        self._stop.set()

    async def _execute(
        self,
        run_id: str,
        kind: LookupKind,
        gates: dict[str, PortalGate],
        prepare: Callable[[], Awaitable[bool]],
        import_errors: int,
    ) -> RunSummary:
        log_path = open_run_log(self.settings.data_dir / "runs" / run_id / "run.jsonl")
        structlog.contextvars.bind_contextvars(run_id=run_id)
        started = time.monotonic()
        summary = RunSummary(run_id, kind.value, {}, 0.0, 0, log_path)
        status = "failed"
        try:
            if await prepare():
                await self._work(run_id, gates, summary)
            status = "stopped" if self._stop.is_set() else "finished"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            summary.duration_seconds = time.monotonic() - started
            summary.counts = await asyncio.to_thread(self._final_counts, run_id)
            summary.counts["import_errors"] = import_errors
            for gate in gates.values():
                if gate.rate_limited or gate.started_pace > gate.floor_seconds:
                    summary.portal_pace[gate.portal_id] = gate.pace_facts()
                summary.accounts_set_aside.update(set_aside(gate))
                if gate.postponed_until is not None:
                    summary.postponed_portals[gate.portal_id] = gate.stopped or ""
                elif gate.stopped:
                    summary.stopped_portals[gate.portal_id] = gate.stopped
            log.info(
                "run.finish",
                status=status,
                counts=summary.counts,
                seconds=round(summary.duration_seconds, 2),
                logins=summary.logins,
            )
            try:  # the specialists' work from this run's answers; never loses the run
                summary.concluded = await asyncio.to_thread(self.finisher.conclude, run_id)
            except Exception:
                log.exception("run.conclude_failed")
            await asyncio.to_thread(
                self.store.finish_run,
                run_id,
                status,
                summary.counts,
                log_path=str(log_path),
                notes=summary.notes(),
            )
            structlog.contextvars.unbind_contextvars("run_id")
            close_run_log(log_path)
            await self._drop_launch()
        await asyncio.to_thread(self.finisher.publish, run_id)  # a run that returned only
        return summary

    def _final_counts(self, run_id: str) -> dict[str, int]:
        states = self.store.run_states(run_id)
        counts = {s.value: states.get(s.value, 0) for s in ItemState}
        counts["items"] = sum(states.values())
        counts["reused"] = self._counts["reused"]
        return counts

    def _finished(self, n: int) -> None:
        self._done += n
        self._report_progress()

    def _report_progress(self) -> None:
        if self.progress:
            self.progress(self._done, self._total)

    async def _work(self, run_id: str, gates: dict[str, PortalGate], summary: RunSummary) -> None:
        for gate in gates.values():
            for account, why in gate.unusable.items():
                log.error("account.set_aside", portal=gate.portal_id, account=account, why=why)
                self._tell(f"{why} (the run goes on without it)")
            if gate.postponed_until is not None:  # a configured maintenance window: later
                held = await asyncio.to_thread(
                    self.store.postpone_pending, run_id, gate.portal_id, gate.postponed_until
                )
                log.warning("portal.maintenance_window", until=gate.postponed_until.isoformat())
                self._tell(f"{gate.portal_id}: {gate.stopped}; {held} item(s) wait for it")
            elif gate.stopped:  # no account may log in: the portal's items end here
                ended = await asyncio.to_thread(
                    self.store.fail_pending,
                    run_id,
                    gate.portal_id,
                    gate.stop_code,
                    f"not attempted: {gate.stopped}",
                )
                self._finished(ended)
        renew = asyncio.create_task(self.leases.renew_forever())
        try:
            await self._lease_accounts(run_id, gates, summary)
            if not any(gate.accounts and not gate.stopped for gate in gates.values()):
                return  # nothing to log in to: every portal stopped, postponed or borrowed
            await self._start_browser()
            summary.browser_version = self.sessions.version
            try:
                await self._run_sessions(run_id, gates, summary)
            finally:
                await self.sessions.close()
        finally:
            renew.cancel()
            for gate in gates.values():
                for account in gate.accounts:
                    await self.leases.release(gate.portal_id, account)

    async def _run_sessions(
        self, run_id: str, gates: dict[str, PortalGate], summary: RunSummary
    ) -> None:
        stats = SessionStats()
        attempts = ItemWorker(self.settings, self.store, run_id, self._finished)
        worker = SessionWorker(self.settings, self.store, attempts, self.sessions, stats)
        source = PolledRunItems(self.store, run_id, self._stop)
        sessions = {
            gate.portal_id: [worker.open(gate, account) for account in gate.accounts]
            for gate in gates.values()
            if not gate.stopped
        }
        try:
            if self.settings.queue.drift_canary and self._trigger != "lookup":
                # Before the first lookup: a portal whose pages changed is paused now, not
                # after hundreds of failures (a desk lookup skips this: a person is waiting).
                shots = self.settings.data_dir / "evidence" / run_id
                await asyncio.gather(
                    *(
                        worker.canary(gates[p], group[0], shots, self._kinds)
                        for p, group in sessions.items()
                        if group
                    )
                )
            await asyncio.gather(
                *(
                    self._carry(worker, gates[p], session, source)
                    for p, group in sessions.items()
                    for session in group
                )
            )
        finally:
            summary.lookups += stats.lookups
            summary.logins.update(stats.logins)
            summary.resumed_sessions += [key for key, n in stats.resumed.items() if n]
            summary.password_notices.update(stats.password_notices)

    async def _carry(
        self, worker: SessionWorker, gate: PortalGate, session: Session, source: RunItems
    ) -> None:
        """Work the portal's items through the session; when the portal refuses its login,
        open a spare account of the portal in its place (a run may hold fewer sessions than
        the portal has accounts). With none to open, the portal's other sessions carry on;
        with no account left at all, its items end (ItemWorker._stop)."""
        while True:
            await worker.run(gate, session, source)
            if gate.stopped is not None or session.account not in gate.refused_accounts:
                return
            account = await self._spare_account(gate)
            if account is None:
                if not gate.has_account_left():  # the spares were all taken elsewhere
                    gate.stopped = worker.attempts.no_account_left(gate)
                    await worker.attempts.end_portal_items(gate, "account_locked", gate.stopped)
                return
            log.info("account.replaces_refused", account=account, refused=session.account)
            session = worker.open(gate, account)

    async def _spare_account(self, gate: PortalGate) -> str | None:
        """A spare account of the portal, leased for this run (None: none is free)."""
        assert self.run_id is not None
        while gate.spare_accounts:
            account = gate.spare_accounts.pop(0)
            if account in gate.refused_accounts:
                continue
            lease = await self.leases.lease(gate.portal_id, account, self.run_id)
            if lease.acquired:
                gate.accounts.append(account)  # released with the others at the end
                return account
            log.info("account.in_use", account=account, holder_run=lease.holder_run)
        return None

    async def _lease_accounts(
        self, run_id: str, gates: dict[str, PortalGate], summary: RunSummary
    ) -> None:
        """Take each gate's accounts that no other process holds. A lookup with none left
        borrows the holder's session; a batch leaves that portal's items for later."""
        is_lookup = self._trigger == "lookup"
        for gate in gates.values():
            if gate.stopped:
                continue
            taken: list[str] = []
            held_by: set[str] = set()
            for n, account in enumerate(gate.accounts):
                if is_lookup and taken:  # one question needs one session: leave the others free
                    gate.spare_accounts[:0] = gate.accounts[n:]  # (in case it is refused)
                    break
                lease = await self.leases.lease(gate.portal_id, account, run_id)
                if lease.acquired:
                    taken.append(account)
                else:
                    held_by.add(lease.holder_run or "another process")
                    log.info("account.in_use", account=account, holder_run=lease.holder_run)
            gate.accounts = taken
            if taken:
                continue
            holders = ", ".join(sorted(held_by))
            if is_lookup:
                freed = await self._borrow(run_id, gate, holders, summary)
                if freed is not None:
                    gate.accounts = [freed]
                continue
            gate.stopped = f"every account is in use by run {holders}"
            gate.postponed_until = utcnow()
            self._tell(
                f"{gate.portal_id}: every account is in use by run {holders}; its items stay "
                "queued (`payerbot runs resume` once that run ends)"
            )

    async def _borrow(
        self, run_id: str, gate: PortalGate, holders: str, summary: RunSummary
    ) -> str | None:
        """Ask the session holder to answer this run's items and wait for them. Returns an
        account when the holder lets go first (then this process works them itself)."""
        wait = self.settings.sessions.borrow_wait_seconds
        poll = self.settings.queue.poll_seconds
        self._tell(
            f"{gate.portal_id}: the account is in use by run {holders}; "
            f"asking it to do this lookup (waiting up to {wait:.0f} s)"
        )
        log.info("portal.session_borrow", holder_run=holders)
        summary.borrowed_from[gate.portal_id] = holders
        await asyncio.to_thread(self.store.update_run, run_id, status="delegated")
        deadline = time.monotonic() + wait
        next_try = time.monotonic() + poll
        try:
            while True:
                items = await asyncio.to_thread(self.store.run_outcomes, run_id)
                mine = [i for i in items if i.portal == gate.portal_id]
                if all(i.state in FINAL for i in mine):
                    self._finished(0)
                    return None
                if time.monotonic() >= next_try:  # a lease try is a write: once a poll
                    next_try = time.monotonic() + poll
                    accounts = self.settings.portals[gate.portal_id].accounts
                    freed = await self.leases.lease_first_free(gate.portal_id, accounts, run_id)
                    if freed is not None:
                        del summary.borrowed_from[gate.portal_id]
                        log.info("portal.session_free", account=freed)
                        return freed
                if time.monotonic() > deadline and not any(
                    i.state == ItemState.IN_PROGRESS.value for i in mine
                ):
                    await asyncio.to_thread(self.store.update_run, run_id, status="running")
                    ended = await asyncio.to_thread(
                        self.store.fail_pending,
                        run_id,
                        gate.portal_id,
                        "account_busy",
                        f"not attempted: every {gate.portal_id} account is in use by run "
                        f"{holders}, which did not take this lookup within {wait:.0f} s",
                    )
                    self._finished(ended)
                    return None
                await asyncio.sleep(poll / 5)
        finally:
            run = await asyncio.to_thread(self.store.get_run, run_id)
            if run is not None and run.status == "delegated":
                await asyncio.to_thread(self.store.update_run, run_id, status="running")

    def _tell(self, message: str) -> None:
        if self.notice is not None:
            self.notice(message)
