"""Portal sessions: one browser context per portal account, logged in once, reused, recycled.

The context keeps the portal's cookies, so every lookup after the first skips the
login. After ``lookups_per_context`` lookups the context is replaced by a fresh one
carrying the same storage state (bounded memory, still no new login). Between runs the
storage state is kept encrypted (bots/engine/vault.py): the next run resumes the session when the
portal still honours it, and logs in only when it does not.

Logins are never traced: a trace records typed text and request bodies, so recording
stops (discarding what it holds) before a login and starts afresh after it. A trace then
shows the attempt from the logged-in page on.

The engine asks for sessions through a ``SessionFactory``: ``ChromiumSessions`` (one browser
per process, its contexts as sessions) everywhere, browserless sessions in policy tests
(bots/engine/scripted.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from bots.engine import browser as browser_mod
from bots.engine.vault import SessionVault
from bots.errors import AuthenticationError, PortalError, ReadOnlyViolation, SessionExpired
from bots.files import private_dir
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow
from bots.flowkit.readonly import ReadOnlyGuard
from bots.logs import get_logger
from bots.settings import BrowserSettings, PortalSettings, Settings

log = get_logger("payerbot.sessions")


class Session(Protocol):
    """What the engine asks of one portal account's session."""

    account: str
    logins: int
    resumed: bool

    @property
    def page(self) -> Page | None:
        """The page to screenshot as evidence (None: nothing to show)."""

    async def ready(self) -> Page:
        """A page inside a live session, logging in when needed."""

    def logged_out(self) -> None:
        """The portal ended the session: the next ``ready()`` logs in again."""

    def counted_lookup(self) -> None: ...

    def read_only_violation(self) -> ReadOnlyViolation | None:
        """What the read-only guard stopped since the last call (None: the flow only read)."""

    async def begin_attempt(self, attempt: int) -> None: ...

    async def end_trace(self, keep_at: Path | None) -> Path | None: ...

    async def close(self) -> None: ...


OnLogin = Callable[[Session, LoginInfo | None], Awaitable[None]]
"""Called after every successful login with what the portal said on the way."""


class SessionFactory(Protocol):
    """Opens portal sessions for the engine (and a bare page for the drift canary)."""

    @property
    def version(self) -> str | None:
        """The browser's version once started (None: no browser)."""

    async def start(self) -> None:
        """Be ready to open sessions (start the browser); a second call does nothing."""

    def open(
        self,
        flow: PortalFlow,
        portal_id: str,
        account: str,
        secrets: LoginSecrets,
        on_login: OnLogin,
    ) -> Session: ...

    def fresh_page(self, flow: PortalFlow | None = None) -> AbstractAsyncContextManager[Page]:
        """A page outside any session (the sign-in page as a stranger sees it), under the
        flow's read-only guard (None: nothing but reads)."""

    async def close(self) -> None: ...


