"""PayerHub's page flow stays on the search view: each question gets its own answer.

Two lookups in a row on one page, for different patients, each read their own answer, also
when the second fails (not found, an error banner) after a successful one; a slow answer is
waited for; the view is not loaded again between lookups. And the flow kit's view helpers
(bots/flowkit/views.py) on a page of their own.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, Request

from bots.engine.credentials import login_secrets
from bots.errors import (
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PortalUnavailable,
    SessionExpired,
)
from bots.flowkit.views import (
    Shown,
    check,
    fill,
    fill_form,
    on_view,
    read_region,
    select,
    submit_and_wait,
)
from bots.models import ClaimStatusQuery, EligibilityQuery
from bots.settings import Settings
from flows.payerhub import PayerHubFlow
from tests import browser_thread
from tests.browser_thread import BrowserThread
from tests.flows.test_payerhub import with_page
from tests.timing import scaled

pytestmark = pytest.mark.browser

chromium = browser_thread.chromium  # the module's browser (a fixture)


def acme_subscribers(gt: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Active ACME subscribers whose member IDs no one else shares (one answer each)."""
    ids: dict[str, int] = {}
    for m in gt["members"]:
        ids[m["member_id"]] = ids.get(m["member_id"], 0) + 1
    found = [
        m
        for m in gt["members"]
        if m["payer_id"] == "ACME"
        and m["coverage"]["termination_date"] is None
        and m["coverage"]["effective_date"] <= "2026-01-01"
        and m["relationship"] == "subscriber"
        and ids[m["member_id"]] == 1
    ]
    assert len(found) >= n
    return found[:n]


def question(m: dict[str, Any]) -> EligibilityQuery:
    return EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )


class Watch:
    """What the page loads: documents, navigations (hash routes too), payer-list fetches."""

    def __init__(self, page: Page) -> None:
        self.documents = 0
        self.navigations = 0
        self.payer_lists = 0
        page.on("request", self.request)
        page.on("framenavigated", self.navigated)

    def request(self, request: Request) -> None:
        if request.resource_type == "document":
            self.documents += 1
        if request.url.endswith("/api/payers"):
            self.payer_lists += 1

    def navigated(self, _frame: object) -> None:
        self.navigations += 1

    def snapshot(self) -> tuple[int, int, int]:
        return self.documents, self.navigations, self.payer_lists


def test_consecutive_lookups_each_read_their_own_answer_and_stay_on_the_view(
    settings: Settings, hub: Any, ground_truth: dict[str, Any], chromium: BrowserThread
) -> None:
    a, b, c = acme_subscribers(ground_truth, 3)
    missing = question(a).model_copy(update={"member_id": "ACM99999999999"})

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        assert (await flow.eligibility(page, question(a))).member_id == a["member_id"]
        watch = Watch(page)  # from here on the page is on the view
        assert (await flow.eligibility(page, question(b))).member_id == b["member_id"]
        # a failing question after a successful one: never the earlier answer
        with pytest.raises(MemberNotFound):
            await flow.eligibility(page, missing)
        hub.knobs(error_rate=1.0)  # the hub answers 500: its banner, not the last result
        with pytest.raises(PortalUnavailable):
            await flow.eligibility(page, question(a))
        hub.knobs(error_rate=0.0)
        got = await flow.eligibility(page, question(c))
        assert (got.member_id, got.dob.isoformat()) == (c["member_id"], c["dob"])
        assert a["member_id"] not in got.raw_text and b["member_id"] not in got.raw_text
        assert watch.snapshot() == (0, 0, 0)  # no page load, no route change, no payer list

    with_page(chromium, settings, body)


def test_a_slow_answer_is_waited_for(
    settings: Settings, hub: Any, ground_truth: dict[str, Any], chromium: BrowserThread
) -> None:
    a, b = acme_subscribers(ground_truth, 2)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        assert (await flow.eligibility(page, question(a))).member_id == a["member_id"]
        hub.knobs(latency_ms=1500)  # the spinner stays up for a while; the last answer is gone
        spinner: list[bool] = []
        page.on("request", lambda r: spinner.append(True) if "/api/eligibility" in r.url else None)
        got = await flow.eligibility(page, question(b))
        assert got.member_id == b["member_id"] and spinner == [True]
        hub.knobs(latency_ms=0)

    with_page(chromium, settings, body)


