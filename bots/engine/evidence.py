"""Evidence of an attempt: screenshots, traces and files a portal hands over, written owner-only
and named by run, item and try, never by patient."""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import FloatRect, Page

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

    async def capture(
        self,
        page: Page | None,
        run_id: str,
        item: WorkItem,
        *,
        region: str | None = None,
        whole_page: bool = False,
    ) -> Shot | None:
        """Take a screenshot of where the attempt ended and start writing it (None: no page,
        or it failed). The pixels are taken now, before the page changes; the file is written
        in a thread while the caller goes on (``Shot.saved()`` waits for it).

        ``whole_page``: the full page (a failure: the supervisor needs the context).
        Otherwise ``region`` (a Playwright selector, the flow's ``result_region``) when it is
        visible, else the viewport: an answer's evidence is the answer, cheaply."""
        if page is None:
            return None
        fmt = self.settings.browser.evidence_format
        path = self.path("evidence", run_id, item, "jpg" if fmt == "jpeg" else "png")
        try:
            data = await self._pixels(page, region, whole_page)
        except PlaywrightError:
            log.warning("evidence.screenshot_failed")
            return None
        return Shot(path, asyncio.create_task(asyncio.to_thread(_write_private, path, data)))

    async def _pixels(self, page: Page, region: str | None, whole_page: bool) -> bytes:
        browser = self.settings.browser
        fmt = browser.evidence_format
        quality = browser.evidence_quality if fmt == "jpeg" else None
        clip = await _region_clip(page, region) if region is not None and not whole_page else None
        if clip is not None:
            try:
                return await page.screenshot(
                    clip=clip,
                    timeout=REGION_TIMEOUT_MS,
                    type=fmt,
                    quality=quality,
                    animations="disabled",
                    caret="initial",
                )
            except PlaywrightError:  # moved or went away meanwhile: the viewport instead
                log.info("evidence.region_not_captured")
        return await page.screenshot(
            full_page=whole_page,
            timeout=10_000,
            type=fmt,
            quality=quality,
            animations="disabled",
            caret="initial",
        )

    async def screenshot(
        self,
        page: Page | None,
        run_id: str,
        item: WorkItem,
        *,
        region: str | None = None,
        whole_page: bool = True,
    ) -> Path | None:
        """A screenshot written to its file (``capture`` then ``saved``)."""
        shot = await self.capture(page, run_id, item, region=region, whole_page=whole_page)
        return await shot.saved() if shot is not None else None


REGION_TIMEOUT_MS = 2_000
"""How long the region's screenshot may take before the viewport is taken instead."""

_TOP_INTO_VIEW = """els => {
    const e = els.find(e => e.checkVisibility ? e.checkVisibility() : e.offsetParent !== null);
    if (!e) return null;
    let r = e.getBoundingClientRect();
    if (r.top < 0 || r.top + Math.min(r.height, innerHeight) > innerHeight) {
        e.scrollIntoView({block: "start", inline: "nearest"});
        r = e.getBoundingClientRect();
    }
    if (window !== window.top) return "frame";
    return {x: r.x, y: r.y, width: r.width, height: r.height};
}"""
"""In one round trip: the first visible match, its top brought into the viewport (as much of
it as the viewport holds), and where it is (a page's own coordinates; "frame": inside a
frame, whose position the caller asks Playwright for)."""


async def _region_clip(page: Page, region: str) -> FloatRect | None:
    """Where the region shows, within the viewport (None: not there, or not visible).

    A region taller than the viewport is taken from its top, one viewport high: a capture
    beyond the viewport costs as much as a full page (docs/profile.md), and the top of a
    result region is the answer (who, what, the status)."""
    found = page.locator(region)
    try:
        box = await found.evaluate_all(_TOP_INTO_VIEW)  # never waits: none found is None
        if box == "frame":
            box = await found.first.bounding_box(timeout=REGION_TIMEOUT_MS)
    except PlaywrightError:
        return None
    view = page.viewport_size
    if not isinstance(box, dict) or view is None:
        return None
    left, top = max(box["x"], 0.0), max(box["y"], 0.0)
    width = min(box["x"] + box["width"], view["width"]) - left
    height = min(box["y"] + box["height"], view["height"]) - top
    if width < 1 or height < 1:
        return None
    return {"x": left, "y": top, "width": width, "height": height}


@dataclass
class Shot:
    """A screenshot taken, its file being written in a thread."""

    path: Path
    writing: asyncio.Task[None]

    async def saved(self) -> Path | None:
        """The file once written (None: it could not be written)."""
        try:
            await self.writing
        except OSError:
            log.warning("evidence.write_failed")
            return None
        return self.path


def _write_private(path: Path, data: bytes) -> None:
    """Write the file owner-only from its first byte (never readable by others meanwhile)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, 0o600)  # a file left by an earlier try keeps no wider mode
        file.write(data)
