"""The ``payerbot`` command line (typer + rich): runs, single lookups, mock portals, run history.

One module per sub-command group, each adding its commands to ``common.app``.
"""

from __future__ import annotations

import sys
from typing import Any

from bots.interfaces.cli.common import EXIT_CONFIG, err

__all__ = ["app", "main"]


def _commands(argv: list[str]) -> Any:
    """The ``payerbot`` app with its commands: only the lookup ones for `payerbot lookup`
    (a lookup a running service answers starts in a fraction of the time), else all."""
    if argv[:1] == ["lookup"]:
        from bots.interfaces.cli import lookup
    else:
        from bots.interfaces.cli import (  # noqa: F401 - imported for the commands they add
            batches,
            console,
            creds,
            lookup,
            ops,
            portals,
            queue,
            runs,
            schedule,
            workbook,
        )
    from bots.interfaces.cli.common import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # `from bots.interfaces.cli import app`: every command
        return _commands([])
    raise AttributeError(name)


def main() -> None:
    """The ``payerbot`` command; a configuration mistake found on the way (a TOML syntax
    error, an unknown key, a wrong type) ends it with one line on stderr, exit 2."""
    import os

    from pydantic import ValidationError
    from rich.markup import escape

    from bots.config_errors import explain
    from bots.errors import ConfigurationError

    app = _commands(sys.argv[1:])
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[bold red]configuration error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(EXIT_CONFIG) from None
    except ValidationError as exc:
        if exc.title != "Settings" and not exc.title.endswith("Settings"):
            raise
        said = explain(exc, os.environ)
        err.print(f"[bold red]configuration error:[/] {escape(said)}", soft_wrap=True)
        raise SystemExit(EXIT_CONFIG) from None