def test_claim_lookups_in_a_row_and_switching_views(
    settings: Settings, hub: Any, ground_truth: dict[str, Any], chromium: BrowserThread
) -> None:
    claims = [c for c in ground_truth["claims"] if c["payer_id"] == "ACME"][:2]
    a, b = acme_subscribers(ground_truth, 2)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        for claim in claims:
            got = await flow.claim_status(
                page, ClaimStatusQuery(payer_id="ACME", claim_number=claim["claim_number"])
            )
            assert got.claim_number == claim["claim_number"]
        with pytest.raises(ClaimNotFound):
            await flow.claim_status(
                page, ClaimStatusQuery(payer_id="ACME", claim_number="NO-SUCH-CLAIM-1")
            )
        # to the eligibility view and back: each view opens fresh, each answer its own
        assert (await flow.eligibility(page, question(a))).member_id == a["member_id"]
        got = await flow.claim_status(
            page, ClaimStatusQuery(payer_id="ACME", claim_number=claims[0]["claim_number"])
        )
        assert got.claim_number == claims[0]["claim_number"]
        assert (await flow.eligibility(page, question(b))).member_id == b["member_id"]

    with_page(chromium, settings, body)


def test_the_sign_in_page_on_the_view_is_session_expiry(
    settings: Settings, hub: Any, ground_truth: dict[str, Any], chromium: BrowserThread
) -> None:
    (a,) = acme_subscribers(ground_truth, 1)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        assert (await flow.eligibility(page, question(a))).member_id == a["member_id"]
        hub.admin("POST", "reset")  # every session ends on the portal's side
        with pytest.raises(SessionExpired):
            await flow.eligibility(page, question(a))
        with pytest.raises(SessionExpired):  # the page now shows the sign-in form
            await flow.eligibility(page, question(a))

    with_page(chromium, settings, body)


# --- the helpers on a page of their own ---------------------------------------------------------

FORM = """
<h1>Search</h1>
<form id="f">
  <label for="kind-a">By number</label><input type="radio" name="kind" id="kind-a" checked>
  <label for="kind-b">By name</label><input type="radio" name="kind" id="kind-b">
  <label for="num">By number</label><input id="num" type="text">
  <label for="name">Name</label><input id="name" type="text">
  <label for="when">Date</label><input id="when" type="date">
  <label for="plan">Plan</label>
  <select id="plan"><option value="">Pick</option><option value="P1">One</option></select>
  <button type="submit">Go</button>
</form>
<section id="out"></section>
<script>
  window.events = [];
  for (const el of document.querySelectorAll('input, select')) {
    el.addEventListener('input', () => events.push('input:' + el.id));
    el.addEventListener('change', () => events.push('change:' + el.id));
  }
  document.getElementById('f').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = document.getElementById('out');
    out.replaceChildren();
    const body = JSON.stringify({name: document.getElementById('name').value});
    const r = await fetch('/search', {method: 'POST', body});
    const who = (await r.json()).name;
    out.innerHTML = '<h2>Found</h2><dl><dt>Name</dt><dd>' + who + '</dd></dl>' +
      '<table><caption>Rows</caption><thead><tr><th>A</th></tr></thead>' +
      '<tbody><tr><td>1</td></tr></tbody></table>';
  });
</script>
"""


def run_page(chromium: BrowserThread, body: Any) -> Any:
    async def main() -> Any:
        context = await chromium.browser.new_context()
        try:
            page = await context.new_page()
            page.set_default_timeout(scaled(15) * 1000)

            async def answer(route: Any) -> None:
                if route.request.method == "GET":
                    await route.fulfill(content_type="text/html", body=FORM)
                else:
                    await route.fulfill(json={"name": route.request.post_data_json["name"]})

            await page.route("http://view.test/**", answer)
            await page.goto("http://view.test/form")
            return await body(page)
        finally:
            await context.close()

    return chromium.run(main())


