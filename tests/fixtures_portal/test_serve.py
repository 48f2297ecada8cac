"""fixtures/serve.py: prints the ground truth, serves on a free port, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVE = Path(__file__).resolve().parents[2] / "fixtures" / "serve.py"


def test_data_json_prints_the_data_set() -> None:
    out = subprocess.run(
        [sys.executable, str(SERVE), "--data-json", "--seed", "5"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = json.loads(out.stdout)
    assert data["seed"] == 5 and len(data["members"]) >= 240


def test_serves_on_a_free_port_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SERVE),
            "--portal",
            "payerhub=0",
            "--ready-file",
            str(ready),
            "--latency-ms",
            "5",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        url = json.loads(ready.read_text())["payerhub"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert httpx.get(f"{url}/__admin/health").json() == {
            "portal": "payerhub",
            "ok": True,
            "owner": None,  # started by hand, not by a payerbot installation
            "pid": proc.pid,
        }
        assert httpx.get(f"{url}/__admin/knobs").json()["latency_ms"] == 5
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert out.decode().strip() == f"payerhub {url}"
