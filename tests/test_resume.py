"""Crash safety: kill -9 the run at several points, resume, and nothing is lost or done twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bots.settings import load_settings
from bots.store import Store
from bots.store.schema import results
from tests.conftest import DEFAULT_KNOBS, portal_env
from tests.timing import deadline_in, scaled
from tests.worklist_factory import eligibility_worklist

pytestmark = pytest.mark.browser

FINAL = {"succeeded", "business_failed", "system_failed"}


def done_lines(data_dir: Path) -> int:
    return sum(path.read_text().count('"item.done"') for path in data_dir.glob("runs/*/run.jsonl"))


def started(data_dir: Path) -> bool:
    return any('"run.start"' in p.read_text() for p in data_dir.glob("runs/*/run.jsonl"))


def kill_when(proc: subprocess.Popen[str], ready, timeout: float = 120) -> None:
    deadline = deadline_in(timeout)
    while not ready():
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.timeout(600)
def test_sigkill_at_five_points_then_resume_loses_and_repeats_nothing(
    mock_portals, ground_truth, tmp_path
):
    data_dir = tmp_path / "var"
    env = {**os.environ, **portal_env(mock_portals, data_dir)}
    for portal in mock_portals.values():
        portal.reset()
    worklist = tmp_path / "appointments.csv"
    eligibility_worklist(ground_truth, worklist, 24, {"ACME", "BLUESTEM", "DELTA", "ELM"}, seed=3)
    cmd = [".venv/bin/payerbot", "run", "eligibility", "--worklist", str(worklist)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    kill_when(proc, lambda: started(data_dir))  # 1: as the run starts
    os.environ["PAYERBOT_DATA_DIR"] = str(data_dir)
    try:
        store = Store.open(load_settings())
        run_id = store.list_runs(1)[0].id
        store.close()
        for kill_after in (1, 5, 11, 17):  # 2-5: after that many answers, across resumes
            resume = subprocess.Popen(
                [".venv/bin/payerbot", "runs", "resume", run_id],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            kill_when(resume, lambda n=kill_after: done_lines(data_dir) >= n)
        final = subprocess.run(
            [".venv/bin/payerbot", "runs", "resume", run_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(300),
            check=False,
        )
        assert final.returncode == 0, final.stderr[-2000:]
        store = Store.open(load_settings())
        items = store.run_outcomes(run_id)
        with store.engine.connect() as conn:
            per_item = dict(
                conn.execute(
                    select(results.c.item_id, func.count()).group_by(results.c.item_id)
                ).all()
            )
        store.close()
    finally:
        del os.environ["PAYERBOT_DATA_DIR"]
    assert len(items) == 24  # nothing lost, nothing doubled
    assert all(i.state in FINAL for i in items), {i.state for i in items}
    assert all(per_item.get(i.id) == 1 for i in items), "exactly one result per item"
    detail = json.loads(
        subprocess.run(
            [".venv/bin/payerbot", "runs", "show", run_id, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert detail["status"] == "finished" and detail["items"] == 24
    assert sum(detail["states"].values()) == 24


def test_reimporting_a_worklist_creates_no_new_items_and_a_failure_is_not_retried(
    env, mock_portals, ground_truth, tmp_path
):
    worklist = tmp_path / "appointments.csv"
    expected = eligibility_worklist(ground_truth, worklist, 16, {"ACME", "CARDINAL"}, seed=5)
    cmd = [".venv/bin/payerbot", "run", "eligibility", "--worklist", str(worklist)]
    first = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=scaled(300), check=False
    )
    assert first.returncode == 0, first.stderr[-2000:]
    lookups = mock_portals["payerhub"].counters()["lookups"]["eligibility"]
    second = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=scaled(300), check=False
    )
    assert second.returncode == 0
    assert "reused" in second.stdout
    assert (
        mock_portals["payerhub"].counters()["lookups"]["eligibility"] == lookups
    )  # not asked again
    store = Store.open(load_settings())
    try:
        runs = store.list_runs(2)
        with store.engine.connect() as conn:
            n_results = conn.execute(select(func.count()).select_from(results)).scalar_one()
    finally:
        store.close()
    assert runs[0].counts["items"] == runs[1].counts["items"] == 16
    assert n_results == 16  # "member not found" recorded once, never retried
    assert sum(1 for e in expected if e["outcome"] == "member_not_found") >= 1


@pytest.mark.timeout(600)
def test_sigterm_and_runs_stop_finish_in_flight_lookups_and_leave_the_rest_resumable(
    mock_portals, ground_truth, tmp_path
):
    data_dir = tmp_path / "var"
    env = {**os.environ, **portal_env(mock_portals, data_dir)}
    for portal in mock_portals.values():
        portal.reset()
        # Lookups slow enough that the resumed run is still working when `runs stop` (a new
        # process) arrives: a fast flow would otherwise finish the run first ("not running").
        portal.knobs(latency_ms=250)
    worklist = tmp_path / "appointments.csv"
    eligibility_worklist(ground_truth, worklist, 40, {"ACME", "BLUESTEM"}, seed=9)
    proc = subprocess.Popen(
        [".venv/bin/payerbot", "run", "eligibility", "--worklist", str(worklist)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = deadline_in(120)
    while done_lines(data_dir) < 3:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=scaled(60)) == 0, proc.stderr.read()[-2000:]
    os.environ["PAYERBOT_DATA_DIR"] = str(data_dir)
    try:
        store = Store.open(load_settings())
        run = store.list_runs(1)[0]
        states = [i.state for i in store.run_outcomes(run.id)]
        assert run.status == "stopped"
        assert "in_progress" not in states and states.count("new") >= 5  # the rest waits
        resume = subprocess.Popen(
            [".venv/bin/payerbot", "runs", "resume", run.id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        while done_lines(data_dir) < len(states) - states.count("new") + 2:
            assert time.monotonic() < deadline + 120 and resume.poll() is None
            time.sleep(0.05)
        stop = subprocess.run(
            [".venv/bin/payerbot", "runs", "stop", run.id],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert stop.returncode == 0 and "stopping" in stop.stdout
        assert resume.wait(timeout=scaled(60)) == 0
        assert store.get_run(run.id).status == "stopped"
        for portal in mock_portals.values():  # the stops are proven: the rest at full speed
            portal.knobs(latency_ms=DEFAULT_KNOBS["latency_ms"])
        final = subprocess.run(
            [".venv/bin/payerbot", "runs", "resume", run.id],
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(300),
            check=False,
        )
        assert final.returncode == 0, final.stderr[-2000:]
        items = store.run_outcomes(run.id)
        assert store.get_run(run.id).status == "finished"
        store.close()
    finally:
        del os.environ["PAYERBOT_DATA_DIR"]
    assert len(items) == 40 and all(i.state in FINAL for i in items)
