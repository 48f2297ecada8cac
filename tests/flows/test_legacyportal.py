"""The legacy-portal flow against Prairie Provider Connect in real Chromium, one quirk a test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from bots.engine.credentials import login_secrets
from bots.engine.runner import Runner
from bots.errors import (
    AmbiguousMatch,
    AuthenticationError,
    BusinessError,
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    PatientMismatch,
    PortalMaintenance,
    PortalUnavailable,
    RateLimited,
    SessionExpired,
)
from bots.flowkit.flow import LoginSecrets
from bots.flowkit.readonly import ReadOnlyGuard
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.ops import mock_portals as fixture_portals
from bots.settings import Settings, load_settings
from bots.store import Store
from flows._legacyportal_pages import BENEFIT_COLUMNS, benefit, page_content, rows_of
from flows.legacyportal import LegacyPortalFlow
from tests import browser_thread
from tests.browser_thread import BrowserThread
from tests.conftest import Portal, run_async
from tests.timing import scaled
from tests.truth import (
    _subset_payload,
    claim_question_outcome,
    claims_fitting,
    expected_claim,
    expected_claim_outcome,
    expected_eligibility,
)

pytestmark = pytest.mark.browser

PORTAL = "legacyportal"
DOS = "2026-12-01"


chromium = browser_thread.chromium  # the module's browser (a fixture)


@pytest.fixture(scope="module")
def legacy_server() -> Iterator[Portal]:
    started = fixture_portals.start(load_settings(), {PORTAL: 0})
    portal = Portal(PORTAL, started.urls[PORTAL])
    try:
        yield portal
    finally:
        portal.close()
        started.stop()


@pytest.fixture
def legacy(legacy_server: Portal) -> Portal:
    legacy_server.reset()
    return legacy_server


@pytest.fixture(scope="module")
def truth(legacy_server: Portal) -> dict[str, Any]:
    return legacy_server.admin("GET", "ground-truth")


@pytest.fixture
def settings(tmp_path: Path, legacy: Portal, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PAYERBOT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PAYERBOT_PORTALS__LEGACYPORTAL__BASE_URL", legacy.url)
    settings = load_settings()
    fixture_portals.provision_credentials(settings, PORTAL)
    return settings


Body = Callable[[Page, LegacyPortalFlow, LoginSecrets], Awaitable[Any]]


@pytest.fixture
def with_page(settings: Settings, chromium: BrowserThread) -> Callable[[Body], Any]:
    """with_page(body): run body(page, flow, secrets) in a fresh browser context."""

    def run(body: Body) -> Any:
        async def main() -> Any:
            context = await chromium.browser.new_context()
            try:
                flow = LegacyPortalFlow(settings.portals[PORTAL].base_url)
                guard = ReadOnlyGuard(flow.read_only_policy())  # as the engine's contexts
                await guard.install(context)
                page = await context.new_page()
                page.set_default_timeout(scaled(15) * 1000)
                answer = await body(page, flow, login_secrets(settings, PORTAL, "main"))
                assert guard.violations == []  # the flow only sent what it declares
                return answer
            finally:
                await context.close()

        return chromium.run(main())

    return run


def members(gt: dict[str, Any], payer: str | None = None) -> list[dict[str, Any]]:
    return [m for m in gt["members"] if m["payer_id"] in ((payer,) if payer else ("DELTA", "ELM"))]


def families(gt: dict[str, Any]) -> list[list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in members(gt):
        out.setdefault(m["subscriber_id"], []).append(m)
    return [f for f in out.values() if len(f) >= 2 and len({m["dob"] for m in f}) == len(f)]


def elig_query(m: dict[str, Any], **changes: Any) -> EligibilityQuery:
    values = {"payer_id": m["payer_id"], "member_id": m["member_id"], "dob": m["dob"]}
    return EligibilityQuery(**{**values, "date_of_service": DOS, **changes})


def payload(result: Any) -> dict[str, Any]:
    return result.model_dump(mode="json")


# --- login: frames, security question, password notice ------------------------------------


def test_login_answers_the_security_question_once_per_computer(with_page, legacy):
    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        assert not await flow.is_logged_in(page)
        await flow.login(page, secrets)
        assert await flow.is_logged_in(page)
        assert {f.name for f in page.frames} >= {"banner", "menu", "main"}
        await flow.login(page, secrets)  # "Remember this computer" was ticked
        no_answers = LoginSecrets(secrets.username, secrets.password)
        await page.context.clear_cookies()
        with pytest.raises(AuthenticationError, match=r"security question .* no answer"):
            await flow.login(page, no_answers)

    with_page(body)
    counters = legacy.counters()
    assert counters["questions_asked"] == 2 and counters["logins"] == {"RFCMAIN": 2}
    assert counters["failed_logins"] == {}


def test_a_login_after_a_log_off_on_the_same_page_works(with_page, legacy, truth):
    """The engine's new login: a log off, then a login on the page that was signed in."""
    m = members(truth, "ELM")[0]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        await flow.login(page, secrets)
        assert (await flow.eligibility(page, elig_query(m))).member_id == m["member_id"]
        await flow.logout(page)
        await asyncio.wait_for(flow.login(page, secrets), scaled(10))
        assert (await flow.eligibility(page, elig_query(m))).member_id == m["member_id"]

    with_page(body)
    assert legacy.counters()["logins"] == {"RFCMAIN": 2}


