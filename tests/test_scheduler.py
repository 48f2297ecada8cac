"""The overnight scheduler: real `payerbot schedule start` processes against the mock
portals, a restart that catches up exactly once, the drop folder, the due-items sources and
the morning digest delivered to local SMTP and webhook receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest

from bots.errors import ConfigurationError
from bots.interfaces.scheduler import cron_trigger
from bots.settings import ROOT, load_settings
from bots.store import JobRun, Store
from tests.cli_here import payerbot_here
from tests.conftest import DEFAULT_KNOBS
from tests.timing import deadline_in, scaled
from tests.worklist_factory import claim_worklist, eligibility_worklist

ZONE = "America/New_York"


# --- crontab semantics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "weekday"),
    [("0 3 * * 0", 6), ("0 3 * * 7", 6), ("0 3 * * 1", 0), ("0 3 * * 5", 4), ("0 3 * * sat", 5)],
)
def test_crontab_weekdays_mean_what_crontab_means(expression, weekday):
    """APScheduler 3 counts weekdays from Monday; crontab from Sunday. 0 and 7: Sunday."""
    trigger = cron_trigger(expression, ZONE)
    start = datetime(2026, 11, 28, 12, tzinfo=ZoneInfo(ZONE))  # a Saturday
    fire = trigger.get_next_fire_time(None, start)
    assert fire.weekday() == weekday and (fire.hour, fire.minute) == (3, 0)


def test_weekday_ranges_and_six_field_expressions():
    start = datetime(2026, 11, 28, 12, tzinfo=ZoneInfo(ZONE))  # Saturday
    weekdays = cron_trigger("30 4 * * 1-5", ZONE)
    fires = []
    t = start
    for _ in range(6):
        t = weekdays.get_next_fire_time(t, t + timedelta(seconds=1))
        fires.append(t.strftime("%a"))
    assert fires == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    seconds = cron_trigger("15 30 4 * * *", ZONE).get_next_fire_time(None, start)
    assert (seconds.hour, seconds.minute, seconds.second) == (4, 30, 15)
    with pytest.raises(ConfigurationError, match="5 fields"):
        cron_trigger("0 3 * *", ZONE)
    with pytest.raises(ConfigurationError, match="bad cron"):
        cron_trigger("0 25 * * *", ZONE)


# --- a scheduler process -------------------------------------------------------------------


def config_with_jobs(tmp_path: Path, jobs: str, extra: str = "") -> Path:
    """A config folder: the real one, with these jobs as config/schedule.toml."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder, dirs_exist_ok=True)
    (folder / "schedule.toml").write_text(
        f'[schedule]\ntimezone = "{ZONE}"\nsettle_seconds = 0\nmisfire_grace_seconds = 600\n'
        f"{extra}\n{jobs}"
    )
    return folder


def at(moment: datetime) -> str:
    """A 6-field cron expression firing at this local second (once a day)."""
    local = moment.astimezone(ZoneInfo(ZONE))
    return f"{local.second} {local.minute} {local.hour} * * *"


class Scheduler:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [".venv/bin/payerbot", "schedule", "start", "-v"],
            env=env,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_started(self, timeout: float = 60) -> None:
        deadline = deadline_in(timeout)
        while "scheduler started" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)

    def stop(self, timeout: float = 180) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def assert_no_apscheduler_text(*logs: Path) -> None:
    """The scheduler's log is ours, in words: none of APScheduler's own lines."""
    for path in logs:
        text = path.read_text()
        for raw in (
            "apscheduler",
            "Added job",
            "Running job",
            "executed successfully",
            "Adding job",
        ):
            assert raw not in text, (raw, text[-2000:])


def executions(settings, job: str) -> list[JobRun]:
    store = Store.open(settings)
    try:
        return sorted((r for r in store.job_runs(1000) if r.job == job), key=lambda r: r.id)
    finally:
        store.close()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = deadline_in(timeout)
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


