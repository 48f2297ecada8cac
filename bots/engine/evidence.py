"""Evidence of an attempt: screenshots, traces and files a portal hands over, written owner-only
and named by run, item and try, never by patient."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from bots.files import private_dir
from bots.logs import get_logger
from bots.settings import Settings
from bots.store import WorkItem

log = get_logger("payerbot.evidence")


class EvidenceFolder:
    """Where one attempt's evidence goes: ``<data>/<folder>/<run>/item-<id>-try<n>.<ext>``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def path(self, folder: str, run_id: str, item: WorkItem, ext: str) -> Path:
        name = f"item-{item.id}-try{item.attempts}.{ext}"
        return self.settings.data_dir / folder / run_id / name

    def save_attachment(
        self, run_id: str, item: WorkItem, number: int, filename: str, content: bytes
    ) -> Path:
        """Files from portals are named by us: item, try, number and a sanitized extension."""
        suffix = re.sub(r"[^a-z0-9]", "", Path(filename).suffix.lower())[:8] or "bin"
        path = self.path("evidence", run_id, item, f"file{number}.{suffix}")
        private_dir(path.parent)
        path.write_bytes(content)
        path.chmod(0o600)
        return path

    async def screenshot(self, page: Page | None, run_id: str, item: WorkItem) -> Path | None:
        """A full-page screenshot of where the attempt ended (None: no page, or it failed)."""
        if page is None:
            return None
        browser = self.settings.browser
        fmt = browser.evidence_format
        path = self.path("evidence", run_id, item, "jpg" if fmt == "jpeg" else "png")
        private_dir(path.parent)
        try:
            await page.screenshot(
                path=str(path),
                full_page=True,
                timeout=10_000,
                type=fmt,
                quality=browser.evidence_quality if fmt == "jpeg" else None,
                animations="disabled",
                caret="initial",
            )
        except PlaywrightError:
            log.warning("evidence.screenshot_failed")
            return None
        path.chmod(0o600)
        return path
