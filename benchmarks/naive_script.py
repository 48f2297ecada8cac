"""The script a practice would write first: for every lookup, start a browser, log in
(with the MFA code), look up, close. Correct, simple, and slow.

    python -m benchmarks.naive_script JOB.json
"""

from __future__ import annotations

import asyncio
import sys

from playwright.async_api import async_playwright

from benchmarks.common import Job, Outcome, clock
from bots.engine import browser as browser_mod
from bots.settings import BrowserSettings
from flows.payerhub import PayerHubFlow


async def main(job: Job) -> Outcome:
    outcome = Outcome()
    flow = PayerHubFlow(job.url)
    started = clock()
    async with async_playwright() as pw:
        for query in job.questions():
            t = clock()
            browser = await browser_mod.launch(pw, BrowserSettings(executable=job.executable))
            try:
                page = await browser.new_page()
                await flow.login(page, job.secrets(0))
                outcome.logins += 1
                await flow.eligibility(page, query)
            except Exception:
                outcome.errors += 1
            finally:
                await browser.close()
            outcome.latencies_ms.append((clock() - t) * 1000)
            outcome.lookups += 1
    outcome.seconds = clock() - started
    return outcome


if __name__ == "__main__":
    asyncio.run(main(Job.read(sys.argv[1]))).emit()
