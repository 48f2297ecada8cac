"""The CLI verbs around the runs: mock portals, ground truth, run history."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.timing import scaled


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def payerbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [".venv/bin/payerbot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )


def test_portals_data_prints_the_ground_truth(env, ground_truth):
    proc = payerbot("portals", "data", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data == ground_truth
    assert len(data["members"]) >= 200 and len(data["claims"]) >= 500
    assert len({p["payer_id"] for p in data["payers"] if p["portal"] == "payerhub"}) >= 3


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_portals_serve_runs_in_the_foreground_until_interrupted(env, tmp_path, stop):
    base = free_port()
    names = ["payerhub", "legacyportal", "medicaidportal"]  # consecutive ports, as configured
    serve_env = {
        **env,
        **{
            f"PAYERBOT_PORTALS__{n.upper()}__BASE_URL": f"http://127.0.0.1:{base + i}"
            for i, n in enumerate(names)
        },
    }
    proc = subprocess.Popen(
        [
            ".venv/bin/payerbot",
            "portals",
            "serve",
            "--latency-ms",
            "5",
            "--layout",
            "B",
            "--rate-limit-per-minute",
            "99",
            "--session-max-seconds",
            "600",
        ],
        env=serve_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().split() for _ in names]
        assert lines == [[n, f"http://127.0.0.1:{base + i}"] for i, n in enumerate(names)]
        for i in range(len(names)):
            knobs = httpx.get(f"http://127.0.0.1:{base + i}/__admin/knobs").json()
            assert (knobs["latency_ms"], knobs["layout"], knobs["rate_limit_per_minute"]) == (
                5,
                "B",
                99,
            )
            assert knobs["session_max_seconds"] == 600 and knobs["maintenance"] is False
        secrets = tmp_path / "var" / "secrets" / "payerhub" / "main"
        assert sorted(p.name for p in secrets.iterdir()) == ["password", "totp_seed", "username"]
        assert oct(secrets.stat().st_mode & 0o777) == "0o700"
        assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in secrets.iterdir())
    finally:
        proc.send_signal(stop)  # Ctrl-C, or a service manager: the portals stop either way
        assert proc.wait(timeout=scaled(20)) == 0
    time.sleep(0.2)
    for i in range(len(names)):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{base + i}/__admin/health", timeout=1)


def test_runs_list_json_and_a_bad_worklist_row_is_reported_not_fatal(env, tmp_path):
    rows = (SAMPLES / "appointments.csv").read_text().splitlines()
    broken = rows[1].split(",")
    broken[4] = "31/31/1999"  # DOB column: not a date
    worklist = tmp_path / "week.csv"
    worklist.write_text("\n".join([rows[0], ",".join(broken), rows[2]]) + "\n")
    proc = payerbot("run", "eligibility", "--worklist", str(worklist), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "week.csv row 2 column dob: not a date" in " ".join(proc.stderr.split())
    assert "31/31/1999" not in proc.stderr + proc.stdout
    runs = json.loads(payerbot("runs", "list", "--json", env=env).stdout)
    assert len(runs) == 1
    assert runs[0]["counts"]["items"] == 1 and runs[0]["counts"]["import_errors"] == 1
    assert runs[0]["status"] == "finished" and runs[0]["source"] == "week.csv"


def test_lookup_says_what_a_question_lacks_in_plain_words(env):
    wide = {**env, "COLUMNS": "300"}
    asks = {
        ("claim-status", "--payer", "ACME", "--member-id", "ACM1"): (
            "A claim status question needs a claim number (or patient account number), "
            "or a member ID with the date of service."
        ),
        ("eligibility", "--payer", "ACME", "--member-id", " ", "--dob", "1980-05-17"): (
            "The member ID is empty."
        ),
        ("eligibility", "--payer", "ACME", "--member-id", "ACM1", "--dob", "5/17/80"): (
            "The date of birth is not a date (YYYY-MM-DD)."
        ),
    }
    for args, sentence in asks.items():
        proc = payerbot("lookup", *args, env=wide)
        said = " ".join(proc.stderr.split())
        assert proc.returncode == 2 and sentence in said, (args, proc.stderr)
        assert "Traceback" not in said and "Value error" not in said and "pydantic" not in said
