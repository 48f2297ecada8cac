"""`payerbot creds ...`: portal logins, checked and stored, and the lockout guard."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from bots.engine.credentials import store_secrets
from bots.errors import ConfigurationError, PayerbotError
from bots.interfaces.cli.common import (
    EXIT_AUTH,
    EXIT_FAILURES,
    app,
    fail,
    out,
    settings_for,
)
from bots.ops import mock_portals as fixture_portals
from bots.ops.checks import run_checks
from bots.settings import load_settings
from bots.store import Store

creds_app = typer.Typer(no_args_is_help=True, help="Portal logins and the lockout guard.")
app.add_typer(creds_app, name="creds")


@creds_app.command("check")
def creds_check(
    portal: Annotated[str | None, typer.Argument(help="One portal id; default all.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Log in to each configured account (no lookups) and report ok or why not, and whether
    the kept session resumed or a new login was needed."""
    settings = settings_for()
    if portal is not None and portal not in settings.portals:
        raise fail(ConfigurationError(f"portal {portal!r} is not configured"))
    portal_ids = [portal] if portal else sorted(settings.portals)
    store = Store.open(settings)
    try:
        with fixture_portals.running(settings, portal_ids):
            checks = run_checks(settings, store, portal_ids)
    except PayerbotError as exc:
        raise fail(exc) from None
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps([c.as_dict() for c in checks]) + "\n")
    else:
        for c in checks:
            colour = "green" if c.ok else "red"
            detail = escape(c.detail)
            if c.session == "new_login_kept_session_not_resumed":
                detail = f"[yellow]{detail}[/]"  # a flow whose resume() may be wrong
            out.print(
                f"{c.portal:<16} {c.account:<10} [{colour}]{c.status:<11}[/] {detail}",
                soft_wrap=True,
            )
    if not all(c.ok for c in checks):
        raise typer.Exit(
            EXIT_AUTH if any(c.status in {"failed", "locked"} for c in checks) else EXIT_FAILURES
        )


@creds_app.command("set")
def creds_set(
    portal: Annotated[str, typer.Argument(help="Portal id, e.g. payerhub.")],
    account: Annotated[str, typer.Argument(help="Account name from config/portals.toml.")],
    use_keyring: Annotated[
        bool, typer.Option("--keyring", help="Store in the OS keyring, not the secrets folder.")
    ] = False,
    from_stdin: Annotated[
        bool,
        typer.Option(
            "--stdin",
            help="Read the username, password and TOTP seed (empty: none) as three lines "
            "from standard input, without prompts (a provisioning script, a secrets manager).",
        ),
    ] = False,
) -> None:
    """Store one account's login (prompted, never echoed, never on the command line)."""
    settings = load_settings()
    if portal not in settings.portals or account not in settings.portals[portal].accounts:
        raise fail(ConfigurationError(f"{portal}/{account} is not in config/portals.toml"))
    if from_stdin:
        lines = [*sys.stdin.read().splitlines(), "", "", ""][:3]
        values = dict(zip(("username", "password", "totp_seed"), lines, strict=True))
        if not values["username"].strip() or not values["password"]:
            raise fail(
                ConfigurationError(
                    "--stdin takes three lines: the username, the password, the TOTP seed "
                    "(an empty third line: none)"
                )
            )
        values["username"] = values["username"].strip()
        values["totp_seed"] = values["totp_seed"].strip()
    else:
        values = {
            "username": typer.prompt("username"),
            "password": typer.prompt("password", hide_input=True),
            "totp_seed": typer.prompt("TOTP seed (empty: none)", default="", hide_input=True),
        }
    try:
        where = store_secrets(
            settings,
            portal,
            account,
            {k: v for k, v in values.items() if v},
            target="keyring" if use_keyring else "files",
        )
    except PayerbotError as exc:
        raise fail(exc) from None
    out.print(f"{portal}/{account}: stored in {where}")


@creds_app.command("reset-lock")
def creds_reset_lock(
    portal: Annotated[str, typer.Argument(help="Portal id, e.g. payerhub.")],
    account: Annotated[
        str | None, typer.Option(help="One account; default all of the portal.")
    ] = None,
) -> None:
    """After a person fixed the login: let the bot use the account again."""
    settings = load_settings()
    store = Store.open(settings)
    try:
        cleared = store.clear_account_flags(portal, account)
    finally:
        store.close()
    out.print(f"{portal}: cleared {cleared} lock flag(s)")
