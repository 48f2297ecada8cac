"""An attempt's evidence: an answer's screenshot is its result region (within the viewport),
the viewport when the flow names none or the region is not shown, a failure's the whole
page; the file is written in a thread, owner-only, and exists once ``saved()`` returns."""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from bots.engine import browser as browser_mod
from bots.engine.evidence import EvidenceFolder
from bots.settings import Settings, load_settings
from bots.store import WorkItem
from tests.conftest import run_async

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PAGE = """<!doctype html><html><body style="margin:0">
<header style="height:400px;background:#ddd">search form</header>
<section id="results" aria-label="Eligibility results"
  style="margin-left:100px;width:600px;height:{height}px;background:#cfc">answer</section>
<footer style="height:900px">more page</footer></body></html>"""


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def _item(n: int) -> WorkItem:
    return WorkItem(n, f"ref-{n}", "eligibility", "ALPHA", "alpha", {}, 1, None)


def _with_page(settings: Settings, body: Callable[[Page], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with async_playwright() as pw:
            browser = await browser_mod.launch(pw, settings.browser)
            try:
                page = await browser.new_page(viewport={"width": 1000, "height": 700})
                return await body(page)
            finally:
                await browser.close()

    return run_async(go())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var", browser={"evidence_format": "png"})


def test_an_answer_is_its_region_a_failure_the_whole_page(settings):
    evidence = EvidenceFolder(settings)

    async def body(page: Page) -> dict[str, Path | None]:
        await page.set_content(PAGE.format(height=200))
        shots = {
            "region": await evidence.capture(page, "run", _item(1), region="#results"),
            "missing": await evidence.capture(page, "run", _item(2), region="#nothing-here"),
            "none": await evidence.capture(page, "run", _item(3)),
            "failure": await evidence.capture(page, "run", _item(4), whole_page=True),
        }
        return {k: await s.saved() if s is not None else None for k, s in shots.items()}

    paths = _with_page(settings, body)
    assert all(p is not None and p.is_file() for p in paths.values()), paths
    assert _png_size(paths["region"]) == (600, 200), "only the result region"
    assert _png_size(paths["missing"]) == (1000, 700), "no such region: the viewport"
    assert _png_size(paths["none"]) == (1000, 700), "no region declared: the viewport"
    assert _png_size(paths["failure"]) == (1000, 1500), "a failure: the whole page"
    assert {p.stat().st_mode & 0o777 for p in paths.values()} == {0o600}
    assert paths["region"].name == "item-1-try1.png"  # by item and try, never by patient


def test_a_region_taller_than_the_viewport_is_taken_from_its_top_one_viewport_high(settings):
    evidence = EvidenceFolder(settings)

    async def body(page: Page) -> Path | None:
        await page.set_content(PAGE.format(height=2000))
        shot = await evidence.capture(page, "run", _item(1), region="role=region[name=/results/]")
        top = await page.evaluate("document.getElementById('results').getBoundingClientRect().top")
        assert top == 0, "the region's top was brought into view"
        return await shot.saved() if shot is not None else None

    path = _with_page(settings, body)
    assert path is not None and _png_size(path) == (600, 700)


def test_a_screenshot_that_cannot_be_written_leaves_no_path(settings, tmp_path):
    evidence = EvidenceFolder(settings)
    blocker = settings.data_dir / "evidence" / "run"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the run's folder would go")

    async def body(page: Page) -> Path | None:
        await page.set_content(PAGE.format(height=200))
        shot = await evidence.capture(page, "run", _item(1), region="#results")
        assert shot is not None, "the pixels were taken"
        return await shot.saved()

    assert _with_page(settings, body) is None


def test_a_region_inside_a_frame_is_taken_where_the_frame_shows_it(settings):
    evidence = EvidenceFolder(settings)
    inner = '<body style="margin:0"><div style="height:50px"></div><div id="answer" style="width:300px;height:120px;background:#cfc">answer</div></body>'
    outer = (
        '<body style="margin:0"><div style="height:100px"></div>'
        f'<iframe name="main" style="border:0;width:500px;height:400px" srcdoc=\'{inner}\'></iframe></body>'
    )

    async def body(page: Page) -> dict[str, Path | None]:
        await page.set_content(outer)
        await page.frame_locator("iframe").locator("#answer").wait_for()
        inside = "iframe[name=main] >> internal:control=enter-frame >> #answer"
        shots = {
            "inside": await evidence.capture(page, "run", _item(1), region=inside),
            "frame": await evidence.capture(page, "run", _item(2), region="iframe[name=main]"),
        }
        return {k: await s.saved() if s is not None else None for k, s in shots.items()}

    paths = _with_page(settings, body)
    assert paths["inside"] is not None and _png_size(paths["inside"]) == (300, 120)
    assert paths["frame"] is not None and _png_size(paths["frame"]) == (500, 400)
