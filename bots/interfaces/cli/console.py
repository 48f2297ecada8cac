"""`payerbot serve` and `payerbot users ...`: the web console and its users."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bots.errors import PayerbotError
from bots.interfaces.cli.common import (
    app,
    err,
    fail,
    out,
    settings_for,
    with_store,
)
from bots.ops import mock_portals as fixture_portals

users_app = typer.Typer(no_args_is_help=True, help="Console users (specialists, supervisors).")
app.add_typer(users_app, name="users")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default console.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default console.port).")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """The web console for specialists and supervisors (http://127.0.0.1:8700 by default)."""
    import uvicorn

    from bots.interfaces.console.app import create_app

    settings = settings_for(verbose)
    host = host or settings.console.host
    port = port if port is not None else settings.console.port
    if host not in {"127.0.0.1", "localhost", "::1"} and not settings.console.secure_cookies:
        err.print(
            "[yellow]the console is reachable from the network without TLS: put an HTTPS "
            "proxy in front and set PAYERBOT_CONSOLE__SECURE_COOKIES=true[/]"
        )
    # the address it serves at is the one its links (the workbooks' evidence) default to
    bound = settings.console.model_copy(update={"host": host, "port": port})
    settings = settings.model_copy(update={"console": bound})
    try:
        application = create_app(settings)
        with fixture_portals.running(settings):
            out.print(f"payerbot console on http://{host}:{port}", soft_wrap=True)
            uvicorn.run(
                application,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                # the client's address (the login throttle counts by it) from a proxy's
                # X-Forwarded-For only when that proxy is named; nobody else may set it
                proxy_headers=bool(settings.console.trusted_proxy),
                forwarded_allow_ips=settings.console.trusted_proxy or None,
            )
    except PayerbotError as exc:
        raise fail(exc) from None


def _password() -> str:
    """A new password: prompted twice (hidden) at a terminal, else one line of stdin
    (`... | payerbot users passwd dana`); never a command-line argument (ps, history)."""
    if sys.stdin.isatty():
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="specialist or supervisor.")] = "specialist",
) -> None:
    """Add a console user, or set a new password / role (the password is prompted)."""
    from bots.interfaces.console import users

    password = _password()
    with_store(lambda store: users.add_user(store, username, password, role))
    out.print(f"user {username}: {role}")


@users_app.command("passwd")
def users_passwd(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """A new password for a console user (prompted, or one line of stdin); every session of
    theirs ends."""
    from bots.interfaces.console import users

    password = _password()
    with_store(lambda store: users.change_password(store, username, password))
    out.print(f"user {username}: new password; logged out everywhere")


@users_app.command("remove")
def users_remove(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Remove a console user; their sessions end at once (the audit log keeps the name)."""
    from bots.interfaces.console import users

    with_store(lambda store: users.remove_user(store, username))
    out.print(f"user {username}: removed; logged out everywhere")


@users_app.command("list")
def users_list() -> None:
    """Console users and their roles."""
    from bots.interfaces.console import users

    for row in with_store(users.list_users):
        state = " (disabled)" if row.disabled else ""
        out.print(f"{row.username:<20} {row.role}{state}")
