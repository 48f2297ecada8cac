"""The bench report's ratios read as a table in words, one row per ratio and portal."""

from __future__ import annotations

from benchmarks.bench import _ratio_table


def test_ratios_are_a_table_with_a_row_per_portal_and_a_column_per_session_count():
    lines = _ratio_table(
        {
            "payerbot_vs_lean": {"payerhub": {"1": 0.89, "2": 0.8}, "legacyportal": {"1": 1.06}},
            "payerbot_api_reads_vs_lean": {"1": 1.6, "2": 1.6},
            "payerbot_1_session_vs_naive": 5.4,  # a single figure: not a row of the table
            "payerbot_vs_ideal": {},
        }
    )
    assert lines[2] == "| ratio | 1 session | 2 sessions |"
    assert "| payerbot reading pages / lean page loop, payerhub | 0.89 | 0.8 |" in lines
    assert "| payerbot reading pages / lean page loop, legacyportal | 1.06 |  |" in lines
    assert "| payerbot reading the API / lean page loop | 1.6 | 1.6 |" in lines
    assert not any("naive" in line or "latency bound" in line for line in lines)


def test_no_ratios_no_table():
    assert _ratio_table({"payerbot_vs_lean": {}}) == []
