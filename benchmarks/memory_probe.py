"""Memory of one process over many runs: the real engine and finisher, a scripted portal.

    python -m benchmarks.memory_probe ITEMS RUNS [--no-workbooks]

Runs ``RUNS`` eligibility runs of ``ITEMS`` lookups one after the other in this process
(``Runner`` with ``ScriptedFlow`` and ``BrowserlessSessions``: no browser, no portal) with
the real ``FollowupsAndWorkbooks`` finisher, as the scheduler runs a night's batches, and
prints the process's resident memory after each run. A process whose memory grows with the
day's rows shows it here in a minute (docs/profile.md, "Memory over a night")."""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
from datetime import date
from pathlib import Path

from bots.engine.browserless import BrowserlessSessions
from bots.engine.runner import Runner
from bots.flowkit.scripted import ScriptedFlow, scripted_settings
from bots.models import EligibilityQuery, LookupKind
from bots.services.finishers import FollowupsAndWorkbooks
from bots.store import Store


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(items: int, runs: int, workbooks: bool) -> None:
    data = Path(tempfile.mkdtemp(prefix="memory-probe-"))
    settings = scripted_settings(data, max_sessions=2)
    for run in range(1, runs + 1):
        store = Store.open(settings)
        rows = [
            (
                None,
                EligibilityQuery(
                    payer_id="ALPHA",
                    member_id=f"SYN{run:03d}{k:05d}",
                    dob=date(1980, 1, 2),
                    date_of_service=date(2026, 12, 1),
                ),
            )
            for k in range(items)
        ]
        finisher = FollowupsAndWorkbooks(settings, store, workbooks=workbooks)
        runner = Runner(
            settings,
            store,
            flows={"alpha": ScriptedFlow()},
            session_factory=BrowserlessSessions(),
            finisher=finisher,
        )
        asyncio.run(runner.run(LookupKind.ELIGIBILITY, rows, force=True))
        store.close()
        del runner, store, rows, finisher
        gc.collect()
        print(f"run {run}: {run * items} lookups, RSS {rss_mb():.1f} MB", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "--no-workbooks" not in sys.argv[3:])
