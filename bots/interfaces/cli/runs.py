"""`payerbot runs ...`: what ran and how it went; resume and stop."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from bots.errors import ConfigurationError, PayerbotError
from bots.interfaces.cli.batches import print_batch
from bots.interfaces.cli.common import (
    EXIT_FAILURES,
    app,
    fail,
    out,
    progress_bar,
    settings_for,
    until_signalled,
)
from bots.ops import mock_portals as fixture_portals
from bots.outputs.report import run_detail
from bots.outputs.run_views import detail_json, print_run_detail, run_json, runs_table
from bots.services import batches
from bots.settings import load_settings
from bots.store import Store

runs_app = typer.Typer(no_args_is_help=True, help="What ran, and how it went.")
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent runs, newest first, with their counts."""
    settings = load_settings()
    store = Store.open(settings)
    try:
        rows = store.list_runs(limit)
    finally:
        store.close()
    if as_json:  # UTC, ISO 8601 with offset; the table: local time
        sys.stdout.write(json.dumps([run_json(r) for r in rows], default=str) + "\n")
    else:
        out.print(runs_table(rows, settings.timezone))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id (see `runs list`).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run: counts per state and outcome, failures with their reason, durations."""
    settings = load_settings()
    store = Store.open(settings)
    try:
        run = store.get_run(run_id)
        if run is None:
            raise fail(ConfigurationError(f"no run {run_id!r}"))
        items = store.run_outcomes(run_id)
        detail = run_detail(run, items)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(detail_json(detail, items, run), default=str) + "\n")
    else:
        print_run_detail(out, run, detail, items, settings.timezone)


@runs_app.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish.")],
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Finish a crashed or stopped run: nothing lost, nothing answered twice."""
    settings = settings_for(verbose)
    store = Store.open(settings)
    try:
        portal_ids = sorted({i.portal for i in store.run_outcomes(run_id)})
        progress, update = progress_bar(settings)
        with fixture_portals.running(settings, portal_ids), progress:
            result = batches.resume_run(
                settings, store, run_id, progress=update, wrap=until_signalled
            )
        print_batch(result)
        summary = result.summary
    except PayerbotError as exc:
        raise fail(exc) from None
    finally:
        store.close()
    if not summary.ok:
        raise typer.Exit(EXIT_FAILURES)


@runs_app.command("stop")
def runs_stop(run_id: Annotated[str, typer.Argument(help="The running run to stop.")]) -> None:
    """Ask a run (in any process) to finish its lookups in flight and stop; resumable."""
    settings = load_settings()
    store = Store.open(settings)
    try:
        asked = store.request_stop(run_id)
    finally:
        store.close()
    out.print(f"run {run_id}: " + ("stopping" if asked else "not running"))
    if not asked:
        raise typer.Exit(EXIT_FAILURES)
