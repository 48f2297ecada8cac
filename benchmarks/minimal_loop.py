"""The practical limit: one browser, one logged-in page per session, a bare loop.

No store, no evidence, no retries, no classification: the same page-driving code as
payerbot's PayerHub flow, called in a tight loop. What payerbot adds on top of this is
the engine's cost.

    python -m benchmarks.minimal_loop JOB.json SESSIONS
"""

from __future__ import annotations

import asyncio
import sys

from playwright.async_api import async_playwright

from benchmarks.common import Job, Outcome, clock
from bots.engine import browser as browser_mod
from bots.settings import BrowserSettings
from flows.payerhub import PayerHubFlow


async def main(job: Job, sessions: int) -> Outcome:
    outcome = Outcome()
    queue: asyncio.Queue = asyncio.Queue()
    for q in job.questions():
        queue.put_nowait(q)
    flow = PayerHubFlow(job.url)
    async with async_playwright() as pw:
        settings = BrowserSettings(executable=job.executable)
        browser = await browser_mod.launch(pw, settings)
        started = clock()

        async def worker(n: int) -> None:
            context = await browser.new_context()
            page = await context.new_page()
            await flow.login(page, job.secrets(n))
            outcome.logins += 1
            while not queue.empty():
                query = queue.get_nowait()
                t = clock()
                try:
                    await flow.eligibility(page, query)
                except Exception:
                    outcome.errors += 1
                outcome.latencies_ms.append((clock() - t) * 1000)
                outcome.lookups += 1

        await asyncio.gather(*(worker(n) for n in range(sessions)))
        outcome.seconds = clock() - started
        await browser.close()
    return outcome


if __name__ == "__main__":
    asyncio.run(main(Job.read(sys.argv[1]), int(sys.argv[2]))).emit()
