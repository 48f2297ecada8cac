"""Where the engine's CPU goes per lookup (docs/profile.md): cProfile over a run.

    python -m benchmarks.profile_engine scripted N OUT.prof   # the scripted portal, no browser
    python -m benchmarks.profile_engine payerhub N OUT.prof   # PayerHub mock, one session

``SESSIONS=2``: PayerHub with two sessions. ``API=1`` reads PayerHub's JSON API
(``api_reads``) instead of its pages. ``TRACE=1`` (with ``NOPROF=1``) times the phases of
the run and of every item with the wall clock instead (where a lookup's time goes when it
waits rather than computes) and prints them as a second JSON line.
Prints one JSON line: lookups, wall seconds, this process's CPU seconds (all its threads)
per lookup and, for PayerHub, the browser's and the mock portal's CPU per lookup; then the
profile's top cumulative entries. ``INLINE=1`` runs the store's calls in the event loop's
thread so the profile sees them (cProfile follows one thread; the figures are then the
profiled ones, not the run's).
"""

from __future__ import annotations

import asyncio
import cProfile
import inspect
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
from bots.flowkit.scripted import ScriptedFlow, scripted_settings
from bots.models import EligibilityQuery, LookupKind
from bots.ops import mock_portals as fixture_portals
from bots.services.finishers import followups_only
from bots.settings import load_settings
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


PHASES: dict[str, list[float]] = {}
"""Wall seconds of each traced phase, one entry per call (``TRACE=1``)."""


def _timed(owner: Any, name: str, label: str | None = None) -> None:
    """Time every call of ``owner.name`` (a coroutine function or a plain one) into PHASES."""
    func = getattr(owner, name)
    key = label or f"{getattr(owner, '__name__', owner)}.{name}"
    spent = PHASES.setdefault(key, [])
    if asyncio.iscoroutinefunction(func):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - t)

        setattr(owner, name, timed_async)
    else:

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - t)

        static = isinstance(inspect.getattr_static(owner, name), staticmethod)
        setattr(owner, name, staticmethod(timed) if static else timed)


def _trace_phases() -> None:
    """Wrap the phases of a run and of one item (``TRACE=1``); nested phases overlap."""
    from playwright.async_api import APIResponse

    import bots.flowkit.readonly as readonly
    from bots.engine import attempts, drift, runner, sessions, worker
    from bots.engine.evidence import EvidenceFolder
    from bots.engine.gates import PortalGate
    from bots.services import finishers
    from bots.store import Store
    from flows.payerhub import PayerHubFlow

    for owner, name in [
        (runner.Runner, "run"),
        (runner, "gates_for_run"),
        (Store, "start_run"),
        (Store, "finish_run"),
        (Store, "record_import_errors"),
        (finishers.FollowupsAndWorkbooks, "conclude"),
        (finishers.FollowupsAndWorkbooks, "publish"),
        (PayerHubFlow, "landmarks"),
        (sessions.PortalSession, "keep"),
        (runner.Runner, "_execute"),
        (runner.Runner, "_lease_accounts"),
        (runner.Runner, "_final_counts"),
        (sessions.ChromiumSessions, "start"),
        (sessions.ChromiumSessions, "close"),
        (drift, "check_before_batch"),
        (sessions.PortalSession, "login"),
        (sessions.PortalSession, "close"),
        (worker.SessionWorker, "_work"),
        (PortalGate, "wait_turn"),
        (runner.PolledRunItems, "stopping"),
        (runner.PolledRunItems, "claim"),
        (attempts.ItemWorker, "work"),
        (attempts.ItemWorker, "_ask"),
        (attempts.ItemWorker, "_succeed"),
        (attempts.ItemWorker, "_record"),
        (attempts.ItemWorker, "_answer"),
        (sessions.PortalSession, "begin_attempt"),
        (sessions.PortalSession, "ready"),
        (sessions.PortalSession, "end_trace"),
        (EvidenceFolder, "save_attachment"),
        (APIResponse, "json"),
        (APIResponse, "dispose"),
    ]:
        _timed(owner, name)
    fetch = readonly.portal_request
    spent = PHASES.setdefault("portal_request", [])

    async def portal_request(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await fetch(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t)

    readonly.portal_request = portal_request  # type: ignore[assignment]
    import flows._payerhub_api as api

    api.portal_request = portal_request  # type: ignore[assignment]
    _timed(api.HubApi, "_call")
    _timed(api.HubApi, "eligibility")


def _phase_table() -> dict[str, Any]:
    return {
        name: {
            "calls": len(v),
            "total_s": round(sum(v), 3),
            "mean_ms": round(sum(v) * 1000 / len(v), 2),
            "p50_ms": round(sorted(v)[len(v) // 2] * 1000, 2),
        }
        for name, v in sorted(PHASES.items(), key=lambda kv: -sum(kv[1]))
        if v
    }


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
    settings = scripted_settings(data)
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
        logins = httpx.get(f"{url}/__admin/accounts", timeout=30).json()
        accounts = [f"a{k}" for k in range(int(os.environ.get("SESSIONS", "1")))]
        settings = load_settings(
            data_dir=data,
            portals={
                "payerhub": {
                    "base_url": url,
                    "accounts": accounts,
                    "max_sessions": len(accounts),
                    "flow": "payerhub",
                    "api_reads": bool(os.environ.get("API")),
                }
            },
            browser={"trace": "retries"},
            sessions={"reuse": False},
        )
        for account, login in zip(accounts, logins, strict=False):
            secrets = {k: login[k] for k in ("username", "password", "totp_seed")}
            write_secret_files(settings, "payerhub", account, secrets)
        store = Store.open(settings)
        rows = [(None, EligibilityQuery.model_validate(q)) for q in _workload(gt, n)]
        if os.environ.get("REGION"):  # the results region as PayerHub's flow names it
            from flows.payerhub import PayerHubFlow

            PayerHubFlow.result_region = os.environ["REGION"]
        runner = Runner(settings, store, finisher=followups_only(settings, store))  # as bench
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
    if os.environ.get("TRACE"):
        _trace_phases()
    folder = Path(tempfile.mkdtemp(prefix="profile-engine-"))
    result = (scripted if which == "scripted" else payerhub)(count, out, folder / "var")
    sys.stdout.write(json.dumps(result) + "\n")
    if os.environ.get("TRACE"):
        sys.stdout.write(json.dumps(_phase_table(), indent=1) + "\n")
    if not os.environ.get("NOPROF"):
        pstats.Stats(out, stream=sys.stdout).sort_stats("cumulative").print_stats(
            int(os.environ.get("TOP", "40"))
        )
