"""Operations: `bench`, `purge`, `doctor`, `record`, `replay`, `new-flow`, `db ...`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from bots.errors import ConfigurationError, PayerbotError
from bots.interfaces.cli.common import (
    app,
    err,
    fail,
    out,
    settings_for,
    with_store,
)
from bots.ops import mock_portals as fixture_portals
from bots.store import Store, admin, migrate

db_app = typer.Typer(no_args_is_help=True, help="The store's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Bring the store's schema to the newest revision (run once per release, any machine)."""
    settings = settings_for()
    before, after = admin.upgrade(settings.store_url, revision)
    where = admin.printable_url(settings.store_url)
    if before == after:
        out.print(f"{where}: schema already at {after}")
    else:
        out.print(f"{where}: schema upgraded {before or 'empty'} -> {after}")


@db_app.command("current")
def db_current() -> None:
    """The schema revision of the store, and the one this payerbot needs."""
    settings = settings_for()
    current = admin.current_revision(settings.store_url)
    state = "up to date" if current == migrate.HEAD else "run `payerbot db upgrade`"
    out.print(f"schema {current or 'none'}; this payerbot needs {migrate.HEAD}: {state}")
    if current != migrate.HEAD:
        raise typer.Exit(1)


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
    portals: Annotated[
        str,
        typer.Option(
            help="Bundled portals to measure against their lean page loop "
            "(payerhub,legacyportal,medicaidportal)."
        ),
    ] = "payerhub",
    night: Annotated[
        int, typer.Option(help="The night at scale: mixed lookups over the 3 portals; 0 = off.")
    ] = 0,
    night_latency_ms: Annotated[
        int, typer.Option(help="Added to every portal request of the night row.")
    ] = 300,
) -> None:
    """Measure payerbot against a naive script and a minimal loop (report in var/bench/)."""
    from benchmarks.bench import run_bench

    settings = settings_for()
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
        night=night,
        night_latency_ms=night_latency_ms,
        progress=lambda m: err.print(f"[dim]{m}[/]"),
        portals=tuple(p.strip() for p in portals.split(",") if p.strip()),
    )
    out.print(report.read_text(), soft_wrap=True)
    out.print(f"report: {report} (and report.json)", soft_wrap=True)


