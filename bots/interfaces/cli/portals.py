"""`payerbot portals ...`: the bundled mock payer portals and the portals' health."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime
from typing import Annotated

import typer

from bots.dates import local_datetime_text
from bots.errors import ConfigurationError
from bots.interfaces.cli.common import (
    app,
    fail,
    out,
    settings_for,
)
from bots.ops import health
from bots.ops import mock_portals as fixture_portals
from bots.settings import load_settings
from bots.store import ItemState, Store

portals_app = typer.Typer(no_args_is_help=True, help="The bundled mock payer portals.")
app.add_typer(portals_app, name="portals")


@portals_app.command("serve")
def portals_serve(
    latency_ms: Annotated[int, typer.Option(help="Added to every portal answer.")] = 0,
    jitter_ms: Annotated[int, typer.Option(help="Random +/- on the latency.")] = 0,
    error_rate: Annotated[float, typer.Option(help="Share of answers that are HTTP 500.")] = 0.0,
    session_idle_seconds: Annotated[int, typer.Option(help="Inactivity logout.")] = 900,
    session_max_seconds: Annotated[int, typer.Option(help="Absolute session lifetime.")] = 28800,
    lockout_threshold: Annotated[int, typer.Option(help="Failed logins before a lock.")] = 5,
    maintenance: Annotated[bool, typer.Option(help="Start inside a maintenance window.")] = False,
    layout: Annotated[str, typer.Option(help="A, or B: the redesigned pages.")] = "A",
    rate_limit_per_minute: Annotated[int, typer.Option(help="429 past this; 0 = off.")] = 0,
    captcha_after_per_minute: Annotated[int, typer.Option(help="CAPTCHA past this; 0 = off.")] = 0,
    password_expiry_days: Annotated[int, typer.Option(help="Expiry notice; 0 = off.")] = 0,
) -> None:
    """Serve the mock payer portals in the foreground (Ctrl-C stops them)."""
    settings = settings_for()
    wanted = fixture_portals.wanted(settings)
    knobs = [
        f"--latency-ms={latency_ms}",
        f"--jitter-ms={jitter_ms}",
        f"--error-rate={error_rate}",
        f"--session-idle-seconds={session_idle_seconds}",
        f"--session-max-seconds={session_max_seconds}",
        f"--lockout-threshold={lockout_threshold}",
        f"--layout={layout}",
        f"--rate-limit-per-minute={rate_limit_per_minute}",
        f"--captcha-after-per-minute={captcha_after_per_minute}",
        f"--password-expiry-days={password_expiry_days}",
        *(["--maintenance"] if maintenance else []),
    ]
    taken = fixture_portals.taken_ports(settings)
    if taken:  # never serve beside (or silently instead of) whatever holds the ports
        raise fail(ConfigurationError(taken))
    try:
        proc = fixture_portals.start(settings, dict(wanted.values()), knobs)
    except ConfigurationError as exc:  # e.g. a port taken between the check and the start
        raise fail(exc) from None
    # SIGTERM (a service manager, `kill`) stops the portals as Ctrl-C does: without this the
    # default action would end this process and leave the portal server running.
    # (SIGINT too: a parent that started this in the background may have ignored it.)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        for portal_id in wanted:
            fixture_portals.provision_credentials(settings, portal_id)
            out.print(f"{portal_id:<12} {settings.portals[portal_id].base_url}")
        out.print(
            f"demo logins written to {settings.resolved_secrets_dir} (owner-only). Ctrl-C stops."
        )
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proc.stop()


@portals_app.command("status")
def portals_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per portal: each account's session and flags, last success, the last day's outcomes,
    the next scheduled maintenance window."""
    settings = load_settings()
    store = Store.open(settings)
    try:
        status = health.portal_status(settings, store)
    finally:
        store.close()
    if as_json:
        data = {portal_id: info.as_dict() for portal_id, info in status.items()}
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        return
    zone = settings.timezone  # people read local time; --json keeps the stored UTC
    for portal_id, info in status.items():
        window = info.next_maintenance
        last = local_datetime_text(info.last_success, zone, empty="none on record")
        out.print(
            f"[bold]{portal_id}[/] {info.title}  last success: {last}"
            f"  last 24 h: {_counts(info.last_24h)}"
            + (
                f"  next maintenance: {_local(window.start, zone)} - {_local(window.end, zone)}"
                if window
                else ""
            )
        )
        for account, acc in info.accounts.items():
            flag = acc.flag
            line = (
                f"[red]{flag.flag}[/] since {local_datetime_text(flag.since, zone)}: {flag.reason}"
                if flag
                else "ok"
            )
            line += f"  session: {acc.session}"
            if acc.password_days_left is not None:
                line += f"  [yellow]password expires in {acc.password_days_left} day(s)[/]"
            out.print(f"  {account:<10} {line}")


def _counts(counts: dict[str, int] | None) -> str:
    """{"succeeded": 12, "system_failed": 1} -> "12 answered, 1 failed"."""
    if not counts:
        return "no lookups"
    words = []
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        try:
            label = ItemState(key).label
        except ValueError:
            label = key.replace("_", " ")
        words.append(f"{n} {label}")
    return ", ".join(words)


def _local(iso: str, zone: str) -> str:
    """An ISO time with its offset (the portal's zone) in the practice's local time."""
    return local_datetime_text(datetime.fromisoformat(iso), zone)


@portals_app.command("data")
def portals_data(
    as_json: Annotated[bool, typer.Option("--json", help="Print the data set as JSON.")] = True,
) -> None:
    """Print the mock portals' synthetic data set: the ground truth tests compare against."""
    settings = load_settings()
    cmd = fixture_portals.serve_command(settings, {}, ["--data-json"])
    result = subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603 - fixed argv
    sys.stdout.write(result.stdout.decode())
