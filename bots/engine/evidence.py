"""Evidence of an attempt: screenshots, traces and files a portal hands over, written owner-only
and named by run, item and try, never by patient."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import CDPSession, FloatRect, Page
from playwright.async_api import Error as PlaywrightError

from bots.files import private_dir
from bots.logs import get_logger
from bots.settings import Settings
from bots.store import WorkItem

log = get_logger("payerbot.evidence")


class EvidenceFolder:
    """Where one attempt's evidence goes: ``<data>/<folder>/<run>/item-<id>-try<n>.<ext>``."""

    def __init__(self, settings: Settings, *, cdp: bool = True) -> None:
        """``cdp``: an answer's screenshot through the page's CDP session where the browser
        has one (Chromium); False: always Playwright's (benchmarks/evidence_cost.py)."""
        self.settings = settings
        self.use_cdp = cdp
        # Each page's CDP session for screenshots (None: the browser offers none), reused
        # for the page's life; a page closed is forgotten with it.
        self._cdp: weakref.WeakKeyDictionary[Page, CDPSession | None] = weakref.WeakKeyDictionary()

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

    async def _pixels(self, page: Page, region: str | None, whole_page: bool) -> bytes | str:
        """The screenshot's bytes (or their base64 text, decoded in the writing thread).

        Taken through the page's CDP session in Chromium: one message (two for a whole
        page), without Playwright's preparation of the page (fonts, animations, the caret,
        a scroll read; docs/profile.md). When CDP is not there (another browser) or fails,
        Playwright's own screenshot takes it."""
        browser = self.settings.browser
        fmt = browser.evidence_format
        quality = browser.evidence_quality if fmt == "jpeg" else None
        clip = await _region_clip(page, region) if region is not None and not whole_page else None
        cdp = await self._cdp_session(page) if self.use_cdp else None
        if cdp is not None:
            try:
                return await _cdp_pixels(cdp, fmt, quality, clip, whole_page)
            except (PlaywrightError, TimeoutError, KeyError, TypeError):
                log.info("evidence.cdp_not_captured")  # Playwright's own, below
                await self._forget_cdp(page)
        if clip is not None:
            try:
                return await page.screenshot(
                    clip=_viewport_clip(clip),
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
            timeout=FULL_PAGE_TIMEOUT_MS,
            type=fmt,
            quality=quality,
            animations="disabled",
            caret="initial",
        )

    async def _cdp_session(self, page: Page) -> CDPSession | None:
        """The page's CDP session, opened once (None: not Chromium, or it refused)."""
        if page in self._cdp:
            return self._cdp[page]
        session: CDPSession | None = None
        try:
            session = await page.context.new_cdp_session(page)
        except PlaywrightError:  # Firefox, WebKit: Playwright's screenshots only
            log.info("evidence.cdp_unavailable")
        self._cdp[page] = session
        return session

    async def _forget_cdp(self, page: Page) -> None:
        """A session that failed is closed; the next capture opens another."""
        session = self._cdp.pop(page, None)
        if session is not None:
            with contextlib.suppress(PlaywrightError):
                await session.detach()

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
FULL_PAGE_TIMEOUT_MS = 10_000
"""How long the viewport's or the whole page's screenshot may take."""


class Clip(FloatRect):
    """A region's place: ``x``, ``y``, ``width``, ``height`` within the viewport, and the
    page's scroll offsets (``scroll_x``, ``scroll_y``): CDP clips in the document's
    coordinates, Playwright within the viewport."""

    scroll_x: float
    scroll_y: float


async def _cdp_pixels(
    cdp: CDPSession, fmt: str, quality: int | None, clip: Clip | None, whole_page: bool
) -> str:
    """``clip`` of the viewport, the viewport, or the whole page (``whole_page``), as base64
    (what CDP answers; decoded in the thread that writes the file). An answer is never taken
    beyond the viewport: that costs as much as a full page."""
    params: dict[str, Any] = {"format": fmt, "optimizeForSpeed": True}
    if quality is not None:
        params["quality"] = quality
    async with asyncio.timeout((FULL_PAGE_TIMEOUT_MS if whole_page else REGION_TIMEOUT_MS) / 1000):
        if whole_page:
            size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": math.ceil(size["width"]),
                "height": math.ceil(size["height"]),
                "scale": 1,
            }
        else:
            params["captureBeyondViewport"] = False
            if clip is not None:
                params["clip"] = {
                    "x": clip["x"] + clip["scroll_x"],
                    "y": clip["y"] + clip["scroll_y"],
                    "width": clip["width"],
                    "height": clip["height"],
                    "scale": 1,
                }
        got = await cdp.send("Page.captureScreenshot", params)
    data: str = got["data"]
    return data


def _viewport_clip(clip: Clip) -> FloatRect:
    return {k: clip[k] for k in ("x", "y", "width", "height")}  # type: ignore[return-value]


_TOP_INTO_VIEW = """els => {
    const e = els.find(e => e.checkVisibility ? e.checkVisibility() : e.offsetParent !== null);
    if (!e) return null;
    let r = e.getBoundingClientRect();
    if (r.top < 0 || r.top + Math.min(r.height, innerHeight) > innerHeight) {
        e.scrollIntoView({block: "start", inline: "nearest"});
        r = e.getBoundingClientRect();
    }
    if (window !== window.top) return "frame";
    return {x: r.x, y: r.y, width: r.width, height: r.height, sx: scrollX, sy: scrollY};
}"""
"""In one round trip: the first visible match, its top brought into the viewport (as much of
it as the viewport holds), where it is (within the viewport; "frame": inside a frame, whose
position the caller asks Playwright for) and how far the page is scrolled."""


async def _region_clip(page: Page, region: str) -> Clip | None:
    """Where the region shows, within the viewport (None: not there, or not visible).

    A region taller than the viewport is taken from its top, one viewport high: a capture
    beyond the viewport costs as much as a full page (docs/profile.md), and the top of a
    result region is the answer (who, what, the status)."""
    found = page.locator(region)
    try:
        box = await found.evaluate_all(_TOP_INTO_VIEW)  # never waits: none found is None
        if box == "frame":
            framed = await found.first.bounding_box(timeout=REGION_TIMEOUT_MS)
            scroll = await page.evaluate("() => ({sx: scrollX, sy: scrollY})")
            box = {**framed, **scroll} if framed is not None else None
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
    return {
        "x": left,
        "y": top,
        "width": width,
        "height": height,
        "scroll_x": box["sx"],
        "scroll_y": box["sy"],
    }


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


def _write_private(path: Path, data: bytes | str) -> None:
    """Write the file owner-only from its first byte (never readable by others meanwhile);
    ``data`` as text is base64 (CDP's answer), decoded here, off the lookup's path."""
    if isinstance(data, str):
        data = base64.b64decode(data)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, 0o600)  # a file left by an earlier try keeps no wider mode
        file.write(data)
