"""Landmarks, the drift canary's words: each kind found and missed in real Chromium, a select
inside its label, exact names, frame-scoped landmarks (a missing frame said as such), Page,
Frame and Locator roots, and the all-at-once check equal to one locator count after another
on the mock portals' own pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Frame, Locator, Page

from bots.engine.credentials import login_secrets
from bots.flowkit.pages import KINDS, Landmark, landmarks, missing_landmarks
from bots.ops import mock_portals as fixture_portals
from bots.settings import Settings, load_settings
from flows.legacyportal import LegacyPortalFlow
from flows.medicaidportal import MedicaidPortalFlow
from tests import browser_thread
from tests.browser_thread import BrowserThread
from tests.timing import scaled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

FORM = """<!doctype html><html><body>
<h1>Eligibility Inquiry</h1>
<section aria-label="Search by member">
  <label for="mid">Member ID</label><input id="mid">
  <label>Subscriber Member ID <input name="smid"></label>
  <label>Month <select name="month"><option>January</option><option selected>February</option>
  </select></label>
  <label>State <select name="state"><option selected>Month</option></select></label>
  <label>Year <input name="year" value="2026"> (four digits)</label>
  <label for="plan">Plan type</label><select id="plan"><option>Gold</option></select>
  <label><input type="checkbox" name="dep"> Include dependents</label>
  <label><input type="radio" name="net" value="in"> In network</label>
  <input aria-label="Group number">
  <button type="button">Search</button>
  <a href="#help">Help with this form</a>
