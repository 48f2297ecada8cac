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

from bots.ops import doctor
from bots.settings import load_settings
from bots.store import Store, utcnow
from bots.store.schema import runs
from tests.test_cli import payerbot

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
def test_the_demo_with_faults_leaves_no_phi_or_secret_where_it_does_not_belong(
    env, settings, mock_portals, ground_truth
):
    """The demo (both sample worklists, all three portals) with faults on. Every file outside
    the store and the PHI-by-nature folders is scanned for every synthetic member's name, ID,
    DOB (ISO and US) and claim number; every file outside secrets/ (store, traces and
    workbooks included, zip members opened) for every login and TOTP seed."""
    import httpx

    from tests.test_sessions import _texts

    mock_portals["payerhub"].knobs(error_rate=0.08, session_max_seconds=3)
    mock_portals["legacyportal"].knobs(error_rate=0.08, password_expiry_days=3)
    mock_portals["medicaidportal"].knobs(error_rate=0.08)
    noisy = {**env, "PAYERBOT_LOG_LEVEL": "DEBUG", "PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS": "0.2"}
    demo = payerbot("demo", env=noisy)
    assert "Specialists' workbook" in demo.stdout, demo.stderr[-2000:]
    values = phi_values(ground_truth)
    secrets: list[str] = []
    for portal in mock_portals.values():
        for account in httpx.get(f"{portal.url}/__admin/accounts", timeout=10).json():
            secrets += [account["username"], account["password"]]
            secrets += [account[k] for k in ("totp_seed",) if account.get(k)]
    scanned, hits = 0, []
    for path in settings.data_dir.rglob("*"):
        rel = path.relative_to(settings.data_dir)
        if not path.is_file() or rel.parts[0] == "secrets":
            continue
        for name, data in _texts(path):
            hits += [f"{name}: secret {s[:2]}…" for s in secrets if s.encode() in data]
        if rel.parts[0] in PHI_BY_NATURE or path.name.startswith("payerbot.db"):
            continue
        scanned += 1
        data = path.read_bytes()
        hits += [f"{rel}: PHI {v[:2]}…" for v in values if v.encode() in data]
    hits += [f"terminal: {v[:2]}…" for v in values | set(secrets) if v in demo.stdout + demo.stderr]
    assert scanned >= 4, "run logs, import reports, kept sessions were scanned"
    assert hits == []


def test_everything_the_bot_writes_is_owner_only(settings, tmp_path):
    from bots.files import private_dir
    from bots.outputs.run_workbook import write_workbook

    folder = private_dir(settings.data_dir / "x" / "y")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    from bots.models import LookupKind

    book = write_workbook(
        settings.data_dir / "spreadsheets" / "t.xlsx", {LookupKind.ELIGIBILITY: []}
    )
    assert stat.S_IMODE(book.stat().st_mode) == 0o600
    store = Store.open(settings)
    store.close()
    assert stat.S_IMODE(Path(settings.store_url.removeprefix("sqlite:///")).stat().st_mode) == 0o600


def _old_run(settings, days: float) -> str:
    store = Store.open(settings)
    run_id, _ = store.start_run("eligibility", "batch", "w.csv")
    store.finish_run(run_id, "finished", {})
    with store.engine.begin() as conn:  # a run finished days ago
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
    store = Store.open(settings)
    assert store.get_run(old).log_path is None and store.get_run(old).status == "finished"
    store.close()
    assert payerbot("purge", "--older-than", "30", "--yes", env=env).stdout.startswith("purged 0")


def test_retention_setting_is_applied_after_each_scheduled_job(env, settings, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from bots.interfaces import scheduler

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


MALICIOUS = [
    '=HYPERLINK("http://evil.example","click")',
    "<script>window.__pwned=1</script>",
    "Robert'); DROP TABLE work_items;--",
    "../../../../etc/passwd",
    "A" * 70,
    "Bell\x07Tab\tEnd",
]


@pytest.mark.browser
def test_malicious_worklist_strings_come_out_inert_in_store_workbook_and_console(
    env, settings, ground_truth, tmp_path, page
):
    """Each string rides as a patient name on a row the payer does not know (so the row's
    own names are what the follow-up, the workbook and the console show)."""
    import csv

    from openpyxl import load_workbook
    from playwright.sync_api import expect

    from bots.interfaces.console.users import add_user
    from tests.test_console import serving

    member = next(m for m in ground_truth["members"] if m["payer_id"] == "ACME")
    path = tmp_path / "evil.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["Appt Date", "Patient Last", "Patient First", "DOB", "Insurance", "Member ID"]
        )
        for n, text in enumerate(MALICIOUS):
            writer.writerow(
                ["12/01/2026", text, "Evil", "01/01/1970", "ACME HEALTH", f"ACM9999999{n:02d}99"]
            )
        writer.writerow(
            ["12/01/2026", "Ok", "Row", member["dob"], "ACME HEALTH", member["member_id"]]
        )
    proc = payerbot("run", "eligibility", "--worklist", str(path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    store = Store.open(settings)
    rows = store.list_runs(5)
    assert rows and store.run_outcomes(rows[0].id), "the store is intact"
    store.close()
    # The workbook: literal text, never a formula.
    sheet = load_workbook(settings.workbook_path)["Eligibility"]
    texts = [c for row in sheet.iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    for text in MALICIOUS[:4]:
        cells = [c for c in texts if text.upper() in c.value.upper()]
        assert cells and all(c.data_type == "s" for c in cells), text
    assert not any("\x07" in c.value for c in texts), "control characters stripped"
    # The console shows them as text and runs nothing.
    store = Store.open(settings)
    add_user(store, "dana", "dana-specialist-pw", "specialist")
    store.close()
    with serving(env) as url:
        page.goto(f"{url}/login")
        page.get_by_label("User name").fill("dana")
        page.get_by_label("Password").fill("dana-specialist-pw")
        page.get_by_role("button", name="Log in").click()
        # logged in before the next page is asked for (a goto would cut the login's redirect)
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        page.goto(f"{url}/queue")
        table = page.get_by_role("table", name="Follow-ups")
        # (the importer upper-cases names) shown as text, not run
        assert "<SCRIPT>WINDOW.__PWNED=1</SCRIPT>" in table.inner_text()
        assert page.evaluate("window.__pwned") is None
