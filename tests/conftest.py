"""Shared fixtures: the mock portals (one process for the session), settings on a temp data dir.

End-to-end tests drive real Chromium against the mock portals. The portal process is
started once; each test gets fresh counters, default knobs and its own data folder.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from bots.engine.browser import playwright_chromium, resolve_executable
from bots.ops import mock_portals as fixture_portals
from bots.settings import ROOT, Settings, load_settings

if TYPE_CHECKING:
    from bots.store import Outcome
    from tests.samples import SampleRuns

T = TypeVar("T")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `make test`'s two workers: our work units, slowest first (tests/parallel.py says
    what a test must do to run on two workers)."""
    from tests.parallel import UnitScheduling

    return UnitScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's limits scale like every other deadline of the tests (tests/timing.py):
    on a loaded machine a test gets longer before it is called hung."""
    from tests.timing import scaled

    default = float(config.getini("timeout") or 0)
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = float(marker.args[0]) if marker is not None and marker.args else default
        if seconds:
            item.add_marker(pytest.mark.timeout(scaled(seconds)), append=False)


DEFAULT_KNOBS = {
    "latency_ms": 15,
    "jitter_ms": 10,
    "error_rate": 0.0,
    "session_idle_seconds": 900,
    "session_max_seconds": 28800,
    "session_max_requests": 0,  # reset too: a test that sets it must not end later sessions
    "lockout_threshold": 5,
    "maintenance": False,
    "layout": "A",
    "rate_limit_per_minute": 0,
    "rate_window_seconds": 60,
    "captcha_after_per_minute": 0,
    "password_expiry_days": 0,
    "new_device_question": True,
    "hostile_text": "",
    "unreachable_requests": 0,
    "unreachable_path": "/api/",
}


class Portal:
    """A running mock portal: its URL, its admin API."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        """One client for the admin calls, its connection kept between them (a new client
        per call costs more than the call; every test resets the portals). Idle connections
        are dropped well before the portal's server closes them (uvicorn: after 5 s)."""
        if self._client is None:
            self._client = httpx.Client(timeout=30, limits=httpx.Limits(keepalive_expiry=2.0))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        response = self.client.request(method, f"{self.url}/__admin/{path}", **kw)
        response.raise_for_status()
        return response.json()

    def counters(self) -> dict[str, Any]:
        return self.admin("GET", "counters")

    def knobs(self, **values: Any) -> dict[str, Any]:
        """Set these knobs; returns every knob the portal has, as it is now."""
        return dict(self.admin("POST", "knobs", json=values))

    def reset(self) -> None:
        self.admin("POST", "reset")
        unreset = set(self.knobs(**DEFAULT_KNOBS)) - set(DEFAULT_KNOBS)
        assert not unreset, (
            f"tests/conftest.py DEFAULT_KNOBS lacks {sorted(unreset)}: a test's knob would leak"
        )


TEST_INSTALLATION = f"pytest-{os.getpid()}"
"""The tests' payerbot processes all count as one installation (many data folders, one set of
mock portals), so a command a test starts uses the session's portals instead of its own."""
os.environ["PAYERBOT_INSTALLATION"] = TEST_INSTALLATION


@pytest.fixture(scope="session")
def mock_portals() -> Iterator[dict[str, Portal]]:
    """Every configured mock portal, in one process, on free ports."""
    settings = load_settings()
    names = [fixture for fixture, _ in fixture_portals.wanted(settings).values()]
    started = fixture_portals.start(settings, dict.fromkeys(names, 0))
    portals = {name: Portal(name, url) for name, url in started.urls.items()}
    try:
        yield portals
    finally:
        for portal in portals.values():
            portal.close()
        started.stop()


@pytest.fixture
def hub(mock_portals: dict[str, Portal]) -> Portal:
    portal = mock_portals["payerhub"]
    portal.reset()
    return portal


