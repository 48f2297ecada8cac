"""`payerbot doctor`: what is wrong with this installation, and how to fix it.

Checks permissions of the data folder and what holds PHI or secrets, that every configured
account has its login and where it comes from, the console's binding, the browser and its
version against Playwright's, the clock and the time zones, the free disk space, each
portal's address (its name resolves, its sign-in page answers) and the schedule's cron.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from bots.engine.browser import playwright_chromium, resolve_executable
from bots.engine.credentials import credential_sources
from bots.errors import ConfigurationError
from bots.ops.cron import cron_trigger
from bots.settings import Settings

PLAYWRIGHT_CHROMIUM_MAJOR = 156  # what playwright==1.64.1 drives (see docs/browser.md)
MIN_FREE_GB = 1.0
REACH_TIMEOUT_SECONDS = 5.0
"""How long doctor waits for a portal's sign-in page (all portals are asked at once)."""


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _permissions(settings: Settings) -> list[Check]:
    data = settings.data_dir
    if not data.exists():
        return [
            Check("data folder", "ok", f"{data} does not exist yet (created 0700 on first run)")
        ]
    checks = []
    if _mode(data) & 0o077:
        checks.append(
            Check(
                "data folder",
                "fail",
                f"{data} is open to others ({oct(_mode(data))})",
                f"chmod 700 {data}",
            )
        )
    loose = []
    for path in data.rglob("*"):
        if path.is_symlink():
            continue
        mode = _mode(path)
        if (path.is_dir() and mode & 0o077) or (path.is_file() and mode & 0o077):
            loose.append(path)
    if loose:
        sample = ", ".join(str(p.relative_to(data)) for p in loose[:5])
        checks.append(
            Check(
                "permissions",
                "fail",
                f"{len(loose)} file(s) or folder(s) readable by others: {sample}",
                f"chmod -R go-rwx {data}",
            )
        )
    if not checks:
        checks.append(Check("permissions", "ok", f"{data}: owner only"))
    return checks


def _secrets(settings: Settings) -> list[Check]:
    checks = []
    for portal_id, portal in settings.portals.items():
        for account in portal.accounts:
            name = f"login {portal_id}/{account}"
            try:
                sources = credential_sources(settings, portal_id, account)
            except ConfigurationError as exc:
                checks.append(Check(name, "fail", str(exc), "chmod 600 the secret files"))
                continue
            if not {"username", "password"} <= sources.keys():
                checks.append(
                    Check(
                        name,
                        "fail",
                        "no username/password in env, secrets folder or keyring",
                        f"payerbot creds set {portal_id} {account}",
                    )
                )
            else:
                where = ", ".join(f"{k} from {v}" for k, v in sorted(sources.items()))
                checks.append(Check(name, "ok", where))
    return checks


def _console(settings: Settings) -> Check:
    host = settings.console.host
    if host in {"127.0.0.1", "localhost", "::1"}:
        return Check("console binding", "ok", f"{host}:{settings.console.port} (this machine only)")
    if settings.console.secure_cookies:
        return Check(
            "console binding",
            "warn",
            f"{host}: reachable from the network; secure cookies on (TLS must be in front)",
        )
    return Check(
        "console binding",
        "fail",
        f"{host}: reachable from the network without TLS",
        "bind to 127.0.0.1, or put HTTPS in front and set console.secure_cookies",
    )


