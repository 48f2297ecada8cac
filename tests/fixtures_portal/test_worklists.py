"""The sample worklists are generated from the data set and their expected outcomes hold."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Any

from payerhub.search import HubData
from portalkit.data import CHECK_DATE, is_active, payers_on
from portalkit.strict_traps import PORTALS
from portalkit.worklists import OUT_DIR, render

from tests.truth import (
    claim_question_outcome,
    claims_fitting,
    expected_claim_outcome,
    expected_eligibility_outcome,
)


def _iso(us: str) -> str:
    return datetime.strptime(us, "%m/%d/%Y").date().isoformat()


def _payer(text: str) -> str:
    from portalkit.worklists import INSURANCE_NAMES

    return next(p for p, names in INSURANCE_NAMES.items() if text in names)


def _read(name: str) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    with (OUT_DIR / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = json.loads((OUT_DIR / f"{name}.expected.json").read_text())
    assert [e["row"] for e in expected] == list(range(2, len(rows) + 2))
    return rows, expected


def test_committed_worklists_are_up_to_date(dataset: dict[str, Any]) -> None:
    for name, text in render(dataset).items():
        assert (OUT_DIR / name).read_bytes().decode() == text, f"regenerate {name}"


def test_appointments_expectations_hold(dataset: dict[str, Any]) -> None:
    rows, expected = _read("appointments")
    assert 50 <= len(rows) <= 70
    hub = HubData(dataset, [p["payer_id"] for p in dataset["payers"]])  # search rules over all
    by_key = {m["member_key"]: m for m in dataset["members"]}
    outcomes: dict[str, int] = {}
    for row, truth in zip(rows, expected, strict=True):
        outcomes[truth["outcome"]] = outcomes.get(truth["outcome"], 0) + 1
        assert row["Appt Date"] == "12/01/2026"
        kind, found = hub.eligibility(_payer(row["Insurance"]), row["Member ID"], _iso(row["DOB"]))
        if truth["outcome"] == "member_not_found":
            assert kind == "not_found"
        elif truth["outcome"] in ("result", "no_coverage_on_date"):
            member = found[0]
            assert kind == "detail" and member["dob"] == _iso(row["DOB"])
            assert truth["outcome"] == expected_eligibility_outcome(
                dataset, member["member_key"], CHECK_DATE
            )
            if truth["outcome"] == "result":
                assert member is by_key[truth["member_key"]]
                assert is_active(member, CHECK_DATE) is truth["coverage_active"]
        else:
            assert truth["member_key"] is None
            if kind == "detail":
                assert truth["outcome"] == "patient_mismatch"
                assert found[0]["dob"] != _iso(row["DOB"])
            else:
                assert (truth["outcome"], kind) == ("ambiguous", "candidates")
                assert sum(1 for m in found if m["dob"] == _iso(row["DOB"])) >= 2
    assert outcomes["member_not_found"] == 6 and outcomes["patient_mismatch"] == 2
    assert outcomes["ambiguous"] == 1  # the twins
    assert outcomes["no_coverage_on_date"] >= 2  # the coverage gap, a Medicaid termination
    inactive = sum(1 for e in expected if e["coverage_active"] is False)
    assert inactive >= 6
    assert any(r["Member ID"].startswith("00") for r in rows)
    keys = [(r["Insurance"], r["Member ID"], r["DOB"]) for r in rows]
    assert len(set(keys)) == len(keys)


def _claims_hold(dataset: dict[str, Any], name: str) -> tuple[list[dict[str, str]], list[dict]]:
    """Each claim row's recorded outcome is what the portal's search rules give for it."""
    rows, expected = _read(name)
    hub = HubData(dataset, [p["payer_id"] for p in dataset["payers"]])  # search rules over all
    claims = {c["claim_number"]: c for c in dataset["claims"]}
    for row, truth in zip(rows, expected, strict=True):
        payer = _payer(row["Payer"])
        if row["Claim #"]:
            hits = hub.claims_by_number(payer, row["Claim #"])
        else:
            first, last = (
                datetime.strptime(row[k], "%m/%d/%Y").date() for k in ("DOS From", "DOS To")
            )
            fits = claims_fitting(dataset, payer, row["Member ID"], first, last, row["Billed"])
            hits = [claims[n] for n in fits]
            want = {"ambiguous": "ambiguous_match"}.get(truth["outcome"], truth["outcome"])
            assert claim_question_outcome(fits) == want
        if truth["outcome"] == "claim_not_found":
            assert hits == []
        elif truth["outcome"] == "layout_changed":  # a status word the flows never saw
            assert [expected_claim_outcome(dataset, c["claim_number"]) for c in hits] == [
                "layout_changed"
            ]
        elif truth["outcome"] == "result":
            assert [c["claim_number"] for c in hits] == [truth["claim_number"]]
            assert expected_claim_outcome(dataset, truth["claim_number"]) == "result"
            claim = claims[truth["claim_number"]]
            assert claim["member_id"] == row["Member ID"]
            assert truth["status_category"] == claim["status"]["category"]
        elif truth["outcome"] == "ambiguous":
            assert len(hits) >= 2 and not row["Claim #"]
        else:
            assert truth["outcome"] == "patient_mismatch"
            assert len(hits) == 1 and hits[0]["member_id"] != row["Member ID"]
    return rows, expected


def test_open_claims_expectations_hold(dataset: dict[str, Any]) -> None:
    rows, expected = _claims_hold(dataset, "open_claims")
    assert 50 <= len(rows) <= 70
    seen = {e["status_category"] for e in expected if e["outcome"] == "result"}
    assert {"F1", "F2", "F4", "A2"} <= seen and any(s.startswith("P") for s in seen)
    assert sum(1 for r in rows if not r["Claim #"]) == 3
    traps = {e["trap"] for e in expected}
    assert {"overlapping_claims", "duplicate_claims"} <= traps
    # the demo's batch: every row answered or refused by the portal, none a failure of ours
    assert "unseen_status_word" not in traps
    assert not any(e["outcome"] == "layout_changed" for e in expected)
    assert any(r["Claim #"].startswith("00") for r in rows)


def test_unseen_words_are_a_worklist_of_their_own(dataset: dict[str, Any]) -> None:
    """The unseen status words, one claim per portal, each beside a paid claim of that
    portal; no claim the open-claims report asks too (a batch within 12 hours re-uses it)."""
    rows, expected = _claims_hold(dataset, "unseen_words")
    unseen = [t for t in dataset["traps"] if t["kind"] == "unseen_status_word"]
    assert sorted(r["Claim #"] for r, e in zip(rows, expected, strict=True) if e["trap"]) == sorted(
        t["claim_number"] for t in unseen
    )
    portal = {payer: name for name in PORTALS for payer in payers_on(name)}
    asked = sorted(
        (portal[_payer(r["Payer"])], e["outcome"]) for r, e in zip(rows, expected, strict=True)
    )
    assert asked == sorted((name, o) for name in PORTALS for o in ("layout_changed", "result"))
    open_rows, _ = _read("open_claims")
    assert not {r["Claim #"] for r in rows} & {r["Claim #"] for r in open_rows}
