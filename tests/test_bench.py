"""`payerbot bench` end to end on a tiny workload: every program runs, the report has every
figure the docs quote. (Performance itself is judged from reports, never in tests.)"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from typing import Any

import pytest

from benchmarks.bench import _workload
from benchmarks.lean_rows import PORTAL_PAYERS, logins_of
from bots.engine.browser import playwright_chromium, resolve_executable
from bots.settings import ROOT, load_settings
from tests.timing import scaled

pytestmark = pytest.mark.browser


def test_bench_writes_a_report_with_every_program_and_figure(env, tmp_path):
    proc = subprocess.run(
        [
            ".venv/bin/payerbot",
            "bench",
            "--items",
            "4",
            "--sessions",
            "1",  # every program once; more session counts only repeat the same rows
            "--naive-items",
            "2",
            "--single-lookups",
            "2",
            "--memory-items",
            "6",
            "--workers",
            "1,2",
            "--fleet-items",
            "6",
        ],
        env={**env, "PAYERBOT_DATA_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=scaled(600),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (report_dir,) = (tmp_path / "var" / "bench").iterdir()
    report = json.loads((report_dir / "report.json").read_text())
    programs = {(r["program"], r["sessions"]) for r in report["rows"]}
    assert programs == {
        ("payerbot", 1),
        ("minimal loop", 1),
        ("payerbot, API reads", 1),
        ("naive script", 1),
        ("lean page loop", 1),
    }
    for row in report["rows"]:
        assert row["errors"] == 0 and row["lookups"] == (
            2 if row["program"] == "naive script" else 4
        )
        for figure in (
            "lookups_per_min",
            "p50_ms",
            "p95_ms",
            "cpu_s_per_lookup",
            "peak_bot_mb",
            "peak_browser_mb",
        ):
            assert row[figure] and row[figure] > 0, (row["program"], figure)
    assert set(report["ratios"]["payerbot_vs_minimal"]) == {"1"}
    assert set(report["ratios"]["payerbot_api_reads_vs_minimal"]) == {"1"}
    lean = report["ratios"]  # payerbot reading pages / the lean loop, same portal and sessions
    assert set(lean["payerbot_vs_lean"]) == {"payerhub"}
    assert lean["payerbot_vs_lean"]["payerhub"]["1"] > 0
    assert lean["payerbot_cpu_vs_lean"]["payerhub"]["1"] > 0
    assert lean["payerbot_api_reads_vs_lean"]["1"] > 0
    fleet = report["fleet"]["rows"]  # workers sharing the real PostgreSQL queue
    assert [(r["workers"], r["lookups"], r["system_failed"]) for r in fleet] == [
        (1, 6, 0),
        (2, 6, 0),
    ]
    assert all(r["lookups_per_min"] > 0 and r["vs_1_worker"] for r in fleet)
    assert "| workers | sessions |" in (report_dir / "report.md").read_text()
    assert report["ratios"]["payerbot_1_session_vs_naive"] > 0
    single = report["single_lookup"]
    assert single["cli_cold_ms"] > 0 and single["console_warm_p50_ms"] > 0
    assert single["cli_via_console_warm_p50_ms"] > 0  # `payerbot lookup` the console answered
    assert set(report["memory"]["tree_mb_at"]) == {"6"} or len(report["memory"]["tree_mb_at"]) == 2
    markdown = (report_dir / "report.md").read_text()
    assert "| payerbot | 1 |" in markdown and "minimal loop" in markdown
    assert report["machine"]["cpus"] >= 1


LEAN_PORTALS = ("payerhub", "legacyportal", "medicaidportal")


def _is_confidential(member: dict[str, Any]) -> bool:
    sys.path.insert(0, str(ROOT / "fixtures"))
    from portalkit.people import is_confidential

    return bool(is_confidential(member))


def _wrong_patient(portal: str, gt: dict[str, Any]) -> dict[str, Any]:
    """A question whose answer shows somebody else: PayerHub searches by ID only (the member
    shows with their own DOB); the legacy portal takes an unknown suffix as the family and
    shows the one member with that DOB; Medicaid searches by case number + DOB."""
    payers = PORTAL_PAYERS[portal]
    families: dict[str, list[dict[str, Any]]] = {}
    for m in gt["members"]:
        if m["payer_id"] in payers and not _is_confidential(m):
            families.setdefault(m["subscriber_id"], []).append(m)
    for family in families.values():
        dobs = [m["dob"] for m in family]
        for a, b in itertools.permutations(family, 2):
            if a["dob"] != b["dob"] and dobs.count(b["dob"]) == 1:
                typed = a["subscriber_id"] + "99" if portal == "legacyportal" else a["member_id"]
                return {
                    "payer_id": a["payer_id"],
                    "member_id": typed,
                    "dob": b["dob"],
                    "date_of_service": "2026-12-01",
                    "service_type": "98",
                }
    raise AssertionError("the data set has no family to ask about the wrong patient")


def _claims(gt: dict[str, Any], count: int) -> list[dict[str, Any]]:
    members = {m["member_key"]: m for m in gt["members"]}
    picked = [
        c
        for c in gt["claims"]
        if c["payer_id"] in PORTAL_PAYERS["payerhub"]
        and c["member_id"] == members[c["member_key"]]["member_id"]
    ][:count]
    return [
        {
            "payer_id": c["payer_id"],
            "claim_number": c["claim_number"],
            "member_id": c["member_id"],
            "dob": members[c["member_key"]]["dob"],
        }
        for c in picked
    ]


@pytest.mark.parametrize("portal", LEAN_PORTALS)
def test_lean_loop_answers_and_counts_the_wrong_patient_as_an_error(portal, mock_portals, tmp_path):
    """Each lean loop answers right against its mock portal, and an answer about somebody
    else (the shown member ID or DOB not the question's) is an error, never a success."""
    site = mock_portals[portal]
    site.reset()
    gt = site.admin("GET", "ground-truth")
    good = _workload(gt, 3, payers=PORTAL_PAYERS[portal])
    claims = _claims(gt, 2) if portal == "payerhub" else []
    exe = resolve_executable(load_settings().browser, own=playwright_chromium())
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "url": site.url,
                "logins": logins_of(site.admin("GET", "accounts")),
                "queries": [*good, _wrong_patient(portal, gt)],
                "claim_queries": claims,
                "executable": str(exe) if exe else None,
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.lean.{portal}", str(job), "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["lookups"] == len(good) + 1 + len(claims)
    assert (outcome["errors"], outcome["mismatches"], outcome["not_found"]) == (1, 1, 0)
    assert outcome["logins"] == 1
    counters = site.counters()
    assert counters["lookups"]["eligibility"] == len(good) + 1  # each one really asked
    assert sum(counters["logins"].values()) == 1  # one login for the whole session


def test_lean_loops_load_no_payerbot_code():
    """The yardstick is independent: importing the lean loops loads nothing of bots/ or
    flows/."""
    modules = ", ".join(f"benchmarks.lean.{p}" for p in LEAN_PORTALS)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {modules}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bots', 'flows')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=True,
    )
    assert proc.stdout.strip() == "[]"


