"""`payerbot run ...`, `demo` and `worker`: batches from worklists, here or by the fleet."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bots.engine import fleet as fleet_mod
from bots.engine.runs import RunSummary
from bots.errors import PayerbotError
from bots.followups.queue import list_followups as fq_list
from bots.interfaces.cli.common import (
    EXIT_CODES,
    EXIT_FAILURES,
    EXIT_NO_ROWS,
    EXIT_NOTHING_LOOKED_UP,
    app,
    err,
    fail,
    nothing_done,
    out,
    progress_bar,
    settings_for,
    until_signalled,
)
from bots.models import LookupKind
from bots.ops import mock_portals as fixture_portals
from bots.outputs.run_views import print_run_summary
from bots.services import batches, fleet_runs
from bots.settings import Settings
from bots.store import Store

run_app = typer.Typer(
    no_args_is_help=True, help="Run a batch of lookups from a worklist.", epilog=EXIT_CODES
)
app.add_typer(run_app, name="run")


def run_worklist(
    settings: Settings, kind: LookupKind, worklist: Path, *, quiet: bool = False
) -> batches.BatchResult:
    """Import a worklist, run it, write its workbooks; the engine of `run` and `demo`."""
    progress, update = progress_bar(settings)
    with progress, fixture_portals.running(settings):
        result = batches.run_worklist_file(
            settings, kind, worklist, progress=update, wrap=until_signalled
        )
    assert result.import_report is not None
    if result.import_report.problem is None:  # a file-level problem: one line, at the end
        for error in result.import_report.errors:
            err.print(
                f"[yellow]skipped[/] {escape(error.source_file)} row {error.source_row}"
                f"{f' column {error.column}' if error.column else ''}: {escape(error.reason)}",
                soft_wrap=True,
            )
    if not quiet:
        print_batch(result)
    return result


def exit_for(result: batches.BatchResult) -> typer.Exit | None:
    """The batch's exit (README "Exit codes"), its reason said in one line; None: 0."""
    report = result.import_report
    why_no_rows = report.why_nothing_runs() if report is not None else None
    if why_no_rows is not None:
        return nothing_done(EXIT_NO_ROWS, why_no_rows)
    waiting = batches.nothing_looked_up(result.summary)
    if waiting is not None:
        return nothing_done(EXIT_NOTHING_LOOKED_UP, waiting)
    return None if result.summary.ok else typer.Exit(EXIT_FAILURES)


def print_batch(result: batches.BatchResult) -> None:
    print_run_summary(out, result.summary, result.outcomes, result.run_sheet)
    out.print(f"specialists' workbook: {result.workbook.path}", soft_wrap=True)
    for message in result.workbook.messages():
        out.print(f"[yellow]{message}[/]", soft_wrap=True)


FleetOption = Annotated[
    bool,
    typer.Option(
        "--fleet",
        help="Only queue the run for `payerbot worker` processes (a shared PostgreSQL store).",
    ),
]


