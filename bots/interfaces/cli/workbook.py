"""`payerbot workbook import FILE`: bring the Status / Assignee / Notes edits of a workbook
(a copy downloaded from the console, or the rolling workbook) back into the queue."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bots.interfaces.cli.common import EXIT_CONFIG, app, err, out, settings_for
from bots.outputs.specialists_workbook import WorkbookUnreadable
from bots.outputs.workbook_sync import import_workbook
from bots.store import Store

workbook_app = typer.Typer(no_args_is_help=True, help="The specialists' workbook.")
app.add_typer(workbook_app, name="workbook")


@workbook_app.command("import")
def workbook_import(
    file: Annotated[Path, typer.Argument(help="The edited .xlsx (a downloaded copy).")],
    actor: Annotated[
        str | None, typer.Option(help="Who made the edits (default: your login name).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON.")] = False,
) -> None:
    """Merge a workbook's Status / Assignee / Notes edits into the follow-up queue by
    follow-up id (a change made elsewhere since the download is kept), then rewrite the
    specialists' workbook. Rows with a status not in the list, an assignee who is not a
    console user or an unknown follow-up are refused, each named in one sentence."""
    if not file.is_file():
        err.print(f"[bold red]error:[/] {escape(str(file))} is not a file.")
        raise typer.Exit(EXIT_CONFIG)
    settings = settings_for()
    store = Store.open(settings)
    who = actor or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    try:
        merge = import_workbook(store, settings, file, f"workbook:{who}")
    except WorkbookUnreadable:
        err.print(
            f"[bold red]error:[/] {escape(file.name)} is not a specialists' workbook (it needs "
            "a Follow-ups sheet with Follow-up ID, Status, Assignee and Notes columns)."
        )
        raise typer.Exit(EXIT_CONFIG) from None
    finally:
        store.close()
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "taken": merge.taken,
                    "conflicts": merge.conflicts,
                    "refused": merge.refused,
                    "summary": merge.summary(),
                }
            )
        )
        return
    out.print(escape(merge.summary()), soft_wrap=True)
    for sentence in merge.refused:
        out.print(f"  [yellow]refused:[/] {escape(sentence)}", soft_wrap=True)
