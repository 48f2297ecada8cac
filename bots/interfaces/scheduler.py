"""The overnight scheduler: APScheduler 3 jobs from config/schedule.toml.

- Jobs live in the same database as the queue (APScheduler's job store, handed over by
  the store: ``Store.job_store``), so a restart knows what was due. ``coalesce=True`` +
  ``misfire_grace_time``: a job missed while the scheduler was down runs exactly once at
  start (if within the grace), not zero or many times; ``max_instances=1`` and a
  one-thread executor: one batch at a time (two batches would fight over the same portal
  accounts).
- Definitions are synced at start: new jobs added, removed ones dropped, changed ones
  replaced; a job that was due while the scheduler was down keeps its due time, so a
  config change never swallows a missed run.
- Crontab weekdays are the crontab's (0 and 7 Sunday, 1 Monday): APScheduler 3 counts from
  Monday, so numbers are translated to day names (a known 3.x trap).
- SIGTERM / Ctrl-C: the running batch finishes its lookups in flight and stops claiming
  (the rest stays resumable); no new job starts. At the next start, scheduled runs that
  were stopped or crashed (within a day) are resumed first; any other run left unfinished
  is named in the log with the command that finishes it.
- The drop folder is also looked at every ``schedule.drop_folder_check_minutes``: a file
  found there runs the drop_folder job at once.
- While it runs, the scheduler answers `payerbot lookup` over the data folder's socket
  (bots/services/local_service.py) from a browser it starts on the first such lookup and
  keeps: the lookup borrows the batch's session when the batch holds the account, as the
  console's does. A console already answering for the data folder keeps doing so (one
  log line says it). SIGTERM removes the socket and closes that browser.
- The log speaks in sentences, one per job start, finish (with counts) and catch-up;
  APScheduler's own messages are silenced (what matters of them is said in words).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from bots.dates import iso_utc, local_datetime_text
from bots.errors import ConfigurationError, PayerbotError
from bots.files import private_dir
from bots.intake.lookup_form import Query
from bots.intake.worklists import import_worklist
from bots.logs import get_logger
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.ops import mock_portals, retention
from bots.ops.cron import cron_trigger
from bots.outputs import digest
from bots.services import batches, fleet_runs
from bots.services.local_service import LocalService, ServiceThread
from bots.settings import ScheduledJob, Settings, load_settings
from bots.store import OPEN_STATES, ItemState, JobRun, Outcome, RunStatus, Store, utcnow
from bots.store.engine import alive

log = get_logger("payerbot.scheduler")
JOBSTORE_TABLE = "apscheduler_jobs"
WORKLIST_SUFFIXES = {".csv", ".xlsx", ".txt", ".tsv"}

DROP_FOLDER_CHECK = "_drop_folder_check"
RESUME_RUNS = "_resume_runs"
HELPER_JOBS = (DROP_FOLDER_CHECK, RESUME_RUNS)
"""The scheduler's own jobs (not in config/schedule.toml): never removed by sync_jobs."""
RESUME_WITHIN = timedelta(hours=24)
"""A scheduled run stopped or crashed this recently is resumed when the scheduler starts."""
SOURCE_WORDS = {
    "drop_folder": "worklists in the drop folder",
    "appointments_ahead": "appointments ahead",
    "claims_open": "open claims",
    "followup_rechecks": "follow-up rechecks",
}

_current: dict[str, Any] = {}  # the batch running now: {"run_id": ...} (for SIGTERM)
_stopping = threading.Event()


# --- triggers ----------------------------------------------------------------------------------


# --- the scheduler ----------------------------------------------------------------------------


def build(settings: Settings, scheduler_cls: type[BaseScheduler] = BackgroundScheduler) -> Any:
    store = Store.open(settings)  # creates the tables on a new database
    jobs = store.job_store(JOBSTORE_TABLE)  # the same database keeps the schedule
    store.close()
    return scheduler_cls(
        jobstores={"default": jobs},
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.schedule.misfire_grace_seconds,
        },
        timezone=ZoneInfo(settings.schedule.timezone),
    )