class PortalSession:
    """A logged-in (or not yet) browser context for one portal account."""

    def __init__(
        self,
        browser: Browser,
        flow: PortalFlow,
        portal_id: str,
        account: str,
        secrets: LoginSecrets,
        browser_settings: BrowserSettings,
        portal_settings: PortalSettings,
        *,
        vault: SessionVault | None = None,
        on_login: Callable[[PortalSession, LoginInfo | None], Awaitable[None]] | None = None,
        restore: bool = True,
    ) -> None:
        self.browser = browser
        self.flow = flow
        self.portal_id = portal_id
        self.account = account
        self._secrets = secrets
        self._browser_settings = browser_settings
        self._portal_settings = portal_settings
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._logged_in = False
        self._lookups_in_context = 0
        self._tracing = False
        self._vault = vault
        self._on_login = on_login
        self._restore = restore  # False: always log in afresh (and keep the new session)
        self._kept_state_pending = False  # a kept session was restored and not yet checked
        self._login_unsure = False  # a login cut short (a 429, a 5xx): it may have got in
        # The portal may hold a live session of ours: from a login begun (even one that
        # failed half-way: the portal may have opened the session before its next page
        # failed), or a kept state restored. A new login first ends it (never two at once).
        self._may_be_live = False
        self.last_info: LoginInfo | None = None  # what the last login said (creds check)
        self.logins = 0
        self.resumed = False  # a kept session from an earlier run was still live
        self._guard = ReadOnlyGuard(flow.read_only_policy())

    async def _open_context(self, storage_state: Any = None) -> Page:
        bs = self._browser_settings
        context = await self.browser.new_context(
            storage_state=storage_state,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id="America/New_York",
        )
        context.set_default_timeout(bs.action_timeout_ms)
        context.set_default_navigation_timeout(bs.navigation_timeout_ms)
        # One guard per session, across its recycled contexts: a violation is never lost.
        await self._guard.install(context, block_resource_types=bs.block_resource_types)
        self._context = context
        self._page = await context.new_page()
        self._lookups_in_context = 0
        return self._page

    async def _ensure_context(self) -> Page:
        if self._page is None:
            kept = None
            if self._vault is not None and self._restore:
                kept = self._vault.load(self.portal_id, self.account, self._secrets.username)
            self._kept_state_pending = kept is not None
            self._may_be_live = self._may_be_live or kept is not None
            return await self._open_context(storage_state=kept)
        return self._page

    async def ready(self) -> Page:
        """A page inside a live session: resumes a kept session or logs in as needed."""
        page = await self._ensure_context()
        if not self._logged_in and (self._kept_state_pending or self._login_unsure):
            # A kept session, or a login the portal cut short after letting us in (a 429 on
            # the page after the password): ask before logging in again, so a 429 never
            # costs a login. The portal refusing to say (another 429) keeps the question open.
            kept = self._kept_state_pending
            live = await self._resume(page)
            self._kept_state_pending = self._login_unsure = False
            if live:
                self._logged_in = True
                self.resumed = self.resumed or kept
                log.info("portal.session_resumed", account=self.account, kept=kept)
                if not kept:  # the cut-short login did log in: noted and kept as any login
                    if self._on_login is not None:
                        await self._on_login(self, None)
                    await self.keep()
                return page
            log.info("portal.kept_session_ended", account=self.account, kept=kept)
            if not self.flow.can_logout():
                self._may_be_live = False  # just asked: nothing of ours left to reuse
        reusable = not self._logged_in and self._may_be_live and not self.flow.can_logout()
        if reusable and await self._reuse_old_session(page):
            return page  # the old session was still live: reused, no second login
        if not self._logged_in:
            await self.login()
        # Logged in: no check per lookup (it costs a round of page reads). A session that
        # ended shows itself on the next page as SessionExpired: one free re-login.
        return page

    def logged_out(self) -> None:
        """The portal ended our session: the next ``ready()`` logs in again."""
        self._logged_in = False

    async def _reuse_old_session(self, page: Page) -> bool:
        """A flow without ``logout``: before a new login, reuse the session the portal may
        still hold for us (True) rather than open a second one; False: it has ended."""
        if await self._resume(page):
            self._logged_in = True
            log.info("portal.session_reused", account=self.account)
            return True
        self._may_be_live = False
        return False

    async def _resume(self, page: Page) -> bool:
        """The flow's resume, where a page saying "your session ended" is just False."""
        try:
            return await self.flow.resume(page)
        except SessionExpired:
            return False

    async def login(self) -> LoginInfo | None:
        """Log in (never traced); keep the new session; tell the owner what the portal said."""
        page = await self._ensure_context()
        assert self._context is not None
        self._logged_in = False
        tracing = self._tracing
        if tracing:  # a new recording after the login: resources would outlive a mere chunk
            await self._context.tracing.stop()
            self._tracing = False
        # Never two live sessions of one account: the one the portal may still hold for us
        # (an expiry read on a page that was a fault, a login that failed half-way or was
        # cut off, a kept session whose check failed) is signed out first. A sign out the
        # portal did not confirm raises: no login this attempt (the next one tries again).
        # After the recording stopped: the page may still show a failed login's form.
        if self._may_be_live and self.flow.can_logout():
            await self.flow.logout(page)
            log.info("portal.logged_out_before_login", account=self.account)
        self._may_be_live = True  # from here the portal may have opened a session
        self.logins += 1
        log.info("portal.login", account=self.account, attempt=self.logins)
        try:
            info = await self.flow.login(page, self._secrets)
        except AuthenticationError:
            self._may_be_live = False  # refused: the portal opened no session
            if self._vault is not None:
                self._vault.discard(self.portal_id, self.account)
            raise
        except PortalError:
            self._login_unsure = True  # the next ready() asks the portal first
            raise
        # Only now: a login that failed leaves the filled form on screen, and a snapshot of
        # it would hold the password. Such an attempt keeps its screenshot, not a trace.
        if tracing:
            await self._start_trace()
        self._logged_in = True
        self.last_info = info
        if info is not None and info.password_expires_in_days is not None:
            log.warning(
                "portal.password_expiring",
                account=self.account,
                days_left=info.password_expires_in_days,
            )
        if self._on_login is not None:
            await self._on_login(self, info)
        await self.keep()
        return info

    async def keep(self) -> None:
        """Save the session (encrypted) for the next run or process."""
        if self._vault is not None and self._context is not None and self._logged_in:
            state = await self._context.storage_state()
            self._vault.save(self.portal_id, self.account, self._secrets.username, dict(state))

    async def _recycle(self) -> None:
        assert self._context is not None
        state = await self._context.storage_state()
        await self._close_context()
        page = await self._open_context(storage_state=state)
        if self._logged_in:
            try:
                live = await self._resume(page)
            except PortalError:  # a 429 or an outage says nothing: ready() asks again
                self._logged_in, self._login_unsure = False, True
            except Exception as exc:  # a browser error on the way: the lookup will tell
                log.info("portal.recycle_unchecked", account=self.account, error=type(exc).__name__)
            else:
                self._logged_in = live  # not live: ready() ends the old session, logs in again
        log.info("portal.context_recycled", account=self.account)

    def counted_lookup(self) -> None:
        self._lookups_in_context += 1

    def read_only_violation(self) -> ReadOnlyViolation | None:
        return self._guard.take()

    @property
    def page(self) -> Page | None:
        return self._page

    async def begin_attempt(self, attempt: int) -> None:
        """Open or recycle the context, and record this attempt (its login included) in a
        trace when the trace setting asks for it."""
        if self._page is None:
            await self._ensure_context()
        elif self._lookups_in_context >= self._portal_settings.lookups_per_context:
            await self._recycle()
        mode = self._browser_settings.trace
        wanted = mode == "always" or (mode == "retries" and attempt > 1)
        if wanted and not self._tracing:
            await self._start_trace()

    async def _start_trace(self) -> None:
        if self._context is not None:
            await self._context.tracing.start(screenshots=True, snapshots=True)
            self._tracing = True

    async def end_trace(self, keep_at: Path | None) -> Path | None:
        """Stop recording; keep the trace only when asked (failed attempts)."""
        if not (self._tracing and self._context is not None):
            return None
        self._tracing = False
        if keep_at is None:
            await self._context.tracing.stop()
            return None
        private_dir(keep_at.parent)
        await self._context.tracing.stop(path=keep_at)
        keep_at.chmod(0o600)
        return keep_at

    async def _close_context(self) -> None:
        if self._context is not None:
            if self._tracing:
                with contextlib.suppress(Exception):  # closing anyway
                    await self._context.tracing.stop()
            await self._context.close()
        self._context = None
        self._page = None
        self._tracing = False

    async def close(self) -> None:
        """Keep the session for the next run (not logged out: that is the point) and close."""
        if self._context is not None:
            with contextlib.suppress(Exception):  # a dead browser: nothing to keep
                await self.keep()
        await self._close_context()