def test_wrong_security_answer_is_an_authentication_error(with_page, legacy):
    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        wrong = {q: "not-it" for q in secrets.security_answers}
        with pytest.raises(AuthenticationError, match="security answer"):
            await flow.login(page, LoginSecrets(secrets.username, secrets.password, None, wrong))
        with pytest.raises(AuthenticationError, match="Invalid User ID or Password"):
            await flow.login(page, LoginSecrets(secrets.username, "wrong-password"))

    with_page(body)
    assert legacy.counters()["failed_logins"] == {"RFCMAIN": 2}


def test_password_expiry_notice_is_put_off_never_acted_on(with_page, legacy, truth):
    legacy.knobs(password_expiry_days=5)
    m = members(truth, "ELM")[0]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        await flow.login(page, secrets)
        assert await flow.is_logged_in(page)
        assert (await flow.eligibility(page, elig_query(m))).member_id == m["member_id"]

    with_page(body)
    counters = legacy.counters()
    assert counters["password_notices"] == 1 and counters["writes"] == 0


# --- results equal the ground truth ---------------------------------------------------------


def eligibility_cases(gt: dict[str, Any]) -> list[tuple[EligibilityQuery, Any]]:
    """(query, member_key of the expected result | the error type expected)."""
    cases: list[tuple[EligibilityQuery, Any]] = []
    picked: set[str] = set()

    def pick(test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        m = next(m for m in members(gt) if test(m) and m["member_key"] not in picked)
        picked.add(m["member_key"])
        return m

    def active(m: dict[str, Any]) -> bool:
        return m["coverage"]["termination_date"] is None and m["coverage"]["effective_date"] < DOS

    for payer in ("DELTA", "ELM"):
        for rel in ("subscriber", "spouse", "child"):
            m = pick(lambda m, p=payer, r=rel: m["payer_id"] == p and m["relationship"] == r)
            cases.append((elig_query(m), m["member_key"]))
        m = pick(lambda m, p=payer: m["payer_id"] == p and bool(m["coverage"]["termination_date"]))
        cases.append((elig_query(m), m["member_key"]))  # terminated: inactive, no benefits
    m = pick(lambda m: m["coverage"]["effective_date"] > DOS)
    cases.append((elig_query(m), m["member_key"]))  # not yet effective
    m = pick(lambda m: active(m) and m["coverage"]["other_coverage"])
    cases.append((elig_query(m, last_name=m["last_name"]), m["member_key"]))
    fam = next(f for f in families(gt) if all(active(m) for m in f))
    target = fam[-1]
    cases.append((elig_query(target, member_id=target["subscriber_id"]), target["member_key"]))
    cases.append((elig_query(target, dob=fam[0]["dob"]), PatientMismatch))  # AAA 58
    cases.append(
        (elig_query(target, member_id=target["subscriber_id"], dob="1950-01-01"), PatientMismatch)
    )
    cases.append(
        (elig_query(fam[0], member_id=target["subscriber_id"] + "77"), PatientMismatch)
    )  # the portal falls back to the contract and shows somebody else
    cases.append((elig_query(target, member_id="XDP000000001"), MemberNotFound))
    cases.append((elig_query(target, last_name="Zzyzx"), PatientMismatch))  # AAA 73
    return cases


def test_eligibility_sample_equals_ground_truth(with_page, legacy, truth):
    cases = eligibility_cases(truth)
    assert sum(isinstance(e, str) for _q, e in cases) >= 10

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> list[Any]:
        await flow.login(page, secrets)
        outcomes: list[Any] = []
        for query, _expected in cases:
            try:
                outcomes.append(payload(await flow.eligibility(page, query)))
            except BusinessError as exc:
                outcomes.append(exc)
        return outcomes

    outcomes = with_page(body)
    for (query, expected), got in zip(cases, outcomes, strict=True):
        if isinstance(expected, str):
            assert isinstance(got, dict), (query.member_id, got)
            assert got["portal"] == PORTAL
            assert expected_eligibility(truth, expected, got) == _subset_payload(got)
        else:
            assert type(got) is expected, (query.member_id, got)
    reasons = {g.reason_code for g in outcomes if isinstance(g, PatientMismatch)}
    assert reasons >= {"58", "73", None}  # DOB, last name, somebody else on the page
    assert any(g["benefits"] for g in outcomes if isinstance(g, dict))
    assert any(g["pcp_npi"] for g in outcomes if isinstance(g, dict))
    assert any(g["other_coverage"] for g in outcomes if isinstance(g, dict))
    assert any(isinstance(g, dict) and not g["coverage_active"] for g in outcomes)


def claim_cases(gt: dict[str, Any]) -> list[tuple[ClaimStatusQuery, Any]]:
    cases: list[tuple[ClaimStatusQuery, Any]] = []
    legacy = [c for c in gt["claims"] if c["payer_id"] in ("DELTA", "ELM")]
    statuses = sorted({(c["status"]["category"], c["status"]["code"]) for c in legacy})
    for i, status in enumerate(statuses):
        pool = [c for c in legacy if (c["status"]["category"], c["status"]["code"]) == status]
        c = pool[i % len(pool)]
        query = ClaimStatusQuery(payer_id=c["payer_id"], claim_number=c["claim_number"])
        outcome = expected_claim_outcome(gt, c["claim_number"])  # an unseen status word: no answer
        cases.append((query, c if outcome == "result" else LayoutChanged))
    overlap = next(t for t in gt["traps"] if t["kind"] == "overlapping_claims")
    owner = next(m for m in gt["members"] if m["member_key"] == overlap["member_key"])
    fits = claims_fitting(
        gt,
        overlap["payer_id"],
        owner["member_id"],
        date.fromisoformat(overlap["dos_from"]),
        date.fromisoformat(overlap["dos_to"]),
    )
    assert claim_question_outcome(fits) == "ambiguous_match"
    cases.append(
        (
            ClaimStatusQuery(
                payer_id=overlap["payer_id"],
                member_id=owner["member_id"],
                dos_from=overlap["dos_from"],
                dos_to=overlap["dos_to"],
            ),
            AmbiguousMatch,
        )
    )
    multi = next(c for c in legacy if len(c["service_lines"]) > 2 and c["payment"])
    owner = next(m for m in gt["members"] if m["member_key"] == multi["member_key"])
    cases.append(
        (
            ClaimStatusQuery(
                payer_id=multi["payer_id"],
                claim_number=multi["claim_number"],
                member_id=multi["member_id"],
                dob=owner["dob"],
            ),
            multi,
        )
    )
    lone = next(
        c
        for c in legacy
        if c["status"]["category"] == "F2"
        and sum(
            o["member_key"] == c["member_key"] and o["dos_from"] == c["dos_from"] for o in legacy
        )
        == 1
    )
    by_member = ClaimStatusQuery(
        payer_id=lone["payer_id"],
        member_id=lone["member_id"],
        dos_from=lone["dos_from"],
        dos_to=lone["dos_to"],
    )
    cases.append((by_member, lone))
    cases.append(
        (
            ClaimStatusQuery(payer_id="ELM", claim_number=gt["not_on_file_claims"]["ELM"][0]),
            ClaimNotFound,
        )
    )
    stranger = next(
        m for m in members(gt, multi["payer_id"]) if m["member_key"] != owner["member_key"]
    )
    cases.append(
        (
            ClaimStatusQuery(
                payer_id=multi["payer_id"],
                claim_number=multi["claim_number"],
                member_id=stranger["member_id"],
                dob=stranger["dob"],
            ),
            PatientMismatch,
        )
    )
    return cases


def test_claim_status_sample_equals_ground_truth(with_page, legacy, truth):
    cases = claim_cases(truth)
    assert sum(isinstance(e, dict) for _q, e in cases) >= 10

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> list[Any]:
        await flow.login(page, secrets)
        outcomes: list[Any] = []
        for query, _expected in cases:
            try:
                outcomes.append(payload(await flow.claim_status(page, query)))
            except (BusinessError, LayoutChanged) as exc:
                outcomes.append(exc)
        return outcomes

    outcomes = with_page(body)
    assert {AmbiguousMatch, LayoutChanged} <= {e for _q, e in cases if isinstance(e, type)}
    for (query, expected), got in zip(cases, outcomes, strict=True):
        if isinstance(expected, dict):
            assert isinstance(got, dict), (query.claim_number, got)
            want = expected_claim(truth, expected["claim_number"], got)
            assert _subset_payload(got) == want
        else:
            assert type(got) is expected, (query.claim_number, got)
    categories = {g["category"] for g in outcomes if isinstance(g, dict)}
    assert categories >= {"F1", "F2", "F4", "P1", "P2", "P3", "P4", "A2"}
    assert any(
        g["adjustments"] and g["adjustments"][0]["rarc"] for g in outcomes if isinstance(g, dict)
    )


def test_claim_list_is_walked_across_pages(with_page, legacy, truth):
    legacy_claims = [c for c in truth["claims"] if c["payer_id"] == "DELTA"]
    keys = {m["member_key"]: m for m in members(truth, "DELTA")}
    by_family: dict[str, list[dict[str, Any]]] = {}
    for c in legacy_claims:
        by_family.setdefault(keys[c["member_key"]]["subscriber_id"], []).append(c)
    busy = max(by_family.values(), key=len)
    listed = sorted(busy, key=lambda c: (c["dos_from"], c["claim_number"]), reverse=True)
    assert len(listed) > 10

    def unique_billed(c: dict[str, Any]) -> bool:
        return (
            sum(o["member_key"] == c["member_key"] and o["billed"] == c["billed"] for o in listed)
            == 1
        )

    target = next(c for c in listed[10:] if unique_billed(c))  # on page 2
    query = ClaimStatusQuery(
        payer_id="DELTA",
        member_id=target["member_id"],
        dob=keys[target["member_key"]]["dob"],
        dos_from="2026-01-01",
        dos_to="2026-12-31",
        billed=target["billed"],
    )

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> Any:
        await flow.login(page, secrets)
        got = payload(await flow.claim_status(page, query))
        with pytest.raises(AmbiguousMatch):  # the same member's claims without the amount
            await flow.claim_status(page, query.model_copy(update={"billed": None}))
        return got

    got = with_page(body)
    assert _subset_payload(got) == expected_claim(truth, target["claim_number"], got)


# --- faults --------------------------------------------------------------------------------


def test_maintenance_window_raises_with_the_time_it_ends(with_page, legacy, truth):
    m = members(truth, "DELTA")[0]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        legacy.knobs(maintenance=True)
        with pytest.raises(PortalMaintenance) as at_login:
            await flow.login(page, secrets)
        legacy.knobs(maintenance=False)
        await flow.login(page, secrets)
        legacy.knobs(maintenance=True)
        with pytest.raises(PortalMaintenance) as in_frame:
            await flow.eligibility(page, elig_query(m))
        legacy.knobs(maintenance=False)
        assert await flow.is_logged_in(page)
        assert (await flow.eligibility(page, elig_query(m))).member_id == m["member_id"]
        for exc in (at_login.value, in_frame.value):
            until = exc.until
            assert until is not None and until.tzinfo is not None
            assert str(until.tzinfo) == "America/Chicago" and (until.hour, until.minute) == (5, 0)
            assert timedelta(0) < until - datetime.now(UTC) <= timedelta(hours=24)

    with_page(body)


def test_server_error_page_is_portal_unavailable(with_page, legacy, truth):
    m = members(truth, "ELM")[1]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        legacy.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await flow.login(page, secrets)
        legacy.knobs(error_rate=0.0)
        await flow.login(page, secrets)
        legacy.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await flow.eligibility(page, elig_query(m))
        legacy.knobs(error_rate=0.0)
        assert (await flow.eligibility(page, elig_query(m))).member_id == m["member_id"]

    with_page(body)
    assert legacy.counters()["failed_logins"] == {}


def test_too_many_requests_is_rate_limited_with_retry_after(with_page, legacy, truth):
    c = next(c for c in truth["claims"] if c["payer_id"] == "ELM")

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        await flow.login(page, secrets)
        legacy.knobs(rate_limit_per_minute=2)
        query = ClaimStatusQuery(payer_id="ELM", claim_number=c["claim_number"])
        with pytest.raises(RateLimited) as limited:
            await flow.claim_status(page, query)
        assert limited.value.retry_after is not None and 1 <= limited.value.retry_after <= 61
        legacy.knobs(rate_limit_per_minute=0)
        assert (await flow.claim_status(page, query)).claim_number == c["claim_number"]

    with_page(body)


def test_session_timeout_is_session_expired_then_login_again_works(with_page, legacy, truth):
    m = members(truth, "DELTA")[3]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> None:
        await flow.login(page, secrets)
        legacy.knobs(session_idle_seconds=0.3)
        await asyncio.sleep(
            0.5
        )  # the test waits out the portal's idle timeout; the flow never sleeps
        with pytest.raises(SessionExpired):
            await flow.eligibility(page, elig_query(m))
        assert not await flow.is_logged_in(page)
        legacy.knobs(session_idle_seconds=900)
        await flow.login(page, secrets)
        assert (await flow.eligibility(page, elig_query(m))).member_id == m["member_id"]

    with_page(body)
    counters = legacy.counters()
    assert counters["logins"] == {"RFCMAIN": 2} and counters["questions_asked"] == 1


# --- layout B: right values or LayoutChanged, never a wrong value --------------------------


def test_layout_b_gives_correct_results_or_layout_changed(with_page, legacy, truth):
    legacy.knobs(layout="B")
    claims = [c for q, c in claim_cases(truth) if isinstance(c, dict) and q.claim_number]
    m = members(truth, "ELM")[0]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> list[Any]:
        await flow.login(page, secrets)
        outcomes: list[Any] = []
        with pytest.raises(LayoutChanged):
            await flow.eligibility(page, elig_query(m))
        for c in claims:
            try:
                query = ClaimStatusQuery(payer_id=c["payer_id"], claim_number=c["claim_number"])
                outcomes.append(payload(await flow.claim_status(page, query)))
            except LayoutChanged as exc:
                outcomes.append(exc)
        return outcomes

    outcomes = with_page(body)
    for c, got in zip(claims, outcomes, strict=True):
        if isinstance(got, dict):
            assert _subset_payload(got) == expected_claim(truth, c["claim_number"], got)
    assert any(isinstance(g, dict) for g in outcomes), "paid and denied claims still read right"
    assert any(isinstance(g, LayoutChanged) for g in outcomes), "renamed statuses are refused"


def test_benefit_columns_are_read_by_header_in_either_order(with_page, legacy, truth):
    """Layout B moves the benefit grid's columns: read by header, the benefits are the same."""
    legacy.knobs(new_device_question=False)
    account = next(a for a in truth["accounts"][PORTAL] if a["account"] == "second")
    m = next(m for m in members(truth, "ELM") if m["coverage"]["termination_date"] is None)
    pages = {}
    with httpx.Client(base_url=legacy.url, follow_redirects=True) as client:
        client.post(
            "/login.aspx",
            data={"txtUserID": account["username"], "txtPassword": account["password"]},
        )
        for layout in ("A", "B"):
            legacy.knobs(layout=layout)
            form = {"ddlPayer": "0562", "txtSubscriberID": m["member_id"], "txtDOS": "12/01/2026"}
            form["txtDOB"] = m["dob"][5:7] + m["dob"][8:10] + m["dob"][:4]
            pages[layout] = client.post("/Eligibility/Inquiry.aspx", data=form).text
    assert pages["A"] != pages["B"]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> list[Any]:
        read = []
        for layout in ("A", "B"):
            await page.set_content(pages[layout])
            rows = rows_of(await page_content(page.main_frame), BENEFIT_COLUMNS)
            read.append([b.model_dump(mode="json") for b in map(benefit, rows)])
        return read

    in_a, in_b = with_page(body)
    assert in_a == in_b and len(in_a) == len(m["benefits"])


# --- the engine drives the flow ------------------------------------------------------------


def test_runner_batch_logs_in_once_and_answers_the_question_once(
    settings, legacy, truth, monkeypatch
):
    monkeypatch.setenv("PAYERBOT_PORTALS__LEGACYPORTAL__MAX_SESSIONS", "1")
    settings = load_settings()
    picked = [m for m in members(truth) if m["relationship"] == "subscriber"][:6]
    rows = [(None, elig_query(m)) for m in picked]
    store = Store.open(settings)
    summary = run_async(Runner(settings, store).run(LookupKind.ELIGIBILITY, rows))
    outcomes = store.run_outcomes(summary.run_id)
    store.close()
    assert [o.state for o in outcomes] == ["succeeded"] * len(rows)
    counters = legacy.counters()
    assert counters["logins"] == {"RFCMAIN": 1} and counters["questions_asked"] == 1
    assert counters["lookups"]["eligibility"] == len(rows) and counters["writes"] == 0


def test_a_word_the_flow_never_saw_is_a_changed_page_never_an_answer(with_page, legacy, truth):
    """Strict reading: a network word the portal starts using, or a claim status it was
    never taught (the data set's R1 claim), ends as LayoutChanged naming the field only."""
    m = next(
        m
        for m in members(truth)
        if m["coverage"]["termination_date"] is None and m["coverage"]["effective_date"] < DOS
    )
    unseen = next(
        t for t in truth["traps"] if t["kind"] == "unseen_status_word" and t["portal"] == PORTAL
    )

    async def retitle(route: Any) -> None:
        response = await route.fetch()
        if "html" not in response.headers.get("content-type", ""):
            await route.fulfill(response=response)
            return
        body = (await response.text()).replace(">In Network<", ">Tier 1 Network<")
        await route.fulfill(response=response, body=body)

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> list[str]:
        await flow.login(page, secrets)
        claim = ClaimStatusQuery(payer_id=unseen["payer_id"], claim_number=unseen["claim_number"])
        errors = []
        with pytest.raises(LayoutChanged) as status:
            await flow.claim_status(page, claim)
        errors.append(str(status.value))
        await page.route("**/*", retitle)
        with pytest.raises(LayoutChanged) as network:
            await flow.eligibility(page, elig_query(m))
        errors.append(str(network.value))
        return errors

    status, network = with_page(body)
    assert "claim status word the flow does not know" in status
    assert "network word the flow does not know" in network
    for text in (status, network):
        assert "RETURNED" not in text and "Tier" not in text and m["member_id"] not in text
    assert expected_claim_outcome(truth, unseen["claim_number"]) == "layout_changed"


def test_consecutive_lookups_stay_on_a_shown_form_and_each_get_their_own_answer(
    with_page, legacy, truth
):
    """A refused inquiry shows its form again: the next one is sent from it, without loading
    the form; an answer page has no form: the next one loads it. Every question gets its own
    answer, a refusal right after an answer included (never the answer before it)."""
    first, second, third = members(truth, "DELTA")[:2] + members(truth, "ELM")[:1]
    cases: list[tuple[EligibilityQuery, Any, int]] = [  # query, expected, forms loaded
        (elig_query(first), first["member_key"], 1),
        (elig_query(second, member_id="XDP000000001"), MemberNotFound, 1),
        (elig_query(second), second["member_key"], 0),  # sent from the form shown again
        (elig_query(third, dob="1950-01-01"), PatientMismatch, 1),
        (elig_query(third), third["member_key"], 0),
        (elig_query(first), first["member_key"], 1),
    ]

    async def body(page: Page, flow: LegacyPortalFlow, secrets: LoginSecrets) -> list[Any]:
        await flow.login(page, secrets)
        form_loads: list[str] = []
        page.on(
            "request",
            lambda r: (
                form_loads.append(r.method)
                if r.url.endswith("/Eligibility/Inquiry.aspx") and r.method == "GET"
                else None
            ),
        )
        outcomes: list[Any] = []
        for query, _expected, _loads in cases:
            before = len(form_loads)
            try:
                got: Any = payload(await flow.eligibility(page, query))
            except BusinessError as exc:
                got = exc
            outcomes.append((got, len(form_loads) - before))
        region = page.locator(flow.result_region or "")  # the evidence clip: the main frame
        assert await region.count() == 1
        assert (await region.screenshot()).startswith(b"\x89PNG")
        return outcomes

    outcomes = with_page(body)
    for (query, expected, loads), (got, loaded) in zip(cases, outcomes, strict=True):
        if isinstance(expected, str):
            assert isinstance(got, dict), got
            assert got["member_id"] == query.member_id
            assert expected_eligibility(truth, expected, got) == _subset_payload(got)
        else:
            assert type(got) is expected, got
        assert loaded == loads
    assert legacy.counters()["lookups"]["eligibility"] == len(cases)