@pytest.fixture(scope="session")
def sample_runs(
    mock_portals: dict[str, Portal], tmp_path_factory: pytest.TempPathFactory
) -> SampleRuns:
    """The sample worklists run once for the session (tests/samples.py): read, never write."""
    from tests.samples import run_samples

    return run_samples(mock_portals, tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def ground_truth(mock_portals: dict[str, Portal]) -> dict[str, Any]:
    return mock_portals["payerhub"].admin("GET", "ground-truth")


def portal_env(portals: dict[str, Portal], data_dir: Path) -> dict[str, str]:
    """Variables pointing payerbot at a data folder and at the session's mock portals."""
    values = {"PAYERBOT_DATA_DIR": str(data_dir)}
    for name, portal in portals.items():
        values[f"PAYERBOT_PORTALS__{name.upper()}__BASE_URL"] = portal.url
    return values


@pytest.fixture
def env(
    tmp_path: Path, hub: Portal, mock_portals: dict[str, Portal], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment pointing payerbot at a fresh data folder and the session's mock portals."""
    for portal in mock_portals.values():
        if portal is not hub:  # reset just now by its own fixture
            portal.reset()
    values = portal_env(mock_portals, tmp_path / "var")
    # the bot's own page timeouts stretch with the machine's load, as the tests' do
    from tests.timing import scaled

    values["PAYERBOT_BROWSER__ACTION_TIMEOUT_MS"] = str(int(scaled(15) * 1000))
    values["PAYERBOT_BROWSER__NAVIGATION_TIMEOUT_MS"] = str(int(scaled(30) * 1000))
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


@pytest.fixture
def settings(env: dict[str, str], mock_portals: dict[str, Portal]) -> Settings:
    """Settings on the test's data folder, each portal's logins in its secrets folder as
    ``fixture_portals.provision_credentials`` puts them (read here over the portal's kept
    admin connection: a new client per portal and test costs more than the copy)."""
    from bots.engine.credentials import write_secret_files

    settings = load_settings()
    for portal_id, (fixture, _port) in fixture_portals.wanted(settings).items():
        wanted = settings.portals[portal_id].accounts
        for account in mock_portals[fixture].admin("GET", "accounts"):
            if account["account"] in wanted:
                write_secret_files(settings, portal_id, account["account"], account)
    return settings


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the same Chromium payerbot resolves."""
    executable = resolve_executable(load_settings().browser, own=playwright_chromium())
    return {
        **browser_type_launch_args,
        **({"executable_path": str(executable)} if executable else {}),
    }


SAMPLES = ROOT / "fixtures" / "worklists"


def eligibility_rows(
    members: list[dict[str, Any]], dos: str = "2026-12-01"
) -> list[tuple[None, Any]]:
    """Runner rows asking eligibility of these ground-truth members on one date of service."""
    from bots.models import EligibilityQuery

    return [
        (
            None,
            EligibilityQuery(
                payer_id=m["payer_id"], member_id=m["member_id"], dob=m["dob"], date_of_service=dos
            ),
        )
        for m in members
    ]


def run_rows(
    settings: Settings, kind: Any, rows: list[tuple[None, Any]], *, force: bool = False
) -> tuple[Any, list[Outcome]]:
    """Run the rows through a real Runner against the mock portals: (summary, item outcomes).
    Follow-ups are raised as for every entry point (the services' finisher)."""
    from bots.engine.runner import Runner
    from bots.services.finishers import followups_only
    from bots.store import Store

    store = Store.open(settings)
    try:
        runner = Runner(settings, store, finisher=followups_only(settings, store))
        summary = run_async(runner.run(kind, rows, force=force))
        return summary, store.run_outcomes(summary.run_id)
    finally:
        store.close()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh loop in a worker thread.

    pytest-playwright's session-wide sync Playwright keeps an event loop attached to the
    main thread, so ``asyncio.run`` there refuses; a worker thread has none.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One PostgreSQL schema for the session's store tests, migrated once."""
    from tests.pg import pg_schema

    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same store tests on both engines: a new SQLite file, or the session's PostgreSQL
    schema with every table emptied (a migration runs once per session, not per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    from tests.pg import emptied

    url = request.getfixturevalue("pg_session_url")
    emptied(url)
    yield url
