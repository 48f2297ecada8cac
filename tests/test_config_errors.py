"""Configuration mistakes end the CLI with one line on stderr, never a traceback: an unknown
key with the closest valid one, a TOML syntax error with its file and line, a wrong type
naming the key, the same for PAYERBOT_* variables."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bots.config_errors import explain
from bots.errors import ConfigurationError
from bots.settings import ROOT, load_settings
from tests.timing import scaled


def _config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    return folder


def _payerbot(tmp_path: Path, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYERBOT_")}
    return subprocess.run(
        [".venv/bin/payerbot", "runs", "list"],
        env={
            **clean,
            "PAYERBOT_CONFIG_DIR": str(config),
            "PAYERBOT_DATA_DIR": str(tmp_path / "var"),
            "COLUMNS": "300",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "pydantic" not in proc.stderr
    return lines[0]


def test_an_unknown_key_names_the_closest_valid_one(tmp_path):
    config = _config(tmp_path)
    portals = config / "portals.toml"
    portals.write_text(portals.read_text().replace("max_sessions", "max_sesions", 1))
    line = _one_line(_payerbot(tmp_path, config))
    assert line == (
        f"configuration error: {portals}: portals.payerhub.max_sesions: unknown setting; "
        "did you mean max_sessions?"
    )


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path):
    config = _config(tmp_path)
    schedule = config / "schedule.toml"
    lines = schedule.read_text().splitlines()
    number = next(n for n, text in enumerate(lines, 1) if text.startswith("cron ="))
    lines[number - 1] = 'cron = "0 3 * * *'  # the closing quote lost
    schedule.write_text("\n".join(lines) + "\n")
    line = _one_line(_payerbot(tmp_path, config))
    assert line.startswith(f"configuration error: {schedule}: TOML syntax error on line {number} ")


def test_a_wrong_type_names_the_key_and_the_type_expected(tmp_path):
    config = _config(tmp_path)
    settings = config / "settings.toml"
    settings.write_text(settings.read_text().replace("max_attempts = 3", 'max_attempts = "x"'))
    line = _one_line(_payerbot(tmp_path, config))
    assert line == "configuration error: queue.max_attempts: expected a whole number"


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (
            "PAYERBOT_PORTALS__PAYERHUB__MAX_SESIONS",
            "2",
            "PAYERBOT_PORTALS__PAYERHUB__MAX_SESIONS: unknown setting; "
            "did you mean PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS?",
        ),
        ("PAYERBOT_TIMEZNE", "UTC", "PAYERBOT_TIMEZNE: unknown setting; did you mean "),
        (
            "PAYERBOT_BROWSER__HEADLESS",
            "maybe",
            "PAYERBOT_BROWSER__HEADLESS (browser.headless): expected true or false",
        ),
    ],
)
def test_environment_variables_are_checked_the_same_way(tmp_path, variable, value, said):
    line = _one_line(_payerbot(tmp_path, _config(tmp_path), **{variable: value}))
    assert said in line


def test_settings_in_process_say_the_same(tmp_path, monkeypatch):
    """load_settings: ConfigurationError for unknown keys; explain() for a wrong type."""
    config = _config(tmp_path)
    jobs = config / "schedule.toml"
    jobs.write_text(jobs.read_text().replace("days_ahead = 2", "days_ahaed = 2"))
    monkeypatch.setenv("PAYERBOT_CONFIG_DIR", str(config))
    with pytest.raises(ConfigurationError, match=re.escape("did you mean days_ahead?")):
        load_settings()
    jobs.write_text(jobs.read_text().replace("days_ahaed = 2", 'days_ahead = "soon"'))
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert explain(caught.value) == (
        "schedule.jobs.eligibility_ahead.days_ahead: expected a whole number"
    )


def test_doctor_says_a_portal_name_does_not_resolve_and_a_cron_is_bad(tmp_path):
    config = _config(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYERBOT_")}
    started = time.monotonic()
    proc = subprocess.run(
        [".venv/bin/payerbot", "doctor", "--json"],
        env={
            **clean,
            "PAYERBOT_CONFIG_DIR": str(config),
            "PAYERBOT_DATA_DIR": str(tmp_path / "var"),
            "PAYERBOT_PORTALS__PAYERHUB__BASE_URL": "https://payerhub.invalid/login",
            "PAYERBOT_PORTALS__LEGACYPORTAL__BASE_URL": "portal.example.org",
            "PAYERBOT_SCHEDULE__JOBS__INBOX__CRON": "0 25 * * *",
        },
        capture_output=True,
        text=True,
        timeout=scaled(120),
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr[-2000:]
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    hub = checks["portal payerhub"]
    assert (hub["status"], hub["message"]) == (
        "fail",
        "unreachable: the name payerhub.invalid does not resolve",
    )
    legacy = checks["portal legacyportal"]
    assert legacy["status"] == "fail" and "not a web address" in legacy["message"]
    assert checks["portal medicaidportal"]["status"] == "ok"  # the bundled mock portal
    cron = checks["schedule inbox"]
    assert cron["status"] == "fail" and "bad cron expression '0 25 * * *'" in cron["message"]
    assert elapsed < scaled(60), "doctor stays quick (timeouts on every network check)"
