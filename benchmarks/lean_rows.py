"""`payerbot bench`: the lean page loops (benchmarks/lean/) as reference rows, and payerbot
reading pages on the other bundled portals next to them.

On PayerHub the lean row sits beside the existing rows (payerbot, API reads, minimal loop);
on the legacy and Medicaid portals (``--portals``) each session count gets two rows:
payerbot reading that portal's pages and that portal's lean loop. The ratios compare
payerbot with the lean loop per portal and session count: lookups per minute, CPU seconds
per lookup and requests per lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

LEAN = "lean page loop"
PORTAL_PAYERS = {
    "payerhub": ("ACME", "BLUESTEM", "CARDINAL"),
    "legacyportal": ("DELTA", "ELM"),
    "medicaidportal": ("STATEMCD",),
}
LOGIN_FIELDS = ("username", "password", "totp_seed", "security_answers")

Worker = Callable[[str, list[str], dict[str, str]], dict[str, Any]]


def lean_program(portal: str) -> str:
    return LEAN if portal == "payerhub" else f"{LEAN}, {portal}"


def payerbot_program(portal: str) -> str:
    return "payerbot" if portal == "payerhub" else f"payerbot, {portal}"


def lean_module(portal: str) -> str:
    return f"benchmarks.lean.{portal}"


def logins_of(accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A portal's synthetic logins as the workers take them (whatever that portal asks for)."""
    return [{k: a[k] for k in LOGIN_FIELDS if a.get(k)} for a in accounts]


def portal_rows(
    portal: str,
    url: str,
    job: str,
    sessions: int,
    tmp: Path,
    env: dict[str, str],
    run_worker: Worker,
    say: Callable[[str], None],
    items: int,
) -> list[dict[str, Any]]:
    """payerbot (pages) and the lean loop on one more portal, ``sessions`` sessions each."""
    rows = []
    for name, module, extra in (
        (payerbot_program(portal), "benchmarks.engine", {"BENCH_PORTAL_NAME": portal}),
        (lean_program(portal), lean_module(portal), {}),
    ):
        httpx.post(f"{url}/__admin/reset", timeout=30)
        say(f"{name}, {sessions} session(s), {items} lookups")
        args = [job, str(sessions)]
        if module == "benchmarks.engine":
            args.append(str(tmp / f"engine-{portal}-{sessions}-{time.monotonic_ns()}"))
        row = run_worker(module, args, {**env, **extra})
        done = int(httpx.get(f"{url}/__admin/counters", timeout=30).json()["requests"])
        row["requests_per_lookup"] = round(done / max(row["lookups"], 1), 1)
        rows.append({"program": name, "portal": portal, "sessions": sessions, **row})
    return rows


def lean_ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """payerbot / lean loop per portal and session count (>= 0.9 is the page-reading target;
    PayerHub's API reads >= 3 the API target), and the CPU and request figures beside."""

    def row(program: str, k: int) -> dict[str, Any] | None:
        return next((r for r in rows if r["program"] == program and r["sessions"] == k), None)

    speed: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    requests: dict[str, dict[str, float]] = {}
    api: dict[str, float] = {}
    for portal in PORTAL_PAYERS:
        for bot in (r for r in rows if r["program"] == payerbot_program(portal)):
            k = bot["sessions"]
            lean = row(lean_program(portal), k)
            if not lean or not lean["lookups_per_min"] or not bot["lookups_per_min"]:
                continue
            speed.setdefault(portal, {})[str(k)] = round(
                bot["lookups_per_min"] / lean["lookups_per_min"], 2
            )
            if lean["cpu_s_per_lookup"]:
                cpu.setdefault(portal, {})[str(k)] = round(
                    bot["cpu_s_per_lookup"] / lean["cpu_s_per_lookup"], 2
                )
            if bot.get("requests_per_lookup") and lean.get("requests_per_lookup"):
                requests.setdefault(portal, {})[str(k)] = round(
                    bot["requests_per_lookup"] / lean["requests_per_lookup"], 2
                )
    for r in rows:
        if r["program"] == "payerbot, API reads":
            lean = row(LEAN, r["sessions"])
            if lean and lean["lookups_per_min"] and r["lookups_per_min"]:
                api[str(r["sessions"])] = round(r["lookups_per_min"] / lean["lookups_per_min"], 2)
    if not speed and not api:
        return {}
    return {
        "payerbot_vs_lean": speed,
        "payerbot_cpu_vs_lean": cpu,
        "payerbot_requests_vs_lean": requests,
        "payerbot_api_reads_vs_lean": api,
    }