@app.command("purge")
def purge_cmd(
    older_than: Annotated[float, typer.Option("--older-than", help="Days to keep.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete evidence, traces, run logs, per-run workbooks and reports of older runs."""
    from bots.ops import retention

    settings = settings_for()
    if not yes and not typer.confirm(
        f"Delete artifacts of runs finished more than {older_than:g} days ago?"
    ):
        raise typer.Exit(1)
    done = with_store(lambda store: retention.purge(settings, store, older_than))
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
    from bots.ops import doctor

    if what == "portals":
        _doctor_portals(portal, as_json)
        return
    if what is not None:
        raise typer.BadParameter(f"unknown check {what!r} (known: portals)")

    checks = doctor.run(settings_for())
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
    worklist: Annotated[
        list[Path],
        typer.Option(
            help="Questions to ask (the portal's rows); repeat for both lookups.",
            metavar="<path>",
        ),
    ],
    limit: Annotated[int, typer.Option(help="At most this many lookups per worklist.")] = 5,
    account: Annotated[str | None, typer.Option(help="Account (default: the first).")] = None,
) -> None:
    """Sign in, then record a few lookups as a HAR for offline flow tests, with the signed-in
    session beside it (`payerbot replay` resumes it: the login is never replayed).
    Recordings hold PHI: they are scrubbed, owner-only, and stay in the data folder."""
    from bots.intake.worklists import import_worklist
    from bots.ops import recording

    settings = settings_for()
    try:
        recording.check_portal(settings, portal)
        rows = []
        for path in worklist:
            report = import_worklist(path, settings, None)
            rows += [
                r.query
                for r in report.rows
                if settings.portal_for_payer(r.query.payer_id) == portal
            ][:limit]
        if not rows:
            raise ConfigurationError(f"the worklist has no row for {portal}")
        err.print(
            "[yellow]warning:[/] a recording holds what the portal showed (PHI) and the "
            "signed-in session. It is scrubbed of the questions' and answers' identifiers "
            "and of the login, kept owner-only in the data folder; review it before it goes "
            "anywhere.",
            soft_wrap=True,
        )
        who = account or settings.portals[portal].accounts[0]
        with fixture_portals.running(settings, [portal]):
            har, manifest = asyncio.run(recording.record(settings, portal, who, rows))
    except PayerbotError as exc:
        raise fail(exc) from None
    out.print(f"recorded {len(rows)} lookup(s): {har}\nmanifest: {manifest}", soft_wrap=True)


@app.command("replay")
def replay_cmd(
    manifest: Annotated[Path, typer.Argument(help="A recording's manifest (NAME.json).")],
) -> None:
    """Ask a recording's questions again against the recording alone (nothing reaches the
    portal) and say whether the answers are the ones recorded; exit 1 when they are not."""
    from bots.ops import recording

    settings = settings_for()
    har = manifest.with_suffix(".har")
    if not manifest.is_file() or not har.is_file():
        raise fail(ConfigurationError(f"no recording {manifest.name} with its .har beside it"))
    try:
        replayed = asyncio.run(recording.replay(manifest, har, settings.browser))
        recorded = json.loads(manifest.read_text(encoding="utf-8"))["answers"]
    except PayerbotError as exc:
        raise fail(exc) from None
    same = recording.comparable(replayed.answers) == recording.comparable(recorded)
    out.print(
        f"replayed {len(replayed.answers)} lookup(s) offline: "
        f"{'the same answers as recorded' if same else 'answers DIFFER from the recording'} "
        f"({replayed.served} request(s) served from the recording, "
        f"{len(replayed.aborted)} not in it)",
        soft_wrap=True,
    )
    if not same:
        raise typer.Exit(1)


@app.command("new-flow")
def new_flow_cmd(
    name: Annotated[str, typer.Argument(help="The portal's id: lowercase, e.g. bluecross.")],
    base_url: Annotated[str, typer.Option(help="The portal's address.")] = "https://TODO",
    title: Annotated[str | None, typer.Option(help="The portal's name for people.")] = None,
    root: Annotated[Path, typer.Option(help="The project folder to write into.")] = Path("."),
) -> None:
    """Scaffold a portal: flows/NAME.py, tests/flows/test_NAME.py, a config/portals.toml
    entry, each with TODOs. Then follow README, "Adding a payer portal"."""
    from bots.ops.scaffold import new_flow

    try:
        written = new_flow(name, root, base_url, title)
    except PayerbotError as exc:
        raise fail(exc) from None
    for path in written:
        out.print(f"wrote {path}", soft_wrap=True)
    env = f"PAYERBOT_TEST_{name.upper()}"
    out.print(
        f"next: `payerbot explore {base_url}` to see the portal's pages headless, fill in "
        f"every TODO (grep -n TODO {written[0]} {written[1]} {written[2]}), then "
        f"`{env}_USERNAME=... {env}_PASSWORD=... {env}_TOTP_SEED=... "
        f'.venv/bin/pytest {written[1]}` (README, "Adding a payer portal")',
        soft_wrap=True,
    )


def _doctor_portals(portal: list[str] | None, as_json: bool) -> None:
    from bots.engine import drift

    settings = settings_for()
    ids = sorted(portal or settings.portals)
    unknown = [p for p in ids if p not in settings.portals]
    if unknown:
        raise fail(ConfigurationError(f"no portal {', '.join(unknown)} in config/portals.toml"))
    store = Store.open(settings)
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


@app.command("explore")
def explore_cmd(
    url: Annotated[str, typer.Argument(help="The page to start on (a path with --portal).")],
    portal: Annotated[
        str | None,
        typer.Option(
            help="A configured portal: its login for {username}/{password}/totp, "
            "its flow's read-only guard."
        ),
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account (default: the first).")] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(
            help="In order (repeatable): fill:<label>=<value>, totp:<label>, click:<name>, "
            "select:<label>=<option>, goto:<path or URL>, wait:<text>."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder (default: <data_dir>/explore/...).")
    ] = None,
) -> None:
    """Explore a portal headlessly: per page, a screenshot, the accessibility tree, forms (in
    frames and shadow roots too), network requests, suggested landmarks; index.md on top.
    Without --portal only reads leave the browser, and the POSTs a click step sends."""
    from rich.markup import escape

    from bots.ops import explore

    settings = settings_for()
    try:
        steps = [explore.parse_step(s) for s in step or []]
        if portal is not None and portal not in settings.portals:
            raise ConfigurationError(f"no portal {portal!r} in config/portals.toml")
        err.print(
            "[yellow]warning:[/] screenshots show what the portal showed (PHI, once signed "
            "in); the folder is owner-only: review it before it goes anywhere.",
            soft_wrap=True,
        )
        with fixture_portals.running(settings, [portal] if portal else []):
            if url.startswith("/"):
                if portal is None:
                    raise ConfigurationError(f"{url} is a path: give --portal, or a full address")
                url = settings.portals[portal].base_url.rstrip("/") + url
            done = asyncio.run(
                explore.explore(settings, url, steps, portal=portal, account=account, out=out_dir)
            )
    except PayerbotError as exc:
        raise fail(exc) from None
    for capture in done.captures:
        out.print(f"{capture.folder.name}: {capture.url} ({capture.forms} form(s))", soft_wrap=True)
    out.print(f"index: {done.folder / 'index.md'}", soft_wrap=True, highlight=False)
    blocked = list(dict.fromkeys(b for c in done.captures for b in c.blocked))
    if blocked:
        err.print(
            f"[yellow]the read-only guard stopped:[/] {escape(', '.join(blocked))}",
            soft_wrap=True,
            highlight=False,
        )
    if done.failure:
        err.print(f"[bold red]stopped:[/] {escape(done.failure)}", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
