"""`payerbot queue ...`: the specialists' follow-up queue."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from bots.followups import queue as followup_queue
from bots.interfaces.cli.common import (
    app,
    out,
    with_store,
)
from bots.outputs.report import (
    print_followup,
    print_followups,
)

queue_app = typer.Typer(no_args_is_help=True, help="The specialists' follow-up queue.")
app.add_typer(queue_app, name="queue")


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


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
    rows = with_store(
        lambda store: followup_queue.list_followups(
            store,
            status=status or ["open", "in progress"],
            assignee=_actor(None) if mine else assignee,
            priority=priority,
            rule=rule,
        )
    )
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in rows], default=str) + "\n")
        return
    print_followups(out, rows)


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
