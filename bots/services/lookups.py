"""One lookup end to end, for every caller (CLI, console): run it, then what a person reads.

A single lookup is a run of one question (trigger ``lookup``, never reusing an earlier
answer), worked by the same engine as a batch: it borrows the overnight batch's session
when one holds the account. What comes back is the item's outcome, the patient's cost
estimate for an answered eligibility lookup (naming the service type it used), and the
follow-ups: raised into the queue only when the specialist asks (``add_to_queue``),
otherwise the ones the answer *would* raise, shown as suggestions and stored nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from playwright.async_api import Browser, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from bots.codes import NO_DESCRIPTION, service_type_short
from bots.engine import browser as browser_mod
from bots.engine.runner import Runner
from bots.engine.runs import NoticeCallback
from bots.engine.sessions import OnLogin, Session, SessionFactory
from bots.flowkit.flow import LoginSecrets, PortalFlow
from bots.followups.estimates import Estimate, estimate_patient_cost
from bots.followups.queue import followups_of
from bots.followups.rules import Finding, RuleBook
from bots.intake.lookup_form import Query
from bots.models import ClaimStatusQuery, EligibilityQuery, EligibilityResult, LookupKind
from bots.outputs.shown import summary
from bots.services.finishers import followups_only
from bots.settings import Settings
from bots.store import FollowUp, ItemState, Outcome, Store, utcnow
from bots.store.states import OPEN_STATES


@dataclass(frozen=True)
class ServiceTypeEstimate(Estimate):
    """An estimate that names the service type it was worked out for."""

    service_label: str = ""
    """ "Office visit (98)": the service type's words and its code."""

    @property
    def summary(self) -> str:
        return f"Estimate for {self.service_label}: {super().summary}"


@dataclass
class LookupAnswer:
    """A single lookup's outcome, its estimate and the follow-ups it raised."""

    run_id: str
    item: Outcome
    estimate: Estimate | None
    followups: list[FollowUp]
    seconds: float
    notices: list[str] = field(default_factory=list)
    suggested: list[Finding] = field(default_factory=list)
    """The follow-ups this answer would raise, not added to the queue (nobody asked)."""

    @property
    def succeeded(self) -> bool:
        return self.item.state == ItemState.SUCCEEDED

    def as_json(self) -> dict[str, Any]:
        """The answer as `payerbot lookup --json` prints it: ``result`` is the stored answer
        (codes, as the portal said them); ``summary`` the words a person reads, as the
        workbooks and the console show them (bots/outputs/shown.py)."""
        item = self.item
        estimate = self.estimate
        return {
            "run_id": self.run_id,
            "item_id": item.id,
            "state": item.state.value,
            "error": item.last_error_code.value if item.last_error_code else None,
            "message": item.last_error_message,
            "reason_code": item.reason_code,
            "evidence": item.evidence_path,
            "trace": item.trace_path,
            "result": item.payload,
            "summary": summary(item.kind, item.query, item.payload),
            "estimate": (
                {
                    "amount": estimate.amount,
                    "summary": estimate.summary,
                    "steps": list(estimate.steps),
                }
                if estimate is not None
                else None
            ),
            "followups": [
                {"id": f.id, "rule": f.rule, "reason": f.reason, "action": f.action}
                for f in self.followups
            ],
            "suggested_followups": [
                {"rule": f.rule, "reason": f.reason, "action": f.action, "priority": f.priority}
                for f in self.suggested
            ],
            # a failed lookup does not erase what the portal answered before: both are shown
            "last_good": (
                {
                    "result": good.payload,
                    "summary": summary(item.kind, item.query, good.payload),
                    "checked_at": good.checked_at.isoformat(),
                    "evidence": good.evidence_path,
                    "run_id": good.run_id,
                }
                if (good := item.last_good) is not None
                else None
            ),
            "newer_failure": (
                {
                    "at": failure.at.isoformat(),
                    "error": failure.error_code.value if failure.error_code else None,
                    "reason": failure.words,
                }
                if (failure := item.newer_failure) is not None
                else None
            ),
        }