def sync_jobs(scheduler: Any, settings: Settings) -> list[str]:
    """Make the stored jobs match config; keep a due time that has passed (a missed run)."""
    configured = {n: j for n, j in settings.schedule.jobs.items() if j.enabled}
    changes = []
    for job in scheduler.get_jobs():
        if job.id not in configured and job.id not in HELPER_JOBS:
            scheduler.remove_job(job.id)
            changes.append(f"removed {job.id}")
    now = datetime.now(ZoneInfo(settings.schedule.timezone))
    for name, spec in configured.items():
        trigger = cron_trigger(spec.cron, spec.timezone or settings.schedule.timezone)
        existing = scheduler.get_job(name)
        kwargs: dict[str, Any] = {}
        if (
            existing is not None
            and existing.next_run_time is not None
            and (existing.next_run_time <= now or str(existing.trigger) == str(trigger))
        ):
            kwargs["next_run_time"] = existing.next_run_time  # missed or unchanged: keep
        scheduler.add_job(
            "bots.interfaces.scheduler:run_job",
            trigger=trigger,
            args=[name],
            id=name,
            name=name,
            replace_existing=True,
            **kwargs,
        )
        changes.append(f"{'updated' if existing else 'added'} {name}")
    return changes


def _say(sentence: str, code: str, level: int = logging.INFO, **facts: Any) -> None:
    """One log line in words (``what`` keeps a name to search the log for)."""
    log.log(level, sentence, what=code, **facts)


def _local(settings: Settings, when: datetime | None) -> str:
    return local_datetime_text(when, settings.timezone, empty="never")


def _silence_apscheduler() -> None:
    """APScheduler's "Added job ..." / "Running job ..." lines: not for people (its misses
    and errors are said in words by ``_on_event``)."""
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)


def _on_event(settings: Settings, scheduler: Any) -> Callable[[JobExecutionEvent], None]:
    def said(event: JobExecutionEvent) -> None:
        job = scheduler.get_job(event.job_id)
        following = _local(settings, job.next_run_time if job else None)
        due = _local(settings, event.scheduled_run_time)
        if event.code == EVENT_JOB_MISSED:
            grace = settings.schedule.misfire_grace_seconds / 3600
            _say(
                f"job {event.job_id} missed its run of {due}: the scheduler was down longer "
                f"than the {grace:g} h grace; skipped, next run {following}",
                "job.missed",
                logging.WARNING,
                job=event.job_id,
            )
        else:
            _say(
                f"job {event.job_id} of {due} broke ({type(event.exception).__name__}); "
                f"next run {following}",
                "job.error",
                logging.ERROR,
                job=event.job_id,
            )

    return said


