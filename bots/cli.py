"""The ``payerbot`` command line (typer + rich): runs, single lookups, mock portals, run history."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Coroutine
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bots import batches, fixture_portals, health, logs, scheduler
from bots import fleet as fleet_mod
from bots.checks import run_checks
from bots.credentials import store_secrets
from bots.errors import AuthenticationError, ConfigurationError, PayerbotError
from bots.estimates import estimate_patient_cost
from bots.followups import queue as followup_queue
from bots.followups.queue import list_followups as fq_list
from bots.models import ClaimStatusQuery, EligibilityQuery, EligibilityResult, LookupKind
from bots.outputs.report import (
    print_followup,
    print_followups,
    print_lookup,
    print_run_detail,
    print_run_summary,
    run_detail,
    runs_table,
)
from bots.runner import Runner, RunSummary
from bots.settings import Settings, load_settings
from bots.store import Store, migrate
from bots.store.core import open_engine
from bots.worklists import PayerDirectory

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help=__doc__,
    pretty_exceptions_show_locals=False,  # a crash must not print PHI or secrets held in locals
)
portals_app = typer.Typer(no_args_is_help=True, help="The bundled mock payer portals.")
run_app = typer.Typer(no_args_is_help=True, help="Run a batch of lookups from a worklist.")
lookup_app = typer.Typer(no_args_is_help=True, help="One lookup, answered in seconds.")
runs_app = typer.Typer(no_args_is_help=True, help="What ran, and how it went.")
app.add_typer(portals_app, name="portals")
app.add_typer(run_app, name="run")
app.add_typer(lookup_app, name="lookup")
creds_app = typer.Typer(no_args_is_help=True, help="Portal logins and the lockout guard.")
app.add_typer(runs_app, name="runs")
app.add_typer(creds_app, name="creds")
queue_app = typer.Typer(no_args_is_help=True, help="The specialists' follow-up queue.")
app.add_typer(queue_app, name="queue")
schedule_app = typer.Typer(no_args_is_help=True, help="The overnight scheduler.")
app.add_typer(schedule_app, name="schedule")
users_app = typer.Typer(no_args_is_help=True, help="Console users (specialists, supervisors).")
db_app = typer.Typer(no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

out = Console()
err = Console(stderr=True)

EXIT_FAILURES, EXIT_CONFIG, EXIT_AUTH = 1, 2, 3


def _settings(verbose: bool = False) -> Settings:
    settings = load_settings()
    logs.configure(settings.log_level, console_level="INFO" if verbose else "WARNING")
    return settings


def _fail(exc: PayerbotError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(EXIT_AUTH if isinstance(exc, AuthenticationError) else EXIT_CONFIG)


# --- mock portals -------------------------------------------------------------------------


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
    settings = _settings()
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
    proc = fixture_portals.start(settings, dict(wanted.values()), knobs)
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
    store = Store(settings.store_url, settings.queue)
    try:
        status = health.portal_status(settings, store)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(status, default=str) + "\n")
        return
    for portal_id, info in status.items():
        window = info["next_maintenance"]
        out.print(
            f"[bold]{portal_id}[/] {info['title']}  last success: {info.get('last_success')}"
            f"  last 24 h: {info.get('last_24h', {})}"
            + (f"  next maintenance: {window['start']} - {window['end']}" if window else "")
        )
        for account, acc in info["accounts"].items():
            flag = acc["flag"]
            line = (
                f"[red]{flag['flag']}[/] since {flag['since']:%Y-%m-%d %H:%M} UTC: {flag['reason']}"
                if flag
                else "ok"
            )
            line += f"  session: {acc['session']}"
            if acc["password_days_left"] is not None:
                line += f"  [yellow]password expires in {acc['password_days_left']} day(s)[/]"
            out.print(f"  {account:<10} {line}")


@creds_app.command("check")
def creds_check(
    portal: Annotated[str | None, typer.Argument(help="One portal id; default all.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Log in to each configured account (no lookups) and report ok or why not."""
    settings = _settings()
    if portal is not None and portal not in settings.portals:
        raise _fail(ConfigurationError(f"portal {portal!r} is not configured"))
    portal_ids = [portal] if portal else sorted(settings.portals)
    store = Store(settings.store_url, settings.queue)
    try:
        with fixture_portals.running(settings, portal_ids):
            checks = run_checks(settings, store, portal_ids)
    except PayerbotError as exc:
        raise _fail(exc) from None
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps([c.as_dict() for c in checks]) + "\n")
    else:
        for c in checks:
            colour = "green" if c.ok else "red"
            out.print(f"{c.portal:<16} {c.account:<10} [{colour}]{c.status:<11}[/] {c.detail}")
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
) -> None:
    """Store one account's login (prompted, never echoed, never on the command line)."""
    settings = load_settings()
    if portal not in settings.portals or account not in settings.portals[portal].accounts:
        raise _fail(ConfigurationError(f"{portal}/{account} is not in config/portals.toml"))
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
        raise _fail(exc) from None
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
    store = Store(settings.store_url, settings.queue)
    try:
        cleared = store.clear_account_flags(portal, account)
    finally:
        store.close()
    out.print(f"{portal}: cleared {cleared} lock flag(s)")


