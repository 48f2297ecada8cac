"""Scheduler job runs (one row per execution of a scheduled job) and the job store's table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import MetaData, Table, insert, inspect, select, update

from bots.store.engine import StoreBase, utcnow
from bots.store.rows import JobRun
from bots.store.schema import job_runs
from bots.store.states import RunStatus


class JobsMixin(StoreBase):
    """What the scheduler did, and what APScheduler's job store says is due next."""

    def start_job_run(self, job: str) -> int:
        """A job execution begins: its row (status running); returns its id."""
        with self._tx() as conn:
            key = conn.execute(
                insert(job_runs).values(
                    job=job, started_at=utcnow(), status=RunStatus.RUNNING, run_ids=[]
                )
            ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_job_run(
        self,
        job_run: int,
        status: str,
        run_ids: Sequence[str],
        message: str,
        report_path: str | None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                update(job_runs)
                .where(job_runs.c.id == job_run)
                .values(
                    finished_at=utcnow(),
                    status=status,
                    run_ids=list(run_ids),
                    message=message,
                    report_path=report_path,
                )
            )

    def job_runs(self, limit: int = 20) -> list[JobRun]:
        """The latest job executions, newest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
            ).mappings()
            return [JobRun.of(r) for r in rows]

    def job_store(self, table: str) -> SQLAlchemyJobStore:
        """APScheduler's job store in this database (table ``table``), so "was it due?"
        survives restarts. It opens its own connections from the store's URL and outlives
        this store object."""
        return SQLAlchemyJobStore(url=self.url, tablename=table)

    def scheduled_next_runs(self, table: str) -> dict[str, datetime | None]:
        """Next run times straight from APScheduler's job store table (read only: a
        scheduler started to ask could run jobs). No table yet: nothing scheduled."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(table):
                return {}
            jobs = Table(table, MetaData(), autoload_with=conn)
            return {
                row.id: datetime.fromtimestamp(row.next_run_time, UTC)
                if row.next_run_time is not None
                else None
                for row in conn.execute(select(jobs.c.id, jobs.c.next_run_time))
            }