def _browser(settings: Settings) -> Check:
    exe = resolve_executable(settings.browser, own=playwright_chromium())
    if exe is None:
        return Check("browser", "fail", "no Chromium found", "make browser")
    try:
        out = subprocess.run(  # noqa: S603 - the configured browser, asked its version
            [str(exe), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError as exc:
        return Check("browser", "fail", f"{exe} does not run: {exc}", "make browser")
    found = re.search(r"(\d+)\.\d+", out)
    major = int(found[1]) if found else None
    if major != PLAYWRIGHT_CHROMIUM_MAJOR:
        return Check(
            "browser",
            "warn",
            f"{exe}: Chromium {major}, Playwright expects {PLAYWRIGHT_CHROMIUM_MAJOR}",
            "move the playwright pin with the browser",
        )
    return Check("browser", "ok", f"{exe}: Chromium {major}")


def _clock(settings: Settings) -> list[Check]:
    checks = []
    zones = {settings.timezone, settings.schedule.timezone}
    zones |= {p.timezone for p in settings.portals.values() if p.timezone}
    for zone in sorted(zones):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            checks.append(
                Check(
                    "time zone",
                    "fail",
                    f"unknown time zone {zone!r}",
                    "use an IANA name like America/New_York (install tzdata)",
                )
            )
    synced = None
    tool = shutil.which("timedatectl")
    if tool is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            out = subprocess.run(  # noqa: S603 - the system's own tool, fixed arguments
                [tool, "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
            synced = {"yes": True, "no": False}.get(out)
    if synced is False:
        checks.append(
            Check(
                "clock",
                "warn",
                "the clock is not synchronized (NTP)",
                "enable time sync: schedules and TOTP codes depend on it",
            )
        )
    else:
        state = "synchronized" if synced else "sync state unknown"
        checks.append(Check("clock", "ok", f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {state}"))
    return checks


def _disk(settings: Settings) -> Check:
    probe = settings.data_dir if settings.data_dir.exists() else settings.data_dir.parent
    free = shutil.disk_usage(probe).free / 2**30
    if free < MIN_FREE_GB:
        return Check(
            "disk",
            "fail",
            f"{free:.1f} GB free under {probe}",
            "free space or `payerbot purge --older-than DAYS`",
        )
    return Check("disk", "ok", f"{free:.1f} GB free under {probe}")


def _schedule(settings: Settings) -> list[Check]:
    """Every job's cron expression parses (in its time zone)."""
    checks = []
    for name, job in settings.schedule.jobs.items():
        try:
            cron_trigger(job.cron, job.timezone or settings.schedule.timezone)
        except ConfigurationError as exc:
            checks.append(
                Check(
                    f"schedule {name}",
                    "fail",
                    str(exc),
                    '5 fields: minute hour day month weekday, e.g. "0 3 * * 1-5"',
                )
            )
    if not checks:
        checks.append(Check("schedule", "ok", f"{len(settings.schedule.jobs)} job(s), cron valid"))
    return checks


def _reach(portal_id: str, url: str, is_local: bool) -> Check:
    """The portal's sign-in page answers (DNS, connection, HTTP status), within seconds."""
    name = f"portal {portal_id}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(
            name,
            "fail",
            f"not a web address: {url!r}",
            f"portals.{portal_id}.base_url: https://host/...",
        )
    host = parts.hostname
    try:
        socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return Check(
            name,
            "fail",
            f"unreachable: the name {host} does not resolve",
            f"check portals.{portal_id}.base_url and this machine's DNS",
        )
    try:
        answer = httpx.get(url, timeout=REACH_TIMEOUT_SECONDS, follow_redirects=True)
    except httpx.TimeoutException:
        return Check(
            name,
            "fail",
            f"unreachable: {host} did not answer within {REACH_TIMEOUT_SECONDS:g} s",
            "check the network path (proxy, firewall)",
        )
    except httpx.HTTPError as exc:
        if is_local:
            return Check(name, "ok", f"{url}: the bundled mock portal starts with each run")
        return Check(
            name,
            "fail",
            f"unreachable: {host} refused the connection ({type(exc).__name__})",
            "check the address and the network path",
        )
    if answer.status_code >= 400:
        return Check(
            name,
            "fail" if answer.status_code >= 500 or answer.status_code == 404 else "warn",
            f"{url}: the sign-in page answered HTTP {answer.status_code}",
            f"check portals.{portal_id}.base_url",
        )
    return Check(name, "ok", f"{url}: sign-in page reached (HTTP {answer.status_code})")


def _portals(settings: Settings) -> list[Check]:
    """Each portal reached at once (threads): the slowest bounds the wait, not the sum."""
    targets = [(p, s.base_url, s.is_local) for p, s in settings.portals.items()]
    if not targets:
        return []
    pool = ThreadPoolExecutor(max_workers=min(8, len(targets)))
    asked = [(target, pool.submit(_reach, *target)) for target in targets]
    checks = []
    for (portal_id, url, _), future in asked:
        try:  # a resolver that hangs (no timeout of its own) must not hang doctor
            checks.append(future.result(timeout=REACH_TIMEOUT_SECONDS * 2))
        except FutureTimeout:
            checks.append(
                Check(
                    f"portal {portal_id}",
                    "fail",
                    f"unreachable: no answer from {url} within {REACH_TIMEOUT_SECONDS * 2:g} s",
                    "check this machine's DNS and network path",
                )
            )
    pool.shutdown(wait=False, cancel_futures=True)
    return checks


def run(settings: Settings) -> list[Check]:
    return [
        *_portals(settings),
        *_schedule(settings),
        *_permissions(settings),
        *_secrets(settings),
        _console(settings),
        _browser(settings),
        *_clock(settings),
        _disk(settings),
    ]
