"""Record and replay: `payerbot record` signs in, saves the signed-in storage state and
records the lookups as a HAR from it; the flow then replays offline from that state against
the scrubbed HAR alone (every request served from the recording or aborted, never sent), so
a TOTP login (PayerHub) replays too, and gives exactly the answers the live run gave, in
their scrubbed form. No real identifier or credential is left in the files, not even a
two-letter name; and requests that differ per run (a CSRF token) match by the flow's
declared volatile fields."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bots.errors import SessionExpired
from bots.flowkit.flow import LoginSecrets
from bots.ops import recording
from bots.ops.har_replay import HarReplay
from bots.ops.scrubbing import Scrubber, scrub_har
from tests.conftest import run_async
from tests.timing import scaled

BASE = "https://portal.example"


def _entry(
    method: str, url: str, body: str, mime: str, post: tuple[str, str] | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": url, "headers": []}
    if post is not None:
        request["postData"] = {"mimeType": post[0], "text": post[1]}
    return {
        "request": request,
        "response": {
            "status": 200,
            "headers": [{"name": "Content-Type", "value": mime}],
            "content": {"mimeType": mime, "text": body},
        },
    }


def _short_name_har() -> dict[str, Any]:
    member = {"first_name": "Al", "last_name": "Ng", "plan": "Alpha Ngamba PPO", "full": "Ng, Al"}
    page = (
        '<ul class="Al"><li title="Al Ng">Ng, Al</li><li>Alpha plan, Active</li></ul>'
        '<script>var Al = "Al"; if (Al) {}</script>'
    )
    return {
        "log": {
            "pages": [{"title": "Eligibility for Al Ng"}],
            "entries": [
                _entry(
                    "POST",
                    f"{BASE}/api/search?last=Ng&first=Al&page=1",
                    json.dumps(member),
                    "application/json",
                    ("application/x-www-form-urlencoded", "first_name=Al&last_name=Ng&plan=ALP"),
                ),
                _entry("GET", f"{BASE}/member", page, "text/html; charset=utf-8"),
                _entry("GET", f"{BASE}/app.js", "const Al = 1; // Ng", "application/javascript"),
            ],
        }
    }


def test_two_letter_names_are_scrubbed_where_they_are_whole_words_only() -> None:
    mapping = recording.scrub_map(["Al", "Ng"], [], LoginSecrets("u", "p"), salt="unit")
    assert {"Al", "AL", "Ng", "NG"} <= set(mapping), "short names are in the scrub map"
    scrubber = Scrubber(mapping)
    har = scrub_har(_short_name_har(), scrubber)
    api, html, script = har["log"]["entries"]

    answer = json.loads(api["response"]["content"]["text"])  # still JSON
    assert answer["first_name"] == mapping["Al"] and answer["last_name"] == mapping["Ng"]
    assert answer["full"] == f"{mapping['Ng']}, {mapping['Al']}"
    assert answer["plan"] == "Alpha Ngamba PPO", "a word that merely starts with a name stays"
    assert api["request"]["url"] == (
        f"{BASE}/api/search?last={mapping['Ng']}&first={mapping['Al']}&page=1"
    )
    form = api["request"]["postData"]["text"]
    assert form == f"first_name={mapping['Al']}&last_name={mapping['Ng']}&plan=ALP"
    assert har["log"]["pages"][0]["title"] == f"Eligibility for {mapping['Al']} {mapping['Ng']}"

    body = html["response"]["content"]["text"]
    assert body.startswith(f'<ul class="{mapping["Al"]}"><li title="{mapping["Al"]} ')
    assert f"<li>{mapping['Ng']}, {mapping['Al']}</li>" not in body  # the text is scrubbed…
    assert f">{mapping['Ng']}, {mapping['Al']}</li><li>Alpha plan, Active</li></ul>" in body
    assert f'<script>var Al = "{mapping["Al"]}"; if (Al) {{}}</script>' in body  # …code is not
    # a script file holds no data: short words there are code, left alone
    assert script["response"]["content"]["text"] == "const Al = 1; // Ng"

    leftover = json.dumps(har).replace("Alpha", "").replace("Ngamba", "").replace("ALP", "")
    leftover = leftover.replace("var Al", "").replace("(Al)", "").replace("const Al", "")
    leftover = leftover.replace("// Ng", "")
    assert not [n for n in ("Al", "Ng", "AL", "NG") if n in leftover]


def test_a_replay_matches_requests_ignoring_volatile_fields_and_aborts_the_rest() -> None:
    har = {
        "log": {
            "entries": [
                _entry(
                    "POST",
                    f"{BASE}/search?ts=111",
                    '{"answer": 1}',
                    "application/json",
                    ("application/x-www-form-urlencoded", "csrf=aaa&member=M1"),
                ),
                _entry(
                    "POST",
                    f"{BASE}/api",
                    '{"answer": 2}',
                    "application/json",
                    ("application/json", '{"member": "M1", "nonce": "x1"}'),
                ),
                _entry("GET", f"{BASE}/api/session", '{"n": 1}', "application/json"),
                _entry("GET", f"{BASE}/api/session", '{"n": 2}', "application/json"),
            ]
        }
    }
    form = "application/x-www-form-urlencoded"
    strict = HarReplay.of(har)
    assert strict.find("POST", f"{BASE}/search?ts=222", "csrf=bbb&member=M1", form) is None
    replay = HarReplay.of(har, volatile=("csrf", "ts", "nonce"))
    found = replay.find("POST", f"{BASE}/search?ts=222", "member=M1&csrf=bbb", form)
    assert found is not None and json.loads(found.body) == {"answer": 1}
    assert replay.find("POST", f"{BASE}/search?ts=3", "csrf=b&member=M2", form) is None
    found = replay.find("POST", f"{BASE}/api", '{"nonce":"y","member":"M1"}', "application/json")
    assert found is not None and json.loads(found.body) == {"answer": 2}
    # the same request recorded twice: answered in the recorded order, the last repeats
    bodies = [replay.find("GET", f"{BASE}/api/session#/home", None, "") for _ in range(3)]
    assert [json.loads(b.body)["n"] for b in bodies if b] == [1, 2, 2]


def _record(env: dict[str, str], portal: str, *worklists: Path) -> subprocess.CompletedProcess[str]:
    args = [a for w in worklists for a in ("--worklist", str(w))]
    return subprocess.run(
        [".venv/bin/payerbot", "record", portal, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )


def _recording(folder: Path) -> tuple[Path, Path, Path]:
    (har,) = folder.glob("*.har")
    (state,) = folder.glob("*.state.json")
    manifest = har.with_suffix(".json")
    files = (har, manifest, state)
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o600"}
    assert not list(folder.glob(".*")), "the unscrubbed recording is gone"
    assert sorted(folder.iterdir()) == sorted(files)
    return files


def _assert_scrubbed(files: tuple[Path, ...], real: list[str]) -> None:
    for path in files:
        text = path.read_text()
        leaked = [v for v in real if v and v in text]
        assert not leaked, f"{path.name} still holds {len(leaked)} real value(s)"


def _date(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%m/%d/%Y")


@pytest.mark.browser
def test_a_recorded_payerhub_totp_session_replays_offline_with_the_same_answers(
    env, settings, hub, ground_truth, tmp_path
):
    members = [
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "ACME" and m["coverage"]["termination_date"] is None
    ][:2]
    claims = [c for c in ground_truth["claims"] if c["payer_id"] == "BLUESTEM"][:2]
    people = {m["member_key"]: m for m in ground_truth["members"]}
    appointments = tmp_path / "appointments.csv"
    with appointments.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Appt Date", "Patient Last", "Patient First", "DOB", "Insurance", "Member ID"])
        for m in members:
            w.writerow(
                [
                    "12/01/2026",
                    m["last_name"],
                    m["first_name"],
                    _date(m["dob"]),
                    "ACME",
                    m["member_id"],
                ]
            )
        # a name that is no word the pages use otherwise ("None on file" would be scrubbed too)
        w.writerow(["12/01/2026", "NOMATCH", "NOBODY", "01/01/1970", "ACME", "ACM99999999901"])
    open_claims = tmp_path / "open_claims.csv"
    with open_claims.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Claim #", "Patient Last", "Patient First", "DOB", "Payer", "Member ID"])
        for c in claims:
            p = people[c["member_key"]]
            w.writerow(
                [c["claim_number"], p["last_name"], p["first_name"], _date(p["dob"]), "BLUESTEM",
                 c["member_id"]]
            )  # fmt: skip

    proc = _record(env, "payerhub", appointments, open_claims)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "holds what the portal showed (PHI)" in proc.stderr
    files = _recording(settings.data_dir / "recordings")
    har, manifest, state = files
    account = next(a for a in ground_truth["accounts"]["payerhub"] if a["account"] == "main")
    assert hub.counters()["logins"] == {account["username"]: 1}, "one login, never recorded"

    asked = members + [people[c["member_key"]] for c in claims]
    real = [account["username"], account["password"], account["totp_seed"]]
    real += [m["member_id"] for m in asked] + [c["claim_number"] for c in claims]
    real += [f for m in asked for n in (m["last_name"], m["first_name"]) for f in (n.upper(), n)]
    real += [form for m in asked for form in (m["dob"], _date(m["dob"]))]
    _assert_scrubbed(files, real)

    assert not [e for e in json.loads(har.read_text())["log"]["entries"]
                if "/api/auth/" in e["request"]["url"]], "the login is not in the recording"  # fmt: skip
    document = json.loads(manifest.read_text())
    assert "login" not in document and document["storage_state"] == state.name
    assert document["signed_out"] and not hub.counters()["active_sessions"], (
        "the session the kept state holds was signed out after recording"
    )
    kinds = [(q["kind"], "result" if "result" in a else a["error"])
             for q, a in zip(document["questions"], document["answers"], strict=True)]  # fmt: skip
    assert kinds == [
        ("eligibility", "result"),
        ("eligibility", "result"),
        ("eligibility", "member_not_found"),
        ("claim_status", "result"),
        ("claim_status", "result"),
    ], kinds
    assert json.loads(state.read_text())["cookies"], "the signed-in session is kept"

    before = hub.counters()
    replayed = run_async(recording.replay(manifest, har, settings.browser))
    assert hub.counters() == before, "the replay never reached the portal"
    assert replayed.aborted == [], "every request was served from the recording"
    assert replayed.served > 0
    assert recording.comparable(replayed.answers) == recording.comparable(document["answers"])

    # the command says the same, in one line
    proc = subprocess.run(
        [".venv/bin/payerbot", "replay", str(manifest)],
        env=env, capture_output=True, text=True, timeout=scaled(120), check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "offline: the same answers as recorded" in proc.stdout
    assert ", 0 not in it)" in proc.stdout
    assert hub.counters() == before


@pytest.mark.browser
def test_a_session_the_recording_lacks_does_not_resume_offline(env, settings, hub, tmp_path):
    """A recording whose session answers nothing (the HAR emptied) fails in one sentence."""
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "r.state.json").write_text(json.dumps({"cookies": [], "origins": []}))
    (folder / "r.har").write_text(json.dumps({"log": {"entries": []}}))
    manifest = folder / "r.json"
    manifest.write_text(
        json.dumps(
            {"flow": "payerhub", "base_url": hub.url, "storage_state": "r.state.json",
             "questions": [], "answers": []}
        )
    )  # fmt: skip
    before = hub.counters()["requests"]
    with pytest.raises(SessionExpired, match=r"did not resume offline: .*lacked: GET /"):
        run_async(recording.replay(manifest, folder / "r.har", settings.browser))
    assert hub.counters()["requests"] == before


@pytest.mark.browser
def test_a_recorded_legacy_portal_replays_offline_with_the_same_answers(
    env, settings, mock_portals, ground_truth, tmp_path
):
    legacy = mock_portals["legacyportal"]
    people = [
        m
        for m in ground_truth["members"]
        if m["payer_id"] == "DELTA" and m["coverage"]["termination_date"] is None
    ][:3]
    worklist = tmp_path / "appointments.csv"
    with worklist.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Appt Date", "Patient Last", "Patient First", "DOB", "Insurance", "Member ID"])
        for m in people:
            w.writerow(
                [
                    "12/01/2026",
                    m["last_name"],
                    m["first_name"],
                    _date(m["dob"]),
                    "DELTA",
                    m["member_id"],
                ]
            )
        w.writerow(["12/01/2026", "NOBODY", "NONE", "01/01/1970", "DELTA", "DPH999999999"])

    proc = _record(env, "legacyportal", worklist)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = _recording(settings.data_dir / "recordings")
    har, manifest, _ = files

    account = next(a for a in ground_truth["accounts"]["legacyportal"] if a["account"] == "main")
    real = [account["username"], account["password"]]
    real += list((account.get("security_answers") or {}).values())
    real += [m["member_id"] for m in people] + [_date(m["dob"]) for m in people]
    real += [f for m in people for n in (m["last_name"], m["first_name"]) for f in (n.upper(), n)]
    _assert_scrubbed(files, real)

    document = json.loads(manifest.read_text())
    kinds = [("result" if "result" in a else a["error"]) for a in document["answers"]]
    assert kinds == ["result", "result", "result", "member_not_found"], kinds

    before = legacy.counters()
    replayed = run_async(recording.replay(manifest, har, settings.browser))
    assert legacy.counters() == before, "the replay never reached the portal"
    assert replayed.aborted == []
    assert recording.comparable(replayed.answers) == recording.comparable(document["answers"])
