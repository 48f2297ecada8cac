"""The seeded data set: deterministic, big enough, internally consistent, traps present."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import Any

from portalkit.data import CHECK_DATE, build_dataset, is_active, payers_on, segment_on
from portalkit.ids import is_valid_npi

HUB = ["ACME", "BLUESTEM", "CARDINAL"]


def test_same_seed_same_data_other_seed_other_data(dataset: dict[str, Any]) -> None:
    assert json.dumps(build_dataset(20261128)) == json.dumps(dataset)
    other = build_dataset(7)
    assert other["members"][0]["member_id"] != dataset["members"][0]["member_id"]
    assert other["accounts"] != dataset["accounts"]


def test_shape_and_counts(dataset: dict[str, Any]) -> None:
    assert {
        "payers",
        "providers",
        "accounts",
        "members",
        "claims",
        "not_on_file_claims",
        "traps",
    } <= set(dataset)
    assert payers_on("payerhub") == HUB
    assert len(dataset["payers"]) == 6
    per_payer = Counter(m["payer_id"] for m in dataset["members"])
    assert len(dataset["members"]) >= 240 and min(per_payer.values()) >= 40
    claims = dataset["claims"]
    assert len(claims) >= 560
    assert sum(1 for c in claims if c["payer_id"] in HUB) >= 300
    for payer_id in HUB:
        kinds = {
            c["status"]["category"][0] + ("2" if c["status"]["category"] == "F2" else "")
            for c in claims
            if c["payer_id"] == payer_id
        }
        cats = {c["status"]["category"] for c in claims if c["payer_id"] == payer_id}
        assert {"F1", "F2", "F4", "A2"} <= cats and "P" in kinds
    assert [a["username"] for a in dataset["accounts"]["payerhub"]][:2] == [
        "clinic.main",
        "clinic.second",
    ]
    assert len(dataset["accounts"]["payerhub"]) == 8


def test_claim_mix_is_realistic(dataset: dict[str, Any]) -> None:
    cats = Counter(c["status"]["category"] for c in dataset["claims"])
    share = {k: v / len(dataset["claims"]) for k, v in cats.items()}
    assert 0.40 <= share["F1"] <= 0.65
    assert 0.12 <= share["F2"] <= 0.30
    assert 0.03 <= share["F4"] <= 0.12
    assert 0.08 <= sum(v for k, v in share.items() if k.startswith("P")) <= 0.25


def test_claim_money_is_consistent(dataset: dict[str, Any]) -> None:
    for c in dataset["claims"]:
        lines = c["service_lines"]
        assert Decimal(c["billed"]) == sum(Decimal(x["billed"]) for x in lines)
        if c["allowed"] is not None:
            assert Decimal(c["allowed"]) == sum(Decimal(x["allowed"]) for x in lines)
        if c["status"]["category"][0] in "PAR":  # pended, acknowledged, info requested
            assert c["paid"] is None and c["allowed"] is None and not c["adjustments"]
            assert c["adjudication_date"] is None and c["payment"] is None
            continue
        assert Decimal(c["paid"]) == sum(Decimal(x["paid"]) for x in lines)
        pr = [Decimal(a["amount"]) for a in c["adjustments"] if a["group_code"] == "PR"]
        assert Decimal(c["patient_responsibility"]) == sum(pr, Decimal(0))
        total = sum((Decimal(a["amount"]) for a in c["adjustments"]), Decimal(0))
        assert total == Decimal(c["billed"]) - Decimal(c["paid"]), c["claim_number"]
        assert c["adjudication_date"] >= c["received_date"] >= c["dos_to"] >= c["dos_from"]
        if c["status"]["category"] == "F1":
            assert Decimal(c["paid"]) > 0 and c["payment"]["method"] in ("CHK", "ACH")
            assert c["payment"]["date"] >= c["adjudication_date"]
            assert any(a["group_code"] == "CO" and a["carc"] == "45" for a in c["adjustments"])
        else:
            assert Decimal(c["paid"]) == 0 and c["payment"] is None
        if c["status"]["category"] == "F2":
            assert c["allowed"] is None
            assert {a["carc"] for a in c["adjustments"]} <= {
                "16",
                "18",
                "27",
                "29",
                "50",
                "96",
                "97",
                "109",
                "197",
                "4",
                "11",
            }
        for a in c["adjustments"]:
            assert a["group_code"] in ("CO", "PR", "OA", "PI")
            assert re.fullmatch(r"\d+\.\d\d", a["amount"])


def test_claim_identifiers(dataset: dict[str, Any]) -> None:
    numbers = [(c["payer_id"], c["claim_number"]) for c in dataset["claims"]]
    assert len(set(numbers)) == len(numbers)
    acme = [n for p, n in numbers if p == "ACME"]
    assert all(re.fullmatch(r"A26\d{10}", n) for n in acme)
    assert any(n.startswith("00") for p, n in numbers if p == "CARDINAL")
    assert all(re.fullmatch(r"PA\d{6}", c["patient_account_number"]) for c in dataset["claims"])
    on_file = {n for _p, n in numbers}
    for payer_id, missing in dataset["not_on_file_claims"].items():
        assert len(missing) == 20 and not set(missing) & on_file, payer_id


def test_benefit_accumulators_add_up(dataset: dict[str, Any]) -> None:
    for m in dataset["members"]:
        assert {b["service_type"] for b in m["benefits"]} == {
            "30",
            "98",
            "UC",
            "86",
            "47",
            "MH",
            "AL",
        }
        for b in m["benefits"]:
            if b["total"] is None:
                assert b["met"] is None and b["remaining"] is None
                continue
            assert Decimal(b["total"]) == Decimal(b["met"]) + Decimal(b["remaining"])
            assert Decimal(b["remaining"]) >= 0 and b["time_period"] == "23"
            assert all(re.fullmatch(r"\d+\.\d\d", b[k]) for k in ("total", "met", "remaining"))
        assert all(
            b["prior_auth_required"] == "Y" for b in m["benefits"] if b["service_type"] == "47"
        )


def test_members_look_like_payer_ids(dataset: dict[str, Any]) -> None:
    patterns = {"ACME": r"ACM\d{9}\d\d", "BLUESTEM": r"BSM\d{8}\d\d", "CARDINAL": r"\d{10}"}
    for m in dataset["members"]:
        if m["payer_id"] in patterns:
            assert re.fullmatch(patterns[m["payer_id"]], m["member_id"]), m["member_id"]
        assert m["member_id"] == m["subscriber_id"] + m["suffix"]
        expected = {"subscriber": "01", "spouse": "02"}.get(m["relationship"])
        assert m["suffix"] == expected or (m["relationship"] == "child" and m["suffix"] >= "03")
        assert (m["pcp"] is not None) == (m["network_type"] in ("HMO", "POS"))
    cardinal = [m["member_id"] for m in dataset["members"] if m["payer_id"] == "CARDINAL"]
    assert sum(1 for x in cardinal if x.startswith("00")) >= 5
    assert len({m["member_key"] for m in dataset["members"]}) == len(dataset["members"])


def test_coverage_mix(dataset: dict[str, Any]) -> None:
    members = dataset["members"]
    ended = [m for m in members if m["coverage"]["termination_date"]]
    assert len(ended) >= 0.15 * len(members)
    assert all("2026-03-31" <= m["coverage"]["termination_date"] <= "2026-10-31" for m in ended)
    assert not any(is_active(m, CHECK_DATE) for m in ended)
    future = [m for m in members if m["coverage"]["effective_date"] == "2027-01-01"]
    assert future and not any(is_active(m, CHECK_DATE) for m in future)
    active = [m for m in members if is_active(m, CHECK_DATE)]
    assert len(active) >= 0.6 * len(members)


def test_npis_are_luhn_valid(dataset: dict[str, Any]) -> None:
    npis = [p["npi"] for p in dataset["providers"]]
    npis += [m["pcp"]["npi"] for m in dataset["members"] if m["pcp"]]
    assert npis and all(is_valid_npi(n) for n in npis)
    assert is_valid_npi("1234567893") and not is_valid_npi("1234567890")
    assert all(re.fullmatch(r"\d{9}", p["tin"]) for p in dataset["providers"])


def test_traps_exist(dataset: dict[str, Any]) -> None:
    by_key = {m["member_key"]: m for m in dataset["members"]}
    kinds = Counter(t["kind"] for t in dataset["traps"])
    assert kinds["twins"] >= 3 and kinds["dob_mismatch"] == 2
    assert kinds["subscriber_id_resolves"] == 2 and kinds["claim_of_another_member"] == 2
    assert kinds["duplicate_claims"] >= 1
    for kind in ("unknown_prior_auth", "out_of_network_only_coinsurance", "unseen_status_word"):
        assert kinds[kind] == 3, kind  # one per portal
    assert kinds["coverage_gap"] == kinds["coverage_segments"] == kinds["overlapping_claims"] == 1
    for t in dataset["traps"]:
        if t["kind"] == "twins":
            a, b = (by_key[k] for k in t["member_keys"])
            assert a["dob"] == b["dob"] and a["first_name"] != b["first_name"]
            assert a["subscriber_id"] == b["subscriber_id"] == t["subscriber_id"]
        elif t["kind"] == "dob_mismatch":
            assert by_key[t["member_key"]]["dob"] != t["dob_given"]
        elif t["kind"] == "subscriber_id_resolves":
            family = [m for m in dataset["members"] if m["subscriber_id"] == t["subscriber_id"]]
            assert len(family) >= 2 and [m["dob"] for m in family].count(t["dob"]) == 1
        elif t["kind"] == "claim_of_another_member":
            claim = next(c for c in dataset["claims"] if c["claim_number"] == t["claim_number"])
            assert claim["member_key"] == t["claim_member_key"] != t["row_member_key"]
        elif t["kind"] == "unknown_prior_auth":
            m = by_key[t["member_key"]]
            assert is_active(m, CHECK_DATE) and payers_on(t["portal"]).count(m["payer_id"])
            flags = {b["prior_auth_required"] for b in m["benefits"] if b["service_type"] == "AL"}
            assert flags == {"U"}
        elif t["kind"] == "out_of_network_only_coinsurance":
            m = by_key[t["member_key"]]
            networks = {
                b["in_network"]
                for b in m["benefits"]
                if b["service_type"] == t["service_type"] and b["benefit"] == "A"
            }
            assert is_active(m, CHECK_DATE) and networks == {"N"}
        elif t["kind"] in ("coverage_gap", "coverage_segments"):
            m = by_key[t["member_key"]]
            segments = m["coverage"]["segments"]
            assert len(segments) == 2 and segments[0]["termination_date"] < t["date_of_service"]
            on = segment_on(m, CHECK_DATE)
            assert (on is None) == (t["kind"] == "coverage_gap")
            assert on is None or on == segments[1]
        elif t["kind"] == "overlapping_claims":
            mine = [
                c["claim_number"]
                for c in dataset["claims"]
                if c["member_key"] == t["member_key"]
                and t["dos_from"] <= c["dos_from"] <= c["dos_to"] <= t["dos_to"]
            ]
            assert sorted(mine) == sorted(t["claim_numbers"]) and len(mine) == 2
        elif t["kind"] == "unseen_status_word":
            claim = next(c for c in dataset["claims"] if c["claim_number"] == t["claim_number"])
            assert claim["status"]["category"] == "R1" and claim["payer_id"] in payers_on(
                t["portal"]
            )
        elif t["kind"] == "duplicate_claims":
            a, b = (
                next(c for c in dataset["claims"] if c["claim_number"] == n)
                for n in t["claim_numbers"]
            )
            assert (a["dos_from"], a["billed"], a["patient_account_number"]) == (
                b["dos_from"],
                b["billed"],
                b["patient_account_number"],
            )
            assert b["status"]["category"] == "F2" and b["adjustments"][0]["carc"] == "18"
