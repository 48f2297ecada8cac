"""The desk lookup page in real Chromium (issue 20, items 2-3): the form is checked before any
portal is asked (a plain sentence next to each field, the typed values kept), the service
type is picked from a list of names, a lookup shows what it is doing in words and can be
cancelled, and its follow-ups are only suggested unless the specialist asks to add them.

PAYERBOT_DOCS_SCREENSHOTS=1 also writes docs/screenshots/lookup-errors.png and
lookup-waiting.png (1366x768, README)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.test_cli import portal_traffic
from tests.test_console import SHOTS, add_console_users, log_in, serving, session
from tests.test_sessions import _held_by_a_live_process
from tests.timing import deadline_in, scaled

pytestmark = pytest.mark.browser
SCREEN = {"width": 1366, "height": 768}


def screenshot(page: Page, name: str) -> None:
    """The screen a person sees (1366x768), for the README."""
    if os.environ.get("PAYERBOT_DOCS_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture
def desk(env, settings, tmp_path) -> Iterator[dict[str, Any]]:
    """A console whose payerhub has one account (a batch may hold it) and a long borrow wait."""
    add_console_users(settings)
    desk_env = {
        **env,
        "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]',
        "PAYERBOT_SESSIONS__BORROW_WAIT_SECONDS": "120",
    }
    with serving(desk_env, tmp_path / "console.log") as url:
        yield {"url": url, "env": desk_env, "settings": settings}


def ended_acme_member(ground_truth: dict[str, Any]) -> dict[str, Any]:
    return next(
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and m["coverage"]["termination_date"]
        and m["coverage"]["termination_date"] < "2026-12-01"
    )


def test_field_errors_next_to_fields_then_waiting_for_the_batch_cancel_and_suggestions(
    desk, page: Page, ground_truth, mock_portals, hub, settings
):
    url = desk["url"]
    page.set_viewport_size(SCREEN)
    log_in(page, url, "dana", "dana-specialist-pw")
    expect(page).to_have_url(f"{url}/")  # the home page first
    page.get_by_role("link", name="Lookup", exact=True).click()

    # The service type is a list of names; the default is the appointments preset's.
    expect(page).to_have_url(f"{url}/lookup")
    service = page.get_by_label("Service type")
    expect(service).to_be_visible()  # the page has loaded: read its options now
    options = service.locator("option").all_inner_texts()
    assert {"Office visit (98)", "Urgent care (UC)", "Mental health (MH)"} <= set(options)
    assert "Plan coverage (general) (30)" in options
    expect(service).to_have_value("98")

    # Bad input: each problem in one sentence next to its field, nothing asked of a portal.
    before = portal_traffic(mock_portals)
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Member ID").fill("A")
    page.get_by_label("Date of birth").fill("02/30/1980")
    page.get_by_label("Date of service").fill("12/03/2062")
    page.get_by_label("Expected charge").fill("-5")
    page.get_by_role("button", name="Look up").click()
    said = {
        "member_id": "A member ID has 2 to 30 letters, digits or hyphens, as on the insurance "
        "card.",
        "dob": "The date of birth is not a real calendar date: use MM/DD/YYYY or YYYY-MM-DD.",
        "dos": "The date of service is more than 365 days after today, too far ahead to check "
        "(a typo in the year?).",
        "charge": "The expected charge cannot be negative.",
    }
    for field, sentence in said.items():
        error = page.locator(f"#{field}-error")
        expect(error).to_have_text(sentence)
        expect(error).to_have_attribute("role", "alert")
        box = page.locator(f"#{field}")
        expect(box).to_have_attribute("aria-describedby", f"{field}-error")
        expect(box).to_have_attribute("aria-invalid", "true")
        # next to its field: right below it, in the same column
        field_box, error_box = box.bounding_box(), error.bounding_box()
        assert field_box and error_box
        assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 30, field
        assert abs(error_box["x"] - field_box["x"]) < 5, field
    expect(page.get_by_label("Date of birth")).to_have_value("02/30/1980")  # kept as typed
    expect(page.get_by_label("Member ID")).to_have_value("A")
    expect(page.locator("#payer-error")).to_be_hidden()
    expect(page.locator("#progress")).to_be_hidden()  # nothing is being looked up
    body = page.locator("main").inner_text()
    for python in ("isoformat", "ConversionSyntax", "Traceback", "Value error", "Decimal"):
        assert python not in body
    screenshot(page, "lookup-errors")
    assert portal_traffic(mock_portals) == before, "a refused question reaches no portal"

    # The overnight batch holds the only account: the page says so in words, with the wait.
    store, _holder = _held_by_a_live_process(settings, "payerhub", "main")
    member = ended_acme_member(ground_truth)
    page.get_by_label("Member ID").fill(member["member_id"])
    page.get_by_label("Date of birth").fill(member["dob"])
    page.get_by_label("Date of service").fill("12/01/2026")
    page.get_by_label("Expected charge").fill("$1,250.00")
    page.get_by_label("Service type").select_option(label="Urgent care (UC)")
    page.get_by_role("button", name="Look up").click()
    for field in said:
        expect(page.locator(f"#{field}-error")).to_be_hidden()
    progress = page.get_by_role("status").filter(has_text="Waiting for the overnight batch")
    # (the console's first lookup also starts its browser: allow for a slow machine)
    expect(progress).to_contain_text(
        "Waiting for the overnight batch's session", timeout=scaled(30) * 1000
    )
    expect(progress).to_contain_text(re.compile(r"gives up in about \d+ s"))
    expect(page.locator("#progress .spinner")).to_be_visible()
    screenshot(page, "lookup-waiting")

    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#progress-words")).to_have_text(
        "Cancelled: the lookup was stopped and nothing from it is shown or kept."
    )
    expect(page.locator("#progress .spinner")).to_be_hidden()
    expect(page.get_by_role("region", name=re.compile("^Answer"))).to_have_count(0)
    desk_runs = [r for r in store.list_runs(5) if r.trigger == "lookup"]
    assert len(desk_runs) == 1
    deadline = deadline_in(30)
    while store.get_run(desk_runs[0].id).status not in ("interrupted", "finished"):
        assert time.monotonic() < deadline, "the cancelled lookup's run never ended"
        time.sleep(0.2)
    (item,) = store.run_outcomes(desk_runs[0].id)
    assert item.state != "succeeded" and not item.payload, "no half answer kept"
    assert not any(portal_traffic(mock_portals)[p] - before[p] for p in before)
    store.release_account("payerhub", "main", _holder)

    # The account is free: the lookup signs in, asks, answers; follow-ups only suggested.
    hub.knobs(latency_ms=400)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#progress-words")).to_have_text(
        re.compile(r"Signing in to the portal…|Asking the portal…|Starting the lookup…")
    )
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_be_visible(timeout=scaled(60) * 1000)
    expect(page.locator("#estimate")).to_contain_text("Estimate for Urgent care (UC):")
    suggested = page.get_by_role("region", name="Suggested follow-ups (not added to the queue)")
    expect(suggested).to_contain_text("Coverage ended")
    expect(answer.get_by_text(re.compile(r"Follow-up \d+:"))).to_have_count(0)
    expect(page.get_by_label("Service type")).to_have_value("UC")  # the form as it was typed
    specialist, _csrf = session(url, "dana", "dana-specialist-pw")
    queue = specialist.get("/queue").text
    assert "Coverage ended" not in queue, "nothing added to the queue unless asked"
    store.close()


def test_the_lookup_endpoints_refuse_many_bad_inputs_without_asking_a_portal(
    desk, mock_portals, ground_truth
):
    """A fuzz-ish table through the console (with and without JavaScript): a 400 with one
    plain sentence per field, never Python's text, and no portal request."""
    client, csrf = session(desk["url"], "dana", "dana-specialist-pw")
    bad_dates = ["31/31/1999", "2/30/2026", "1999-02-29", "99/99/9999", "01-01-19", "٣/٣/٢٠٢٠"]
    bad_dates += ["2026-12-32", "12/3/26", "  /  /    ", "1e10", "0/0/0", "9999-99-99", "--"]
    bad_money = ["1,2,3", "$$5", "5$", "1.2.3", "NaN", "inf", "-0.01", "1_000", "0x10", "١٠٠"]
    bad_ids = ["A", "A B!", "<script>", "x" * 40, "ACM/1", "ACM\u200b1", "-", "ACM1-"]
    bad_ids += ["STRAßE1"]
    forms: list[dict[str, str]] = []
    forms += [{"dob": d} for d in bad_dates] + [{"dos": d} for d in bad_dates]
    forms += [{"charge": m} for m in bad_money] + [{"member_id": i} for i in bad_ids]
    forms += [{"service_type": s} for s in ["Spa", "999", "'; DROP TABLE", "\x00"]]
    forms += [{"kind": "claim_status", "claim_number": c} for c in ["a b", "#1", "x" * 41]]
    forms += [{"kind": "claim_status", "claim_number": "", "member_id": "ACM1"}]
    forms += [{"kind": "other"}, {"payer": "nowhere"}, {"payer": ""}]
    before = portal_traffic(mock_portals)
    python = re.compile(
        r"isoformat|ConversionSyntax|InvalidOperation|Traceback|Value error|Input should|"
        r"pydantic|invalid literal|unconverted data|does not match format|NoneType"
    )
    for typed in forms:
        form = {"csrf": csrf, "kind": "eligibility", "payer": "ACME", "member_id": "ACM1"}
        form |= {"dob": "05/17/1980", **typed}
        page = client.post("/lookup", data=form)
        assert page.status_code == 400, typed
        shown = re.findall(r'class="field-error" id="\w+-error" role="alert">([^<]+)<', page.text)
        shown += re.findall(r'id="form-error" role="alert" >([^<]+)<', page.text)
        assert shown, typed
        assert not python.search(page.text), typed
        asked = client.post("/lookup", data=form, headers={"X-Lookup-Mode": "async"})
        assert asked.status_code == 400, typed
        problems = asked.json()["errors"]
        assert problems and all(
            isinstance(s, str) and s.endswith(".") and not python.search(s)
            for s in problems.values()
        ), typed
    assert portal_traffic(mock_portals) == before, "no portal was asked a refused question"
    gone = client.get("/lookup/jobs/nope")
    assert gone.status_code == 404 and gone.json()["state"] == "gone"

    # Without JavaScript the form still posts and waits for its answer, as it always did.
    member = ended_acme_member(ground_truth)
    form = {"csrf": csrf, "kind": "eligibility", "payer": "ACME", "member_id": member["member_id"]}
    form |= {"dob": member["dob"], "dos": "12/01/2026", "service_type": "MH", "charge": "1,250"}
    answered = client.post("/lookup", data=form)
    assert answered.status_code == 200 and 'id="answer"' in answered.text
    assert "Estimate for Mental health (MH):" in answered.text
    assert "Suggested follow-ups (not added to the queue)" in answered.text
    assert '<option value="MH" selected>' in answered.text  # the form as it was typed
