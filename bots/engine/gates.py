"""Portal gates: what a portal's sessions share (paused, paced, stopped), and the one place
where portals are checked and their gates made, for a local run and for the fleet alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bots.config_errors import explain
from bots.engine.credentials import login_secrets
from bots.errors import CapabilityMissing, ConfigurationError
from bots.flowkit.flow import PortalFlow, get_flow
from bots.maintenance import active_window
from bots.models import LookupKind
from bots.settings import QueueSettings, Settings
from bots.store import Store, utcnow


@dataclass
class PortalGate:
    """State of one portal shared by its sessions (of a run, or of a fleet worker): paused,
    paced or stopped.

    The pace adapts to the portal (AIMD, as TCP does): a 429 multiplies the spacing between
    lookups (``slow_down``), each answer adds a little to the lookups a minute again
    (``answered``), never faster than the configured ``floor_seconds``. The spacing the run
    started with may be one an earlier run learned (``start_pace``)."""

    portal_id: str
    flow: PortalFlow
    pace_seconds: float = 0.0  # the spacing between lookups now
    accounts: list[str] = field(default_factory=list)  # the accounts this run may log in with
    spare_accounts: list[str] = field(default_factory=list)
    """Usable accounts beyond ``max_sessions``: opened in place of one the portal refused."""
    unusable: dict[str, str] = field(default_factory=dict)
    """account -> why this run cannot log in with it (no credentials), in words."""
    stopped: str | None = None  # why the portal is not used any more in this run
    stop_code: str = "account_locked"  # what its items end with when no account can log in
    refused_accounts: set[str] = field(default_factory=set)  # refused a login: never again
    floor_seconds: float = 0.0  # the configured pace: never faster than this
    started_pace: float = 0.0  # the spacing the run started with (learned by an earlier run)
    slowest_pace: float = 0.0  # the slowest this run paced it
    rate_limited: int = 0  # 429s this run
    limited_since: float | None = None  # the first 429 since the portal's last answer
    layout_failures: int = 0  # lookups in a row that could not read the pages
    paused_for_layout: bool = False  # the circuit breaker or the drift canary paused it
    canary_done: bool = False  # a fleet worker checks each portal's pages once
    postponed_until: datetime | None = None
    _resume_at: float = 0.0
    _next_slot: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def wait_turn(self) -> None:
        """Wait out a pause (429, short maintenance) and keep the configured pace."""
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._resume_at, self._next_slot)
            self._next_slot = start + self.pace_seconds
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def start_pace(self, seconds: float) -> None:
        """Start at this spacing (a remembered one), never faster than the configured."""
        self.pace_seconds = self.started_pace = self.slowest_pace = max(self.floor_seconds, seconds)

    def slow_down(self, queue: QueueSettings, retry_after: float | None) -> float:
        """A 429: pause every session (Retry-After, else the configured pause) and widen the
        spacing between lookups for the rest of the run. 429s of one burst (arriving while
        the portal is still paused for an earlier one) widen it once. Returns the pause."""
        now = time.monotonic()
        self.rate_limited += 1
        if self.limited_since is None:
            self.limited_since = now
        if now >= self._resume_at:  # not the same burst as the last 429
            wider = max(self.pace_seconds * queue.rate_limit_slowdown, self.floor_seconds)
            if self.pace_seconds < queue.rate_limit_first_pace_seconds:
                wider = max(wider, queue.rate_limit_first_pace_seconds)
            self.pace_seconds = min(
                wider, max(queue.rate_limit_max_pace_seconds, self.floor_seconds)
            )
            self.slowest_pace = max(self.slowest_pace, self.pace_seconds)
            self._next_slot = max(self._next_slot, now + self.pace_seconds)  # from now on
        pause = queue.rate_limit_pause_seconds if retry_after is None else retry_after
        self.pause(pause)
        return pause

    def answered(self, queue: QueueSettings) -> None:
        """The portal answered: the 429s in a row are over; ease the pace a little."""
        self.limited_since = None
        if self.pace_seconds > self.floor_seconds:  # one more lookup a minute, or so
            per_minute = 60 / self.pace_seconds + queue.rate_limit_recovery_per_minute
            self.pace_seconds = max(self.floor_seconds, 60 / per_minute)

    def limited_for(self) -> float:
        """Seconds of 429s with no answer in between (0: the last lookup was answered)."""
        return 0.0 if self.limited_since is None else time.monotonic() - self.limited_since

    @property
    def learned(self) -> bool:
        """Whether this run changed the pace it started with (worth remembering)."""
        return self.rate_limited > 0 or abs(self.pace_seconds - self.started_pace) > 1e-9

    def pace_facts(self) -> dict[str, float | int]:
        """How the portal was paced this run, for the run record (no PHI)."""
        return {
            "rate_limited": self.rate_limited,
            "configured_seconds": round(self.floor_seconds, 2),
            "started_seconds": round(self.started_pace, 2),
            "slowest_seconds": round(self.slowest_pace, 2),
            "ended_seconds": round(self.pace_seconds, 2),
        }

    def open_for(self, account: str) -> bool:
        """Whether a session of this account may take another item."""
        return self.stopped is None and account not in self.refused_accounts

    def has_account_left(self) -> bool:
        """Whether an account of this run is still open or could still be opened."""
        return any(a not in self.refused_accounts for a in self.accounts + self.spare_accounts)


class PortalFlows:
    """The flow driving each portal: an instance of its registered flow class (config's
    ``flow``, else the portal id), or the object given for it (tests: a ScriptedFlow)."""

    def __init__(self, settings: Settings, given: Mapping[str, PortalFlow] | None = None) -> None:
        self.settings = settings
        self.given = dict(given or {})

    def _flow_class(self, portal_id: str) -> type[PortalFlow]:
        if portal_id not in self.settings.portals:
            raise ConfigurationError(
                f"portal {portal_id!r} is not configured in config/portals.toml"
            )
        if portal_id in self.given:
            return type(self.given[portal_id])
        return get_flow(self.settings.flow_name(portal_id))

    def check(self, kind: LookupKind, portal_ids: set[str]) -> None:
        """Refuse before anything starts: an unknown portal, or a flow that cannot do ``kind``."""
        for portal_id in sorted(portal_ids):
            flow_cls = self._flow_class(portal_id)
            if kind not in flow_cls.capabilities():
                raise CapabilityMissing(
                    f"the {flow_cls.name} flow cannot do {kind.value.replace('_', ' ')} lookups"
                )

    def route(self, kind: LookupKind, payer_ids: set[str]) -> set[str]:
        """The portals that answer for these payers, refused before anything starts: a payer
        not configured, routed to a portal not configured, to a portal whose flow cannot do
        ``kind``, or to a portal that does not serve it."""
        portals = set()
        for payer_id in sorted(payer_ids):
            portal_id = self.settings.portal_for_payer(payer_id)
            served = self._flow_class(portal_id).payers
            if served is not None and payer_id not in served:
                raise ConfigurationError(
                    f"portal {portal_id!r} does not serve payer {payer_id!r}: route the payer "
                    "to the portal that does in config/portals.toml"
                )
            portals.add(portal_id)
        self.check(kind, portals)
        return portals

    def gate(self, portal_id: str, store: Store | None = None) -> PortalGate:
        """A new gate for the portal, with its flow and pace: the configured one, or the one
        an earlier run learned from the portal's 429s (decayed; ``store`` None: configured)."""
        portal = self.settings.portals[portal_id]
        flow = self.given.get(portal_id) or build_flow(
            self.settings, portal_id, self._flow_class(portal_id)
        )
        gate = PortalGate(portal_id, flow, floor_seconds=portal.pace_seconds)
        learned = remembered_pace(self.settings, store, portal_id) if store is not None else 0.0
        gate.start_pace(learned)
        return gate


