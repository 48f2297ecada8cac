"""`payerbot lookup ...`: one lookup, answered in seconds, with its evidence."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from bots.dates import local_today
from bots.errors import AuthenticationError, ConfigurationError, PayerbotError
from bots.intake.worklists import PayerDirectory
from bots.interfaces.cli.common import (
    EXIT_AUTH,
    EXIT_FAILURES,
    app,
    err,
    fail,
    out,
    settings_for,
)
from bots.models import ClaimStatusQuery, EligibilityQuery, plain_message
from bots.ops import mock_portals as fixture_portals
from bots.outputs.report import (
    print_lookup,
)
from bots.services import lookups
from bots.settings import Settings, load_settings
from bots.store import Store

lookup_app = typer.Typer(no_args_is_help=True, help="One lookup, answered in seconds.")
app.add_typer(lookup_app, name="lookup")


def _lookup(query: EligibilityQuery | ClaimStatusQuery, as_json: bool, verbose: bool) -> None:
    settings = settings_for(verbose)
    store = Store.open(settings)
    try:
        with fixture_portals.running(settings, [settings.portal_for_payer(query.payer_id)]):
            answer = asyncio.run(
                lookups.lookup(
                    settings,
                    store,
                    query,
                    notice=lambda m: err.print(f"[yellow]{m}[/]", soft_wrap=True),
                )
            )
    except PayerbotError as exc:
        raise fail(exc) from None
    finally:
        store.close()
    shown = answer.as_json()
    if as_json:
        sys.stdout.write(json.dumps(shown, default=str) + "\n")
    else:
        print_lookup(out, shown)
    if not answer.succeeded:
        raise typer.Exit(
            EXIT_AUTH
            if shown["error"] in {AuthenticationError.code(), "account_locked"}
            else EXIT_FAILURES
        )


def _payer_id(settings: Settings, payer: str) -> str:
    payer_id = PayerDirectory(settings).resolve(payer)
    if payer_id is None:
        raise fail(ConfigurationError(f"unknown payer {payer!r}: see config/portals.toml"))
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
    payer_id = _payer_id(settings, payer)
    query = _question(
        lambda: EligibilityQuery(
            payer_id=payer_id,
            member_id=member_id.strip().upper(),
            dob=_cli_date(dob, "The date of birth"),
            date_of_service=_cli_date(dos, "The date of service") or local_today(settings.timezone),
            service_type=service_type,
            expected_charge=_cli_money(charge, "The expected charge"),
        )
    )
    _lookup(query, as_json, verbose)


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
        str | None, typer.Option(help="First date of service, YYYY-MM-DD (with --member-id).")
    ] = None,
    dos_to: Annotated[
        str | None, typer.Option(help="Last date of service, YYYY-MM-DD (default: --dos-from).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Where is this claim: paid, denied (why), pending?"""
    settings = load_settings()
    payer_id = _payer_id(settings, payer)
    query = _question(
        lambda: ClaimStatusQuery(
            payer_id=payer_id,
            claim_number=(claim_number or "").strip() or None,
            member_id=member_id.strip().upper() if member_id else None,
            dob=_cli_date(dob, "The date of birth"),
            dos_from=_cli_date(dos_from, "The first date of service"),
            dos_to=_cli_date(dos_to, "The last date of service"),
        )
    )
    _lookup(query, as_json, verbose)


Q = TypeVar("Q", EligibilityQuery, ClaimStatusQuery)


def _question(build: Callable[[], Q]) -> Q:
    """The question, or its problems in plain sentences (bots/models.py) and exit 2."""
    try:
        return build()
    except ValidationError as exc:
        raise fail(ConfigurationError(plain_message(exc))) from None
    except ValueError as exc:  # a date or an amount typed wrong: our own plain sentence
        raise fail(ConfigurationError(str(exc))) from None


def _cli_date(text: str | None, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what} is not a date (YYYY-MM-DD).") from None


def _cli_money(text: str | None, what: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text.strip().replace(",", "").lstrip("$"))
    except InvalidOperation:
        raise ValueError(f"{what} is not an amount.") from None
