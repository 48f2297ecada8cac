"""The shared error-page classifier, without a browser: markers, order, waits, ends, PHI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bots.errors import (
    LayoutChanged,
    PortalBlocked,
    PortalMaintenance,
    PortalUnavailable,
    RateLimited,
    SessionExpired,
)
from bots.flowkit.error_pages import (
    ClockTime,
    ErrorPages,
    JsonFields,
    Marker,
    classify_error_page,
    next_clock_time,
    raise_for_error_page,
    raise_for_page,
)
from flows.legacyportal import ERROR_PAGES as LEGACY
from flows.medicaidportal import ERROR_PAGES as MEDICAID
from flows.payerhub import ERROR_PAGES as PAYERHUB
from tests.conftest import run_async

EASTERN = ZoneInfo("America/New_York")
PORTAL = ErrorPages(
    "the test portal",
    captcha=Marker("verify you are human", heading="Security Check"),
    maintenance=Marker("scheduled maintenance", status=503, code="maintenance"),
    maintenance_ends=ClockTime("America/New_York"),
    rate_limited=Marker("too many requests", heading="Slow Down", code="rate_limited"),
    wait_seconds=r"wait (\d+) seconds",
    server_error=Marker("something went wrong", heading="System Error"),
    unavailable=Marker("we could not reach the portal"),
    signed_out=Marker("session has expired", heading="Session Ended", status=401),
    json=JsonFields(),
)
RESULT_PAGE = (
    "Eligibility & Benefits\nMember name GARCIA, ELENA\nMember ID ACM123456789\n"
    "Date of birth 03/14/1975\nCoverage status Active\nPlan Acme Choice PPO 1500\n"
    "Office visit copay $30.00  Deductible $1,500.00 remaining $1,250.00"
)


def kind(**seen: Any) -> str | None:
    error = classify_error_page(PORTAL, **seen)
    return None if error is None else type(error).__name__


# --- every marker kind ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        ({"heading": "Security Check"}, "PortalBlocked"),
        ({"text": "Please VERIFY YOU ARE HUMAN to go on."}, "PortalBlocked"),  # any case
        ({"status": 503}, "PortalMaintenance"),
        ({"text": "Down for Scheduled Maintenance."}, "PortalMaintenance"),
        ({"status": 200, "body": {"error": "maintenance"}}, "PortalMaintenance"),
        ({"status": 429}, "RateLimited"),  # HTTP's own meaning: no marker needed
        ({"heading": "  Slow   Down "}, "RateLimited"),  # headings compare as they read
        ({"text": "Too many requests."}, "RateLimited"),
        ({"status": 400, "body": {"error": "rate_limited"}}, "RateLimited"),
        ({"status": 500}, "PortalUnavailable"),
        ({"status": 502}, "PortalUnavailable"),
        ({"heading": "System Error"}, "PortalUnavailable"),
        ({"text": "Something went wrong."}, "PortalUnavailable"),
        ({"text": "We could not reach the portal. Check your connection."}, "PortalUnavailable"),
        ({"status": 401}, "SessionExpired"),
        ({"heading": "Session Ended"}, "SessionExpired"),
        ({"text": "Your session has expired. Please sign in again."}, "SessionExpired"),
        ({"status": 404}, "LayoutChanged"),
        ({"status": 403, "text": "Forbidden"}, "LayoutChanged"),
    ],
)
def test_each_marker_kind_recognises_its_page(seen: dict[str, Any], expected: str) -> None:
    assert kind(**seen) == expected


def test_a_heading_must_be_the_heading_not_a_phrase_in_it() -> None:
    assert kind(heading="System Errors and Fixes") is None
    assert kind(text="Read about the Security Check we do") is None  # a heading, not text


def test_a_json_code_is_read_only_from_a_json_answer_of_a_portal_that_has_one() -> None:
    no_json = ErrorPages("a portal", maintenance=Marker(code="maintenance"))
    assert classify_error_page(no_json, status=200, body={"error": "maintenance"}) is None
    assert kind(status=200, body={"error": "something_else"}) is None
    assert kind(status=200, text="maintenance") is None  # a code is not a phrase


def test_an_outage_banner_is_unavailable_not_a_layout_change() -> None:
    """PayerHub's app says it could not reach its server: an outage, retried, never counted
    toward the layout breaker (issue 19, item 4)."""
    text = "We could not reach PayerHub. Check your connection and try again."
    error = classify_error_page(PAYERHUB, text=text)
    assert isinstance(error, PortalUnavailable) and error.code() == "portal_unavailable"
    assert (
        str(error) == "PayerHub could not be reached (the page says 'we could not reach payerhub')"
    )
    assert kind(text="We could not reach the portal; your session has expired") == (
        "PortalUnavailable"
    ), "an outage banner beats the signed-out words"


@pytest.mark.parametrize(
    "message",
    [
        "Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:8702/Eligibility?member=X1",
        "net::ERR_CONNECTION_RESET at http://127.0.0.1:8701/",
        "APIRequestContext.fetch: connect ECONNREFUSED 127.0.0.1:1",
        "APIRequestContext.get: read ECONNRESET",
        "Frame.click: net::ERR_INTERNET_DISCONNECTED",
    ],
)
def test_a_network_error_is_portal_unavailable_and_keeps_no_url(message: str) -> None:
    from playwright.async_api import Error as PlaywrightError

    from bots.engine.attempts import classify

    error = classify(PlaywrightError(message))
    assert isinstance(error, PortalUnavailable) and error.code() == "portal_unavailable"
    assert "http" not in str(error) and "member" not in str(error)
    assert str(error).startswith("the portal could not be reached (")


def test_another_browser_error_stays_a_portal_error() -> None:
    from playwright.async_api import Error as PlaywrightError

    from bots.engine.attempts import classify

    error = classify(PlaywrightError("Target page, context or browser has been closed"))
    assert error.code() == "portal_error"


# --- the order ------------------------------------------------------------------------------


def test_maintenance_beats_a_server_error() -> None:
    assert kind(status=500, text="Scheduled maintenance until 4:00 AM (Error 500)") == (
        "PortalMaintenance"
    )
    assert kind(heading="System Error", text="scheduled maintenance") == "PortalMaintenance"


def test_a_captcha_beats_everything() -> None:
    everything = (
        "scheduled maintenance, too many requests, something went wrong, session has expired"
    )
    for status in (None, 200, 401, 404, 429, 500, 503):
        assert kind(status=status, heading="Security Check", text=everything) == "PortalBlocked"


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        ({"status": 429, "text": "Something went wrong"}, "RateLimited"),
        ({"status": 503, "text": "Too many requests"}, "PortalMaintenance"),
        ({"status": 500, "text": "Your session has expired"}, "PortalUnavailable"),
        ({"status": 429, "heading": "Session Ended"}, "RateLimited"),
        ({"status": 401, "text": "too many requests"}, "RateLimited"),
        ({"status": 404, "text": "Your session has expired"}, "SessionExpired"),
        ({"status": 404, "text": "Something went wrong"}, "PortalUnavailable"),
    ],
)
def test_the_checks_run_in_one_fixed_order(seen: dict[str, Any], expected: str) -> None:
    """CAPTCHA, maintenance, 429, 5xx, signed out, then any other 4xx."""
    assert kind(**seen) == expected


def test_a_portal_without_markers_still_knows_what_http_means() -> None:
    bare = ErrorPages("a portal")
    assert isinstance(classify_error_page(bare, status=429), RateLimited)
    assert isinstance(classify_error_page(bare, status=503), PortalUnavailable)
    assert isinstance(classify_error_page(bare, status=401), LayoutChanged)
    assert classify_error_page(bare, status=302) is None
    assert classify_error_page(bare, status=None, text="whatever the page says") is None


# --- no false positives ---------------------------------------------------------------------


@pytest.mark.parametrize("pages", [PORTAL, LEGACY, MEDICAID, PAYERHUB])
def test_a_normal_result_page_is_not_an_error_page(pages: ErrorPages) -> None:
    for status in (None, 200):
        assert (
            classify_error_page(pages, status=status, heading="Eligibility", text=RESULT_PAGE)
            is None
        )
    raise_for_error_page(pages, status=200, text=RESULT_PAGE)  # returns quietly


def test_a_home_page_announcing_maintenance_is_not_a_maintenance_page() -> None:
    """The Medicaid portal's home page announces its nightly window: its table goes by
    headings, so the announcement is not taken for the maintenance page itself."""
    home = "Provider Home\nThe Provider Portal is unavailable nightly for scheduled maintenance."
    assert classify_error_page(MEDICAID, heading="Provider Home", text=home) is None


# --- how long to wait -----------------------------------------------------------------------


def wait(**seen: Any) -> float | None:
    error = classify_error_page(PORTAL, status=429, **seen)
    assert isinstance(error, RateLimited)
    return error.retry_after


def test_the_wait_comes_from_json_then_the_retry_after_header_then_the_page() -> None:
    text = "Please wait 30 seconds."
    assert wait(body={"retry_after": 12}, headers={"retry-after": "20"}, text=text) == 12
    assert wait(headers={"Retry-After": "20"}, text=text) == 20  # any case of header name
    assert wait(headers={"retry-after": "2.5"}) == 2.5
    assert wait(text=text) == 30
    assert wait(text="Please WAIT 45 SECONDS") == 45  # any case
    assert wait() is None


def test_a_wait_that_is_not_a_number_falls_through_to_the_next_source() -> None:
    text = "Please wait 30 seconds."
    assert wait(body={"retry_after": "soon"}, headers={"retry-after": "20"}) == 20
    http_date = "Wed, 21 Oct 2026 07:28:00 GMT"
    assert wait(headers={"retry-after": http_date}, text=text) == 30
    assert wait(body={"retry_after": None}, text=text) == 30


def test_each_bundled_portal_reads_its_own_wording_of_the_wait() -> None:
    legacy = classify_error_page(
        LEGACY, status=429, text="Too many requests. Retry after 17 seconds."
    )
    medicaid = classify_error_page(
        MEDICAID,
        heading="Too Many Requests",
        text="You have made too many requests. Please wait 23 seconds.",
    )
    hub = classify_error_page(PAYERHUB, text="Too many requests. Please wait 30 seconds.")
    api = classify_error_page(
        PAYERHUB, status=429, headers={"retry-after": "9"}, body={"retry_after": 9}
    )
    waits = [
        e.retry_after if isinstance(e, RateLimited) else e for e in (legacy, medicaid, hub, api)
    ]
    assert waits == [17, 23, 30, 9]


# --- when maintenance ends ------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 23, 30, tzinfo=EASTERN)


def test_next_clock_time_is_the_next_occurrence_in_the_zone() -> None:
    back = next_clock_time("We expect to be back by 2:00 AM ET.", "America/New_York", now=NOW)
    assert back == datetime(2026, 3, 11, 2, 0, tzinfo=EASTERN)
    later = next_clock_time("back at 11:45 PM", "America/New_York", now=NOW)
    assert later == datetime(2026, 3, 10, 23, 45, tzinfo=EASTERN)  # still today
    back = next_clock_time("after 5:00 p.m. Central", "America/Chicago")
    assert back is not None and back.hour == 17 and str(back.tzinfo) == "America/Chicago"
    now = datetime.now(EASTERN)
    back = next_clock_time("back by 2:00 AM", "America/New_York")
    assert back is not None and timedelta(0) < back - now <= timedelta(days=1)
    assert next_clock_time("soon", "America/New_York") is None


def test_the_end_of_maintenance_is_read_in_the_zone_the_page_names() -> None:
    legacy = (
        "Prairie Provider Connect is unavailable during scheduled maintenance from 11:00 PM to "
        "5:00 AM Central. Please try again after 5:00 AM."
    )
    error = classify_error_page(LEGACY, status=503, text=legacy)
    assert isinstance(error, PortalMaintenance) and error.until is not None
    assert str(error.until.tzinfo) == "America/Chicago" and (
        error.until.hour,
        error.until.minute,
    ) == (5, 0)
    ends = ClockTime(zones={"Central": "America/Chicago"}, after="try again after")
    assert ends.read(legacy.replace("Central", "local")) is None  # no zone: no guess
    assert ends.read("unavailable during scheduled maintenance, Central.") is None  # no "after"
    at = ends.read(legacy, now=datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("America/Chicago")))
    assert at == datetime(2026, 3, 11, 5, 0, tzinfo=ZoneInfo("America/Chicago"))


def test_the_end_of_maintenance_from_a_page_and_from_a_json_answer() -> None:
    page = classify_error_page(
        MEDICAID,
        heading="Scheduled Maintenance",
        text="The Provider Portal is down for scheduled maintenance until 6:00 AM Eastern.",
    )
    assert isinstance(page, PortalMaintenance) and page.until is not None
    assert page.until.astimezone(EASTERN).hour == 6
    until = "2026-12-02T02:00:00-05:00"
    api = classify_error_page(PAYERHUB, status=503, body={"error": "maintenance", "until": until})
    assert isinstance(api, PortalMaintenance) and api.until == datetime.fromisoformat(until)
    naive = classify_error_page(PORTAL, status=503, body={"until": "2026-12-02T02:00:00"})
    assert isinstance(naive, PortalMaintenance)
    assert naive.until == datetime(2026, 12, 2, 2, 0, tzinfo=EASTERN)  # the portal's zone
    broken = classify_error_page(PORTAL, status=503, body={"until": "tomorrow-ish"})
    assert isinstance(broken, PortalMaintenance) and broken.until is None
    unsaid = classify_error_page(PORTAL, status=503, text="Scheduled maintenance.")
    assert isinstance(unsaid, PortalMaintenance) and unsaid.until is None


# --- messages -------------------------------------------------------------------------------

PHI = ("GARCIA", "ELENA", "ACM123456789", "03/14/1975", "1975-03-14", "CLM-2026-000123")


@pytest.mark.parametrize(
    "seen",
    [
        {"heading": "Security Check"},
        {"status": 503},
        {"status": 429, "headers": {"retry-after": "5"}},
        {"status": 500},
        {"status": 401},
        {"status": 404},
        {"text": "scheduled maintenance"},
        {"text": "too many requests"},
        {"text": "something went wrong"},
        {"text": "session has expired"},
        {"status": 503, "body": {"error": "maintenance", "message": "GARCIA ELENA ACM123456789"}},
    ],
)
def test_messages_name_the_portal_and_the_sign_never_the_page_text(seen: dict[str, Any]) -> None:
    page_text = f"{seen.pop('text', '')} Patient GARCIA, ELENA ACM123456789 DOB 03/14/1975 "
    page_text += "claim CLM-2026-000123 1975-03-14"
    error = classify_error_page(PORTAL, text=page_text, **seen)
    assert error is not None
    message = str(error)
    assert message.startswith("the test portal ")
    assert not any(value in message for value in PHI), message


def test_raise_for_error_page_raises_the_classified_error() -> None:
    with pytest.raises(PortalBlocked, match=r"CAPTCHA \(heading 'Security Check'\)"):
        raise_for_error_page(PORTAL, heading="Security Check")
    with pytest.raises(SessionExpired, match=r"ended the session \(HTTP 401\)"):
        raise_for_error_page(PORTAL, status=401)
    with pytest.raises(PortalUnavailable, match="'something went wrong'"):
        raise_for_error_page(PORTAL, text="Oops, SOMETHING WENT WRONG")


# --- reading a Playwright page --------------------------------------------------------------


class _Page:
    """What raise_for_page asks of a Page or Frame: one evaluate."""

    def __init__(self, heading: str, text: str) -> None:
        self.seen = {"heading": heading, "text": text}

    async def evaluate(self, script: str) -> dict[str, str]:
        return self.seen


class _Response:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status, self.headers = status, headers


def test_raise_for_page_reads_the_heading_text_status_and_retry_after() -> None:
    async def check(page: _Page, response: _Response | None = None) -> None:
        await raise_for_page(PORTAL, page, response)  # type: ignore[arg-type]  # a stand-in page

    run_async(check(_Page("Member search", RESULT_PAGE), _Response(200, {})))
    with pytest.raises(RateLimited) as limited:
        run_async(check(_Page("Busy", "Come back later"), _Response(429, {"retry-after": "8"})))
    assert limited.value.retry_after == 8
    with pytest.raises(PortalUnavailable):
        run_async(check(_Page("System Error", "")))