def build_flow(
    settings: Settings, portal_id: str, flow_cls: type[PortalFlow] | None = None
) -> PortalFlow:
    """The configured portal's flow: its base URL, API reads and ``[portals.NAME.options]``
    validated by the flow's options model (a bad option: one sentence naming the key)."""
    portal = settings.portals[portal_id]
    cls = flow_cls or get_flow(settings.flow_name(portal_id))
    try:
        return cls(portal.base_url, api_reads=portal.api_reads, options=portal.options)
    except ValidationError as exc:
        raise ConfigurationError(
            f"config/portals.toml: portals.{portal_id}.options.{explain(exc)}"
        ) from None


def remembered_pace(settings: Settings, store: Store, portal_id: str) -> float:
    """The spacing an earlier run learned for the portal, halved for every
    ``queue.rate_limit_memory_hours`` since (0: nothing worth remembering)."""
    kept = store.remembered_pace(portal_id)
    if kept is None:
        return 0.0
    seconds, learned_at = kept
    hours = max(0.0, (utcnow() - learned_at).total_seconds() / 3600)
    decayed = seconds * 0.5 ** (hours / settings.queue.rate_limit_memory_hours)
    return decayed if decayed >= 0.05 else 0.0


def remember_pace(store: Store, gate: PortalGate) -> None:
    """Keep what the run taught about the portal's pace for the next run (nothing learned,
    nothing written: the remembered pace keeps decaying from when it was learned)."""
    if gate.learned:
        store.remember_pace(gate.portal_id, gate.pace_seconds)


