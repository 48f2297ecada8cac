"""Right patient or no result, enforced by the engine: whatever a flow returns is checked
against the question (bots/matching.py) before it is recorded. A careless flow that hands
back another patient's answer ends as ``patient_mismatch``, never as a stored answer."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bots.flowkit.scripted import ScriptedFlow, answer_for
from bots.models import ClaimStatusQuery, EligibilityQuery, IdentityBasis, LookupKind
from bots.store.schema import results
from tests.engine.conftest import claim, elig, run, tries

pytestmark = pytest.mark.timeout(30)


def _someone_else(member_id: str = "M999") -> EligibilityQuery:
    return EligibilityQuery(
        payer_id="ALPHA",
        member_id=member_id,
        dob=date(1975, 5, 5),
        date_of_service=date(2026, 12, 1),
    )


def _stored_payloads(store, item_id: int) -> list[object]:
    with store.engine.begin() as conn:
        return [
            p
            for (p,) in conn.execute(select(results.c.payload).where(results.c.item_id == item_id))
        ]


def test_a_careless_flow_returning_another_patient_is_a_patient_mismatch(settings, store):
    careless = ScriptedFlow({"M1": answer_for(_someone_else())})  # never checked who it was
    summary, items = run(settings, store, {"alpha": careless}, [elig("M1"), elig("M2")])
    item = items["M1"]
    assert (item.state, item.last_error_code) == ("business_failed", "patient_mismatch")
    assert item.payload is None and _stored_payloads(store, item.id) == [None]
    assert tries(store, item.id) == [(1, "business_failed", "patient_mismatch")]
    assert len(careless.asked("M1")) == 1, "a mismatch is a business answer: never retried"
    assert items["M2"].state == "succeeded" and summary.ok


def test_another_date_of_birth_on_the_same_id_is_a_patient_mismatch(settings, store):
    twin = _someone_else("M1")  # same ID, another date of birth
    _, items = run(settings, store, {"alpha": ScriptedFlow({"M1": answer_for(twin)})}, [elig("M1")])
    assert (items["M1"].state, items["M1"].last_error_code) == (
        "business_failed",
        "patient_mismatch",
    )


def test_an_answer_without_identity_needs_a_declared_basis(settings, store):
    _, asked = elig("M1")
    bare = answer_for(asked).model_copy(update={"member_id": None, "dob": None})
    declared = bare.model_copy(update={"identity_basis": IdentityBasis.SEARCH_UNIQUE})
    flow = ScriptedFlow({"M1": bare, "M2": declared})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    assert (items["M1"].state, items["M1"].last_error_code) == (
        "business_failed",
        "patient_mismatch",
    )
    assert items["M1"].payload is None
    assert items["M2"].state == "succeeded"
    assert items["M2"].payload["identity_basis"] == "search_unique", "the store keeps the basis"
    assert items["M2"].payload["member_id"] is None


def test_a_shown_identity_is_recorded_with_its_basis(settings, store):
    _, items = run(settings, store, {"alpha": ScriptedFlow()}, [elig("M1")])
    assert items["M1"].payload["identity_basis"] == "shown"


def test_a_careless_claim_flow_returning_another_claim_is_a_patient_mismatch(settings, store):
    other = ClaimStatusQuery(payer_id="ALPHA", claim_number="C2")
    flow = ScriptedFlow({"C1": answer_for(other)})
    _, items = run(settings, store, {"alpha": flow}, [claim("C1")], kind=LookupKind.CLAIM_STATUS)
    assert (items["C1"].state, items["C1"].last_error_code) == (
        "business_failed",
        "patient_mismatch",
    )
    assert items["C1"].payload is None


def test_a_flow_answering_with_no_result_is_a_flow_bug(settings, store):
    _, items = run(settings, store, {"alpha": ScriptedFlow({"M1": "not a result"})}, [elig("M1")])
    assert (items["M1"].state, items["M1"].last_error_code, items["M1"].attempts) == (
        "system_failed",
        "flow_bug",
        1,
    )
