"""The CLI's views of runs: a summary whose parts add up, the runs list and one run, in
local time, that fit an 80-column terminal without cutting a run id.

Each item of a run is counted once, in the first of: reused (answered earlier, within the
dedupe window), answered, no result (the portal said no), waiting (not done yet, split by
why), failed. ``--json`` keeps UTC (``bots.dates.iso_utc``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bots.dates import iso_utc, local_datetime_text
from bots.engine.runs import RunSummary
from bots.outputs.run_words import resume_command, run_words
from bots.store import ItemState, Outcome, OutcomeCode, Run, RunStatus, utcnow

ACCOUNT_CODES = frozenset({"account_locked", "no_credentials", "account_busy"})
"""Items ended untried because no account could work: resumable, so waiting, not failed."""
PARTS = ("answered", "reused", "no result", "failed", "waiting")
_ITEM_STATES = frozenset(s.value for s in ItemState)
RESUMABLE = (RunStatus.STOPPED, RunStatus.INTERRUPTED)


def bucket(item: Outcome, notes: Mapping[str, Any], run_status: str) -> tuple[str, str]:
    """(part, why) of one item: each item in exactly one part; why splits "waiting"."""
    code = item.last_error_code.value if item.last_error_code else None
    if item.disposition == "reused" and item.state in (
        ItemState.SUCCEEDED,
        ItemState.BUSINESS_FAILED,
    ):
        return "reused", ""
    if item.state == ItemState.SUCCEEDED:
        return "answered", ""
    if item.state == ItemState.BUSINESS_FAILED:
        return "no result", OutcomeCode(code).label if code else ""
    if item.state == ItemState.SYSTEM_FAILED:
        if code in ACCOUNT_CODES:
            return "waiting", "waiting for an account"
        return "failed", OutcomeCode(code).label if code else ""
    if item.state == ItemState.IN_PROGRESS:
        return "waiting", "in progress"
    if item.portal in (notes.get("postponed_portals") or {}):
        return "waiting", f"postponed ({item.portal})"
    if item.portal in (notes.get("stopped_portals") or {}):
        return "waiting", f"paused portal ({item.portal})"
    if code is not None:
        return "waiting", "waiting for a retry"
    if run_status in {s.value for s in RESUMABLE}:
        return "waiting", "not started: the run stopped"
    return "waiting", "not started yet"


def summary_parts(
    items: Sequence[Outcome], notes: Mapping[str, Any], run_status: str
) -> dict[str, Any]:
    """Counts per part and "waiting" per reason; the parts add up to ``total``."""
    parts: Counter[str] = Counter({p: 0 for p in PARTS})
    waiting: Counter[str] = Counter()
    why: Counter[tuple[str, str]] = Counter()
    for item in items:
        part, reason = bucket(item, notes, run_status)
        parts[part] += 1
        why[(part, reason)] += 1
        if part == "waiting":
            waiting[reason] += 1
    return {
        "total": len(items),
        **{p: parts[p] for p in PARTS},
        "waiting_by_reason": dict(sorted(waiting.items())),
        "by_reason": why,
    }


def summary_table(title: str, parts: Mapping[str, Any], import_errors: int = 0) -> Table:
    table = Table(title=title)
    table.add_column("outcome", no_wrap=True)
    table.add_column("why", overflow="fold")
    table.add_column("items", justify="right", no_wrap=True)
    for part in PARTS:
        reasons = sorted((r, n) for (p, r), n in parts["by_reason"].items() if p == part)
        if not reasons:
            continue
        for i, (reason, n) in enumerate(reasons):
            table.add_row(part if i == 0 else "", reason, str(n))
    table.add_section()
    table.add_row("total", "", str(parts["total"]))
    if import_errors:
        table.add_row(
            "skipped rows", "bad worklist rows, not items (Import errors sheet)", str(import_errors)
        )
    return table


def print_run_summary(
    console: Console, summary: RunSummary, items: Sequence[Outcome], spreadsheet: Path
) -> None:
    """The end-of-run table (parts adding up to the total) and what needs a person."""
    notes = summary.notes()
    parts = summary_parts(items, notes, "")  # the run's status: `runs show` knows it
    console.print(
        summary_table(
            f"Run {summary.run_id}: {summary.kind.replace('_', ' ')}",
            parts,
            summary.counts.get("import_errors", 0),
        )
    )
    console.print(sentence(parts), soft_wrap=True)
    console.print(
        f"{summary.lookups} lookups in {duration_text(summary.duration_seconds)} "
        f"({summary.lookups_per_minute:.0f}/min); {logins_text(notes)}",
        soft_wrap=True,
    )
    for portal, run in summary.borrowed_from.items():
        console.print(f"{portal}: answered through the session of run {run}", soft_wrap=True)
    _attention(console, notes)
    console.print(f"spreadsheet: {spreadsheet}\nrun log:     {summary.log_path}", soft_wrap=True)


def logins_per_account(notes: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """portal/account -> new logins this run, and whether its kept session resumed (1/0)."""
    resumed = set(notes.get("resumed_sessions") or [])
    logins = notes.get("logins") or {}
    return {
        key: {"logins": int(logins.get(key, 0)), "resumed": int(key in resumed)}
        for key in sorted({*logins, *resumed})
    }


def logins_text(notes: Mapping[str, Any]) -> str:
    """ "logins: payerhub/main 1 (resumed 0), legacyportal/main 0 (resumed 1)": per account,
    the new logins and whether the kept session resumed."""
    said = ", ".join(
        f"{key} {n['logins']} (resumed {n['resumed']})"
        for key, n in logins_per_account(notes).items()
    )
    return f"logins: {said or 'none'}"


def sentence(parts: Mapping[str, Any]) -> str:
    said = ", ".join(f"{parts[p]} {p}" for p in PARTS)
    waiting = parts["waiting_by_reason"]
    if waiting:
        said += " (" + "; ".join(f"{n} {why}" for why, n in waiting.items()) + ")"
    return f"{parts['total']} item(s): {said}"


def _attention(console: Console, notes: Mapping[str, Any]) -> None:
    for portal, why in (notes.get("stopped_portals") or {}).items():
        console.print(f"[bold red]portal {portal} stopped:[/] {escape(why)}", soft_wrap=True)
    for portal, why in (notes.get("postponed_portals") or {}).items():
        console.print(f"[yellow]portal {portal} postponed:[/] {escape(why)}", soft_wrap=True)
    for portal, said in (notes.get("slowed_portals") or {}).items():
        console.print(f"[yellow]portal {portal} slowed down:[/] {escape(said)}", soft_wrap=True)
    for account, why in (notes.get("accounts_set_aside") or {}).items():
        console.print(f"[bold yellow]account {account} not used:[/] {escape(why)}", soft_wrap=True)
    for account, days in (notes.get("password_notices") or {}).items():
        left = (
            "soon (the portal gave no date)"
            if days is None
            else f"in {days} day{'s' if days != 1 else ''}"
        )
        console.print(
            f"[bold yellow]password expiring:[/] {account} {left}; change it in the portal",
            soft_wrap=True,
        )


def duration_text(seconds: float | None) -> str:
    """``1 h 02 m 05 s``, ``3 m 20 s``, ``4.2 s``; "—" when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} m {secs:02d} s"
    return f"{minutes} m {secs:02d} s"


