"""What a person reads, the same on every surface: prior auth tri-state (never "No" for
unknown), coinsurance and accumulators in and out of network, and the worklist's own
identifiers kept beside the portal's answer (issue 18, defects 2-4).

Outcomes are recorded through the store API, then both workbooks are written and read back
with openpyxl, and ``lookup --json``'s answer is built from the same stored item."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bots.codes import (
    BenefitInfo,
    CoverageLevel,
    YesNoUnknown,
    prior_auth_label,
    prior_auth_of,
)
from bots.models import (
    Benefit,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    LookupKind,
)
from bots.outputs.run_workbook import write_workbook
from bots.outputs.shown import NO_NAME
from bots.outputs.specialists_workbook import EligibilityLine, write_specialist_workbook
from bots.services.lookups import LookupAnswer
from bots.settings import QueueSettings
from bots.store import ItemState, Outcome, Question, Store, utcnow
from tests import rows as rows_

NOW = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
Y, N, U, W = YesNoUnknown.YES, YesNoUnknown.NO, YesNoUnknown.UNKNOWN, YesNoUnknown.BOTH


def line(st: str, info: BenefitInfo, net: YesNoUnknown, **over: Any) -> Benefit:
    return Benefit(service_type=st, benefit=info, in_network=net, **over)


def elig_result(benefits: tuple[Benefit, ...], **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "portal": "payerhub",
        "payer_id": "ACME",
        "as_of": NOW,
        "member_id": "ACM1",
        "first_name": "JANE",
        "last_name": "DOE",
        "dob": date(1980, 5, 17),
        "date_of_service": date(2026, 12, 1),
        "coverage_active": True,
        "plan_name": "Gold PPO",
        "benefits": benefits,
    }
    fields.update(over)
    return EligibilityResult(**fields).model_dump(mode="json")


def claim_result(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "portal": "payerhub",
        "payer_id": "ACME",
        "as_of": NOW,
        "claim_number": "CLM1",
        "member_id": "ACM1",
        "first_name": "JANE",
        "last_name": "DOE",
        "dos_from": date(2026, 11, 3),
        "dos_to": date(2026, 11, 3),
        "category": "F1",
        "billed": Decimal("100"),
        "paid": Decimal("80"),
    }
    fields.update(over)
    return ClaimStatusResult(**fields).model_dump(mode="json")


def elig_query(service_type: str = "98", **over: Any) -> EligibilityQuery:
    fields: dict[str, Any] = {
        "payer_id": "ACME",
        "member_id": "ACM1",
        "dob": date(1980, 5, 17),
        "date_of_service": date(2026, 12, 1),
        "first_name": "JANE",
        "last_name": "DOE",
        "service_type": service_type,
    }
    fields.update(over)
    return EligibilityQuery(**fields)


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'store.db'}", QueueSettings())
    yield s
    s.close()


def stored(
    store: Store,
    answers: list[tuple[EligibilityQuery | ClaimStatusQuery, dict[str, Any] | None]],
) -> list[Outcome]:
    """Each (question, answer) recorded through the store as a run would; None: not found."""
    kind = answers[0][0].kind
    run = store.start_run(kind, "batch", "w.csv")[0]
    by_reference = {}
    for n, (query, payload) in enumerate(answers):
        by_reference[f"{query.reference()}|{n}"] = payload
        store.enqueue(
            run,
            Question(
                reference=f"{query.reference()}|{n}",
                kind=kind,
                payer_id=query.payer_id,
                portal="payerhub",
                query=query.model_dump(mode="json"),
                source_row=n + 2,
            ),
        )
    for _ in answers:
        item = store.claim(run, "payerhub")
        assert item is not None
        answer = by_reference[item.reference]
        store.complete(
            item,
            run,
            outcome=ItemState.SUCCEEDED if answer else ItemState.BUSINESS_FAILED,
            started_at=utcnow(),
            payload=answer,
            error_code=None if answer else "member_not_found",
            error_message=None if answer else "the portal found no match",
        )
    return store.run_outcomes(run)


def sheets(tmp_path: Path, kind: LookupKind, outcomes: list[Outcome]) -> list[list[dict]]:
    """The rows of the run workbook's sheet and of the specialists' workbook's sheet."""
    run_path = write_workbook(tmp_path / "run.xlsx", {kind: outcomes})
    rolling = tmp_path / "rolling.xlsx"
    elig = [EligibilityLine(o) for o in outcomes] if kind == LookupKind.ELIGIBILITY else []
    claims = outcomes if kind == LookupKind.CLAIM_STATUS else []
    write_specialist_workbook(rolling, [], elig, claims, [], now=NOW)
    name = "Eligibility" if kind == LookupKind.ELIGIBILITY else "Claim status"
    found = []
    for path in (run_path, rolling):
        ws = load_workbook(path)[name]
        header = [c.value for c in ws[1]]
        found.append(
            [dict(zip(header, r, strict=True)) for r in ws.iter_rows(values_only=True)][1:]
        )
    return found


