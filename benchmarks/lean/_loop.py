"""What the three lean loops share: the browser, the sessions pulling from one queue, the
identity check and the outcome. Nothing portal-specific lives here."""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Page, async_playwright

from benchmarks.common import Job, Outcome, clock

LAUNCH_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 30_000


@dataclass
class Answer:
    """What the portal showed for one question."""

    found: bool
    member_id: str = ""
    dob: str = ""  # ISO, as in the question
    fields: dict[str, Any] = field(default_factory=dict)
    identity_withheld: bool = False
    """The portal hides the identity (Medicaid's confidential recipients, found only by an
    exact ID + date of birth search): nothing to compare, the search itself was exact."""


def norm_id(value: str) -> str:
    return re.sub(r"[\s\-]", "", value or "").upper()


def iso(us: str) -> str:
    """MM/DD/YYYY -> YYYY-MM-DD ('' when it is not such a date)."""
    m = re.fullmatch(r"\s*(\d{2})/(\d{2})/(\d{4})\s*", us or "")
    return f"{m[3]}-{m[1]}-{m[2]}" if m else ""


def us(iso_date: str) -> str:
    y, m, d = iso_date.split("-")
    return f"{m}/{d}/{y}"


def same_person(question: dict[str, Any], answer: Answer) -> bool:
    if answer.identity_withheld:
        return True
    return norm_id(answer.member_id) == norm_id(question["member_id"]) and answer.dob == str(
        question["dob"]
    )


class Session:
    """One logged-in page on one portal; a portal's loop overrides these."""

    reads_claims = False

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    async def open(self, login: dict[str, Any]) -> None:
        """Log in with one account and land on the search view."""
        raise NotImplementedError

    async def eligibility(self, question: dict[str, Any]) -> Answer:
        raise NotImplementedError

    async def claim(self, question: dict[str, Any]) -> Answer:
        raise NotImplementedError


async def run(job: Job, sessions: int, kind: type[Session]) -> Outcome:
    """Every session logs in once, then takes questions from the shared queue until none is
    left. Claim questions (when the portal's loop reads claims) come after eligibility."""
    outcome = Outcome()
    todo: list[tuple[str, dict[str, Any]]] = [("eligibility", q) for q in job.queries]
    if kind.reads_claims:
        todo += [("claim", q) for q in job.claim_queries]
    todo.reverse()
    started = clock()  # from the browser's start, as payerbot's rows count theirs
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=job.executable, args=LAUNCH_ARGS)

        async def session(n: int) -> None:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            me = kind(await context.new_page(), job.url)
            await me.open(job.logins[n])
            outcome.logins += 1
            while todo:
                what, question = todo.pop()
                ask = me.eligibility if what == "eligibility" else me.claim
                t = clock()
                try:
                    answer = await asyncio.wait_for(ask(question), TIMEOUT_MS / 1000)
                except Exception as exc:  # counted; the kind only, never a value
                    print(f"lookup failed: {type(exc).__name__}", file=sys.stderr)
                    outcome.errors += 1
                else:
                    if not answer.found:
                        outcome.not_found += 1
                        outcome.errors += 1
                    elif not same_person(question, answer):
                        outcome.mismatches += 1
                        outcome.errors += 1
                outcome.latencies_ms.append((clock() - t) * 1000)
                outcome.lookups += 1
            await context.close()

        await asyncio.gather(*(session(n) for n in range(sessions)))
        await browser.close()
    outcome.seconds = clock() - started  # to the browser's close, as payerbot's rows
    return outcome


def main(kind: type[Session]) -> None:
    """``python -m benchmarks.lean.<portal> JOB.json SESSIONS``: one JSON outcome line."""
    job = Job.read(sys.argv[1])
    sessions = min(int(sys.argv[2]), len(job.logins))
    asyncio.run(run(job, sessions, kind)).emit()
