"""The console's answer in words, codes beside them (issue 20): an eligibility lookup and a
denied claim looked up in real Chromium on the mock portals, read against ground truth
(tests/truth.py); every code the answer shows has its description next to it.

PAYERBOT_DOCS_SCREENSHOTS=1 also writes docs/screenshots/answer-eligibility.png and
answer-claim.png at 1366x768 (README)."""

from __future__ import annotations

import os
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from bots.codes import (
    BENEFIT_WORDS,
    LEVEL_WORDS,
    carc_text,
    rarc_text,
    service_type_short,
)
from bots.outputs.shown import money_text
from tests.codes_shown import codes_in, undescribed
from tests.test_console import SHOTS, console, log_in  # noqa: F401 (a fixture)
from tests.timing import scaled
from tests.truth import coverage_on, expected_claim_for, expected_eligibility_for, us_date

pytestmark = pytest.mark.browser
DOS = "2026-12-01"


def office_visit_member(gt: dict[str, Any]) -> dict[str, Any]:
    """An ACME subscriber, the only member with that ID and date of birth, active on DOS,
    with an in-network office-visit copay and a plan deductible."""
    seen: dict[tuple[str, str], int] = {}
    for m in gt["members"]:
        seen[(m["member_id"], m["dob"])] = seen.get((m["member_id"], m["dob"]), 0) + 1

    def has(m: dict[str, Any], st: str, info: str) -> bool:
        return any(
            b["service_type"] == st and b["benefit"] == info and b["in_network"] == "Y"
            for b in m["benefits"]
        )

    return next(
        m
        for m in gt["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and seen[(m["member_id"], m["dob"])] == 1
        and coverage_on(m, date.fromisoformat(DOS))[1]
        and has(m, "98", "B")
        and has(m, "30", "C")
    )


def denied_claim(gt: dict[str, Any]) -> dict[str, Any]:
    """An ACME claim denied with remark codes (RARCs)."""
    return next(
        c
        for c in gt["claims"]
        if c["payer_id"] == "ACME"
        and c["status"]["category"] == "F2"
        and any(a["rarc"] for a in c["adjustments"])
    )


def answer_of(page: Page) -> Locator:
    page.get_by_role("button", name="Look up").click()
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_be_visible(timeout=scaled(90) * 1000)
    return answer


def screenshot(page: Page, answer: Locator, name: str) -> None:
    if os.environ.get("PAYERBOT_DOCS_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        answer.scroll_into_view_if_needed()
        page.evaluate("document.querySelector('#answer').scrollIntoView()")
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def codes_of(b: dict[str, Any]) -> str:
    return " · ".join(
        [
            f"EB01 {b['benefit']}",
            f"EB02 {b['coverage_level'] or '-'}",
            f"EB03 {b['service_type']}",
            f"EB06 {b['time_period'] or '-'}",
            f"EB11 {b['prior_auth_required']}",
            f"EB12 {b['in_network']}",
        ]
    )


def test_the_answer_reads_in_words_with_every_code_described(
    console,  # noqa: F811 (the fixture imported above)
    page: Page,
    ground_truth,
):
    page.set_viewport_size({"width": 1366, "height": 768})
    url = console["url"]
    log_in(page, url, "dana", "dana-specialist-pw")

    # --- eligibility -------------------------------------------------------------------------
    member = office_visit_member(ground_truth)
    want = expected_eligibility_for(ground_truth, member["member_key"], date.fromisoformat(DOS))
    page.goto(f"{url}/lookup")
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Member ID").fill(member["member_id"])
    page.get_by_label("Date of birth").fill(member["dob"])
    page.get_by_label("Date of service").fill(DOS)
    page.get_by_label("Service type").select_option("98")
    answer = answer_of(page)
    expect(answer.locator("#coverage")).to_have_text(
        f"Coverage: Active on {us_date(DOS)} — {want['plan_name']}, group {want['group_number']}"
    )
    table = answer.get_by_role("table", name="Benefits")
    expect(
        table.get_by_role("columnheader", name="Professional (Physician) Visit - Office (98)")
    ).to_be_visible()
    rows = table.evaluate(
        "t => [...t.rows].filter(r => r.cells.length === 3 && r.cells[0].tagName === 'TD')"
        ".map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    words_by_codes = {codes: words for words, codes, _ in rows}
    assert len(rows) == len(want["benefits"])
    for b in want["benefits"]:
        words = words_by_codes[codes_of(b)]  # the raw codes stay, beside the words
        network = {"Y": "in network", "N": "out of network", "W": "in and out of network"}
        assert f", {network[b['in_network']]}" in words, words
        if b["coverage_level"]:
            assert LEVEL_WORDS[b["coverage_level"]] in words, words
        if b["benefit"] in ("C", "G"):
            assert words.startswith(BENEFIT_WORDS[b["benefit"]].capitalize()), words
            value = b["total"] if b["total"] is not None else None
            if value is not None:
                assert f": {money_text(Decimal(value))}" in words, words
            if b["remaining"] is not None:
                assert f"{money_text(Decimal(b['remaining']))} left" in words, words
        else:
            assert words.startswith(service_type_short(b["service_type"]) + ","), words
            if b["amount"] is not None:
                assert f"{BENEFIT_WORDS[b['benefit']]} {money_text(Decimal(b['amount']))}" in words
            if b["percent"] is not None:
                assert f"{Decimal(b['percent']).normalize():f}%" in words, words
    (copay,) = [
        b
        for b in want["benefits"]
        if (b["service_type"], b["benefit"], b["in_network"]) == ("98", "B", "Y")
        and b["coverage_level"] in (None, "IND")
    ][:1]
    level = ", individual" if copay["coverage_level"] else ""
    expect(table).to_contain_text(
        f"Office visit, in network{level}: copay {money_text(Decimal(copay['amount']))}"
    )
    text = answer.inner_text()
    said = "\n".join(line for line in text.splitlines() if "EB01" not in line)
    assert undescribed(said) == [] and codes_in(said) > 0
    screenshot(page, answer, "answer-eligibility")

    # --- a denied claim ----------------------------------------------------------------------
    claim = denied_claim(ground_truth)
    want_claim = expected_claim_for(ground_truth, claim["claim_number"])
    page.goto(f"{url}/lookup")
    page.get_by_label("Lookup").select_option("claim_status")
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Claim number (claim status)").fill(claim["claim_number"])
    answer = answer_of(page)
    status = answer.locator("#claim-status")
    expect(status).to_contain_text(f"Claim {want_claim['claim_number']}: Denied (F2) — ")
    for a in want_claim["adjustments"]:
        expect(status).to_contain_text(f"{a['group_code']}-{a['carc']}: {carc_text(a['carc'])}")
        for r in a["rarc"]:
            expect(status).to_contain_text(f"{r}: {rarc_text(r)}")
    amounts = answer.locator("#claim-amounts")
    for label, field in (("Billed", "billed"), ("allowed", "allowed"), ("paid", "paid")):
        value = want_claim[field]
        expect(amounts).to_contain_text(
            f"{label} {money_text(None if value is None else Decimal(value))}"
        )
    text = answer.inner_text()
    assert undescribed(text) == [] and codes_in(text) >= 2
    assert "(no description on file)" not in text
    screenshot(page, answer, "answer-claim")
