"""Retention: artifacts that hold PHI are kept only as long as needed.

`payerbot purge --older-than DAYS` (and the scheduler after each job, when ``retention_days``
is set) deletes, for runs that finished before the cut-off: their evidence (screenshots,
portal PDFs), traces, run logs and per-run workbooks; and, by file age, digests, uploaded
and processed worklists. The store keeps the run and the normalized answers (the record of
what was asked and answered) with the evidence and trace paths cleared, so nothing points
at a file that is gone. The specialists' workbook is rewritten from the store
after every run and is not touched here.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bots.logs import get_logger
from bots.settings import Settings
from bots.store import Store, utcnow

log = get_logger("payerbot.retention")
RUN_FOLDERS = ("evidence", "traces", "runs")
AGED_FOLDERS = ("reports", "uploads", "inbox/processed", "inbox/rejected", "bench")


@dataclass
class Purged:
    runs: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0

    def add(self, path: Path) -> None:
        if path.is_dir():
            for f in path.rglob("*"):
                if f.is_file():
                    self.files += 1
                    self.bytes += f.stat().st_size
            shutil.rmtree(path)
        elif path.exists():
            self.files += 1
            self.bytes += path.stat().st_size
            path.unlink()


def purge(settings: Settings, store: Store, older_than_days: float) -> Purged:
    cutoff = utcnow() - timedelta(days=older_than_days)
    done = Purged()
    old = store.runs_finished_before(cutoff)
    data = settings.data_dir
    for run_id in old:
        touched = False
        for folder in RUN_FOLDERS:
            target = data / folder / run_id
            if target.exists():
                done.add(target)
                touched = True
        for sheet in (data / "spreadsheets").glob(f"*-{run_id}.xlsx"):
            done.add(sheet)
            touched = True
        if touched:
            done.runs.append(run_id)
    store.forget_run_files(old)
    limit = time.time() - older_than_days * 86400
    for folder in AGED_FOLDERS:
        base = data / folder
        if base.is_dir():
            for path in base.iterdir():
                if path.stat().st_mtime < limit:
                    done.add(path)
    log.info("retention.purged", runs=len(done.runs), files=done.files, bytes=done.bytes)
    return done