@portals_app.command("data")
def portals_data(
    as_json: Annotated[bool, typer.Option("--json", help="Print the data set as JSON.")] = True,
) -> None:
    """Print the mock portals' synthetic data set: the ground truth tests compare against."""
    settings = load_settings()
    cmd = fixture_portals.serve_command(settings, {}, ["--data-json"])
    result = subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603
    sys.stdout.write(result.stdout.decode())


# --- batches ------------------------------------------------------------------------------


def _progress() -> tuple[Progress, Any]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    task = progress.add_task("lookups", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


def run_worklist(
    settings: Settings, kind: LookupKind, worklist: Path, *, quiet: bool = False
) -> RunSummary:
    """Import a worklist, run it, write its workbooks; the engine of `run` and `demo`."""
    progress, update = _progress()
    with progress:
        result = batches.run_worklist_file(
            settings, kind, worklist, progress=update, wrap=_until_signalled
        )
    assert result.import_report is not None
    for error in result.import_report.errors:
        err.print(
            f"[yellow]skipped[/] {error.source_file} row {error.source_row}"
            f"{f' column {error.column}' if error.column else ''}: {error.reason}"
        )
    if not quiet:
        _print_batch(result)
    return result.summary


def _print_batch(result: batches.BatchResult) -> None:
    print_run_summary(out, result.summary, result.outcomes, result.run_sheet)
    out.print(f"specialists' workbook: {result.workbook.path}", soft_wrap=True)
    for message in result.workbook.messages():
        out.print(f"[yellow]{message}[/]", soft_wrap=True)


def _until_signalled(runner: Runner, job: Coroutine[Any, Any, RunSummary]) -> RunSummary:
    """Run the job; SIGTERM or Ctrl-C lets the lookups in flight finish and leaves the
    rest resumable (`payerbot runs resume RUN`)."""

    async def main() -> RunSummary:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.request_stop)
        try:
            return await job
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


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
    store = Store(settings.store_url, settings.queue)
    try:
        queued = fleet_mod.enqueue_worklist(settings, store, kind, worklist)
        run = store.get_run(queued.run_id) or {}
    finally:
        store.close()
    parts = ", ".join(f"{n} {d}" for d, n in sorted(queued.dispositions.items()))
    out.print(
        f"run {queued.run_id}: {queued.items} item(s) queued for the fleet ({parts or 'none'}); "
        f"{queued.import_errors} row(s) rejected; status {run.get('status')}. "
        f"Follow it with `payerbot runs show {queued.run_id}`.",
        soft_wrap=True,
    )


