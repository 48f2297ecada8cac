"""Cobalt Health Provider Access over HTTP (and once in Chromium): is it awkward enough?

These tests guard the fixture itself: sign-in inside an iframe with TOTP, the practice
picker, the notice modal, month/day/year dates, the CSRF token that rotates on every page.
If any of them went away, a flow written against Cobalt would pass against a politer world.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from cobaltportal.app import create_app
from cobaltportal.data import PRACTICES, build_cobalt_dataset
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from portalkit.data import build_dataset
from portalkit.knobs import Knobs
from starlette.testclient import TestClient

from tests.timing import scaled

Client = Callable[..., TestClient]
EAST, WEST = (p["code"] for p in PRACTICES)


@pytest.fixture(scope="module")
def cobalt() -> dict[str, Any]:
    return build_cobalt_dataset()


@pytest.fixture
def make_client(cobalt: dict[str, Any]) -> Iterator[Client]:
    """make_client(**knobs) -> a TestClient on a fresh Cobalt app (fresh sessions, counters)."""
    clients: list[TestClient] = []

    def make(**knobs: Any) -> TestClient:
        client = TestClient(create_app(cobalt, Knobs(**knobs)), follow_redirects=True)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def account(cobalt: dict[str, Any], name: str = "main") -> dict[str, Any]:
    return next(a for a in cobalt["accounts"]["cobaltportal"] if a["account"] == name)


def hidden(text: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', text)
    assert found, f"no hidden {name} on the page"
    return html.unescape(found[1])


def alert_of(text: str) -> str | None:
    found = re.search(r'<p role="(?:alert|status)">(.*?)</p>', text)
    return html.unescape(found[1]) if found else None


def result_of(text: str, name: str) -> dict[str, str] | None:
    """The <dl> of the section labelled name, as {term: definition}."""
    section = re.search(rf'<section aria-label="{name}">(.*?)</section>', text, re.S)
    if section is None:
        return None
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section[1])
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def wrong_code(seed: str) -> str:
    """A 6-digit code that is not valid now (nor one step either side)."""
    totp, now = pyotp.TOTP(seed), time.time()
    valid = {totp.at(now + step * 30) for step in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def password_step(client: TestClient, acct: dict[str, Any], password: str | None = None) -> Any:
    form = {"username": acct["username"], "password": password or acct["password"]}
    return client.post("/signin", data=form)


def sign_in(client: TestClient, cobalt: dict[str, Any], name: str = "main") -> Any:
    """Password, then the TOTP code, as the frame does; returns the frame's last answer."""
    acct = account(cobalt, name)
    r = password_step(client, acct)
    assert "One-time code" in r.text
    code = pyotp.TOTP(acct["totp_seed"]).now()
    return client.post(
        "/signin/verify", data={"challenge": hidden(r.text, "challenge"), "code": code}
    )


def pick(client: TestClient, practice: str = EAST) -> Any:
    return client.post("/practice", data={"practice": practice})


def ready(client: TestClient, cobalt: dict[str, Any], practice: str = EAST) -> TestClient:
    sign_in(client, cobalt)
    pick(client, practice)
    return client


def ask_eligibility(client: TestClient, member_id: str, dob: str, csrf: str | None = None) -> Any:
    year, month, day = dob.split("-")
    token = csrf if csrf is not None else hidden(client.get("/eligibility").text, "csrf")
    form = {"csrf": token, "member_id": member_id, "dob_month": month}
    return client.post("/eligibility", data={**form, "dob_day": day, "dob_year": year})


def ask_claim(client: TestClient, number: str, member_id: str) -> Any:
    token = hidden(client.get("/claims").text, "csrf")
    form = {"csrf": token, "claim_number": number, "member_id": member_id}
    return client.post("/claims", data=form)


