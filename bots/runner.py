"""The runner: queue a run's questions, work them through portal sessions, record every answer.

One browser per process; per portal, up to ``max_sessions`` workers, each owning one
account's session (one login per account per run). Workers claim items from the
store, call the flow, keep a screenshot of every result page as evidence and a
Playwright trace of every failure, and let the store decide about retries.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout
from pydantic import TypeAdapter

from bots import browser as browser_mod
from bots.credentials import login_secrets
from bots.errors import (
    AuthenticationError,
    BusinessError,
    CapabilityMissing,
    ConfigurationError,
    LayoutChanged,
    PayerbotError,
    PortalError,
    PortalTimeout,
    SessionExpired,
)
from bots.files import private_dir
from bots.flow import PortalFlow, get_flow
from bots.logs import close_run_log, get_logger, open_run_log, redactor
from bots.models import PHI_FIELDS, ClaimStatusQuery, EligibilityQuery, LookupKind, Query
from bots.sessions import PortalSession
from bots.settings import Settings
from bots.store import ItemState, Store, WorkItem, utcnow
from bots.worklists import RowError

log = get_logger("payerbot.runner")
_QUERY = TypeAdapter[EligibilityQuery | ClaimStatusQuery](Query)

ProgressCallback = Callable[[int, int], None]


@dataclass
class RunSummary:
    """What a run did, for the terminal, the report and the exit code."""

    run_id: str
    kind: str
    counts: dict[str, int]
    duration_seconds: float
    lookups: int
    log_path: Path
    logins: dict[str, int] = field(default_factory=dict)
    browser_version: str | None = None
    stopped_portals: dict[str, str] = field(default_factory=dict)

    @property
    def lookups_per_minute(self) -> float:
        return self.lookups / self.duration_seconds * 60 if self.duration_seconds else 0.0

    @property
    def ok(self) -> bool:
        return not self.counts.get("system_failed") and not self.stopped_portals


@dataclass
class _Portal:
    """Per-run state of one portal: its flow and whether it may still be used."""

    portal_id: str
    flow: PortalFlow
    stopped: str | None = None


class Runner:
    """Runs one batch (or one lookup) end to end against the store."""

    def __init__(self, settings: Settings, store: Store, progress: ProgressCallback | None = None):
        self.settings = settings
        self.store = store
        self.progress = progress
        self._done = 0
        self._total = 0
        self._counts: Counter[str] = Counter()

    # --- preparation ---------------------------------------------------------------------

    def _check_capabilities(self, kind: LookupKind, portals: set[str]) -> dict[str, _Portal]:
        """Refuse before any browser starts: unknown portal, missing capability or credentials."""
        prepared = {}
        for portal_id in sorted(portals):
            if portal_id not in self.settings.portals:
                raise ConfigurationError(
                    f"portal {portal_id!r} is not configured in config/portals.toml"
                )
            portal = self.settings.portals[portal_id]
            flow_cls = get_flow(self.settings.flow_name(portal_id))
            if kind not in flow_cls.capabilities():
                raise CapabilityMissing(
                    f"the {flow_cls.name} flow cannot do {kind.value.replace('_', ' ')} lookups"
                )
            for account in portal.accounts[: portal.max_sessions]:
                login_secrets(self.settings, portal_id, account)
            prepared[portal_id] = _Portal(portal_id, flow_cls(portal.base_url))
        return prepared

    # --- the run -------------------------------------------------------------------------

    async def run(
        self,
        kind: LookupKind,
        rows: Sequence[tuple[int | None, EligibilityQuery | ClaimStatusQuery]],
        *,
        trigger: str = "batch",
        source: str | None = None,
        import_errors: Sequence[RowError] = (),
        force: bool = False,
    ) -> RunSummary:
        portals = {self.settings.portal_for_payer(q.payer_id) for _, q in rows}
        prepared = self._check_capabilities(kind, portals)
        run_id = await asyncio.to_thread(self.store.start_run, kind.value, trigger, source)
        log_path = open_run_log(self.settings.data_dir / "runs" / run_id / "run.jsonl")
        structlog.contextvars.bind_contextvars(run_id=run_id)
        started = time.monotonic()
        summary = RunSummary(run_id, kind.value, {}, 0.0, 0, log_path)
        status = "failed"
        try:
            log.info(
                "run.start",
                kind=kind.value,
                trigger=trigger,
                source=source,
                items=len(rows),
                import_errors=len(import_errors),
            )
            await asyncio.to_thread(
                self.store.record_import_errors, run_id, [e.as_dict() for e in import_errors]
            )
            for _, query in rows:
                redactor.add(*_phi_values(query))
            await asyncio.to_thread(self._enqueue_all, run_id, kind, rows, source, force)
            self._total = len(rows)
            self._report_progress()
            if self._counts["queued"] or self._counts["requeued"] or self._counts["pending"]:
                await self._work(run_id, prepared, summary)
            status = "finished"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            summary.duration_seconds = time.monotonic() - started
            summary.counts = await asyncio.to_thread(self._final_counts, run_id)
            summary.counts["import_errors"] = len(import_errors)
            summary.stopped_portals = {
                p.portal_id: p.stopped for p in prepared.values() if p.stopped
            }
            log.info(
                "run.finish",
                status=status,
                counts=summary.counts,
                seconds=round(summary.duration_seconds, 2),
                logins=summary.logins,
            )
            await asyncio.to_thread(
                self.store.finish_run, run_id, status, summary.counts, log_path=str(log_path)
            )
            structlog.contextvars.unbind_contextvars("run_id")
            close_run_log(log_path)
        return summary

    def _enqueue_all(
        self,
        run_id: str,
        kind: LookupKind,
        rows: Sequence[tuple[int | None, EligibilityQuery | ClaimStatusQuery]],
        source: str | None,
        force: bool,
    ) -> None:
        for row_number, query in rows:
            result = self.store.enqueue(
                run_id,
                reference=query.reference(),
                kind=kind.value,
                payer_id=query.payer_id,
                portal=self.settings.portal_for_payer(query.payer_id),
                query=query.model_dump(mode="json"),
                source_file=source,
                source_row=row_number,
                force=force,
            )
            self._counts[result.disposition] += 1
            if result.disposition == "reused":
                self._done += 1

    def _final_counts(self, run_id: str) -> dict[str, int]:
        states = Counter(row["state"] for row in self.store.run_outcomes(run_id))
        counts = {s.value: states.get(s.value, 0) for s in ItemState}
        counts["items"] = sum(states.values())
        counts["reused"] = self._counts["reused"]
        return counts

    def _report_progress(self) -> None:
        if self.progress:
            self.progress(self._done, self._total)

    async def _work(self, run_id: str, portals: dict[str, _Portal], summary: RunSummary) -> None:
        async with async_playwright() as playwright:
            browser = await browser_mod.launch(playwright, self.settings.browser)
            summary.browser_version = browser.version
            log.info("browser.start", version=browser.version)
            try:
                workers = []
                for portal in portals.values():
                    cfg = self.settings.portals[portal.portal_id]
                    for account in cfg.accounts[: cfg.max_sessions]:
                        session = PortalSession(
                            browser,
                            portal.flow,
                            portal.portal_id,
                            account,
                            login_secrets(self.settings, portal.portal_id, account),
                            self.settings.browser,
                            cfg,
                        )
                        workers.append(self._worker(run_id, portal, session, summary))
                await asyncio.gather(*workers)
            finally:
                await browser.close()

    async def _worker(
        self, run_id: str, portal: _Portal, session: PortalSession, summary: RunSummary
    ) -> None:
        structlog.contextvars.bind_contextvars(portal=portal.portal_id, account=session.account)
        try:
            while portal.stopped is None:
                item = await asyncio.to_thread(self.store.claim, run_id, portal.portal_id)
                if item is None:
                    due = await asyncio.to_thread(self.store.next_due, run_id, portal.portal_id)
                    if due is None:
                        return
                    wait = (due - utcnow()).total_seconds()
                    await asyncio.sleep(min(max(wait, 0.1), 1.0))
                    continue
                await self._work_item(run_id, portal, session, item)
                summary.lookups += 1
        finally:
            summary.logins[f"{portal.portal_id}/{session.account}"] = session.logins
            await session.close()

    async def _work_item(
        self, run_id: str, portal: _Portal, session: PortalSession, item: WorkItem
    ) -> None:
        structlog.contextvars.bind_contextvars(item_id=item.id)
        started = utcnow()
        query = _QUERY.validate_python(item.query)
        redactor.add(*_phi_values(query))
        try:
            await session.begin_attempt(item.attempts)
            try:
                page = await session.ready()
            except AuthenticationError as exc:
                await session.end_trace(None)
                await self._stop_portal(run_id, portal, item, started, exc, session.account)
                return
            except (PortalError, PlaywrightError) as exc:
                await self._record_failure(
                    run_id, item, started, session, session.page, _classify(exc)
                )
                return
            await self._lookup(run_id, portal, session, page, item, query, started)
        finally:
            structlog.contextvars.unbind_contextvars("item_id")

    async def _lookup(
        self,
        run_id: str,
        portal: _Portal,
        session: PortalSession,
        page: Page,
        item: WorkItem,
        query: EligibilityQuery | ClaimStatusQuery,
        started: datetime,
    ) -> None:
        relogged = False
        while True:
            try:
                result = await self._ask(portal.flow, page, query)
                break
            except SessionExpired as exc:
                # Logged out under us: log in again and retry this item once, not as a failure.
                if relogged:
                    await self._record_failure(run_id, item, started, session, page, exc)
                    return
                relogged = True
                log.info("portal.session_expired", account=session.account)
                try:
                    await session.login()
                except AuthenticationError as exc:
                    await session.end_trace(None)
                    await self._stop_portal(run_id, portal, item, started, exc, session.account)
                    return
            except BusinessError as exc:
                evidence = await self._screenshot(page, run_id, item)
                await session.end_trace(None)
                await self._complete(
                    run_id,
                    item,
                    started,
                    ItemState.BUSINESS_FAILED,
                    error=exc,
                    evidence=evidence,
                    account=session.account,
                )
                session.counted_lookup()
                return
            except (PortalError, PlaywrightError, TimeoutError) as exc:
                await self._record_failure(run_id, item, started, session, page, _classify(exc))
                return
            except Exception as exc:
                log.exception("flow.unexpected_error")
                await self._record_failure(run_id, item, started, session, page, _classify(exc))
                return
        session.counted_lookup()
        evidence = await self._screenshot(page, run_id, item)
        await session.end_trace(None)
        result = result.model_copy(update={"evidence": str(evidence) if evidence else None})
        await self._complete(
            run_id,
            item,
            started,
            ItemState.SUCCEEDED,
            payload=result.model_dump(mode="json"),
            evidence=evidence,
            account=session.account,
        )

    async def _ask(
        self, flow: PortalFlow, page: Page, query: EligibilityQuery | ClaimStatusQuery
    ) -> Any:
        if isinstance(query, EligibilityQuery):
            return await flow.eligibility(page, query)
        return await flow.claim_status(page, query)

    async def _record_failure(
        self,
        run_id: str,
        item: WorkItem,
        started: datetime,
        session: PortalSession,
        page: Page | None,
        exc: PayerbotError,
    ) -> None:
        evidence = await self._screenshot(page, run_id, item) if page else None
        trace = await session.end_trace(self._artifact(run_id, "traces", item, "zip"))
        await self._complete(
            run_id,
            item,
            started,
            ItemState.SYSTEM_FAILED,
            error=exc,
            evidence=evidence,
            trace=trace,
            account=session.account,
        )

    async def _stop_portal(
        self,
        run_id: str,
        portal: _Portal,
        item: WorkItem,
        started: datetime,
        exc: AuthenticationError,
        account: str,
    ) -> None:
        """A refused login stops the portal for this run: retrying would lock the account."""
        portal.stopped = f"{account}: {exc}"
        log.error("portal.login_refused", account=account, error=str(exc))
        await self._complete(
            run_id, item, started, ItemState.SYSTEM_FAILED, error=exc, account=account
        )
        failed = await asyncio.to_thread(
            self.store.fail_pending,
            run_id,
            portal.portal_id,
            AuthenticationError.code(),
            f"not attempted: login to {portal.portal_id} was refused ({exc})",
        )
        self._done += failed
        self._report_progress()

    async def _complete(
        self,
        run_id: str,
        item: WorkItem,
        started: datetime,
        outcome: ItemState,
        *,
        payload: dict[str, Any] | None = None,
        error: PayerbotError | None = None,
        evidence: Path | None = None,
        trace: Path | None = None,
        account: str | None = None,
    ) -> None:
        state = await asyncio.to_thread(
            self.store.complete,
            item,
            run_id,
            outcome=outcome,
            started_at=started,
            payload=payload,
            error_code=error.code() if error else None,
            error_message=redactor.text(str(error)) if error else None,
            reason_code=getattr(error, "reason_code", None),
            evidence_path=str(evidence) if evidence else None,
            trace_path=str(trace) if trace else None,
            account=account,
            retryable=bool(error and error.retryable),
        )
        log.info(
            "item.done",
            outcome=outcome.value,
            next_state=state.value,
            attempt=item.attempts,
            error=error.code() if error else None,
            ms=round((utcnow() - started).total_seconds() * 1000),
        )
        if state != ItemState.NEW:
            self._done += 1
            self._report_progress()

    def _artifact(self, run_id: str, folder: str, item: WorkItem, ext: str) -> Path:
        return self.settings.data_dir / folder / run_id / f"item-{item.id}-try{item.attempts}.{ext}"

    async def _screenshot(self, page: Page, run_id: str, item: WorkItem) -> Path | None:
        path = self._artifact(run_id, "evidence", item, "png")
        private_dir(path.parent)
        try:
            await page.screenshot(path=str(path), full_page=True, timeout=10_000)
        except PlaywrightError:
            log.warning("evidence.screenshot_failed")
            return None
        path.chmod(0o600)
        return path


def _classify(exc: BaseException) -> PayerbotError:
    """Everything that is not already ours becomes a retryable portal failure, PHI-free."""
    if isinstance(exc, PayerbotError):
        return exc
    if isinstance(exc, PlaywrightTimeout | TimeoutError):
        return PortalTimeout("the portal did not answer in time")
    if isinstance(exc, PlaywrightError):
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return PortalError(f"browser error: {first_line[:200]}")
    # Usually a page the flow could not read (a redesign): retry, and the trace shows what it saw.
    return LayoutChanged(f"unexpected {type(exc).__name__} while reading the page")


def _phi_values(query: EligibilityQuery | ClaimStatusQuery) -> list[object]:
    return [getattr(query, name) for name in PHI_FIELDS if getattr(query, name, None) is not None]