def _run(kind: LookupKind, worklist: Path, verbose: bool, fleet: bool = False) -> None:
    settings = _settings(verbose)
    try:
        if fleet:
            _enqueue(settings, kind, worklist)
            return
        summary = run_worklist(settings, kind, worklist)
    except PayerbotError as exc:
        raise _fail(exc) from None
    if not summary.ok:
        raise typer.Exit(EXIT_FAILURES)


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
    settings = _settings(verbose)
    store = Store(settings.store_url, settings.queue)
    if store.is_sqlite:
        err.print(
            "[yellow]note:[/] the store is SQLite: workers on this machine only "
            "(set PAYERBOT_DATABASE_URL to a PostgreSQL database to scale out)"
        )
    w = fleet_mod.Worker(
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
        raise _fail(exc) from None
    finally:
        store.close()
    out.print(
        f"worker done: {stats.lookups} lookup(s), {sum(stats.logins.values())} login(s), "
        f"{len(stats.runs_finished)} run(s) finished"
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Bring the store's schema to the newest revision (run once per release, any machine)."""
    settings = _settings()
    engine = open_engine(settings.store_url)
    try:
        before, after = migrate.upgrade(engine, revision)
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"{where}: schema already at {after}")
    else:
        out.print(f"{where}: schema upgraded {before or 'empty'} -> {after}")


@db_app.command("current")
def db_current() -> None:
    """The schema revision of the store, and the one this payerbot needs."""
    settings = _settings()
    engine = open_engine(settings.store_url)
    try:
        with engine.connect() as conn:
            current = migrate.current_revision(conn)
    finally:
        engine.dispose()
    state = "up to date" if current == migrate.HEAD else "run `payerbot db upgrade`"
    out.print(f"schema {current or 'none'}; this payerbot needs {migrate.HEAD}: {state}")
    if current != migrate.HEAD:
        raise typer.Exit(1)


@app.command("demo")
def demo(verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    """The overnight batch on the bundled sample worklists against the bundled mock portals."""
    settings = _settings(verbose)
    samples = settings.fixtures_dir / "worklists"
    summaries: list[RunSummary] = []
    try:
        with fixture_portals.running(settings):
            for kind, name in (
                (LookupKind.ELIGIBILITY, "appointments.csv"),
                (LookupKind.CLAIM_STATUS, "open_claims.csv"),
            ):
                out.rule(f"{kind.value.replace('_', ' ')}: {name}")
                summaries.append(run_worklist(settings, kind, samples / name))
    except PayerbotError as exc:
        raise _fail(exc) from None
    store = Store(settings.store_url, settings.queue)
    try:
        open_followups = fq_list(store, status=["open", "in progress"])
        workbook = (store.get_run(summaries[-1].run_id) or {}).get("notes", {}).get("workbook")
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


# --- single lookups -----------------------------------------------------------------------


def _lookup(query: EligibilityQuery | ClaimStatusQuery, as_json: bool, verbose: bool) -> None:
    settings = _settings(verbose)
    store = Store(settings.store_url, settings.queue)
    try:
        portal_id = settings.portal_for_payer(query.payer_id)
        with fixture_portals.running(settings, [portal_id]):
            runner = Runner(
                settings, store, notice=lambda m: err.print(f"[yellow]{m}[/]", soft_wrap=True)
            )
            summary = asyncio.run(
                runner.run(
                    LookupKind(query.kind),
                    [(None, query)],
                    trigger="lookup",
                    force=True,
                )
            )
        item = store.run_outcomes(summary.run_id)[0]
        followups = [
            f for f in fq_list(store, status=["open", "in progress"]) if f["item_id"] == item["id"]
        ]
    except PayerbotError as exc:
        raise _fail(exc) from None
    finally:
        store.close()
    answer = {
        "run_id": summary.run_id,
        "item_id": item["id"],
        "state": item["state"],
        "error": item["last_error_code"],
        "message": item["last_error_message"],
        "reason_code": item["reason_code"],
        "evidence": item["evidence_path"],
        "trace": item["trace_path"],
        "result": item["payload"],
        "estimate": _estimate(item),
        "followups": [
            {"id": f["id"], "rule": f["rule"], "reason": f["reason"], "action": f["action"]}
            for f in followups
        ],
    }
    if as_json:
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
    else:
        print_lookup(out, answer)
    if item["state"] != "succeeded":
        raise typer.Exit(
            EXIT_AUTH if item["last_error_code"] == AuthenticationError.code() else EXIT_FAILURES
        )


def _estimate(item: dict[str, Any]) -> dict[str, Any] | None:
    """The patient's estimated share for an answered eligibility lookup (see docs/estimates.md)."""
    if item["kind"] != "eligibility" or item["state"] != "succeeded" or not item["payload"]:
        return None
    charge = item["query"].get("expected_charge")
    est = estimate_patient_cost(
        EligibilityResult.model_validate(item["payload"]),
        item["query"].get("service_type") or "30",
        Decimal(str(charge)) if charge is not None else None,
    )
    return {"amount": est.amount, "summary": est.summary, "steps": list(est.steps)}


def _payer_id(settings: Settings, payer: str) -> str:
    payer_id = PayerDirectory(settings).resolve(payer)
    if payer_id is None:
        raise _fail(ConfigurationError(f"unknown payer {payer!r}: see config/portals.toml"))
    return payer_id


@lookup_app.command("eligibility")
def lookup_eligibility(
    payer: Annotated[str, typer.Option(help="Payer id or name, e.g. ACME.")],
    member_id: Annotated[str, typer.Option(help="Member ID as on the card.")],
    dob: Annotated[str, typer.Option(help="Date of birth, YYYY-MM-DD.")],
    dos: Annotated[
        str | None, typer.Option(help="Date of service, YYYY-MM-DD (default today).")
    ] = None,
    service_type: Annotated[
        str, typer.Option(help="X12 service type code (98 office visit, MH, UC...).")
    ] = "30",
    charge: Annotated[
        str | None, typer.Option(help="Expected charge, for the patient's cost estimate.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Is this member covered, and what will they owe?"""
    settings = load_settings()
    query = EligibilityQuery(
        payer_id=_payer_id(settings, payer),
        member_id=member_id.strip().upper(),
        dob=date.fromisoformat(dob),
        date_of_service=date.fromisoformat(dos) if dos else date.today(),
        service_type=service_type,
        expected_charge=Decimal(charge) if charge else None,
    )
    _lookup(query, as_json, verbose)


@lookup_app.command("claim-status")
def lookup_claim_status(
    payer: Annotated[str, typer.Option(help="Payer id or name, e.g. ACME.")],
    claim_number: Annotated[
        str, typer.Option(help="Payer claim number or patient account number.")
    ],
    member_id: Annotated[
        str | None, typer.Option(help="Member ID, checked against the claim.")
    ] = None,
    dob: Annotated[
        str | None, typer.Option(help="Date of birth, checked against the claim.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Where is this claim: paid, denied (why), pending?"""
    settings = load_settings()
    query = ClaimStatusQuery(
        payer_id=_payer_id(settings, payer),
        claim_number=claim_number.strip(),
        member_id=member_id.strip().upper() if member_id else None,
        dob=date.fromisoformat(dob) if dob else None,
    )
    _lookup(query, as_json, verbose)


# --- history ------------------------------------------------------------------------------


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent runs, newest first, with their counts."""
    settings = load_settings()
    store = Store(settings.store_url, settings.queue)
    try:
        rows = store.list_runs(limit)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
    else:
        out.print(runs_table(rows))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id (see `runs list`).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run: counts per state and outcome, failures with their reason, durations."""
    settings = load_settings()
    store = Store(settings.store_url, settings.queue)
    try:
        run = store.get_run(run_id)
        if run is None:
            raise _fail(ConfigurationError(f"no run {run_id!r}"))
        detail = run_detail(run, store.run_outcomes(run_id))
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(detail, default=str) + "\n")
    else:
        print_run_detail(out, detail)


@runs_app.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish.")],
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Finish a crashed or stopped run: nothing lost, nothing answered twice."""
    settings = _settings(verbose)
    store = Store(settings.store_url, settings.queue)
    try:
        portal_ids = sorted({i["portal"] for i in store.run_outcomes(run_id)})
        progress, update = _progress()
        with fixture_portals.running(settings, portal_ids), progress:
            runner = Runner(settings, store, progress=update)
            summary = _until_signalled(runner, runner.resume(run_id))
        _print_batch(batches.finish_outputs(settings, store, summary))
    except PayerbotError as exc:
        raise _fail(exc) from None
    finally:
        store.close()
    if not summary.ok:
        raise typer.Exit(EXIT_FAILURES)


@runs_app.command("stop")
def runs_stop(run_id: Annotated[str, typer.Argument(help="The running run to stop.")]) -> None:
    """Ask a run (in any process) to finish its lookups in flight and stop; resumable."""
    settings = load_settings()
    store = Store(settings.store_url, settings.queue)
    try:
        asked = store.request_stop(run_id)
    finally:
        store.close()
    out.print(f"run {run_id}: " + ("stopping" if asked else "not running"))
    if not asked:
        raise typer.Exit(EXIT_FAILURES)


# --- the follow-up queue ----------------------------------------------------------------------


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _with_store(fn: Any) -> Any:
    settings = load_settings()
    store = Store(settings.store_url, settings.queue)
    try:
        return fn(store)
    except PayerbotError as exc:
        raise _fail(exc) from None
    finally:
        store.close()


@queue_app.command("list")
def queue_list(
    status: Annotated[
        list[str] | None,
        typer.Option(help="open, in progress, done (repeatable); default not done"),
    ] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this person's.")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only mine ($USER).")] = False,
    priority: Annotated[str | None, typer.Option(help="high, medium or low.")] = None,
    rule: Annotated[str | None, typer.Option(help="One rule, e.g. claim_denied.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Follow-ups to work, open and high priority first."""
    rows = _with_store(
        lambda store: followup_queue.list_followups(
            store,
            status=status or ["open", "in progress"],
            assignee=_actor(None) if mine else assignee,
            priority=priority,
            rule=rule,
        )
    )
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str) + "\n")
        return
    print_followups(out, rows)


@queue_app.command("show")
def queue_show(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One follow-up with its evidence and history."""
    row = _with_store(lambda store: followup_queue.get_followup(store, followup_id))
    if as_json:
        sys.stdout.write(json.dumps(row, default=str) + "\n")
    else:
        print_followup(out, row)


@queue_app.command("assign")
def queue_assign(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    assignee: Annotated[str, typer.Argument(help="Who works it; '-' to unassign.")],
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is doing this; default $USER.")
    ] = None,
) -> None:
    """Give a follow-up to someone (an open one becomes in progress)."""
    row = _with_store(
        lambda store: followup_queue.assign(
            store, followup_id, None if assignee == "-" else assignee, _actor(actor)
        )
    )
    out.print(f"follow-up {row['id']}: {row['status']}, assigned to {row['assignee'] or 'nobody'}")


@queue_app.command("resolve")
def queue_resolve(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    note: Annotated[str, typer.Option("--note", help="What was done (required).")],
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is doing this; default $USER.")
    ] = None,
) -> None:
    """Mark a follow-up done, saying what was done."""
    row = _with_store(lambda store: followup_queue.resolve(store, followup_id, note, _actor(actor)))
    out.print(f"follow-up {row['id']}: done")


@queue_app.command("reopen")
def queue_reopen(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is doing this; default $USER.")
    ] = None,
) -> None:
    """Put a done follow-up back in the queue."""
    row = _with_store(
        lambda store: followup_queue.set_status(
            store, followup_id, "open", _actor(actor), note or None
        )
    )
    out.print(f"follow-up {row['id']}: {row['status']}")


# --- the scheduler ----------------------------------------------------------------------------


@schedule_app.command("start")
def schedule_start(verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    """Run the scheduled jobs of config/schedule.toml until SIGTERM (a service's main)."""
    settings = _settings(verbose)
    try:
        for row in scheduler.list_jobs(settings):
            out.print(f"{row['job']:<20} next {row['next_run'] or '-'}", soft_wrap=True)
        scheduler.start(settings)
    except PayerbotError as exc:
        raise _fail(exc) from None


@schedule_app.command("list")
def schedule_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Jobs and their next run times (local time), and the last executions."""
    settings = load_settings()
    try:
        rows = scheduler.list_jobs(settings)
        history = scheduler.job_history(settings, limit=10)
    except PayerbotError as exc:
        raise _fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps({"jobs": rows, "history": history}, default=str) + "\n")
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
            f"  {h['started_at']:%Y-%m-%d %H:%M} {h['job']:<20} {h['status']:<9} "
            f"{h['message'] or ''}",
            soft_wrap=True,
        )


@schedule_app.command("run-now")
def schedule_run_now(
    job: Annotated[str, typer.Argument(help="Job name from config/schedule.toml.")],
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Do one job now, in this process (its batches, then the digest)."""
    settings = _settings(verbose)
    if job not in settings.schedule.jobs:
        raise _fail(ConfigurationError(f"no job {job!r} in config/schedule.toml"))
    job_run = scheduler.run_job(job, settings)
    (row,) = [h for h in scheduler.job_history(settings, 50) if h["id"] == job_run]
    out.print(f"{job}: {row['status']} - {row['message']}", soft_wrap=True)
    if row["report_path"]:
        out.print(f"digest: {row['report_path']}", soft_wrap=True)
    if row["status"] != "finished":
        raise typer.Exit(EXIT_FAILURES)


# --- the web console ---------------------------------------------------------------------------


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default console.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default console.port).")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """The web console for specialists and supervisors (http://127.0.0.1:8700 by default)."""
    import uvicorn

    from bots.console.app import create_app

    settings = _settings(verbose)
    host = host or settings.console.host
    port = port if port is not None else settings.console.port
    if host not in {"127.0.0.1", "localhost", "::1"} and not settings.console.secure_cookies:
        err.print(
            "[yellow]the console is reachable from the network without TLS: put an HTTPS "
            "proxy in front and set PAYERBOT_CONSOLE__SECURE_COOKIES=true[/]"
        )
    try:
        application = create_app(settings)
        with fixture_portals.running(settings):
            out.print(f"payerbot console on http://{host}:{port}", soft_wrap=True)
            uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)
    except PayerbotError as exc:
        raise _fail(exc) from None


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="specialist or supervisor.")] = "specialist",
) -> None:
    """Add a console user, or set a new password / role (the password is prompted)."""
    from bots.console import users

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    _with_store(lambda store: users.add_user(store, username, password, role))
    out.print(f"user {username}: {role}")


@users_app.command("list")
def users_list() -> None:
    """Console users and their roles."""
    from bots.console import users

    for row in _with_store(users.list_users):
        state = " (disabled)" if row["disabled"] else ""
        out.print(f"{row['username']:<20} {row['role']}{state}")


@app.command("bench")
def bench(
    items: Annotated[int, typer.Option(help="Lookups per measured row.")] = 200,
    latency_ms: Annotated[int, typer.Option(help="Added to every portal answer.")] = 0,
    jitter_ms: Annotated[int, typer.Option(help="Random +/- on the latency.")] = 0,
    sessions: Annotated[str, typer.Option(help="Concurrent sessions to measure.")] = "1,2,4,8",
    naive_items: Annotated[int, typer.Option(help="Lookups for the naive script.")] = 10,
    single_lookups: Annotated[int, typer.Option(help="Warm single lookups to time.")] = 5,
    memory_items: Annotated[int, typer.Option(help="Long run for the memory check; 0 = off.")] = 0,
    references: Annotated[bool, typer.Option(help="Also run the reference programs.")] = True,
    api_reads: Annotated[
        bool, typer.Option(help="Also run payerbot with PayerHub's API reads on.")
    ] = True,
    page_reads: Annotated[
        bool, typer.Option(help="Run payerbot reading pages (the default configuration).")
    ] = True,
    workers: Annotated[
        str, typer.Option(help="Fleet rows: `payerbot worker` counts on PostgreSQL; '' = off.")
    ] = "1,2,3",
    fleet_items: Annotated[int, typer.Option(help="Lookups per fleet row.")] = 200,
    pg_url: Annotated[
        str | None, typer.Option(help="PostgreSQL for the fleet rows (a schema is made per row).")
    ] = None,
) -> None:
    """Measure payerbot against a naive script and a minimal loop (report in var/bench/)."""
    from bots.bench import run_bench

    settings = _settings()
    report = run_bench(
        settings,
        items=items,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        sessions=tuple(int(s) for s in sessions.split(",") if s.strip()),
        naive_items=naive_items,
        single_lookups=single_lookups,
        memory_items=memory_items,
        references=references,
        api_reads=api_reads,
        page_reads=page_reads,
        workers=tuple(int(w) for w in workers.split(",") if w.strip()),
        fleet_items=fleet_items,
        pg_url=pg_url,
        progress=lambda m: err.print(f"[dim]{m}[/]"),
    )
    out.print(report.read_text(), soft_wrap=True)
    out.print(f"report: {report} (and report.json)", soft_wrap=True)


@app.command("purge")
def purge_cmd(
    older_than: Annotated[float, typer.Option("--older-than", help="Days to keep.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete evidence, traces, run logs, per-run workbooks and reports of older runs."""
    from bots import retention

    settings = _settings()
    if not yes and not typer.confirm(
        f"Delete artifacts of runs finished more than {older_than:g} days ago?"
    ):
        raise typer.Exit(1)
    done = _with_store(lambda store: retention.purge(settings, store, older_than))
    out.print(f"purged {len(done.runs)} run(s): {done.files} file(s), {done.bytes / 2**20:.1f} MB")


@app.command("doctor")
def doctor_cmd(
    what: Annotated[
        str | None,
        typer.Argument(help="`portals`: check each portal's live pages for drift instead."),
    ] = None,
    portal: Annotated[
        list[str] | None, typer.Option(help="With `portals`: only these (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check this installation: permissions, secrets, console, browser, clock, disk.
    `payerbot doctor portals`: the drift canary on demand (sign-in and search pages)."""
    from bots import doctor

    if what == "portals":
        _doctor_portals(portal, as_json)
        return
    if what is not None:
        raise typer.BadParameter(f"unknown check {what!r} (known: portals)")

    checks = doctor.run(_settings())
    if as_json:
        sys.stdout.write(json.dumps([c.as_dict() for c in checks]) + "\n")
    else:
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            out.print(
                f"[{colours[c.status]}]{c.status:<4}[/] {c.name:<28} {c.message}"
                + (f"\n     fix: {c.fix}" if c.status != "ok" and c.fix else ""),
                soft_wrap=True,
            )
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@app.command("record")
def record_cmd(
    portal: Annotated[str, typer.Argument(help="The portal to record (config/portals.toml).")],
    worklist: Annotated[Path, typer.Option(help="Questions to ask (the portal's rows).")],
    limit: Annotated[int, typer.Option(help="At most this many lookups.")] = 5,
    account: Annotated[str | None, typer.Option(help="Account (default: the first).")] = None,
) -> None:
    """Record a login and a few lookups as a HAR for offline flow tests (route_from_har).
    Recordings hold PHI: they are scrubbed, owner-only, and stay in the data folder."""
    from bots import recording
    from bots.worklists import import_worklist

    settings = _settings()
    try:
        recording.check_portal(settings, portal)
        report = import_worklist(worklist, settings, None)
        rows = [
            r.query for r in report.rows if settings.portal_for_payer(r.query.payer_id) == portal
        ][:limit]
        if not rows:
            raise ConfigurationError(f"the worklist has no row for {portal}")
        err.print(
            "[yellow]warning:[/] a recording holds what the portal showed (PHI) and the "
            "login. It is scrubbed of the questions' and answers' identifiers and of the "
            "login, kept owner-only in the data folder; review it before it goes anywhere.",
            soft_wrap=True,
        )
        who = account or settings.portals[portal].accounts[0]
        with fixture_portals.running(settings, [portal]):
            har, manifest = asyncio.run(recording.record(settings, portal, who, rows))
    except PayerbotError as exc:
        raise _fail(exc) from None
    out.print(f"recorded {len(rows)} lookup(s): {har}\nmanifest: {manifest}", soft_wrap=True)


@app.command("new-flow")
def new_flow_cmd(
    name: Annotated[str, typer.Argument(help="The portal's id: lowercase, e.g. bluecross.")],
    base_url: Annotated[str, typer.Option(help="The portal's address.")] = "https://TODO",
    title: Annotated[str | None, typer.Option(help="The portal's name for people.")] = None,
    root: Annotated[Path, typer.Option(help="The project folder to write into.")] = Path("."),
) -> None:
    """Scaffold a portal: flows/NAME.py, tests/flows/test_NAME.py, a config/portals.toml
    entry, each with TODOs. Then follow README, "Adding a payer portal"."""
    from bots.scaffold import new_flow

    try:
        written = new_flow(name, root, base_url, title)
    except PayerbotError as exc:
        raise _fail(exc) from None
    for path in written:
        out.print(f"wrote {path}", soft_wrap=True)
    out.print(
        f"next: `playwright codegen {base_url}` to record the pages, fill in every TODO "
        f"(grep -n TODO {written[0]} {written[1]}), then `.venv/bin/pytest {written[1]}`",
        soft_wrap=True,
    )


def _doctor_portals(portal: list[str] | None, as_json: bool) -> None:
    from bots import drift

    settings = _settings()
    ids = sorted(portal or settings.portals)
    unknown = [p for p in ids if p not in settings.portals]
    if unknown:
        raise _fail(ConfigurationError(f"no portal {', '.join(unknown)} in config/portals.toml"))
    store = Store(settings.store_url, settings.queue)
    try:
        with fixture_portals.running(settings, ids):
            checks = drift.run_doctor_portals(settings, store, ids)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps([c.as_dict() for c in checks]) + "\n")
    else:
        colours = {"ok": "green", "drift": "red", "error": "yellow", "skipped": "yellow"}
        for c in checks:
            out.print(
                f"[{colours[c.status]}]{c.status:<7}[/] {c.portal:<16} {c.detail}"
                + (f"\n        screenshot: {c.screenshot}" if c.screenshot else ""),
                soft_wrap=True,
            )
    if any(c.status == "drift" for c in checks):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