def start(settings: Settings, *, on_ready: Callable[[Any], None] | None = None) -> None:
    """Run until SIGTERM / SIGINT (`payerbot schedule start`)."""
    _silence_apscheduler()
    scheduler = build(settings)
    scheduler.start(paused=True)  # nothing runs until the stored jobs match config
    for change in sync_jobs(scheduler, settings):
        log.debug("schedule.sync", change=change)
    now = datetime.now(ZoneInfo(settings.schedule.timezone))
    for job in scheduler.get_jobs():
        if job.id not in HELPER_JOBS and job.next_run_time and job.next_run_time <= now:
            _say(
                f"catching up: job {job.id} was due at {_local(settings, job.next_run_time)} "
                "while the scheduler was down; it runs now",
                "job.catch_up",
                job=job.id,
            )
    _plan_helpers(scheduler, settings)
    scheduler.add_listener(_on_event(settings, scheduler), EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    _stopping.clear()

    def stop(signum: int, _frame: Any) -> None:
        if _stopping.is_set():
            return  # said once (a process group's signal can arrive twice)
        _say(
            f"scheduler stopping ({signal.Signals(signum).name}): the running batch finishes "
            "its lookups in flight, no new job starts",
            "schedule.stopping",
            logging.WARNING,
        )
        _stopping.set()
        runner = _current.get("runner")
        if runner is not None and runner.run_id:  # finish what is in flight, claim no more
            store = Store.open(settings)
            try:
                store.request_stop(runner.run_id)
            finally:
                store.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    desk = _command_line_lookups(settings)
    desk.start()  # its log line says whether this scheduler answers `payerbot lookup`
    try:
        scheduler.resume()
        _say_started(settings, scheduler)
        if on_ready is not None:
            on_ready(scheduler)
        while not _stopping.wait(0.5):
            pass
    finally:
        desk.stop()  # the socket goes first: no new lookup while the batch finishes
    scheduler.shutdown(wait=True)  # the batch running now ends first (it was asked to stop)
    _say("scheduler stopped", "schedule.stopped")


def _say_started(settings: Settings, scheduler: Any) -> None:
    upcoming = sorted(
        (j for j in scheduler.get_jobs() if j.id not in HELPER_JOBS and j.next_run_time),
        key=lambda j: j.next_run_time,
    )
    plan = "; ".join(f"{j.id} {_local(settings, j.next_run_time)}" for j in upcoming)
    minutes = settings.schedule.drop_folder_check_minutes
    _say(
        f"scheduler started with {len(upcoming)} job(s), next runs: {plan or 'none'}"
        + (
            f"; the drop folder is checked every {minutes:g} min"
            if _drop_job(settings) and minutes
            else ""
        ),
        "schedule.start",
        pid=os.getpid(),
    )


def _command_line_lookups(settings: Settings) -> ServiceThread:
    """`payerbot lookup` answered by this scheduler (its own thread and event loop): the
    desk's lookup with a browser kept from the first such lookup on, the bundled mock
    portals started for it when nothing answers at their address (as an in-process lookup
    does)."""
    from bots.services.lookups import CommandLineLookups, KeptBrowser

    store = Store.open(settings)
    browser = KeptBrowser(settings)
    lookups = CommandLineLookups(settings, store, browser, "scheduler")

    async def answer(
        query: Query, add_to_queue: bool, notice: Callable[[str], None], who: str
    ) -> dict[str, Any]:
        portals = contextlib.ExitStack()
        wanted = [settings.portal_for_payer(query.payer_id)]
        await asyncio.to_thread(portals.enter_context, mock_portals.running(settings, wanted))
        try:
            return await lookups(query, add_to_queue, notice, who)
        finally:
            await asyncio.to_thread(portals.close)

    async def closed() -> None:
        try:
            await browser.close()
        finally:
            store.close()

    return ServiceThread(LocalService(settings, answer, "scheduler", logger=log), closed)


def _drop_job(settings: Settings) -> str | None:
    """The first enabled drop_folder job: the one a file found between runs starts."""
    return next(
        (n for n, j in settings.schedule.jobs.items() if j.enabled and j.source == "drop_folder"),
        None,
    )


def _plan_helpers(scheduler: Any, settings: Settings) -> None:
    """The drop folder check (interval) and, once, the resumption of unfinished runs."""
    minutes = settings.schedule.drop_folder_check_minutes
    if _drop_job(settings) and minutes > 0:
        scheduler.add_job(
            "bots.interfaces.scheduler:check_drop_folder",
            trigger="interval",
            minutes=minutes,
            id=DROP_FOLDER_CHECK,
            name="drop folder check",
            replace_existing=True,
        )
    elif scheduler.get_job(DROP_FOLDER_CHECK) is not None:
        scheduler.remove_job(DROP_FOLDER_CHECK)
    store = Store.open(settings)
    try:
        resume, leave = unfinished_runs(store)
    finally:
        store.close()
    for run in leave:
        _say(
            f"run {run.id} ({run.trigger}) is {run.status.label}: "
            f"`payerbot runs resume {run.id}` finishes it",
            "run.unfinished",
            logging.WARNING,
            run_id=run.id,
        )
    if resume:
        scheduler.add_job(
            "bots.interfaces.scheduler:resume_runs",
            trigger="date",
            args=[[r.id for r in resume]],
            id=RESUME_RUNS,
            name="resume unfinished runs",
            replace_existing=True,
        )


def unfinished_runs(store: Store, now: datetime | None = None) -> tuple[list[Any], list[Any]]:
    """(scheduled runs to resume now, other runs to name with their command): stopped,
    interrupted, or running in a process of this machine that is gone (crashed)."""
    now = now or utcnow()
    resume, leave = [], []
    for run in store.list_runs(200):
        crashed = (
            run.status in (RunStatus.RUNNING, RunStatus.STOPPING)
            and run.executor == "local"
            and run.host == store.node
            and run.pid is not None
            and not alive(run.pid)
        )
        if not crashed and run.status not in (RunStatus.STOPPED, RunStatus.INTERRUPTED):
            continue
        started = (
            run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=now.tzinfo)
        )
        if now - started >= RESUME_WITHIN:
            continue  # the next night's jobs ask again; `runs list` still shows it
        if run.trigger == "schedule" and run.executor == "local":
            resume.append(run)
        elif run.trigger != "lookup":
            leave.append(run)
    return resume, leave


