"""One Chromium per test module on its own event-loop thread, for async flow code in tests
(pytest-playwright keeps the main thread's loop busy with its sync API); each test opens a
fresh context from it, i.e. a computer the portal never saw."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright

from bots.engine import browser as browser_mod
from bots.flowkit.flow import PortalFlow
from bots.flowkit.readonly import ReadOnlyGuard
from bots.settings import load_settings
from tests.timing import scaled

F = TypeVar("F", bound=PortalFlow)


class BrowserThread:
    """The browser and the loop it lives on; ``run`` waits for a coroutine on that loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.playwright: Playwright = self.run(async_playwright().start())
        self.browser: Browser = self.run(
            browser_mod.launch(self.playwright, load_settings().browser)
        )

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=scaled(240))

    def on_guarded_page(
        self,
        flow: F,
        body: Callable[[Page, F], Awaitable[Any]],
        *,
        timeout_seconds: float,
    ) -> Any:
        """``body(page, flow)`` on a page of a fresh context (a computer the portal never
        saw), read-only guarded as the engine's contexts are; the flow must have sent only
        what it declares."""

        async def main() -> Any:
            context = await self.browser.new_context()
            try:
                guard = ReadOnlyGuard(flow.read_only_policy())
                await guard.install(context)
                page = await context.new_page()
                page.set_default_timeout(scaled(timeout_seconds) * 1000)
                answer = await body(page, flow)
                assert guard.violations == []  # the flow only sent what it declares
                return answer
            finally:
                await context.close()

        return self.run(main())

    def close(self) -> None:
        self.run(self.browser.close())
        self.run(self.playwright.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=scaled(10))


@pytest.fixture(scope="module")
def chromium() -> Iterator[BrowserThread]:
    """The module's browser (import this fixture into the test module)."""
    browser = BrowserThread()
    try:
        yield browser
    finally:
        browser.close()
