"""`payerbot schedule ...`: the overnight scheduler."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from bots.dates import iso_utc, local_datetime_text
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
from bots.store import JobRun, RunStatus

schedule_app = typer.Typer(no_args_is_help=True, help="The overnight scheduler.")
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("start")
def schedule_start(verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    """Run the scheduled jobs of config/schedule.toml until SIGTERM (a service's main).
    Its log (stderr) says each job's start, finish and catch-up in words; -v adds the
    batches' own lines."""
    settings = settings_for(verbose)
    if not verbose:
        _scheduler_lines_only()
    try:
        scheduler.start(settings)
    except PayerbotError as exc:
        raise fail(exc) from None


def _scheduler_lines_only() -> None:
    """Without -v: the scheduler's sentences (INFO) and every warning; not the batches'
    item-by-item lines."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_payerbot_console", False):
            handler.setLevel(logging.INFO)
            handler.addFilter(
                lambda r: r.levelno >= logging.WARNING or r.name == "payerbot.scheduler"
            )


@schedule_app.command("list")
def schedule_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Jobs and their next run times from the current config (local time), and the last
    executions. --json: times in UTC (ISO 8601)."""
    settings = load_settings()
    try:
        rows = scheduler.list_jobs(settings)
        history = scheduler.job_history(settings, limit=10)
    except PayerbotError as exc:
        raise fail(exc) from None
    if as_json:
        history_rows = [_history_json(h) for h in history]
        sys.stdout.write(json.dumps({"jobs": rows, "history": history_rows}, default=str) + "\n")
        return
    zone = settings.timezone
    table = Table(title=f"Scheduled jobs (times in {zone})", title_justify="left")
    table.add_column("job", no_wrap=True)
    table.add_column("what", overflow="fold")
    table.add_column("when (cron)", overflow="fold")
    table.add_column("next run", overflow="fold", min_width=10)
    for row in rows:
        if not row["enabled"]:
            nxt = "disabled"
        else:
            nxt = row["next_run_local"] or "-"
            if row["overdue_since"]:
                missed = local_datetime_text(datetime.fromisoformat(row["overdue_since"]), zone)
                nxt += f" (missed {missed}: runs when the scheduler starts)"
        what = scheduler.SOURCE_WORDS.get(row["source"], row["source"])
        table.add_row(row["job"], what, row["cron"], nxt)
    out.print(table)
    minutes = settings.schedule.drop_folder_check_minutes
    if minutes and any(r["source"] == "drop_folder" and r["enabled"] for r in rows):
        out.print(
            f"The drop folder ({settings.drop_folder}) is also checked every {minutes:g} min "
            "while the scheduler runs.",
            soft_wrap=True,
        )
    if history:
        done = Table(title="Last executions", title_justify="left")
        done.add_column("started", overflow="fold", min_width=10)
        done.add_column("job", no_wrap=True)
        done.add_column("status", no_wrap=True)
        done.add_column("message", overflow="fold")
        for h in history:
            done.add_row(local_datetime_text(h.started_at, zone), h.job, h.status, h.message or "")
        out.print(done)


def _history_json(h: JobRun) -> dict[str, object]:
    data = h.as_dict()
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = iso_utc(value)
    return data


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
