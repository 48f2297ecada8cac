"""Unknown prior auth, out-of-network-only coinsurance and a lookup without names, read off
the surfaces a person reads after a real lookup on the mock portals: `payerbot lookup`
(JSON and terminal) and the console's lookup page and queue in real Chromium (issue 18,
defects 2-4). The workbooks are read back in tests/unit/test_shown.py."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bots.outputs.shown import NO_NAME
from tests.test_cli import payerbot
from tests.test_console import console, ended_member, log_in  # noqa: F401 (a fixture)
from tests.timing import scaled

pytestmark = pytest.mark.browser
DOS = "2026-12-01"


def _lines(member: dict[str, Any], service_type: str, benefit: str) -> list[dict[str, Any]]:
    return [
        b
        for b in member["benefits"]
        if b["service_type"] == service_type and b["benefit"] == benefit
    ]


def vision_not_covered(gt: dict[str, Any]) -> dict[str, Any]:
    """An ACME subscriber active on DOS whose plan does not cover vision (prior auth U) and
    states the office-visit coinsurance out of network only."""
    seen: dict[tuple[str, str], int] = {}
    for m in gt["members"]:
        seen[(m["member_id"], m["dob"])] = seen.get((m["member_id"], m["dob"]), 0) + 1
    return next(
        m
        for m in gt["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and seen[(m["member_id"], m["dob"])] == 1
        and m["coverage"]["effective_date"] <= DOS
        and (m["coverage"]["termination_date"] or "9999") >= DOS
        and [b["prior_auth_required"] for b in _lines(m, "AL", "I")] == ["U"]
        and [b["in_network"] for b in _lines(m, "98", "A")] == ["N"]
    )


def ask(env: dict[str, str], member: dict[str, Any], service_type: str, *extra: str) -> Any:
    return payerbot(
        "lookup",
        "eligibility",
        "--payer",
        "ACME",
        "--member-id",
        member["member_id"],
        "--dob",
        member["dob"],
        "--dos",
        DOS,
        "--service-type",
        service_type,
        *extra,
        env=env,
    )


def test_lookup_json_and_terminal_say_unknown_and_show_out_of_network_coinsurance(
    env, settings, ground_truth
):
    member = vision_not_covered(ground_truth)
    proc = ask(env, member, "AL", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    vision = [b for b in answer["result"]["benefits"] if b["service_type"] == "AL"]
    assert [b["prior_auth_required"] for b in vision] == ["U"]  # the stored code, as before
    shown = answer["summary"]
    assert shown["benefits"]["prior_auth"] == {"code": "U", "label": "Unknown"}
    assert shown["identifiers"]["patient"] == NO_NAME  # asked without names
    portal_name = shown["identifiers"]["patient_on_portal"]
    assert portal_name.casefold() == f"{member['last_name']}, {member['first_name']}".casefold()

    office = json.loads(ask(env, member, "98", "--json").stdout)["summary"]["benefits"]
    (coins,) = _lines(member, "98", "A")
    assert office["coinsurance_percent"]["in_network"] is None
    assert Decimal(office["coinsurance_percent"]["out_of_network"]) == Decimal(coins["percent"])

    terminal = ask(env, member, "AL")
    assert terminal.returncode == 0, terminal.stderr[-2000:]
    assert "prior authorization for Vision (Optometry) (AL): Unknown" in terminal.stdout
    assert not re.search(r"^\s*, ", terminal.stdout, re.MULTILINE)


def test_console_lookup_and_queue_show_unknown_out_of_network_and_no_lone_comma(
    console,  # noqa: F811 (the fixture imported above)
    page: Page,
    ground_truth,
):
    url = console["url"]
    log_in(page, url, "dana", "dana-specialist-pw")
    member = vision_not_covered(ground_truth)

    def look_up(who: dict[str, Any], service_type: str, add: bool = False) -> Any:
        page.goto(f"{url}/lookup")
        page.get_by_label("Payer").select_option("ACME")
        page.get_by_label("Member ID").fill(who["member_id"])
        page.get_by_label("Date of birth").fill(who["dob"])
        page.get_by_label("Date of service").fill(DOS)
        page.get_by_label("Service type").select_option(service_type)
        if add:
            page.get_by_label("Add follow-ups to the queue").check()
        page.get_by_role("button", name="Look up").click()
        answer = page.get_by_role("region", name=re.compile("^Answer"))
        expect(answer).to_be_visible(timeout=scaled(60) * 1000)
        return answer

    answer = look_up(member, "AL")
    expect(answer.locator("#prior-auth")).to_have_text("Unknown")
    expect(answer.locator("#patient")).to_have_text(NO_NAME)
    vision = (
        answer.get_by_role("table", name="Benefits").get_by_role("row").filter(has_text="EB03 AL")
    )
    expect(vision.get_by_role("cell").last).to_have_text("Unknown")

    answer = look_up(member, "98")
    (coins,) = _lines(member, "98", "A")
    row = answer.get_by_role("table", name="Cost sharing").get_by_role("row", name="Coinsurance")
    expect(row.get_by_role("cell")).to_have_text(["—", f"{Decimal(coins['percent'])}%"])

    claim = next(c for c in ground_truth["claims"] if c["payer_id"] == "ACME")
    page.goto(f"{url}/lookup")
    page.get_by_label("Lookup").select_option("claim_status")
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Claim number (claim status)").fill(claim["claim_number"])
    page.get_by_role("button", name="Look up").click()
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_be_visible(timeout=scaled(60) * 1000)
    expect(answer.locator("#claim-patient")).to_contain_text(f"{NO_NAME} (on the portal: ")

    ended = ended_member(ground_truth)
    look_up(ended, "98", add=True)
    page.get_by_role("link", name="Follow-ups").click()
    raised = page.get_by_role("row").filter(has_text="Coverage ended")
    expect(raised).to_have_count(1)
    # tick, date of service, member ID, claim number, patient (issue 20's queue columns)
    expect(raised.get_by_role("cell").nth(4)).to_have_text(NO_NAME)
