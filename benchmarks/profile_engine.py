"""Where the engine's CPU goes per lookup (docs/profile.md): cProfile over a run.

    python -m benchmarks.profile_engine scripted N OUT.prof   # the scripted portal, no browser
    python -m benchmarks.profile_engine payerhub N OUT.prof   # PayerHub mock, one session

Prints one JSON line: lookups, wall seconds, this process's CPU seconds (all its threads)
per lookup and, for PayerHub, the browser's and the mock portal's CPU per lookup; then the
profile's top cumulative entries. ``INLINE=1`` runs the store's calls in the event loop's
thread so the profile sees them (cProfile follows one thread; the figures are then the
profiled ones, not the run's).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench import _workload
from bots.engine.browserless import BrowserlessSessions
from bots.engine.credentials import write_secret_files
from bots.engine.runner import Runner
from bots.flowkit.scripted import ScriptedFlow
from bots.models import EligibilityQuery, LookupKind
from bots.ops import mock_portals as fixture_portals
from bots.settings import Settings, load_settings
from bots.store import Store

PROC_STAT = "/proc/{}/stat"


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(PROC_STAT.format(pid)).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _inline() -> None:
    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    asyncio.to_thread = to_thread  # type: ignore[assignment]


def _profiled(runner: Runner, rows: list[Any], out: str) -> tuple[int, float, float]:
    """The run, under cProfile unless ``NOPROF`` (then the CPU figures are the run's own)."""
    prof = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared
    cpu, wall = time.process_time(), time.perf_counter()
    if not os.environ.get("NOPROF"):
        prof.enable()
    summary = asyncio.run(runner.run(LookupKind.ELIGIBILITY, rows, force=True))
    prof.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if not os.environ.get("NOPROF"):
        prof.dump_stats(out)
    return summary.lookups, cpu, wall


def scripted(n: int, out: str, data: Path) -> dict[str, Any]:
    settings = Settings(
        data_dir=data,
        retention_days=None,
        portals={
            "alpha": {
                "base_url": "https://alpha.invalid",
                "accounts": ["main"],
                "max_sessions": 1,
                "timezone": "UTC",
            }
        },
        payers={"ALPHA": {"name": "Alpha", "portal": "alpha"}},
        credentials={
            "alpha": {
                "main": {
                    "username": "scripted-user",
                    "password": "scripted-password",
                    "totp_seed": "JBSWY3DPEHPK3PXP",
                    "security_answers": "{}",
                }
            }
        },
        queue={"drift_canary": False},
        sessions={"reuse": False},
    )
    store = Store.open(settings)
    rows = [
        (
            None,
            EligibilityQuery(
                payer_id="ALPHA",
                member_id=f"SYN{k:06d}",
                dob=date(1980, 1, 2),
                date_of_service=date(2026, 12, 1),
            ),
        )
        for k in range(n)
    ]
    runner = Runner(
        settings, store, flows={"alpha": ScriptedFlow()}, session_factory=BrowserlessSessions()
    )
    lookups, cpu, wall = _profiled(runner, rows, out)
    store.close()
    return {"lookups": lookups, "wall_s": round(wall, 2), "cpu_ms_per_lookup": cpu * 1000 / n}


def payerhub(n: int, out: str, data: Path) -> dict[str, Any]:
    settings = load_settings(data_dir=data)
    portal = fixture_portals.start(settings, {"payerhub": 0}, ["--session-idle-seconds", "7200"])
    try:
        url = portal.urls["payerhub"]
        gt = httpx.get(f"{url}/__admin/ground-truth", timeout=30).json()
        login = httpx.get(f"{url}/__admin/accounts", timeout=30).json()[0]
        settings = load_settings(
            data_dir=data,
            portals={
                "payerhub": {
                    "base_url": url,
                    "accounts": ["a0"],
                    "max_sessions": 1,
                    "flow": "payerhub",
                }
            },
            browser={"trace": "retries"},
            sessions={"reuse": False},
        )
        write_secret_files(
            settings, "payerhub", "a0", {k: login[k] for k in ("username", "password", "totp_seed")}
        )
        store = Store.open(settings)
        rows = [(None, EligibilityQuery.model_validate(q)) for q in _workload(gt, n)]
        if os.environ.get("REGION"):  # the results region as PayerHub's flow names it
            from flows.payerhub import PayerHubFlow

            PayerHubFlow.result_region = os.environ["REGION"]
        runner = Runner(settings, store)
        portal_cpu = _cpu([portal.proc.pid])
        lookups, cpu, wall = _profiled(runner, rows, out)
        # the browser is gone by now: its CPU is its children's, reaped into ours
        children = os.times()
        portal_cpu = _cpu([portal.proc.pid]) - portal_cpu
        store.close()
        return {
            "lookups": lookups,
            "wall_s": round(wall, 2),
            "cpu_ms_per_lookup": cpu * 1000 / n,
            "browser_cpu_ms_per_lookup": (children.children_user + children.children_system)
            * 1000
            / n,
            "portal_cpu_ms_per_lookup": portal_cpu * 1000 / n,
        }
    finally:
        portal.stop()


if __name__ == "__main__":
    which, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if os.environ.get("INLINE"):
        _inline()
    folder = Path(tempfile.mkdtemp(prefix="profile-engine-"))
    result = (scripted if which == "scripted" else payerhub)(count, out, folder / "var")
    sys.stdout.write(json.dumps(result) + "\n")
    if not os.environ.get("NOPROF"):
        pstats.Stats(out, stream=sys.stdout).sort_stats("cumulative").print_stats(
            int(os.environ.get("TOP", "40"))
        )