@pytest.mark.browser
def test_due_jobs_run_both_kinds_of_batch_from_the_drop_folder_and_write_their_outputs(
    env, settings, ground_truth, tmp_path
):
    inbox = settings.drop_folder
    inbox.mkdir(parents=True)
    eligibility_worklist(ground_truth, inbox / "appointments.csv", 6, {"ACME", "DELTA"})
    claim_worklist(ground_truth, inbox / "open_claims.csv", 6, {"BLUESTEM", "STATEMCD"})
    (inbox / "notes.csv").write_text("Just,some,columns\n1,2,3\n")  # not a worklist

    # time to start the scheduler before the job is due (longer on a loaded machine: a job
    # first seen after its time would wait for tomorrow)
    def config(due: datetime) -> Path:
        return config_with_jobs(
            tmp_path,
            f'[schedule.jobs.inbox]\ncron = "{at(due)}"\nsource = "drop_folder"\n'
            f'[schedule.jobs.never]\ncron = "0 3 1 1 *"\nsource = "claims_open"\n',
        )

    env = {**env, "PAYERBOT_CONFIG_DIR": str(config(datetime.now().astimezone()))}
    listed = json.loads(payerbot_here("schedule", "list", "--json", env=env).stdout)
    assert [j["job"] for j in listed["jobs"]] == ["inbox", "never"]
    config(datetime.now().astimezone() + timedelta(seconds=scaled(4)))  # due: just past a start
    scheduler = Scheduler(env, tmp_path / "scheduler.log")
    try:
        scheduler.wait_started()
        wait_for(
            lambda: any(e.status != "running" for e in executions(settings, "inbox")),
            240,
            "the due job never finished",
        )
    finally:
        assert scheduler.stop() == 0
    (execution,) = executions(settings, "inbox")
    assert execution.status == "finished" and len(execution.run_ids) == 2
    store = Store.open(settings)
    runs = [store.get_run(r) for r in execution.run_ids]
    assert sorted(r.kind for r in runs) == ["claim_status", "eligibility"]
    assert all(r.trigger == "schedule" and r.status == "finished" for r in runs)
    assert all(Path(r.spreadsheet_path).is_file() for r in runs)
    store.close()
    assert sorted(p.name.split("-", 2)[-1] for p in (inbox / "processed").iterdir()) == [
        "appointments.csv",
        "open_claims.csv",
    ]
    rejected = sorted(p.name for p in (inbox / "rejected").iterdir())
    assert len(rejected) == 2 and rejected[1].endswith("notes.csv.reason.txt")
    assert not [p for p in inbox.iterdir() if p.is_file()], "every file picked up once"
    report = Path(execution.report_path)
    data = json.loads(report.with_suffix(".json").read_text())
    assert {r["run_id"] for r in data["runs"]} == set(execution.run_ids)
    assert report.is_file() and settings.workbook_path.is_file()


