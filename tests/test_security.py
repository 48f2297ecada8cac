"""Privacy and hygiene: no PHI where it does not belong (a scan after faulty runs), owner-only
files, purge and retention, and `payerbot doctor`."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bots import doctor
from bots.settings import load_settings
from bots.store import Store, utcnow
from bots.store.schema import runs
from tests.test_cli import payerbot
from tests.worklist_factory import claim_worklist, eligibility_worklist

EVERYONE = {"ACME", "BLUESTEM", "CARDINAL", "DELTA", "ELM", "STATEMCD"}
PHI_BY_NATURE = ("evidence", "traces", "spreadsheets", "secrets")
"""Folders whose files hold PHI on purpose (screenshots, traces, the specialists' workbooks)."""


def phi_values(gt: dict) -> set[str]:
    values = set()
    for m in gt["members"]:
        y, mo, d = m["dob"].split("-")
        values |= {m["member_id"], m["first_name"], m["last_name"], m["dob"], f"{mo}/{d}/{y}"}
    values |= {c["claim_number"] for c in gt["claims"]}
    return {v for v in values if len(v) >= 4}


@pytest.mark.browser
def test_no_phi_outside_the_store_and_the_evidence_after_faulty_runs(
    env, settings, mock_portals, ground_truth, tmp_path
):
    mock_portals["payerhub"].knobs(error_rate=0.1, session_max_seconds=3, layout="A")
    mock_portals["legacyportal"].knobs(error_rate=0.1, password_expiry_days=3)
    mock_portals["medicaidportal"].knobs(error_rate=0.1)
    eligibility_worklist(ground_truth, tmp_path / "a.csv", 12, EVERYONE)
    claim_worklist(ground_truth, tmp_path / "c.csv", 10, EVERYONE)
    noisy = {**env, "PAYERBOT_LOG_LEVEL": "DEBUG", "PAYERBOT_BROWSER__TRACE": "always"}
    outputs = [
        payerbot("run", "eligibility", "--worklist", str(tmp_path / "a.csv"), env=noisy),
        payerbot("run", "claim-status", "--worklist", str(tmp_path / "c.csv"), env=noisy),
    ]
    values = phi_values(ground_truth)
    scanned, hits = 0, []
    for path in settings.data_dir.rglob("*"):
        rel = path.relative_to(settings.data_dir)
        if (
            not path.is_file()
            or rel.parts[0] in PHI_BY_NATURE
            or path.name.startswith("payerbot.db")
        ):
            continue
        data = path.read_bytes()
        scanned += 1
        hits += [f"{rel}: {v[:2]}…" for v in values if v.encode() in data]
    for proc in outputs:
        hits += [f"terminal: {v[:2]}…" for v in values if v in proc.stdout + proc.stderr]
    assert scanned >= 4, "run logs, import reports and kept sessions were scanned"
    assert hits == []


def test_everything_the_bot_writes_is_owner_only(settings, tmp_path):
    from bots.files import private_dir
    from bots.outputs.spreadsheet import write_workbook

    folder = private_dir(settings.data_dir / "x" / "y")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    from bots.models import LookupKind

    book = write_workbook(
        settings.data_dir / "spreadsheets" / "t.xlsx", {LookupKind.ELIGIBILITY: []}
    )
    assert stat.S_IMODE(book.stat().st_mode) == 0o600
    store = Store(settings.store_url)
    store.close()
    assert stat.S_IMODE(Path(settings.store_url.removeprefix("sqlite:///")).stat().st_mode) == 0o600


def _old_run(settings, days: float) -> str:
    store = Store(settings.store_url)
    run_id, _ = store.start_run("eligibility", "batch", "w.csv")
    store.finish_run(run_id, "finished", {})
    with store.transaction() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(finished_at=utcnow() - timedelta(days=days))
        )
    store.close()
    for folder in ("evidence", "traces", "runs"):
        path = settings.data_dir / folder / run_id
        path.mkdir(parents=True)
        (path / "item-1-try1.jpg").write_bytes(b"x" * 100)
    (settings.data_dir / "spreadsheets").mkdir(exist_ok=True)
    (settings.data_dir / "spreadsheets" / f"eligibility-{run_id}.xlsx").write_bytes(b"x")
    return run_id


def test_purge_removes_old_runs_artifacts_and_keeps_recent_ones(env, settings):
    old, recent = _old_run(settings, 40), _old_run(settings, 2)
    reports = settings.data_dir / "reports"
    reports.mkdir()
    stale = reports / "old.html"
    stale.write_text("x")
    os.utime(stale, (0, 0))
    proc = payerbot("purge", "--older-than", "30", "--yes", env=env)
    assert proc.returncode == 0 and "purged 1 run(s)" in proc.stdout
    for folder in ("evidence", "traces", "runs"):
        assert not (settings.data_dir / folder / old).exists()
        assert (settings.data_dir / folder / recent).exists()
    assert not stale.exists()
    assert (settings.data_dir / "spreadsheets" / f"eligibility-{recent}.xlsx").exists()
    store = Store(settings.store_url)
    assert store.get_run(old)["log_path"] is None and store.get_run(old)["status"] == "finished"
    store.close()
    assert payerbot("purge", "--older-than", "30", "--yes", env=env).stdout.startswith("purged 0")


def test_retention_setting_is_applied_after_each_scheduled_job(env, settings, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from bots import scheduler

    old = _old_run(settings, 40)
    monkeypatch.setenv("PAYERBOT_RETENTION_DAYS", "30")
    monkeypatch.setenv("PAYERBOT_SCHEDULE__JOBS__EMPTY__CRON", "0 3 * * *")
    monkeypatch.setenv("PAYERBOT_SCHEDULE__JOBS__EMPTY__SOURCE", "drop_folder")
    local = load_settings()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(scheduler.run_job, "empty", local).result()
    assert not (settings.data_dir / "evidence" / old).exists()


def test_doctor_says_what_to_fix(env, settings):
    ok = payerbot("doctor", "--json", env=env)
    checks = {c["name"]: c for c in json.loads(ok.stdout)}
    assert ok.returncode == 0, ok.stdout
    assert checks["permissions"]["status"] == "ok"
    assert checks["login payerhub/main"]["message"].startswith("password from files")
    assert checks["browser"]["status"] in {"ok", "warn"}
    # Break things: a world-readable secret, a missing login, a public console without TLS.
    secret = settings.resolved_secrets_dir / "payerhub" / "main" / "password"
    secret.chmod(0o644)
    (settings.resolved_secrets_dir / "legacyportal" / "second" / "password").unlink()
    bad = {**env, "PAYERBOT_CONSOLE__HOST": "0.0.0.0"}  # noqa: S104 - what doctor must refuse
    broken = payerbot("doctor", "--json", env=bad)
    assert broken.returncode == 1
    found = {c["name"]: c for c in json.loads(broken.stdout)}
    assert found["permissions"]["status"] == "fail" and "go-rwx" in found["permissions"]["fix"]
    assert found["login payerhub/main"]["status"] == "fail"
    assert found["login legacyportal/second"]["fix"] == "payerbot creds set legacyportal second"
    assert found["console binding"]["status"] == "fail"
    checks = doctor.run(load_settings(data_dir=settings.data_dir))
    assert any(c.status == "fail" for c in checks)
