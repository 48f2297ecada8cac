"""What the read-only guard costs: a short PayerHub page-reading run, side by side with and
without the guard's route (and with or without the resource-type blocking it shares).

    .venv/bin/python -m benchmarks.read_only_guard [LOOKUPS] [ROUNDS]

Starts the bundled PayerHub mock portal, runs the real Runner with one session per
configuration, alternating configurations round by round; prints wall and CPU seconds
(this process and its reaped children: the Playwright driver and Chromium) per run and the
medians. "No guard" replays the code from before the guard (a route for blocking only).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import httpx

from bots.flowkit import readonly
from bots.ops import mock_portals
from bots.settings import load_settings

CONFIGS = {  # (guard, block resource types): label
    (True, True): "guard + blocking, one route (default)",
    (False, True): "blocking only (before the guard)",
    (True, False): "guard only",
    (False, False): "no route",
}
_GUARDED = readonly.ReadOnlyGuard.install


async def _unguarded(
    self: readonly.ReadOnlyGuard, context: Any, *, block_resource_types: Iterable[str] = ()
) -> None:
    blocked = set(block_resource_types)
    if blocked:

        async def _block(route: Any) -> None:
            if route.request.resource_type in blocked:
                await route.abort()
            else:
                await route.fallback()

        await context.route("**/*", _block)


def _cpu() -> float:
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run(url: str, members: list[dict[str, Any]], guard: bool, block: bool) -> tuple[float, float]:
    from bots.engine.runner import Runner
    from bots.models import EligibilityQuery, LookupKind
    from bots.store import Store

    os.environ.update(
        {
            "PAYERBOT_DATA_DIR": tempfile.mkdtemp(prefix="guard-bench-"),
            "PAYERBOT_PORTALS__PAYERHUB__BASE_URL": url,
            "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": "1",
            "PAYERBOT_BROWSER__BLOCK_RESOURCE_TYPES": '["font", "media"]' if block else "[]",
        }
    )
    httpx.post(f"{url}/__admin/reset", timeout=30)
    settings = load_settings()
    mock_portals.provision_credentials(settings, "payerhub")
    readonly.ReadOnlyGuard.install = _GUARDED if guard else _unguarded  # type: ignore[method-assign]
    rows = [
        (
            None,
            EligibilityQuery(
                payer_id=m["payer_id"],
                member_id=m["member_id"],
                dob=m["dob"],
                date_of_service="2026-12-01",
            ),
        )
        for m in members
    ]
    store = Store.open(settings)
    try:
        cpu, start = _cpu(), time.perf_counter()
        summary = asyncio.run(Runner(settings, store).run(LookupKind.ELIGIBILITY, rows))
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
    finally:
        store.close()
    assert summary.counts["succeeded"] == len(members), summary.counts
    return wall, cpu


def main(lookups: int = 12, rounds: int = 3) -> None:
    started = mock_portals.start(load_settings(), {"payerhub": 0})
    url = started.urls["payerhub"]
    times: dict[tuple[bool, bool], list[tuple[float, float]]] = {c: [] for c in CONFIGS}
    try:
        truth = httpx.get(f"{url}/__admin/ground-truth", timeout=30).json()
        members = [m for m in truth["members"] if m["payer_id"] == "CARDINAL"][:lookups]
        for _ in range(rounds):
            for config in CONFIGS:
                times[config].append(_run(url, members, *config))
                wall, cpu = times[config][-1]
                print(f"{CONFIGS[config]:40s} {wall:6.2f} s  {cpu:6.2f} CPU-s", flush=True)
    finally:
        started.stop()
    print(f"\nmedians of {rounds} rounds, {len(members)} lookups each:")
    for config, label in CONFIGS.items():
        wall = statistics.median(t[0] for t in times[config])
        cpu = statistics.median(t[1] for t in times[config])
        print(f"{label:40s} {wall:6.2f} s  {cpu:6.2f} CPU-s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
