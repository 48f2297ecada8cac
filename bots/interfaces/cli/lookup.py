"""`payerbot lookup ...`: one lookup, answered in seconds, with its evidence."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from bots.dates import local_today
from bots.errors import AuthenticationError, PayerbotError
from bots.intake.lookup_form import Query, check_lookup
from bots.interfaces.cli.common import (
    EXIT_AUTH,
    EXIT_BAD_INPUT,
    EXIT_CONFIG,
    EXIT_FAILURES,
    app,
    err,
    fail,
    out,
    settings_for,
)
from bots.services import local_service
from bots.settings import Settings

lookup_app = typer.Typer(no_args_is_help=True, help="One lookup, answered in seconds.")
app.add_typer(lookup_app, name="lookup")


def _lookup(
    settings: Settings,
    query: Query,
    values: dict[str, str | None],
    as_json: bool,
    add_to_queue: bool,
    use_service: bool,
) -> None:
    """Ask the data folder's running service (the console or the scheduler) when there is
    one, else look up in this process: the same answer, words and exit code either way;
    ``answered_by`` says which ("console", "scheduler", "cli")."""
    shown = _asked_service(settings, query, values, add_to_queue) if use_service else None
    if shown is None:
        shown = _asked_here(settings, query, add_to_queue)
    _show(shown, as_json)


def _notice(message: str) -> None:
    err.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)


def _asked_service(
    settings: Settings, query: Query, values: dict[str, str | None], add_to_queue: bool
) -> dict[str, Any] | None:
    """The running service's answer, or None when no service runs for this data folder."""
    try:
        reply = local_service.ask(settings, query.kind, values, add_to_queue, notice=_notice)
    except local_service.ServiceTimeout as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_FAILURES) from None
    if reply is None:
        return None
    if reply.problems:  # the service's settings refused what ours accepted
        _refuse(query.kind, reply.problems)
    if reply.answer is None:
        err.print(
            f"[bold red]error:[/] {escape(reply.failure or 'The service gave no answer.')}",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(EXIT_AUTH if reply.authentication else EXIT_CONFIG)
    return {**reply.answer, "answered_by": reply.service}


def _asked_here(settings: Settings, query: Query, add_to_queue: bool) -> dict[str, Any]:
    """The lookup in this process: its own browser, and a login unless a session is kept."""
    from bots.ops import mock_portals as fixture_portals
    from bots.services import lookups
    from bots.store import Store

    store = Store.open(settings)
    try:
        with fixture_portals.running(settings, [settings.portal_for_payer(query.payer_id)]):
            answer = asyncio.run(
                lookups.lookup(settings, store, query, notice=_notice, add_to_queue=add_to_queue)
            )
    except PayerbotError as exc:
        raise fail(exc) from None
    finally:
        store.close()
    return {**answer.as_json(), "answered_by": "cli"}


def _show(shown: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(shown, default=str) + "\n")
    else:
        from bots.outputs.report import print_lookup  # loads the store's types: words only

        print_lookup(out, shown)
        for f in shown["suggested_followups"]:  # not in the queue: nobody asked (--add-to-queue)
            out.print(
                f"[yellow]suggested follow-up (not added; --add-to-queue adds it):[/] "
                f"{escape(f['reason'])} - {escape(f['action'])}",
                soft_wrap=True,
            )
    if shown["state"] != "succeeded":
        raise typer.Exit(
            EXIT_AUTH
            if shown["error"] in {AuthenticationError.code(), "account_locked"}
            else EXIT_FAILURES
        )


OPTION_OF = {
    "payer": "--payer",
    "member_id": "--member-id",
    "dob": "--dob",
    "dos": "--dos",
    "dos_to": "--dos-to",
    "service_type": "--service-type",
    "charge": "--charge",
    "claim_number": "--claim-number",
}


def _checked(settings: Settings, kind: str, values: dict[str, str | None]) -> Query:
    """The question, or one line on stderr per problem of its input and exit 6: no portal
    is asked about a question that cannot be right (bots/intake/lookup_form.py)."""
    checked = check_lookup(settings, kind, values, local_today(settings.timezone))
    if checked.query is None:
        _refuse(kind, checked.problems)
    return checked.query


def _refuse(kind: str, problems: dict[str, str]) -> NoReturn:
    options = dict(OPTION_OF, dos="--dos-from" if kind == "claim_status" else "--dos")
    for field, sentence in problems.items():
        where = options.get(field)
        line = f"{where}: {sentence}" if where else sentence
        err.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def _ask(
    kind: str, values: dict[str, str | None], as_json: bool, verbose: bool, flags: tuple[bool, bool]
) -> None:
    settings = settings_for(verbose)
    add_to_queue, no_service = flags
    query = _checked(settings, kind, values)
    _lookup(settings, query, values, as_json, add_to_queue, not no_service)


ADD_TO_QUEUE_HELP = (
    "Add the follow-ups the answer raises to the queue (default: only show them as suggestions)."
)
NO_SERVICE_HELP = (
    "Look up in this process (its own browser and login) even when a console or the scheduler "
    "runs for this data folder (default: ask the one running, which answers from its warm "
    "session)."
)


@lookup_app.command("eligibility")
def lookup_eligibility(
    payer: Annotated[str, typer.Option(help="Payer id or name, e.g. ACME.")],
    member_id: Annotated[str, typer.Option(help="Member ID as on the card.")],
    dob: Annotated[str, typer.Option(help="Date of birth, MM/DD/YYYY or YYYY-MM-DD.")],
    dos: Annotated[
        str | None,
        typer.Option(help="Date of service, MM/DD/YYYY or YYYY-MM-DD (default today)."),
    ] = None,
    service_type: Annotated[
        str | None,
        typer.Option(
            help="Service type: a name or code of config/worklists.toml [worklists.service_types] "
            '("Office visit" or 98, "Urgent care" or UC...; default: the appointments '
            "preset's)."
        ),
    ] = None,
    charge: Annotated[
        str | None,
        typer.Option(help="Expected charge (1,250.00), for the patient's cost estimate."),
    ] = None,
    add_to_queue: Annotated[bool, typer.Option("--add-to-queue", help=ADD_TO_QUEUE_HELP)] = False,
    no_service: Annotated[bool, typer.Option("--no-service", help=NO_SERVICE_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Is this member covered, and what will they owe?"""
    _ask(
        "eligibility",
        {
            "payer": payer,
            "member_id": member_id,
            "dob": dob,
            "dos": dos,
            "service_type": service_type,
            "charge": charge,
        },
        as_json,
        verbose,
        (add_to_queue, no_service),
    )


@lookup_app.command("claim-status")
def lookup_claim_status(
    payer: Annotated[str, typer.Option(help="Payer id or name, e.g. ACME.")],
    claim_number: Annotated[
        str | None, typer.Option(help="Payer claim number or patient account number.")
    ] = None,
    member_id: Annotated[
        str | None, typer.Option(help="Member ID, checked against the claim.")
    ] = None,
    dob: Annotated[
        str | None, typer.Option(help="Date of birth, checked against the claim.")
    ] = None,
    dos_from: Annotated[
        str | None,
        typer.Option(help="First date of service, MM/DD/YYYY or YYYY-MM-DD (with --member-id)."),
    ] = None,
    dos_to: Annotated[
        str | None, typer.Option(help="Last date of service (default: --dos-from).")
    ] = None,
    add_to_queue: Annotated[bool, typer.Option("--add-to-queue", help=ADD_TO_QUEUE_HELP)] = False,
    no_service: Annotated[bool, typer.Option("--no-service", help=NO_SERVICE_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Where is this claim: paid, denied (why), pending?"""
    _ask(
        "claim_status",
        {
            "payer": payer,
            "claim_number": claim_number,
            "member_id": member_id,
            "dob": dob,
            "dos": dos_from,
            "dos_to": dos_to,
        },
        as_json,
        verbose,
        (add_to_queue, no_service),
    )
