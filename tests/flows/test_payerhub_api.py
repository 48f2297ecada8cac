"""PayerHub's API reads (``api_reads``): the same questions answered from the JSON the hub's
own pages fetch, through the logged-in browser context. Every answer, and every refusal,
must equal what the page-reading flow gives for the same question (ground truth included);
the portal's faults must come out as the same classified errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from bots.engine.credentials import login_secrets
from bots.errors import (
    LayoutChanged,
    PayerbotError,
    PortalMaintenance,
    PortalUnavailable,
    RateLimited,
    SessionExpired,
)
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from flows._payerhub_api import HubApi, _eligibility_result, _kept
from flows.payerhub import ERROR_PAGES, PayerHubFlow
from tests import browser_thread
from tests.conftest import run_rows
from tests.flows.test_payerhub import active_member, api_login, with_page
from tests.truth import _subset_payload, expected_claim, expected_eligibility, member

pytestmark = pytest.mark.browser

chromium = browser_thread.chromium  # the module's browser (a fixture)


def _questions(gt: dict[str, Any]) -> list[EligibilityQuery | ClaimStatusQuery]:
    traps = {t["kind"]: t for t in reversed(gt["traps"])}  # the first of each kind
    qs: list[EligibilityQuery | ClaimStatusQuery] = []
    for payer in ("ACME", "BLUESTEM", "CARDINAL"):
        m = active_member(gt, payer)
        qs.append(
            EligibilityQuery(
                payer_id=payer,
                member_id=m["member_id"],
                dob=m["dob"],
                date_of_service="2026-12-01",
                service_type="98",
            )
        )
    ended = next(
        m
        for m in gt["members"]
        if m["payer_id"] == "ACME"
        and m["coverage"]["termination_date"]
        and m["coverage"]["termination_date"] < "2026-11-01"
    )
    qs.append(
        EligibilityQuery(
            payer_id="ACME",
            member_id=ended["member_id"],
            dob=ended["dob"],
            date_of_service="2026-12-01",
        )
    )
    qs.append(
        EligibilityQuery(
            payer_id="ACME",
            member_id="ACM99999999999",
            dob="1980-01-01",
            date_of_service="2026-12-01",
        )
    )
    twins = traps["twins"]
    qs.append(
        EligibilityQuery(
            payer_id=twins["payer_id"],
            member_id=twins["subscriber_id"],
            dob=twins["dob"],
            date_of_service="2026-12-01",
        )
    )
    resolves = traps["subscriber_id_resolves"]
    qs.append(
        EligibilityQuery(
            payer_id=resolves["payer_id"],
            member_id=resolves["subscriber_id"],
            dob=resolves["dob"],
            date_of_service="2026-12-01",
        )
    )
    wrong_dob = traps["dob_mismatch"]
    qs.append(
        EligibilityQuery(
            payer_id=wrong_dob["payer_id"],
            member_id=wrong_dob["member_id"],
            dob=wrong_dob["dob_given"],
            date_of_service="2026-12-01",
        )
    )
    for c in [c for c in gt["claims"] if c["payer_id"] in ("ACME", "CARDINAL")][:4]:
        qs.append(ClaimStatusQuery(payer_id=c["payer_id"], claim_number=c["claim_number"]))
    c = next(c for c in gt["claims"] if c["payer_id"] == "BLUESTEM")
    qs.append(
        ClaimStatusQuery(
            payer_id="BLUESTEM",
            member_id=c["member_id"],
            dob=member(gt, c["member_key"])["dob"],
            dos_from=c["dos_from"],
            dos_to=c["dos_to"],
        )
    )
    dup = traps["duplicate_claims"]
    qs.append(
        ClaimStatusQuery(
            payer_id=dup["payer_id"], patient_account_number=dup["patient_account_number"]
        )
    )
    other = traps["claim_of_another_member"]
    row = member(gt, other["row_member_key"])
    qs.append(
        ClaimStatusQuery(
            payer_id=other["payer_id"],
            claim_number=other["claim_number"],
            member_id=row["member_id"],
            dob=row["dob"],
        )
    )
    qs.append(ClaimStatusQuery(payer_id="ACME", claim_number="A260000000000"))
    unseen = next(
        t for t in gt["traps"] if t["kind"] == "unseen_status_word" and t["portal"] == "payerhub"
    )  # a status category the flow was never taught: no answer from pages or API
    qs.append(ClaimStatusQuery(payer_id=unseen["payer_id"], claim_number=unseen["claim_number"]))
    return qs


def _answer(result_or_error: Any) -> Any:
    if isinstance(result_or_error, PayerbotError):
        return type(result_or_error).__name__, getattr(result_or_error, "reason_code", None)
    payload = json.loads(result_or_error.model_dump_json())
    return _subset_payload(payload)


async def _ask(flow: PayerHubFlow, page: Page, q: Any) -> Any:
    try:
        if isinstance(q, EligibilityQuery):
            return await flow.eligibility(page, q)
        return await flow.claim_status(page, q)
    except PayerbotError as exc:
        return exc


def test_api_reads_answer_exactly_as_the_pages_do(settings, hub, ground_truth, chromium):
    questions = _questions(ground_truth)

    async def body(page: Page, pages: PayerHubFlow) -> list[tuple[Any, Any, Any]]:
        api = PayerHubFlow(pages.base_url, api_reads=True)
        await pages.login(page, login_secrets(settings, "payerhub", "main"))
        out = []
        for q in questions:
            out.append((q, await _ask(pages, page, q), await _ask(api, page, q)))
        return out

    answers = with_page(chromium, settings, body)
    kinds = set()
    for q, by_page, by_api in answers:
        assert _answer(by_api) == _answer(by_page), q
        kinds.add(_answer(by_api)[0] if isinstance(by_api, PayerbotError) else "result")
        if not isinstance(by_api, PayerbotError):
            (evidence,) = by_api.attachments
            saved = json.loads(evidence.content)
            assert saved["status"] == 200 and saved["response"], "the portal's answer is kept"
            payload = json.loads(by_api.model_dump_json())  # the ground truth, independently
            if isinstance(q, EligibilityQuery):
                key = next(
                    m["member_key"]
                    for m in ground_truth["members"]
                    if m["member_id"] == by_api.member_id and m["dob"] == by_api.dob.isoformat()
                )
                want = expected_eligibility(ground_truth, key, payload)
            else:
                want = expected_claim(ground_truth, by_api.claim_number, payload)
            assert want == _subset_payload(payload), q
    # the set covers answers and each kind of refusal
    assert {
        "result",
        "MemberNotFound",
        "PatientMismatch",
        "ClaimNotFound",
        "AmbiguousMatch",
        "LayoutChanged",
    } <= kinds
    assert hub.counters()["writes"] == 0


def test_api_reads_classify_the_portals_faults(settings, hub, ground_truth, chromium):
    m = active_member(ground_truth)
    query = EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )
    account = next(a for a in ground_truth["accounts"]["payerhub"] if a["account"] == "main")

    async def body(page: Page, pages: PayerHubFlow) -> None:
        api = PayerHubFlow(pages.base_url, api_reads=True)
        await api.login(page, login_secrets(settings, "payerhub", "main"))
        assert (await api.eligibility(page, query)).member_id == m["member_id"]
        hub.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await api.eligibility(page, query)
        hub.knobs(error_rate=0.0, rate_limit_per_minute=1, rate_window_seconds=60)
        with pytest.raises(RateLimited) as limited:
            for _ in range(3):
                await api.eligibility(page, query)
        assert limited.value.retry_after and limited.value.retry_after > 0
        hub.knobs(rate_limit_per_minute=0, maintenance=True)
        with pytest.raises(PortalMaintenance):
            await api.eligibility(page, query)
        hub.knobs(maintenance=False)
        api_login(api.base_url, account)  # a newer login elsewhere ends ours
        with pytest.raises(SessionExpired):
            await api.eligibility(page, query)

    with_page(chromium, settings, body)


def test_the_evidence_keeps_the_portals_bytes_as_received():
    body = b'{"result":"detail",  "member": {"last_name": "Z\\u00e9ro"}}'
    kept = _kept({"portal": "payerhub", "request": "POST /api/eligibility", "status": 200}, body)
    assert body in kept, "not parsed and written again"
    saved = json.loads(kept)
    assert saved["status"] == 200 and saved["response"] == json.loads(body)


def test_api_reads_check_the_api_not_the_search_pages(settings, hub, ground_truth, chromium):
    """The drift canary's search stage for API reads asks the API (one GET, no page
    opened): a redesign of pages these reads never open must not pause them, a missing API
    is drift, an ended session is an ended session."""
    account = next(a for a in ground_truth["accounts"]["payerhub"] if a["account"] == "main")

    async def body(page: Page, pages: PayerHubFlow) -> None:
        api = PayerHubFlow(pages.base_url, api_reads=True)
        await api.login(page, login_secrets(settings, "payerhub", "main"))
        where, asked = page.url, hub.counters()["requests"]
        assert await api.landmarks(page, "search") == []
        assert page.url == where, "no search page opened"
        assert hub.counters()["requests"] == asked + 1, "one request of the API"
        elsewhere = HubApi(f"{pages.base_url}/no-such-api", "payerhub", ERROR_PAGES)
        (missing,) = await elsewhere.landmarks(page)
        assert "no payer list" in missing, missing
        api_login(api.base_url, account)  # a newer login elsewhere ends ours
        with pytest.raises(SessionExpired):
            await api.landmarks(page, "search")

    with_page(chromium, settings, body)


def test_a_batch_with_api_reads_keeps_the_portals_answer_as_evidence(
    settings, hub, ground_truth, monkeypatch, tmp_path
):
    monkeypatch.setenv("PAYERBOT_PORTALS__PAYERHUB__API_READS", "true")
    from bots.settings import load_settings

    fresh = load_settings()
    m = active_member(ground_truth)
    query = EligibilityQuery(
        payer_id="ACME", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )
    summary, outcomes = run_rows(fresh, LookupKind.ELIGIBILITY, [(2, query)])
    assert summary.counts["succeeded"] == 1
    (row,) = outcomes
    evidence = row.evidence_path
    assert evidence.endswith(".json"), evidence
    saved = json.loads(Path(evidence).read_text(encoding="utf-8"))
    assert saved["response"]["member"]["member_id"] == m["member_id"]


def test_a_word_the_flow_never_saw_is_a_changed_page_on_pages_and_api(
    settings, hub, ground_truth, chromium
):
    """Strict reading: the hub starts showing a network word (pages) or code (API) the flow
    was never taught. Both end as LayoutChanged naming the field, never as an answer with
    a guessed network (the page reader used to read any word but one as out of network),
    and never quoting the word or the patient."""
    m = active_member(ground_truth, "BLUESTEM")
    query = EligibilityQuery(
        payer_id="BLUESTEM", member_id=m["member_id"], dob=m["dob"], date_of_service="2026-12-01"
    )

    async def new_page_word(route: Any) -> None:
        response = await route.fetch()
        script = (await response.text()).replace('"In-network"', '"Preferred network"')
        await route.fulfill(response=response, body=script)

    async def body(page: Page, pages: PayerHubFlow) -> list[str]:
        api = PayerHubFlow(pages.base_url, api_reads=True)
        await page.route("**/eligibility.js", new_page_word)
        await pages.login(page, login_secrets(settings, "payerhub", "main"))
        errors = []
        # API reads go through the context's request API (no page route sees them): the
        # portal's real answer, as kept in the evidence, is read again with a new code in it
        (evidence,) = (await api.eligibility(page, query)).attachments
        data = json.loads(evidence.content)["response"]
        for group in data["benefit_groups"]:
            for b in group["benefits"]:
                b["in_network"] = "P" if b["in_network"] == "Y" else b["in_network"]
        with pytest.raises(LayoutChanged) as changed:
            _eligibility_result("payerhub", query, data, evidence)
        errors.append(str(changed.value))
        with pytest.raises(LayoutChanged) as changed:
            await pages.eligibility(page, query)
        errors.append(str(changed.value))
        return errors

    by_api, by_page = with_page(chromium, settings, body)
    for text in (by_api, by_page):
        assert "network word the flow does not know" in text, text
        assert "Preferred" not in text and m["member_id"] not in text
