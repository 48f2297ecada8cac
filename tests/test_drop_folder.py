"""The drop folder (issue 19): a file goes to processed/ only once its run exists, a refused
file to rejected/ with the real reason, everything moved owner-only; and `payerbot doctor`
passes after a night of batches, a drift canary's screenshot and a drop-folder run."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bots.errors import ConfigurationError
from bots.interfaces import scheduler
from bots.settings import load_settings
from bots.store import Store
from tests.conftest import SAMPLES
from tests.test_cli import payerbot
from tests.test_security import phi_values
from tests.worklist_factory import claim_worklist, eligibility_worklist

JOB = {
    "PAYERBOT_SCHEDULE__JOBS__INBOX__CRON": "0 3 * * *",
    "PAYERBOT_SCHEDULE__JOBS__INBOX__SOURCE": "drop_folder",
    "PAYERBOT_SCHEDULE__SETTLE_SECONDS": "0",
}
APPOINTMENTS = (SAMPLES / "appointments.csv").read_text().splitlines()
SMALL_NIGHT = {"ACME", "BLUESTEM", "STATEMCD"}  # one payer on each mock portal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_job(monkeypatch) -> scheduler.JobRun:
    for key, value in JOB.items():
        monkeypatch.setenv(key, value)
    local = load_settings()
    with ThreadPoolExecutor(1) as pool:  # pytest-playwright holds the main thread's loop
        job_run = pool.submit(scheduler.run_job, "inbox", local).result()
    (row,) = [h for h in scheduler.job_history(local, 50) if h.id == job_run]
    return row


def drop(inbox: Path, name: str, content: bytes) -> Path:
    """A file as a person drops it: their umask, not ours."""
    inbox.mkdir(exist_ok=True)
    inbox.chmod(0o755)
    path = inbox / name
    path.write_bytes(content)
    path.chmod(0o644)
    return path


@pytest.mark.browser
def test_a_file_whose_run_was_not_made_stays_in_the_inbox_and_a_refused_one_says_why(
    env, settings, monkeypatch, tmp_path, ground_truth
):
    """A failure before the run exists (injected: a batch that cannot start, as a missing
    login did) leaves the file in the inbox and fails the job saying so; a file with no row
    to run goes to rejected/ with the import's own reason, not a count."""
    from bots.services import batches

    inbox = settings.drop_folder
    good = tmp_path / "appointments.csv"
    eligibility_worklist(ground_truth, good, 2, {"ACME"})
    drop(inbox, "appointments.csv", good.read_bytes())
    drop(inbox, "no-header.csv", "\n".join(APPOINTMENTS[1:4]).encode())
    drop(inbox, "headers-only.csv", (APPOINTMENTS[0] + "\n").encode())

    class CannotStart(batches.Runner):
        async def run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise ConfigurationError("no login for payerhub/main: payerbot creds set payerhub main")

    with monkeypatch.context() as patched:
        patched.setattr(batches, "Runner", CannotStart)
        failed = run_job(monkeypatch)
    assert failed.status == "failed" and not failed.run_ids
    assert "left in the inbox" in failed.message and "creds set payerhub main" in failed.message
    assert (inbox / "appointments.csv").read_bytes() == good.read_bytes()
    assert list((inbox / "processed").iterdir()) == []
    reasons = {
        p.name.split("-", 2)[-1]: p.read_text() for p in (inbox / "rejected").glob("*.reason.txt")
    }
    assert reasons == {
        "no-header.csv.reason.txt": "no-header.csv: no worklist preset in config/worklists.toml "
        "matches this file: the first row looks like data, not headers (add a row of column "
        "headers above it)\n",
        "headers-only.csv.reason.txt": "headers-only.csv: the file has column headers but no "
        "rows below them\n",
    }
    said = " ".join(reasons.values()) + failed.message
    assert [v for v in phi_values(ground_truth) if v in said] == []
    assert all(mode(p) == 0o600 for p in (inbox / "rejected").iterdir())

    done = run_job(monkeypatch)  # the next job: the batch can start, the file is run
    assert done.status == "finished" and len(done.run_ids) == 1
    (processed,) = (inbox / "processed").iterdir()
    assert processed.name.endswith("-appointments.csv") and mode(processed) == 0o600
    store = Store.open(settings)
    try:
        run = store.get_run(done.run_ids[0])
        assert run is not None and run.source == processed.name and run.counts["items"] == 2
    finally:
        store.close()


@pytest.mark.browser
def test_doctor_passes_after_batches_a_drift_canary_and_a_drop_folder_run(
    env, settings, mock_portals, tmp_path, ground_truth
):
    """A small night: a claim-status batch over the three portals, the drift canary finding
    a redesign (its screenshot), the drop folder taking an appointments worklist (its
    eligibility batch) and a refused file, both dropped with a person's umask; then
    `payerbot doctor` is clean."""
    appointments, claims = tmp_path / "appointments.csv", tmp_path / "claims.csv"
    eligibility_worklist(ground_truth, appointments, 3, SMALL_NIGHT)
    claim_worklist(ground_truth, claims, 3, SMALL_NIGHT)
    proc = payerbot("run", "claim-status", "--worklist", str(claims), env=env)
    assert proc.returncode in {0, 1}, proc.stderr[-2000:]
    mock_portals["payerhub"].knobs(layout="B")
    canary = payerbot("doctor", "portals", "--portal", "payerhub", "--json", env=env)
    mock_portals["payerhub"].knobs(layout="A")
    shot = Path({c["portal"]: c for c in json.loads(canary.stdout)}["payerhub"]["screenshot"])
    assert shot.is_file() and mode(shot) == 0o600

    inbox = settings.drop_folder
    drop(inbox, "tomorrow.csv", appointments.read_bytes())
    drop(inbox, "notes.csv", b"Just,some,columns\n1,2,3\n")
    job = {**env, **JOB}
    proc = payerbot("schedule", "run-now", "inbox", env=job)
    assert proc.returncode == 0 and "inbox: finished - 1 batch(es)" in proc.stdout, proc.stderr
    moved = [*(inbox / "processed").iterdir(), *(inbox / "rejected").iterdir()]
    assert len(moved) == 3 and all(mode(p) == 0o600 for p in moved)
    assert mode(inbox) == 0o700

    doctor = payerbot("doctor", "--json", env=env)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["permissions"]["status"] == "ok", checks["permissions"]
    assert doctor.returncode == 0, [c for c in checks.values() if c["status"] == "fail"]
