"""One missing login must not lose the night: `payerbot run` and `payerbot schedule run-now`
with one account's password not set run everything the other accounts can, say which
account was left out and the command that fixes it, and never print a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bots.settings import ROOT
from tests.test_cli import payerbot
from tests.worklist_factory import eligibility_worklist

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def without_password(env: dict[str, str], portal: str, account: str) -> dict[str, str]:
    """The environment with this account's password set to nothing (its files stay)."""
    return {**env, f"PAYERBOT_CREDENTIALS__{portal.upper()}__{account.upper()}__PASSWORD": ""}


def test_run_without_one_password_answers_with_the_other_account_and_says_how_to_fix_it(
    env, settings, ground_truth, tmp_path, mock_portals
):
    worklist = tmp_path / "appointments.csv"
    rows = eligibility_worklist(ground_truth, worklist, 4, {"ACME"})
    proc = payerbot(
        "run",
        "eligibility",
        "--worklist",
        str(worklist),
        env=without_password(env, "payerhub", "main"),
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = " ".join((proc.stdout + proc.stderr).split())
    assert "payerhub/main" in text and "payerbot creds set payerhub main" in text
    counters = mock_portals["payerhub"].counters()
    assert len(counters["logins"]) == 1, "only the account with its login set logged in"
    assert not counters["failed_logins"]
    assert sum(counters["lookups"].values()) >= len(rows)


def test_schedule_run_now_without_the_only_login_of_a_portal_runs_the_others_and_reports_it(
    env, settings, ground_truth, tmp_path
):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "schedule.toml").write_text(
        '[schedule]\ntimezone = "America/New_York"\nsettle_seconds = 0\n'
        '[schedule.jobs.inbox]\ncron = "0 3 * * *"\nsource = "drop_folder"\n'
    )
    inbox = settings.drop_folder
    inbox.mkdir(parents=True)
    eligibility_worklist(ground_truth, inbox / "appointments.csv", 6, {"ACME", "STATEMCD"})
    job_env = {
        **without_password(env, "medicaidportal", "main"),
        "PAYERBOT_CONFIG_DIR": str(config),
    }
    proc = payerbot("schedule", "run-now", "inbox", env=job_env)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output[-3000:]
    assert "ConfigurationError" not in output
    digest_path = next(Path(settings.data_dir / "reports").glob("*-inbox-*.json"))
    digest = json.loads(digest_path.read_text())
    (run,) = digest["runs"]
    assert run["counts"]["succeeded"] >= 1, "the hub's items were answered"
    needs = " ".join(n["why"] for n in digest["needs_a_person"])
    assert "payerbot creds set medicaidportal main" in needs
    assert proc.returncode != 2, "not a configuration failure of the whole job"
