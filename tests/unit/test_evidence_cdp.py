"""Screenshots through the page's CDP session (Chromium): the same pictures as Playwright's own
(the region where it shows, even on a scrolled page; the viewport; a failure's whole page),
one session per page, and Playwright's screenshot whenever CDP is not there or fails."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from bots.engine.evidence import EvidenceFolder
from bots.settings import Settings
from tests.unit import test_evidence
from tests.unit.test_evidence import _item

settings = test_evidence.settings  # the evidence tests' settings (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

GREEN = (0, 200, 0)
PAGE = """<!doctype html><html><body style="margin:0;background:#fff">
<header style="height:1200px;background:#888">search form</header>
<section id="results" style="margin-left:100px;width:600px;height:300px;background:#00c800">
answer</section><footer style="height:1500px;background:#888">more page</footer></body></html>"""
"""A 3000 px page whose result region (green) starts 1200 px down."""


def _png(path: Path) -> tuple[int, int, tuple[int, int, int]]:
    """Width, height and the top-left pixel's colour of a PNG (any filter reads the first
    pixel of the first row as it is)."""
    raw = path.read_bytes()
    width, height, _depth, colour = struct.unpack(">IIBB", raw[16:26])
    at, idat = 8, b""
    while at < len(raw):
        (length,) = struct.unpack(">I", raw[at : at + 4])
        if raw[at + 4 : at + 8] == b"IDAT":
            idat += raw[at + 8 : at + 8 + length]
        at += 12 + length
    pixels = zlib.decompress(idat)
    assert colour in (2, 6), "RGB or RGBA"
    return width, height, (pixels[1], pixels[2], pixels[3])


def _with_page(settings: Settings, body: Callable[[Page], Awaitable[Any]]) -> Any:
    """``body`` on a fresh page holding PAGE (tests/unit/test_evidence.py's browser)."""

    async def on_page(page: Page) -> Any:
        await page.set_content(PAGE)
        return await body(page)

    return test_evidence._with_page(settings, on_page)


def _count_cdp_sessions(page: Page, make: Callable[[], Any] | None = None) -> list[int]:
    """Count the CDP sessions opened on the page's context (``make``: what each is instead)."""
    opened = [0]
    real = page.context.new_cdp_session

    async def counting(target: Any) -> Any:
        opened[0] += 1
        return make() if make is not None else await real(target)

    page.context.new_cdp_session = counting  # type: ignore[method-assign]
    return opened


def _forbid_playwright_screenshots(page: Page) -> None:
    async def refused(**_: Any) -> bytes:
        raise AssertionError("Playwright's screenshot was used where CDP should be")

    page.screenshot = refused  # type: ignore[method-assign]


def test_cdp_takes_the_region_where_it_shows_on_a_scrolled_page_with_one_session(settings):
    evidence = EvidenceFolder(settings)

    async def body(page: Page) -> dict[str, Path | None]:
        opened = _count_cdp_sessions(page)
        _forbid_playwright_screenshots(page)
        shots = {}
        # Scrolled so that the region shows whole 300 px down: no scroll needed, the clip
        # is in the document's coordinates.
        await page.evaluate("scrollTo(0, 900)")
        shots["shown"] = await evidence.capture(page, "run", _item(1), region="#results")
        assert await page.evaluate("scrollY") == 900, "a region in view is not scrolled to"
        # Scrolled past it: its top is brought back into view.
        await page.evaluate("scrollTo(0, 2000)")
        shots["above"] = await evidence.capture(page, "run", _item(2), region="#results")
        shots["viewport"] = await evidence.capture(page, "run", _item(3))
        shots["failure"] = await evidence.capture(page, "run", _item(4), whole_page=True)
        assert opened == [1], "one CDP session for the page, reused"
        return {k: await s.saved() if s is not None else None for k, s in shots.items()}

    paths = _with_page(settings, body)
    assert all(p is not None for p in paths.values()), paths
    assert _png(paths["shown"]) == (600, 300, GREEN)  # type: ignore[arg-type]
    assert _png(paths["above"]) == (600, 300, GREEN)  # type: ignore[arg-type]
    assert _png(paths["viewport"])[:2] == (1000, 700)  # type: ignore[index]
    width, height, top_left = _png(paths["failure"])  # type: ignore[arg-type]
    assert (width, height) == (1000, 3000), "a failure: the whole page, from its top"
    assert top_left == (136, 136, 136)
    assert {p.stat().st_mode & 0o777 for p in paths.values() if p} == {0o600}


class _BrokenCdp:
    """A CDP session whose every message fails (a target gone, a protocol error)."""

    detached = 0

    async def send(self, method: str, params: Any = None) -> Any:
        raise PlaywrightError(f"{method}: Target closed")

    async def detach(self) -> None:
        _BrokenCdp.detached += 1


def test_a_failing_cdp_session_falls_back_to_playwright_and_is_opened_again(settings):
    evidence = EvidenceFolder(settings)
    _BrokenCdp.detached = 0

    async def body(page: Page) -> dict[str, Path | None]:
        opened = _count_cdp_sessions(page, _BrokenCdp)
        shots = {
            "region": await evidence.capture(page, "run", _item(1), region="#results"),
            "failure": await evidence.capture(page, "run", _item(2), whole_page=True),
        }
        assert opened == [2], "a session that failed is not kept"
        return {k: await s.saved() if s is not None else None for k, s in shots.items()}

    paths = _with_page(settings, body)
    assert _BrokenCdp.detached == 2
    assert _png(paths["region"]) == (600, 300, GREEN)  # type: ignore[arg-type]
    assert _png(paths["failure"])[:2] == (1000, 3000)  # type: ignore[index]


def test_a_browser_without_cdp_uses_playwrights_screenshot_and_asks_once(settings):
    evidence = EvidenceFolder(settings)

    def refused() -> Any:
        raise PlaywrightError("CDP session is only available in Chromium")

    async def body(page: Page) -> list[Path | None]:
        opened = _count_cdp_sessions(page, refused)
        shots = [await evidence.capture(page, "run", _item(n), region="#results") for n in (1, 2)]
        assert opened == [1], "a browser without CDP is asked once per page"
        return [await s.saved() if s is not None else None for s in shots]

    paths = _with_page(settings, body)
    assert [_png(p) for p in paths] == [(600, 300, GREEN)] * 2  # type: ignore[arg-type]