def json_answer(item: Outcome) -> dict[str, Any]:
    return LookupAnswer("run-1", item, None, [], 1.0).as_json()


# --- the shared labels -------------------------------------------------------------------------


def test_prior_auth_words_never_turn_unknown_into_not_required():
    assert [prior_auth_label(c) for c in (Y, N, U, W, None, "?")] == [
        "Required",
        "Not required",
        "Unknown",
        "Unknown",
        "Unknown",
        "Unknown",
    ]
    assert prior_auth_of([N, Y, U]) == Y  # any line that needs it
    assert prior_auth_of([N, N]) == N  # every line says no
    assert prior_auth_of([N, U]) == U  # lines that disagree are not a "no"
    assert prior_auth_of([W]) == U
    assert prior_auth_of([]) == U  # no line for the service type: the portal did not say


# --- defect 2: unknown prior auth --------------------------------------------------------------


AUTH_CASES = [
    (
        "unknown",
        (line("98", BenefitInfo.COPAYMENT, Y, amount=Decimal(25), prior_auth_required=U),),
        "Unknown",
    ),
    (
        "not required",
        (line("98", BenefitInfo.COPAYMENT, Y, amount=Decimal(25), prior_auth_required=N),),
        "Not required",
    ),
    (
        "required",
        (
            line("98", BenefitInfo.COPAYMENT, Y, prior_auth_required=N),
            line("98", BenefitInfo.COINSURANCE, Y, prior_auth_required=Y),
        ),
        "Required",
    ),
    (
        "required out of network only",
        (
            line("98", BenefitInfo.COPAYMENT, Y, prior_auth_required=N),
            line("98", BenefitInfo.COINSURANCE, N, prior_auth_required=Y),
        ),
        "Not required",  # the in-network answer, as the follow-up rules read it; notes say more
    ),
    (
        "mixed",
        (
            line("98", BenefitInfo.COPAYMENT, Y, prior_auth_required=N),
            line("98", BenefitInfo.COINSURANCE, Y, prior_auth_required=U),
        ),
        "Unknown",
    ),
    ("no line", (line("30", BenefitInfo.DEDUCTIBLE, Y, prior_auth_required=N),), "Unknown"),
    ("both", (line("98", BenefitInfo.COPAYMENT, Y, prior_auth_required=W),), "Unknown"),
]


