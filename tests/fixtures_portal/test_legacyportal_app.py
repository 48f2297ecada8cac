"""Prairie Provider Connect over HTTP: login + security question, notices, faults, searches.

These tests guard the fixture itself: if the portal stopped asking its question, paging its
claim list or renaming things in layout B, the flow tests would pass against a politer world.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from legacyportal.app import create_app
from legacyportal.search import LegacyData
from portalkit.knobs import Knobs
from starlette.testclient import TestClient

Client = Callable[..., TestClient]


@pytest.fixture
def make_client(dataset: dict[str, Any]) -> Iterator[Client]:
    """make_client(data=None, **knobs) -> a TestClient on a fresh legacy portal."""
    clients: list[TestClient] = []

    def make(data: dict[str, Any] | None = None, **knobs: Any) -> TestClient:
        client = TestClient(create_app(data or dataset, Knobs(**knobs)), follow_redirects=True)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def account(dataset: dict[str, Any], name: str = "main") -> dict[str, Any]:
    return next(a for a in dataset["accounts"]["legacyportal"] if a["account"] == name)


def question_on(text: str) -> str:
    found = re.search(r'<td class="cap">Question:</td><td>(.*?)</td>', text)
    assert found, "no security question on the page"
    return html.unescape(found[1])


def log_in(
    client: TestClient, dataset: dict[str, Any], name: str = "main", remember: bool = True
) -> Any:
    acct = account(dataset, name)
    r = client.post(
        "/login.aspx", data={"txtUserID": acct["username"], "txtPassword": acct["password"]}
    )
    if r.url.path == "/security.aspx":
        answer = acct["security_answers"][question_on(r.text)]
        form = {"txtAnswer": answer, **({"chkRemember": "on"} if remember else {})}
        r = client.post("/security.aspx", data=form)
    return r


def counters(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/__admin/counters").json())


def fields_of(text: str) -> dict[str, str]:
    """Bold caption cell -> the value cell after it."""
    pairs = re.findall(r'<td class="cap"><b>(.*?):</b></td><td>(.*?)</td>', text)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def tables_of(text: str) -> list[list[list[str]]]:
    """Data tables (header row of td.hdr cells): rows of cell texts, header row first."""
    out = []
    for body in re.findall(r'<table[^>]*>(<tr><td class="hdr">.*?)</table>', text):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body)
        cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
        out.append([[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in row] for row in cells])
    return out


def mmddyyyy(iso: str) -> str:
    return iso[5:7] + iso[8:10] + iso[:4]


def elig(client: TestClient, payer: str, member_id: str, dob: str, **kw: str) -> Any:
    code = {"DELTA": "0417", "ELM": "0562"}[payer]
    form = {
        "ddlPayer": code,
        "txtSubscriberID": member_id,
        "txtLastName": kw.get("last", ""),
        "txtDOB": mmddyyyy(dob),
        "txtDOS": kw.get("dos", "12/01/2026"),
    }
    return client.post("/Eligibility/Inquiry.aspx", data=form)


def members(dataset: dict[str, Any], payer: str = "DELTA") -> list[dict[str, Any]]:
    return [m for m in dataset["members"] if m["payer_id"] == payer]


def family_of(dataset: dict[str, Any], size: int = 2) -> list[dict[str, Any]]:
    fams: dict[str, list[dict[str, Any]]] = {}
    for m in members(dataset):
        fams.setdefault(m["subscriber_id"], []).append(m)
    return next(
        f
        for f in fams.values()
        if len(f) >= size
        and len({m["dob"] for m in f}) == len(f)
        and f[0]["coverage"]["termination_date"] is None
        and f[0]["coverage"]["effective_date"] < "2026-01-02"
    )


# --- login, security question, notices, lockout ------------------------------------------


def test_login_asks_one_security_question_and_remembers_the_computer(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client()
    assert client.get("/").url.path == "/login.aspx"
    acct = account(dataset)
    r = client.post(
        "/login.aspx", data={"txtUserID": acct["username"], "txtPassword": acct["password"]}
    )
    assert r.url.path == "/security.aspx" and "Remember this computer" in r.text
    first = question_on(r.text)
    assert first in acct["security_answers"]
    r = client.post(
        "/security.aspx",
        data={"txtAnswer": acct["security_answers"][first].upper(), "chkRemember": "on"},
    )
    assert r.url.path == "/default.aspx" and '<frame name="main"' in r.text
    assert "PPC_DEVICE" in client.cookies and "ASP.NET_SessionId" in client.cookies
    log_in(client, dataset)  # a known computer: no question this time
    assert counters(client)["questions_asked"] == 1
    assert counters(client)["logins"] == {acct["username"]: 2}

    with TestClient(client.app, follow_redirects=True) as other:  # a computer not remembered
        r = other.post(
            "/login.aspx", data={"txtUserID": acct["username"], "txtPassword": acct["password"]}
        )
        assert question_on(r.text) != first  # asked again, another of the questions


def test_wrong_answer_is_a_failed_login_and_back_to_the_login_page(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client()
    acct = account(dataset)
    client.post(
        "/login.aspx", data={"txtUserID": acct["username"], "txtPassword": acct["password"]}
    )
    r = client.post("/security.aspx", data={"txtAnswer": "definitely wrong"})
    assert "The answer provided does not match our records." in r.text
    assert 'name="txtPassword"' in r.text
    assert counters(client)["failed_logins"] == {acct["username"]: 1}
    assert client.get("/default.aspx").text.count("Your session has timed out") == 1


def test_wrong_password_then_lockout_at_threshold(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client(lockout_threshold=3)
    acct = account(dataset, "second")
    for _ in range(2):
        r = client.post("/login.aspx", data={"txtUserID": acct["username"], "txtPassword": "x"})
        assert "Invalid User ID or Password" in r.text
    r = client.post("/login.aspx", data={"txtUserID": acct["username"], "txtPassword": "x"})
    assert "Your account has been locked" in r.text
    r = log_in(client, dataset, "second")
    assert "Your account has been locked" in r.text
    assert counters(client)["locked"] == [acct["username"]]
    client.post("/__admin/reset")
    assert log_in(client, dataset, "second").url.path == "/default.aspx"


def test_password_expiry_notice_change_is_a_write_remind_me_later_is_not(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client(password_expiry_days=6, new_device_question=False)
    r = log_in(client, dataset)
    assert r.url.path == "/PasswordNotice.aspx"
    assert "Your password will expire in 6 days." in r.text
    assert "Change Password Now" in r.text and "Remind Me Later" in r.text
    assert "<frameset" in client.get("/default.aspx").text  # what "Remind Me Later" loads
    assert "New Password:" in client.get("/ChangePassword.aspx").text
    assert counters(client)["writes"] == 0
    client.post("/ChangePassword.aspx", data={"txtOld": "a", "txtNew": "b", "txtConfirm": "b"})
    assert counters(client)["writes"] == 1


def test_newer_login_keeps_the_older_session_but_counts_it(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    app = create_app(dataset, Knobs())
    with TestClient(app) as first, TestClient(app) as second:  # one portal, two browsers
        log_in(first, dataset)
        log_in(second, dataset)
        for client in (first, second):
            assert "Eligibility Inquiry" in client.get("/Eligibility/Inquiry.aspx").text
        assert counters(first)["max_concurrent_sessions"] == {account(dataset)["username"]: 2}
        assert counters(first)["active_sessions"] == {account(dataset)["username"]: 2}


def test_idle_session_times_out_inside_the_frame(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client(session_idle_seconds=60, new_device_question=False)
    now = [1000.0]
    client.app.state.portal.clock = lambda: now[0]
    log_in(client, dataset)
    assert "Welcome, Riverside Family Clinic (main)" in client.get("/welcome.aspx").text
    now[0] += 61
    r = client.get("/Eligibility/Inquiry.aspx")
    assert r.status_code == 200
    assert "Your session has timed out. Please log in again." in r.text
    assert 'href="/login.aspx" target="_top"' in r.text


# --- faults -------------------------------------------------------------------------------


def test_maintenance_answers_503_everywhere_but_admin(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client(new_device_question=False)
    log_in(client, dataset)
    client.post("/__admin/knobs", json={"maintenance": True})
    for path in ("/login.aspx", "/default.aspx", "/Claims/Inquiry.aspx"):
        r = client.get(path)
        assert r.status_code == 503
        assert "unavailable during scheduled maintenance from 11:00 PM to 5:00 AM Central" in r.text
        assert "Please try again after 5:00 AM." in r.text
    assert client.get("/__admin/health").status_code == 200


def test_server_errors_are_aspnet_pages(make_client: Client) -> None:
    client = make_client(error_rate=1.0)
    r = client.get("/login.aspx")
    assert r.status_code == 500 and "Server Error in &#x27;/&#x27; Application." in r.text


def test_rate_limit_answers_429_with_retry_after(make_client: Client) -> None:
    client = make_client(rate_limit_per_minute=3)
    assert [client.get("/login.aspx").status_code for _ in range(3)] == [200] * 3
    r = client.get("/login.aspx")
    assert r.status_code == 429 and "Too many requests. Please wait and try again." in r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert counters(client)["requests"] == 4


# --- eligibility search semantics --------------------------------------------------------


@pytest.fixture
def signed_in(make_client: Client, dataset: dict[str, Any]) -> TestClient:
    client = make_client(new_device_question=False)
    log_in(client, dataset)
    return client


def test_exact_id_and_dob_shows_the_member_and_benefits(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    m = family_of(dataset)[0]
    r = elig(signed_in, "DELTA", m["member_id"].lower(), m["dob"], last=m["last_name"])
    fields = fields_of(r.text)
    assert fields["Subscriber ID"] == m["member_id"]
    assert fields["Patient Name"] == f"{m['last_name'].upper()}, {m['first_name'].upper()}"
    assert fields["Coverage Status"] == "ACTIVE" and fields["Termination Date"] == ""
    (grid,) = tables_of(r.text)
    assert grid[0] == [
        "Service",
        "Type",
        "Network",
        "Level",
        "Copay",
        "Coins %",
        "Ded/OOP Total",
        "Met",
        "Remaining",
        "Auth Req",
    ]
    assert len(grid) - 1 == len(m["benefits"])
    assert grid[1][:4] == ["Plan Level", "Deductible (Calendar Year)", "In Network", "Individual"]
    assert counters(signed_in)["lookups"]["eligibility"] == 1


def test_refusals_not_found_dob_and_name_mismatch(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    fam = family_of(dataset)
    m = fam[-1]
    r = elig(signed_in, "DELTA", m["member_id"], fam[0]["dob"])
    assert "Patient date of birth does not match our records. (AAA 58)" in r.text
    r = elig(signed_in, "DELTA", m["member_id"], m["dob"], last="Nobody")
    assert "(AAA 73)" in r.text
    r = elig(signed_in, "DELTA", "XDP999999901", m["dob"])
    assert "No eligibility information found for the patient. (AAA 75)" in r.text
    r = elig(signed_in, "ELM", m["member_id"], m["dob"])  # right ID, wrong payer
    assert "(AAA 75)" in r.text


def test_subscriber_id_resolves_by_dob_or_lists_the_family(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    fam = family_of(dataset)
    target = fam[-1]
    r = elig(signed_in, "DELTA", target["subscriber_id"], target["dob"])
    assert fields_of(r.text)["Subscriber ID"] == target["member_id"]
    r = elig(signed_in, "DELTA", target["subscriber_id"], "1901-01-01")
    assert "More than one patient matches" in r.text
    (picks,) = tables_of(r.text)
    assert sorted(row[1] for row in picks[1:]) == sorted(m["member_id"] for m in fam)
    # an unknown suffix falls back to the contract: somebody else's ID is on the page
    r = elig(signed_in, "DELTA", target["subscriber_id"] + "77", fam[0]["dob"])
    assert fields_of(r.text)["Subscriber ID"] == fam[0]["member_id"]


def test_twins_are_a_pick_list_and_a_pick_shows_the_member(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    data = copy.deepcopy(dataset)
    fam = family_of(data, size=3)
    fam = [m for m in data["members"] if m["subscriber_id"] == fam[0]["subscriber_id"]]
    fam[2]["dob"] = fam[1]["dob"]  # make two of them twins in this copy
    client = make_client(data, new_device_question=False)
    log_in(client, data)
    r = elig(client, "DELTA", fam[1]["subscriber_id"], fam[1]["dob"])
    (picks,) = tables_of(r.text)
    assert len(picks) == 3
    href = re.findall(r'href="(/Eligibility/Member\.aspx[^"]+)"', r.text)[1]
    r = client.get(html.unescape(href))
    assert fields_of(r.text)["Subscriber ID"] == picks[2][1]


def test_inactive_coverage_has_no_benefits(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    for m, status in (
        (next(m for m in members(dataset) if m["coverage"]["termination_date"]), "TERMINATED"),
        (
            next(m for m in members(dataset) if m["coverage"]["effective_date"] > "2026-12-01"),
            "NOT YET EFFECTIVE",
        ),
    ):
        r = elig(signed_in, "DELTA", m["member_id"], m["dob"])
        assert fields_of(r.text)["Coverage Status"] == status
        assert tables_of(r.text) == [] and "Coverage is not active" in r.text


def test_values_are_html_escaped(make_client: Client, dataset: dict[str, Any]) -> None:
    data = copy.deepcopy(dataset)
    m = next(m for m in data["members"] if m["payer_id"] == "ELM")
    m["last_name"] = "<script>alert(1)</script>O'Neil & Sons"
    client = make_client(data, new_device_question=False)
    log_in(client, data)
    r = elig(client, "ELM", m["member_id"], m["dob"])
    assert "<script>" not in r.text
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;O&#x27;NEIL &amp; SONS" in r.text


# --- claims ---------------------------------------------------------------------------------


def claim_search(client: TestClient, payer: str, **fields: str) -> Any:
    code = {"DELTA": "0417", "ELM": "0562"}[payer]
    return client.post("/Claims/Inquiry.aspx", data={"ddlPayer": code, **fields})


def test_claim_number_goes_to_the_detail(signed_in: TestClient, dataset: dict[str, Any]) -> None:
    c = next(c for c in dataset["claims"] if c["payer_id"] == "ELM" and c["adjustments"])
    r = claim_search(signed_in, "ELM", txtICN=c["claim_number"].lower())
    assert r.url.path == "/Claims/Detail.aspx"
    fields = fields_of(r.text)
    assert fields["Claim Number"] == c["claim_number"]
    assert fields["Member ID"] == c["member_id"]
    lines, remarks = tables_of(r.text)
    assert lines[0][:3] == ["Line", "DOS", "Proc Code"] and len(lines) - 1 == len(
        c["service_lines"]
    )
    assert remarks[0][:4] == ["Line", "Group", "CARC", "RARC"]
    assert len(remarks) - 1 == len(c["adjustments"])
    r = claim_search(signed_in, "ELM", txtICN=dataset["not_on_file_claims"]["ELM"][0])
    assert "No claims found matching the search criteria." in r.text


def test_status_words_are_one_per_data_set_status(dataset: dict[str, Any]) -> None:
    from legacyportal.wording import CLAIM_STATUS_A, CLAIM_STATUS_B

    statuses = {(c["status"]["category"], c["status"]["code"]) for c in dataset["claims"]}
    for table in (CLAIM_STATUS_A, CLAIM_STATUS_B):
        assert statuses <= set(table)
        assert len(set(table.values())) == len(table), "a word must name one status"


def test_subscriber_search_pages_through_the_family_claims(
    signed_in: TestClient, dataset: dict[str, Any]
) -> None:
    data = LegacyData(dataset, ["DELTA", "ELM"])
    busy = max(
        {m["subscriber_id"] for m in data.members},
        key=lambda s: len(data.claims_by_subscriber("DELTA", s, None, None)),
    )
    expected = data.claims_by_subscriber("DELTA", busy, None, None)
    assert 10 < len(expected) <= 20
    r = claim_search(signed_in, "DELTA", txtSubscriberID=busy)
    assert r.url.path == "/Claims/Results.aspx" and "Page 1 of 2" in r.text
    assert "Next &gt;" in r.text and "&lt; Prev" not in r.text
    (page1,) = tables_of(r.text)
    assert len(page1) == 11
    r = signed_in.get(html.unescape(re.search(r'href="([^"]+)">Next &gt;', r.text)[1]))
    assert "Page 2 of 2" in r.text and "&lt; Prev" in r.text and "Next &gt;" not in r.text
    (page2,) = tables_of(r.text)
    shown = [row[0] for row in page1[1:] + page2[1:]]
    assert shown == [c["claim_number"] for c in expected]
    # a full member ID lists the whole contract too; dates narrow it
    one = expected[-1]
    r = claim_search(
        signed_in,
        "DELTA",
        txtSubscriberID=one["member_id"],
        txtFrom=mmddyyyy(one["dos_from"]),
        txtTo=mmddyyyy(one["dos_to"]),
    )
    (rows,) = tables_of(r.text)
    assert one["claim_number"] in [row[0] for row in rows[1:]] and "Page 1 of 1" in r.text
    assert counters(signed_in)["lookups"]["claims"] == 2


# --- layout B -------------------------------------------------------------------------------


def test_layout_b_renames_captions_moves_columns_and_rewords_statuses(
    make_client: Client, dataset: dict[str, Any]
) -> None:
    client = make_client(layout="B", new_device_question=False)
    log_in(client, dataset)
    form = client.get("/Eligibility/Inquiry.aspx").text
    assert "Member Number:" in form and "Date of Birth:" in form
    assert "Subscriber ID:" not in form and "Patient DOB (MMDDYYYY)" not in form
    m = family_of(dataset)[0]
    r = elig(client, "DELTA", m["member_id"], m["dob"])
    fields = fields_of(r.text)
    assert fields["Member Number"] == m["member_id"] and "Subscriber ID" not in fields
    (grid,) = tables_of(r.text)
    assert grid[0][:4] == ["Service", "Network", "Level", "Type"]
    pended = next(
        c for c in dataset["claims"] if c["payer_id"] == "DELTA" and c["status"]["category"] == "P1"
    )
    r = claim_search(client, "DELTA", txtICN=pended["claim_number"])
    assert fields_of(r.text)["Claim Status"] == "IN PROCESS"
    lines, remarks = tables_of(r.text)
    assert lines[0][-3:] == ["Paid", "Allowed", "Billed"]
    assert remarks[0][:3] == ["Line", "CARC", "Group"]
