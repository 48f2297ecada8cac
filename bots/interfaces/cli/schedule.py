"""`payerbot schedule ...`: the overnight scheduler."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from bots.errors import ConfigurationError, PayerbotError
from bots.interfaces import scheduler
from bots.interfaces.cli.common import (
    EXIT_FAILURES,
    app,
    fail,
    out,
    settings_for,
)
from bots.settings import load_settings
from bots.store import RunStatus

schedule_app = typer.Typer(no_args_is_help=True, help="The overnight scheduler.")
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("start")
def schedule_start(verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    """Run the scheduled jobs of config/schedule.toml until SIGTERM (a service's main)."""
    settings = settings_for(verbose)
    try:
        for row in scheduler.list_jobs(settings):
            out.print(f"{row['job']:<20} next {row['next_run'] or '-'}", soft_wrap=True)
        scheduler.start(settings)
    except PayerbotError as exc:
        raise fail(exc) from None


@schedule_app.command("list")
def schedule_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Jobs and their next run times (local time), and the last executions."""
    settings = load_settings()
    try:
        rows = scheduler.list_jobs(settings)
        history = scheduler.job_history(settings, limit=10)
    except PayerbotError as exc:
        raise fail(exc) from None
    if as_json:
        history_rows = [h.as_dict() for h in history]
        sys.stdout.write(json.dumps({"jobs": rows, "history": history_rows}, default=str) + "\n")
        return
    for row in rows:
        state = "" if row["enabled"] else " (disabled)"
        out.print(
            f"{row['job']:<20} {row['cron']:<16} {row['source']:<20} next {row['next_run'] or '-'}"
            f"{state}",
            soft_wrap=True,
        )
    for h in history:
        out.print(
            f"  {h.started_at:%Y-%m-%d %H:%M} {h.job:<20} {h.status:<9} {h.message or ''}",
            soft_wrap=True,
        )


@schedule_app.command("run-now")
def schedule_run_now(
    job: Annotated[str, typer.Argument(help="Job name from config/schedule.toml.")],
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Do one job now, in this process (its batches, then the digest)."""
    settings = settings_for(verbose)
    if job not in settings.schedule.jobs:
        raise fail(ConfigurationError(f"no job {job!r} in config/schedule.toml"))
    job_run = scheduler.run_job(job, settings)
    (row,) = [h for h in scheduler.job_history(settings, 50) if h.id == job_run]
    out.print(f"{job}: {row.status} - {row.message}", soft_wrap=True)
    if row.report_path:
        out.print(f"digest: {row.report_path}", soft_wrap=True)
    if row.status != RunStatus.FINISHED:
        raise typer.Exit(EXIT_FAILURES)
