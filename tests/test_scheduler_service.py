"""`payerbot lookup` answered by a running scheduler over the data folder's socket (issue 21):
from the browser it keeps (a second lookup signs in no more), borrowing the night batch's
session when the batch holds the only account, gone with the scheduler on SIGTERM; one
service per data folder when a console runs too."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.services import local_service
from tests.test_cli import free_port, payerbot
from tests.test_cli_service import comparable, eligibility, logins, subscriber
from tests.test_scheduler import Scheduler, at, config_with_jobs, wait_for
from tests.timing import deadline_in, scaled
from tests.worklist_factory import eligibility_worklist

pytestmark = pytest.mark.browser

NEVER = '[schedule.jobs.never]\ncron = "0 3 1 1 *"\nsource = "claims_open"\n'
"""A job that does not run during a test: the scheduler just waits (and answers lookups)."""
BUSY = "already answers command-line lookups for this data folder"


def scheduler_env(env: dict[str, str], tmp_path: Path, jobs: str = NEVER) -> dict[str, str]:
    return {**env, "PAYERBOT_CONFIG_DIR": str(config_with_jobs(tmp_path, jobs))}


def who_answers(settings: Any) -> str | None:
    """The name the data folder's live service gives when pinged; None: nobody answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(scaled(10))
        try:
            sock.connect(str(local_service.socket_path(settings)))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        sock.sendall(b'{"op": "ping"}\n')
        reply = json.loads(sock.makefile("rb").readline())
    return str(reply["accepted"])


