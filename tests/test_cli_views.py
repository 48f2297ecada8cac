"""What the CLI prints about runs, on the session's sample runs (the demo's two batches and
a faulty one, each a piped `payerbot run`): summaries whose parts add up, progress lines when
the output is not a terminal, `runs show` with a duration, `runs list` in 80 columns
without cutting a run id, local time in tables and UTC in --json."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from datetime import datetime, timedelta

import pytest

from bots.dates import local_datetime_text
from tests.samples import PAYERBOT, SampleRuns
from tests.timing import scaled

pytestmark = pytest.mark.browser

ZONE = "America/New_York"  # config/settings.toml
PARTS = re.compile(
    r"(\d+) item\(s\): (\d+) answered, (\d+) reused, (\d+) no result, (\d+) failed, "
    r"(\d+) waiting"
)


def cli(runs: SampleRuns, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [PAYERBOT, *args],
        env={**runs.env, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def adds_up(text: str) -> tuple[int, ...]:
    found = PARTS.search(text)
    assert found, text[-2000:]
    total, *parts = (int(n) for n in found.groups())
    assert sum(parts) == total, found[0]
    return (total, *parts)


@pytest.mark.parametrize("key", ["eligibility", "claim-status", "unseen"])
def test_the_printed_summary_adds_up_for_the_demo_and_a_faulty_run(sample_runs, key):
    batch = sample_runs.batches[key]
    total, answered, reused, no_result, failed, waiting = adds_up(batch.proc.stdout)
    assert total == len(batch.outcomes) == batch.run.counts["items"]
    assert answered + reused == sum(o.state == "succeeded" for o in batch.outcomes)
    assert no_result == sum(o.state == "business_failed" for o in batch.outcomes)
    if key == "unseen":  # the faulty run: status words no flow knows
        assert failed > 0 and failed == sum(o.state == "system_failed" for o in batch.outcomes)
    else:
        assert failed == waiting == 0


@pytest.mark.parametrize("key", ["eligibility", "claim-status"])
def test_a_piped_run_prints_progress_lines(sample_runs, key):
    """stderr is a pipe: a line every 25 lookups (progress_every_items) and one at the end."""
    batch = sample_runs.batches[key]
    total = len(batch.outcomes)
    lines = [x for x in batch.proc.stderr.splitlines() if x.startswith("progress: ")]
    done = [int(re.match(r"progress: (\d+) of (\d+)", x)[1]) for x in lines]
    assert done and done[-1] == total, batch.proc.stderr[-2000:]
    assert all(b > a for a, b in itertools.pairwise(done)), "only forward"
    assert any(n >= 25 for n in done[:-1]) or total <= 25
    assert "\r" not in batch.proc.stderr and "━" not in batch.proc.stderr, "no live bar"


@pytest.mark.parametrize("key", ["eligibility", "unseen"])
def test_runs_show_gives_a_duration_local_times_and_parts_that_add_up(sample_runs, key):
    run = sample_runs.batches[key].run
    shown = cli(sample_runs, "runs", "show", run.id).stdout
    assert "None" not in shown
    duration = re.search(r"duration (\d+(\.\d)? s|\d+ m \d\d s|\d+ h \d\d m \d\d s)", shown)
    assert duration, shown
    assert f"started {local_datetime_text(run.started_at, ZONE)}" in " ".join(shown.split())
    total, *_ = adds_up(shown)
    assert total == run.counts["items"]
    data = json.loads(cli(sample_runs, "runs", "show", run.id, "--json").stdout)
    started = datetime.fromisoformat(data["started_at"])
    assert data["started_at"].endswith("+00:00") and started.utcoffset() == timedelta(0)
    parts = data["summary"]
    assert (
        sum(parts[p] for p in ("answered", "reused", "no result", "failed", "waiting"))
        == (parts["total"])
    )


def test_runs_list_fits_80_columns_without_cutting_a_run_id(sample_runs):
    listed = cli(sample_runs, "runs", "list").stdout
    assert max(len(line) for line in listed.splitlines()) <= 80
    for batch in sample_runs.batches.values():
        assert batch.run.id in listed, listed
        assert local_datetime_text(batch.run.started_at, ZONE).split(" ")[0] in listed
    rows = json.loads(cli(sample_runs, "runs", "list", "--json").stdout)
    assert all(r["started_at"].endswith("+00:00") for r in rows)
