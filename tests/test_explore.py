"""`payerbot explore`: headless exploration of a portal, in a real browser.

Against the bundled mock portals it writes, per page visited, the screenshot, the
accessibility tree, the forms (the legacy portal's inside its frames), the network
requests (PayerHub's JSON API reads) and suggested landmarks, and never a credential; on a
small page of its own it finds a form in an open shadow root and one in an iframe; a step
that finds nothing ends the command with one sentence.
"""

from __future__ import annotations

import functools
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from bots.engine.browser import launch
from bots.ops.explore import Exploration, explore, parse_step
from bots.settings import Settings
from tests.conftest import Portal, run_async
from tests.timing import scaled

pytestmark = pytest.mark.browser

FILES = ("screenshot.png", "aria.yml", "forms.json", "network.json", "landmarks.txt")


def explore_all(settings: Settings, jobs: list[dict[str, Any]]) -> list[Exploration]:
    """Each exploration in turn, in one browser."""

    async def _all() -> list[Exploration]:
        async with async_playwright() as playwright:
            browser = await launch(playwright, settings.browser)
            try:
                return [
                    await explore(
                        settings,
                        job["url"],
                        [parse_step(s) for s in job.get("steps", [])],
                        portal=job.get("portal"),
                        out=job["out"],
                        browser=browser,
                    )
                    for job in jobs
                ]
            finally:
                await browser.close()

    return run_async(_all())


def forms_of(capture: Path) -> list[dict[str, Any]]:
    forms: list[dict[str, Any]] = json.loads((capture / "forms.json").read_text())["forms"]
    return forms


