"""What an answer's evidence costs: the full-page screenshot payerbot took before issue 21
against the result region it takes now (and the viewport, its fallback), through the page's
CDP session and through Playwright's own screenshot, on a result page, side by side.

    python -m benchmarks.evidence_cost [CAPTURES] [PORTAL]

Starts the portal's mock (PayerHub unless PORTAL names another bundled portal; no latency),
logs in, answers one lookup, then takes CAPTURES screenshots of each kind. "critical path"
is what a lookup waits for (the pixels); "with file" adds the file written (in a thread,
overlapping the rest of the attempt); "cpu" is the CPU of this process and its children
(Playwright's driver, the browser) per capture.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright

from benchmarks.bench import _workload
from benchmarks.lean_rows import PORTAL_PAYERS
from benchmarks.procs import _stat, descendants
from bots.engine import browser as browser_mod
from bots.engine.evidence import EvidenceFolder
from bots.errors import BusinessError
from bots.flowkit.flow import LoginSecrets, get_flow
from bots.models import EligibilityQuery
from bots.ops import mock_portals as fixture_portals
from bots.settings import load_settings
from bots.store import WorkItem


def _tree_cpu() -> float:
    """CPU seconds so far of this process and its children (driver, browser, the portal)."""
    me = os.getpid()
    return sum(st[1] for pid in (me, *descendants(me)) if (st := _stat(pid)) is not None)


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "mean_ms": round(statistics.fmean(samples), 1),
    }


async def measure(captures: int, name: str = "payerhub") -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="evidence-cost-"))
    settings = load_settings(data_dir=data)
    portal = fixture_portals.start(settings, {name: 0}, ["--session-idle-seconds", "7200"])
    try:
        url = portal.urls[name]
        gt = httpx.get(f"{url}/__admin/ground-truth", timeout=30).json()
        account = httpx.get(f"{url}/__admin/accounts", timeout=30).json()[0]
        flow = get_flow(name)(url)
        region = flow.result_region
        evidence = EvidenceFolder(settings)
        playwright_only = EvidenceFolder(settings, cdp=False)
        fmt = settings.browser.evidence_format
        quality = settings.browser.evidence_quality if fmt == "jpeg" else None
        async with async_playwright() as pw:
            browser = await browser_mod.launch(pw, settings.browser)
            page = await (await browser.new_context()).new_page()
            secrets = LoginSecrets(
                account["username"],
                account["password"],
                account.get("totp_seed"),
                account.get("security_answers") or {},
            )
            await flow.login(page, secrets)
            for question in _workload(gt, 20, payers=PORTAL_PAYERS[name]):
                try:  # the first the portal answers (evidence of an answer)
                    await flow.eligibility(page, EligibilityQuery.model_validate(question))
                    break
                except BusinessError:
                    continue
            page_size = await page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            rows: dict[str, Any] = {}

            async def old_full_page(n: int) -> tuple[float, float, int]:
                path = data / "old" / f"{n}.jpg"
                path.parent.mkdir(exist_ok=True)
                t = time.perf_counter()
                await page.screenshot(
                    path=str(path),
                    full_page=True,
                    timeout=10_000,
                    type=fmt,
                    quality=quality,
                    animations="disabled",
                    caret="initial",
                )
                path.chmod(0o600)
                done = time.perf_counter() - t
                return done, done, path.stat().st_size

            def new(region: str | None, whole: bool, taker: EvidenceFolder = evidence) -> Any:
                async def one(n: int) -> tuple[float, float, int]:
                    item = WorkItem(n, f"r{n}", "eligibility", "P", "payerhub", {}, 1, None)
                    t = time.perf_counter()
                    shot = await taker.capture(page, "bench", item, region=region, whole_page=whole)
                    pixels = time.perf_counter() - t
                    saved = await shot.saved() if shot is not None else None
                    assert saved is not None, "the screenshot failed"
                    return pixels, time.perf_counter() - t, saved.stat().st_size

                return one

            kinds = {
                "before: full page, written inline": old_full_page,
                "Playwright: the result region": new(region, False, playwright_only),
                "Playwright: the viewport": new(None, False, playwright_only),
                "now (CDP), an answer: the result region": new(region, False),
                "now (CDP), no region declared: the viewport": new(None, False),
                "Playwright: a failure, the full page": new(None, True, playwright_only),
                "now (CDP), a failure: the full page": new(None, True),
            }
            for name, take in kinds.items():
                await take(0)  # warm
                critical, total, sizes = [], [], []
                cpu = _tree_cpu()
                for n in range(1, captures + 1):
                    c, w, size = await take(n)
                    critical.append(c * 1000)
                    total.append(w * 1000)
                    sizes.append(size)
                rows[name] = {
                    "cpu_ms": round((_tree_cpu() - cpu) * 1000 / captures, 1),
                    "critical_path": _ms(critical),
                    "with_file": _ms(total),
                    "bytes": int(statistics.median(sizes)),
                }
            await browser.close()
        return {
            "portal": name,
            "captures": captures,
            "format": fmt,
            "region": region,
            "page_size": page_size,
            "rows": rows,
        }
    finally:
        portal.stop()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    which = sys.argv[2] if len(sys.argv) > 2 else "payerhub"
    sys.stdout.write(json.dumps(asyncio.run(measure(count, which)), indent=2) + "\n")
