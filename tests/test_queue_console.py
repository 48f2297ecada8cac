"""The follow-up queue of 5,000 in real Chromium and on the CLI: the count shown, pages,
search by member ID, sort by date of service; bulk assign and resolve, reassign, unassign
and reopen, back on the same page and row (issue 20).

PAYERBOT_DOCS_SCREENSHOTS=1 also writes docs/screenshots/followups.png and
followups-search.png at 1366x768 (README)."""

from __future__ import annotations

import json
import os
import re

import pytest
from playwright.sync_api import Page, expect

from bots.dates import local_date_text
from bots.store import Store
from tests.cli_here import payerbot_here
from tests.queue_seed import seed_queue
from tests.test_console import SHOTS, console, log_in  # noqa: F401 (console: a fixture)

pytestmark = pytest.mark.browser


def shot(page: Page, name: str) -> None:
    """The visible 1366x768 of the page, as a person sees it on a laptop."""
    if os.environ.get("PAYERBOT_DOCS_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def _seed(console, count):  # noqa: F811 (the fixture's value)
    store = Store.open(console["settings"])
    try:
        return seed_queue(store, count)
    finally:
        store.close()


def _rows(page: Page):
    return page.get_by_role("table", name="Follow-ups").locator("tbody tr")


def test_five_thousand_followups_page_search_and_sort_with_the_count_shown(
    console,  # noqa: F811
    page: Page,
):
    seeded = _seed(console, 5_000)
    url = console["url"]
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "dana", "dana-specialist-pw")
    page.goto(f"{url}/queue")
    count = page.locator("#count")
    expect(count).to_contain_text("Showing 1–50 of 5,000")
    expect(_rows(page)).to_have_count(50)
    shot(page, "followups")

    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Next").click()
    expect(count).to_contain_text("Showing 51–100 of 5,000")
    expect(count).to_contain_text("page 2 of 100")
    assert "page=2" in page.url
    expect(_rows(page)).to_have_count(50)

    # sort by date of service: the header says so, the first row changes
    first_before = _rows(page).first.get_attribute("id")
    header = page.get_by_role("columnheader", name=re.compile("^Date of service"))
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    soonest = local_date_text(min(s.service_date for s in seeded))
    expect(_rows(page).first.get_by_role("cell").nth(1)).to_have_text(soonest)
    assert _rows(page).first.get_attribute("id") != first_before
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    latest = local_date_text(max(s.service_date for s in seeded))
    expect(_rows(page).first.get_by_role("cell").nth(1)).to_have_text(latest)
    expect(count).to_contain_text("Showing 1–50 of 5,000")  # a new order starts at page 1

    # search by member ID (part of it, any case): the one follow-up
    target = seeded[4321]
    page.get_by_label("Search").fill(target.member_id.lower())
    page.get_by_role("button", name="Search").click()
    expect(count).to_have_text("Showing 1–1 of 1")
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text(target.patient)
    expect(header).to_have_attribute("aria-sort", "descending")  # the sort is kept
    shot(page, "followups-search")

    # the CLI: the same count, pages, search and sort; never a silent stop at 500
    env = console["env"]
    listed = payerbot_here("queue", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "showing 1-50 of 5,000 (page 1 of 100; --page 2 for more)" in listed.stdout
    second = payerbot_here("queue", "list", "--page", "2", "--sort", "date", "--json", env=env)
    assert "showing 51-100 of 5,000" in second.stderr
    dates = [row["service_date"] for row in json.loads(second.stdout)]
    assert len(dates) == 50 and dates == sorted(dates)
    big = payerbot_here("queue", "list", "--per-page", "500", "--page", "10", "--json", env=env)
    assert len(json.loads(big.stdout)) == 500 and "showing 4,501-5,000 of 5,000" in big.stderr
    found = payerbot_here("queue", "list", "-q", target.member_id, env=env)
    assert "showing 1-1 of 1" in found.stdout and target.member_id in found.stdout
    bad = payerbot_here("queue", "list", "--sort", "colour", env=env)
    assert bad.returncode == 2 and "Sort by one of" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_bulk_assign_and_resolve_reassign_unassign_and_reopen_keep_the_place(
    console,  # noqa: F811
    page: Page,
):
    _seed(console, 120)
    url = console["url"]
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, url, "dana", "dana-specialist-pw")
    page.goto(f"{url}/queue?sort=date&page=2")
    count = page.locator("#count")
    expect(count).to_contain_text("Showing 51–100 of 120")
    ids = [r.get_attribute("id").removeprefix("followup-") for r in _rows(page).all()[45:48]]
    for followup_id in ids:
        page.get_by_label(f"Tick follow-up {followup_id}").check()
    page.get_by_label("Assign the ticked to").select_option("sam")
    page.get_by_role("button", name="Assign ticked").click()
    expect(page.get_by_role("status")).to_have_text("3 follow-ups assigned.")
    # the same page, sort and row: the row acted on is on screen
    assert "page=2" in page.url and "sort=date" in page.url
    assert page.url.endswith(f"#followup-{ids[0]}")
    expect(count).to_contain_text("Showing 51–100 of 120")
    row = page.locator(f"#followup-{ids[0]}")
    expect(row).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0
    for followup_id in ids:
        expect(page.locator(f"#followup-{followup_id}")).to_contain_text("in progress")
        expect(page.locator(f"#followup-{followup_id}")).to_contain_text("sam")

    # reassign from the user list, then unassign: nobody's again, open
    row.get_by_label(f"Assignee for {ids[0]}").select_option("dana")
    row.get_by_role("button", name="Reassign").click()
    expect(page.get_by_role("status")).to_have_text(f"Follow-up {ids[0]} assigned.")
    expect(row.get_by_role("cell").nth(9)).to_have_text("dana")
    row.get_by_role("button", name="Unassign").click()
    expect(page.get_by_role("status")).to_have_text(f"Follow-up {ids[0]} unassigned.")
    expect(row.get_by_role("cell").nth(9)).to_have_text("—")
    expect(row.get_by_role("cell").nth(8)).to_have_text("open")

    # bulk resolve needs a note; with one, the two leave the open queue
    for followup_id in ids[1:]:
        page.get_by_label(f"Tick follow-up {followup_id}").check()
    page.get_by_label("Resolution note", exact=True).fill("Called the payer: fixed")
    page.get_by_role("button", name="Resolve ticked").click()
    expect(page.get_by_role("status")).to_have_text("2 follow-ups resolved.")
    expect(count).to_contain_text("of 118")
    for followup_id in ids[1:]:
        expect(page.locator(f"#followup-{followup_id}")).to_have_count(0)

    # done ones are found with the status filter, and reopened
    page.goto(f"{url}/queue?filtered=1&status=done")
    expect(count).to_have_text("Showing 1–2 of 2")
    done = page.locator(f"#followup-{ids[1]}")
    expect(done).to_contain_text("Called the payer: fixed")
    done.get_by_role("button", name="Reopen").click()
    expect(page.get_by_role("status")).to_have_text(f"Follow-up {ids[1]} reopened.")
    expect(count).to_have_text("Showing 1–1 of 1")
    assert "status=done" in page.url
    shown = json.loads(payerbot_here("queue", "show", ids[1], "--json", env=console["env"]).stdout)
    assert shown["status"] == "open"
    assert [h["action"] for h in shown["history"]] == ["assign", "resolve", "status"]