def test_prior_auth_is_tri_state_in_both_workbooks_and_json(store, tmp_path):
    outcomes = stored(store, [(elig_query(), elig_result(b)) for _, b, _ in AUTH_CASES])
    wanted = [want for _, _, want in AUTH_CASES]
    for rows in sheets(tmp_path, LookupKind.ELIGIBILITY, outcomes):
        assert [r["Prior auth (service type)"] for r in rows] == wanted
    for item, (case, _, want) in zip(outcomes, AUTH_CASES, strict=True):
        shown = json_answer(item)["summary"]["benefits"]["prior_auth"]
        assert shown["label"] == want, case
        assert shown["code"] == {"Unknown": "U", "Not required": "N", "Required": "Y"}[want]
    rows = sheets(tmp_path, LookupKind.ELIGIBILITY, outcomes)[0]
    assert "out of network, prior auth: required" in rows[3]["Benefit notes"]
    assert "prior auth differs" in rows[4]["Benefit notes"]


def test_a_failed_lookup_leaves_prior_auth_blank_not_no(store, tmp_path):
    (item,) = stored(store, [(elig_query(), None)])
    for (row,) in sheets(tmp_path, LookupKind.ELIGIBILITY, [item]):
        assert row["Outcome"] == "Member not found"
        assert row["Prior auth (service type)"] is None


# --- defect 3: out-of-network-only and family-only values --------------------------------------


def test_out_of_network_and_family_values_are_shown(store, tmp_path):
    benefits = (
        line("98", BenefitInfo.COPAYMENT, Y, amount=Decimal(30)),
        line("98", BenefitInfo.COINSURANCE, N, percent=Decimal(40)),  # only out of network
        line(
            "30",
            BenefitInfo.DEDUCTIBLE,
            N,
            coverage_level=CoverageLevel.INDIVIDUAL,
            remaining=Decimal("2500.00"),
        ),
        line(
            "30",
            BenefitInfo.DEDUCTIBLE,
            Y,
            coverage_level=CoverageLevel.FAMILY,
            total=Decimal(3000),
            met=Decimal(1000),
        ),
        line(
            "30",
            BenefitInfo.OUT_OF_POCKET,
            W,
            coverage_level=CoverageLevel.INDIVIDUAL,
            remaining=Decimal("0.00"),
        ),
    )
    (item,) = stored(store, [(elig_query(), elig_result(benefits))])
    for (row,) in sheets(tmp_path, LookupKind.ELIGIBILITY, [item]):
        assert row["Copay (in network)"] == 30 and row["Copay (out of network)"] is None
        assert row["Coinsurance (in network)"] is None
        assert row["Coinsurance (out of network)"] == "40%"
        assert row["Deductible remaining (individual, in network)"] is None
        assert row["Deductible remaining (individual, out of network)"] == 2500
        assert row["Deductible remaining (family, in network)"] == 2000
        assert row["Deductible remaining (family, out of network)"] is None
        # a W line applies in and out of network; a real zero stays zero
        assert row["Out-of-pocket remaining (individual, in network)"] == 0
        assert row["Out-of-pocket remaining (individual, out of network)"] == 0
        assert row["Service type"] == "Professional (Physician) Visit - Office (98)"
        assert row["Benefit notes"] is None
        assert not [v for v in row.values() if v in ("None", "nan", ", ")]
    benefits_json = json_answer(item)["summary"]["benefits"]
    assert benefits_json["coinsurance_percent"] == {"in_network": None, "out_of_network": "40"}
    assert benefits_json["deductible_remaining"]["family"] == {
        "in_network": "2000",
        "out_of_network": None,
    }


def test_plan_level_values_stand_in_and_say_so(store, tmp_path):
    benefits = (
        line("30", BenefitInfo.COINSURANCE, Y, percent=Decimal(20)),
        line("30", BenefitInfo.DEDUCTIBLE, Y, remaining=Decimal(100)),
        line("UC", BenefitInfo.NON_COVERED, Y),
        line("UC", BenefitInfo.LIMITATIONS, U),
    )
    (item,) = stored(store, [(elig_query("UC"), elig_result(benefits))])
    for (row,) in sheets(tmp_path, LookupKind.ELIGIBILITY, [item]):
        assert row["Coinsurance (in network)"] == "20%"
        assert row["Deductible remaining (individual, in network)"] == 100
        assert "copay and coinsurance: plan-level values" in row["Benefit notes"]
        assert "do not say which network" in row["Benefit notes"]