</section>
</body></html>"""

FOUND = (
    "heading:Eligibility Inquiry",
    "region:Search by member",
    "label:Member ID",
    "label:Subscriber Member ID",
    "label:Month",
    "label:State",
    "label:Year (four digits)",
    "label:Plan type",
    "label:Include dependents",
    "label:In network",
    "label:Group number",
    "combobox:Month",
    "combobox:Plan type",
    "textbox:Member ID",
    "textbox:Group number",
    "checkbox:Include dependents",
    "radio:In network",
    "button:Search",
    "link:Help with this form",
)
NOT_THERE = (
    "heading:Claim Inquiry",
    "region:Search by claim",
    "label:Member",  # part of a name is not the name
    "label:member id",  # nor another case
    "label:January",  # an option is not the select's name
    "label:Month January",  # nor its label's words with the options
    "label:Year",  # the text after a wrapped input is part of its name
    "combobox:Member ID",  # a textbox is not a combobox
    "textbox:Month",
    "checkbox:In network",
    "radio:Include dependents",
    "button:Sear",
    "link:Help",
)


chromium = browser_thread.chromium  # the module's browser (a fixture)


@pytest.fixture
def with_page(chromium: BrowserThread) -> Callable[[Callable[[Page], Awaitable[Any]]], Any]:
    def run(body: Callable[[Page], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            context = await chromium.browser.new_context()
            try:
                page = await context.new_page()
                page.set_default_timeout(scaled(15) * 1000)
                return await body(page)
            finally:
                await context.close()

        return chromium.run(main())

    return run


async def one_by_one(
    root: Page | Frame | Locator, marks: tuple[Landmark, ...], where: str
) -> list[str]:
    """The locator way, one count after another: what ``missing_landmarks`` must equal."""
    out = []
    for mark in marks:
        scope: Page | Frame | Locator = root
        if mark.frame is not None:
            pages = root if isinstance(root, Page) else root.page
            frame = pages.frame(name=mark.frame)
            if frame is None:
                message = f"{where}: no frame {mark.frame!r}"
                out += [] if message in out else [message]
                continue
            scope = frame
        if not await mark.locate(scope).count():
            suffix = f" in frame {mark.frame!r}" if mark.frame else ""
            out.append(f"{where}: no {mark!r}{suffix}")
    return out


# --- kinds and names ---------------------------------------------------------------------


def test_each_kind_is_found_by_its_exact_name_and_missed_otherwise(with_page):
    async def body(page: Page) -> tuple[list[str], list[str]]:
        await page.set_content(FORM)
        found = await missing_landmarks(page, landmarks(*FOUND), "form")
        missed = await missing_landmarks(page, landmarks(*NOT_THERE), "form")
        return found, missed

    found, missed = with_page(body)
    assert found == []
    kinds_and_names = [spec.split(":", 1) for spec in NOT_THERE]
    assert missed == [f"form: no {kind} {name!r}" for kind, name in kinds_and_names]
    assert {spec.split(":")[0] for spec in FOUND} == set(KINDS)  # every kind was tried


def test_chromium_names_a_select_inside_its_label_by_the_label_words_alone(with_page):
    """What the browser itself computes (its accessibility tree), not only Playwright's
    reading of it: "Month" without the options, even the selected one; and every field
    Chromium names is found by a landmark of that name."""

    async def body(page: Page) -> tuple[dict[str, str], list[str]]:
        await page.set_content(FORM)
        cdp = await page.context.new_cdp_session(page)
        tree = await cdp.send("Accessibility.getFullAXTree")
        names = {
            node["name"]["value"]: node["role"]["value"]
            for node in tree["nodes"]
            if node.get("role", {}).get("value") in {"combobox", "textbox", "checkbox", "radio"}
        }
        marks = (
            *landmarks(*(f"{role}:{name}" for name, role in names.items())),
            *landmarks(*(f"label:{name}" for name in names)),
        )
        return names, await missing_landmarks(page, marks, "form")

    names, missing = with_page(body)
    assert names["Month"] == "combobox"
    assert names["State"] == "combobox"  # its selected option is "Month": not a second Month
    assert names["Year (four digits)"] == "textbox"
    assert not any("January" in name or "February" in name for name in names)
    assert len(names) == 9
    assert missing == []


def test_label_month_finds_only_the_select_labelled_month(with_page):
    async def body(page: Page) -> list[str]:
        await page.set_content(FORM)
        field = landmarks("label:Month")[0].locate(page)
        return [await field.count(), await field.get_attribute("name")]

    assert with_page(body) == [1, "month"]


def test_a_label_is_not_matched_inside_a_longer_one(with_page):
    async def body(page: Page) -> list[str]:
        await page.set_content(
            "<label>Subscriber Member ID <input name=smid></label>"
            "<label>Member ID Type <select><option>Member ID</option></select></label>"
        )
        return await missing_landmarks(page, landmarks("label:Member ID"), "search page")

    assert with_page(body) == ["search page: no label 'Member ID'"]


# --- frames and roots --------------------------------------------------------------------

FRAMESET = """<!doctype html><html><body><h1>Portal</h1>
<iframe name="main" srcdoc="&lt;label&gt;Member ID &lt;input&gt;&lt;/label&gt;&lt;button&gt;Search&lt;/button&gt;"></iframe>
<iframe src="{url}/menu.aspx"></iframe>
</body></html>"""
MENU = "<!doctype html><a href='#'>Log Off</a><label>Month <select><option>May</option></select></label>"


def _in_frames(body: Callable[[Page], Awaitable[Any]]) -> Callable[[Page], Awaitable[Any]]:
    """A page with a srcdoc frame named main and an unnamed frame whose URL is /menu.aspx."""

    async def go(page: Page) -> Any:
        url = "http://portal.test"
        await page.route(
            f"{url}/**", lambda route: route.fulfill(body=MENU, content_type="text/html")
        )
        await page.route(
            f"{url}/",
            lambda route: route.fulfill(body=FRAMESET.format(url=url), content_type="text/html"),
        )
        await page.goto(f"{url}/")
        await page.frame_locator("iframe[name=main]").get_by_role("button").wait_for()
        await page.frame_locator("iframe >> nth=1").get_by_role("link").wait_for()
        return await body(page)

    return go


def test_frame_scoped_landmarks_are_looked_for_in_that_frame_only(with_page):
    async def body(page: Page) -> dict[str, list[str]]:
        main = landmarks("label:Member ID", "button:Search", frame="main")
        return {
            "there": await missing_landmarks(page, main, "search page"),
            "not on the top page": await missing_landmarks(
                page, landmarks("label:Member ID"), "search page"
            ),
            "wrong frame": await missing_landmarks(
                page, landmarks("link:Log Off", "button:Search", frame="main"), "search page"
            ),
            "by URL path": await missing_landmarks(
                page, landmarks("link:Log Off", "label:Month", frame="menu.aspx"), "menu"
            ),
            "mixed": await missing_landmarks(
                page,
                (
                    *landmarks("heading:Portal", "heading:Claims"),
                    *main,
                    *landmarks("button:Go", frame="main"),
                ),
                "search page",
            ),
        }

    assert with_page(_in_frames(body)) == {
        "there": [],
        "not on the top page": ["search page: no label 'Member ID'"],
        "wrong frame": ["search page: no link 'Log Off' in frame 'main'"],
        "by URL path": [],
        "mixed": [
            "search page: no heading 'Claims'",
            "search page: no button 'Go' in frame 'main'",
        ],
    }


def test_a_missing_frame_is_said_once_instead_of_each_landmark_in_it(with_page):
    async def body(page: Page) -> list[str]:
        marks = (
            *landmarks("heading:Portal"),
            *landmarks("label:Member ID", "button:Search", frame="results"),
        )
        return await missing_landmarks(page, marks, "search page")

    assert with_page(_in_frames(body)) == ["search page: no frame 'results'"]


def test_a_frame_root_and_a_locator_root_are_checked_as_a_page_is(with_page):
    async def body(page: Page) -> dict[str, list[str]]:
        main = page.frame(name="main")
        assert main is not None
        top = page.main_frame
        section = page.locator("body")
        return {
            "frame root": await missing_landmarks(
                main, landmarks("label:Member ID", "button:Go"), "main"
            ),
            "frame root, frame inside it": await missing_landmarks(
                top, landmarks("button:Search", frame="main"), "top"
            ),
            "frame root, frame not inside it": await missing_landmarks(
                main, landmarks("link:Log Off", frame="menu.aspx"), "main"
            ),
            "locator root": await missing_landmarks(
                section, landmarks("heading:Portal", "button:Search"), "body"
            ),
            "locator root, a frame": await missing_landmarks(
                section, landmarks("button:Search", frame="main"), "body"
            ),
        }

    assert with_page(_in_frames(body)) == {
        "frame root": ["main: no button 'Go'"],
        "frame root, frame inside it": [],
        "frame root, frame not inside it": ["main: no frame 'menu.aspx'"],
        "locator root": ["body: no button 'Search'"],  # the frame's button is not the body's
        "locator root, a frame": [],
    }


# --- bad specs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("field:Member ID", "unknown landmark kind 'field': use one of button, checkbox, combobox"),
        ("Member ID", "landmark 'Member ID' is not written kind:name"),
        ("label:", "the label landmark has no name"),
    ],
)
def test_a_spec_the_kit_does_not_know_is_refused_when_the_flow_is_imported(spec, words):
    with pytest.raises(ValueError, match=words):
        landmarks(spec)


def test_the_unknown_kind_message_names_every_known_kind():
    with pytest.raises(ValueError) as raised:
        Landmark("select", "Month")
    for kind in KINDS:
        assert kind in str(raised.value)


# --- all at once equals one after another, on the mock portals' pages ----------------------


@pytest.fixture(scope="module")
def portals() -> Iterator[dict[str, str]]:
    started = fixture_portals.start(load_settings(), {"legacyportal": 0, "medicaidportal": 0})
    try:
        yield dict(started.urls)
    finally:
        started.stop()


@pytest.fixture
def settings(tmp_path: Path, portals: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PAYERBOT_DATA_DIR", str(tmp_path / "var"))
    for name, url in portals.items():
        monkeypatch.setenv(f"PAYERBOT_PORTALS__{name.upper()}__BASE_URL", url)
    settings = load_settings()
    for name in portals:
        fixture_portals.provision_credentials(settings, name)
    return settings


LEGACY_MARKS = (
    *landmarks(
        "link:Log Off",
        "link:Eligibility Inquiry",
        "link:Claim Inquiry",
        "link:Claim Status",
        frame="menu",
    ),
    *landmarks(
        "button:Submit Inquiry",
        "button:Search",
        "combobox:Payer",  # captioned in a table cell, not labelled: no name
        "textbox:Subscriber ID:",
        frame="main",
    ),
    *landmarks("link:Log Off", frame="results"),
    *landmarks("heading:Prairie Provider Connect", "link:Log Off"),
)
MEDICAID_MARKS = landmarks(
    "heading:Eligibility Verification",
    "label:From Date of Service",
    "label:To Date of Service",
    "label:Medicaid ID",
    "label:Date of Birth",
    "label:Recipient ID",  # layout B's words
    "label:Member ID",
    "textbox:From Date of Service",
    "combobox:From Date of Service",
    "button:Search",
    "button:Search by ICN",
    "region:Search by ICN",
    "link:Log Out",
)


def test_all_at_once_equals_one_after_another_on_the_legacy_frames(with_page, settings):
    flow = LegacyPortalFlow(settings.portals["legacyportal"].base_url)

    async def body(page: Page) -> tuple[list[str], list[str], list[str], list[str]]:
        await flow.login(page, login_secrets(settings, "legacyportal", "main"))
        main = await flow._open(page, "Eligibility Inquiry")
        return (
            await missing_landmarks(page, LEGACY_MARKS, "home"),
            await one_by_one(page, LEGACY_MARKS, "home"),
            await missing_landmarks(main, LEGACY_MARKS[4:8], "form"),
            await one_by_one(main, LEGACY_MARKS[4:8], "form"),
        )

    at_once, in_turn, frame_root_at_once, frame_root_in_turn = with_page(body)
    assert at_once == in_turn
    assert frame_root_at_once == frame_root_in_turn
    assert at_once == [  # the comparison saw both answers, in every scope
        "home: no link 'Claim Status' in frame 'menu'",
        "home: no button 'Search' in frame 'main'",
        "home: no combobox 'Payer' in frame 'main'",
        "home: no textbox 'Subscriber ID:' in frame 'main'",
        "home: no frame 'results'",
        "home: no heading 'Prairie Provider Connect'",  # the banner is a frame of its own
        "home: no link 'Log Off'",  # the menu's link is not the top page's
    ]


def test_all_at_once_equals_one_after_another_on_the_medicaid_forms(with_page, settings):
    flow = MedicaidPortalFlow(settings.portals["medicaidportal"].base_url)

    async def body(page: Page) -> tuple[list[str], list[str]]:
        await flow.login(page, login_secrets(settings, "medicaidportal", "main"))
        await page.goto(f"{flow.base_url}/eligibility")
        await page.get_by_role("heading", name="Eligibility Verification").wait_for()
        return (
            await missing_landmarks(page, MEDICAID_MARKS, "eligibility page"),
            await one_by_one(page, MEDICAID_MARKS, "eligibility page"),
        )

    at_once, in_turn = with_page(body)
    assert at_once == in_turn
    assert at_once == [
        "eligibility page: no label 'Recipient ID'",
        "eligibility page: no label 'Member ID'",
        "eligibility page: no combobox 'From Date of Service'",
        "eligibility page: no button 'Search by ICN'",
        "eligibility page: no region 'Search by ICN'",
        "eligibility page: no link 'Log Out'",
    ]
