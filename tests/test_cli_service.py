"""`payerbot lookup` answered by a running console over the data folder's socket (issue 21):
the same answer as the in-process lookup, bad input refused before the service is asked, a
stale socket file falls back, the socket is the same OS user's only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bots.interfaces.cli.common import EXIT_BAD_INPUT
from bots.services import local_service
from bots.store import Store
from bots.store.schema import audit_log
from tests.test_cli import free_port, payerbot, portal_traffic
from tests.timing import deadline_in, scaled

pytestmark = pytest.mark.browser


@pytest.fixture
def console_log(env, settings, tmp_path) -> Iterator[Path]:
    """A real `payerbot serve -v` on the test's data folder; yields its log file."""
    log = tmp_path / "console.log"
    port = free_port()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [".venv/bin/payerbot", "serve", "-v", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = deadline_in(60)
    try:
        while not local_service.socket_path(settings).exists():
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.2)
        yield log
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(30))
    assert not local_service.socket_path(settings).exists(), "the console removes its socket"


def subscriber(ground_truth: dict[str, Any], n: int = 0) -> dict[str, Any]:
    members = [
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and not m["coverage"]["termination_date"]
    ]
    return members[n]


def eligibility(member: dict[str, Any], *extra: str) -> list[str]:
    return [
        "lookup",
        "eligibility",
        "--payer",
        "ACME",
        "--member-id",
        member["member_id"],
        "--dob",
        member["dob"],
        "--dos",
        "12/01/2026",
        "--charge",
        "$180.00",
        "--json",
        *extra,
    ]


def logins(mock_portals) -> int:
    return sum(mock_portals["payerhub"].counters()["logins"].values())


MOVING = {"run_id", "item_id", "evidence", "trace", "answered_by"}
"""What differs between two lookups of one question: ids, files, who answered."""


def comparable(value: Any) -> Any:
    """An answer without its ids, files, times and raw page text."""
    if isinstance(value, dict):
        return {
            k: comparable(v)
            for k, v in value.items()
            if k not in MOVING and not k.endswith(("_at", "as_of", "_path", "raw_text"))
        }
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def test_the_cli_asks_the_running_console_and_gets_the_in_process_answer(
    console_log, settings, env, ground_truth, mock_portals
):
    run = local_service.socket_path(settings).parent
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    mode = local_service.socket_path(settings).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600

    member = subscriber(ground_truth)
    first = payerbot(*eligibility(member), env=env)  # the console signs in (no session yet)
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout)["answered_by"] == "console"

    before = logins(mock_portals)
    proc = subprocess.Popen(
        [".venv/bin/payerbot", *eligibility(member)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=scaled(300))
    assert proc.returncode == 0, stderr[-2000:]
    via_console = json.loads(stdout)
    assert via_console["answered_by"] == "console"
    assert via_console["state"] == "succeeded"
    assert logins(mock_portals) == before, "answered from the console's session: no login"
    # the console's log names the asking process (a plain line, no PHI) and its audit the run
    said = [line for line in console_log.read_text().splitlines() if "what=service.lookup" in line]
    assert len(said) == 2, said
    assert f"process {proc.pid}" in said[1] and via_console["run_id"] in said[1]
    for line in said:
        assert member["member_id"] not in line and member["dob"] not in line
    store = Store.open(settings)
    with store.engine.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.detail).where(audit_log.c.actor == "cli")
        ).scalars()
        details = list(audited)
    store.close()
    assert any(via_console["run_id"] in d and f"process {proc.pid}" in d for d in details)

    here = payerbot(*eligibility(member, "--no-service"), env=env)
    assert here.returncode == 0, here.stderr[-2000:]
    in_process = json.loads(here.stdout)
    assert in_process["answered_by"] == "cli"
    assert in_process["run_id"] != via_console["run_id"]
    assert set(in_process) == set(via_console)
    assert comparable(in_process) == comparable(via_console)
    assert via_console["estimate"] and comparable(via_console)["result"]["benefits"]


def test_bad_input_is_refused_in_the_cli_without_asking_the_service(console_log, env, mock_portals):
    before = portal_traffic(mock_portals)
    args = ("lookup", "eligibility", "--payer", "ACME", "--member-id", "ACM1")
    proc = payerbot(*args, "--dob", "02/30/1980", env={**env, "COLUMNS": "300"})
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert proc.stderr.startswith("error: --dob: The date of birth is not a real calendar date")
    assert portal_traffic(mock_portals) == before
    assert "what=service.lookup" not in console_log.read_text()


