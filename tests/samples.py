"""The sample worklists run once for the whole session: what the demo runs, then the status
words no flow knows, through the CLI a user types, into one data folder.

`payerbot demo` runs `appointments.csv` (eligibility) then `open_claims.csv` (claim status)
against the bundled mock portals; these are the same two batches, each its own `payerbot run`
so that the portals' counters can be read per run (the portals are reset before each batch:
their logins and writes are that run's), then `unseen_words.csv` (exit 1). The end-to-end
tests and the truth audit both check their surfaces on these runs (the `sample_runs` fixture
in conftest.py), so the suite pays for them once; `payerbot demo` itself is run by the PHI
scan with faults on (test_security) and by two installations at once
(test_mock_portal_lifetime).

Everything a test reads is read here, right after the runs (the store's rows, the
specialists' workbook copied aside): a test that writes to this data folder afterwards (a
lookup, a console user) changes nothing another test checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.settings import ROOT, load_settings

if TYPE_CHECKING:
    from bots.store import FollowUp, Outcome, RejectedRow, Run
    from tests.conftest import Portal

SAMPLES = ROOT / "fixtures" / "worklists"
PAYERBOT = str(Path(sys.executable).with_name("payerbot"))

# key -> (the `payerbot run` kind, the sample worklist): the demo's two batches, then the
# worklist of status words no flow knows
BATCHES = (
    ("eligibility", "eligibility", "appointments.csv"),
    ("claim-status", "claim-status", "open_claims.csv"),
    ("unseen", "claim-status", "unseen_words.csv"),
)
DEMO = ("eligibility", "claim-status")  # the batches `payerbot demo` runs
# After the demo's batches, a changed page (an unseen word) is retried as ever, without the
# waits between tries that give a real portal time (the mock portals answer the same at once).
QUICK_RETRIES = {"PAYERBOT_QUEUE__BACKOFF_BASE_SECONDS": "0.2"}


@dataclass
class Batch:
    """One `payerbot run`: what it printed and exited with, the portals' counters for it,
    its run and items as stored."""

    kind: str
    worklist: Path
    proc: subprocess.CompletedProcess[str]
    seconds: float
    counters: dict[str, Any]
    outcomes: list[Outcome]
    run: Run


@dataclass
class SampleRuns:
    data_dir: Path
    env: dict[str, str]  # the environment the batches ran in (os.environ included)
    values: dict[str, str]  # its PAYERBOT_ variables alone
    batches: dict[str, Batch]  # key of BATCHES -> the batch
    followups: list[FollowUp]
    rejected: list[RejectedRow]  # every batch's rejected rows
    workbook: Path  # a copy of the specialists' workbook as the last batch left it

    @property
    def demo_seconds(self) -> float:
        return sum(self.batches[k].seconds for k in DEMO)


def run_samples(portals: dict[str, Portal], base: Path) -> SampleRuns:
    from bots.store import Store
    from tests.conftest import portal_env
    from tests.timing import scaled

    data_dir = base / "var"
    values = portal_env(portals, data_dir)
    # the bot's own page timeouts stretch with the machine's load, as the tests' do
    values["PAYERBOT_BROWSER__ACTION_TIMEOUT_MS"] = str(int(scaled(15) * 1000))
    values["PAYERBOT_BROWSER__NAVIGATION_TIMEOUT_MS"] = str(int(scaled(30) * 1000))
    env = {**os.environ, **values}
    batches: dict[str, Batch] = {}
    saved = {k: os.environ.get(k) for k in values}
    for key, kind, name in BATCHES:
        if key not in DEMO:
            env |= QUICK_RETRIES
        for portal in portals.values():
            portal.reset()
        started = time.monotonic()
        proc = subprocess.run(
            [PAYERBOT, "run", kind, "--worklist", str(SAMPLES / name)],
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(900),
            check=False,
            cwd=ROOT,
        )
        seconds = time.monotonic() - started
        counters = {n: portal.counters() for n, portal in portals.items()}
        os.environ.update(values)
        try:
            store = Store.open(load_settings())
            try:
                run = store.list_runs(1)[0]
                outcomes = store.run_outcomes(run.id)
            finally:
                store.close()
        finally:
            _restore(saved)
        batches[key] = Batch(kind, SAMPLES / name, proc, seconds, counters, outcomes, run)
    os.environ.update(values)
    try:
        settings = load_settings()
        store = Store.open(settings)
        try:
            followups = store.list_followups()
            rejected = [e for b in batches.values() for e in store.import_errors(b.run.id)]
        finally:
            store.close()
    finally:
        _restore(saved)
    last = batches[BATCHES[-1][0]].run
    source = Path((last.notes or {}).get("workbook") or settings.workbook_path)
    workbook = base / "specialists-workbook.xlsx"
    shutil.copy2(source, workbook)
    return SampleRuns(
        data_dir=data_dir,
        env=env,
        values={k: v for k, v in env.items() if k.startswith("PAYERBOT_")},
        batches=batches,
        followups=followups,
        rejected=rejected,
        workbook=workbook,
    )


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
