"""The web console in real Chromium: each journey of a specialist and a supervisor, and the
security rules (no session, wrong role, no CSRF token) checked route by route.

PAYERBOT_DOCS_SCREENSHOTS=1 also writes the main pages to docs/screenshots/ (README)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from bots.interfaces.console.users import add_user
from bots.settings import ROOT
from bots.store import Run, Store
from tests.test_cli import payerbot
from tests.timing import deadline_in, scaled
from tests.worklist_factory import eligibility_worklist

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path | None = None) -> Iterator[str]:
    """A real `payerbot serve` on a free port; yields its URL."""
    port = free_port()
    out = log.open("w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [".venv/bin/payerbot", "serve", "--port", str(port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = deadline_in(60)
    try:
        while True:
            try:
                httpx.get(f"{url}/login", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()[-3000:] if log else "exited"
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(30))


@pytest.fixture
def console(env, settings, tmp_path) -> Iterator[dict[str, Any]]:
    store = Store.open(settings)
    add_user(store, "dana", "dana-specialist-pw", "specialist")
    add_user(store, "sam", "sam-supervisor-pw", "supervisor")
    store.close()
    log = tmp_path / "console.log"
    with serving({**env, "PAYERBOT_CONSOLE__IDLE_MINUTES": "15"}, log) as url:
        yield {"url": url, "env": env, "settings": settings, "log": log}


def log_in(page: Page, url: str, user: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    if os.environ.get("PAYERBOT_DOCS_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def ended_member(gt: dict[str, Any]) -> dict[str, Any]:
    return next(
        m
        for m in gt["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and m["coverage"]["termination_date"]
        and m["coverage"]["termination_date"] < "2026-12-01"
    )


def test_specialist_looks_up_with_evidence_works_the_queue_and_downloads_the_workbook(
    console, page: Page, ground_truth, tmp_path
):
    url = console["url"]
    log_in(page, url, "dana", "dana-specialist-pw")
    expect(page).to_have_url(f"{url}/lookup")
    member = ended_member(ground_truth)
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Member ID").fill(member["member_id"])
    page.get_by_label("Date of birth").fill(member["dob"])
    page.get_by_label("Date of service").fill("2026-12-01")
    page.get_by_label("Service type").fill("98")
    page.get_by_label("Expected charge").fill("180.00")
    started = time.monotonic()
    page.get_by_role("button", name="Look up").click()
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_be_visible(timeout=scaled(60) * 1000)
    assert time.monotonic() - started < 30, "an answer in seconds"
    expect(answer.get_by_text("Coverage inactive", exact=True)).to_be_visible()
    expect(answer.get_by_text(member["member_id"])).to_be_visible()
    expect(page.locator("#estimate")).to_contain_text("$180.00")
    evidence = page.get_by_role("img", name="Screenshot of the portal's answer")
    expect(evidence).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", evidence.element_handle()) > 100
    expect(answer.get_by_text(re.compile(r"Follow-up \d+: Coverage ended"))).to_be_visible()
    shoot(page, "lookup")

    page.get_by_role("link", name="Follow-ups").click()
    rows = page.get_by_role("row").filter(has_text="Coverage ended")
    expect(rows).to_have_count(1)
    followup_id = rows.first.get_attribute("id").removeprefix("followup-")
    shoot(page, "followups")
    rows.first.get_by_role("button", name="Assign to me").click()
    expect(page.get_by_role("status")).to_contain_text(f"Follow-up {followup_id} assigned")
    row = page.locator(f"#followup-{followup_id}")
    expect(row).to_contain_text("in progress")
    expect(row).to_contain_text("dana")
    row.get_by_label(f"Resolution note for {followup_id}").fill("Called: new Medicaid card")
    row.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("resolved")
    expect(page.locator(f"#followup-{followup_id}")).to_have_count(0)  # done: not listed
    shown = json.loads(payerbot("queue", "show", followup_id, "--json", env=console["env"]).stdout)
    assert shown["status"] == "done" and "new Medicaid card" in shown["notes"]
    assert [(h["actor"], h["action"]) for h in shown["history"]] == [
        ("dana", "assign"),
        ("dana", "resolve"),
    ]

    # The workbook: written by a batch, downloaded from the console.
    worklist = tmp_path / "a.csv"
    eligibility_worklist(ground_truth, worklist, 3, {"ACME"})
    assert (
        payerbot("run", "eligibility", "--worklist", str(worklist), env=console["env"]).returncode
        == 0
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the workbook").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert zipfile.is_zipfile(saved) and saved.name == "payerbot.xlsx"
    # A specialist never sees supervisor pages.
    assert page.get_by_role("link", name="Runs").count() == 0
    page.goto(f"{url}/runs")
    expect(page.get_by_role("alert")).to_have_text("Supervisors only.")


def test_supervisor_opens_the_last_run_sees_a_failure_downloads_its_trace_and_retries(
    console, page: Page, ground_truth, hub, tmp_path
):
    env = {
        **console["env"],
        "PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS": "0.1",
        "PAYERBOT_BROWSER__TRACE": "always",
        # the redesign lands mid-run, after the drift canary looked: items fail and retry
        "PAYERBOT_QUEUE__DRIFT_CANARY": "false",
    }
    worklist = tmp_path / "appointments.csv"
    eligibility_worklist(ground_truth, worklist, 4, {"ACME", "DELTA"})
    hub.knobs(layout="B")  # PayerHub was redesigned overnight: its items fail, DELTA's do not
    assert payerbot("run", "eligibility", "--worklist", str(worklist), env=env).returncode == 1
    hub.knobs(layout="A")

    url = console["url"]
    log_in(page, url, "sam", "sam-supervisor-pw")
    expect(page).to_have_url(f"{url}/runs")
    shoot(page, "runs")
    page.get_by_role("table", name="Runs").get_by_role("link").first.click()
    failed = page.get_by_role("row").filter(has_text="the portal's pages changed")
    expect(failed.first).to_contain_text("failed")  # the state in words
    expect(failed.first).to_contain_text("(layout_changed)")  # the code beside them
    shoot(page, "run")
    with page.context.expect_page() as popup:
        failed.first.get_by_role("link", name="screenshot").click(modifiers=["Control"])
    shot = popup.value
    shot.wait_for_load_state()
    assert shot.evaluate("document.images.length") == 1 or "image" in (
        shot.evaluate("document.contentType") or ""
    )
    shot.close()
    with page.expect_download() as download:
        failed.first.get_by_role("link", name="trace").click()
    trace = tmp_path / "trace.zip"
    download.value.save_as(trace)
    assert "trace.trace" in zipfile.ZipFile(trace).namelist()

    # The log, filtered by level and portal.
    page.get_by_label("Level").select_option("info")
    page.get_by_label("Portal").fill("payerhub")
    page.get_by_role("button", name="Filter").click()
    lines = page.get_by_role("table", name="Log lines")
    levels = lines.locator("tr td:nth-child(2)").all_inner_texts()
    portals = lines.locator("tr td:nth-child(4)").all_inner_texts()
    assert levels and set(levels) == {"info"} and set(portals) == {"payerhub"}
    expect(lines).to_contain_text("layout_changed")

    page.get_by_role("button", name=re.compile(r"Retry the \d+ failed item")).click()
    expect(page.get_by_role("status")).to_contain_text("Retrying")
    store = Store.open(console["settings"])

    def retried() -> Run | None:
        runs = [r for r in store.list_runs(10) if r.trigger == "retry"]
        return runs[0] if runs and runs[0].status == "finished" else None

    deadline = deadline_in(120)
    while retried() is None:
        assert time.monotonic() < deadline, "the retry never finished"
        time.sleep(0.5)
    run = retried()
    assert run.counts["succeeded"] == run.counts["items"] > 0
    store.close()

    page.get_by_role("link", name="Portals").click()
    expect(page.get_by_role("heading", name=re.compile("^payerhub"))).to_be_visible()
    shoot(page, "portals")


ROUTES = [
    ("GET", "/"),
    ("GET", "/lookup"),
    ("POST", "/lookup"),
    ("GET", "/queue"),
    ("POST", "/queue/1/assign"),
    ("POST", "/queue/1/resolve"),
    ("GET", "/workbook"),
    ("GET", "/files/evidence/r/x.png"),
    ("GET", "/runs"),
    ("GET", "/runs/r1"),
    ("POST", "/runs/r1/retry"),
    ("POST", "/batch"),
    ("GET", "/portals"),
    ("POST", "/logout"),
]
SUPERVISOR_ONLY = {"/runs", "/runs/r1", "/runs/r1/retry", "/batch", "/portals"}


def session(url: str, user: str, password: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
    response = client.post(
        "/login", data={"csrf": token, "username": user, "password": password, "next": ""}
    )
    assert response.status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/queue").text)[1]
    return client, csrf


def test_every_route_needs_a_session_the_right_role_and_a_csrf_token(console):
    url = console["url"]
    anonymous = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    for method, path in ROUTES:
        response = anonymous.request(method, path)
        if method == "GET":
            assert response.status_code == 303 and response.headers["location"].startswith(
                "/login"
            ), path
        else:
            assert response.status_code == 401, path

    specialist, csrf = session(url, "dana", "dana-specialist-pw")
    for method, path in ROUTES:
        if path in SUPERVISOR_ONLY:
            response = specialist.request(method, path, data={"csrf": csrf})
            assert response.status_code == 403, path
    trace = specialist.get("/files/traces/r/x.zip")
    assert trace.status_code == 403

    supervisor, csrf = session(url, "sam", "sam-supervisor-pw")
    for method, path in ROUTES:
        if method == "POST" and path != "/logout":
            refused = supervisor.post(path, data={"csrf": "forged"})
            assert refused.status_code == 403, path
            assert supervisor.post(path, data={}).status_code == 403, path
    assert supervisor.post("/logout", data={}).status_code == 403
    assert supervisor.get("/runs").status_code == 200, "still logged in"

    # Files: only names, never paths; a bad login says nothing about which part was wrong.
    for bad in ("/files/evidence/../secrets/x", "/files/evidence/r/..%2f..%2fpayerbot.db"):
        assert supervisor.get(bad).status_code == 404
    wrong = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', wrong.get("/login").text)[1]
    response = wrong.post("/login", data={"csrf": token, "username": "sam", "password": "nope"})
    assert response.status_code == 401 and "Unknown user or wrong password" in response.text
    assert wrong.get("/runs", follow_redirects=False).status_code == 303
    # The session cookie is HttpOnly and SameSite=Strict; an open redirect is refused.
    cookie = supervisor.cookies.jar
    raw = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', raw.get("/login").text)[1]
    login = raw.post(
        "/login",
        data={
            "csrf": token,
            "username": "sam",
            "password": "sam-supervisor-pw",
            "next": "//evil.example",
        },
    )
    assert login.headers["location"] == "/runs"
    set_cookie = login.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    assert cookie is not None


def test_an_idle_session_ends(console):
    env = {**console["env"], "PAYERBOT_CONSOLE__IDLE_MINUTES": "0.02"}  # 1.2 s
    with serving(env) as url:
        client, _ = session(url, "dana", "dana-specialist-pw")
        assert client.get("/queue").status_code == 200
        time.sleep(2)
        expired = client.get("/queue")
        assert expired.status_code == 303 and expired.headers["location"].startswith("/login")


def test_html_from_portals_and_users_is_escaped(console, hub, page: Page, ground_truth):
    hub.knobs(hostile_text='<img src=x onerror="window.__pwned=1">Acme PPO')
    url = console["url"]
    log_in(page, url, "dana", "dana-specialist-pw")
    member = next(
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "ACME"
        and m["relationship"] == "subscriber"
        and m["coverage"]["termination_date"] is None
    )
    page.get_by_label("Payer").select_option("ACME")
    page.get_by_label("Member ID").fill(member["member_id"])
    page.get_by_label("Date of birth").fill(member["dob"])
    page.get_by_role("button", name="Look up").click()
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_contain_text('<img src=x onerror="window.__pwned=1">Acme PPO')
    assert page.evaluate("window.__pwned") is None


def test_the_lookup_form_says_what_a_question_lacks_in_plain_words(console):
    specialist, csrf = session(console["url"], "dana", "dana-specialist-pw")
    payer = next(iter(console["settings"].payers))
    asks = {
        "claim_status": {"kind": "claim_status", "payer": payer, "member_id": "ACM1"},
        "eligibility": {"kind": "eligibility", "payer": payer, "dob": "1980-05-17"},
        "bad date": {"kind": "eligibility", "payer": payer, "member_id": "A1", "dob": "17.5.80"},
    }
    said = {}
    for name, form in asks.items():
        response = specialist.post("/lookup", data={"csrf": csrf, **form})
        assert response.status_code == 400, name
        said[name] = re.search(r'role="alert">([^<]*)<', response.text)[1]
    assert said["claim_status"] == (
        "A claim status question needs a claim number (or patient account number), "
        "or a member ID with the date of service."
    )
    assert said["eligibility"] == "The member ID is required."
    assert said["bad date"] == "The date of birth is not a date (YYYY-MM-DD)."
    for text in said.values():  # no pydantic or Python wording
        assert "Value error" not in text and "isoformat" not in text and "Input" not in text