def control(forms: list[dict[str, Any]], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the form, the control) named ``name``."""
    return next((f, c) for f in forms for c in f["controls"] if c["name"] == name)


def check_written(done: Exploration) -> list[Path]:
    """Every capture has its five files, parseable, owner-only; the index lists them all."""
    assert done.failure is None, done.failure
    captures = sorted(p for p in done.folder.iterdir() if p.is_dir())
    assert captures and len(captures) == len(done.captures)
    index = (done.folder / "index.md").read_text()
    for folder in captures:
        assert folder.stat().st_mode & 0o777 == 0o700
        for name in FILES:
            assert (folder / name).stat().st_mode & 0o777 == 0o600, folder / name
        assert (folder / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        forms_of(folder)
        assert isinstance(json.loads((folder / "network.json").read_text()), list)
        tree = (folder / "aria.yml").read_text()
        assert tree.startswith("- page: main\n") and "  tree:\n" in tree
        assert f"]({folder.name}/)" in index
    return captures


def written_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_explores_each_bundled_portal_through_its_login(
    settings: Settings, mock_portals: dict[str, Portal], hub: Portal, tmp_path: Path
) -> None:
    legacy, medicaid = mock_portals["legacyportal"], mock_portals["medicaidportal"]
    legacy.knobs(new_device_question=False)  # the security question is a step of its own
    hub_login = [
        "fill:Username={username}",
        "click:Sign in",  # the password left out: the hub says so, the user name still shown
        "fill:Password={password}",
        "click:Sign in",
        "totp:Verification code",
        "click:Verify",
        "wait:What would you like to do?",
        "click:Eligibility & Benefits",
        "select:Payer=Acme Health Plan",
    ]
    legacy_login = [
        "fill:User ID:={username}",
        "fill:Password:={password}",
        "click:Log In",
        "click:Eligibility Inquiry",
    ]
    medicaid_login = ["fill:Provider ID={username}", "fill:Password={password}", "click:Log In"]
    done_hub, done_legacy, done_medicaid = explore_all(
        settings,
        [
            {
                "url": f"{hub.url}/#/login",
                "portal": "payerhub",
                "steps": hub_login,
                "out": tmp_path / "hub",
            },
            {
                "url": f"{legacy.url}/login.aspx",
                "portal": "legacyportal",
                "steps": legacy_login,
                "out": tmp_path / "legacy",
            },
            {
                "url": f"{medicaid.url}/login",
                "portal": "medicaidportal",
                "steps": medicaid_login,
                "out": tmp_path / "medicaid",
            },
        ],
    )

    # PayerHub: sign-in, the one-time-code step, home, the eligibility search (typing is no page)
    hub_pages = check_written(done_hub)
    assert [c.h1 for c in done_hub.captures] == [
        "Sign in to PayerHub",
        "Sign in to PayerHub",
        "Two-step verification",
        done_hub.captures[3].h1,
        "Eligibility & Benefits",
    ]
    assert "This field is required" in (hub_pages[1] / "aria.yml").read_text()
    assert 'textbox "Username": ***' in (hub_pages[1] / "aria.yml").read_text()
    hub_pages = hub_pages[1:]
    form, code = control(forms_of(hub_pages[1]), "code")
    assert code["label"] == "Verification code" and form["where"]["frame"] is None
    login_post = [
        r
        for r in json.loads((hub_pages[1] / "network.json").read_text())
        if r["path"] == "/api/auth/login"
    ]
    assert login_post == [
        {
            "method": "POST",
            "host": login_post[0]["host"],
            "path": "/api/auth/login",
            "resource_type": "fetch",
            "status": 200,
            "content_type": "application/json",
            "json": True,
            "posted_fields": ["password", "username"],
        }
    ]
    signed_in = [r for p in hub_pages[2:] for r in json.loads((p / "network.json").read_text())]
    api_reads = {r["path"] for r in signed_in if r["json"] and r["method"] == "GET"}
    assert any(p.startswith("/api/") for p in api_reads), signed_in
    landmarks = (hub_pages[3] / "landmarks.txt").read_text()
    assert '"heading:Eligibility & Benefits"' in landmarks and '"label:Member ID"' in landmarks
    index = (done_hub.folder / "index.md").read_text()
    assert "| Two-step verification |" in index and "GET /api/" in index

    # no credential in any file written (the screenshots mask the fields that held one)
    for account in hub.admin("GET", "accounts"):
        if account["account"] == "main":
            everything = written_bytes(done_hub.folder)
            for secret in (account["password"], account["totp_seed"], account["username"]):
                assert secret.encode() not in everything

    # the legacy portal: the sign-in form on the page, the search form in the "main" frame
    legacy_pages = check_written(done_legacy)
    form, user = control(forms_of(legacy_pages[0]), "txtUserID")
    assert user["caption"] == "User ID:" and form["where"]["frame"] is None
    assert (form["method"], form["action"]) == ("POST", "/login.aspx")
    form, member = control(forms_of(legacy_pages[-1]), "txtSubscriberID")
    assert form["where"]["frame"] == {"name": "main", "path": "/Eligibility/Inquiry.aspx"}
    assert member["caption"] == "Subscriber ID:"
    _, payer = control(forms_of(legacy_pages[-1]), "ddlPayer")
    assert "Delta Prairie Health" in [o["text"] for o in payer["options"]]
    assert 'frame="main"' in (legacy_pages[-1] / "landmarks.txt").read_text()
    menu = '"link:Eligibility Inquiry", "link:Claim Inquiry"'
    assert menu in (legacy_pages[-1] / "landmarks.txt").read_text()
    assert "frame 'main'" in (done_legacy.folder / "index.md").read_text()
    for account in legacy.admin("GET", "accounts"):
        assert account["password"].encode() not in written_bytes(done_legacy.folder)

    medicaid_pages = check_written(done_medicaid)
    assert [c.h1 for c in done_medicaid.captures] == ["Provider Login", "Terms of Use"]
    assert '"label:Provider ID"' in (medicaid_pages[0] / "landmarks.txt").read_text()


SHADOW_PAGE = """<!doctype html><html><head><title>Shadow test</title></head><body>
<h1>Member lookup</h1>
<member-search id="finder"></member-search>
<a href="/claims.html" target="_blank">Open in a new window</a>
<iframe name="claims" src="/frame.html" width="600" height="200"></iframe>
<script>
fetch('/beacon', {method: 'POST', body: 'seen=1'});  // no step sent it: the guard stops it
customElements.define('member-search', class extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({mode: 'open'}).innerHTML =
      '<form method="post" action="/search?tenant=1">' +
      '<label for="mid">Member ID</label><input id="mid" name="member_id" required>' +
      '<label>Month <select name="month"><option>January</option><option>February</option>' +
      '</select></label><button type="submit">Search members</button></form>';
  }
});
</script></body></html>"""

FRAME_PAGE = """<!doctype html><html><head><title>Claims</title></head><body>
<form method="get" action="/claims.html"><label>Claim number <input name="claim"></label>
<button type="submit">Find claim</button></form></body></html>"""


SHELL_PAGE = """<!doctype html><html><head><title>Shell</title></head><body>
<h1>Provider access</h1><iframe name="signin" src="/signin.html"></iframe></body></html>"""

SIGNIN_FRAME = """<!doctype html><html><body><label>Username <input name="user"></label>
<button type="button" onclick="const top = parent.document; top.querySelector('iframe').remove();
top.body.insertAdjacentHTML('beforeend', '<h2>Signed in</h2>')">Sign in</button></body></html>"""


