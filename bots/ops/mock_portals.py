"""The bundled mock payer portals (fixtures/): start them, check them, provision demo logins.

They are separate processes on their own ports, exactly as a real portal is a separate
server: the bot talks to them only over HTTP. A configured portal with ``fixture = NAME``
and a local base_url is started on demand when nothing answers there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bots.engine.credentials import write_secret_files
from bots.errors import ConfigurationError
from bots.logs import get_logger
from bots.settings import Settings

log = get_logger("payerbot.fixtures")


def serve_command(
    settings: Settings, portals: dict[str, int], extra: Sequence[str] = ()
) -> list[str]:
    """The command line that serves the named fixture portals, each on its port (0: any)."""
    script = settings.fixtures_dir / "serve.py"
    if not script.is_file():
        raise ConfigurationError(f"mock portals not found: {script}")
    cmd = [sys.executable, str(script)]
    for name, port in portals.items():
        cmd += ["--portal", f"{name}={port}"]
    return [*cmd, *extra]


def is_up(base_url: str) -> bool:
    try:
        response = httpx.get(f"{base_url}/__admin/health", timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def counters(base_url: str) -> dict[str, Any]:
    """The mock portal's own counters (logins per account, writes, ...), for tests and bench."""
    response = httpx.get(f"{base_url}/__admin/counters", timeout=5.0)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def provision_credentials(settings: Settings, portal_id: str) -> None:
    """Copy the fixture's synthetic logins into the secrets folder, as an admin would."""
    portal = settings.portals[portal_id]
    response = httpx.get(f"{portal.base_url}/__admin/accounts", timeout=10.0)
    response.raise_for_status()
    for account in response.json():
        if account["account"] in settings.portals[portal_id].accounts:
            write_secret_files(settings, portal_id, account["account"], account)


def wanted(
    settings: Settings, portal_ids: Sequence[str] | None = None
) -> dict[str, tuple[str, int]]:
    """Local fixture-served portals among ``portal_ids``: {portal_id: (fixture, port)}."""
    out = {}
    for portal_id, portal in settings.portals.items():
        if portal_ids is not None and portal_id not in portal_ids:
            continue
        if portal.fixture and portal.is_local:
            out[portal_id] = (portal.fixture, urlsplit(portal.base_url).port or 80)
    return out


@contextmanager
def running(settings: Settings, portal_ids: Sequence[str] | None = None) -> Iterator[list[str]]:
    """Make sure the local mock portals answer; start those that don't, stop them afterwards."""
    needed = {
        pid: spec
        for pid, spec in wanted(settings, portal_ids).items()
        if not is_up(settings.portals[pid].base_url)
    }
    started = start(settings, dict(needed.values())) if needed else None
    try:
        for portal_id in wanted(settings, portal_ids):
            provision_credentials(settings, portal_id)
        yield sorted(needed)
    finally:
        if started is not None:
            started.stop()


class MockPortals:
    """A running mock-portal process and the URL each portal listens on."""

    def __init__(self, proc: subprocess.Popen[bytes], urls: dict[str, str]) -> None:
        self.proc = proc
        self.urls = urls

    def wait(self) -> int:
        return self.proc.wait()

    def stop(self) -> None:
        stop(self.proc)


def start(settings: Settings, fixtures: dict[str, int], extra: Sequence[str] = ()) -> MockPortals:
    """Start the mock portals in a child process and wait until they listen (port 0: any)."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        cmd = serve_command(settings, fixtures, [*extra, "--ready-file", str(ready)])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603 - fixed argv
        deadline = time.monotonic() + 30
        while not ready.exists():
            if proc.poll() is not None:
                raise ConfigurationError(
                    f"the mock portals exited at start (exit code {proc.returncode})"
                )
            if time.monotonic() > deadline:
                stop(proc)
                raise ConfigurationError("the mock portals did not start within 30 s")
            time.sleep(0.05)
        urls = json.loads(ready.read_text())
    log.info("fixtures.started", portals=urls)
    return MockPortals(proc, urls)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