def estimate_for(item: Outcome, settings: Settings | None = None) -> Estimate | None:
    """The patient's estimated share for an answered eligibility item (docs/estimates.md);
    with ``settings``, it names the service type it used ("Estimate for Office visit (98)")."""
    if item.kind != LookupKind.ELIGIBILITY or item.state != ItemState.SUCCEEDED or not item.payload:
        return None
    charge = item.query.get("expected_charge")
    service_type = str(item.query.get("service_type") or "30")
    estimate = estimate_patient_cost(
        EligibilityResult.model_validate(item.payload),
        service_type,
        Decimal(str(charge)) if charge is not None else None,
    )
    if settings is None:
        return estimate
    # the code table's words (what every other surface says of the code), else the
    # configured visit type's name
    name = service_type_short(service_type)
    if name == NO_DESCRIPTION:
        name = settings.worklists.service_type_name(service_type) or ""
    label = f"{name} ({service_type})" if name else f"service type {service_type}"
    return ServiceTypeEstimate(**vars(estimate), service_label=label)


class SuggestFollowups:
    """A desk lookup's finisher when the specialist did not ask to add follow-ups to the
    queue: works out what the answer would raise, writes nothing."""

    def __init__(self, settings: Settings, store: Store, as_of: date | None = None) -> None:
        self.settings = settings
        self.store = store
        self.as_of = as_of
        self.suggested: list[Finding] = []

    def conclude(self, run_id: str) -> dict[str, Any]:
        book = RuleBook(self.settings.followups)
        as_of = self.as_of or utcnow().date()
        self.suggested = [
            finding
            for item in self.store.run_outcomes(run_id)
            if item.answered_in_run == run_id
            and item.state in (ItemState.SUCCEEDED, ItemState.BUSINESS_FAILED)
            for finding in book.evaluate(item, as_of)
        ]
        return {"followups": {"suggested": len(self.suggested), "added": 0}}

    def publish(self, run_id: str) -> None:
        return None


async def lookup(
    settings: Settings,
    store: Store,
    query: EligibilityQuery | ClaimStatusQuery,
    *,
    browser: Browser | None = None,
    notice: NoticeCallback | None = None,
    add_to_queue: bool = False,
    watch: LookupWatch | None = None,
) -> LookupAnswer:
    """Ask one question now. ``browser``: a long-lived browser of the caller (the console)
    that the lookup uses and leaves open; None: one is started for this lookup.
    ``add_to_queue``: raise the answer's follow-ups into the queue; otherwise they are only
    suggested on the answer. ``watch``: filled with the runner and its sessions, so the
    console can tell the person waiting what the lookup is doing."""
    notices: list[str] = []

    def tell(message: str) -> None:
        notices.append(message)
        if notice is not None:
            notice(message)

    suggest = SuggestFollowups(settings, store)
    runner = Runner(
        settings,
        store,
        notice=tell,
        browser=browser,
        finisher=followups_only(settings, store) if add_to_queue else suggest,
    )
    if watch is not None:
        watch.sessions = WatchedSessions(runner.sessions)
        runner.sessions = watch.sessions
        watch.runner = runner
    summary = await runner.run(
        LookupKind(query.kind), [(None, query)], trigger="lookup", force=True
    )
    # the store off the event loop: a console serving other requests may be running it
    item = (await asyncio.to_thread(store.run_outcomes, summary.run_id))[0]
    raised: list[FollowUp] = []
    if add_to_queue:
        raised = await asyncio.to_thread(followups_of, store, settings, item)
    return LookupAnswer(
        run_id=summary.run_id,
        item=item,
        estimate=estimate_for(item, settings),
        followups=raised,
        seconds=summary.duration_seconds,
        notices=notices,
        suggested=suggest.suggested,
    )