@pytest.fixture
def shadow_site(tmp_path: Path) -> Iterator[str]:
    """A tiny site: a form in an open shadow root, another in an iframe."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(SHADOW_PAGE)
    (root / "frame.html").write_text(FRAME_PAGE)
    (root / "claims.html").write_text("<h1>Claim</h1>")
    (root / "shell.html").write_text(SHELL_PAGE)
    (root / "signin.html").write_text(SIGNIN_FRAME)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_finds_forms_in_an_open_shadow_root_and_in_an_iframe(
    settings: Settings, shadow_site: str, tmp_path: Path
) -> None:
    steps = [
        "fill:Member ID=ZZ1",
        "fill:Claim number=C123456",
        "click:Find claim",
        "click:Search members",
        "goto:/index.html",
        "click:Open in a new window",
    ]
    (done,) = explore_all(
        settings, [{"url": f"{shadow_site}/index.html", "steps": steps, "out": tmp_path / "x"}]
    )
    first, after, posted, _again, popup = check_written(done)
    assert [(c.url, c.h1) for c in done.captures[-2:]] == [
        ("/index.html", "Member lookup"),
        ("/claims.html", "Claim"),  # the link opened a new window: the exploration went on there
    ]
    opened = json.loads((popup / "network.json").read_text())
    assert ("GET", "/claims.html", "document") in {
        (r["method"], r["path"], r["resource_type"]) for r in opened
    }
    forms = forms_of(first)
    form, member = control(forms, "member_id")
    assert form["where"] == {"frame": None, "shadow_hosts": ["member-search#finder"]}
    assert (form["method"], form["action"]) == ("POST", "/search?tenant=")
    assert member["label"] == "Member ID" and member["required"] is True
    _, month = control(forms, "month")
    assert month["label"] == "Month" and [o["text"] for o in month["options"]] == [
        "January",
        "February",
    ]
    form, claim = control(forms, "claim")
    assert form["where"] == {"frame": {"name": "claims", "path": "/frame.html"}, "shadow_hosts": []}
    assert claim["label"] == "Claim number"
    index = (done.folder / "index.md").read_text()
    assert "main page > shadow root of member-search#finder" in index and "frame 'claims'" in index
    assert 'frame="claims"' in (first / "landmarks.txt").read_text()
    # the frame's search went out as a GET: its path and query keys, never the claim number
    requests = json.loads((after / "network.json").read_text())
    assert {"method": "GET", "path": "/claims.html?claim="}.items() <= requests[0].items()
    assert b"C123456" not in (after / "network.json").read_bytes()
    # without --portal only reads leave the browser, and what a click step sends
    beacon = [r for r in json.loads((first / "network.json").read_text()) if r["method"] == "POST"]
    assert beacon == [{**beacon[0], "path": "/beacon", "status": None, "failed": "blocked"}]
    assert "Stopped by the read-only guard: POST /beacon" in index
    search = json.loads((posted / "network.json").read_text())[0]
    assert (search["method"], search["path"]) == ("POST", "/search?tenant=")
    assert search["status"] == 501 and search["posted_fields"] == ["member_id", "month"]


def test_a_step_that_finds_nothing_ends_with_one_sentence(
    env: dict[str, str], hub: Portal, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            ".venv/bin/payerbot",
            "explore",
            f"{hub.url}/#/login",
            "--portal",
            "payerhub",
            "--step",
            "fill:Password={password}",
            "--step",
            "click:Open sesame",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(120),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert (
        "step 2 (click:Open sesame): no button or link named 'Open sesame' on the page or in "
        "its frames" in " ".join(proc.stderr.split())
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    (account,) = [a for a in hub.admin("GET", "accounts") if a["account"] == "main"]
    assert account["password"] not in proc.stderr + proc.stdout
    assert account["password"].encode() not in written_bytes(out)
    assert "warning:" in proc.stderr and "owner-only" in proc.stderr
    assert (out / "01-sign-in-to-payerhub" / "screenshot.png").is_file()
    assert "Stopped: step 2 (click:Open sesame)" in (out / "index.md").read_text()


def test_request_paths_keep_query_keys_and_no_identifier() -> None:
    from bots.ops.explore_capture import path_of

    assert path_of("http://p/api/claims/A260000000001?member=ACM1&dob=1980-05-17") == (
        "/api/claims/{n}?member=&dob="
    )
    assert path_of("http://p/#/members/ACM12345678901?dob=05171980") == "/#/members/{n}?dob="
    assert path_of("http://p/v2/eligibility#/login") == "/v2/eligibility#/login"


def test_a_sign_in_frame_that_goes_away_is_captured_without_it(
    settings: Settings, shadow_site: str, hub: Portal, tmp_path: Path
) -> None:
    """The field that held the user name was in a frame the sign-in removed: nothing left
    to mask, the capture goes on (the page's own origin is not PayerHub's: GETs only)."""
    steps = ["fill:Username={username}", "click:Sign in"]
    job = {"url": f"{shadow_site}/shell.html", "steps": steps, "out": tmp_path / "s"}
    (done,) = explore_all(settings, [{**job, "portal": "payerhub"}])
    check_written(done)
    assert done.captures[-1].places == [] and done.captures[0].places == ["frame 'signin'"]
    assert "Signed in" in (done.captures[-1].folder / "aria.yml").read_text()
    (account,) = [a for a in hub.admin("GET", "accounts") if a["account"] == "main"]
    assert account["username"].encode() not in written_bytes(done.folder)
