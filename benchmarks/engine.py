"""payerbot itself, in its own process like the references: the Runner with its store,
leases, evidence screenshots, classification and retries.

    python -m benchmarks.engine JOB.json SESSIONS DATA_DIR [CHECKPOINTS]

CHECKPOINTS (e.g. 500,5000): the process tree's memory is sampled when that many lookups
are done (the flat-memory target).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from benchmarks.common import Job, Outcome, clock
from benchmarks.procs import tree_rss_mb
from bots.engine.credentials import write_secret_files
from bots.engine.runner import Runner
from bots.models import LookupKind
from bots.services.finishers import followups_only
from bots.settings import load_settings
from bots.store import Store


def main(job: Job, sessions: int, data_dir: Path, checkpoints: list[int]) -> Outcome:
    portal = os.environ.get("BENCH_PORTAL_NAME", "payerhub")  # a bundled portal = its flow
    accounts = [f"a{n}" for n in range(sessions)]
    settings = load_settings(
        data_dir=data_dir,
        portals={
            portal: {
                "base_url": job.url,
                "accounts": accounts,
                "max_sessions": sessions,
                "flow": portal,
                **json.loads(os.environ.get("BENCH_PORTAL", "{}")),  # e.g. api_reads
            }
        },
        browser={
            "executable": job.executable,
            "trace": "retries",
            **json.loads(os.environ.get("BENCH_BROWSER", "{}")),  # variants to compare
        },
        sessions={"reuse": False},
    )
    for n, account in enumerate(accounts):
        write_secret_files(settings, portal, account, job.logins[n])
    outcome = Outcome()
    marks = sorted(checkpoints)

    def progress(done: int, total: int) -> None:
        while marks and done >= marks[0]:
            outcome.checkpoints[str(marks.pop(0))] = tree_rss_mb()

    store = Store.open(settings)
    rows = [(None, q) for q in job.questions()]
    started = clock()
    runner = Runner(settings, store, progress=progress, finisher=followups_only(settings, store))
    summary = asyncio.run(runner.run(LookupKind.ELIGIBILITY, rows, force=True))
    outcome.seconds = clock() - started
    items = store.run_outcomes(summary.run_id)
    outcome.lookups = summary.lookups
    outcome.latencies_ms = [float(i.duration_ms) for i in items if i.duration_ms is not None]
    # Not an answer with a result; the portal's "no" (no such member, no coverage on that
    # date) among them is counted apart too, as the lean loops count theirs.
    outcome.errors = sum(i.state != "succeeded" for i in items)
    outcome.not_found = sum(i.state == "business_failed" for i in items)
    outcome.logins = sum(summary.logins.values())
    store.close()
    return outcome


if __name__ == "__main__":
    points = [int(p) for p in sys.argv[4].split(",")] if len(sys.argv) > 4 and sys.argv[4] else []
    main(Job.read(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), points).emit()