def counters(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/__admin/counters").json())


def member_of(cobalt: dict[str, Any], practice: str, coverage: str = "Active") -> dict[str, Any]:
    return next(
        m for m in cobalt["members"] if m["practice"] == practice and m["coverage"] == coverage
    )


def claim_of(cobalt: dict[str, Any], status: str) -> dict[str, Any]:
    return next(c for c in cobalt["claims"] if c["status"] == status)


# -- data ---------------------------------------------------------------------------------
def test_own_data_set_is_seeded_small_and_leaves_the_bundled_one_alone(
    cobalt: dict[str, Any],
) -> None:
    assert build_cobalt_dataset() == cobalt and build_cobalt_dataset(5) != cobalt
    members, claims = cobalt["members"], cobalt["claims"]
    assert len(members) == 24 and {m["practice"] for m in members} == {EAST, WEST}
    last_names = [m["last_name"] for m in members]
    assert len(set(last_names)) < len(last_names)  # at least one shared last name
    assert any(m["coverage"] == "Terminated" for m in members)
    assert {c["status"] for c in claims} == {"Paid", "Denied", "In process"}
    assert "CO-197 Precertification/authorization absent" in {c["denial_reason"] for c in claims}
    by_key = {m["member_key"]: m for m in members}
    assert all(by_key[c["member_key"]]["practice"] == c["practice"] for c in claims)
    assert "cobaltportal" not in build_dataset()["accounts"]


def test_serve_registers_cobalt_on_8704_outside_the_default_set() -> None:
    import serve

    assert serve.PORTALS["cobaltportal"][1] == 8704
    assert "cobaltportal" not in dict(serve.portal_choices(None))
    assert serve.portal_choices(["cobaltportal=0"]) == [("cobaltportal", 0)]


# -- sign-in --------------------------------------------------------------------------------
def test_the_shell_always_shows_the_signin_frame_even_when_signed_in(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = make_client()
    for _ in range(2):
        r = client.get("/")
        assert "<h1>Cobalt Health Provider Access</h1>" in r.text
        assert '<iframe name="signin" title="Sign in" src="/signin">' in r.text
        ready(client, cobalt)
    frame = client.get("/signin").text
    assert all(f">{label}</label>" in frame for label in ("Username", "Password"))
    assert ">Sign in</button>" in frame


def test_a_wrong_password_says_so_and_locks_the_account_at_the_threshold(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = make_client(lockout_threshold=3)
    acct = account(cobalt, "second")
    r = password_step(client, acct, "not-the-password")
    assert alert_of(r.text) == "The username or password is incorrect."
    assert "One-time code" not in r.text
    password_step(client, acct, "not-the-password")
    r = password_step(client, acct, "not-the-password")
    assert alert_of(r.text) == "Your account is locked. Call provider services."
    r = password_step(client, acct)  # the right password no longer helps
    assert alert_of(r.text) == "Your account is locked. Call provider services."
    seen = counters(client)
    assert seen["failed_logins"] == {acct["username"]: 3}
    assert seen["locked"] == [acct["username"]] and seen["logins"] == {}


def test_a_wrong_code_is_refused_and_the_right_one_sends_the_window_on(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = make_client()
    acct = account(cobalt)
    r = password_step(client, acct)
    challenge = hidden(r.text, "challenge")
    assert ">One-time code</label>" in r.text and ">Verify</button>" in r.text
    bad = client.post(
        "/signin/verify", data={"challenge": challenge, "code": wrong_code(acct["totp_seed"])}
    )
    assert alert_of(bad.text) == "That code did not work."
    assert "cobalt_sid" not in client.cookies
    code = pyotp.TOTP(acct["totp_seed"]).now()
    r = client.post("/signin/verify", data={"challenge": challenge, "code": code})
    assert "window.top.location.href = '/practice'" in r.text
    assert '<a href="/practice" target="_top">Continue</a>' in r.text
    assert client.get("/practice").url.path == "/practice"
    seen = counters(client)
    assert seen["logins"] == {acct["username"]: 1}
    assert seen["failed_logins"] == {acct["username"]: 1}


# -- practice and notice ----------------------------------------------------------------------
def test_signed_in_pages_wait_for_a_practice_and_the_notice_shows_once(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = make_client()
    assert client.get("/eligibility").url.path == "/"  # not signed in
    sign_in(client, cobalt)
    for path in ("/eligibility", "/claims", "/profile"):
        assert client.get(path).url.path == "/practice"
    page = client.get("/practice").text
    assert '<label for="practice">Practice location</label>' in page
    assert ">Eastside Family Medicine</option>" in page and ">Westside Pediatrics</option>" in page
    r = pick(client, "NOPE")
    assert alert_of(r.text) == "Choose a practice location."
    r = pick(client, WEST)
    assert r.url.path == "/eligibility"
    assert '<div role="dialog" aria-modal="true" aria-labelledby="notice-title">' in r.text
    assert '<h2 id="notice-title">Important notice</h2>' in r.text
    assert "Important notice" not in client.get("/eligibility").text
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", r.text)
    assert nav and re.findall(r">([^<]+)</a>", nav[1]) == [
        "Eligibility",
        "Claim status",
        "Sign out",
    ]


# -- eligibility ------------------------------------------------------------------------------
def test_eligibility_by_id_and_three_part_dob_within_the_practice(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = ready(make_client(), cobalt, EAST)
    form = client.get("/eligibility").text
    assert "<h1>Eligibility</h1>" in form and "<legend>Date of birth</legend>" in form
    assert '<label>Month <select name="dob_month">' in form
    assert (
        '<label for="dob_day">Day</label>' in form and '<label for="dob_year">Year</label>' in form
    )
    member = member_of(cobalt, EAST)
    r = ask_eligibility(client, member["member_id"].lower(), member["dob"])
    year, month, day = member["dob"].split("-")
    assert result_of(r.text, "Eligibility result") == {
        "Member": f"{member['last_name']}, {member['first_name']}".upper(),
        "Member ID": member["member_id"],
        "Date of birth": f"{month}/{day}/{year}",
        "Coverage": "Active",
        "Plan": member["plan_name"],
        "Office visit copay": f"${member['office_visit_copay']}",
    }
    ended = member_of(cobalt, EAST, "Terminated")
    r = ask_eligibility(client, ended["member_id"], ended["dob"])
    assert (result_of(r.text, "Eligibility result") or {})["Coverage"] == "Terminated"
    nobody = "No member matches that ID and date of birth."
    other = member_of(cobalt, WEST)
    for member_id, dob in [
        (other["member_id"], other["dob"]),  # the other practice's member
        ("CBH000000000", member["dob"]),  # not on file
        (member["member_id"], other["dob"]),  # the wrong date of birth
    ]:
        r = ask_eligibility(client, member_id, dob)
        assert alert_of(r.text) == nobody and result_of(r.text, "Eligibility result") is None
    assert counters(client)["lookups"]["eligibility"] == 5


def test_the_csrf_token_rotates_on_every_page(make_client: Client, cobalt: dict[str, Any]) -> None:
    client = ready(make_client(), cobalt)
    member = member_of(cobalt, EAST)
    first = hidden(client.get("/eligibility").text, "csrf")
    second = hidden(client.get("/eligibility").text, "csrf")
    assert first != second
    r = ask_eligibility(client, member["member_id"], member["dob"], csrf=first)  # stale
    assert r.status_code == 403
    assert alert_of(r.text) == "This page expired. Please try again."
    r = ask_eligibility(client, member["member_id"], member["dob"], csrf="")  # missing
    assert r.status_code == 403
    fresh = hidden(r.text, "csrf")  # the refusal carries a fresh form
    r = ask_eligibility(client, member["member_id"], member["dob"], csrf=fresh)
    assert r.status_code == 200 and result_of(r.text, "Eligibility result")
    token = hidden(r.text, "csrf")
    client.get("/claims")  # another page: the eligibility page's token is stale now
    r = ask_eligibility(client, member["member_id"], member["dob"], csrf=token)
    assert r.status_code == 403
    seen = counters(client)
    assert seen["csrf_rejected"] == 3 and seen["lookups"]["eligibility"] == 1


# -- claims ------------------------------------------------------------------------------------
def test_claim_status_paid_denied_in_process_and_unknown(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    by_key = {m["member_key"]: m for m in cobalt["members"]}
    clients = {p: ready(make_client(), cobalt, p) for p in (EAST, WEST)}
    page = clients[EAST].get("/claims").text
    assert "<h1>Claim status</h1>" in page and ">Check claim</button>" in page
    for status in ("Paid", "Denied", "In process"):
        claim = claim_of(cobalt, status)
        member = by_key[claim["member_key"]]
        r = ask_claim(clients[claim["practice"]], claim["claim_number"], claim["member_id"])
        shown = result_of(r.text, "Claim result")
        assert shown is not None
        assert shown["Claim number"] == claim["claim_number"]
        assert shown["Patient"] == f"{member['last_name']}, {member['first_name']}".upper()
        assert shown["Status"] == status and shown["Billed"].startswith("$")
        assert ("Check date" in shown) is (status == "Paid")
        assert ("Denial reason" in shown) is (status == "Denied")
        if status == "Denied":
            assert shown["Denial reason"] == claim["denial_reason"]
            assert shown["Paid"] == "$0.00"
        other = clients[WEST if claim["practice"] == EAST else EAST]
        r = ask_claim(other, claim["claim_number"], claim["member_id"])  # the other practice
        assert alert_of(r.text) == "No claim matches that number for this member."
    paid = claim_of(cobalt, "Paid")
    someone_else = next(
        m
        for m in cobalt["members"]
        if m["practice"] == paid["practice"] and m["member_key"] != paid["member_key"]
    )
    client = clients[paid["practice"]]
    for number, member_id in [
        (paid["claim_number"], someone_else["member_id"]),
        ("CB2600000000", paid["member_id"]),
    ]:
        r = ask_claim(client, number, member_id)
        assert alert_of(r.text) == "No claim matches that number for this member."


# -- sessions, faults, counters -------------------------------------------------------------
def test_an_expired_session_lands_on_the_shell_with_a_notice(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = make_client(session_idle_seconds=60)
    state = client.app.state.portal  # type: ignore[attr-defined]
    now = [1000.0]
    state.clock = lambda: now[0]
    ready(client, cobalt)
    token = hidden(client.get("/eligibility").text, "csrf")
    now[0] += 61
    member = member_of(cobalt, EAST)
    for r in (
        client.get("/claims"),
        ask_eligibility(client, member["member_id"], member["dob"], token),
    ):
        assert r.url.path == "/"
        assert alert_of(r.text) == "Your session has ended. Please sign in again."
        assert '<iframe name="signin"' in r.text
    r = client.get("/signout")
    assert '<iframe name="signin"' in r.text and "cobalt_sid" not in client.cookies


def test_session_max_requests_and_sign_out(make_client: Client, cobalt: dict[str, Any]) -> None:
    client = ready(make_client(), cobalt)
    client.get("/signout")
    assert client.get("/eligibility").url.path == "/"
    assert alert_of(client.get("/").text) is None  # signed out is not "ended"
    client = make_client()
    ready(client, cobalt)
    client.post("/__admin/knobs", json={"session_max_requests": 3})
    assert client.get("/eligibility").url.path == "/eligibility"
    assert client.get("/claims").url.path == "/"


def test_maintenance_and_errors_are_portal_pages_and_admin_still_answers(
    make_client: Client,
) -> None:
    client = make_client(maintenance=True)
    for path in ("/", "/signin", "/eligibility"):
        r = client.get(path)
        assert r.status_code == 503
        assert "Cobalt Health is down for scheduled maintenance" in r.text
    assert client.get("/__admin/health").json()["portal"] == "cobaltportal"
    client.post("/__admin/knobs", json={"maintenance": False, "error_rate": 1})
    r = client.get("/")
    assert r.status_code == 500 and "Something went wrong" in r.text


def test_counters_count_every_request_logins_lookups_and_writes(
    make_client: Client, cobalt: dict[str, Any]
) -> None:
    client = make_client()
    assert counters(client)["requests"] == 0
    client.get("/")
    client.get("/signin")
    client.get("/favicon.ico")  # a 404 is a request served too
    assert counters(client)["requests"] == 3
    ready(client, cobalt)  # POST /signin, POST verify, POST /practice -> GET /eligibility
    assert counters(client)["requests"] == 7
    member = member_of(cobalt, EAST)
    ask_eligibility(client, member["member_id"], member["dob"])
    denied = next(c for c in cobalt["claims"] if c["status"] == "Denied" and c["practice"] == EAST)
    r = ask_claim(client, denied["claim_number"], denied["member_id"])
    assert ">Appeal this denial</button>" in r.text  # a decoy a read-only bot never presses
    assert counters(client)["writes"] == 0
    client.post("/claims/appeal", data={"claim_number": denied["claim_number"]})
    client.post("/profile", data={"email": "x@example.invalid"})
    seen = counters(client)
    assert seen["writes"] == 2 and seen["lookups"] == {"eligibility": 1, "claims": 1}
    assert seen["logins"] == {account(cobalt)["username"]: 1}
    assert seen["requests"] == 7 + 2 + 2 + 2  # GET + POST per lookup, the two decoy POSTs
    truth = client.get("/__admin/ground-truth").json()
    assert truth["members"] == cobalt["members"] and truth["claims"] == cobalt["claims"]
    assert client.get("/__admin/accounts").json() == cobalt["accounts"]["cobaltportal"]


# -- one real browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cobalt_url() -> Iterator[str]:
    """Cobalt served by fixtures/serve.py on a free port, as payerbot starts mock portals."""
    from bots.ops import mock_portals
    from bots.settings import load_settings

    started = mock_portals.start(load_settings(), {"cobaltportal": 0})
    try:
        yield started.urls["cobaltportal"]
    finally:
        started.stop()


@pytest.mark.browser
def test_a_person_signs_in_through_the_frame_picks_closes_and_checks(
    page: Page, cobalt_url: str, cobalt: dict[str, Any]
) -> None:
    acct = account(cobalt, "third")
    page.goto(f"{cobalt_url}/")
    frame = page.frame_locator('iframe[title="Sign in"]')
    frame.get_by_label("Username").fill(acct["username"])
    frame.get_by_label("Password").fill(acct["password"])
    frame.get_by_role("button", name="Sign in").click()
    frame.get_by_label("One-time code").fill(pyotp.TOTP(acct["totp_seed"]).now())
    frame.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{cobalt_url}/practice", timeout=scaled(10) * 1000)
    page.get_by_label("Practice location").select_option(label="Westside Pediatrics")
    page.get_by_role("button", name="Continue").click()
    dialog = page.get_by_role("dialog", name="Important notice")
    expect(dialog).to_be_visible()
    check = page.get_by_role("button", name="Check eligibility")
    with pytest.raises(PlaywrightError):  # the overlay takes the click
        check.click(trial=True, timeout=scaled(1) * 1000)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    member = member_of(cobalt, WEST)
    year, month, day = member["dob"].split("-")
    page.get_by_label("Member ID").fill(member["member_id"])
    page.locator("select[name=dob_month]").select_option(month)
    page.get_by_label("Day", exact=True).fill(day)
    page.get_by_label("Year", exact=True).fill(year)
    check.click()
    answer = page.get_by_role("region", name="Eligibility result")
    expect(answer).to_contain_text(f"{member['last_name']}, {member['first_name']}".upper())
    expect(answer).to_contain_text(f"{month}/{day}/{year}")
