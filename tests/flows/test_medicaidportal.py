"""The Medicaid portal flow in real Chromium: each of the portal's quirks, then the ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from bots.engine.credentials import login_secrets
from bots.errors import (
    AuthenticationError,
    ClaimNotFound,
    LayoutChanged,
    MemberNotFound,
    NoCoverageOnDate,
    PatientMismatch,
    PortalBlocked,
    PortalMaintenance,
    PortalUnavailable,
    RateLimited,
    SessionExpired,
)
from bots.flowkit.flow import LoginSecrets
from bots.models import ClaimStatusQuery, ClaimStatusResult, EligibilityQuery, EligibilityResult
from bots.ops import mock_portals as fixture_portals
from bots.settings import Settings, load_settings
from flows.medicaidportal import MedicaidPortalFlow
from tests import browser_thread
from tests.browser_thread import BrowserThread
from tests.conftest import DEFAULT_KNOBS, Portal
from tests.timing import scaled
from tests.truth import (
    _subset_payload,
    expected_claim,
    expected_claim_outcome,
    expected_eligibility,
    expected_eligibility_outcome,
)

pytestmark = pytest.mark.browser
PAYER = "STATEMCD"
DOS = "2026-12-01"
CALM = {
    **DEFAULT_KNOBS,
    "maintenance": False,
    "layout": "A",
    "rate_limit_per_minute": 0,
    "rate_window_seconds": 60,
    "captcha_after_per_minute": 0,
}
Body = Callable[[Page, MedicaidPortalFlow], Awaitable[Any]]


@pytest.fixture(scope="module")
def medicaid() -> Iterator[Portal]:
    started = fixture_portals.start(load_settings(), {"medicaidportal": 0})
    portal = Portal("medicaidportal", started.urls["medicaidportal"])
    try:
        yield portal
    finally:
        portal.close()
        started.stop()


@pytest.fixture(scope="module")
def mcd_settings(medicaid: Portal, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("medicaid") / "var")
    portal = settings.portals["medicaidportal"]
    settings.portals["medicaidportal"] = portal.model_copy(update={"base_url": medicaid.url})
    fixture_portals.provision_credentials(settings, "medicaidportal")
    return settings


@pytest.fixture(scope="module")
def gt(medicaid: Portal) -> dict[str, Any]:
    return dict(medicaid.admin("GET", "ground-truth"))


@pytest.fixture
def mcd(medicaid: Portal) -> Portal:
    medicaid.admin("POST", "reset")
    medicaid.knobs(**CALM)
    return medicaid


@pytest.fixture
def secrets(mcd_settings: Settings) -> LoginSecrets:
    return login_secrets(mcd_settings, "medicaidportal", "main")


def with_page(chromium: BrowserThread, settings: Settings, body: Body) -> Any:
    """``body`` on a guarded page of a fresh context of the module's Chromium."""
    flow = MedicaidPortalFlow(settings.portals["medicaidportal"].base_url)
    return chromium.on_guarded_page(flow, body, timeout_seconds=10)


chromium = browser_thread.chromium  # the module's browser (a fixture)


def recipients(gt: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in gt["members"] if m["payer_id"] == PAYER]


def active(gt: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m
        for m in recipients(gt)
        if m["coverage"]["termination_date"] is None and m["coverage"]["effective_date"] < DOS
    ]


def claims(gt: dict[str, Any], category: str, code: str | None = None) -> list[dict[str, Any]]:
    return [
        c
        for c in gt["claims"]
        if c["payer_id"] == PAYER
        and c["status"]["category"] == category
        and code in (None, c["status"]["code"])
    ]


def elig_query(m: dict[str, Any], **changes: Any) -> EligibilityQuery:
    values = {"payer_id": PAYER, "member_id": m["member_id"], "dob": m["dob"]}
    return EligibilityQuery(**{**values, "date_of_service": DOS, **changes})


def claim_query(c: dict[str, Any], **changes: Any) -> ClaimStatusQuery:
    return ClaimStatusQuery(**{"payer_id": PAYER, "claim_number": c["claim_number"], **changes})


def assert_eligibility(gt: dict[str, Any], key: str, result: EligibilityResult) -> None:
    payload = result.model_dump(mode="json")
    payload.pop("attachments", None)
    assert result.portal == "medicaidportal"
    assert expected_eligibility(gt, key, payload) == _subset_payload(payload)  # sorts first


