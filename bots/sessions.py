"""Portal sessions: one browser context per portal account, logged in once, reused, recycled.

The context keeps the portal's cookies, so every lookup after the first skips the
login. After ``lookups_per_context`` lookups the context is replaced by a fresh one
carrying the same storage state (bounded memory, still no new login).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Route

from bots.files import private_dir
from bots.flow import LoginSecrets, PortalFlow
from bots.logs import get_logger
from bots.settings import BrowserSettings, PortalSettings

log = get_logger("payerbot.sessions")


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
        self.logins = 0

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
        if bs.block_resource_types:
            blocked = set(bs.block_resource_types)

            async def _block(route: Route) -> None:
                if route.request.resource_type in blocked:
                    await route.abort()
                else:
                    await route.fallback()

            await context.route("**/*", _block)
        self._context = context
        self._page = await context.new_page()
        self._lookups_in_context = 0
        return self._page

    async def ready(self) -> Page:
        """A page inside a live session: opens the context or logs in as needed."""
        if self._page is None:
            await self._open_context()
        assert self._page is not None
        if not self._logged_in or not await self.flow.is_logged_in(self._page):
            await self.login()
        return self._page

    def logged_out(self) -> None:
        """The portal ended our session: the next ``ready()`` logs in again."""
        self._logged_in = False

    async def login(self) -> None:
        assert self._page is not None
        self._logged_in = False
        self.logins += 1
        log.info("portal.login", account=self.account, attempt=self.logins)
        await self.flow.login(self._page, self._secrets)
        self._logged_in = True

    async def _recycle(self) -> None:
        assert self._context is not None
        state = await self._context.storage_state()
        await self._close_context()
        await self._open_context(storage_state=state)
        await self._page.goto(self.flow.base_url)  # type: ignore[union-attr]
        log.info("portal.context_recycled", account=self.account)

    def counted_lookup(self) -> None:
        self._lookups_in_context += 1

    @property
    def page(self) -> Page | None:
        return self._page

    async def begin_attempt(self, attempt: int) -> None:
        """Open or recycle the context, and record this attempt (its login included) in a
        trace when the trace setting asks for it."""
        if self._page is None:
            await self._open_context()
        elif self._lookups_in_context >= self._portal_settings.lookups_per_context:
            await self._recycle()
        mode = self._browser_settings.trace
        wanted = mode == "always" or (mode == "retries" and attempt > 1)
        if wanted and self._context is not None and not self._tracing:
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
        await self._close_context()
