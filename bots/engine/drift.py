"""The drift canary: before a batch, check that each portal's live pages still have the
landmarks its flow relies on (``PortalFlow.landmarks``): the sign-in page on a fresh page,
the search pages inside the session the batch will use. A portal whose pages changed is
paused for the run with a screenshot and the list of what is missing; its items stay
queued and the other portals run. `payerbot doctor portals` runs the same checks on demand.

A portal that is down, in maintenance or refusing is not drift: the canary leaves those to
the lookups' own handling (a refused login still goes through the lockout guard).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from playwright.async_api import Browser, Page, async_playwright

from bots.engine import browser as browser_mod
from bots.engine import kept_check
from bots.engine.credentials import login_secrets
from bots.engine.gates import build_flow
from bots.engine.sessions import PortalSession
from bots.engine.vault import SessionVault, open_vault
from bots.errors import (
    AuthenticationError,
    ConfigurationError,
    PortalBlocked,
    RateLimited,
    ReadOnlyViolation,
    SessionExpired,
)
from bots.files import private_dir
from bots.flowkit.flow import PortalFlow
from bots.flowkit.readonly import guard_of
from bots.logs import get_logger
from bots.models import LookupKind
from bots.settings import Settings
from bots.store import Store

if TYPE_CHECKING:
    from bots.engine.attempts import ItemWorker
    from bots.engine.gates import PortalGate
    from bots.engine.sessions import Session, SessionFactory

log = get_logger("payerbot.drift")
T = TypeVar("T")
MAX_LISTED = 4  # missing landmarks named in the pause reason (all of them are in the log)


async def _screenshot(page: Page, path: Path, settings: Settings) -> Path | None:
    private_dir(path.parent)
    try:
        if settings.browser.evidence_format == "png":
            path = path.with_suffix(".png")
            await page.screenshot(path=path, full_page=True)
        else:
            await page.screenshot(
                path=path, full_page=True, type="jpeg", quality=settings.browser.evidence_quality
            )
        path.chmod(0o600)  # a page of the portal may show PHI: owner-only, as all evidence
        return path
    except Exception:  # a screenshot must never hide the finding
        log.warning("drift.no_screenshot")
        return None


def _reason(missing: list[str], shot: Path | None) -> str:
    listed = "; ".join(missing[:MAX_LISTED]) + (" ..." if len(missing) > MAX_LISTED else "")
    return (
        f"paused by the drift canary: its pages changed ({listed}); screenshot "
        f"{shot or 'none'}; its items stay queued for `payerbot runs resume` once the flow "
        "is fixed"
    )


async def check_before_batch(
    settings: Settings,
    gate: PortalGate,
    session: Session,
    sessions: SessionFactory,
    items: ItemWorker,
    shots: Path,
    kinds: frozenset[LookupKind] | None = None,
) -> None:
    """Run both stages for one portal; pause the gate when its pages drifted. (A task of its
    own in the runner: the portal and account bound here label its log lines, the login's
    included, as a worker's are.)"""
    portal_id = gate.portal_id
    structlog.contextvars.bind_contextvars(portal=portal_id, account=session.account)
    async with sessions.fresh_page(gate.flow) as page:
        try:
            missing = await _guarded(page, None, gate.flow.landmarks(page, "login"))
            if missing:
                await _pause(gate, page, missing, shots / f"{portal_id}-drift-login.jpg", settings)
                return
        except (PortalBlocked, ReadOnlyViolation) as exc:  # a person must look, as for a lookup
            await _screenshot(page, shots / f"{portal_id}-blocked.jpg", settings)
            await items.stop_portal(gate, session, exc)
            return
        except Exception as exc:  # down, maintenance, 5xx: not drift, the lookups will see it
            _slow_down_on_429(settings, gate, exc)
            log.info("drift.not_checked", portal=portal_id, stage="login", error=type(exc).__name__)
            return
    try:
        page = await _guarded(None, session, session.ready())
    except (AuthenticationError, PortalBlocked, ReadOnlyViolation) as exc:
        await items.stop_portal(gate, session, exc)  # the lockout guard, as for a lookup
        return
    except Exception as exc:
        _slow_down_on_429(settings, gate, exc)
        log.info("drift.not_checked", portal=portal_id, stage="search", error=type(exc).__name__)
        return
    try:
        missing = await _guarded(None, session, gate.flow.landmarks(page, "search", kinds))
    except (PortalBlocked, ReadOnlyViolation) as exc:
        await _screenshot(page, shots / f"{portal_id}-blocked.jpg", settings)
        await items.stop_portal(gate, session, exc)
        return
    except SessionExpired:
        session.logged_out()  # the first lookup logs in again, as usual
        return
    except Exception as exc:
        _slow_down_on_429(settings, gate, exc)
        log.info("drift.not_checked", portal=portal_id, stage="search", error=type(exc).__name__)
        return
    if missing:
        await _pause(gate, page, missing, shots / f"{portal_id}-drift-search.jpg", settings)
    else:
        log.info("drift.ok", portal=portal_id)


def _slow_down_on_429(settings: Settings, gate: PortalGate, exc: Exception) -> None:
    """A 429 to the canary slows the portal's pace as one to a lookup would."""
    if isinstance(exc, RateLimited):
        gate.slow_down(settings.queue, exc.retry_after)
        log.warning("portal.rate_limited", stage="canary", pace_seconds=gate.pace_seconds)


async def _guarded(page: Page | None, session: Session | None, check: Awaitable[T]) -> T:
    """The check's outcome, unless the read-only guard stopped a request on the way (the
    flow's error for it, or its silence, is then beside the point)."""
    try:
        found = await check
    except Exception:
        violation = _violation(page, session)
        if violation is not None:
            raise violation from None
        raise
    violation = _violation(page, session)
    if violation is not None:
        raise violation
    return found


def _violation(page: Page | None, session: Session | None) -> ReadOnlyViolation | None:
    if session is not None:
        return session.read_only_violation()
    guard = guard_of(page) if page is not None else None
    return guard.take() if guard is not None else None


async def _pause(
    gate: PortalGate, page: Page, missing: list[str], path: Path, settings: Settings
) -> None:
    shot = await _screenshot(page, path, settings)
    gate.stopped = _reason(missing, shot)
    gate.paused_for_layout = True
    log.error("portal.drift", missing=missing, evidence=str(shot) if shot else None)


# --- on demand: `payerbot doctor portals` ---------------------------------------------------


@dataclass
class DriftCheck:
    portal: str
    status: str  # ok | drift | skipped | error
    detail: str
    screenshot: str | None = None
    account: str | None = None  # the account whose session checked the search pages
    session: kept_check.SessionOutcome | None = None
    """resumed | new_login | new_login_kept_session_not_resumed (None: no session opened)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def check_portals(
    settings: Settings, store: Store, portal_ids: list[str]
) -> list[DriftCheck]:
    """Both stages per portal, logging in with its first usable account (leased, as any
    login; a flagged or busy account is not used)."""
    holder = f"{store.owner}:doctor-{secrets.token_hex(4)}"
    vault = open_vault(settings, store)
    shots = settings.data_dir / "evidence" / "doctor"
    results: list[DriftCheck] = []
    async with async_playwright() as playwright:
        browser = await browser_mod.launch(playwright, settings.browser)
        try:
            for portal_id in portal_ids:
                results.append(
                    await _check_one(settings, store, browser, portal_id, holder, shots, vault)
                )
        finally:
            await browser.close()
    return results


async def _check_one(
    settings: Settings,
    store: Store,
    browser: Browser,
    portal_id: str,
    holder: str,
    shots: Path,
    vault: SessionVault | None,
) -> DriftCheck:
    portal = settings.portals[portal_id]
    flow: PortalFlow = build_flow(settings, portal_id)
    async with browser_mod.fresh_page(browser, settings.browser, flow) as page:
        try:
            missing = await _guarded(page, None, flow.landmarks(page, "login"))
            if missing:
                shot = await _screenshot(page, shots / f"{portal_id}-login.jpg", settings)
                return DriftCheck(
                    portal_id, "drift", "; ".join(missing), str(shot) if shot else None
                )
        except ReadOnlyViolation as exc:
            return DriftCheck(portal_id, "error", f"sign-in page not checked: {exc}")
        except Exception as exc:
            return DriftCheck(portal_id, "error", f"sign-in page not checked: {type(exc).__name__}")
    flagged = {f.account for f in store.flagged_accounts(portal_id)}
    for account in portal.accounts:
        if account in flagged:
            continue
        try:
            login = login_secrets(settings, portal_id, account)
        except ConfigurationError:
            continue
        lease = store.lease_account(
            portal_id, account, holder, None, settings.sessions.account_lease_seconds
        )
        if not lease.acquired:
            continue
        kept_at = kept_check.kept_before(vault, portal_id, account, login.username)
        session = PortalSession(  # the kept session first: a new login would make a second
            browser, flow, portal_id, account, login, settings.browser, portal, vault=vault
        )
        try:
            page = await _guarded(None, session, session.ready())
            said = kept_check.outcome(session.resumed, kept_at)
            how = f"{account}: {kept_check.words(said, kept_at, settings.timezone)}"
            missing = await _guarded(None, session, flow.landmarks(page, "search"))
            if missing:
                shot = await _screenshot(page, shots / f"{portal_id}-search.jpg", settings)
                return DriftCheck(
                    portal_id,
                    "drift",
                    f"{'; '.join(missing)}; {how}",
                    str(shot) if shot else None,
                    account,
                    said,
                )
            return DriftCheck(
                portal_id,
                "ok",
                f"sign-in and search pages as expected; {how}",
                account=account,
                session=said,
            )
        except AuthenticationError as exc:  # the lockout guard, as for any login
            store.flag_account(portal_id, account, "login_refused", str(exc), "doctor")
            return DriftCheck(portal_id, "error", f"login refused for {account}: {exc}")
        except ReadOnlyViolation as exc:
            return DriftCheck(portal_id, "error", f"search pages not checked: {exc}")
        except Exception as exc:
            return DriftCheck(portal_id, "error", f"search pages not checked: {type(exc).__name__}")
        finally:
            await session.close()
            store.release_account(portal_id, account, holder)
    return DriftCheck(
        portal_id, "skipped", "sign-in page as expected; no free, unflagged account to go further"
    )


def run_doctor_portals(settings: Settings, store: Store, portal_ids: list[str]) -> list[DriftCheck]:
    return asyncio.run(check_portals(settings, store, portal_ids))
