"""The bundled mock payer portals (fixtures/): start them, check them, provision demo logins.

They are separate processes on their own ports, exactly as a real portal is a separate
server: the bot talks to them only over HTTP. A configured portal with ``fixture = NAME``
and a local base_url is started on demand when nothing answers there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
    return probe(base_url) is not None


@dataclass(frozen=True)
class Holder:
    """What answers on a mock portal's port: a mock portal (with its owner and pid) or not."""

    owner: str | None
    pid: int | None

    def describe(self) -> str:
        if self.owner:
            return f"another payerbot installation's mock portals ({self.owner}, pid {self.pid})"
        return "another program"


def probe(base_url: str) -> Holder | None:
    """Who answers at base_url's health endpoint; None when nothing does."""
    try:
        response = httpx.get(f"{base_url}/__admin/health", timeout=1.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return Holder(None, None)
    try:
        body = response.json()
    except ValueError:
        return Holder(None, None)
    owner, pid = body.get("owner"), body.get("pid")
    return Holder(owner if isinstance(owner, str) else None, pid if isinstance(pid, int) else None)


def port_free(host: str, port: int) -> bool:
    """Nothing listens on host:port (a bind succeeds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def taken_ports(settings: Settings, portal_ids: Sequence[str] | None = None) -> str | None:
    """One line saying which of the wanted portals' ports are taken and by what; None: free."""
    by_holder: dict[str, list[str]] = {}
    for portal_id, (_, port) in wanted(settings, portal_ids).items():
        url = settings.portals[portal_id].base_url
        if port_free(urlsplit(url).hostname or "127.0.0.1", port):
            continue
        holder = probe(url)
        if holder is not None and holder.owner == settings.installation_id:
            what = f"this installation's own mock portals (pid {holder.pid})"
        else:
            what = (holder or Holder(None, None)).describe()
        by_holder.setdefault(what, []).append(f"{port} ({portal_id})")
    if not by_holder:
        return None
    parts = []
    for what, ports in by_holder.items():
        listed = ports[0] if len(ports) == 1 else ", ".join(ports[:-1]) + " and " + ports[-1]
        verb = "is" if len(ports) == 1 else "are"
        parts.append(f"port{'s' if len(ports) > 1 else ''} {listed} {verb} taken by {what}")
    return "; ".join(parts)


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
    """Make sure this installation's local mock portals answer; start those that don't and
    stop them afterwards (they also end by themselves if this process dies).

    A port held by anything else (another installation's mock portals, another program) is
    never shared: the portal is started on a free port instead, ``settings`` is pointed at
    it for this process, and a line on stderr says so."""
    needed: dict[str, tuple[str, int]] = {}
    for portal_id, spec in wanted(settings, portal_ids).items():
        holder = probe(settings.portals[portal_id].base_url)
        if holder is not None and holder.owner == settings.installation_id:
            continue  # ours: e.g. `payerbot portals serve` with its knobs, in another terminal
        needed[portal_id] = spec
    started = _start_where_free(settings, needed) if needed else None
    try:
        for portal_id in wanted(settings, portal_ids):
            provision_credentials(settings, portal_id)
        yield sorted(needed)
    finally:
        if started is not None:
            started.stop()


def _start_where_free(settings: Settings, needed: dict[str, tuple[str, int]]) -> MockPortals:
    """Start the needed portals on their configured ports, or on free ones where taken."""
    ports = {}
    for portal_id, (_, port) in needed.items():
        host = urlsplit(settings.portals[portal_id].base_url).hostname or "127.0.0.1"
        ports[portal_id] = port if port_free(host, port) else 0
    try:
        started = start(settings, {needed[p][0]: port for p, port in ports.items()})
    except PortTaken:  # another process took a port between the check and the start
        ports = dict.fromkeys(ports, 0)
        started = start(settings, {needed[p][0]: 0 for p in ports})
    for portal_id, port in ports.items():
        fixture, configured = needed[portal_id]
        url = started.urls[fixture]
        if port == 0:
            holder = probe(settings.portals[portal_id].base_url)
            what = holder.describe() if holder else "another program"
            sys.stderr.write(
                f"payerbot: port {configured} is taken by {what}; this installation's "
                f"{portal_id} mock portal serves on {url} instead\n"
            )
            log.warning("fixtures.port_taken", portal=portal_id, port=configured, url=url)
        settings.portals[portal_id].base_url = url
    return started


class MockPortals:
    """A running mock-portal process and the URL each portal listens on."""

    def __init__(self, proc: subprocess.Popen[bytes], urls: dict[str, str]) -> None:
        self.proc = proc
        self.urls = urls

    def wait(self) -> int:
        return self.proc.wait()

    def stop(self) -> None:
        stop(self.proc)


class PortTaken(ConfigurationError):
    """A port the mock portals were to serve on is taken."""


PORT_TAKEN_EXIT = 3  # fixtures/serve.py's exit code when a port is taken


def start(settings: Settings, fixtures: dict[str, int], extra: Sequence[str] = ()) -> MockPortals:
    """Start the mock portals in a child process and wait until they listen (port 0: any).

    The child knows this installation (its health endpoint says so) and ends by itself as
    soon as this process is gone, however this process ends."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        owner = ["--owner", settings.installation_id, "--parent-pid", str(os.getpid())]
        cmd = serve_command(settings, fixtures, [*extra, *owner, "--ready-file", str(ready)])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603 - fixed argv
        deadline = time.monotonic() + 30
        while not ready.exists():
            if proc.poll() is not None:
                taken = Path(f"{ready}.taken")
                if proc.returncode == PORT_TAKEN_EXIT and taken.exists():
                    raise PortTaken(f"port {taken.read_text()} is taken")
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