# --- defect 4: the worklist's identifiers ------------------------------------------------------


def test_worklist_account_number_survives_a_portal_that_shows_none(store, tmp_path):
    asked = {
        "payer_id": "ACME",
        "member_id": "ACM1",
        "first_name": "Jane",
        "last_name": "Doe",
        "dos_from": date(2026, 11, 3),
        "dos_to": date(2026, 11, 3),
    }
    outcomes = stored(
        store,
        [
            (ClaimStatusQuery(**asked, patient_account_number="PA-77"), claim_result()),
            (
                ClaimStatusQuery(**asked, patient_account_number="PA-78", billed=Decimal(1)),
                claim_result(claim_number="CLM2", patient_account_number="X-9"),
            ),
        ],
    )
    for first, second in sheets(tmp_path, LookupKind.CLAIM_STATUS, outcomes):
        assert first["Patient acct #"] == "PA-77" and first["Patient acct # (portal)"] is None
        assert second["Patient acct #"] == "PA-78" and second["Patient acct # (portal)"] == "X-9"
        # asked by member and dates: the portal's claim number is beside the empty question's
        assert first["Claim #"] is None and first["Claim # (portal)"] == "CLM1"
        # the same name in other letters is not a difference
        assert first["Patient"] == "Doe, Jane" and first["Patient (portal)"] is None
        assert first["Member ID"] == "ACM1" and first["Member ID (portal)"] is None
    ids = json_answer(outcomes[0])["summary"]["identifiers"]
    assert ids["patient_account_number"] == "PA-77"
    assert ids["claim_number_on_portal"] == "CLM1"


def test_a_lookup_without_names_never_shows_a_lone_comma(store, tmp_path):
    outcomes = stored(
        store,
        [
            (elig_query(first_name=None, last_name=None), elig_result(())),
            (
                elig_query(first_name=None, last_name=None, member_id="ACM2"),
                elig_result((), first_name="", last_name="", member_id="ACM2-01"),
            ),
        ],
    )
    for named, nameless in sheets(tmp_path, LookupKind.ELIGIBILITY, outcomes):
        assert named["Patient"] == NO_NAME and named["Patient (portal)"] == "DOE, JANE"
        assert nameless["Patient"] == NO_NAME and nameless["Patient (portal)"] is None
        assert nameless["Member ID"] == "ACM2" and nameless["Member ID (portal)"] == "ACM2-01"
    ids = json_answer(outcomes[1])["summary"]["identifiers"]
    assert ids["patient"] == NO_NAME and ids["patient_on_portal"] is None


def test_followups_sheet_names_a_nameless_patient_and_headers_explain_blanks(tmp_path):
    target = tmp_path / "w.xlsx"
    fup = rows_.followup(id=1, patient=None, member_id="ACM1")
    write_specialist_workbook(target, [fup], [], [], [], now=NOW)
    wb = load_workbook(target)
    ws = wb["Follow-ups"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("Patient") + 1).value == NO_NAME
    elig = wb["Eligibility"]
    notes = {c.value: c.comment.text for c in elig[1] if c.comment is not None}
    assert "Unknown" in notes["Prior auth (service type)"]
    assert "never zero" in notes["Coinsurance (out of network)"]


def test_json_keeps_the_raw_result_and_adds_words(store):
    benefits = (line("98", BenefitInfo.COPAYMENT, Y, amount=Decimal(25), prior_auth_required=U),)
    (item,) = stored(store, [(elig_query(), elig_result(benefits))])
    shown = json_answer(item)
    assert shown["result"]["benefits"][0]["prior_auth_required"] == "U"  # as before
    assert shown["summary"]["coverage"] == "Active"
    assert shown["summary"]["benefits"]["service_type"]["code"] == "98"