def resume_runs(run_ids: list[str], settings: Settings | None = None) -> None:
    """Finish scheduled runs a stop or a crash left (the scheduler's start-up job)."""
    settings = settings or load_settings()
    store = Store.open(settings)
    try:
        for run_id in run_ids:
            if _stopping.is_set():
                break
            left = [i for i in store.run_outcomes(run_id) if i.state in OPEN_STATES]
            _say(
                f"resuming run {run_id}, left unfinished by a stop or a crash: "
                f"{len(left)} item(s) to do",
                "run.resume",
                run_id=run_id,
            )
            try:
                portals = sorted({i.portal for i in left})
                with mock_portals.running(settings, portals):
                    batches.resume_run(settings, store, run_id, wrap=_tracked)
            except PayerbotError as exc:
                _say(
                    f"run {run_id} could not be resumed: {exc}; "
                    f"`payerbot runs resume {run_id}` tries again",
                    "run.resume_failed",
                    logging.ERROR,
                    run_id=run_id,
                )
                continue
            _say(f"run {run_id} resumed: {_counts_sentence(store, [run_id])}", "run.resumed")
    finally:
        store.close()


def check_drop_folder(settings: Settings | None = None) -> int | None:
    """Between the drop_folder job's runs: a worklist waiting in the drop folder runs the
    job now (the job_runs id), nothing otherwise (no digest for an empty folder)."""
    settings = settings or load_settings()
    name = _drop_job(settings)
    inbox = settings.drop_folder
    if name is None or not inbox.is_dir():
        return None
    now = time.time()
    waiting = [
        p
        for p in inbox.iterdir()
        if p.is_file()
        and not p.name.startswith((".", "~$"))
        and now - p.stat().st_mtime >= settings.schedule.settle_seconds
    ]
    if not waiting:
        return None
    _say(
        f"drop folder: {len(waiting)} file(s) waiting; job {name} runs now",
        "inbox.found",
        job=name,
    )
    return run_job(name, settings)


def _counts_sentence(store: Store, run_ids: list[str]) -> str:
    """ "12 item(s): 10 answered, 0 reused, 1 no result, 1 failed, 0 waiting (...)"."""
    from bots.outputs.run_views import sentence, summary_parts

    items: list[Outcome] = []
    notes: dict[str, Any] = {"postponed_portals": {}, "stopped_portals": {}}
    status = "finished"
    for run_id in run_ids:
        run = store.get_run(run_id)
        items += store.run_outcomes(run_id)
        if run is not None:
            for key in notes:
                notes[key].update((run.notes or {}).get(key) or {})
            if run.status in (RunStatus.STOPPED, RunStatus.INTERRUPTED):
                status = run.status.value
    return sentence(summary_parts(items, notes, status))


