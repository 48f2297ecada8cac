"""Portal sessions across runs and processes: kept sessions, borrowed sessions, password
notices, `creds check`, configured maintenance windows, and a scan proving that no
credential lands in any file the bot writes."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bots.models import LookupKind
from bots.settings import load_settings
from bots.store import Store
from tests.cli_here import payerbot_here
from tests.conftest import eligibility_rows, run_rows
from tests.test_cli import payerbot
from tests.timing import deadline_in, scaled
from tests.truth import expected_eligibility_outcome
from tests.worklist_factory import claim_worklist, eligibility_worklist

pytestmark = pytest.mark.browser


def members_of(gt: dict[str, Any], payer: str, n: int, skip: int = 0) -> list[dict[str, Any]]:
    """Subscribers of a payer with unambiguous ID + DOB, active on the test date."""
    seen: dict[tuple[str, str], int] = {}
    for m in gt["members"]:
        seen[(m["member_id"], m["dob"])] = seen.get((m["member_id"], m["dob"]), 0) + 1
    chosen = [
        m
        for m in gt["members"]
        if m["payer_id"] == payer
        and m["relationship"] == "subscriber"
        and seen[(m["member_id"], m["dob"])] == 1
        # an answer on the test date (strict reading: no date outside every coverage segment)
        and expected_eligibility_outcome(gt, m["member_key"], date(2026, 12, 1)) == "result"
    ]
    return chosen[skip : skip + n]


def one_account_each(monkeypatch: pytest.MonkeyPatch) -> None:
    for portal in ("PAYERHUB", "LEGACYPORTAL", "MEDICAIDPORTAL"):
        monkeypatch.setenv(f"PAYERBOT_PORTALS__{portal}__ACCOUNTS", '["main"]')
        monkeypatch.setenv(f"PAYERBOT_PORTALS__{portal}__MAX_SESSIONS", "1")


def logins(mock_portals: dict[str, Any]) -> dict[str, int]:
    return {
        name: sum(portal.counters()["logins"].values()) for name, portal in mock_portals.items()
    }


def test_the_next_run_resumes_kept_sessions_and_logs_in_only_when_they_ended(
    settings, mock_portals, ground_truth, monkeypatch
):
    one_account_each(monkeypatch)
    settings = load_settings()
    payers = ("ACME", "DELTA", "STATEMCD")

    def rows(skip: int) -> list[tuple[None, Any]]:
        return eligibility_rows([m for p in payers for m in members_of(ground_truth, p, 2, skip)])

    first, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows(0))
    assert {o.state for o in outcomes} == {"succeeded"}
    assert logins(mock_portals) == {"payerhub": 1, "legacyportal": 1, "medicaidportal": 1}
    assert first.resumed_sessions == []
    kept = sorted((settings.data_dir / "sessions").rglob("*.state"))
    assert [p.relative_to(settings.data_dir / "sessions").as_posix() for p in kept] == [
        "legacyportal/main.state",
        "medicaidportal/main.state",
        "payerhub/main.state",
    ]
    assert all(p.stat().st_mode & 0o077 == 0 for p in kept)

    second, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows(2))
    assert {o.state for o in outcomes} == {"succeeded"}
    assert logins(mock_portals) == {"payerhub": 1, "legacyportal": 1, "medicaidportal": 1}
    assert sorted(second.resumed_sessions) == [
        "legacyportal/main",
        "medicaidportal/main",
        "payerhub/main",
    ]

    for portal in mock_portals.values():  # the portals forget every session overnight
        portal.admin("POST", "reset")
    third, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, rows(4))
    assert [o.state for o in outcomes] == ["succeeded"] * 6, "an ended session costs nothing"
    assert all(o.attempts == 1 for o in outcomes)
    assert logins(mock_portals) == {"payerhub": 1, "legacyportal": 1, "medicaidportal": 1}
    assert third.resumed_sessions == []


def test_password_expiry_notices_reach_the_log_the_run_report_and_portal_status(
    env, settings, mock_portals, ground_truth, monkeypatch
):
    one_account_each(monkeypatch)
    settings = load_settings()
    mock_portals["payerhub"].knobs(password_expiry_days=9)
    mock_portals["legacyportal"].knobs(password_expiry_days=1)
    members = members_of(ground_truth, "ACME", 2) + members_of(ground_truth, "DELTA", 2)
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))
    assert {o.state for o in outcomes} == {"succeeded"}
    assert summary.password_notices == {"payerhub/main": 9, "legacyportal/main": 1}
    events = [json.loads(line) for line in summary.log_path.read_text().splitlines()]
    expiring = {
        (e["portal"], e["days_left"]) for e in events if e["event"] == "portal.password_expiring"
    }
    assert expiring == {("payerhub", 9), ("legacyportal", 1)}
    for name in ("payerhub", "legacyportal"):
        assert mock_portals[name].counters()["writes"] == 0, "the bot never changes a password"

    env = {**env, "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]'}
    shown = payerbot_here("runs", "show", summary.run_id, env=env)
    assert "password expiring: payerhub/main in 9 days" in shown.stdout
    assert "password expiring: legacyportal/main in 1 day;" in shown.stdout
    status = json.loads(payerbot_here("portals", "status", "--json", env=env).stdout)
    assert status["payerhub"]["accounts"]["main"]["password_days_left"] == 9
    assert status["legacyportal"]["accounts"]["main"]["password_days_left"] == 1
    assert status["medicaidportal"]["accounts"]["main"]["password_days_left"] is None
    assert status["payerhub"]["accounts"]["main"]["session"].startswith("kept")
    creds = status["payerhub"]["accounts"]["main"]["credentials"]
    assert creds == {"username": "files", "password": "files", "totp_seed": "files"}


def test_creds_check_logs_in_each_account_without_lookups_and_flags_a_refused_one(
    env, settings, mock_portals
):
    bad = {**env, "PAYERBOT_CREDENTIALS__LEGACYPORTAL__SECOND__PASSWORD": "wrong-legacy-pw"}
    proc = payerbot("creds", "check", "--json", env=bad)
    assert proc.returncode == 3, proc.stderr[-2000:]
    checks = {(c["portal"], c["account"]): c["status"] for c in json.loads(proc.stdout)}
    assert checks == {
        ("payerhub", "main"): "ok",
        ("payerhub", "second"): "ok",
        ("legacyportal", "main"): "ok",
        ("legacyportal", "second"): "failed",
        ("medicaidportal", "main"): "ok",
    }
    for portal in mock_portals.values():
        assert not any(portal.counters()["lookups"].values()), "no lookups, only logins"
    assert sum(mock_portals["legacyportal"].counters()["failed_logins"].values()) == 1
    again = payerbot("creds", "check", "legacyportal", env=bad)
    assert again.returncode == 3
    assert "locked" in again.stdout and "reset-lock legacyportal --account second" in again.stdout
    assert sum(mock_portals["legacyportal"].counters()["failed_logins"].values()) == 1, (
        "a flagged account is never tried again"
    )
    assert "wrong-legacy-pw" not in proc.stdout + proc.stderr + again.stdout + again.stderr


def test_a_desk_lookup_during_a_batch_borrows_its_session_no_second_login(
    env, settings, hub, ground_truth, tmp_path
):
    hub.knobs(latency_ms=80)
    env = {
        **env,
        "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]',
        "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": "1",
    }
    worklist = tmp_path / "appointments.csv"
    eligibility_worklist(ground_truth, worklist, 30, {"ACME", "BLUESTEM", "CARDINAL"})
    batch = subprocess.Popen(
        [".venv/bin/payerbot", "run", "eligibility", "--worklist", str(worklist)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        store = Store.open(settings)
        deadline = deadline_in(60)
        while time.monotonic() < deadline:
            held = [r for r in store.account_sessions("payerhub") if r.holder]
            if held and sum(hub.counters()["lookups"].values()) >= 3:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the batch never started its lookups")
        batch_run = held[0].holder_run
        member = members_of(ground_truth, "CARDINAL", 1, skip=5)[0]
        desk = payerbot(
            "lookup",
            "eligibility",
            "--payer",
            "CARDINAL",
            "--member-id",
            member["member_id"],
            "--dob",
            member["dob"],
            "--json",
            env=env,
        )
        assert batch.poll() is None, "the desk lookup was answered while the batch still ran"
        assert desk.returncode == 0, desk.stderr[-2000:]
        assert "asking it to do this lookup" in desk.stderr
        answer = json.loads(desk.stdout)
        assert answer["result"]["member_id"] == member["member_id"]
        assert answer["result"]["last_name"].upper() == member["last_name"].upper()
        assert Path(answer["evidence"]).is_file()
        _out, err = batch.communicate(timeout=scaled(240))
        assert batch.returncode == 0, err[-2000:]
        assert hub.counters()["logins"] == {"clinic.main": 1}, "one login for both processes"
        assert hub.counters()["max_concurrent_sessions"] == {"clinic.main": 1}
        desk_run = store.get_run(answer["run_id"])
        assert desk_run.notes["borrowed_from"] == {"payerhub": batch_run}
        assert desk_run.notes["logins"] == {}
        assert store.account_sessions("payerhub")[0].holder is None, "released at the end"
        store.close()
    finally:
        if batch.poll() is None:
            batch.kill()


def test_a_configured_maintenance_window_postpones_the_portal_without_a_login(
    env, settings, hub, ground_truth, monkeypatch
):
    zone = ZoneInfo("America/New_York")
    now = datetime.now(zone)
    window = f"daily {(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__MAINTENANCE_WINDOWS", json.dumps([window]))
    settings = load_settings()
    members = members_of(ground_truth, "ACME", 3)
    summary, outcomes = run_rows(settings, LookupKind.ELIGIBILITY, eligibility_rows(members))
    assert {o.state for o in outcomes} == {"new"}, "postponed, not failed"
    assert not any(hub.counters()["logins"].values())
    assert "scheduled maintenance" in summary.postponed_portals["payerhub"]
    until = min(o.not_before for o in outcomes)
    assert timedelta(minutes=55) < until - datetime.now(zone) < timedelta(minutes=65)
    env = {**env, "PAYERBOT_PORTALS__PAYERHUB__MAINTENANCE_WINDOWS": json.dumps([window])}
    status = json.loads(payerbot_here("portals", "status", "--json", env=env).stdout)
    start = datetime.fromisoformat(status["payerhub"]["next_maintenance"]["start"])
    assert start <= datetime.now(zone) and status["legacyportal"]["next_maintenance"] is None


# --- the credential scan --------------------------------------------------------------------


def _texts(path: Path) -> list[tuple[str, bytes]]:
    """The bytes of a file, and of each member when it is a zip (traces, workbooks)."""
    raw = path.read_bytes()
    found = [(str(path), raw)]
    if zipfile.is_zipfile(io.BytesIO(raw)):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            found += [(f"{path}!{n}", archive.read(n)) for n in archive.namelist()]
    return found


def test_no_credential_value_appears_in_any_file_the_bot_writes(
    env, settings, mock_portals, ground_truth, tmp_path
):
    """Faults on: sessions ending every few seconds (logins inside traced attempts), server
    errors (retries with traces kept), a refused login, password notices, creds check."""
    mock_portals["payerhub"].knobs(session_max_seconds=2, error_rate=0.08)
    mock_portals["legacyportal"].knobs(password_expiry_days=4, error_rate=0.08)
    mock_portals["medicaidportal"].knobs(error_rate=0.08)
    noisy = {
        **env,
        "PAYERBOT_BROWSER__TRACE": "always",
        "PAYERBOT_LOG_LEVEL": "DEBUG",
        # retried as ever, without the waits between tries that give a real portal time
        "PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS": "0.2",
    }
    everyone = {"ACME", "BLUESTEM", "CARDINAL", "DELTA", "ELM", "STATEMCD"}
    eligibility_worklist(ground_truth, tmp_path / "appointments.csv", 15, everyone)
    claim_worklist(ground_truth, tmp_path / "claims.csv", 12, everyone)
    outputs = [
        payerbot("run", "eligibility", "--worklist", str(tmp_path / "appointments.csv"), env=noisy),
        payerbot("run", "claim-status", "--worklist", str(tmp_path / "claims.csv"), env=noisy),
        payerbot(
            "creds",
            "check",
            "legacyportal",
            env={
                **noisy,
                "PAYERBOT_CREDENTIALS__LEGACYPORTAL__SECOND__PASSWORD": "Wr0ng-but-typed",
            },
        ),
    ]
    secrets: list[str] = ["Wr0ng-but-typed"]
    for portal in mock_portals.values():
        for account in httpx.get(f"{portal.url}/__admin/accounts", timeout=10).json():
            secrets += [account["username"], account["password"]]
            secrets += [account[k] for k in ("totp_seed",) if account.get(k)]
            secrets += list((account.get("security_answers") or {}).values())
    assert sum(mock_portals["payerhub"].counters()["logins"].values()) > 2, "re-logins happened"
    files = [
        p
        for p in settings.data_dir.rglob("*")
        if p.is_file() and settings.resolved_secrets_dir not in p.parents
    ]
    traces = [p for p in files if p.suffix == ".zip"]
    assert (
        traces
        and any(p.suffix == ".jsonl" for p in files)
        and any(p.suffix == ".xlsx" for p in files)
    ), "the scan covers traces, run logs and workbooks"
    hits = []
    for path in files:
        for name, data in _texts(path):
            hits += [f"{name}: {s[:2]}…" for s in secrets if s.encode() in data]
    for proc in outputs:
        hits += [f"terminal: {s[:2]}…" for s in secrets if s in proc.stdout + proc.stderr]
    assert hits == []


def _held_by_a_live_process(settings, portal: str, account: str) -> tuple[Store, str]:
    """A lease as a running batch in another process holds it (this test process is alive)."""
    store = Store.open(settings)
    holder = f"{socket.gethostname()}:{os.getpid()}:night"
    assert store.lease_account(portal, account, holder, "night-run", 3600).acquired
    return store, holder


def test_a_desk_lookup_nobody_answers_ends_as_account_busy_without_a_login(
    env, settings, hub, ground_truth
):
    store, _ = _held_by_a_live_process(settings, "payerhub", "main")
    env = {
        **env,
        "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]',
        "PAYERBOT_SESSIONS__BORROW_WAIT_SECONDS": "1.5",
    }
    m = members_of(ground_truth, "ACME", 1)[0]
    ask = ["lookup", "eligibility", "--payer", "ACME", "--member-id", m["member_id"]]
    desk = payerbot(*ask, "--dob", m["dob"], "--json", env=env)
    assert desk.returncode == 1
    answer = json.loads(desk.stdout)
    assert answer["error"] == "account_busy" and "night-run" in answer["message"]
    assert not any(hub.counters()["logins"].values())
    assert store.get_run(answer["run_id"]).status == "finished"
    store.close()


def test_a_desk_lookup_takes_the_account_when_the_holder_lets_go(env, settings, hub, ground_truth):
    store, holder = _held_by_a_live_process(settings, "payerhub", "main")
    env = {**env, "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]'}
    m = members_of(ground_truth, "ACME", 1)[0]
    desk = subprocess.Popen(
        [
            ".venv/bin/payerbot",
            "lookup",
            "eligibility",
            "--payer",
            "ACME",
            "--member-id",
            m["member_id"],
            "--dob",
            m["dob"],
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = deadline_in(30)
        while not any(r.status == "delegated" for r in store.list_runs(5)):
            assert time.monotonic() < deadline and desk.poll() is None, "never asked to borrow"
            time.sleep(0.1)
        store.release_account("payerhub", "main", holder)  # the night run ends
        out, err = desk.communicate(timeout=scaled(120))
        assert desk.returncode == 0, err[-2000:]
        assert json.loads(out)["result"]["member_id"] == m["member_id"]
        assert hub.counters()["logins"] == {"clinic.main": 1}
    finally:
        if desk.poll() is None:
            desk.kill()
        store.close()


def test_creds_set_stores_a_prompted_login_owner_only(env, settings):
    from typer.testing import CliRunner

    from bots.engine.credentials import login_secrets
    from bots.interfaces.cli import app

    result = CliRunner().invoke(
        app, ["creds", "set", "legacyportal", "second"], input="RFCNEW\nN3w-pass!\n\n"
    )
    assert result.exit_code == 0, result.output
    assert "N3w-pass!" not in result.output
    folder = settings.resolved_secrets_dir / "legacyportal" / "second"
    assert (folder / "password").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    login = login_secrets(load_settings(), "legacyportal", "second")
    assert (login.username, login.password) == ("RFCNEW", "N3w-pass!")
    refused = CliRunner().invoke(app, ["creds", "set", "legacyportal", "nobody"], input="x\ny\n\n")
    assert refused.exit_code == 2 and "not in config/portals.toml" in refused.output

    # --stdin: a provisioning script pipes three lines, no prompts, nothing echoed
    def set_from_stdin(lines: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [".venv/bin/payerbot", "creds", "set", "legacyportal", "second", "--stdin"],
            input=lines,
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(60),
            check=False,
        )

    piped = set_from_stdin("RFCPIPE\nP1ped-pass!\nJBSWY3DPEHPK3PXP\n")
    assert piped.returncode == 0, piped.stderr
    assert "P1ped-pass!" not in piped.stdout + piped.stderr
    assert "Warning" not in piped.stderr and "username:" not in piped.stdout
    login = login_secrets(load_settings(), "legacyportal", "second")
    assert (login.username, login.password, login.totp_seed) == (
        "RFCPIPE",
        "P1ped-pass!",
        "JBSWY3DPEHPK3PXP",
    )
    short = set_from_stdin("only-a-username\n")
    assert short.returncode == 2 and "three lines" in short.stderr + short.stdout
    assert "Traceback" not in short.stderr
