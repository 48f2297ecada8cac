"""The truth audit's own rules, without a browser: what counts as equal, which header is
which field, and the expectations for the traps issue 18 adds (so the audit can fail)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.audit.columns import CLAIM_COLUMNS, ELIGIBILITY_COLUMNS
from tests.audit.expect import eligibility_cells
from tests.audit.readers import locate
from tests.audit.tally import Ident, OneOf, Percent, Tally, Words, same
from tests.truth import (
    Expected,
    coverage_on,
    expected_worklist,
    parse_worklist_date,
    prior_auth,
)

BLANK_OR_NOT = [
    (None, None, True),
    (None, "—", True),
    (None, 0, False),  # a missing amount is never 0
    (None, "No", False),
    (Decimal("0.00"), 0, True),
    (Decimal("12.50"), 12.5, True),
    (Decimal("12.50"), "$12.50", True),
    (Decimal("12.50"), None, False),
    ("Unknown", "No", False),  # unknown prior auth is not "No"
    ("Not required", "No", False),
    ("Required", "required", True),
    (OneOf((None, "Unknown")), "Unknown", True),
    (OneOf((None, "Unknown")), "No", False),
    (Percent(Decimal("40")), "40%", True),
    (Percent(Decimal("40")), 0.4, True),
    (Percent(Decimal("40")), "20%", False),
    (date(2026, 12, 1), datetime(2026, 12, 1), True),
    (date(2026, 12, 1), "12/01/2026", True),
    (date(2026, 12, 1), date(1926, 12, 1), False),
    (Ident("ACM01234567801"), "acm012345678-01", True),
    (Ident("ACM01234567801"), "ACM012345678", False),
    (Words(("not found",)), "Member not found", True),
    (Words(("not found",)), "Portal said no", False),
]


@pytest.mark.parametrize("expected,cell,equal", BLANK_OR_NOT)
def test_cells_compare_as_a_person_reads_them(expected, cell, equal):
    assert same(expected, cell) is equal


def test_headers_are_found_by_name_under_either_spelling():
    today = [
        "Row",
        "Member ID",
        "Coinsurance (in-network)",
        "Prior auth (service type)",
        "Office copay (in-network)",
    ]
    tomorrow = [
        "Row",
        "Member ID (payer)",
        "Member ID (worklist)",
        "Patient Acct #",
        "Coinsurance (in network)",
        "Coinsurance (out of network)",
        "Prior authorization",
    ]
    now = locate(today, ELIGIBILITY_COLUMNS)
    assert now["coinsurance_in"] == ["Coinsurance (in-network)"]
    assert now["coinsurance_out"] == [] and now["account"] == []
    later = locate(tomorrow, ELIGIBILITY_COLUMNS)
    assert later["coinsurance_in"] == ["Coinsurance (in network)"]
    assert later["coinsurance_out"] == ["Coinsurance (out of network)"]
    assert later["member_id"] == ["Member ID (payer)", "Member ID (worklist)"]
    assert later["account"] == ["Patient Acct #"]
    assert later["prior_auth"] == ["Prior authorization"]
    claims = locate(["Claim #", "Patient acct #", "Account", "Patient resp."], CLAIM_COLUMNS)
    assert claims["account"] == ["Patient acct #", "Account"]
    assert claims["patient_responsibility"] == ["Patient resp."]


def line(service: str, code: str, network: str, auth: str) -> dict[str, object]:
    return {
        "service_type": service,
        "benefit": code,
        "in_network": network,
        "coverage_level": "IND",
        "time_period": None,
        "amount": None,
        "percent": "40" if code == "A" else None,
        "total": None,
        "met": None,
        "remaining": None,
        "prior_auth_required": auth,
    }


def test_prior_auth_is_tri_state_and_read_in_network():
    assert prior_auth({"benefits": [line("AL", "I", "Y", "U")]}, "AL") == "Unknown"
    assert prior_auth({"benefits": [line("98", "B", "Y", "N")]}, "98") == "Not required"
    assert prior_auth({"benefits": [line("98", "B", "Y", "N")]}, "AL") == "Unknown"  # unsaid
    mh = [line("MH", "B", "Y", "N"), line("MH", "A", "N", "Y")]  # only out of network
    assert prior_auth({"benefits": mh}, "MH") == "Not required"
    assert prior_auth({"benefits": [line("MH", "B", "Y", "Y")]}, "MH") == "Required"


def test_out_of_network_only_coinsurance_is_expected_in_its_own_column():
    payload = {
        "coverage_active": True,
        "member_id": "X1",
        "last_name": "A",
        "first_name": "B",
        "dob": "1990-01-01",
        "plan_name": None,
        "network_type": None,
        "group_number": None,
        "effective_date": "2026-01-01",
        "termination_date": None,
        "pcp_name": None,
        "benefits": [line("98", "A", "N", "N")],
    }
    e = Expected(
        kind="eligibility",
        row=2,
        cells={"Appt Date": "12/01/2026", "DOB": "01/01/1990", "Member ID": "X1"},
        payer_id="ACME",
        portal="payerhub",
        outcome="result",
        rule="exact member id",
        service_type="98",
        payload=payload,
    )
    cells = eligibility_cells(e)
    assert cells["coinsurance_in"] is None and cells["coinsurance_out"] == Percent(Decimal("40"))
    assert cells["copay_in"] is None  # not offered: blank, never 0
    assert cells["prior_auth"] == "Unknown"  # nothing said in network: not "Not required"


def test_two_digit_years_take_the_century_of_their_field():
    today = date(2026, 12, 2)
    assert parse_worklist_date("12/03/26", past=False, today=today) == date(2026, 12, 3)
    assert parse_worklist_date("06/15/27", past=False, today=today) == date(2027, 6, 15)
    assert parse_worklist_date("06/15/27", past=True, today=today) == date(1927, 6, 15)
    assert parse_worklist_date("03/04/19", past=True, today=today) == date(2019, 3, 4)


def test_a_date_of_service_in_a_coverage_gap_is_not_covered():
    segments = [  # the data set's shape: coverage.segments, each overriding the dates
        {"effective_date": "2025-01-01", "termination_date": "2025-12-31"},
        {"effective_date": "2026-03-01", "termination_date": None},
    ]
    cov = {"effective_date": "2025-01-01", "termination_date": None, "segments": segments}
    m = {"coverage": cov}
    first, second = ({**cov, **seg} for seg in segments)
    assert coverage_on(m, date(2026, 2, 1)) == (first, False)  # in the gap: not covered
    assert coverage_on(m, date(2026, 3, 1)) == (second, True)
    assert coverage_on({"coverage": {**cov, "segments": None}}, date(2026, 2, 1))[1]


def test_overlapping_claims_and_flagged_traps_are_expected_as_failures(tmp_path: Path):
    gt = json.loads(json.dumps(_tiny_truth()))
    worklist = tmp_path / "claims.csv"
    worklist.write_text(
        "Claim #,Patient Acct #,Patient Last,Patient First,DOB,Payer,Member ID,DOS From,"
        "DOS To,Billed\r\n"
        ",,Doe,Jo,01/01/1990,ACME,ACM1,06/01/2026,06/10/2026,10.00\r\n"  # two claims in range
        ",,Doe,Jo,01/01/1990,ACME,ACM1,07/01/2026,07/01/2026,10.00\r\n"  # one claim
        "C9,,Doe,Jo,01/01/1990,ACME,ACM1,,,\r\n"  # a trap that names its outcome
    )
    rows = expected_worklist(gt, "claim_status", worklist)
    assert [r.outcome for r in rows] == ["ambiguous_match", "result", "layout_changed"]


def _tiny_truth() -> dict[str, object]:
    def claim(number: str, start: str, end: str) -> dict[str, object]:
        return {
            "claim_number": number,
            "patient_account_number": "PA1",
            "payer_id": "ACME",
            "member_key": "M1",
            "member_id": "ACM1",
            "dos_from": start,
            "dos_to": end,
            "received_date": None,
            "billed": "10.00",
            "allowed": None,
            "paid": None,
            "patient_responsibility": None,
            "status": {"category": "P1", "code": "20", "text": ""},
            "adjudication_date": None,
            "payment": None,
            "service_lines": [],
            "adjustments": [],
        }

    return {
        "payers": [{"payer_id": "ACME", "name": "Acme Health Plan", "portal": "payerhub"}],
        "members": [
            {"member_key": "M1", "member_id": "ACM1", "first_name": "Jo", "last_name": "Doe"}
            | {"dob": "1990-01-01", "subscriber_id": "ACM", "payer_id": "ACME"}
        ],
        "claims": [
            claim("C1", "2026-06-01", "2026-06-03"),
            claim("C2", "2026-06-05", "2026-06-10"),
            claim("C3", "2026-07-01", "2026-07-01"),
            claim("C9", "2026-08-01", "2026-08-01"),
        ],
        "traps": [{"kind": "unseen_word", "claim_number": "C9", "payer_id": "ACME"}],
    }


def test_the_table_names_rows_never_values():
    tally = Tally()
    tally.compare("workbook", "prior_auth", "E4 #abcd1234", "Unknown", "No")
    tally.compare("workbook", "prior_auth", "E5 #abcd1235", "Not required", "Not required")
    table = tally.table()
    assert "E4 #abcd1234" in table and "E5" not in table
    assert "Unknown" not in table and "No\n" not in table
    assert "1 of 2 checked cells differ" in table