def test_a_stale_socket_file_falls_back_to_the_in_process_lookup(
    env, settings, ground_truth, mock_portals
):
    path = local_service.socket_path(settings)
    path.parent.mkdir(parents=True, mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening, closed: a killed service's file
    assert stat.S_ISSOCK(path.stat().st_mode)
    proc = payerbot(*eligibility(subscriber(ground_truth, 1)), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["answered_by"] == "cli" and answer["state"] == "succeeded"


def test_a_service_that_accepts_but_never_answers_ends_in_a_sentence(settings):
    path = local_service.socket_path(settings)
    path.parent.mkdir(parents=True, mode=0o700)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    try:
        with pytest.raises(local_service.ServiceTimeout) as said:
            local_service.ask(settings, "eligibility", {}, False, accept_seconds=0.5)
        assert "--no-service" in str(said.value) and "did not take the question" in str(said.value)
    finally:
        for conn in held:
            conn.close()
        server.close()


def test_a_new_service_replaces_a_stale_socket_and_leaves_a_live_one_alone(settings):
    path = local_service.socket_path(settings)
    path.parent.mkdir(parents=True, mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))

    async def never(*_args: Any) -> dict[str, Any]:
        raise AssertionError("no lookup is asked here")

    async def both() -> tuple[bool, bool, bool]:
        first = local_service.LocalService(settings, never, "console")
        second = local_service.LocalService(settings, never, "scheduler")
        started = await first.start()
        reader, writer = await asyncio.open_unix_connection(str(path))  # answers now
        writer.write(b'{"op": "ping"}\n')
        replaced = json.loads(await reader.readline()) == {"accepted": "console"}
        writer.close()
        refused = await second.start()
        await second.close()  # not its socket: left alone
        alive = path.exists()
        await first.close()
        return started and replaced, not refused, alive and not path.exists()

    assert _run_apart(both()) == (True, True, True)
    assert os.stat(path.parent).st_mode & 0o077 == 0


def test_the_service_checks_the_question_again_and_says_why_it_could_not_answer(settings):
    """The socket's protocol without a browser: a question the service's checker refuses
    comes back as its problems (no lookup asked); a lookup that failed as its sentence, with
    whether the login was refused (the CLI's exit 3)."""
    from bots.errors import AuthenticationError

    asked: list[str] = []
    notices: list[str] = []

    async def refused_login(query: Any, add: bool, notice: Any, who: str) -> dict[str, Any]:
        asked.append(who)
        notice("Signing in to the portal…")
        raise AuthenticationError("The portal refused the login of account main.")

    ready = threading.Event()
    stop: list[Any] = []

    def serve() -> None:
        async def main() -> None:
            service = local_service.LocalService(settings, refused_login, "console")
            assert await service.start()
            done = asyncio.Event()
            stop.append((asyncio.get_running_loop(), done))
            ready.set()
            await done.wait()
            await service.close()

        asyncio.run(main())  # its own thread: no loop of pytest-playwright here

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(scaled(30))
    try:
        bad = {"payer": "ACME", "member_id": "ACM1", "dob": "02/30/1980"}
        reply = local_service.ask(settings, "eligibility", bad, False)
        assert reply is not None and reply.answer is None
        assert reply.problems["dob"].startswith("The date of birth is not a real calendar date")
        assert asked == []

        good = {"payer": "ACME", "member_id": "ACM1", "dob": "05/17/1980"}
        reply = local_service.ask(settings, "eligibility", good, False, notice=notices.append)
        assert reply is not None and reply.service == "console"
        assert reply.failure == "The portal refused the login of account main."
        assert reply.authentication and reply.answer is None
        assert notices == ["Signing in to the portal…"]
        assert len(asked) == 1 and asked[0].startswith(f"command line, process {os.getpid()}")
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(scaled(30))
    assert not local_service.socket_path(settings).exists()


def _run_apart(coro: Any) -> Any:
    """Run a coroutine on a thread of its own: pytest-playwright's sync API may have left a
    running event loop in this worker's thread (asyncio.run refuses to nest)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