def test_bench_night_row_adds_up(env, tmp_path):
    """`--night N`: N mixed lookups over the three mock portals; every lookup is counted once
    (answered, no result or failed), memory is sampled at the checkpoint, the report says it."""
    proc = subprocess.run(
        [
            ".venv/bin/payerbot",
            "bench",
            "--no-page-reads",
            "--no-api-reads",
            "--no-references",
            "--single-lookups",
            "0",
            "--naive-items",
            "0",
            "--workers",
            "",
            "--night",
            "30",
            "--night-latency-ms",
            "50",
        ],
        env={**env, "PAYERBOT_DATA_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=scaled(600),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (report_dir,) = (tmp_path / "var" / "bench").iterdir()
    night = json.loads((report_dir / "report.json").read_text())["night"]
    assert night["answered"] + night["no_result"] + night["failed"] == 30
    assert night["other"] == 0 and night["answered"] > 0
    assert night["by_kind"] == {"eligibility": 18, "claim_status": 12}
    assert sum(night["failures_by_reason"].values()) == night["no_result"] + night["failed"]
    assert set(night["memory_at"]) == {"30"}
    assert night["memory_at"]["30"]["tree_mb"] > 0
    assert night["peak_tree_mb"] >= night["memory_at"]["30"]["peak_mb"] > 0
    assert night["memory_growth"] is not None
    window = night["memory_at"]["30"]  # the peaks within the window, the tree's PSS below RSS
    assert 0 < window["window_bot_rss_mb"] < window["window_tree_rss_mb"]
    assert 0 < window["window_tree_pss_mb"] <= window["window_tree_rss_mb"]
    assert night["lookups_per_min"] > 0 and night["cpu_s_per_lookup"] > 0
    assert set(night["latency_bound"]) == {"payerhub", "legacyportal", "medicaidportal"}
    assert all(b["requests_per_lookup"] > 0 for b in night["latency_bound"].values())
    assert sum(b["lookups"] for b in night["latency_bound"].values()) == 30
    markdown = (report_dir / "report.md").read_text()
    assert "## The night at scale" in markdown and "| 30 |" in markdown
    assert "Peaks within each window of lookups" in markdown
