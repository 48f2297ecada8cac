"""A desk lookup's input, checked before any portal is asked: one checker for the console's
lookup form and `payerbot lookup`.

Each problem is one plain sentence keyed by its field (``{"dob": "The date of birth is
after today."}``) so the console shows it next to the field and the CLI prints one line per
problem. A sentence never repeats the value typed (it may be PHI) and is never Python's or
pydantic's text. Accepted:

- member ID: letters, digits and hyphens (spaces typed between them are dropped), 2-30 of them;
- dates: real calendar dates, MM/DD/YYYY or YYYY-MM-DD (bots/dates.py); a date of birth not
  after today nor more than 130 years back; a date of service within the worklists' window
  around today (``worklists.service_days_back`` / ``service_days_ahead``);
- money: ``$1,250.00``, ``1250``, ``1,250.00`` (not negative, at most two decimals);
- service type: a name on the configured list or its code (``[worklists.service_types]``);
- claim status: a claim number (or patient account number), or a member ID with the date of
  service; the last date of service not before the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from bots.dates import DateRole, birth_date_problem, parse_date, service_date_problem
from bots.intake.worklists import PayerDirectory
from bots.models import CLAIM_QUERY_SHAPE, ClaimStatusQuery, EligibilityQuery, plain_problems
from bots.settings import Settings

FIELDS = ("payer", "member_id", "dob", "dos", "dos_to", "service_type", "charge", "claim_number")
"""The fields a desk lookup has (the console's input names; the CLI maps its options)."""

FIELD_LABELS = {
    "payer": "Payer",
    "member_id": "Member ID",
    "dob": "Date of birth",
    "dos": "Date of service",
    "dos_to": "Last date of service",
    "service_type": "Service type",
    "charge": "Expected charge",
    "claim_number": "Claim number",
}

_MEMBER_ID = re.compile(r"[A-Z0-9](?:[A-Z0-9-]{0,28}[A-Z0-9])?")
_CLAIM_NUMBER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?", re.ASCII)
_MONEY = re.compile(r"\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?|\$?\.\d{1,2}", re.ASCII)
_DATE_SHAPES = (
    re.compile(r"\d{1,2}/\d{1,2}/\d{4}", re.ASCII),
    re.compile(r"\d{4}-\d{1,2}-\d{1,2}", re.ASCII),
)
MAX_CHARGE = Decimal("1000000")
OLDEST_BIRTH_YEARS = 130

Query = EligibilityQuery | ClaimStatusQuery


@dataclass
class Checked:
    """A desk lookup's input checked: the question, or the problems by field."""

    query: Query | None
    problems: dict[str, str]
    service_type_name: str | None = None
    """The listed name of the service type asked about (eligibility), e.g. "Office visit"."""


def check_lookup(
    settings: Settings, kind: str, values: Mapping[str, str | None], today: date
) -> Checked:
    """The question a desk lookup asks, or every problem of its input (no portal asked)."""
    v = {k: (values.get(k) or "").strip() for k in FIELDS}
    problems: dict[str, str] = {}
    if kind not in ("eligibility", "claim_status"):
        return Checked(None, {"kind": "Choose eligibility or claim status."})
    payer_id = None
    if not v["payer"]:
        problems["payer"] = "Choose a payer."
    else:
        payer_id = PayerDirectory(settings).resolve(v["payer"])
        if payer_id is None:
            problems["payer"] = "That payer is not one of the configured payers."
    member_id = _member_id(v["member_id"], problems, required=kind == "eligibility")
    dob = _date(v["dob"], "dob", "date of birth", DateRole.BIRTH, today, problems)
    if dob is not None:
        why = birth_date_problem(dob, today)
        if why is None and today.year - dob.year > OLDEST_BIRTH_YEARS:
            why = f"the date of birth is more than {OLDEST_BIRTH_YEARS} years ago"
        if why is not None:
            problems["dob"] = _sentence(why)
    dos = _service_date(settings, v["dos"], "dos", "date of service", today, problems)
    if kind == "eligibility":
        if not v["dob"] and "dob" not in problems:
            problems["dob"] = "The date of birth is required."
        service_type, name = _service_type(settings, v["service_type"], problems)
        charge = _money(v["charge"], "charge", "The expected charge", problems)
        if problems:
            return Checked(None, problems)
        assert payer_id is not None and member_id is not None and dob is not None
        return _build(
            lambda: EligibilityQuery(
                payer_id=payer_id,
                member_id=member_id,
                dob=dob,
                date_of_service=dos or today,
                service_type=service_type,
                expected_charge=charge,
            ),
            name,
        )
    dos_to = _service_date(settings, v["dos_to"], "dos_to", "last date of service", today, problems)
    if dos and dos_to and dos_to < dos and "dos_to" not in problems:
        problems["dos_to"] = "The last date of service is before the first."
    claim_number = None
    if v["claim_number"]:
        if _CLAIM_NUMBER.fullmatch(v["claim_number"]) is None:
            problems["claim_number"] = "A claim number has 1 to 40 letters, digits or hyphens."
        else:
            claim_number = v["claim_number"]
    elif not (member_id and dos) and not problems.keys() & {"member_id", "dos"}:
        problems["claim_number"] = CLAIM_QUERY_SHAPE
    if problems:
        return Checked(None, problems)
    assert payer_id is not None
    return _build(
        lambda: ClaimStatusQuery(
            payer_id=payer_id,
            claim_number=claim_number,
            member_id=member_id,
            dob=dob,
            dos_from=dos,
            dos_to=dos_to,
        ),
        None,
    )


def service_type_choices(settings: Settings) -> list[tuple[str, str]]:
    """The service type list a person picks from: (code, "Office visit (98)")."""
    return [(code, f"{name} ({code})") for name, code in settings.worklists.service_types.items()]


def service_type_label(settings: Settings, code: str) -> str:
    """ "Office visit (98)", or the code alone when it is not on the list."""
    name = settings.worklists.service_type_name(code)
    return f"{name} ({code})" if name else code


def _build(make: Callable[[], Query], name: str | None) -> Checked:
    try:
        query = make()
    except ValidationError as exc:  # the model's own rules, in its plain words
        problems: dict[str, str] = {}
        for field, sentence in plain_problems(exc):
            key = {"date_of_service": "dos", "dos_from": "dos", "expected_charge": "charge"}.get(
                field or "", field or "form"
            )
            problems.setdefault(key if key in FIELDS else "form", sentence)
        return Checked(None, problems)
    return Checked(query, {}, name)


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."


def _member_id(text: str, problems: dict[str, str], *, required: bool) -> str | None:
    if not text:
        if required:
            problems["member_id"] = "The member ID is required."
        return None
    compact = re.sub(r"\s+", "", text).upper()
    if not text.isascii() or _MEMBER_ID.fullmatch(compact) is None:
        problems["member_id"] = (
            "A member ID has 2 to 30 letters, digits or hyphens, as on the insurance card."
        )
        return None
    if len(compact) < 2:
        problems["member_id"] = (
            "A member ID has 2 to 30 letters, digits or hyphens, as on the insurance card."
        )
        return None
    return compact


def _date(
    text: str, field: str, what: str, role: DateRole, today: date, problems: dict[str, str]
) -> date | None:
    if not text:
        return None
    if not any(shape.fullmatch(text) for shape in _DATE_SHAPES):
        problems[field] = f"The {what} is not a date: use MM/DD/YYYY or YYYY-MM-DD."
        return None
    try:
        return parse_date(text, role, today)
    except ValueError:
        problems[field] = f"The {what} is not a real calendar date: use MM/DD/YYYY or YYYY-MM-DD."
        return None


def _service_date(
    settings: Settings,
    text: str,
    field: str,
    what: str,
    today: date,
    problems: dict[str, str],
) -> date | None:
    value = _date(text, field, what, DateRole.SERVICE, today, problems)
    if value is None:
        return None
    why = service_date_problem(
        value,
        today,
        days_back=settings.worklists.service_days_back,
        days_ahead=settings.worklists.service_days_ahead,
        what=what,
    )
    if why is not None:
        problems[field] = _sentence(why)
        return None
    return value


def _service_type(
    settings: Settings, text: str, problems: dict[str, str]
) -> tuple[str, str | None]:
    listed = settings.worklists.service_types
    if not text:
        code = settings.worklists.desk_service_type()
        return code, settings.worklists.service_type_name(code)
    wanted = " ".join(text.split()).casefold()
    for name, code in listed.items():
        if wanted in (name.casefold(), code.casefold(), f"{name} ({code})".casefold()):
            return code, name
    problems["service_type"] = "Choose a service type from the list (a name or its code)."
    return "", None


def _money(text: str, field: str, what: str, problems: dict[str, str]) -> Decimal | None:
    if not text:
        return None
    compact = text.replace(" ", "")
    if compact.startswith(("-", "$-", "(")):
        problems[field] = f"{what} cannot be negative."
        return None
    if _MONEY.fullmatch(compact) is None:
        problems[field] = f"{what} is not an amount: write it like 1,250.00."
        return None
    try:
        value = Decimal(compact.replace(",", "").lstrip("$"))
    except InvalidOperation:  # the pattern above admits none: belt and braces
        problems[field] = f"{what} is not an amount: write it like 1,250.00."
        return None
    if value > MAX_CHARGE:
        problems[field] = f"{what} is more than $1,000,000.00: check the amount."
        return None
    return value