def run_duration(run: Run, now: datetime | None = None) -> str:
    """How long a run took, or "running for 3 m" while it runs; never "None s"."""
    if run.finished_at is not None:
        return duration_text((run.finished_at - run.started_at).total_seconds())
    started = run.started_at
    current = now or utcnow()
    if started.tzinfo is None:
        current = current.replace(tzinfo=None)
    elapsed = max(0.0, (current - started).total_seconds())
    minutes = int(elapsed // 60)
    if run.status in RESUMABLE:
        return f"not finished ({run.status.label})"
    return f"running for {minutes} m" if minutes else f"running for {int(elapsed)} s"


def status_words(run: Run) -> str:
    """The run's status as the console and the digest say it ("Finished with 17 failures",
    "Stopped: 40 items left"), from its recorded counts."""
    states = {k: int(v) for k, v in run.counts.items() if k in _ITEM_STATES}
    return run_words(run, states).text


def runs_table(rows: Sequence[Run], timezone: str) -> Table:
    """Recent runs in 80 columns: the run id never cut; the status (failures and items left
    in words) and the start time wrap."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("run", no_wrap=True, min_width=22)
    table.add_column("kind", overflow="fold", min_width=12)
    table.add_column("status", overflow="fold")
    table.add_column("items", justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True, min_width=11)  # "12/04/2026" over "3:07 AM"
    for r in rows:
        c = r.counts
        started = local_datetime_text(r.started_at, timezone)
        table.add_row(
            r.id,
            f"{r.kind.value.replace('_', ' ')}\n({r.trigger})",
            status_words(r),
            str(c.get("items", "")),  # the failures: in the status's words
            started.replace(" ", "\n", 1),  # the date, then the time under it
        )
    return table


def run_json(run: Run) -> dict[str, Any]:
    """A run for ``--json``: times in UTC ISO 8601 with their offset."""
    data = run.as_dict()
    for key in ("started_at", "finished_at"):
        data[key] = iso_utc(getattr(run, key))
    return data


def print_run_detail(
    console: Console, run: Run, detail: Mapping[str, Any], items: Sequence[Outcome], timezone: str
) -> None:
    """`runs show`: when, how long, the parts adding up, the problems, what needs a person."""
    console.print(f"[bold]Run {run.id}[/]", soft_wrap=True)
    console.print(
        f"{run.kind.value.replace('_', ' ')} ({run.trigger}), {status_words(run)}; "
        f"started {local_datetime_text(run.started_at, timezone)}"
        + (
            f", finished {local_datetime_text(run.finished_at, timezone)}"
            if run.finished_at
            else ""
        )
        + f"; duration {run_duration(run)}",
        soft_wrap=True,
    )
    ms = detail["lookup_ms"]
    if ms["p50"] is not None:
        console.print(f"lookup time: median {ms['p50']} ms, 95% within {ms['p95']} ms")
    parts = summary_parts(items, detail["notes"], run.status.value)
    console.print(summary_table("", parts, run.counts.get("import_errors", 0)))
    console.print(sentence(parts), soft_wrap=True)
    console.print(logins_text(detail["notes"]), soft_wrap=True)
    if detail["problems"]:
        problems = Table("item", "row", "portal", "state", "why", "tries")
        problems.columns[4].overflow = "fold"
        for p in detail["problems"]:
            problems.add_row(
                str(p["item_id"]),
                str(p["row"] or ""),
                p["portal"],
                ItemState(p["state"]).label,
                OutcomeCode(p["error"]).label if p["error"] else "",
                str(p["attempts"]),
            )
        console.print(problems)
    _attention(console, detail["notes"])
    if run.status in RESUMABLE or parts["waiting"]:
        console.print(f"resume the rest: {resume_command(run.id)}", soft_wrap=True)
    console.print(f"log: {detail['log']}\nspreadsheet: {detail['spreadsheet']}", soft_wrap=True)


def detail_json(detail: Mapping[str, Any], items: Sequence[Outcome], run: Run) -> dict[str, Any]:
    """`runs show --json`: the detail with UTC times and the parts that add up."""
    parts = summary_parts(items, detail["notes"], run.status.value)
    del parts["by_reason"]
    return {
        **detail,
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc(run.finished_at),
        "summary": parts,
        "logins": logins_per_account(detail["notes"]),
    }