def _stored_next_runs(settings: Settings) -> dict[str, datetime | None]:
    """The job store's next run times, read straight from its table."""
    store = Store.open(settings)
    try:
        return store.scheduled_next_runs(JOBSTORE_TABLE)
    finally:
        store.close()


def list_jobs(settings: Settings) -> list[dict[str, Any]]:
    """Configured jobs with their next run from the current config (``next_run``: UTC ISO
    8601; ``next_run_local``: as a person reads it), and a run missed while the scheduler
    was down (``overdue_since``: it runs when the scheduler starts, within the grace)."""
    stored = _stored_next_runs(settings)  # read only: a scheduler started here could run jobs
    rows = []
    now = datetime.now(ZoneInfo(settings.schedule.timezone))
    for name, spec in settings.schedule.jobs.items():
        zone = spec.timezone or settings.schedule.timezone
        upcoming = None
        if spec.enabled:
            upcoming = cron_trigger(spec.cron, zone).get_next_fire_time(None, now)
        missed = stored.get(name)
        overdue = missed if spec.enabled and missed is not None and missed <= now else None
        rows.append(
            {
                "job": name,
                "enabled": spec.enabled,
                "cron": spec.cron,
                "timezone": zone,
                "source": spec.source,
                "kind": spec.kind,
                "next_run": iso_utc(upcoming),
                "next_run_local": _local(settings, upcoming) if upcoming else None,
                "overdue_since": iso_utc(overdue),
                "scheduled": name in stored,
            }
        )
    return rows


# --- one job execution ---------------------------------------------------------------------------


def run_job(name: str, settings: Settings | None = None) -> int:
    """Do one job now (the scheduler's entry, and `schedule run-now`): its batches, then the
    digest. Returns the job_runs id. Never raises: a failure is recorded and reported."""
    settings = settings or load_settings()
    spec = settings.schedule.jobs.get(name)
    store = Store.open(settings)
    job_run = store.start_job_run(name)
    run_ids: list[str] = []
    status, message = "finished", ""
    try:
        if spec is None:
            raise ConfigurationError(f"no job {name!r} in config/schedule.toml")
        _say(
            f"job {name} started ({SOURCE_WORDS.get(spec.source, spec.source)})",
            "job.start",
            job=name,
        )
        local = settings.schedule.execution != "fleet"  # a fleet's workers start their own
        with mock_portals.running(settings) if local else contextlib.nullcontext():
            for label, run_id in _batches(settings, store, name, spec):
                run_ids.append(run_id)
                log.debug("job.batch", job=name, batch=label, run_id=run_id)
                if _stopping.is_set():
                    status = "stopped"
                    break
        message = f"{len(run_ids)} batch(es)" if run_ids else "nothing to do"
        if settings.schedule.execution == "fleet" and run_ids:
            # The workers do the lookups; the digest waits for them (SIGTERM: stop waiting,
            # the runs go on in the fleet and the next digest reports them).
            done = fleet_runs.wait_for_runs(store, run_ids, stop=_stopping.is_set)
            waiting = [r for r, s in done.items() if s not in fleet_runs.FINAL_RUN_STATES]
            message += ", worked by the fleet" + (
                f" ({len(waiting)} still running when the scheduler stopped)" if waiting else ""
            )
    except Exception as exc:  # the digest says what broke; the scheduler keeps going
        status = "failed"
        if isinstance(exc, PayerbotError):  # said in words: no traceback for a known failure
            message = str(exc)
        else:
            message = f"{type(exc).__name__}"
            log.exception(f"job {name} broke ({message}); the trace follows", what="job.failed")
    finally:
        _current.clear()
    report = None
    try:
        report = digest.write_and_send(settings, store, name, job_run, run_ids, status, message)
    except Exception:
        log.exception("digest.failed", job=name)
    if settings.retention_days:
        try:
            retention.purge(settings, store, settings.retention_days)
        except Exception:
            log.exception("retention.failed")
    store.finish_job_run(job_run, status, run_ids, message, str(report) if report else None)
    try:
        counts = _counts_sentence(store, run_ids) if run_ids else "nothing to do"
    except Exception:  # the counts are for the log line; the job is recorded already
        counts = message
    finally:
        store.close()
    level = logging.INFO if status == "finished" else logging.WARNING
    said = {"finished": "finished", "stopped": "stopped", "failed": "failed"}[status]
    _say(
        f"job {name} {said}: {len(run_ids)} batch(es), {counts}"
        + (f"; {message}" if status == "failed" else "")
        + (f"; digest {report}" if report else ""),
        "job.finish",
        level,
        job=name,
        status=status,
        runs=run_ids,
    )
    return job_run


