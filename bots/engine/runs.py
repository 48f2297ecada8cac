"""A run as the engine sees it: its questions, its summary, and the hook the services layer
hands in for what happens once its lookups are over (follow-ups, workbooks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.settings import Settings
from bots.store import Question

ProgressCallback = Callable[[int, int], None]
NoticeCallback = Callable[[str], None]
Rows = Sequence[tuple[int | None, EligibilityQuery | ClaimStatusQuery]]


def questions_for(
    settings: Settings, kind: LookupKind, rows: Rows, source: str | None
) -> list[Question]:
    """Worklist rows as the store's questions (a run's, or a fleet run's)."""
    return [
        Question(
            reference=query.reference(),
            kind=kind.value,
            payer_id=query.payer_id,
            portal=settings.portal_for_payer(query.payer_id),
            query=query.model_dump(mode="json"),
            source_file=source,
            source_row=row_number,
        )
        for row_number, query in rows
    ]


class RunFinisher(Protocol):
    """What happens once a run's lookups are over, supplied by the services layer (the
    engine calls it and imports none of it). Both are called from a worker thread, once
    per run, by whoever closes the run: a local Runner, or the fleet worker that won it."""

    def conclude(self, run_id: str) -> dict[str, Any]:
        """Before the run's record is closed: raise what its answers call for (the
        specialists' follow-ups); returns notes for the run record. Should not raise (the
        engine logs a failure and closes the run anyway)."""

    def publish(self, run_id: str) -> None:
        """After the run's record is closed: write what people read (the workbooks)."""


class NoFinisher:
    """A run that ends with nothing more (engine tests, tools that only want answers)."""

    def conclude(self, run_id: str) -> dict[str, Any]:
        return {}

    def publish(self, run_id: str) -> None:
        return None


NO_FINISHER = NoFinisher()


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
    accounts_set_aside: dict[str, str] = field(default_factory=dict)
    """portal/account -> why the run did not use it (no login set, login refused) and the
    command that fixes it; the portal's other accounts did the work."""
    borrowed_from: dict[str, str] = field(default_factory=dict)
    """portal -> run whose session answered this run's lookups."""
    portal_pace: dict[str, dict[str, float | int]] = field(default_factory=dict)
    """portal -> how it was paced (``PortalGate.pace_facts``), when 429s slowed it this run
    or an earlier run's pace was remembered."""
    concluded: dict[str, Any] = field(default_factory=dict)
    """The notes the run's finisher added (``followups``: what the answers raised)."""

    @property
    def followups(self) -> dict[str, Any]:
        """Follow-ups the run's answers created, confirmed, reopened and closed (by rule)."""
        return dict(self.concluded.get("followups") or {})

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
            "accounts_set_aside": self.accounts_set_aside,
            "borrowed_from": self.borrowed_from,
            "logins": self.logins,
            "portal_pace": self.portal_pace,
            "slowed_portals": {p: pace_sentence(f) for p, f in self.portal_pace.items()},
            **self.concluded,
        }

    @property
    def ok(self) -> bool:
        """No failures and no portal stopped; postponed (maintenance) work is not a failure."""
        return not self.counts.get("system_failed") and not self.stopped_portals


def _seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.0f} s"
    digits = 1 if value >= 1 else 2
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") + " s"


def pace_sentence(facts: dict[str, Any]) -> str:
    """How a portal was paced, in words: "asked us to slow down 12 times; paced to one
    lookup every 2.4 s (was 0 s); one every 1.2 s at the end of the run"."""
    times = int(facts.get("rate_limited") or 0)
    started = float(facts.get("started_seconds") or 0)
    slowest = float(facts.get("slowest_seconds") or 0)
    ended = float(facts.get("ended_seconds") or 0)
    configured = float(facts.get("configured_seconds") or 0)
    if times:
        said = (
            f"asked us to slow down {times} time{'s' if times != 1 else ''}; paced to one "
            f"lookup every {_seconds(slowest)} (was {_seconds(started)})"
        )
    else:
        said = (
            f"paced to one lookup every {_seconds(started)} from the start, as an earlier "
            f"run learned (configured: {_seconds(configured)})"
        )
    return said + f"; one every {_seconds(ended)} at the end of the run"
