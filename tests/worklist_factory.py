"""Random worklists drawn from the ground truth, each row with its expected outcome.

The expectation is computed here, from the data set alone, independently of any flow:
a member looked up by its full ID and date of birth is found; its coverage on the date
of service decides active/inactive (or, on a portal that lists coverage segments, no
answer when none spans the date: tests.truth); an ID that exists nowhere is not found.
"""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path
from typing import Any

from tests.truth import (
    coverage_segment,
    expected_claim_outcome,
    expected_eligibility_outcome,
    member,
)

APPOINTMENTS = ["Appt Date", "Patient Last", "Patient First", "DOB", "Insurance", "Member ID"]
CLAIMS = ["Claim #", "Patient Last", "Patient First", "DOB", "Payer", "Member ID"]
DATES_OF_SERVICE = [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]


def _us(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def _active(m: dict[str, Any], dos: date) -> bool:
    return coverage_segment(m, dos) is not None


def _unique_members(gt: dict[str, Any], payers: set[str]) -> list[dict[str, Any]]:
    """Members whose ID + DOB cannot be confused with a family member (no twins)."""
    seen: dict[tuple[str, str], int] = {}
    for m in gt["members"]:
        seen[(m["member_id"], m["dob"])] = seen.get((m["member_id"], m["dob"]), 0) + 1
    return [
        m
        for m in gt["members"]
        if m["payer_id"] in payers and seen[(m["member_id"], m["dob"])] == 1
    ]


def eligibility_worklist(
    gt: dict[str, Any],
    path: Path,
    n: int,
    payers: set[str],
    seed: int = 7,
    dates: list[date] = DATES_OF_SERVICE,
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pairs = [(m, dos) for m in _unique_members(gt, payers) for dos in dates]
    names = {p["payer_id"]: p["name"] for p in gt["payers"]}
    known = {m["member_id"] for m in gt["members"]}
    expected, rows = [], []
    for i, (m, dos) in enumerate(rng.sample(pairs, n)):
        missing = i % 15 == 14  # every 15th row: an ID the payer does not know
        member_id = m["member_id"][:-4] + "9999" if missing else m["member_id"]
        assert not missing or member_id not in known
        rows.append(
            [
                _us(dos.isoformat()),
                m["last_name"],
                m["first_name"],
                _us(m["dob"]),
                names[m["payer_id"]],
                member_id,
            ]
        )
        outcome = (
            "member_not_found"
            if missing
            else expected_eligibility_outcome(gt, m["member_key"], dos)
        )  # e.g. a Medicaid date no coverage segment spans: no_coverage_on_date
        answered = outcome == "result"
        expected.append(
            {
                "row": i + 2,
                "outcome": outcome,
                "member_key": m["member_key"] if answered else None,
                "coverage_active": _active(m, dos) if answered else None,
            }
        )
    _write(path, APPOINTMENTS, rows)
    return expected


def claim_worklist(
    gt: dict[str, Any], path: Path, n: int, payers: set[str], seed: int = 11
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pool = [  # claims in a status no flow knows (the unseen-word trap) are the demo's
        c
        for c in gt["claims"]
        if c["payer_id"] in payers and expected_claim_outcome(gt, c["claim_number"]) == "result"
    ]
    names = {p["payer_id"]: p["name"] for p in gt["payers"]}
    expected, rows = [], []
    spare = {payer: list(numbers) for payer, numbers in gt["not_on_file_claims"].items()}
    for i, c in enumerate(rng.sample(pool, n)):
        m = member(gt, c["member_key"])
        missing = i % 15 == 14 and bool(spare[c["payer_id"]])
        number = spare[c["payer_id"]].pop() if missing else c["claim_number"]
        rows.append(
            [
                number,
                m["last_name"],
                m["first_name"],
                _us(m["dob"]),
                names[c["payer_id"]],
                c["member_id"],
            ]
        )
        expected.append(
            {
                "row": i + 2,
                "outcome": "claim_not_found" if missing else "result",
                "claim_number": None if missing else c["claim_number"],
            }
        )
    _write(path, CLAIMS, rows)
    return expected


def concatenated(
    path: Path, parts: list[tuple[Path, list[dict[str, Any]]]]
) -> list[dict[str, Any]]:
    """One worklist made of generated ones (their rows in order), expectations renumbered:
    e.g. many rows of one portal and a few of the others."""
    header: list[str] = []
    rows: list[list[str]] = []
    expected: list[dict[str, Any]] = []
    for part, wants in parts:
        with part.open(newline="", encoding="utf-8") as fh:
            header, *body = list(csv.reader(fh))
        offset = len(rows)
        expected += [{**want, "row": want["row"] + offset} for want in wants]
        rows += body
    _write(path, header, rows)
    return expected


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