def _batches(
    settings: Settings, store: Store, name: str, spec: ScheduledJob
) -> Iterator[tuple[str, str]]:
    """(label, run id) of each batch the job makes: run here, or queued for the fleet."""
    if spec.source == "drop_folder":
        yield from _drop_folder(settings, store, name, spec)
        return
    for kind, rows in _due_items(settings, store, spec).items():
        if not rows:
            continue
        source = f"{name} ({spec.source})"
        numbered = [(None, q) for q in rows]
        if settings.schedule.execution == "fleet":
            queued = fleet_runs.enqueue_rows(
                settings, store, kind, numbered, trigger="schedule", source=source, force=True
            )
            yield kind.value, queued.run_id
            continue
        result = batches.run_rows(
            settings,
            kind,
            numbered,
            trigger="schedule",
            source=source,
            wrap=_tracked,
            force=True,
        )
        yield kind.value, result.summary.run_id


def _tracked(runner: Any, job: Any) -> Any:
    """Run a batch where SIGTERM can reach it (see start())."""
    import asyncio

    if _stopping.is_set():
        job.close()
        raise ConfigurationError("the scheduler is stopping: batch not started")
    _current["runner"] = runner
    try:
        return asyncio.run(job)
    finally:
        _current.pop("runner", None)


def _drop_folder(
    settings: Settings, store: Store, name: str, spec: ScheduledJob
) -> Iterator[tuple[str, str]]:
    """Each settled worklist file once: moved to processed/ (name prefixed with the time)
    once its run exists, or to rejected/ with a .reason.txt saying why nothing in it can
    run. A file whose run could not be made (the installation's fault, not the file's:
    a login missing, a portal unknown) goes back to the inbox for the next job, and the
    job fails saying why."""
    inbox = settings.drop_folder
    if inbox.resolve().is_relative_to(settings.data_dir.resolve()):
        private_dir(inbox)  # in the data folder: owner-only like all of it (payerbot doctor)
    for sub in ("processed", "rejected"):
        private_dir(inbox / sub)
    now = time.time()
    kept: list[str] = []
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith((".", "~$")):
            continue
        if now - path.stat().st_mtime < settings.schedule.settle_seconds:
            log.info("inbox.not_settled", file=path.name)
            continue
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kind = None if spec.kind == "auto" else LookupKind(spec.kind)
        try:
            if path.suffix.lower() not in WORKLIST_SUFFIXES:
                raise ConfigurationError(f"not a worklist file type ({path.suffix or 'none'})")
            report = import_worklist(path, settings, kind)
            why = report.why_nothing_runs()
            if why is not None:
                raise ConfigurationError(why)
        except PayerbotError as exc:
            _move(path, inbox / "rejected" / f"{stamp}-{path.name}", reason=str(exc))
            log.warning("inbox.rejected", file=path.name, reason=str(exc))
            continue
        moved = _move(path, inbox / "processed" / f"{stamp}-{path.name}")
        try:
            if settings.schedule.execution == "fleet":
                queued = fleet_runs.enqueue_worklist(
                    settings, store, report.kind, moved, trigger="schedule"
                )
                yield path.name, queued.run_id
                continue
            result = batches.run_worklist_file(
                settings, report.kind, moved, trigger="schedule", wrap=_tracked
            )
        except PayerbotError as exc:
            if _run_of(store, moved.name) is not None:
                raise
            moved.replace(path)  # no run: the file waits in the inbox for the next job
            kept.append(f"{path.name}: {exc}")
            log.warning("inbox.kept", file=path.name, reason=str(exc))
            continue
        yield path.name, result.summary.run_id
    if kept:
        raise ConfigurationError(
            f"{len(kept)} file(s) left in the inbox for the next run, no run made: "
            + "; ".join(kept)
        )


