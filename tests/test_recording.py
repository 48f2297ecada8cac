"""Record and replay: `payerbot record` drives a login and lookups on the (mock) legacy
portal while recording a HAR; the flow then replays offline against the scrubbed HAR alone
(``route_from_har``, anything not recorded aborted) and gives exactly the answers the live
run gave, in their scrubbed form. No real identifier or credential is left in the files."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import date

import pytest

from bots.ops import recording
from tests.conftest import run_async
from tests.timing import scaled

pytestmark = pytest.mark.browser


def test_a_recorded_portal_replays_offline_with_the_same_answers(
    env, settings, mock_portals, ground_truth, tmp_path
):
    legacy = mock_portals["legacyportal"]
    legacy.reset()
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
            dob = date.fromisoformat(m["dob"]).strftime("%m/%d/%Y")
            w.writerow(
                ["12/01/2026", m["last_name"], m["first_name"], dob, "DELTA", m["member_id"]]
            )
        w.writerow(["12/01/2026", "NOBODY", "NONE", "01/01/1970", "DELTA", "DPH999999999"])

    proc = subprocess.run(
        [".venv/bin/payerbot", "record", "legacyportal", "--worklist", str(worklist)],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "holds what the portal showed (PHI)" in proc.stderr
    folder = settings.data_dir / "recordings"
    (har,) = folder.glob("*.har")
    (manifest,) = folder.glob("*.json")
    assert {oct(p.stat().st_mode & 0o777) for p in (har, manifest)} == {"0o600"}
    assert not list(folder.glob(".*")), "the unscrubbed recording is gone"

    # scrubbed: no identifier of the people asked about, no login, in either file
    account = next(a for a in ground_truth["accounts"]["legacyportal"] if a["account"] == "main")
    secrets = [account["username"], account["password"]]
    secrets += [a for a in (account.get("security_answers") or {}).values()]
    names = [n for m in people for n in (m["last_name"], m["first_name"])]
    real = secrets + [m["member_id"] for m in people]
    real += [form for n in names for form in (n.upper(), n.title())]
    real += [date.fromisoformat(m["dob"]).strftime("%m/%d/%Y") for m in people]
    for path in (har, manifest):
        text = path.read_text()
        leaked = [v for v in real if v and v in text]
        assert not leaked, f"{path.name} still holds {len(leaked)} real value(s)"

    document = json.loads(manifest.read_text())
    kinds = [("result" if "result" in a else a["error"]) for a in document["answers"]]
    assert kinds == ["result", "result", "result", "member_not_found"], kinds

    before = legacy.counters()["requests"]
    replayed = run_async(recording.replay(manifest, har, settings.browser))
    assert legacy.counters()["requests"] == before, "the replay never reached the portal"
    assert recording.comparable(replayed) == recording.comparable(document["answers"])
