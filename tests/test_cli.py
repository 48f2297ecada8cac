"""The CLI verbs around the runs: mock portals, ground truth, run history."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import httpx
import pytest

from bots.interfaces.cli.common import EXIT_BAD_INPUT
from tests.conftest import SAMPLES
from tests.timing import scaled


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive free ports (the portals are configured on consecutive
    ports; a neighbour taken by another test's server is retried, not a failure)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no run of free ports on this machine")


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
    names = ["payerhub", "legacyportal", "medicaidportal"]  # consecutive ports, as configured
    base = free_port(len(names))
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
        assert lines == [[n, f"http://127.0.0.1:{base + i}"] for i, n in enumerate(names)], (
            proc.stderr.read() if proc.poll() is not None else "no address printed"
        )
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


def portal_traffic(mock_portals) -> dict[str, int]:
    """Every mock portal's logins and lookups so far (a refused question adds none)."""
    seen = {}
    for name, portal in mock_portals.items():
        counters = portal.counters()
        seen[name] = sum(counters["logins"].values()) + sum(counters["lookups"].values())
    return seen


ELIGIBILITY = ("eligibility", "--payer", "ACME", "--member-id")
REFUSED_ASKS = {
    ("claim-status", "--payer", "ACME", "--member-id", "ACM1"): [
        "--claim-number: A claim status question needs a claim number (or patient account "
        "number), or a member ID with the date of service."
    ],
    (*ELIGIBILITY, " ", "--dob", "1980-05-17"): ["--member-id: The member ID is required."],
    (*ELIGIBILITY, "ACM1", "--dob", "5/17/80"): [
        "--dob: The date of birth is not a date: use MM/DD/YYYY or YYYY-MM-DD."
    ],
    (
        *ELIGIBILITY,
        "ACM_1",
        "--dob",
        "02/30/1980",
        "--charge",
        "1,25x",
        "--service-type",
        "Spa day",
    ): [
        "--member-id: A member ID has 2 to 30 letters, digits or hyphens",
        "--dob: The date of birth is not a real calendar date",
        "--service-type: Choose a service type from the list",
        "--charge: The expected charge is not an amount: write it like 1,250.00.",
    ],
    (*ELIGIBILITY, "ACM1", "--dob", "12/31/2099"): ["--dob: The date of birth is after today."],
    (*ELIGIBILITY, "ACM1", "--dob", "1980-01-01", "--dos", "2062-12-03"): [
        "--dos: The date of service is more than 365 days after today"
    ],
    (*ELIGIBILITY, "ACM1", "--dob", "1980-01-01", "--charge", "-40"): [
        "--charge: The expected charge cannot be negative."
    ],
    ("claim-status", "--payer", "ACME", "--claim-number", "C1", "--dos-from", "2026-11-31"): [
        "--dos-from: The date of service is not a real calendar date"
    ],
}


def test_lookup_says_what_a_question_lacks_in_plain_words(env, mock_portals):
    wide = {**env, "COLUMNS": "300"}
    before = portal_traffic(mock_portals)
    for args, lines in REFUSED_ASKS.items():
        proc = payerbot("lookup", *args, env=wide)
        said = proc.stderr.splitlines()
        assert proc.returncode == EXIT_BAD_INPUT == 6, (args, proc.stderr)
        assert len(said) == len(lines), (args, proc.stderr)  # one line per problem
        for line, words in zip(said, lines, strict=True):
            assert line.startswith("error: ") and words in line, (args, proc.stderr)
        text = proc.stderr + proc.stdout
        for python in ("Traceback", "Value error", "pydantic", "isoformat", "ConversionSyntax"):
            assert python not in text, (args, text)
        assert "02/30/1980" not in text and "12/31/2099" not in text  # never the value typed
    assert portal_traffic(mock_portals) == before, "no portal was asked a refused question"


def test_lookup_service_type_by_name_and_follow_ups_only_when_added(env, ground_truth):
    member = next(
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and m["coverage"]["termination_date"]
        and m["coverage"]["termination_date"] < "2026-12-01"
    )
    ask = ["lookup", "eligibility", "--payer", "ACME", "--member-id", member["member_id"]]
    ask += ["--dob", member["dob"], "--dos", "12/01/2026", "--charge", "$180.00", "--json"]
    shown = payerbot(*ask, "--service-type", "office visit", env=env)
    assert shown.returncode == 0, shown.stderr[-2000:]
    answer = json.loads(shown.stdout)
    assert answer["estimate"]["summary"].startswith("Estimate for Office visit (98): ")
    assert answer["followups"] == []
    assert [f["rule"] for f in answer["suggested_followups"]] == ["coverage_terminated"]
    listed = json.loads(payerbot("queue", "list", "--json", env=env).stdout)
    assert listed == [], "a desk lookup adds nothing to the queue unless asked"
    added = payerbot(*ask, "--service-type", "98", "--add-to-queue", env=env)
    assert added.returncode == 0, added.stderr[-2000:]
    answer = json.loads(added.stdout)
    assert [f["rule"] for f in answer["followups"]] == ["coverage_terminated"]
    listed = json.loads(payerbot("queue", "list", "--json", env=env).stdout)
    assert [f["id"] for f in listed] == [answer["followups"][0]["id"]]