def test_fill_form_sets_fields_as_typing_would_and_refuses_what_it_cannot_find(
    chromium: BrowserThread,
) -> None:
    async def body(page: Page) -> None:
        entries = [check("By name"), fill("Name", "Ann Lee"), select("Plan", "P1")]
        await fill_form(page, [*entries, fill("Date", "2026-12-01")])
        values = await page.evaluate(
            "() => ['name', 'plan', 'when'].map((id) => document.getElementById(id).value)"
        )
        assert values == ["Ann Lee", "P1", "2026-12-01"]
        assert await page.evaluate("document.getElementById('kind-b').checked")
        events = await page.evaluate("window.events")
        for el in ("name", "plan", "when"):
            assert f"input:{el}" in events and f"change:{el}" in events
        assert "change:kind-b" in events
        # the radio and the box share a label: each is found by its kind
        await fill_form(page, [fill("By number", "N-1")])
        assert await page.evaluate("document.getElementById('num').value") == "N-1"
        with pytest.raises(LayoutChanged, match="no 'Member ID' field"):
            await fill_form(page, [fill("Name", "Bo"), fill("Member ID", "X")], where="search")
        assert await page.evaluate("document.getElementById('name').value") == "Ann Lee"
        with pytest.raises(LayoutChanged, match="does not offer") as refused:
            await fill_form(page, [select("Plan", "SECRET-PAYER")])
        assert "SECRET" not in str(refused.value)  # a value never shows in a message

    run_page(chromium, body)


def test_submit_and_wait_reads_this_answer_in_one_go_and_on_view_checks_landmarks(
    chromium: BrowserThread,
) -> None:
    async def body(page: Page) -> None:
        url = "http://view.test/form"
        assert await on_view(page, url, "Search", labels=["Name", "Plan"], buttons=["Go"]) is None
        with pytest.raises(LayoutChanged, match="no 'Go again' button"):
            await on_view(page, url, "Search", buttons=["Go again"])
        with pytest.raises(LayoutChanged, match="another heading"):
            await on_view(page, url, "Find")
        for name in ("First Person", "Second Person"):
            answer = await submit_and_wait(
                page,
                lambda name=name: fill_form(page, [fill("Name", name)], submit="Go"),
                method="POST",
                path="/search",
                region="#out",
                answers={"found": Shown("h2", "Found")},
            )
            assert answer.kind == "found" and answer.region is not None
            assert answer.region.fields == {"Name": name}
            assert answer.region.tables == [{"heading": "Rows", "headers": ["A"], "rows": [["1"]]}]
            assert (await read_region(page, "#out")).fields == {"Name": name}

    run_page(chromium, body)


def test_a_list_of_members_is_read_from_the_view_then_the_next_lookup_is_its_own(
    settings: Settings, hub: Any, ground_truth: dict[str, Any], chromium: BrowserThread
) -> None:
    from bots.errors import PatientMismatch

    ids = {m["member_id"] for m in ground_truth["members"]}
    families: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in ground_truth["members"]:
        families.setdefault((m["payer_id"], m["subscriber_id"]), []).append(m)
    (payer, subscriber), family = next(
        (k, f) for k, f in families.items() if len(f) >= 2 and k[1] not in ids
    )
    # the family's contract number with a birth date none of them has: the hub lists them
    listed = EligibilityQuery(
        payer_id=payer, member_id=subscriber, dob="1950-01-01", date_of_service="2026-12-01"
    )
    (a,) = acme_subscribers(ground_truth, 1)

    async def body(page: Page, flow: PayerHubFlow) -> None:
        await flow.login(page, login_secrets(settings, "payerhub", "main"))
        shown: list[str] = []
        page.on("request", lambda r: shown.append(r.url) if "/api/eligibility" in r.url else None)
        with pytest.raises(PatientMismatch):  # nobody on the list has that birth date
            await flow.eligibility(page, listed)
        assert len(shown) == 1  # the list was read; no Select was pressed
        assert await page.locator("section.results table tbody tr").count() == len(family)
        assert (await flow.eligibility(page, question(a))).member_id == a["member_id"]

    with_page(chromium, settings, body)
