"""A desk lookup's input checked before any portal is asked (bots/intake/lookup_form.py): what
is accepted, what is refused, and that a refusal is one plain sentence per field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bots.intake.lookup_form import check_lookup, service_type_choices, service_type_label
from bots.models import ClaimStatusQuery, EligibilityQuery
from bots.settings import load_settings

TODAY = date(2026, 12, 2)
PYTHON_WORDS = (
    "isoformat",
    "ConversionSyntax",
    "InvalidOperation",
    "decimal.",
    "Traceback",
    "Value error",
    "Input should",
    "pydantic",
    "invalid literal",
    "unconverted data",
    "does not match format",
    "NoneType",
    "Error",
)


@pytest.fixture(scope="module")
def settings():
    return load_settings()


def eligibility(**values: str) -> dict[str, str]:
    return {"payer": "ACME", "member_id": "ACM123456789", "dob": "05/17/1980", **values}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ({"charge": "$1,250.00"}, Decimal("1250.00")),
        ({"charge": "1250"}, Decimal("1250")),
        ({"charge": "1,250.00"}, Decimal("1250.00")),
        ({"charge": " 180.5 "}, Decimal("180.5")),
        ({"charge": ""}, None),
    ],
)
def test_money_is_read_as_people_write_it(settings, typed, expected):
    checked = check_lookup(settings, "eligibility", eligibility(**typed), TODAY)
    assert checked.problems == {}
    assert isinstance(checked.query, EligibilityQuery)
    assert checked.query.expected_charge == expected


def test_dates_us_or_iso_member_id_compacted_and_dos_defaults_to_today(settings):
    us = check_lookup(settings, "eligibility", eligibility(dos="12/03/2026"), TODAY).query
    iso = check_lookup(
        settings, "eligibility", eligibility(dob="1980-05-17", dos="2026-12-03"), TODAY
    ).query
    assert isinstance(us, EligibilityQuery) and isinstance(iso, EligibilityQuery)
    assert us.dob == iso.dob == date(1980, 5, 17)
    assert us.date_of_service == iso.date_of_service == date(2026, 12, 3)
    spaced = check_lookup(settings, "eligibility", eligibility(member_id="acm 1234-56"), TODAY)
    assert isinstance(spaced.query, EligibilityQuery)
    assert spaced.query.member_id == "ACM1234-56"
    plain = check_lookup(settings, "eligibility", eligibility(), TODAY).query
    assert isinstance(plain, EligibilityQuery) and plain.date_of_service == TODAY


def test_service_type_by_name_or_code_and_the_default_is_the_presets(settings):
    listed = settings.worklists.service_types
    assert listed["Office visit"] == "98" and listed["Urgent care"] == "UC"
    assert listed["Plan coverage (general)"] == "30"
    preset = settings.worklists.presets["appointments"].service_type
    assert preset == "98"
    default = check_lookup(settings, "eligibility", eligibility(), TODAY)
    assert isinstance(default.query, EligibilityQuery)
    assert default.query.service_type == preset and default.service_type_name == "Office visit"
    for typed, code in [("urgent care", "UC"), ("MH", "MH"), ("33", "33"), ("Dental", "35")]:
        picked = check_lookup(settings, "eligibility", eligibility(service_type=typed), TODAY)
        assert isinstance(picked.query, EligibilityQuery), typed
        assert picked.query.service_type == code
    assert ("98", "Office visit (98)") in service_type_choices(settings)
    assert service_type_label(settings, "AL") == "Vision (AL)"
    assert service_type_label(settings, "ZZ") == "ZZ"


def test_claim_status_needs_a_claim_number_or_member_and_date(settings):
    by_number = check_lookup(
        settings, "claim_status", {"payer": "ACME", "claim_number": "C-2026-0001"}, TODAY
    )
    assert isinstance(by_number.query, ClaimStatusQuery)
    by_member = check_lookup(
        settings,
        "claim_status",
        {"payer": "ACME", "member_id": "ACM1", "dos": "11/20/2026", "dos_to": "11/21/2026"},
        TODAY,
    )
    assert isinstance(by_member.query, ClaimStatusQuery)
    assert by_member.query.dos_from == date(2026, 11, 20)
    lacking = check_lookup(settings, "claim_status", {"payer": "ACME", "member_id": "ACM1"}, TODAY)
    assert lacking.query is None
    assert lacking.problems == {
        "claim_number": "A claim status question needs a claim number (or patient account "
        "number), or a member ID with the date of service."
    }
    backwards = check_lookup(
        settings,
        "claim_status",
        {"payer": "ACME", "claim_number": "C1", "dos": "11/20/2026", "dos_to": "11/02/2026"},
        TODAY,
    )
    assert backwards.problems == {"dos_to": "The last date of service is before the first."}


REFUSED = [
    # (kind, typed, the field refused, words in its sentence)
    ("eligibility", {"payer": ""}, "payer", "Choose a payer"),
    ("eligibility", {"payer": "Nowhere Health"}, "payer", "not one of the configured"),
    ("eligibility", {"member_id": ""}, "member_id", "required"),
    ("eligibility", {"member_id": "A"}, "member_id", "2 to 30"),
    ("eligibility", {"member_id": "ACM_123"}, "member_id", "letters, digits or hyphens"),
    ("eligibility", {"member_id": "ACM1;DROP"}, "member_id", "letters, digits or hyphens"),
    ("eligibility", {"member_id": "X" * 31}, "member_id", "2 to 30"),
    ("eligibility", {"member_id": "-ACM1"}, "member_id", "letters, digits or hyphens"),
    ("eligibility", {"member_id": "ÄCM123"}, "member_id", "letters, digits or hyphens"),
    ("eligibility", {"dob": ""}, "dob", "required"),
    ("eligibility", {"dob": "17.5.80"}, "dob", "MM/DD/YYYY or YYYY-MM-DD"),
    ("eligibility", {"dob": "02/30/1980"}, "dob", "not a real calendar date"),
    ("eligibility", {"dob": "13/01/1980"}, "dob", "not a real calendar date"),
    ("eligibility", {"dob": "1980-02-30"}, "dob", "not a real calendar date"),
    ("eligibility", {"dob": "2025-02-29"}, "dob", "not a real calendar date"),
    ("eligibility", {"dob": "0000-01-01"}, "dob", "not a real calendar date"),
    ("eligibility", {"dob": "5/17/80"}, "dob", "MM/DD/YYYY or YYYY-MM-DD"),
    ("eligibility", {"dob": "yesterday"}, "dob", "MM/DD/YYYY or YYYY-MM-DD"),
    ("eligibility", {"dob": "1980-05-17T00:00"}, "dob", "MM/DD/YYYY or YYYY-MM-DD"),
    ("eligibility", {"dob": "12/25/2026"}, "dob", "after today"),
    ("eligibility", {"dob": "01/01/1850"}, "dob", "more than 130 years"),
    ("eligibility", {"dos": "12/03/2062"}, "dos", "too far ahead"),
    ("eligibility", {"dos": "12/03/1926"}, "dos", "too far back"),
    ("eligibility", {"dos": "2026-11-31"}, "dos", "not a real calendar date"),
    ("eligibility", {"dos": "\x00"}, "dos", "MM/DD/YYYY or YYYY-MM-DD"),
    ("eligibility", {"service_type": "Spa day"}, "service_type", "from the list"),
    ("eligibility", {"service_type": "99"}, "service_type", "from the list"),
    ("eligibility", {"charge": "-5"}, "charge", "cannot be negative"),
    ("eligibility", {"charge": "$-1,250.00"}, "charge", "cannot be negative"),
    ("eligibility", {"charge": "(100.00)"}, "charge", "cannot be negative"),
    ("eligibility", {"charge": "abc"}, "charge", "not an amount"),
    ("eligibility", {"charge": "1e5"}, "charge", "not an amount"),
    ("eligibility", {"charge": "NaN"}, "charge", "not an amount"),
    ("eligibility", {"charge": "Infinity"}, "charge", "not an amount"),
    ("eligibility", {"charge": "12,50.00"}, "charge", "not an amount"),
    ("eligibility", {"charge": "1.234"}, "charge", "not an amount"),
    ("eligibility", {"charge": "1..2"}, "charge", "not an amount"),
    ("eligibility", {"charge": "$"}, "charge", "not an amount"),
    ("eligibility", {"charge": "99999999"}, "charge", "more than $1,000,000.00"),
    ("claim_status", {"claim_number": "C 1/2"}, "claim_number", "1 to 40"),
    ("claim_status", {"claim_number": "", "dos": "2026-13-01"}, "dos", "not a real"),
    ("claim_status", {"claim_number": "C1", "dos_to": "31/12/2026"}, "dos_to", "not a real"),
]


@pytest.mark.parametrize(("kind", "typed", "field", "words"), REFUSED)
def test_bad_input_is_refused_in_one_plain_sentence_by_field(settings, kind, typed, field, words):
    values = eligibility(**typed) if kind == "eligibility" else {"payer": "ACME", **typed}
    checked = check_lookup(settings, kind, values, TODAY)
    assert checked.query is None
    assert field in checked.problems, checked.problems
    sentence = checked.problems[field]
    assert words in sentence
    assert sentence[0].isupper() and sentence.endswith(".") and "\n" not in sentence
    for text in checked.problems.values():
        assert not any(w in text for w in PYTHON_WORDS), text
        typed_value = typed.get(field, "")
        if len(typed_value) > 3:  # the value typed (it may be PHI) is never repeated
            assert typed_value not in text


def test_every_problem_of_a_form_at_once(settings):
    checked = check_lookup(
        settings,
        "eligibility",
        {"payer": "", "member_id": "!", "dob": "2/30/1980", "charge": "-1", "service_type": "x"},
        TODAY,
    )
    assert set(checked.problems) == {"payer", "member_id", "dob", "charge", "service_type"}
