"""Browserless sessions for engine tests: the real Runner and Worker without Chromium. A
session logs in through its flow with a stand-in page (bots/flowkit/scripted.py); there is
nothing to screenshot or trace, so those steps do nothing.

    sessions = BrowserlessSessions()
    Runner(settings, store, flows={"hub": ScriptedFlow(...)}, session_factory=sessions)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bots.engine.sessions import OnLogin
from bots.errors import AuthenticationError, ReadOnlyViolation
from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow
from bots.flowkit.scripted import ScriptedPage

if TYPE_CHECKING:
    from playwright.async_api import Page


class BrowserlessSession:
    """One account's session without a browser: logged in once, again after an expiry."""

    def __init__(
        self,
        flow: PortalFlow,
        portal_id: str,
        account: str,
        secrets: LoginSecrets,
        on_login: OnLogin,
    ) -> None:
        self.flow = flow
        self.portal_id = portal_id
        self.account = account
        self.logins = 0
        self.resumed = False
        self.attempts: list[int] = []  # the attempt number of each item begun
        self.closed = False
        self.violations: list[ReadOnlyViolation] = []  # a test plays the guard's findings
        self._secrets = secrets
        self._on_login = on_login
        self._logged_in = False
        self._may_be_live = False  # the portal may hold a session of ours (see sessions.py)
        self._stand_in = cast("Page", ScriptedPage(account))

    @property
    def page(self) -> Page | None:
        return None  # nothing to screenshot

    async def ready(self) -> Page:
        if not self._logged_in:
            await self.login()
        return self._stand_in

    async def login(self) -> LoginInfo | None:
        """As PortalSession's: the session the portal may still hold is signed out first
        (a flow without ``logout``: logged into again, as a stand-in has no kept state)."""
        if self._may_be_live and self.flow.can_logout():
            await self.flow.logout(self._stand_in)
        self._may_be_live = False
        self._logged_in = False
        self.logins += 1
        self._may_be_live = True
        try:
            info = await self.flow.login(self._stand_in, self._secrets)
        except AuthenticationError:
            self._may_be_live = False
            raise
        self._logged_in = True
        await self._on_login(self, info)
        return info

    def logged_out(self) -> None:
        self._logged_in = False

    def counted_lookup(self) -> None:
        return None

    def read_only_violation(self) -> ReadOnlyViolation | None:
        return self.violations.pop(0) if self.violations else None

    async def begin_attempt(self, attempt: int) -> None:
        self.attempts.append(attempt)

    async def end_trace(self, keep_at: Path | None) -> Path | None:
        return None  # nothing recorded

    async def close(self) -> None:
        self.closed = True


class BrowserlessSessions:
    """A SessionFactory of browserless sessions; keeps every session it opened."""

    def __init__(self) -> None:
        self.opened: list[BrowserlessSession] = []

    @property
    def version(self) -> str | None:
        return None

    async def start(self) -> None:
        return None

    def open(
        self,
        flow: PortalFlow,
        portal_id: str,
        account: str,
        secrets: LoginSecrets,
        on_login: OnLogin,
    ) -> BrowserlessSession:
        session = BrowserlessSession(flow, portal_id, account, secrets, on_login)
        self.opened.append(session)
        return session

    @asynccontextmanager
    async def fresh_page(self, flow: PortalFlow | None = None) -> AsyncIterator[Page]:
        yield cast("Page", ScriptedPage(None))

    async def close(self) -> None:
        return None
