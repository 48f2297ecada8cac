"""Which Chromium to run, and one browser per process.

Resolution order: an explicit setting (PAYERBOT_BROWSER__EXECUTABLE), Playwright's own
Chromium if installed, Debian's headless shell, Debian's full Chromium. The
``/usr/bin/chromium`` wrapper script is avoided: it loads extensions and starts slowly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.async_api import Browser, Page, Playwright

from bots.errors import ConfigurationError
from bots.flowkit.readonly import ReadOnlyGuard, ReadOnlyPolicy
from bots.settings import BrowserSettings

if TYPE_CHECKING:
    from bots.flowkit.flow import PortalFlow

SYSTEM_CANDIDATES = (
    Path("/usr/lib/chromium/chromium-headless-shell"),
    Path("/usr/lib/chromium/chromium"),
)

INSTALL_HINT = (
    "No Chromium found. Run `python -m playwright install chromium`, or on Debian/Ubuntu "
    "`sudo apt-get install chromium-headless-shell` (or `chromium`), or set "
    "PAYERBOT_BROWSER__EXECUTABLE to a Chromium binary."
)

LAUNCH_ARGS = [
    # This machine has no route out: keep Chromium from dialling home at start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]


def playwright_chromium() -> Path | None:
    """Playwright's own downloaded Chromium, if `playwright install chromium` ever worked."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            path = Path(p.chromium.executable_path)
    except Exception:
        return None
    return path if path.is_file() else None


def resolve_executable(settings: BrowserSettings, *, own: Path | None = None) -> Path | None:
    """The binary to launch; None means Playwright's own (found at ``own``)."""
    if settings.executable is not None:
        if not settings.executable.is_file():
            raise ConfigurationError(
                f"PAYERBOT_BROWSER__EXECUTABLE points at no file: {settings.executable}"
            )
        return settings.executable
    if own is not None and own.is_file():
        return None
    for candidate in SYSTEM_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise ConfigurationError(INSTALL_HINT)


async def launch(playwright: Playwright, settings: BrowserSettings) -> Browser:
    own = Path(playwright.chromium.executable_path)
    executable = resolve_executable(settings, own=own)
    return await playwright.chromium.launch(
        executable_path=str(executable) if executable else None,
        headless=settings.headless,
        args=LAUNCH_ARGS,
    )


@asynccontextmanager
async def fresh_page(
    browser: Browser, settings: BrowserSettings, flow: PortalFlow | None = None
) -> AsyncIterator[Page]:
    """A page in a context of its own, outside any session (closed afterwards), under the
    flow's read-only guard (no flow: nothing but reads); ``guard_of(page)`` tells what it
    stopped."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        context.set_default_timeout(settings.action_timeout_ms)
        context.set_default_navigation_timeout(settings.navigation_timeout_ms)
        policy = flow.read_only_policy() if flow is not None else ReadOnlyPolicy(origin="")
        await ReadOnlyGuard(policy).install(
            context, block_resource_types=settings.block_resource_types
        )
        yield await context.new_page()
    finally:
        await context.close()
