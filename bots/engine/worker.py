"""The session loop a local run and a fleet worker share: one account's session claims its
portal's items from an ``ItemSource`` (one run's queue, or every fleet run's) and works each.

What differs between the two is where items come from (``RunItems``, ``FleetItems``) and
how sessions are opened around the loop (runner.py leases a run's accounts up front;
fleet.py opens a session per due portal and lets it linger).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog

from bots.engine import drift
from bots.engine.attempts import ItemWorker
from bots.engine.credentials import login_secrets
from bots.engine.gates import PortalGate, remember_pace
from bots.engine.sessions import Session, SessionFactory
from bots.flowkit.flow import LoginInfo
from bots.logs import get_logger
from bots.models import LookupKind
from bots.settings import Settings
from bots.store import Store, WorkItem, utcnow

log = get_logger("payerbot.worker")


class ItemSource(Protocol):
    """Where a session's next item comes from."""

    stop: asyncio.Event
    """Set: claim nothing more (the items in flight finish)."""
    linger_seconds: float
    """How long a session with nothing open stays, waiting for new work."""

    async def claim(self, portal_id: str) -> WorkItem | None:
        """The next due item of the portal, leased to this process (None: nothing due)."""

    async def next_due(self, portal_id: str) -> datetime | None:
        """When the portal's earliest open item is due (None: nothing is open)."""

    async def stopping(self) -> bool:
        """Whether to claim nothing more."""

    def run_of(self, item: WorkItem) -> str | None:
        """The run to label the item's log lines with (None: the one already bound)."""

    async def answered(self, item: WorkItem) -> None:
        """Called after each item is worked."""


class RunItems:
    """A local run's items; lookups of runs waiting for a session holder come first."""

    linger_seconds = 0.0

    def __init__(self, store: Store, run_id: str, stop: asyncio.Event) -> None:
        self.store = store
        self.run_id = run_id
        self.stop = stop

    async def claim(self, portal_id: str) -> WorkItem | None:
        return await asyncio.to_thread(
            self.store.claim, self.run_id, portal_id, serve_delegated=True
        )

    async def next_due(self, portal_id: str) -> datetime | None:
        return await asyncio.to_thread(self.store.next_due, self.run_id, portal_id)

    async def stopping(self) -> bool:
        """Asked here (SIGTERM) or through the store (`payerbot runs stop`, any process)."""
        if not self.stop.is_set() and await asyncio.to_thread(
            self.store.stop_requested, self.run_id
        ):
            log.warning("run.stop_requested")
            self.stop.set()
        return self.stop.is_set()

    def run_of(self, item: WorkItem) -> str | None:
        return None

    async def answered(self, item: WorkItem) -> None:
        return None


class FleetItems:
    """Items of every active fleet run, oldest first; lookups waiting for a session holder
    first. Each item names the run it is answered for."""

    def __init__(
        self,
        store: Store,
        stop: asyncio.Event,
        linger_seconds: float,
        after_item: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.stop = stop
        self.linger_seconds = linger_seconds
        self._after_item = after_item  # the worker finishes runs left with nothing to do

    async def claim(self, portal_id: str) -> WorkItem | None:
        return await asyncio.to_thread(
            self.store.claim, None, portal_id, serve_delegated=True, fleet=True
        )

    async def next_due(self, portal_id: str) -> datetime | None:
        return await asyncio.to_thread(self.store.fleet_next_due, portal_id)

    async def stopping(self) -> bool:
        return self.stop.is_set()

    def run_of(self, item: WorkItem) -> str | None:
        return item.for_run

    async def answered(self, item: WorkItem) -> None:
        await self._after_item()


async def pause_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, waking at once when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class SessionStats:
    """What the sessions of a run or of a worker did; keys are ``portal/account``."""

    lookups: int = 0
    logins: Counter[str] = field(default_factory=Counter)
    resumed: Counter[str] = field(default_factory=Counter)
    password_notices: dict[str, int | None] = field(default_factory=dict)
    """portal/account -> days left, when a portal said the password expires soon."""


class SessionWorker:
    """Opens portal sessions and works items through them: the one session factory, drift
    canary call and claim -> wait -> work loop of the engine."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        attempts: ItemWorker,
        sessions: SessionFactory,
        stats: SessionStats,
    ) -> None:
        self.settings = settings
        self.store = store
        self.attempts = attempts
        self.sessions = sessions
        self.stats = stats

    def open(self, gate: PortalGate, account: str) -> Session:
        """A session of the account (not logged in yet); every login is noted in the store."""
        portal_id = gate.portal_id

        async def on_login(session: Session, info: LoginInfo | None) -> None:
            days = info.password_expires_in_days if info else None
            if info is not None:
                self.stats.password_notices[f"{portal_id}/{session.account}"] = days
            await asyncio.to_thread(self.store.note_login, portal_id, session.account, days)

        secrets = login_secrets(self.settings, portal_id, account)
        return self.sessions.open(gate.flow, portal_id, account, secrets, on_login)

    async def canary(
        self,
        gate: PortalGate,
        session: Session,
        shots: Path,
        kinds: frozenset[LookupKind] | None = None,
    ) -> None:
        """Check the portal's pages before its first lookup (pauses the gate on drift)."""
        await drift.check_before_batch(
            self.settings, gate, session, self.sessions, self.attempts, shots, kinds
        )

    async def run(
        self,
        gate: PortalGate,
        session: Session,
        source: ItemSource,
        *,
        canary_shots: Path | None = None,
    ) -> None:
        """Work the portal's items through the session until none is left (or the portal,
        the account or the source stops), then close the session."""
        key = f"{gate.portal_id}/{session.account}"
        structlog.contextvars.bind_contextvars(portal=gate.portal_id, account=session.account)
        try:
            if canary_shots is not None:
                await self.canary(gate, session, canary_shots)
            await self._loop(gate, session, source)
        finally:
            self.stats.logins[key] += session.logins
            self.stats.resumed[key] += int(session.resumed)
            await session.close()
            # what the portal's 429s taught (and the answers since), for the next run
            await asyncio.to_thread(remember_pace, self.store, gate)

    async def _loop(self, gate: PortalGate, session: Session, source: ItemSource) -> None:
        poll = self.settings.queue.poll_seconds
        idle_since: float | None = None
        while gate.open_for(session.account):
            await gate.wait_turn()
            if not gate.open_for(session.account) or await source.stopping():
                return
            item = await source.claim(gate.portal_id)
            if item is None:
                due = await source.next_due(gate.portal_id)
                if due is None:  # nothing open: linger for new work, then let go
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= source.linger_seconds:
                        return
                    wait = poll
                else:  # retries, postponed or leased elsewhere: wait until due
                    idle_since = None
                    wait = min(max((due - utcnow()).total_seconds(), min(0.1, poll)), poll)
                await pause_unless_stopped(source.stop, wait)
                continue
            idle_since = None
            await self._work(gate, session, source, item)

    async def _work(
        self, gate: PortalGate, session: Session, source: ItemSource, item: WorkItem
    ) -> None:
        labels: dict[str, object] = {"item_id": item.id}
        run_id = source.run_of(item)
        if run_id is not None:
            labels["run_id"] = run_id
        structlog.contextvars.bind_contextvars(**labels)
        try:
            await self.attempts.work(gate, session, item)
        finally:
            structlog.contextvars.unbind_contextvars(*labels)
        self.stats.lookups += 1
        await source.answered(item)
