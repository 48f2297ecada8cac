"""The ``payerbot`` command line (typer + rich): runs, single lookups, mock portals, run history.

One module per sub-command group, each adding its commands to ``common.app``.
"""

from __future__ import annotations

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

__all__ = ["app", "main"]


def main() -> None:
    app()