def test_a_restart_after_the_due_time_runs_the_missed_job_exactly_once(env, settings, tmp_path):
    due = datetime.now().astimezone() + timedelta(seconds=scaled(6))  # past a start and stop
    jobs = f'[schedule.jobs.nightly]\ncron = "{at(due)}"\nsource = "drop_folder"\n'
    env = {**env, "PAYERBOT_CONFIG_DIR": str(config_with_jobs(tmp_path, jobs))}
    first = Scheduler(env, tmp_path / "first.log")
    first.wait_started()
    assert first.stop() == 0  # down before the due time
    assert executions(settings, "nightly") == []
    wait_for(lambda: datetime.now().astimezone() > due, 30, "clock")
    # While it was down someone also edited the job (a later time): the missed run stays due.
    later = due + timedelta(hours=2)
    jobs = f'[schedule.jobs.nightly]\ncron = "{at(later)}"\nsource = "drop_folder"\n'
    env = {**env, "PAYERBOT_CONFIG_DIR": str(config_with_jobs(tmp_path / "v2", jobs))}
    second = Scheduler(env, tmp_path / "second.log")
    try:
        second.wait_started()
        wait_for(
            lambda: [e.status for e in executions(settings, "nightly")] == ["finished"],
            60,
            "no catch-up run",
        )
        time.sleep(3)  # and no second one
    finally:
        assert second.stop() == 0
    (run,) = executions(settings, "nightly")
    assert run.message == "nothing to do"
    said = (tmp_path / "second.log").read_text()
    assert "catching up: job nightly was due at " in said, said[-3000:]
    local_due = due.astimezone(ZoneInfo(ZONE))
    assert f"{local_due:%m/%d/%Y} {local_due.hour % 12 or 12}:{local_due:%M} " in said
    assert said.count("job nightly started (worklists in the drop folder)") == 1
    assert "job nightly finished: 0 batch(es), nothing to do" in said
    assert_no_apscheduler_text(tmp_path / "first.log", tmp_path / "second.log")
    listed = payerbot_here("schedule", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (job,) = json.loads(listed.stdout)["jobs"]
    next_run = datetime.fromisoformat(job["next_run"])
    assert next_run.astimezone(ZoneInfo(ZONE)).strftime("%H:%M:%S") == later.astimezone(
        ZoneInfo(ZONE)
    ).strftime("%H:%M:%S"), "the edited time applies from now on"


def test_the_drop_folder_is_checked_between_runs_and_the_log_says_so(env, settings, tmp_path):
    """A file dropped after the day's run is picked up within minutes (here: seconds), not
    at tomorrow's 03:00; the check is silent while the folder is empty."""
    jobs = '[schedule.jobs.inbox]\ncron = "0 3 1 1 *"\nsource = "drop_folder"\n'
    config = config_with_jobs(tmp_path, jobs, extra="drop_folder_check_minutes = 0.05")
    env = {**env, "PAYERBOT_CONFIG_DIR": str(config)}
    inbox = settings.drop_folder
    inbox.mkdir(parents=True)
    log = tmp_path / "scheduler.log"
    scheduler = Scheduler(env, log)
    try:
        scheduler.wait_started()
        assert "the drop folder is checked every 0.05 min" in log.read_text()
        time.sleep(scaled(4))  # a check or more on an empty folder: no job, no line
        assert executions(settings, "inbox") == []
        (inbox / "notes.csv").write_text("Just,some,columns\n1,2,3\n")  # refused: no browser
        wait_for(
            lambda: [e.status for e in executions(settings, "inbox")] == ["finished"],
            60,
            "the dropped file was not picked up",
        )
    finally:
        assert scheduler.stop() == 0
    said = log.read_text()
    assert said.count("drop folder: 1 file(s) waiting; job inbox runs now") == 1, said[-3000:]
    assert "job inbox started (worklists in the drop folder)" in said
    assert "job inbox finished: 0 batch(es), nothing to do" in said
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []
    assert len(list((inbox / "rejected").iterdir())) == 2  # the file and its reason
    started = next(line for line in said.splitlines() if "scheduler started" in line)
    assert re.match(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M ", started), "local time"
    assert_no_apscheduler_text(log)


def test_schedule_list_shows_the_current_config_in_local_time(env, tmp_path):
    jobs = '[schedule.jobs.nightly]\ncron = "30 3 * * *"\nsource = "claims_open"\n'
    env = {**env, "PAYERBOT_CONFIG_DIR": str(config_with_jobs(tmp_path, jobs)), "COLUMNS": "80"}

    def listed(*extra: str) -> str:
        return subprocess.run(
            [".venv/bin/payerbot", "schedule", "list", *extra],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    text = listed()
    assert "nightly" in text and "open claims" in text and "3:30 AM" in text
    assert re.search(r"\d\d/\d\d/\d{4} 3:30 AM", text), text
    (job,) = json.loads(listed("--json"))["jobs"]
    when = datetime.fromisoformat(job["next_run"])
    assert when.utcoffset() == timedelta(0), "JSON: UTC with its offset"
    local = when.astimezone(ZoneInfo(ZONE))
    assert (local.hour, local.minute) == (3, 30)
    assert job["next_run_local"] == f"{local:%m/%d/%Y} 3:30 AM"


# --- sources and the digest (in process) -------------------------------------------------------


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.browser
def test_due_items_are_asked_again_and_the_digest_is_mailed_and_posted_without_phi(
    env, settings, ground_truth, tmp_path, monkeypatch
):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    from bots.interfaces import scheduler
    from bots.models import LookupKind
    from tests.conftest import eligibility_rows, run_rows

    mails: list[Any] = []

    class Inbox(Message):
        def handle_message(self, message: Any) -> None:
            mails.append(message)

    with socket.socket() as probe:  # aiosmtpd's controller needs a real port number
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    Hook.received.clear()
    try:
        today = datetime.now(ZoneInfo(ZONE)).date()
        members = [m for m in ground_truth["members"] if m["payer_id"] == "ACME"][:3]
        soon = eligibility_rows(members[:2], dos=(today + timedelta(days=1)).isoformat())
        later = eligibility_rows(members[2:], dos=(today + timedelta(days=30)).isoformat())
        run_rows(settings, LookupKind.ELIGIBILITY, soon + later)
        for key, value in {
            "PAYERBOT_SCHEDULE__JOBS__AHEAD__CRON": "0 3 * * *",
            "PAYERBOT_SCHEDULE__JOBS__AHEAD__SOURCE": "appointments_ahead",
            "PAYERBOT_SCHEDULE__JOBS__AHEAD__DAYS_AHEAD": "2",
            "PAYERBOT_SCHEDULE__JOBS__AHEAD__FRESH_HOURS": "0",
            "PAYERBOT_SCHEDULE__DIGEST__SMTP_HOST": "127.0.0.1",
            "PAYERBOT_SCHEDULE__DIGEST__SMTP_PORT": str(smtp_port),
            "PAYERBOT_SCHEDULE__DIGEST__MAIL_TO": '["supervisor@clinic.example"]',
            "PAYERBOT_SCHEDULE__DIGEST__WEBHOOK_URL": f"http://127.0.0.1:{hook.server_port}/h",
            "PAYERBOT_SCHEDULE__DIGEST__WEBHOOK_SECRET": "hook-secret",
        }.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        # (in a worker thread: pytest-playwright keeps an event loop on the main thread)
        with ThreadPoolExecutor(1) as pool:
            job_run = pool.submit(scheduler.run_job, "ahead", settings).result()
        (execution,) = [e for e in executions(settings, "ahead") if e.id == job_run]
        assert execution.status == "finished", execution.message
        store = Store.open(settings)
        (run_id,) = execution.run_ids
        asked = store.run_outcomes(run_id)
        store.close()
        assert sorted(i.query["member_id"] for i in asked) == sorted(
            m["member_id"] for m in members[:2]
        ), "only the appointments in the next 2 days"

        wait_for(lambda: mails and Hook.received, 10, "digest not delivered")
        (mail,) = mails
        assert mail["To"] == "supervisor@clinic.example"
        assert mail["Subject"].startswith("payerbot ahead: finished, 2 lookups")
        headers, body = Hook.received[0]
        mac = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        assert headers["X-Payerbot-Signature"] == f"sha256={mac}"
        posted = json.loads(body)
        assert posted["runs"][0]["run_id"] == run_id
        everything = mail.as_string() + body.decode()
        report = Path(execution.report_path)
        everything += report.read_text() + report.with_suffix(".json").read_text()
        for m in members:
            for value in (m["member_id"], m["last_name"], m["first_name"], m["dob"]):
                assert value not in everything, "no PHI leaves in the digest"
        assert json.loads(report.with_suffix(".json").read_text())["delivery"] == {
            "email": "sent",
            "webhook": "sent",
        }
    finally:
        smtp.stop()
        hook.shutdown()


@pytest.mark.browser
def test_sigterm_lets_the_running_batch_finish_its_lookups_in_flight_and_leaves_the_rest(
    env, settings, ground_truth, hub, tmp_path
):
    hub.knobs(latency_ms=150)
    inbox = settings.drop_folder
    inbox.mkdir(parents=True)
    eligibility_worklist(ground_truth, inbox / "appointments.csv", 24, {"ACME", "BLUESTEM"})
    due = datetime.now().astimezone() + timedelta(seconds=scaled(4))
    jobs = f'[schedule.jobs.inbox]\ncron = "{at(due)}"\nsource = "drop_folder"\n'
    env = {
        **env,
        "PAYERBOT_CONFIG_DIR": str(config_with_jobs(tmp_path, jobs)),
        "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": "1",
    }
    scheduler = Scheduler(env, tmp_path / "scheduler.log")
    store = Store.open(settings)
    try:
        scheduler.wait_started()

        def answered() -> int:
            runs = store.list_runs(1)
            if not runs:
                return 0
            return sum(i.state == "succeeded" for i in store.run_outcomes(runs[0].id))

        wait_for(lambda: answered() >= 3, 120, "the batch never got going")
    finally:
        started = time.monotonic()
        assert scheduler.stop() == 0
    assert time.monotonic() - started < 60, "stopped promptly"
    (execution,) = executions(settings, "inbox")
    assert execution.status == "stopped"
    (run_id,) = execution.run_ids
    run = store.get_run(run_id)
    states = [i.state for i in store.run_outcomes(run_id)]
    store.close()
    assert run.status == "stopped"
    assert "in_progress" not in states, "nothing left half-done"
    assert states.count("new") > 0, "the rest stays queued for `runs resume`"
    said = (tmp_path / "scheduler.log").read_text()
    assert "job inbox stopped: 1 batch(es), 24 item(s): " in said, said[-3000:]

    # The next start resumes the stopped scheduled run before anything else (the stop is
    # proven: the rest at the portal's usual speed).
    hub.knobs(latency_ms=DEFAULT_KNOBS["latency_ms"])
    again = Scheduler(env, tmp_path / "again.log")
    store = Store.open(settings)
    try:
        again.wait_started()
        wait_for(
            lambda: store.get_run(run_id).status == "finished", 180, "the stopped run not resumed"
        )
        wait_for(lambda: "resumed: 24 item(s)" in (tmp_path / "again.log").read_text(), 30, "log")
    finally:
        assert again.stop() == 0
        store.close()
    said = (tmp_path / "again.log").read_text()
    assert f"resuming run {run_id}, left unfinished by a stop or a crash: " in said
    assert f"run {run_id} resumed: 24 item(s): " in said
    assert_no_apscheduler_text(tmp_path / "scheduler.log", tmp_path / "again.log")