@run_app.command("eligibility")
def run_eligibility(
    worklist: Annotated[Path, typer.Option(help="Appointments export (CSV or XLSX).")],
    fleet: FleetOption = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Check eligibility & benefits for every appointment in a worklist."""
    _run(LookupKind.ELIGIBILITY, worklist, verbose, fleet)


@run_app.command("claim-status")
def run_claim_status(
    worklist: Annotated[Path, typer.Option(help="Open-claims report (CSV or XLSX).")],
    fleet: FleetOption = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Check the status of every claim in an open-claims report."""
    _run(LookupKind.CLAIM_STATUS, worklist, verbose, fleet)


def _enqueue(settings: Settings, kind: LookupKind, worklist: Path) -> None:
    store = Store.open(settings)
    try:
        queued = fleet_runs.enqueue_worklist(settings, store, kind, worklist)
        run = store.get_run(queued.run_id)
    finally:
        store.close()
    if queued.why_nothing_runs is not None:
        raise nothing_done(EXIT_NO_ROWS, queued.why_nothing_runs)
    parts = ", ".join(f"{n} {d}" for d, n in sorted(queued.dispositions.items()))
    out.print(
        f"run {queued.run_id}: {queued.items} item(s) queued for the fleet ({parts or 'none'}); "
        f"{queued.import_errors} row(s) rejected; status {run.status if run else None}. "
        f"Follow it with `payerbot runs show {queued.run_id}`.",
        soft_wrap=True,
    )


def _run(kind: LookupKind, worklist: Path, verbose: bool, fleet: bool = False) -> None:
    settings = settings_for(verbose)
    try:
        if fleet:
            _enqueue(settings, kind, worklist)
            return
        result = run_worklist(settings, kind, worklist)
    except PayerbotError as exc:
        raise fail(exc) from None
    code = exit_for(result)
    if code is not None:
        raise code


@app.command("worker")
def worker(
    sessions: Annotated[
        int,
        typer.Option(help="Portal sessions this worker may hold (default: two per core)."),
    ] = 0,
    portal: Annotated[
        list[str] | None, typer.Option(help="Work only these portals (repeatable).")
    ] = None,
    exit_when_idle: Annotated[
        float | None,
        typer.Option(help="Exit after this many seconds with no fleet work (default: never)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Work fleet runs from the shared store until stopped (SIGTERM: lookups in flight
    finish, accounts are let go, exit 0). Run any number, on any number of machines."""
    settings = settings_for(verbose)
    store = Store.open(settings)
    if store.is_sqlite:
        err.print(
            "[yellow]note:[/] the store is SQLite: workers on this machine only "
            "(set PAYERBOT_DATABASE_URL to a PostgreSQL database to scale out)"
        )
    w = fleet_runs.new_worker(
        settings,
        store,
        sessions=sessions or fleet_mod.default_sessions(),
        portals=set(portal) if portal else None,
        exit_when_idle=exit_when_idle,
        notice=lambda m: err.print(m, soft_wrap=True),
    )

    async def main() -> fleet_mod.WorkerStats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.request_stop)
        return await w.run()

    try:
        # The bundled mock portals (demo, tests) are started if down and their synthetic
        # logins provisioned, as for a batch; real portals are left alone.
        with fixture_portals.running(settings, sorted(portal or settings.portals)):
            stats = asyncio.run(main())
    except PayerbotError as exc:
        raise fail(exc) from None
    finally:
        store.close()
    out.print(
        f"worker done: {stats.lookups} lookup(s), {sum(stats.logins.values())} login(s), "
        f"{len(stats.runs_finished)} run(s) finished"
    )


@app.command("demo")
def demo(verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    """The overnight batch on the bundled sample worklists against the bundled mock portals."""
    settings = settings_for(verbose)
    samples = settings.fixtures_dir / "worklists"
    summaries: list[RunSummary] = []
    try:
        with fixture_portals.running(settings):
            for kind, name in (
                (LookupKind.ELIGIBILITY, "appointments.csv"),
                (LookupKind.CLAIM_STATUS, "open_claims.csv"),
            ):
                out.rule(f"{kind.value.replace('_', ' ')}: {name}")
                summaries.append(run_worklist(settings, kind, samples / name).summary)
    except PayerbotError as exc:
        raise fail(exc) from None
    store = Store.open(settings)
    try:
        open_followups = fq_list(store, status=["open", "in progress"])
        last = store.get_run(summaries[-1].run_id)
        workbook = ((last.notes if last else None) or {}).get("workbook")
    finally:
        store.close()
    total = sum(s.lookups for s in summaries)
    seconds = sum(s.duration_seconds for s in summaries)
    out.print(f"\n[bold]Specialists' workbook:[/] {workbook}")
    out.print(
        f"[bold]Follow-ups open:[/] {len(open_followups)} "
        "(`payerbot queue list`, or the workbook's Follow-ups sheet)"
    )
    out.print(f"[bold]Run logs:[/] {', '.join(str(s.log_path) for s in summaries)}")
    out.print(
        f"{total} lookups in {seconds:.1f} s ({total / seconds * 60 if seconds else 0:.0f}/min)"
    )
    if not all(s.ok for s in summaries):
        raise typer.Exit(EXIT_FAILURES)
