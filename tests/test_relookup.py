"""A desk lookup made while the portal's accounts are locked, after a good answer: the console,
`lookup --json` and the follow-up queue keep the good answer and show the newer failure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bots.interfaces.console.users import add_user
from bots.store import Store
from tests.cli_here import payerbot_here
from tests.test_cli import payerbot
from tests.test_console import ended_member, log_in, serving
from tests.timing import scaled

pytestmark = pytest.mark.browser


@pytest.fixture
def console(env, settings, tmp_path) -> Iterator[dict[str, Any]]:
    store = Store.open(settings)
    add_user(store, "dana", "dana-specialist-pw", "specialist")
    store.close()
    with serving(env, tmp_path / "console.log") as url:
        yield {"url": url, "env": env, "settings": settings}


def _lock_every_account(settings: Any, portal: str) -> None:
    store = Store.open(settings)
    try:
        for account in settings.portals[portal].accounts:
            store.flag_account(portal, account, "login_refused", "password refused", None)
    finally:
        store.close()


def _look_up(page: Page, url: str, member: dict[str, Any]) -> Any:
    page.goto(f"{url}/lookup")
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Member ID").fill(member["member_id"])
    page.get_by_label("Date of birth").fill(member["dob"])
    page.get_by_label("Date of service").fill("2026-12-01")
    page.get_by_label("Add follow-ups to the queue").check()  # the desk asks to add them
    page.get_by_role("button", name="Look up").click()
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_be_visible(timeout=scaled(60) * 1000)
    return answer


def test_the_console_shows_the_last_good_answer_and_the_newer_failure(
    console, page: Page, ground_truth
):
    url, settings = console["url"], console["settings"]
    member = ended_member(ground_truth)
    log_in(page, url, "dana", "dana-specialist-pw")
    first = _look_up(page, url, member)
    expect(first.locator("#coverage")).to_contain_text("Coverage: Inactive on 12/01/2026")
    expect(first.locator("#newer-failure")).to_have_count(0)
    followup = first.get_by_text(re.compile(r"Follow-up \d+: Coverage ended"))
    expect(followup).to_be_visible()

    _lock_every_account(settings, "payerhub")
    again = _look_up(page, url, member)
    expect(again.locator("#newer-failure")).to_have_text(
        re.compile(
            r"^A newer lookup at \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M failed: not tried: every "
            r"account is locked\.$"
        )
    )
    expect(again.locator("#last-good")).to_have_text(
        re.compile(r"^The last good answer, checked at \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M:$")
    )
    expect(again.locator("#coverage")).to_contain_text("Coverage: Inactive on 12/01/2026")
    expect(again.get_by_text(member["member_id"])).to_be_visible()
    expect(again.get_by_role("img", name="Screenshot of the portal's answer")).to_be_visible()
    # the follow-up raised from the good answer is still open
    expect(again.get_by_text(re.compile(r"Follow-up \d+: Coverage ended"))).to_be_visible()

    # `payerbot lookup --json` says the same: this lookup failed, the earlier answer stands
    proc = payerbot(
        "lookup",
        "eligibility",
        "--payer",
        "ACME",
        "--member-id",
        member["member_id"],
        "--dob",
        member["dob"],
        "--dos",
        "2026-12-01",
        "--json",
        env=console["env"],
    )
    shown = json.loads(proc.stdout)
    assert (shown["state"], shown["error"]) == ("system_failed", "account_locked")
    assert shown["last_good"]["result"]["member_id"] == member["member_id"]
    assert shown["last_good"]["result"]["coverage_active"] is False
    assert shown["newer_failure"]["reason"] == "not tried: every account is locked"
    rules = json.loads(payerbot_here("queue", "list", "--json", env=console["env"]).stdout)
    assert [r["rule"] for r in rules] == ["coverage_terminated"]