def _run_of(store: Store, source: str) -> str | None:
    """The run made from this (time-stamped, so unique) worklist file name, if any."""
    return next((r.id for r in store.list_runs(50) if r.source == source), None)


def _move(path: Path, target: Path, reason: str | None = None) -> Path:
    """Move a dropped file (owner-only: it holds PHI), with its reason file when refused."""
    path.replace(target)
    os.chmod(target, 0o600)
    if reason is not None:
        note = target.with_name(target.name + ".reason.txt")
        fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(reason + "\n")
        os.chmod(note, 0o600)
    return target


def _due_items(
    settings: Settings, store: Store, spec: ScheduledJob
) -> dict[LookupKind, list[EligibilityQuery | ClaimStatusQuery]]:
    """Questions the store already knows that are due again (see the job's source)."""
    today = datetime.now(ZoneInfo(settings.schedule.timezone)).date()
    fresh = utcnow() - timedelta(hours=spec.fresh_hours)
    due: dict[LookupKind, list[EligibilityQuery | ClaimStatusQuery]] = {
        LookupKind.ELIGIBILITY: [],
        LookupKind.CLAIM_STATUS: [],
    }
    items = store.items()
    waiting = store.items_with_followups_untouched_since(
        utcnow() - timedelta(days=spec.recheck_after_days)
    )
    latest: dict[int, Outcome] = {
        i.id: i
        for kind in ("eligibility", "claim_status")
        for i in store.recent_outcomes(kind, datetime.min.replace(tzinfo=utcnow().tzinfo))
    }
    for item in items:
        if item.state in OPEN_STATES:
            continue  # already queued
        query = item.query
        answered = latest.get(item.id)
        if spec.source == "followup_rechecks":
            wanted = item.id in waiting
        elif item.finished_at is not None and item.finished_at > fresh:
            wanted = False
        elif spec.source == "appointments_ahead" and item.kind == LookupKind.ELIGIBILITY:
            dos = datetime.fromisoformat(query["date_of_service"]).date()
            wanted = today <= dos <= today + timedelta(days=spec.days_ahead)
        elif spec.source == "claims_open" and item.kind == LookupKind.CLAIM_STATUS:
            payload = (answered.payload if answered else None) or {}
            final = str(payload.get("category", "")).startswith("F")
            start = query.get("dos_from") or payload.get("dos_from")
            old = (
                start is None
                or (today - datetime.fromisoformat(start).date()).days > spec.older_than_days
            )
            wanted = old and not final and item.state != ItemState.BUSINESS_FAILED
        else:
            wanted = False
        if wanted:
            due[item.kind].append(item.question)
    return due


def job_history(settings: Settings, limit: int = 20) -> list[JobRun]:
    """The latest job executions, newest first."""
    store = Store.open(settings)
    try:
        return store.job_runs(limit)
    finally:
        store.close()
