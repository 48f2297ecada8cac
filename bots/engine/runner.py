"""The runner: queue a run's questions, work them through portal sessions, report the run.

One browser per process; per portal, up to ``max_sessions`` workers, each owning one
account's session (one login per account per run, none when the kept session from the
last run is still live). Workers claim items from the store and hand each to the
ItemWorker (attempts.py), which asks the flow and records the outcome; the store decides
about retries.

Accounts are leased in the store, so no two processes are ever logged in with the same
account. A single lookup whose accounts are all held by a running batch does not log in:
it marks its run ``delegated`` and the holder's workers answer it before their own next
item (a desk lookup jumps the night's queue); if the holder lets go first, the lookup takes
the account itself. A batch finding every account of a portal held leaves that portal's
items queued for ``runs resume``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from playwright.async_api import Browser, async_playwright

from bots.engine import browser as browser_mod
from bots.engine import drift
from bots.engine.attempts import QUERY_ADAPTER, ItemWorker, PortalGate, register_phi
from bots.engine.credentials import login_secrets
from bots.engine.sessions import PortalSession
from bots.engine.vault import open_vault
from bots.errors import CapabilityMissing, ConfigurationError
from bots.flowkit.flow import LoginInfo, get_flow
from bots.followups.queue import Raised, raise_followups
from bots.intake.worklists import RowError
from bots.logs import close_run_log, get_logger, open_run_log
from bots.maintenance import active_window
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.settings import Settings
from bots.store import FINISHED_STATES, ItemState, Store, utcnow

log = get_logger("payerbot.runner")
FINAL = {s.value for s in FINISHED_STATES}

ProgressCallback = Callable[[int, int], None]
NoticeCallback = Callable[[str], None]
Rows = Sequence[tuple[int | None, EligibilityQuery | ClaimStatusQuery]]


def questions_for(
    settings: Settings, kind: LookupKind, rows: Rows, source: str | None
) -> list[dict[str, Any]]:
    """Worklist rows as the store's questions (a run's, or a fleet run's)."""
    return [
        {
            "reference": query.reference(),
            "kind": kind.value,
            "payer_id": query.payer_id,
            "portal": settings.portal_for_payer(query.payer_id),
            "query": query.model_dump(mode="json"),
            "source_file": source,
            "source_row": row_number,
        }
        for row_number, query in rows
    ]


@dataclass
class RunSummary:
    """What a run did, for the terminal, the report and the exit code."""

    run_id: str
    kind: str
    counts: dict[str, int]
    duration_seconds: float
    lookups: int
    log_path: Path
    logins: dict[str, int] = field(default_factory=dict)
    browser_version: str | None = None
    stopped_portals: dict[str, str] = field(default_factory=dict)
    postponed_portals: dict[str, str] = field(default_factory=dict)
    password_notices: dict[str, int | None] = field(default_factory=dict)
    """portal/account -> days left, when a portal said the password expires soon."""
    resumed_sessions: list[str] = field(default_factory=list)
    borrowed_from: dict[str, str] = field(default_factory=dict)
    """portal -> run whose session answered this run's lookups."""
    followups: Raised = field(default_factory=Raised)

    @property
    def lookups_per_minute(self) -> float:
        return self.lookups / self.duration_seconds * 60 if self.duration_seconds else 0.0

    def notes(self) -> dict[str, Any]:
        """What needs a person's attention, for the run record and the reports."""
        return {
            "stopped_portals": self.stopped_portals,
            "postponed_portals": self.postponed_portals,
            "password_notices": self.password_notices,
            "resumed_sessions": self.resumed_sessions,
            "borrowed_from": self.borrowed_from,
            "logins": self.logins,
            "followups": vars(self.followups),
        }

    @property
    def ok(self) -> bool:
        """No failures and no portal stopped; postponed (maintenance) work is not a failure."""
        return not self.counts.get("system_failed") and not self.stopped_portals


