"""End to end, through the CLI a user runs: sample worklists -> mock portal -> store, workbook, log.

The demo's two batches and the unseen-words batch run once for the session (real Chromium,
real SQLite, real xlsx; tests/samples.py, shared with the truth audit); each test then checks
one promise of the walking skeleton against the portal's ground truth.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bots.settings import load_settings
from tests.conftest import SAMPLES
from tests.samples import Batch, SampleRuns
from tests.truth import (
    BUSINESS_OUTCOMES,
    _subset_payload,
    contains_word,
    expected_claim,
    expected_eligibility,
    phi_strings,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def batches(sample_runs: SampleRuns) -> dict[str, Any]:
    """The demo's two batches and the unseen-words batch, run once for the session (each a
    `payerbot run`, the portals reset before it: their counters are that run's)."""
    return {"data_dir": sample_runs.data_dir, **sample_runs.batches}


def expected_rows(name: str) -> dict[int, dict[str, Any]]:
    return {e["row"]: e for e in json.loads((SAMPLES / name).read_text())}


def _summary_printed(batch: Batch) -> None:
    assert f"Run {batch.run.id}" in batch.proc.stdout
    assert "lookups in" in batch.proc.stdout and "spreadsheet:" in batch.proc.stdout
    with batch.worklist.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))[1:]
    assert batch.run.counts["items"] == len(rows) == len(batch.outcomes)


@pytest.mark.parametrize("kind", ["eligibility", "claim-status"])
def test_the_demo_batches_exit_0_and_print_a_summary(batches, kind):
    """Exit 0: every row of the demo's worklists is answered or refused by the portal."""
    batch = batches[kind]
    name = {"eligibility": "appointments", "claim-status": "open_claims"}[kind]
    business = BUSINESS_OUTCOMES | {"result", "ambiguous"}
    assert all(w["outcome"] in business for w in expected_rows(f"{name}.expected.json").values())
    assert batch.proc.returncode == 0, batch.proc.stderr[-3000:]
    assert all(o.state in ("succeeded", "business_failed") for o in batch.outcomes)
    _summary_printed(batch)


def test_a_batch_meeting_an_unseen_word_exits_1_and_never_answers_it(batches, ground_truth):
    """A status word no flow knows is a changed page (a system failure, retried), never an
    answer: the batch exits 1 (README: "some items failed after retries"); the paid claims
    beside it are answered as usual."""
    batch = batches["unseen"]
    assert batch.proc.returncode == 1, batch.proc.stderr[-3000:]
    _summary_printed(batch)
    outcomes = {o.source_row: o for o in batch.outcomes}
    expected = expected_rows("unseen_words.expected.json")
    assert outcomes.keys() == expected.keys()
    unseen = 0
    for row, want in expected.items():
        got = outcomes[row]
        if want["trap"] == "unseen_status_word":
            unseen += 1
            assert (got.state, got.last_error_code) == ("system_failed", "layout_changed"), row
            assert got.payload is None, row
        else:
            assert got.state == "succeeded", (row, got.last_error_code)
            assert expected_claim(
                ground_truth, want["claim_number"], got.payload
            ) == _subset_payload(got.payload), row
    assert unseen == 3


@pytest.mark.parametrize("kind", ["eligibility", "claim-status"])
def test_exactly_one_login_per_account_per_run_and_no_writes(batches, kind, ground_truth):
    settings = load_settings()
    assert set(batches[kind].counters) == {"payerhub", "legacyportal", "medicaidportal"}
    for portal, counters in batches[kind].counters.items():
        users = {a["account"]: a["username"] for a in ground_truth["accounts"][portal]}
        cfg = settings.portals[portal]
        used = cfg.accounts[: cfg.max_sessions]
        assert counters["logins"] == {users[a]: 1 for a in used}, (portal, counters["logins"])
        assert not any(counters["failed_logins"].values()), portal
        assert counters["writes"] == 0, portal


def test_every_eligibility_field_equals_ground_truth(batches, ground_truth):
    expected = expected_rows("appointments.expected.json")
    outcomes = {o.source_row: o for o in batches["eligibility"].outcomes}
    assert outcomes.keys() == expected.keys()
    checked = 0
    for row, want in expected.items():
        got = outcomes[row]
        if want["outcome"] == "result":
            assert got.state == "succeeded", (
                row,
                got.last_error_code,
                got.last_error_message,
            )
            assert got.payload["coverage_active"] == want["coverage_active"]
            assert expected_eligibility(
                ground_truth, want["member_key"], got.payload
            ) == _subset_payload(got.payload), row
            assert Path(got.evidence_path).is_file()
            checked += 1
        else:
            assert got.state == "business_failed", row
            code = {"ambiguous": "ambiguous_match"}.get(want["outcome"], want["outcome"])
            assert got.last_error_code == code, row
            assert got.payload is None  # right patient, or no result
    assert checked >= 25


def test_every_claim_field_equals_ground_truth(batches, ground_truth):
    expected = expected_rows("open_claims.expected.json")
    outcomes = {o.source_row: o for o in batches["claim-status"].outcomes}
    assert outcomes.keys() == expected.keys()
    checked = 0
    for row, want in expected.items():
        got = outcomes[row]
        if want["outcome"] == "result":
            assert got.state == "succeeded", (
                row,
                got.last_error_code,
                got.last_error_message,
            )
            assert expected_claim(
                ground_truth, want["claim_number"], got.payload
            ) == _subset_payload(got.payload), row
            checked += 1
        else:
            code = {"ambiguous": "ambiguous_match"}.get(want["outcome"], want["outcome"])
            # a status word no flow knows is a changed page (a system failure), never an answer
            state = "business_failed" if code in BUSINESS_OUTCOMES else "system_failed"
            assert (got.state, got.last_error_code) == (state, code), row
            assert got.payload is None
    assert checked >= 25


@pytest.mark.parametrize(
    "kind,sheet", [("eligibility", "Eligibility"), ("claim-status", "Claim status")]
)
def test_spreadsheet_has_one_row_per_item(batches, kind, sheet):
    batch = batches[kind]
    path = Path(batch.run.spreadsheet_path)
    assert path.parent == batches["data_dir"] / "spreadsheets"
    ws = load_workbook(path)[sheet]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    ids = [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1)]
    assert ids == [o.id for o in batch.outcomes]


@pytest.mark.parametrize("kind", ["eligibility", "claim-status"])
def test_run_log_is_json_lines_without_phi(batches, kind, ground_truth):
    batch = batches[kind]
    log_path = Path(batch.run.log_path)
    assert log_path.parent == batches["data_dir"] / "runs" / batch.run.id
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert any(r["event"] == "browser.start" and r.get("version") for r in records)
    items = [r for r in records if r["event"] == "item.done"]
    assert items and all(r["run_id"] == batch.run.id and r["item_id"] for r in items)
    assert {r["portal"] for r in items} == {"payerhub", "legacyportal", "medicaidportal"}
    text = log_path.read_text().upper()
    leaked = [s for s in phi_strings(ground_truth, batch.worklist) if contains_word(text, s)]
    assert not leaked, f"{len(leaked)} PHI values in the run log"
    secrets = [
        a[k]
        for accounts in ground_truth["accounts"].values()
        for a in accounts
        for k in ("password", "totp_seed")
        if k in a
    ]
    assert not any(s.upper() in text for s in secrets)
