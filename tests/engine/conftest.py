"""The engine's policy tests: the real Runner and Worker on a real store (a temp SQLite file),
a ScriptedFlow for the portals and browserless sessions: no browser, every delay near zero.

Two portals: ``alpha`` (accounts main and second, two sessions) and ``beta`` (one account),
payers ALPHA and BETA. ``make_settings`` changes them per test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bots.engine.browserless import BrowserlessSessions
from bots.engine.fleet import Worker
from bots.engine.runner import Runner
from bots.engine.runs import RunSummary, questions_for
from bots.flowkit.flow import PortalFlow
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.settings import Settings
from bots.store import Outcome, Store
from bots.store.schema import results
from tests.conftest import run_async

ACCOUNTS = {"alpha": ["main", "second"], "beta": ["main"]}


def _credentials() -> dict[str, Any]:
    return {
        portal: {
            account: {
                "username": f"scripted-user-{portal}-{account}",
                "password": f"scripted-password-{portal}-{account}",
                "totp_seed": "JBSWY3DPEHPK3PXP",
                "security_answers": "{}",
            }
            for account in ("main", "second", "third")
        }
        for portal in ACCOUNTS
    }


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store file migrated once; each test starts from a copy (migrations take time)."""
    path = tmp_path_factory.mktemp("template") / "payerbot.db"
    Store(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def make_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _migrated_store: Path
) -> Iterator[Any]:
    """``make_settings(queue={...}, portals={"alpha": {...}})``: the test's settings."""
    for key in list(os.environ):
        if key.startswith("PAYERBOT_"):
            monkeypatch.delenv(key)
    (tmp_path / "config").mkdir()
    monkeypatch.setenv("PAYERBOT_CONFIG_DIR", str(tmp_path / "config"))  # no config/*.toml
    data = tmp_path / "var"
    data.mkdir()
    shutil.copy(_migrated_store, data / "payerbot.db")

    def make(**changes: Any) -> Settings:
        base: dict[str, Any] = {
            "data_dir": data,
            "retention_days": None,
            "portals": {
                portal: {
                    "base_url": f"https://{portal}.invalid",
                    "accounts": accounts,
                    "max_sessions": len(accounts),
                    "timezone": "UTC",
                }
                for portal, accounts in ACCOUNTS.items()
            },
            "payers": {
                "ALPHA": {"name": "Alpha Health", "portal": "alpha"},
                "BETA": {"name": "Beta Mutual", "portal": "beta"},
            },
            "credentials": _credentials(),
            "queue": {
                "max_attempts": 3,
                "backoff_base_seconds": 0.0,
                "backoff_max_seconds": 0.0,
                "lease_seconds": 30.0,
                "maintenance_wait_minutes": 0.005,  # 0.3 s
                "drift_canary": False,
                "lookup_timeout_seconds": 5.0,
                "rate_limit_pause_seconds": 0.02,
                "rate_limit_first_pace_seconds": 0.01,
                "rate_limit_max_pace_seconds": 0.05,
                "poll_seconds": 0.02,
            },
            "sessions": {"reuse": False, "borrow_wait_seconds": 3.0},
        }
        return Settings(**_merge(base, changes))

    yield make


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    return make_settings()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.close()


def elig(member_id: str, payer: str = "ALPHA") -> tuple[None, EligibilityQuery]:
    """A worklist row asking eligibility of one (synthetic) member."""
    return (
        None,
        EligibilityQuery(
            payer_id=payer,
            member_id=member_id,
            dob=date(1980, 1, 2),
            date_of_service=date(2026, 12, 1),
        ),
    )


def claim(number: str, payer: str = "ALPHA") -> tuple[None, ClaimStatusQuery]:
    """A worklist row asking the status of one (synthetic) claim."""
    return (None, ClaimStatusQuery(payer_id=payer, claim_number=number))


def run(
    settings: Settings,
    store: Store,
    flows: Mapping[str, PortalFlow],
    rows: list[Any],
    *,
    kind: LookupKind = LookupKind.ELIGIBILITY,
    sessions: BrowserlessSessions | None = None,
    **options: Any,
) -> tuple[RunSummary, dict[str, dict[str, Any]]]:
    """A local run of the rows through the real Runner: (summary, outcome per question key)."""
    runner = new_runner(settings, store, flows, sessions=sessions, **options)
    summary = run_async(runner.run(kind, rows, force=True))
    return summary, outcomes(store, summary.run_id)


def new_runner(
    settings: Settings,
    store: Store,
    flows: Mapping[str, PortalFlow],
    *,
    sessions: BrowserlessSessions | None = None,
    **options: Any,
) -> Runner:
    return Runner(
        settings,
        store,
        flows=flows,
        session_factory=sessions or BrowserlessSessions(),
        **options,
    )


def new_worker(
    settings: Settings,
    store: Store,
    flows: Mapping[str, PortalFlow],
    *,
    session_factory: BrowserlessSessions | None = None,
    **options: Any,
) -> Worker:
    """A fleet worker that exits once there is no work for a moment (``sessions``: how
    many it may hold, as `payerbot worker --sessions`)."""
    options = {"exit_when_idle": 0.1, "linger_seconds": 0.0, **options}
    return Worker(
        settings,
        store,
        flows=flows,
        session_factory=session_factory or BrowserlessSessions(),
        **options,
    )


def enqueue_fleet_run(settings: Settings, store: Store, rows: list[Any]) -> str:
    """A fleet run of the rows, queued for workers (as `run --fleet` queues it)."""
    kind = LookupKind(rows[0][1].kind)
    run_id, _ = store.start_run(
        kind.value, "batch", None, questions_for(settings, kind, rows, None), executor="fleet"
    )
    return run_id


def key_of(item: Outcome) -> str:
    query = item.query
    return str(query.get("claim_number") or query["member_id"])


def outcomes(store: Store, run_id: str) -> dict[str, Outcome]:
    """The run's items by question key (member id or claim number)."""
    return {key_of(item): item for item in store.run_outcomes(run_id)}


def tries(store: Store, item_id: int) -> list[tuple[int, str, str | None]]:
    """Every recorded attempt of an item: (attempt, outcome, error code)."""
    with store.engine.begin() as conn:
        rows = conn.execute(
            select(results.c.attempt, results.c.outcome, results.c.error_code)
            .where(results.c.item_id == item_id)
            .order_by(results.c.id)
        ).all()
    return [(a, o, e) for a, o, e in rows]