def assert_claim(gt: dict[str, Any], number: str, result: ClaimStatusResult) -> None:
    (pdf,) = result.attachments
    assert pdf.media_type == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert number not in pdf.filename  # evidence file names carry no PHI
    payload = result.model_dump(mode="json")
    payload.pop("attachments", None)
    assert expected_claim(gt, number, payload) == _subset_payload(payload)


# --- one test per quirk -------------------------------------------------------------------------


def test_terms_of_use_are_accepted_on_every_login(
    mcd: Portal, mcd_settings: Settings, secrets: LoginSecrets, chromium: BrowserThread
) -> None:
    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        assert await flow.is_logged_in(page)
        await flow.login(page, secrets)  # a new login: the terms again
        assert await flow.is_logged_in(page)

    with_page(chromium, mcd_settings, body)
    counters = mcd.counters()
    assert counters["terms_accepted"] == 2 and counters["terms_declined"] == 0
    assert counters["logins"] == {secrets.username: 2} and counters["writes"] == 0


def test_a_login_after_a_log_out_on_the_same_page_works(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    """The engine's new login: a log out, then a login on the page that was signed in."""
    m = active(gt)[0]

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        assert_eligibility(gt, m["member_key"], await flow.eligibility(page, elig_query(m)))
        await flow.logout(page)
        await asyncio.wait_for(flow.login(page, secrets), scaled(10))
        assert_eligibility(gt, m["member_key"], await flow.eligibility(page, elig_query(m)))

    with_page(chromium, mcd_settings, body)
    assert mcd.counters()["logins"] == {secrets.username: 2}


def test_wrong_password_is_an_authentication_error(
    mcd: Portal, mcd_settings: Settings, secrets: LoginSecrets, chromium: BrowserThread
) -> None:
    wrong = LoginSecrets(secrets.username, "not-the-password")

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        with pytest.raises(AuthenticationError, match="incorrect"):
            await flow.login(page, wrong)

    with_page(chromium, mcd_settings, body)
    assert mcd.counters()["failed_logins"] == {secrets.username: 1}


def test_masked_dates_refuse_fill_and_are_typed_key_by_key(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    m = active(gt)[0]

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        await page.goto(f"{flow.base_url}/eligibility")
        dob = page.get_by_label("Date of Birth")
        await dob.fill("01/02/1990")  # what a naive flow would do
        assert await dob.input_value() == "__/__/____"
        assert await page.get_by_text("Invalid date").is_visible()
        assert_eligibility(gt, m["member_key"], await flow.eligibility(page, elig_query(m)))

    with_page(chromium, mcd_settings, body)


def test_429_is_rate_limited_with_retry_after(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    claim = claims(gt, "F1")[2]

    async def body(page: Page, flow: MedicaidPortalFlow) -> list[RateLimited]:
        await flow.login(page, secrets)  # 5 page loads
        mcd.knobs(rate_limit_per_minute=8)  # claim search 2, summary 1: the PDF is the 9th
        caught = []
        with pytest.raises(RateLimited) as on_pdf:
            await flow.claim_status(page, claim_query(claim))
        assert page.url.endswith("/detail.pdf")  # a 429 page came instead of the download
        assert await flow.is_logged_in(page)  # a 429 does not end the session
        caught.append(on_pdf.value)
        with pytest.raises(RateLimited) as on_search:
            await flow.eligibility(page, elig_query(active(gt)[1]))
        caught.append(on_search.value)
        return caught

    for error in with_page(chromium, mcd_settings, body):
        assert error.retry_after is not None and 1 <= error.retry_after <= 61
    assert mcd.counters()["rate_limited"] == 2


def test_captcha_stops_the_bot_and_is_never_answered(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    m = active(gt)[2]
    mcd.knobs(captcha_after_per_minute=8)

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        with pytest.raises(PortalBlocked):
            for _ in range(4):
                await flow.eligibility(page, elig_query(m))
        assert await page.get_by_role("heading", name="Security Check").is_visible()
        with pytest.raises(PortalBlocked):  # it stays until a person clears it
            await flow.login(page, secrets)

    with_page(chromium, mcd_settings, body)
    counters = mcd.counters()
    assert counters["captcha_active"] is True and counters["captcha_submissions"] == 0


def test_claim_detail_pdf_is_downloaded_attached_and_parsed(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    claim = next(c for c in claims(gt, "F2") if len(c["service_lines"]) > 1)

    async def body(page: Page, flow: MedicaidPortalFlow) -> ClaimStatusResult:
        await flow.login(page, secrets)
        return await flow.claim_status(page, claim_query(claim))

    result = with_page(chromium, mcd_settings, body)
    assert_claim(gt, claim["claim_number"], result)
    assert len(result.service_lines) == len(claim["service_lines"]) > 1
    assert result.adjustments and all(a.description for a in result.adjustments)
    assert "SERVICE LINES" in result.raw_text  # the PDF's text is part of the evidence
    assert mcd.counters()["writes"] == 0


def test_maintenance_is_postponed_until_six_eastern(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    mcd.knobs(maintenance=True)

    async def body(page: Page, flow: MedicaidPortalFlow) -> list[PortalMaintenance]:
        caught = []
        with pytest.raises(PortalMaintenance) as at_login:
            await flow.login(page, secrets)
        caught.append(at_login.value)
        mcd.knobs(maintenance=False)
        await flow.login(page, secrets)
        mcd.knobs(maintenance=True)
        with pytest.raises(PortalMaintenance) as mid_run:
            await flow.eligibility(page, elig_query(active(gt)[0]))
        caught.append(mid_run.value)
        return caught

    for error in with_page(chromium, mcd_settings, body):
        assert error.until is not None and error.until.tzinfo is not None
        eastern = error.until.astimezone(ZoneInfo("America/New_York"))
        assert (eastern.hour, eastern.minute) == (6, 0)
        assert timedelta(0) < error.until - datetime.now(ZoneInfo("UTC")) <= timedelta(days=1)


def test_server_error_is_portal_unavailable_not_a_refused_login(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        mcd.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await flow.login(page, secrets)
        mcd.knobs(error_rate=0.0)
        await flow.login(page, secrets)
        mcd.knobs(error_rate=1.0)
        with pytest.raises(PortalUnavailable):
            await flow.claim_status(page, claim_query(claims(gt, "F1")[0]))

    with_page(chromium, mcd_settings, body)
    assert mcd.counters()["failed_logins"] == {}


def test_session_ended_is_session_expired(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        mcd.knobs(session_idle_seconds=0)
        with pytest.raises(SessionExpired):
            await flow.eligibility(page, elig_query(active(gt)[0]))
        assert not await flow.is_logged_in(page)

    with_page(chromium, mcd_settings, body)


def test_layout_b_reads_right_or_says_layout_changed(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    mcd.knobs(layout="B")
    m, paid, pended = active(gt)[3], claims(gt, "F1")[1], claims(gt, "P1")[0]

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        assert_eligibility(gt, m["member_key"], await flow.eligibility(page, elig_query(m)))
        assert_claim(gt, paid["claim_number"], await flow.claim_status(page, claim_query(paid)))
        with pytest.raises(LayoutChanged):  # "Pending" now reads "Suspended"
            await flow.claim_status(page, claim_query(pended))

    with_page(chromium, mcd_settings, body)


# --- every field against the ground truth -------------------------------------------------------


def test_eligibility_lookups_equal_the_ground_truth(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    everyone = recipients(gt)
    by_key = {m["member_key"]: m for m in everyone}
    segmented = {m["member_key"] for m in everyone if m["coverage"].get("segments")}
    steady = [m for m in active(gt) if m["member_key"] not in segmented]
    picks = [
        next(
            m for m in steady if m["relationship"] == "subscriber" and m["plan_number"] == "MMC-A"
        ),
        next(
            m for m in steady if m["relationship"] == "subscriber" and m["plan_number"] == "MFFS-B"
        ),
        next(m for m in steady if m["relationship"] == "spouse"),
        next(m for m in steady if m["relationship"] == "child"),
        steady[-1],
        *[m for m in everyone if m["coverage"]["termination_date"]][:4],  # terminated in 2026
        next(m for m in everyone if m["coverage"]["effective_date"] > DOS),  # starts next year
        *[  # two coverage segments: the date in the gap between them, or in the later one
            by_key[t["member_key"]]
            for t in gt["traps"]
            if t["kind"] in ("coverage_gap", "coverage_segments")
        ],
    ]
    picks.append(next(m for m in steady if m.get("confidential") and m not in picks))
    assert len({m["member_key"] for m in picks}) == 13  # the last one's answer shows no identity
    outcomes = [expected_eligibility_outcome(gt, m["member_key"], date(2026, 12, 1)) for m in picks]
    assert outcomes.count("no_coverage_on_date") == 6  # terminated, not yet effective, the gap
    family = next(
        [m for m in steady if m["subscriber_id"] == head["subscriber_id"]]
        for head in steady
        if sum(m["subscriber_id"] == head["subscriber_id"] for m in steady) >= 2
        and not [m for m in steady if m["subscriber_id"] == head["subscriber_id"]][1].get(
            "confidential"
        )
    )
    hidden = next(
        m
        for m in steady
        if m.get("confidential")
        and any(o["subscriber_id"] == m["subscriber_id"] and o is not m for o in steady)
    )
    relative = next(
        o for o in steady if o["subscriber_id"] == hidden["subscriber_id"] and o is not hidden
    )

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        for m, outcome in zip(picks, outcomes, strict=True):
            if outcome == "result":
                result = await flow.eligibility(page, elig_query(m))
                assert_eligibility(gt, m["member_key"], result)
                continue
            with pytest.raises(NoCoverageOnDate) as uncovered:  # no segment picked instead
                await flow.eligibility(page, elig_query(m))
            assert str(uncovered.value) == "no coverage segment covers the date of service"
        with pytest.raises(MemberNotFound) as unknown:
            await flow.eligibility(page, elig_query(steady[0], member_id="912345678901"))
        assert unknown.value.reason_code == "75"
        with pytest.raises(MemberNotFound):  # a real ID with a DOB on nobody's record
            await flow.eligibility(page, elig_query(steady[0], dob="1901-01-01"))
        with pytest.raises(PatientMismatch):  # the portal shows the case member with that DOB
            await flow.eligibility(page, elig_query(family[0], dob=family[1]["dob"]))
        # a confidential recipient is never shown through the case fallback: no answer
        with pytest.raises(MemberNotFound):
            await flow.eligibility(page, elig_query(relative, dob=hidden["dob"]))
        withheld = await flow.eligibility(page, elig_query(hidden))
        assert withheld.identity_basis == "search_unique"
        assert (withheld.member_id, withheld.dob, withheld.last_name) == (None, None, None)
        with pytest.raises(MemberNotFound) as malformed:
            await flow.eligibility(page, elig_query(steady[0], member_id="12345"))
        assert malformed.value.reason_code == "72"

    with_page(chromium, mcd_settings, body)
    counters = mcd.counters()
    assert counters["lookups"]["eligibility"] == len(picks) + 5
    assert counters["logins"] == {secrets.username: 1} and counters["writes"] == 0


def test_claim_lookups_equal_the_ground_truth(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    paid = claims(gt, "F1")
    picks = [
        next(c for c in paid if c["payment"]["method"] == "CHK"),
        next(c for c in paid if c["payment"]["method"] == "ACH"),
        next(c for c in paid if c["dos_from"] != c["dos_to"]),
        claims(gt, "F2", "85")[0],
        claims(gt, "F2", "88")[0],
        claims(gt, "F4")[0],
        claims(gt, "P1")[0],
        claims(gt, "P2")[0],
        claims(gt, "P3")[0],
        claims(gt, "P4")[0],
        claims(gt, "A2")[0],
    ]
    denied = next(c for c in claims(gt, "F2") if len(c["adjustments"][0]["rarc"]) >= 2)
    picks.append(denied)  # CARC with two RARCs
    by_dates = next(
        c
        for c in paid
        if sum(
            o["member_id"] == c["member_id"] and o["dos_from"] == c["dos_from"]
            for o in gt["claims"]
        )
        == 1
    )
    someone_else = next(m for m in recipients(gt) if m["member_id"] != picks[0]["member_id"])

    async def body(page: Page, flow: MedicaidPortalFlow) -> None:
        await flow.login(page, secrets)
        for c in picks:
            assert_claim(gt, c["claim_number"], await flow.claim_status(page, claim_query(c)))
        query = ClaimStatusQuery(
            payer_id=PAYER,
            member_id=by_dates["member_id"],
            dos_from=by_dates["dos_from"],
            dos_to=by_dates["dos_to"],
        )
        assert_claim(gt, by_dates["claim_number"], await flow.claim_status(page, query))
        with pytest.raises(ClaimNotFound):
            missing = gt["not_on_file_claims"][PAYER][0]
            await flow.claim_status(page, ClaimStatusQuery(payer_id=PAYER, claim_number=missing))
        with pytest.raises(PatientMismatch):
            await flow.claim_status(
                page,
                claim_query(picks[0], member_id=someone_else["member_id"], dob=someone_else["dob"]),
            )

    with_page(chromium, mcd_settings, body)
    counters = mcd.counters()
    assert counters["lookups"]["claims"] == len(picks) + 3 and counters["writes"] == 0


def test_a_word_the_flow_never_saw_is_a_changed_page_never_an_answer(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    """Strict reading: a network word the portal starts using, or a claim status it was
    never taught (the data set's R1 claim), ends as LayoutChanged naming the field only."""
    m = active(gt)[0]
    unseen = next(
        t
        for t in gt["traps"]
        if t["kind"] == "unseen_status_word" and t["portal"] == "medicaidportal"
    )
    assert expected_claim_outcome(gt, unseen["claim_number"]) == "layout_changed"

    async def retitle(route: Any) -> None:
        response = await route.fetch()
        if "html" not in response.headers.get("content-type", ""):
            await route.fulfill(response=response)
            return
        body = (await response.text()).replace(">Participating<", ">Preferred Provider<")
        await route.fulfill(response=response, body=body)

    async def body(page: Page, flow: MedicaidPortalFlow) -> list[str]:
        await flow.login(page, secrets)
        errors = []
        with pytest.raises(LayoutChanged) as status:
            await flow.claim_status(page, claim_query(unseen))
        errors.append(str(status.value))
        await page.route("**/eligibility", retitle)
        with pytest.raises(LayoutChanged) as network:
            await flow.eligibility(page, elig_query(m))
        errors.append(str(network.value))
        return errors

    status, network = with_page(chromium, mcd_settings, body)
    assert "claim status" in status and "does not know" in status
    assert "network word the flow does not know" in network
    for text in (status, network):
        assert "Request" not in text and "Preferred" not in text and m["member_id"] not in text


def test_consecutive_lookups_stay_on_the_form_and_each_get_their_own_answer(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    """The answer page shows the search form again: every lookup after the first is sent
    from it (one page request each), the masked dates retyped only where they differ, and
    each question gets its own answer: a refusal right after an answer, never that answer."""
    steady = [m for m in active(gt) if not m["coverage"].get("segments")]
    first, second = [m for m in steady if not m.get("confidential")][:2]
    unknown = "9" * 12
    cases: list[tuple[EligibilityQuery, Any]] = [
        (elig_query(first), first["member_key"]),
        (elig_query(second, member_id=unknown), MemberNotFound),
        (elig_query(second), second["member_key"]),
        (elig_query(second, dob="1950-01-01"), MemberNotFound),  # the portal says the same
        (elig_query(first, date_of_service="2026-11-30"), first["member_key"]),
    ]

    async def body(page: Page, flow: MedicaidPortalFlow) -> list[Any]:
        await flow.login(page, secrets)
        sent: list[str] = []
        page.on(
            "request",
            lambda r: sent.append(r.method) if r.url.endswith("/eligibility") else None,
        )
        outcomes: list[Any] = []
        for query, _expected in cases:
            try:
                outcomes.append(await flow.eligibility(page, query))
            except (MemberNotFound, PatientMismatch) as exc:
                outcomes.append(exc)
        region = page.locator(flow.result_region or "")  # the evidence clip
        assert await region.count() == 1
        assert (await region.screenshot()).startswith(b"\x89PNG")
        return [outcomes, sent]

    outcomes, sent = with_page(chromium, mcd_settings, body)
    for (query, expected), got in zip(cases, outcomes, strict=True):
        if isinstance(expected, str):
            assert isinstance(got, EligibilityResult), got
            assert got.member_id == query.member_id
            assert got.date_of_service == query.date_of_service
            assert_eligibility(gt, expected, got)
        else:
            assert type(got) is expected, got
    assert sent == ["GET"] + ["POST"] * len(cases)  # the form loaded once, never again


def test_the_evidence_region_is_the_answer_not_the_search_form(
    mcd: Portal,
    mcd_settings: Settings,
    secrets: LoginSecrets,
    gt: dict[str, Any],
    chromium: BrowserThread,
) -> None:
    """An answer's screenshot is clipped to the flow's ``result_region``: on an eligibility
    answer that is the Eligibility Results region (the page carries the search form above it),
    on a claim's answer the Claim Summary (<main>)."""
    member = active(gt)[0]
    claim = claims(gt, "F1")[0]
    region = MedicaidPortalFlow.result_region
    assert region is not None
    shown = "els => els.map(e => [e.tagName, e.getAttribute('aria-label') || e.querySelector('h1, h2')?.textContent])"

    async def body(page: Page, flow: MedicaidPortalFlow) -> list[Any]:
        await flow.login(page, secrets)
        await flow.eligibility(page, elig_query(member))
        on_answer = await page.locator(region).evaluate_all(shown)
        await flow.claim_status(page, claim_query(claim))
        on_claim = await page.locator(region).evaluate_all(shown)
        return [on_answer, on_claim]

    on_answer, on_claim = with_page(chromium, mcd_settings, body)
    assert on_answer == [["SECTION", "Eligibility Results"]]
    assert on_claim == [["MAIN", "Claim Summary"]]
