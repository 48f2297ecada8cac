"""One attempt at one work item: ask the flow, keep the evidence, classify what happened.

The classification is the engine's, not the flow's: a flow raises a typed error and
this module decides what it means for the item (record, retry, postpone) and for the
portal (pause on 429, postpone on maintenance, stop on CAPTCHA; a refused login sets its
account aside and the portal's other accounts carry on).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from pydantic import TypeAdapter

from bots.engine.evidence import EvidenceFolder
from bots.engine.gates import PortalGate, remember_pace
from bots.engine.sessions import Session
from bots.errors import (
    AuthenticationError,
    BusinessError,
    CapabilityMissing,
    FlowBug,
    LayoutChanged,
    PatientMismatch,
    PayerbotError,
    PortalBlocked,
    PortalError,
    PortalMaintenance,
    PortalTimeout,
    PortalUnavailable,
    RateLimited,
    ReadOnlyViolation,
    SessionExpired,
)
from bots.logs import get_logger, redactor
from bots.matching import check_result
from bots.models import (
    PHI_FIELDS,
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    Query,
)
from bots.settings import Settings
from bots.store import ItemState, Store, WorkItem, utcnow

log = get_logger("payerbot.attempts")
QUERY_ADAPTER = TypeAdapter[EligibilityQuery | ClaimStatusQuery](Query)


def _phi_values(query: EligibilityQuery | ClaimStatusQuery) -> list[object]:
    return [getattr(query, n) for n in PHI_FIELDS if getattr(query, n, None) is not None]


def register_phi(query: EligibilityQuery | ClaimStatusQuery) -> None:
    """The question's patient values, masked in every log line from now on; held a day
    after they were last registered (every attempt registers them again)."""
    redactor.add(*_phi_values(query), keep=False)


NETWORK_ERROR = re.compile(
    r"net::ERR_[A-Z_]+|\b(?:ECONNREFUSED|ECONNRESET|ECONNABORTED|EHOSTUNREACH|ENETUNREACH"
    r"|ENOTFOUND|EAI_AGAIN|EPIPE|ETIMEDOUT)\b|socket hang up"
)
"""A browser or request error that says the portal could not be reached (only the token is
kept: the rest of Playwright's message holds the URL, which may hold PHI)."""


def classify(exc: BaseException) -> PayerbotError:
    """An exception as a payerbot error, PHI-free: a network error (connection refused,
    reset, ``net::ERR_*``) is ``portal_unavailable``, other Playwright errors and timeouts are
    portal failures (all retried); anything else a flow raised is a bug in the flow
    (``FlowBug``)."""
    if isinstance(exc, PayerbotError):
        return exc
    if isinstance(exc, PlaywrightTimeout | TimeoutError):
        return PortalTimeout("the portal did not answer in time")
    if isinstance(exc, PlaywrightError):
        network = NETWORK_ERROR.search(str(exc))
        if network is not None:  # an outage, never a redesign: retried, not the breaker's
            return PortalUnavailable(f"the portal could not be reached ({network.group(0)})")
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return PortalError(f"browser error: {first_line[:200]}")
    # Not the portal's doing: a bug in the flow. A page the flow cannot read is LayoutChanged,
    # which the flow raises itself; the same code would fail the same way on a retry.
    return FlowBug(f"a bug in the flow: unexpected {type(exc).__name__} (the log has the details)")


def _minutes(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f} seconds"
    return f"{minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"


class ItemWorker:
    """Works items of one run through portal sessions and records every outcome.

    ``run_id`` None: a fleet worker's, whose items each name their run (``for_run``); what
    this class does to "the run's items of a portal" then applies to every fleet run."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        run_id: str | None,
        on_finished: Callable[[int], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.run_id = run_id
        self.evidence = EvidenceFolder(settings)
        self._on_finished = on_finished  # called with how many items reached a final state

    def _run_of(self, item: WorkItem) -> str:
        """The run an item is answered for: ours, or the run that borrowed our session."""
        run_id = item.for_run or self.run_id
        assert run_id is not None, "a fleet item always names its run"
        return run_id

    async def work(self, gate: PortalGate, session: Session, item: WorkItem) -> None:
        if item.for_run and self.run_id is not None:
            log.info("item.borrowed", for_run=item.for_run)
        started = utcnow()
        query = QUERY_ADAPTER.validate_python(item.query)
        register_phi(query)
        await session.begin_attempt(item.attempts)
        beat = asyncio.create_task(self._heartbeat(item))
        try:
            await self._attempt(gate, session, item, query, started)
        finally:
            beat.cancel()

    async def _heartbeat(self, item: WorkItem) -> None:
        """Keep the item's lease alive while a slow portal answers."""
        lease = self.store.queue.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            await asyncio.to_thread(self.store.heartbeat, item.id)

    async def _attempt(
        self,
        gate: PortalGate,
        session: Session,
        item: WorkItem,
        query: EligibilityQuery | ClaimStatusQuery,
        started: datetime,
    ) -> None:
        queue = self.settings.queue
        try:
            result = await self._guarded(
                session,
                asyncio.wait_for(self._ask(gate, session, query), queue.lookup_timeout_seconds),
            )
        except BusinessError as exc:
            session.counted_lookup()
            gate.layout_failures = 0  # the pages were read: a "no" is an answer
            gate.answered(queue)
            await self._finish(item, started, session, ItemState.BUSINESS_FAILED, exc, trace=False)
        except AuthenticationError as exc:
            await session.end_trace(None)
            await self._stop(gate, item, started, session, exc)
        except (PortalBlocked, ReadOnlyViolation) as exc:
            await self._finish(item, started, session, ItemState.SYSTEM_FAILED, exc, trace=True)
            await self._stop(gate, None, started, session, exc)
        except PortalMaintenance as exc:
            await self._postpone(gate, item, session, exc)
        except RateLimited as exc:
            await self._slow_down(gate, item, session, exc)
        except CapabilityMissing as exc:  # this one question is beyond the portal's search
            await self._finish(item, started, session, ItemState.SYSTEM_FAILED, exc, trace=False)
        except Exception as exc:  # a hung lookup cut off by the timeout lands here too
            error = classify(exc)
            if isinstance(error, FlowBug):
                log.exception("flow.bug", error=type(exc).__name__)
            evidence = await self._finish(
                item, started, session, ItemState.SYSTEM_FAILED, error, trace=True
            )
            if isinstance(error, LayoutChanged):
                self._layout_breaker(gate, evidence)
        else:
            gate.answered(queue)
            gate.layout_failures = 0
            session.counted_lookup()
            await self._succeed(gate, item, started, session, query, result)

    @staticmethod
    async def _guarded(session: Session, lookup: Awaitable[Any]) -> Any:
        """The lookup's outcome, unless the read-only guard stopped a request on the way:
        then a ReadOnlyViolation, whatever the flow made of the aborted request (raised,
        swallowed, answered anyway). Nothing it read is recorded as an answer."""
        try:
            result = await lookup
        except Exception:
            violation = session.read_only_violation()
            if violation is not None:
                raise violation from None
            raise
        violation = session.read_only_violation()
        if violation is not None:
            raise violation
        return result

    async def _ask(
        self, gate: PortalGate, session: Session, query: EligibilityQuery | ClaimStatusQuery
    ) -> Any:
        """Log in if needed and ask; an expired session is logged into again once, for free."""
        for relogin in (False, True):
            page = await session.ready()
            try:
                if isinstance(query, EligibilityQuery):
                    return await gate.flow.eligibility(page, query)
                return await gate.flow.claim_status(page, query)
            except SessionExpired:
                if relogin:
                    raise
                log.info("portal.session_expired", account=session.account)
                session.logged_out()
        raise AssertionError("unreachable")

    # --- outcomes ----------------------------------------------------------------------------

    async def _succeed(
        self,
        gate: PortalGate,
        item: WorkItem,
        started: datetime,
        session: Session,
        query: EligibilityQuery | ClaimStatusQuery,
        result: Any,
    ) -> None:
        """Record the answer, once it has passed the engine's identity check: the right
        patient or no result, whatever the flow checked itself (bots/matching.py)."""
        if (
            not isinstance(result, EligibilityResult | ClaimStatusResult)
            or result.kind != query.kind
        ):
            bug = FlowBug("a bug in the flow: it answered with something that is not a result")
            log.error("flow.bug", returned=type(result).__name__)
            await self._finish(item, started, session, ItemState.SYSTEM_FAILED, bug, trace=True)
            return
        try:
            check_result(query, result)
        except PatientMismatch as exc:
            log.warning("item.patient_mismatch", flow=gate.flow.name)
            await self._finish(item, started, session, ItemState.BUSINESS_FAILED, exc, trace=False)
            return
        run_id = self._run_of(item)
        shot = None
        if gate.flow.screenshot_evidence:  # the answer's region, its file written meanwhile
            shot = await self.evidence.capture(
                session.page, run_id, item, region=gate.flow.result_region
            )
        await session.end_trace(None)
        kept = tuple(
            a.model_copy(
                update={
                    "path": str(
                        self.evidence.save_attachment(run_id, item, n, a.filename, a.content)
                    )
                }
            )
            for n, a in enumerate(result.attachments, start=1)
        )
        evidence = shot.path if shot is not None else None
        if evidence is None and kept:  # an API read: the portal's own response is the evidence
            evidence = Path(str(kept[0].path))
        payload = self._answer(result, evidence, kept)
        # The file exists before the answer is committed: a path in the store always opens.
        if shot is not None and await shot.saved() is None:
            evidence = None
            payload = self._answer(result, evidence, kept)
        await self._record(
            item,
            started,
            ItemState.SUCCEEDED,
            session,
            evidence=evidence,
            payload=payload,
        )

    @staticmethod
    def _answer(
        result: EligibilityResult | ClaimStatusResult, evidence: Path | None, kept: tuple[Any, ...]
    ) -> dict[str, Any]:
        """The answer as stored: its evidence and the attachments as kept."""
        answered = result.model_copy(
            update={"evidence": str(evidence) if evidence else None, "attachments": kept}
        )
        return answered.model_dump(mode="json")

    async def _finish(
        self,
        item: WorkItem,
        started: datetime,
        session: Session,
        outcome: ItemState,
        error: PayerbotError,
        *,
        trace: bool,
    ) -> Path | None:
        run_id = self._run_of(item)
        # The whole page (a person needs the context), written while the trace is saved.
        shot = await self.evidence.capture(session.page, run_id, item, whole_page=True)
        trace_at = self.evidence.path("traces", run_id, item, "zip") if trace else None
        kept = await session.end_trace(trace_at)
        evidence = await shot.saved() if shot is not None else None
        await self._record(
            item, started, outcome, session, error=error, evidence=evidence, trace=kept
        )
        return evidence

    def _layout_breaker(self, gate: PortalGate, evidence: Path | None) -> None:
        """Lookups failing in a row because the pages cannot be read (a redesign) pause the
        portal for this run: its remaining items stay queued for `runs resume` once the flow
        is fixed, instead of failing one by one all night. The other portals go on."""
        gate.layout_failures += 1
        limit = self.settings.queue.layout_breaker
        if gate.layout_failures < limit or gate.stopped is not None:
            return
        gate.stopped = (
            f"paused: {gate.layout_failures} lookups in a row could not read its pages "
            f"(layout changed?); screenshot {evidence or 'none'}; its items stay queued "
            "for `payerbot runs resume` once the flow is fixed"
        )
        gate.paused_for_layout = True
        log.error(
            "portal.circuit_open",
            failures_in_a_row=gate.layout_failures,
            evidence=str(evidence) if evidence else None,
        )

    async def _stop(
        self,
        gate: PortalGate,
        item: WorkItem | None,
        started: datetime,
        session: Session,
        exc: AuthenticationError | PortalBlocked | ReadOnlyViolation,
    ) -> None:
        """A refused login sets its account aside; a CAPTCHA or a flow that tried to write
        stops the portal for this run: a person must look.

        Retrying a refused login walks the account toward a lockout, so the account is
        flagged and never logged into again (until `creds reset-lock`); the item in its
        hands goes back to the queue without spending an attempt, and the portal's other
        accounts carry the work. Only when no account is left (``_portal_ends``) do the
        portal's items end, ``account_locked``, resumable once a person fixed the login.
        Pushing past a CAPTCHA is not ours to do, and a flow that tries to write must be
        fixed first: those stop the portal at once (its unclaimed items end, not attempted).
        """
        refused = isinstance(exc, AuthenticationError)
        if refused:  # never again until a person clears it
            gate.refused_accounts.add(session.account)
            await asyncio.to_thread(
                self.store.flag_account,
                gate.portal_id,
                session.account,
                "login_refused",
                redactor.text(str(exc)),
                self._run_of(item) if item is not None else self.run_id,
            )
            if item is not None:  # not the item's fault: another account asks it
                await asyncio.to_thread(self.store.release, item)
                log.warning("item.requeued", reason="login_refused", attempt=item.attempts)
        ends = await self._portal_ends(gate, session.account, exc)
        if ends:
            why = self.no_account_left(gate, exc) if refused else f"{session.account}: {exc}"
            gate.stopped = why
            log.error("portal.stopped", reason=exc.code(), account=session.account, error=str(exc))
        else:
            log.error("account.login_refused", account=session.account, error=str(exc))
        if item is not None and not refused:
            await self._record(item, started, ItemState.SYSTEM_FAILED, session, error=exc)
        if ends and refused:
            await self.end_portal_items(gate, "account_locked", why)
        elif ends:
            await self.end_portal_items(gate, exc.code(), f"{gate.portal_id} stopped ({exc})")

    @staticmethod
    def no_account_left(gate: PortalGate, exc: PayerbotError | None = None) -> str:
        """Why the portal's items end when the portal refused every account of the run."""
        accounts = ", ".join(sorted(gate.refused_accounts)) or "its account"
        said = f" ({redactor.text(str(exc))})" if exc is not None else ""
        return (
            f"no account left: the portal refused the login of {accounts}{said}; fix the "
            f"login, then `payerbot creds reset-lock {gate.portal_id}` and "
            "`payerbot runs resume`"
        )

    async def end_portal_items(self, gate: PortalGate, code: str, why: str) -> None:
        """End the portal's unclaimed items of this run (every fleet run's: ``run_id``
        None), not attempted, with the reason in words."""
        ended = await asyncio.to_thread(
            self.store.fail_pending, self.run_id, gate.portal_id, code, f"not attempted: {why}"
        )
        self._on_finished(ended)

    async def _portal_ends(
        self,
        gate: PortalGate,
        account: str,
        exc: AuthenticationError | PortalBlocked | ReadOnlyViolation,
    ) -> bool:
        """Whether the portal stops for this run and its unclaimed items end: at once for a
        CAPTCHA or a write; for a refused login only when no account of the run is left
        (none of its sessions' accounts still open, no spare account to open instead)."""
        if not isinstance(exc, AuthenticationError):
            return True
        return not gate.has_account_left()

    async def stop_portal(
        self,
        gate: PortalGate,
        session: Session,
        exc: AuthenticationError | PortalBlocked | ReadOnlyViolation,
    ) -> None:
        """A refused login, a CAPTCHA or a write outside a lookup (the drift canary's)."""
        await self._stop(gate, None, utcnow(), session, exc)

    async def _postpone(
        self, gate: PortalGate, item: WorkItem, session: Session, exc: PortalMaintenance
    ) -> None:
        """Maintenance postpones, never fails: a short window is waited out, a long one
        leaves the portal's items queued for the next run (or `runs resume`)."""
        wait = timedelta(minutes=self.settings.queue.maintenance_wait_minutes)
        until = exc.until or utcnow() + wait
        await session.end_trace(None)
        await asyncio.to_thread(self.store.release, item, until)
        if until - utcnow() <= wait:
            gate.pause((until - utcnow()).total_seconds())
            log.warning("portal.maintenance_wait", until=until.isoformat())
            return
        gate.postponed_until = until
        gate.stopped = f"in maintenance until {until:%Y-%m-%d %H:%M %Z}"
        postponed = await asyncio.to_thread(
            self.store.postpone_pending, self.run_id, gate.portal_id, until
        )
        # ``postponed`` counts the released item too (it is unclaimed again)
        log.warning("portal.maintenance_postponed", until=until.isoformat(), items=postponed)

    async def _slow_down(
        self, gate: PortalGate, item: WorkItem, session: Session, exc: RateLimited
    ) -> None:
        """A 429 costs time, never an answer, an attempt or a login: the portal's pace slows
        for the rest of the run (and the next, bots/engine/gates.py), every session pauses
        (Retry-After honoured) and the item waits its turn. Only 429s for
        ``rate_limit_budget_minutes`` with no answer in between postpone the portal's items
        (queued for `payerbot runs resume`, like a long maintenance), never fail them."""
        queue = self.settings.queue
        pause = gate.slow_down(queue, exc.retry_after)
        await session.end_trace(None)
        until = utcnow() + timedelta(seconds=pause)
        await asyncio.to_thread(self.store.release, item, until)
        log.warning(
            "portal.rate_limited",
            pause_seconds=round(pause, 2),
            pace_seconds=round(gate.pace_seconds, 2),
            times=gate.rate_limited,
        )
        await asyncio.to_thread(remember_pace, self.store, gate)
        budget = queue.rate_limit_budget_minutes * 60
        if gate.limited_for() < budget or gate.stopped is not None:
            return
        minutes = gate.limited_for() / 60
        gate.postponed_until = until
        gate.stopped = (
            f"asked us to slow down for {_minutes(minutes)} without answering one lookup (the "
            f"budget is {_minutes(queue.rate_limit_budget_minutes)}); its items stay queued "
            "for `payerbot runs resume`"
        )
        postponed = await asyncio.to_thread(
            self.store.postpone_pending, self.run_id, gate.portal_id, until
        )
        # ``postponed`` counts the released item too (it is unclaimed again)
        log.warning("portal.rate_limit_postponed", minutes=round(minutes, 1), items=postponed)

    async def _record(
        self,
        item: WorkItem,
        started: datetime,
        outcome: ItemState,
        session: Session,
        *,
        error: PayerbotError | None = None,
        payload: dict[str, Any] | None = None,
        evidence: Path | None = None,
        trace: Path | None = None,
    ) -> None:
        state = await asyncio.to_thread(
            self.store.complete,
            item,
            self._run_of(item),
            outcome=outcome,
            started_at=started,
            payload=payload,
            error_code=error.code() if error else None,
            error_message=redactor.text(str(error)) if error else None,
            reason_code=getattr(error, "reason_code", None),
            evidence_path=str(evidence) if evidence else None,
            trace_path=str(trace) if trace else None,
            account=session.account,
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
        if state != ItemState.NEW and self._run_of(item) == self.run_id:
            self._on_finished(1)
