"""`payerbot queue ...`: the specialists' follow-up queue."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from bots.dates import local_date_text
from bots.errors import ConfigurationError
from bots.followups import queue as followup_queue
from bots.interfaces.cli.common import (
    EXIT_CONFIG,
    app,
    err,
    nothing_done,
    out,
    with_store,
)
from bots.outputs.report import print_followup
from bots.outputs.shown import NO_NAME
from bots.store import FollowupPage

queue_app = typer.Typer(no_args_is_help=True, help="The specialists' follow-up queue.")
app.add_typer(queue_app, name="queue")


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


@queue_app.command("list")
def queue_list(
    search: Annotated[
        str,
        typer.Option("--search", "-q", help="Patient name, member ID or claim number (part of)."),
    ] = "",
    status: Annotated[
        list[str] | None,
        typer.Option(help="open, in progress, done (repeatable); default not done"),
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Only this person's; 'unassigned' for nobody's.")
    ] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only mine ($USER).")] = False,
    priority: Annotated[
        list[str] | None, typer.Option(help="high, medium or low (repeatable).")
    ] = None,
    payer: Annotated[str, typer.Option(help="One payer ID, e.g. ACME.")] = "",
    rule: Annotated[str, typer.Option(help="One rule, e.g. claim_denied.")] = "",
    dos_from: Annotated[
        str, typer.Option("--from", help="Date of service from (MM/DD/YYYY).")
    ] = "",
    dos_to: Annotated[str, typer.Option("--to", help="Date of service to (MM/DD/YYYY).")] = "",
    sort: Annotated[
        str,
        typer.Option(help=f"Sort by: {', '.join(followup_queue.SORT_NAMES)}; default priority."),
    ] = "priority",
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    page: Annotated[int, typer.Option(help="Which page (from 1).")] = 1,
    per_page: Annotated[int, typer.Option("--per-page", help="Rows per page (up to 500).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="The page's rows as JSON.")] = False,
) -> None:
    """Follow-ups to work, a page at a time (open and high priority first); says how many
    match in all and how to see the next page."""
    try:
        query = followup_queue.build_query(
            text=search,
            status=status or ["open", "in progress"],
            priority=priority or [],
            payer=payer,
            rule=rule,
            assignee=_actor(None) if mine else assignee or "",
            dos_from=dos_from,
            dos_to=dos_to,
            sort=sort,
            descending=desc,
            page=page,
            per_page=per_page,
        )
    except ConfigurationError as exc:
        raise nothing_done(EXIT_CONFIG, str(exc)) from None
    found = with_store(lambda store: followup_queue.find_followups(store, query))
    where = _where(found)
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in found.rows], default=str) + "\n")
        err.print(where, highlight=False)
        return
    _print_page(found)
    out.print(where, highlight=False)


def _where(found: FollowupPage) -> str:
    """ "showing 1-50 of 5,000 (page 1 of 100; --page 2 for more)" """
    if not found.total:
        return "no follow-ups match"
    text = f"showing {found.first:,}-{found.last:,} of {found.total:,}"
    if found.pages > 1:
        text += f" (page {found.page} of {found.pages:,}"
        text += f"; --page {found.page + 1} for more)" if found.page < found.pages else ")"
    return text


def _print_page(found: FollowupPage) -> None:
    """The page as a table: identifiers never cut; the reason when the terminal is wide
    enough (`queue show ID` has it, and everything else, in any width)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("id", "service", "member / claim"):
        table.add_column(name, no_wrap=True)
    table.add_column("patient", overflow="fold", min_width=10)
    for name in ("payer", "prio", "status", "assignee"):
        table.add_column(name, no_wrap=True)
    wide = out.width >= 120
    if wide:
        table.add_column("reason", ratio=1, overflow="fold")
    for r in found.rows:
        colour = {"high": "red", "medium": "yellow"}.get(r.priority, "")
        cells = [
            str(r.id),
            "\n".join(local_date_text(d) for d in r.service_dates),
            "\n".join(x for x in (r.member_id, r.claim_number) if x),
            r.patient or NO_NAME,
            r.payer_id,
            f"[{colour}]{r.priority}[/]" if colour else r.priority,
            r.status,
            r.assignee or "",
        ]
        table.add_row(*cells, *([r.reason] if wide else []))
    out.print(table)


@queue_app.command("show")
def queue_show(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One follow-up with its evidence and history."""
    row = with_store(lambda store: followup_queue.get_followup(store, followup_id))
    if as_json:
        sys.stdout.write(json.dumps(row.as_dict(), default=str) + "\n")
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
    row = with_store(
        lambda store: followup_queue.assign(
            store, followup_id, None if assignee == "-" else assignee, _actor(actor)
        )
    )
    out.print(f"follow-up {row.id}: {row.status}, assigned to {row.assignee or 'nobody'}")


@queue_app.command("resolve")
def queue_resolve(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    note: Annotated[str, typer.Option("--note", help="What was done (required).")],
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is doing this; default $USER.")
    ] = None,
) -> None:
    """Mark a follow-up done, saying what was done."""
    row = with_store(lambda store: followup_queue.resolve(store, followup_id, note, _actor(actor)))
    out.print(f"follow-up {row.id}: done")


@queue_app.command("reopen")
def queue_reopen(
    followup_id: Annotated[int, typer.Argument(help="Follow-up id.")],
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is doing this; default $USER.")
    ] = None,
) -> None:
    """Put a done follow-up back in the queue."""
    row = with_store(
        lambda store: followup_queue.set_status(
            store, followup_id, "open", _actor(actor), note or None
        )
    )
    out.print(f"follow-up {row.id}: {row.status}")
