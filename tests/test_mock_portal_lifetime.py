"""The bundled mock portals live and die with the payerbot process that started them, and two
installations on one machine never share them (issue 23)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bots.settings import ROOT
from tests.timing import deadline_in, scaled

NAMES = ("payerhub", "legacyportal", "medicaidportal")
PAYERBOT = str(Path(sys.executable).with_name("payerbot"))

PARENT = textwrap.dedent(
    """
    import signal, sys, time
    from bots.ops import mock_portals
    from bots.settings import load_settings

    # Ctrl-C in a terminal: started in the background (CI), SIGINT would be ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)

    settings = load_settings()
    with mock_portals.running(settings):
        urls = " ".join(settings.portals[p].base_url for p in sorted(settings.portals))
        print("URLS", urls, flush=True)
        if sys.argv[1] == "exit":
            sys.stdin.readline()  # the test says when: then leave the block and exit normally
        else:
            while True:
                time.sleep(1)
    """
)


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on (bound then released: good enough on a test machine)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def installation_env(env: dict[str, str], data_dir: Path, ports: list[int]) -> dict[str, str]:
    """One installation: its own data folder (its identity: no PAYERBOT_INSTALLATION) and the
    mock portals configured on ``ports``."""
    values = {k: v for k, v in env.items() if k != "PAYERBOT_INSTALLATION"}
    values["PAYERBOT_DATA_DIR"] = str(data_dir)
    for name, port in zip(NAMES, ports, strict=True):
        values[f"PAYERBOT_PORTALS__{name.upper()}__BASE_URL"] = f"http://127.0.0.1:{port}"
    return values


def health(url: str) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{url}/__admin/health", timeout=5).json()
    return body


def gone(pid: int) -> bool:
    """The process has ended (a zombie nobody reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until_gone(pid: int, seconds: float = 10) -> None:
    deadline = deadline_in(seconds)
    while not gone(pid):
        assert time.monotonic() < deadline, f"the mock portal process {pid} outlived its parent"
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["exit", "ctrl-c", "sigterm", "sigkill"])
def test_mock_portals_end_with_their_parent(env, tmp_path, how):
    ports = free_ports(3)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, "exit" if how == "exit" else "wait"],
        env=installation_env(env, tmp_path / "var", ports),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a signal to the parent only, as `kill PID` sends it
    )
    try:
        urls = next(line.split()[1:] for line in parent.stdout if line.startswith("URLS"))
        assert len(urls) == 3, "the parent did not get its portals up"
        info = health(urls[0])
        portal_pid = info["pid"]
        assert isinstance(portal_pid, int) and portal_pid != parent.pid
        assert info["owner"] == str(tmp_path / "var")  # the installation: its data folder
        if how == "exit":
            parent.stdin.write("\n")
            parent.stdin.flush()
        else:
            sig = {"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}
            parent.send_signal(sig[how])
        parent.wait(timeout=scaled(20))
        wait_until_gone(portal_pid)
        for port in ports:
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/__admin/health", timeout=1)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def logins(data_dir: Path) -> Counter[tuple[str, str]]:
    """Logins per (portal, account) in every run log of an installation."""
    counted: Counter[tuple[str, str]] = Counter()
    for path in (data_dir / "runs").glob("*/run.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "portal.login":
                counted[(event["portal"], event["account"])] += 1
    return counted


SHORT_DEMO = {"appointments.csv": 12, "open_claims.csv": 8}
"""The first rows of each sample worklist: all three portals (PayerHub, legacy and Medicaid
members among the appointments), both kinds of lookup."""


def short_demo_fixtures(base: Path) -> Path:
    """A fixtures folder (``PAYERBOT_FIXTURES_DIR``) whose mock portals are the bundled ones
    and whose sample worklists are the first rows of the bundled ones (SHORT_DEMO)."""
    bundled = ROOT / "fixtures"
    base.mkdir()
    for entry in bundled.iterdir():
        if entry.name != "worklists":
            (base / entry.name).symlink_to(entry)
    (base / "worklists").mkdir()
    for name, rows in SHORT_DEMO.items():
        lines = (bundled / "worklists" / name).read_text(encoding="utf-8").splitlines()
        (base / "worklists" / name).write_text("\n".join(lines[: 1 + rows]) + "\n")
    return base


@pytest.mark.timeout(600)
def test_two_installations_run_the_demo_at_once_on_their_own_portals(env, tmp_path):
    """Two data folders configured on the same ports: each gets mock portals of its own (one
    of them on free ports, and it says so), both demos pass, one login per account each.

    Both demos run the first rows of the sample worklists (all three portals, both kinds):
    what is tested is two installations side by side, not the sample rows' answers, which
    the end-to-end tests and the truth audit check on the full worklists."""
    ports = free_ports(3)
    homes = [tmp_path / "one", tmp_path / "two"]
    short = {"PAYERBOT_FIXTURES_DIR": str(short_demo_fixtures(tmp_path / "fixtures"))}
    procs = [
        subprocess.Popen(
            [PAYERBOT, "demo"],
            env={**installation_env(env, home, ports), **short},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes
    ]
    results = [p.communicate(timeout=scaled(500)) for p in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr[-2000:]
    said = "".join(stderr for _, stderr in results)
    assert "is taken by another payerbot installation's mock portals" in said
    assert "mock portal serves on http://127.0.0.1:" in said
    lookups = [int(re.findall(r"(\d+) lookups in", out)[-1]) for out, _ in results]
    assert lookups[0] == lookups[1] > 0, lookups  # the same short worklists
    for home in homes:
        counted = logins(home)
        assert counted, "no login in the run logs"
        assert set(counted.values()) == {1}, counted
        assert {portal for portal, _ in counted} == set(NAMES)


def serve(env: dict[str, str], data_dir: Path, ports: list[int]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PAYERBOT, "portals", "serve"],
        env=installation_env(env, data_dir, ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_portals_serve_on_taken_ports_says_which_and_by_what(env, tmp_path):
    ports = free_ports(3)
    first = serve(env, tmp_path / "first", ports)
    try:
        assert first.stdout.readline().split()[0] == "payerhub"
        second = serve(env, tmp_path / "second", ports)
        _, stderr = second.communicate(timeout=scaled(60))
        assert second.returncode == 2
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        assert (
            f"ports {ports[0]} (payerhub), {ports[1]} (legacyportal) and {ports[2]} "
            "(medicaidportal) are taken by another payerbot installation's mock portals"
        ) in lines[0]
        assert str(tmp_path / "first") in lines[0]
        assert "Traceback" not in stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=scaled(20))

    with socket.socket() as holder:  # a program that is no mock portal at all
        holder.bind(("127.0.0.1", ports[1]))
        holder.listen()
        third = serve(env, tmp_path / "third", ports)
        _, stderr = third.communicate(timeout=scaled(60))
    assert third.returncode == 2
    assert stderr.strip().count("\n") == 0, stderr
    assert f"port {ports[1]} (legacyportal) is taken by another program" in stderr


def test_a_run_reuses_the_portals_its_own_installation_serves(env, tmp_path):
    """`portals serve` with knobs, then a command of the same installation: the same portals
    (their knobs hold), nothing new started."""
    ports = free_ports(3)
    data_dir = tmp_path / "var"
    served = serve(env, data_dir, ports)
    try:
        assert served.stdout.readline().split()[0] == "payerhub"
        pid = health(f"http://127.0.0.1:{ports[0]}")["pid"]
        probe = textwrap.dedent(
            """
            from bots.ops import mock_portals
            from bots.settings import load_settings
            settings = load_settings()
            with mock_portals.running(settings) as started:
                print("URLS", started, settings.portals["payerhub"].base_url)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", probe],
            env=installation_env(env, data_dir, ports),
            capture_output=True,
            text=True,
            timeout=scaled(60),
            check=True,
        )
        said = next(line for line in result.stdout.splitlines() if line.startswith("URLS"))
        assert said.split() == ["URLS", "[]", f"http://127.0.0.1:{ports[0]}"]
        assert health(f"http://127.0.0.1:{ports[0]}")["pid"] == pid
    finally:
        served.send_signal(signal.SIGINT)
        served.wait(timeout=scaled(20))
    assert os.environ.get("PAYERBOT_INSTALLATION")  # the suite's own processes share portals