def maintenance_ends(settings: Settings, portal_id: str) -> datetime | None:
    """The end of the portal's configured maintenance window we are in now (None: not in one)."""
    portal = settings.portals[portal_id]
    zone = ZoneInfo(portal.timezone or settings.timezone)
    window = active_window(portal.windows(), utcnow(), zone)
    return window[1] if window is not None else None


def gates_for_run(
    settings: Settings, store: Store, flows: PortalFlows, kind: LookupKind, portal_ids: set[str]
) -> dict[str, PortalGate]:
    """A local run's gates, refused before any browser starts: an unknown portal or a
    missing capability. An account that is flagged (a refused login) or has no credentials
    is left out, the others run; a portal with no account left is stopped, saying why and
    how to fix it. A configured maintenance window postpones the portal."""
    gates = {}
    for portal_id in sorted(portal_ids):
        flows.check(kind, {portal_id})
        portal = settings.portals[portal_id]
        gate = flows.gate(portal_id, store)
        flagged = {f.account: f for f in store.flagged_accounts(portal_id)}
        usable = []
        for account in portal.accounts:
            if account in flagged:
                continue
            why = missing_credentials(settings, portal_id, account)
            if why is None:
                usable.append(account)
            else:
                gate.unusable[account] = why
        gate.accounts = usable[: portal.max_sessions]
        gate.spare_accounts = usable[portal.max_sessions :]
        if not gate.accounts:
            gate.stop_code = "account_locked" if flagged else "no_credentials"
            reasons = [f"{a}: {f.reason}" for a, f in flagged.items()]
            gate.stopped = "no account can log in: " + "; ".join(
                [*gate.unusable.values(), *reasons]
            )
            if flagged:
                gate.stopped += (
                    f"; an account the portal refused stays set aside until a person fixes "
                    f"its login and runs `payerbot creds reset-lock {portal_id}`"
                )
        until = maintenance_ends(settings, portal_id)
        if until is not None and not gate.stopped:
            gate.postponed_until = until
            gate.stopped = f"in scheduled maintenance until {until:%Y-%m-%d %H:%M} UTC"
        gates[portal_id] = gate
    return gates


def missing_credentials(settings: Settings, portal_id: str, account: str) -> str | None:
    """Why the account cannot log in (its login is not set, or not readable), in words with
    the command that fixes it; None: it can."""
    try:
        login_secrets(settings, portal_id, account)
    except ConfigurationError as exc:
        if str(exc).startswith("no credentials"):
            return (
                f"{portal_id}/{account} has no login set: store it with "
                f"`payerbot creds set {portal_id} {account}`"
            )
        return f"{portal_id}/{account}: {exc}"
    return None