class KeptBrowser:
    """The browser a long-lived process (the console, the scheduler) keeps for its desk and
    command-line lookups: launched by the first, reused by the next (no launch to wait
    for), closed with the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._launching = asyncio.Lock()

    async def get(self) -> Browser:
        async with self._launching:
            if self._browser is None or not self._browser.is_connected():
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await browser_mod.launch(self._playwright, self.settings.browser)
            return self._browser

    async def close(self) -> None:
        async with self._launching:
            browser, playwright = self._browser, self._playwright
            self._browser = self._playwright = None
            # Ctrl-C reaches the whole process group: the browser or Playwright's driver may
            # have ended already, and there is nothing left to close then
            with contextlib.suppress(PlaywrightError):
                if browser is not None:
                    await browser.close()
            with contextlib.suppress(PlaywrightError):
                if playwright is not None:
                    await playwright.stop()


class CommandLineLookups:
    """`payerbot lookup` asked over the data folder's socket (bots/services/local_service.py)
    and answered by a long-lived process: the desk's lookup with that process's kept browser
    (so its sessions, and the batch's when a batch holds the account), audited as the
    command line's. ``service`` names the process in the audit ("console", "scheduler")."""

    def __init__(
        self, settings: Settings, store: Store, browser: KeptBrowser, service: str
    ) -> None:
        self.settings = settings
        self.store = store
        self.browser = browser
        self.service = service

    async def __call__(
        self, query: Query, add_to_queue: bool, notice: Callable[[str], None], who: str
    ) -> dict[str, Any]:
        answer = await lookup(
            self.settings,
            self.store,
            query,
            browser=await self.browser.get(),
            notice=notice,
            add_to_queue=add_to_queue,
        )
        detail = f"{query.kind} run {answer.run_id}, {who}, answered by the {self.service}"
        await asyncio.to_thread(self.store.audit, "cli", "lookup", f"item:{answer.item.id}", detail)
        return answer.as_json()


class WatchedSessions:
    """The runner's sessions, watched: whether the lookup has signed in yet (for the words
    the person waiting reads). Everything else is the wrapped factory's."""

    def __init__(self, inner: SessionFactory) -> None:
        self.inner = inner
        self.opened: list[Session] = []

    @property
    def version(self) -> str | None:
        return self.inner.version

    async def start(self) -> None:
        await self.inner.start()

    def open(
        self,
        flow: PortalFlow,
        portal_id: str,
        account: str,
        secrets: LoginSecrets,
        on_login: OnLogin,
    ) -> Session:
        session = self.inner.open(flow, portal_id, account, secrets, on_login)
        self.opened.append(session)
        return session

    def fresh_page(self, flow: PortalFlow | None = None) -> AbstractAsyncContextManager[Page]:
        return self.inner.fresh_page(flow)

    async def close(self) -> None:
        await self.inner.close()

    @property
    def signed_in(self) -> bool:
        return any(s.logins or s.resumed for s in self.opened)


@dataclass
class LookupWatch:
    """What a desk lookup is doing now, in words, for the person waiting (the console's
    progress line). Filled by ``lookup(watch=...)``; read with ``state`` (store reads: call
    it off the event loop)."""

    runner: Runner | None = None
    sessions: WatchedSessions | None = None
    delegated_since: float | None = None

    def state(self, settings: Settings, store: Store) -> tuple[str, str, int | None]:
        """(phase, the sentence a person reads, seconds still expected or None)."""
        run_id = self.runner.run_id if self.runner is not None else None
        if run_id is None:
            return "starting", "Starting the lookup…", None
        run = store.get_run(run_id)
        if run is not None and run.status == "delegated":
            now = time.monotonic()
            self.delegated_since = self.delegated_since or now
            wait = settings.sessions.borrow_wait_seconds
            left = max(1, round(wait - (now - self.delegated_since)))
            return (
                "waiting_for_batch",
                "Waiting for the overnight batch's session: the batch holds the portal's "
                "account and will answer this lookup between its own "
                f"(this lookup gives up in about {left} s).",
                left,
            )
        items = store.run_outcomes(run_id)
        if items and items[0].state in OPEN_STATES:
            if self.sessions is not None and self.sessions.signed_in:
                return "asking", "Asking the portal…", None
            return "signing_in", "Signing in to the portal…", None
        return "finishing", "Reading the answer…", None