def browser_processes(pid: int) -> set[int]:
    """Playwright's driver and the browser itself below ``pid`` (not the browser's renderers
    and helpers, which come and go with its pages)."""
    found = set()
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            if b"--type=" not in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (Playwright's driver, the browser and its helpers)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = {int(c) for c in (task / "children").read_text().split()}
                todo += children - found
                found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def lookup(*args: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """`payerbot lookup ... --json`: its answer and its stderr (the notices); exit 0."""
    proc = payerbot(*args, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.stderr


@contextlib.contextmanager
def console(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """A real `payerbot serve -v` on the test's data folder, up (its login page answers)."""
    port = free_port()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [".venv/bin/payerbot", "serve", "-v", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = deadline_in(60)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(30))


def test_a_running_scheduler_answers_the_cli_from_its_kept_browser_and_leaves_with_sigterm(
    env, settings, ground_truth, mock_portals, tmp_path
):
    path = local_service.socket_path(settings)
    log = tmp_path / "scheduler.log"
    scheduler = Scheduler(scheduler_env(env, tmp_path), log)
    try:
        scheduler.wait_started()
        assert who_answers(settings) == "scheduler"
        said = log.read_text()
        assert "the scheduler answers command-line lookups on the data folder's socket" in said
        assert BUSY not in said

        member = subscriber(ground_truth)
        first, _ = lookup(*eligibility(member), env=env)  # the scheduler signs in (no session)
        assert first["answered_by"] == "scheduler" and first["state"] == "succeeded"
        result = first["result"]
        assert result["coverage_active"] is True and result["termination_date"] is None
        for name in ("plan_name", "plan_number", "network_type", "group_number"):
            assert result[name] == member[name], name
        assert result["effective_date"] == member["coverage"]["effective_date"]
        assert result["date_of_service"] == "2026-12-01"
        assert first["estimate"] and result["benefits"]
        kept = browser_processes(scheduler.proc.pid)
        assert len(kept) >= 2, "the scheduler keeps a browser (and its driver) for the next lookup"

        before = logins(mock_portals)
        other = subscriber(ground_truth, 1)
        second, _ = lookup(*eligibility(other), env=env)
        assert second["answered_by"] == "scheduler" and second["state"] == "succeeded"
        assert second["result"]["plan_name"] == other["plan_name"]
        assert logins(mock_portals) == before, "answered from the kept session: no login"
        assert browser_processes(scheduler.proc.pid) == kept, "the same browser, no new launch"
        browser = descendants(scheduler.proc.pid)
        lines = [line for line in log.read_text().splitlines() if "command-line lookup (" in line]
        assert len(lines) == 2 and second["run_id"] in lines[1], lines
        for line in lines:  # the scheduler's log names the run, never the patient
            assert member["member_id"] not in line and other["member_id"] not in line
    finally:
        assert scheduler.stop() == 0
    assert not path.exists(), "the scheduler removes its socket"
    wait_for(
        lambda: not [pid for pid in browser if alive(pid)], 10, "the browser outlived the scheduler"
    )
    said = log.read_text()
    assert "scheduler stopped" in said and "Traceback" not in said, said[-3000:]

    here, _ = lookup(*eligibility(member), env=env)
    assert here["answered_by"] == "cli" and here["state"] == "succeeded"
    assert comparable(here) == comparable(first), "the same answer in its own process"


def test_a_lookup_during_the_night_batch_waits_for_the_batchs_session(
    env, settings, ground_truth, hub, tmp_path
):
    """The batch holds PayerHub's only account: the scheduler's lookup does not sign in a
    second session; it says it waits, and the batch answers it between its own items."""
    hub.knobs(latency_ms=150)
    inbox = settings.drop_folder
    inbox.mkdir(parents=True)
    eligibility_worklist(ground_truth, inbox / "appointments.csv", 40, {"BLUESTEM", "CARDINAL"})
    due = datetime.now().astimezone() + timedelta(seconds=scaled(4))
    jobs = f'[schedule.jobs.inbox]\ncron = "{at(due)}"\nsource = "drop_folder"\n'
    env = {
        **scheduler_env(env, tmp_path, jobs),
        "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]',
        "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": "1",
    }
    log = tmp_path / "scheduler.log"
    scheduler = Scheduler(env, log)
    try:
        scheduler.wait_started()

        def batch_answered() -> int:
            return sum(hub.counters()["lookups"].values())

        wait_for(lambda: batch_answered() >= 2, 120, "the batch never got going")
        member = subscriber(ground_truth)  # an ACME member: not one of the batch's
        answer, notices = lookup(*eligibility(member), env=env)
        batch_still_running = "job inbox finished" not in log.read_text()
    finally:
        assert scheduler.stop() == 0
    assert batch_still_running, "the lookup came while the batch held the account"
    assert answer["answered_by"] == "scheduler" and answer["state"] == "succeeded"
    assert answer["result"]["plan_name"] == member["plan_name"]
    assert "the account is in use by run" in notices and "asking it to do this lookup" in notices
    assert sum(hub.counters()["logins"].values()) == 1, "one session for the one account"


@pytest.mark.parametrize("first", ["console", "scheduler"])
def test_a_console_and_a_scheduler_on_one_data_folder_one_answers_the_other_says_so(
    first, env, settings, tmp_path
):
    path = local_service.socket_path(settings)
    env = scheduler_env(env, tmp_path)
    logs = {"console": tmp_path / "console.log", "scheduler": tmp_path / "scheduler.log"}
    second = "scheduler" if first == "console" else "console"
    with contextlib.ExitStack() as running:
        procs: dict[str, Any] = {}

        def start(name: str) -> None:
            if name == "console":
                procs[name] = running.enter_context(console(env, logs[name]))
                return
            scheduler = Scheduler(env, logs[name])
            running.callback(lambda: scheduler.stop() == 0 or pytest.fail("scheduler exit"))
            scheduler.wait_started()
            procs[name] = scheduler.proc

        start(first)
        wait_for(lambda: who_answers(settings) == first, 60, f"the {first} never answered")
        start(second)
        wait_for(lambda: BUSY in logs[second].read_text(), 60, f"the {second} said nothing")
        said = [line for line in logs[second].read_text().splitlines() if BUSY in line]
        assert len(said) == 1, said
        assert f"a running payerbot {first} {BUSY}; this {second} goes on without " in said[0]
        assert BUSY not in logs[first].read_text()
        assert who_answers(settings) == first, "the first one keeps the socket"
        assert procs[second].poll() is None, "the other goes on"
        if second == "scheduler":
            assert "scheduler started" in logs[second].read_text()

        procs[second].terminate()  # the one without the socket leaves it alone
        procs[second].wait(timeout=scaled(60))
        assert who_answers(settings) == first
    assert not path.exists(), "the one that had it removed it"
    for log in logs.values():
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert not os.listdir(path.parent)