class ChromiumSessions:
    """Sessions as contexts of one Chromium per process: started on first need, or the
    caller's long-lived browser (the console), which is used and left open."""

    def __init__(
        self, settings: Settings, vault: SessionVault | None, browser: Browser | None = None
    ) -> None:
        self.settings = settings
        self.vault = vault
        self._browser = browser
        self._owned = browser is None
        self._playwright: Playwright | None = None
        self._lock = asyncio.Lock()

    @property
    def version(self) -> str | None:
        return self._browser.version if self._browser is not None else None

    async def start(self) -> None:
        async with self._lock:
            if self._browser is None:
                self._playwright = await async_playwright().start()
                self._browser = await browser_mod.launch(self._playwright, self.settings.browser)
                log.info("browser.start", version=self._browser.version)

    def open(
        self,
        flow: PortalFlow,
        portal_id: str,
        account: str,
        secrets: LoginSecrets,
        on_login: OnLogin,
    ) -> PortalSession:
        assert self._browser is not None, "start() first"
        return PortalSession(
            self._browser,
            flow,
            portal_id,
            account,
            secrets,
            self.settings.browser,
            self.settings.portals[portal_id],
            vault=self.vault,
            on_login=on_login,
        )

    @asynccontextmanager
    async def fresh_page(self, flow: PortalFlow | None = None) -> AsyncIterator[Page]:
        assert self._browser is not None, "start() first"
        async with browser_mod.fresh_page(self._browser, self.settings.browser, flow) as page:
            yield page

    async def close(self) -> None:
        if self._owned:
            browser, self._browser = self._browser, None
            try:
                if browser is not None:
                    await browser.close()
            finally:
                if self._playwright is not None:
                    await self._playwright.stop()
                    self._playwright = None
