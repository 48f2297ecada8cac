"""The State Medicaid portal at HTTP level: terms, server-side date checks, 429s, CAPTCHA, PDFs."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from medicaidportal.app import create_app
from portalkit.knobs import Knobs
from pypdf import PdfReader
from starlette.testclient import TestClient

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_mcd(dataset: dict[str, Any]) -> Iterator[MakeClient]:
    """make_mcd(**knobs) -> a TestClient on a fresh Medicaid portal app."""
    clients: list[TestClient] = []

    def make(**knobs: Any) -> TestClient:
        client = TestClient(create_app(dataset, Knobs(**knobs)))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def account(dataset: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in dataset["accounts"]["medicaidportal"] if a["account"] == "main")


def log_in(client: TestClient, dataset: dict[str, Any], accept: bool = True) -> Any:
    acct = account(dataset)
    r = client.post("/login", data={"username": acct["username"], "password": acct["password"]})
    assert r.status_code == 200 and r.url.path == "/terms", r.text
    assert "I have read and agree to the Terms of Use" in r.text
    if accept:
        r = client.post("/terms", data={"action": "accept", "agree": "yes"})
        assert r.url.path == "/home" and "<h1>Provider Home</h1>" in r.text
    return r


def us(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%m/%d/%Y")


def members(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in dataset["members"] if m["payer_id"] == "STATEMCD"]


def claims(dataset: dict[str, Any], category: str) -> list[dict[str, Any]]:
    return [
        c
        for c in dataset["claims"]
        if c["payer_id"] == "STATEMCD" and c["status"]["category"] == category
    ]


def search(client: TestClient, member_id: str, dob: str, dos: str = "12/01/2026") -> Any:
    return client.post(
        "/eligibility", data={"member_id": member_id, "dob": dob, "dos_from": dos, "dos_to": dos}
    )


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)>.*?</\1>", "", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def counters(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/__admin/counters").json())


# --- login and the terms of use -----------------------------------------------------------------


def test_terms_on_every_login_and_nothing_before_them(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd()
    assert client.get("/eligibility").url.path == "/login"
    log_in(client, dataset, accept=False)
    for path in ("/home", "/eligibility", "/claims"):
        assert client.get(path).url.path == "/terms"
    r = client.post("/eligibility", data={"member_id": "1"})
    assert r.url.path == "/terms" and counters(client)["lookups"]["eligibility"] == 0
    r = client.post("/terms", data={"action": "accept"})  # box not ticked
    assert r.status_code == 400 and "You must check the box" in r.text
    client.post("/terms", data={"action": "accept", "agree": "yes"})
    assert client.get("/eligibility").status_code == 200
    client.post("/logout")
    log_in(client, dataset)  # the terms come back on the next login
    c = counters(client)
    assert c["terms_accepted"] == 2 and c["logins"] == {account(dataset)["username"]: 2}


def test_decline_logs_out(make_mcd: MakeClient, dataset: dict[str, Any]) -> None:
    client = make_mcd()
    log_in(client, dataset, accept=False)
    r = client.post("/terms", data={"action": "decline", "agree": "yes"})
    assert "You declined the Terms of Use and have been logged out." in r.text
    assert client.get("/home").url.path == "/login"
    c = counters(client)
    assert c["terms_declined"] == 1 and c["terms_accepted"] == 0 and c["active_sessions"] == {}


def test_wrong_password_then_lockout(make_mcd: MakeClient, dataset: dict[str, Any]) -> None:
    client = make_mcd(lockout_threshold=2)
    acct = account(dataset)
    r = client.post("/login", data={"username": acct["username"], "password": "nope"})
    assert r.status_code == 401 and "incorrect" in r.text
    r = client.post("/login", data={"username": acct["username"], "password": "nope"})
    assert r.status_code == 423
    r = client.post("/login", data={"username": acct["username"], "password": acct["password"]})
    assert r.status_code == 423 and "locked" in r.text
    assert counters(client)["failed_logins"] == {acct["username"]: 2}


def test_session_idle_ends_with_the_session_ended_page(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd(session_idle_seconds=60)
    now = [1000.0]
    client.app.state.portal.clock = lambda: now[0]  # type: ignore[attr-defined]  # Starlette's untyped app.state
    log_in(client, dataset)
    now[0] += 61
    r = client.get("/eligibility")
    assert r.status_code == 401 and "Your session has ended" in r.text


# --- eligibility --------------------------------------------------------------------------------


def test_dates_are_checked_by_the_server_not_only_by_the_mask(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd()
    log_in(client, dataset)
    form = client.get("/eligibility").text
    assert (
        len(re.findall(r'<input[^>]*data-mask="date"', form)) == 3
        and "addEventListener('input', reject)" in form
    )
    m = members(dataset)[0]
    for bad in (m["dob"], "__/__/____", "1/2/1990", "13/45/1990", ""):
        r = search(client, m["member_id"], bad)
        assert r.status_code == 400 and "Enter dates as MM/DD/YYYY." in r.text
    assert counters(client)["lookups"]["eligibility"] == 0
    r = search(client, m["member_id"], us(m["dob"]))
    assert r.status_code == 200 and "Eligibility Results" in r.text


def test_recipient_search_by_id_and_dob_with_the_case_number_trap(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd()
    log_in(client, dataset)
    family = next(
        [m for m in members(dataset) if m["subscriber_id"] == s["subscriber_id"]]
        for s in members(dataset)
        if s["relationship"] == "subscriber"
        and s["coverage"]["termination_date"] is None
        and sum(m["subscriber_id"] == s["subscriber_id"] for m in members(dataset)) >= 2
        and not s.get("confidential")
        and not next(
            m for m in members(dataset) if m["subscriber_id"] == s["subscriber_id"] and m is not s
        ).get("confidential")
    )
    head, other = family[0], family[1]
    page = text_of(search(client, head["member_id"], us(head["dob"])).text)
    assert f"Medicaid ID {head['member_id']} Date of Birth {us(head['dob'])}" in page
    assert "Case Relationship Case Head" in page and "Copays and Coinsurance" in page
    # wrong DOB: the portal does not confirm the ID
    r = search(client, head["member_id"], "01/01/1901")
    assert "Recipient not found" in r.text and "Eligibility Results" not in r.text
    # the head's ID with the DOB of someone else on the case shows that person
    page = text_of(search(client, head["member_id"], us(other["dob"])).text)
    assert (
        f"Medicaid ID {other['member_id']}" in page
        and head["member_id"] not in page.split("Eligibility Results")[1]
    )
    r = search(client, "12345", us(head["dob"]))
    assert "Medicaid ID must be 12 digits." in r.text


def test_a_confidential_recipient_is_shown_without_identity_and_found_exactly_only(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd()
    log_in(client, dataset)
    hidden = next(
        m
        for m in members(dataset)
        if m.get("confidential")
        and any(o["subscriber_id"] == m["subscriber_id"] and o is not m for o in members(dataset))
    )
    relative = next(
        o
        for o in members(dataset)
        if o["subscriber_id"] == hidden["subscriber_id"] and o is not hidden
    )
    page = text_of(search(client, hidden["member_id"], us(hidden["dob"])).text)
    results = page.split("Eligibility Results")[1]
    assert "Recipient Confidential recipient - identity withheld" in results
    assert hidden["member_id"] not in results and us(hidden["dob"]) not in results
    assert hidden["last_name"].upper() not in results.upper()
    assert "Coverage Segments" in page
    # the case-number fallback never reaches a confidential recipient
    r = search(client, relative["member_id"], us(hidden["dob"]))
    assert "Recipient not found" in r.text and "Eligibility Results" not in r.text


def test_inactive_recipient_has_no_benefits_and_open_end_is_9999(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd()
    log_in(client, dataset)
    gone = next(m for m in members(dataset) if m["coverage"]["termination_date"])
    page = text_of(search(client, gone["member_id"], us(gone["dob"])).text)
    assert "Not Eligible" in page and "No benefit information" in page
    steady = next(
        m
        for m in members(dataset)
        if m["coverage"]["termination_date"] is None
        and m["coverage"]["effective_date"] < "2026-12-01"
    )
    page = text_of(search(client, steady["member_id"], us(steady["dob"])).text)
    assert "12/31/9999 Eligible" in page


def test_values_are_html_escaped(make_mcd: MakeClient, dataset: dict[str, Any]) -> None:
    client = make_mcd()
    log_in(client, dataset)
    r = client.post("/eligibility", data={"member_id": '<script>alert("x")</script>'})
    assert "<script>alert" not in r.text and "&lt;script&gt;alert(&quot;x&quot;)" in r.text


# --- claims and the PDF -------------------------------------------------------------------------


def test_claim_search_summary_and_pdf(make_mcd: MakeClient, dataset: dict[str, Any]) -> None:
    client = make_mcd()
    log_in(client, dataset)
    claim = next(c for c in claims(dataset, "F2") if len(c["service_lines"]) > 1)
    r = client.post("/claims", data={"mode": "icn", "icn": claim["claim_number"]})
    href = re.search(r'href="(/claims/[0-9a-f]{20})"', r.text)
    assert href and claim["claim_number"] not in href.group(1)
    page = text_of(client.get(href.group(1)).text)
    assert f"ICN {claim['claim_number']}" in page and "Claim Status Category F2" in page
    assert "Download Claim Detail (PDF)" in page
    pdf = client.get(f"{href.group(1)}/detail.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf.content), strict=True)
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert f"ICN: {claim['claim_number']}" in text
    for line in claim["service_lines"]:
        assert f"{line['line']}  {us(line['dos'])}  {line['procedure_code']}" in text
    for adj in claim["adjustments"]:
        assert f"{adj['group_code']}  {adj['carc']}  {','.join(adj['rarc']) or '-'}" in text
    assert counters(client)["lookups"]["claims"] == 1


def test_claim_search_by_recipient_and_dates_and_not_found(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd()
    log_in(client, dataset)
    claim = claims(dataset, "F1")[0]
    r = client.post(
        "/claims",
        data={
            "mode": "recipient",
            "member_id": claim["member_id"],
            "dos_from": us(claim["dos_from"]),
            "dos_to": us(claim["dos_to"]),
        },
    )
    assert claim["claim_number"] in r.text and "Claim Search Results" in r.text
    missing = dataset["not_on_file_claims"]["STATEMCD"][0]
    r = client.post("/claims", data={"mode": "icn", "icn": missing})
    assert "No claims found for the search criteria." in r.text
    r = client.post("/claims", data={"mode": "icn", "icn": "A26"})
    assert r.status_code == 400 and "ICN must be 13 digits." in r.text


def test_decoys_count_writes(make_mcd: MakeClient, dataset: dict[str, Any]) -> None:
    client = make_mcd()
    log_in(client, dataset)
    assert client.get("/claims/submit").status_code == 200
    assert counters(client)["writes"] == 0
    client.post("/claims/submit", data={"note": "x"})
    client.post("/provider/enrollment", data={"note": "x"})
    assert counters(client)["writes"] == 2


# --- faults -------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd(rate_limit_per_minute=4)
    log_in(client, dataset)  # 4 requests: login, terms, accept, home
    r = client.get("/eligibility")
    assert r.status_code == 429
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 61
    assert f"You have made too many requests. Please wait {wait} seconds." in r.text
    assert counters(client)["rate_limited"] >= 1
    assert client.get("/__admin/health").status_code == 200  # admin is never limited


def test_captcha_after_a_burst_persists_until_reset(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd(captcha_after_per_minute=5)
    log_in(client, dataset)  # 4 requests: login, terms, accept, home
    assert client.get("/eligibility").status_code == 200
    r = client.get("/claims")  # the 6th request in a minute
    assert "<h1>Security Check</h1>" in r.text and "Type the characters you see" in r.text
    client.post("/__admin/knobs", json={"captcha_after_per_minute": 0})
    for _ in range(2):
        r = client.post("/security-check", data={"captcha": "ABC123"})
        assert "did not match" in r.text
    assert "Security Check" in client.get("/home").text  # still there: only a person clears it
    c = counters(client)
    assert c["captcha_submissions"] == 2 and c["captcha_active"] is True
    client.post("/__admin/reset")
    assert counters(client)["captcha_submissions"] == 0
    assert "Provider Login" in client.get("/login").text


def test_maintenance_and_server_errors(make_mcd: MakeClient, dataset: dict[str, Any]) -> None:
    client = make_mcd(maintenance=True)
    r = client.get("/login")
    assert r.status_code == 503
    assert "The Provider Portal is down for scheduled maintenance until 6:00 AM Eastern." in r.text
    client.post("/__admin/knobs", json={"maintenance": False, "error_rate": 1.0})
    r = client.get("/login")
    assert r.status_code == 500 and "<h1>System Error</h1>" in r.text
    assert client.get("/__admin/counters").status_code == 200


# --- layout B -----------------------------------------------------------------------------------


def test_layout_b_renames_labels_moves_blocks_and_a_status_word(
    make_mcd: MakeClient, dataset: dict[str, Any]
) -> None:
    client = make_mcd(layout="B")
    log_in(client, dataset)
    form = client.get("/eligibility").text
    assert ">Recipient ID</label>" in form and ">Birth Date</label>" in form
    assert form.index("Birth Date") < form.index("Recipient ID") and "Medicaid ID" not in form
    m = next(
        m
        for m in members(dataset)
        if m["coverage"]["termination_date"] is None
        and m["coverage"]["effective_date"] < "2026-12-01"
        and not m.get("confidential")
    )
    page = text_of(search(client, m["member_id"], us(m["dob"])).text)
    assert f"Recipient ID {m['member_id']} Birth Date {us(m['dob'])}" in page
    assert page.index("Copays and Coinsurance") < page.index("Recipient Information")
    pended = claims(dataset, "P1")[0]
    r = client.post("/claims", data={"mode": "icn", "icn": pended["claim_number"]})
    href = re.search(r'href="(/claims/[0-9a-f]{20})"', r.text)
    assert href
    page = text_of(client.get(href.group(1)).text)
    assert "Claim Status Suspended - In process" in page and "Pending" not in page
    assert page.index("Financial Summary") < page.index("Claim Information")
