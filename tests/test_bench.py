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
    assert single["cli_via_console_warm_p50_ms"] > 0  # `payerbot lookup` the console answered
    assert set(report["memory"]["tree_mb_at"]) == {"6"} or len(report["memory"]["tree_mb_at"]) == 2
    markdown = (report_dir / "report.md").read_text()
    assert "| payerbot | 1 |" in markdown and "minimal loop" in markdown
    assert report["machine"]["cpus"] >= 1