class Runner:
    """Runs one batch (or one lookup) end to end against the store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        progress: ProgressCallback | None = None,
        notice: NoticeCallback | None = None,
        browser: Browser | None = None,
    ) -> None:
        self.settings = settings
        self.browser = browser  # given: used and left open (its owner closes it)
        self.store = store
        self.progress = progress
        self.notice = notice  # PHI-free messages for the person waiting (CLI, console)
        self.holder = f"{store.owner}:{secrets.token_hex(4)}"
        self.run_id: str | None = None  # the run being worked, once it exists
        self._trigger = "batch"
        self._kinds: frozenset[LookupKind] | None = None  # of the run: the canary's pages
        self.vault = open_vault(settings, store)
        self._done = 0
        self._total = 0
        self._counts: Counter[str] = Counter()
        self._stop = asyncio.Event()

    def _check_capabilities(self, kind: LookupKind, portals: set[str]) -> dict[str, PortalGate]:
        """Refuse before any browser starts: unknown portal, missing capability or credentials."""
        gates = {}
        for portal_id in sorted(portals):
            if portal_id not in self.settings.portals:
                raise ConfigurationError(
                    f"portal {portal_id!r} is not configured in config/portals.toml"
                )
            portal = self.settings.portals[portal_id]
            flow_cls = get_flow(self.settings.flow_name(portal_id))
            if kind not in flow_cls.capabilities():
                raise CapabilityMissing(
                    f"the {flow_cls.name} flow cannot do {kind.value.replace('_', ' ')} lookups"
                )
            gate = PortalGate(
                portal_id,
                flow_cls(portal.base_url, api_reads=portal.api_reads),
                pace_seconds=portal.pace_seconds,
            )
            flagged = {f.account: f for f in self.store.flagged_accounts(portal_id)}
            gate.accounts = [a for a in portal.accounts if a not in flagged][: portal.max_sessions]
            if not gate.accounts:
                reasons = "; ".join(f"{a}: {f.reason}" for a, f in flagged.items())
                gate.stopped = (
                    f"every account is locked out by the bot after a refused login ({reasons}); "
                    f"fix the login, then `payerbot creds reset-lock {portal_id}`"
                )
            window = active_window(
                portal.windows(), utcnow(), ZoneInfo(portal.timezone or self.settings.timezone)
            )
            if window is not None and not gate.stopped:
                gate.postponed_until = window[1]
                gate.stopped = f"in scheduled maintenance until {window[1]:%Y-%m-%d %H:%M} UTC"
            for account in gate.accounts:
                login_secrets(self.settings, portal_id, account)
            gates[portal_id] = gate
        return gates

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
        portals = {self.settings.portal_for_payer(q.payer_id) for _, q in rows}
        gates = self._check_capabilities(kind, portals)
        self._trigger, self._kinds = trigger, frozenset({kind})
        run_id, queued = await asyncio.to_thread(
            self.store.start_run,
            kind.value,
            trigger,
            source,
            questions_for(self.settings, kind, rows, source),
            force=force,
        )
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
        items = await asyncio.to_thread(self.store.run_outcomes, run_id)
        open_items = [i for i in items if i.state not in FINAL]
        kind = LookupKind(run.kind)
        gates = self._check_capabilities(kind, {i.portal for i in open_items})
        await asyncio.to_thread(self.store.update_run, run_id, status="running", finished_at=None)

        async def prepare() -> bool:
            log.info("run.resume", open_items=len(open_items), reclaimed=reclaimed)
            for item in open_items:
                register_phi(QUERY_ADAPTER.validate_python(item.query))
            self._total = len(items)
            self._done = len(items) - len(open_items)
            self._report_progress()
            return bool(open_items)

        errors = int(run.counts.get("import_errors", 0))
        return await self._execute(run_id, kind, gates, prepare, errors)

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
                summary.followups = await asyncio.to_thread(
                    raise_followups, self.store, self.settings, run_id
                )
                log.info("followups.raised", **vars(summary.followups))
            except Exception:
                log.exception("followups.failed")
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
        return summary

    def _final_counts(self, run_id: str) -> dict[str, int]:
        states = Counter(row.state for row in self.store.run_outcomes(run_id))
        counts = {s.value: states.get(s, 0) for s in ItemState}
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
        items = ItemWorker(self.settings, self.store, run_id, self._finished)
        lease_seconds = self.settings.sessions.account_lease_seconds
        for gate in gates.values():
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
                    "account_locked",
                    f"not attempted: {gate.stopped}",
                )
                self._finished(ended)
        renew = asyncio.create_task(self._renew_leases(lease_seconds))
        try:
            await self._lease_accounts(run_id, gates, summary)
            if not any(gate.accounts and not gate.stopped for gate in gates.values()):
                return  # nothing to log in to: every portal stopped, postponed or borrowed
            if self.browser is not None:  # a long-lived browser of the caller (the console)
                await self._run_workers(self.browser, run_id, gates, items, summary)
            else:
                async with async_playwright() as playwright:
                    browser = await browser_mod.launch(playwright, self.settings.browser)
                    log.info("browser.start", version=browser.version)
                    try:
                        await self._run_workers(browser, run_id, gates, items, summary)
                    finally:
                        await browser.close()
        finally:
            renew.cancel()
            for gate in gates.values():
                for account in gate.accounts:
                    await asyncio.to_thread(
                        self.store.release_account, gate.portal_id, account, self.holder
                    )

    async def _run_workers(
        self,
        browser: Browser,
        run_id: str,
        gates: dict[str, PortalGate],
        items: ItemWorker,
        summary: RunSummary,
    ) -> None:
        summary.browser_version = browser.version
        sessions = {
            gate.portal_id: [self._session(browser, gate, a, summary) for a in gate.accounts]
            for gate in gates.values()
            if not gate.stopped
        }
        if self.settings.queue.drift_canary and self._trigger != "lookup":
            # Before the first lookup: a portal whose pages changed is paused now, not after
            # hundreds of failures (a desk lookup skips this: a person is waiting).
            shots = self.settings.data_dir / "evidence" / run_id
            await asyncio.gather(
                *(
                    drift.check_before_batch(
                        self.settings, gates[p], group[0], browser, items, shots, self._kinds
                    )
                    for p, group in sessions.items()
                    if group
                )
            )
        await asyncio.gather(
            *(
                self._worker(run_id, gates[p], session, items, summary)
                for p, group in sessions.items()
                for session in group
            )
        )

    def _session(
        self, browser: Any, gate: PortalGate, account: str, summary: RunSummary
    ) -> PortalSession:
        async def on_login(session: PortalSession, info: LoginInfo | None) -> None:
            days = info.password_expires_in_days if info else None
            if info is not None:
                summary.password_notices[f"{gate.portal_id}/{session.account}"] = days
            await asyncio.to_thread(self.store.note_login, gate.portal_id, session.account, days)

        return PortalSession(
            browser,
            gate.flow,
            gate.portal_id,
            account,
            login_secrets(self.settings, gate.portal_id, account),
            self.settings.browser,
            self.settings.portals[gate.portal_id],
            vault=self.vault,
            on_login=on_login,
        )

    async def _renew_leases(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            await asyncio.to_thread(self.store.renew_account_leases, self.holder, seconds)

    async def _lease_accounts(
        self, run_id: str, gates: dict[str, PortalGate], summary: RunSummary
    ) -> None:
        """Take each gate's accounts that no other process holds. A lookup with none left
        borrows the holder's session; a batch leaves that portal's items for later."""
        seconds = self.settings.sessions.account_lease_seconds
        for gate in gates.values():
            if gate.stopped:
                continue
            run = await asyncio.to_thread(self.store.get_run, run_id)
            is_lookup = run is not None and run.trigger == "lookup"
            taken: list[str] = []
            held_by: set[str] = set()
            for account in gate.accounts:
                if is_lookup and taken:
                    break  # one question needs one session: leave the others free
                lease = await asyncio.to_thread(
                    self.store.lease_account, gate.portal_id, account, self.holder, run_id, seconds
                )
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
        self._tell(
            f"{gate.portal_id}: the account is in use by run {holders}; "
            f"asking it to do this lookup (waiting up to {wait:.0f} s)"
        )
        log.info("portal.session_borrow", holder_run=holders)
        summary.borrowed_from[gate.portal_id] = holders
        await asyncio.to_thread(self.store.update_run, run_id, status="delegated")
        deadline = time.monotonic() + wait
        next_try = time.monotonic() + 1.0
        try:
            while True:
                items = await asyncio.to_thread(self.store.run_outcomes, run_id)
                mine = [i for i in items if i.portal == gate.portal_id]
                if all(i.state in FINAL for i in mine):
                    self._finished(0)
                    return None
                if time.monotonic() >= next_try:  # a lease try is a write: once a second
                    next_try = time.monotonic() + 1.0
                    freed = await self._lease_any(gate, run_id)
                    if freed is not None:
                        del summary.borrowed_from[gate.portal_id]
                        log.info("portal.session_free", account=freed)
                        return freed
                if time.monotonic() > deadline and not any(
                    i.state == ItemState.IN_PROGRESS for i in mine
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
                await asyncio.sleep(0.2)
        finally:
            run = await asyncio.to_thread(self.store.get_run, run_id)
            if run is not None and run.status == "delegated":
                await asyncio.to_thread(self.store.update_run, run_id, status="running")

    async def _lease_any(self, gate: PortalGate, run_id: str) -> str | None:
        """One unflagged account of the portal that nobody holds now, leased to us."""
        flagged = await asyncio.to_thread(self.store.flagged_accounts, gate.portal_id)
        for account in self.settings.portals[gate.portal_id].accounts:
            if account in {f.account for f in flagged}:
                continue
            lease = await asyncio.to_thread(
                self.store.lease_account,
                gate.portal_id,
                account,
                self.holder,
                run_id,
                self.settings.sessions.account_lease_seconds,
            )
            if lease.acquired:
                return account
        return None

    def _tell(self, message: str) -> None:
        if self.notice is not None:
            self.notice(message)

    async def _stopping(self, run_id: str) -> bool:
        if not self._stop.is_set() and await asyncio.to_thread(self.store.stop_requested, run_id):
            log.warning("run.stop_requested")
            self._stop.set()
        return self._stop.is_set()

    async def _worker(
        self,
        run_id: str,
        gate: PortalGate,
        session: PortalSession,
        items: ItemWorker,
        summary: RunSummary,
    ) -> None:
        structlog.contextvars.bind_contextvars(portal=gate.portal_id, account=session.account)
        try:
            while gate.stopped is None:
                await gate.wait_turn()
                if gate.stopped is not None or await self._stopping(run_id):
                    return
                item = await asyncio.to_thread(
                    self.store.claim, run_id, gate.portal_id, serve_delegated=True
                )
                if item is None:
                    due = await asyncio.to_thread(self.store.next_due, run_id, gate.portal_id)
                    if due is None:
                        return
                    wait = (due - utcnow()).total_seconds()
                    await asyncio.sleep(min(max(wait, 0.1), 1.0))
                    continue
                structlog.contextvars.bind_contextvars(item_id=item.id)
                try:
                    await items.work(gate, session, item)
                finally:
                    structlog.contextvars.unbind_contextvars("item_id")
                summary.lookups += 1
        finally:
            summary.logins[f"{gate.portal_id}/{session.account}"] = session.logins
            if session.resumed:
                summary.resumed_sessions.append(f"{gate.portal_id}/{session.account}")
            await session.close()
