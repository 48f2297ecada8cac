"""`payerbot bench` end to end on a tiny workload: every program runs, the report has every
figure the docs quote. (Performance itself is judged from reports, never in tests.)"""

from __future__ import annotations

import json
import subprocess

import pytest

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
    assert set(report["memory"]["tree_mb_at"]) == {"6"} or len(report["memory"]["tree_mb_at"]) == 2
    markdown = (report_dir / "report.md").read_text()
    assert "| payerbot | 1 |" in markdown and "minimal loop" in markdown
    assert report["machine"]["cpus"] >= 1


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
    assert night["lookups_per_min"] > 0 and night["cpu_s_per_lookup"] > 0
    assert set(night["latency_bound"]) == {"payerhub", "legacyportal", "medicaidportal"}
    assert all(b["requests_per_lookup"] > 0 for b in night["latency_bound"].values())
    assert sum(b["lookups"] for b in night["latency_bound"].values()) == 30
    markdown = (report_dir / "report.md").read_text()
    assert "## The night at scale" in markdown and "| 30 |" in markdown
