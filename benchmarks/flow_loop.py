"""A flow's own page code in a bare loop: log in once, then eligibility lookups back to back.

No engine, store, evidence or retries: what one flow costs per lookup on its mock portal,
with the Playwright calls (round trips to the driver) and portal page requests counted.

    python -m benchmarks.flow_loop legacyportal [LOOKUPS] [LATENCY_MS]

Prints one JSON line: lookups, seconds, lookups_per_minute, round_trips_per_lookup,
requests_per_lookup, errors by kind (a few refusals are in the mix on purpose).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from playwright._impl._connection import Channel
from playwright.async_api import async_playwright

from benchmarks.common import clock
from bots.engine import browser as browser_mod
from bots.engine.credentials import login_secrets
from bots.flowkit.flow import PortalFlow
from bots.models import EligibilityQuery
from bots.ops import mock_portals
from bots.settings import load_settings

DOS = "2026-12-01"
ROUND_TRIPS = Counter[str]()


def _count_round_trips() -> None:
    """Count every call the client sends the Playwright driver and waits for."""
    for name in ("send", "send_return_as_dict"):
        original = getattr(Channel, name)

        async def counted(
            self: Channel, method: str, *args: Any, _o: Any = original, **kw: Any
        ) -> Any:
            ROUND_TRIPS[method] += 1
            return await _o(self, method, *args, **kw)

        setattr(Channel, name, counted)


def _flow_class(portal: str) -> type[PortalFlow]:
    if portal == "legacyportal":
        from flows.legacyportal import LegacyPortalFlow

        return LegacyPortalFlow
    if portal == "medicaidportal":
        from flows.medicaidportal import MedicaidPortalFlow

        return MedicaidPortalFlow
    if portal == "payerhub":
        from flows.payerhub import PayerHubFlow

        return PayerHubFlow
    raise SystemExit(f"unknown portal {portal!r}")


def questions(
    truth: dict[str, Any], payers: frozenset[str] | None, count: int
) -> list[EligibilityQuery]:
    """Members of the portal's payers, every eighth question a member ID the portal lacks."""
    people = [m for m in truth["members"] if payers is None or m["payer_id"] in payers]
    out = []
    for n in range(count):
        m = people[n % len(people)]
        member_id = m["member_id"]
        if n % 8 == 7:
            member_id = "9" * len(member_id) if member_id.isdigit() else "XZ" + "9" * 9
        out.append(
            EligibilityQuery(
                payer_id=m["payer_id"], member_id=member_id, dob=m["dob"], date_of_service=DOS
            )
        )
    return out


async def run(portal: str, count: int, latency_ms: int) -> dict[str, Any]:
    flow_class = _flow_class(portal)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "var")
        fixture = settings.portals[portal].fixture or portal
        started = mock_portals.start(settings, {fixture: 0})
        try:
            url = started.urls[fixture]
            settings.portals[portal].base_url = url
            mock_portals.provision_credentials(settings, portal)
            admin = httpx.Client(base_url=f"{url}/__admin/", timeout=30)
            admin.post("knobs", json={"latency_ms": latency_ms, "jitter_ms": 0})
            truth = admin.get("ground-truth").json()
            queries = questions(truth, flow_class.payers, count)
            flow = flow_class(url)
            errors: Counter[str] = Counter()
            async with async_playwright() as pw:
                browser = await browser_mod.launch(pw, settings.browser)
                page = await (await browser.new_context()).new_page()
                await flow.login(page, login_secrets(settings, portal, "main"))
                requests_before = admin.get("counters").json()["requests"]
                ROUND_TRIPS.clear()
                started_at = clock()
                for query in queries:
                    try:
                        await flow.eligibility(page, query)
                    except Exception as exc:  # counted by kind, the loop goes on
                        errors[type(exc).__name__] += 1
                seconds = clock() - started_at
                trips = sum(ROUND_TRIPS.values())
                requests = admin.get("counters").json()["requests"] - requests_before
                await browser.close()
        finally:
            started.stop()
    return {
        "portal": portal,
        "lookups": count,
        "latency_ms": latency_ms,
        "seconds": round(seconds, 2),
        "lookups_per_minute": round(count / seconds * 60, 1),
        "round_trips_per_lookup": round(trips / count, 2),
        "requests_per_lookup": round(requests / count, 2),
        "errors": dict(errors),
        "calls": dict(ROUND_TRIPS.most_common(12)),
    }


if __name__ == "__main__":
    _count_round_trips()
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    lookups = int(args[1]) if len(args) > 1 else 40
    latency = int(args[2]) if len(args) > 2 else 0
    sys.stdout.write(json.dumps(asyncio.run(run(args[0], lookups, latency))) + "\n")
