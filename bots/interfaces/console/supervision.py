"""The supervisor's pages: runs with their items and log lines, retries of failures,
batches started now, portal health, evidence and trace downloads."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from bots.dates import local_date_text, local_datetime_text, local_today
from bots.files import private_dir
from bots.interfaces.console import run_view
from bots.interfaces.console.base import SAFE_NAME, ConsoleBase
from bots.logs import get_logger
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.ops import health
from bots.outputs.report import run_detail
from bots.outputs.run_words import RESUMABLE, resume_command, run_words
from bots.services import batches
from bots.store import ItemState, Store, utcnow

log = get_logger("payerbot.console")


class SupervisorPages(ConsoleBase):
    """What a supervisor reviews and retries each morning."""

    # --- supervisors --------------------------------------------------------------------------

    async def runs(self, request: Request) -> Response:
        p = request.query_params
        zone = self.settings.timezone
        wanted = run_view.runs_filter(p, zone, local_today(zone))
        number = run_view.page_number(p)
        rows, total = await self.db(
            self.store.find_runs,
            desk=wanted.desk,
            status=wanted.status or None,
            since=wanted.since,
            until=wanted.until,
            limit=run_view.PAGE_SIZE,
            offset=max(0, number - 1) * run_view.PAGE_SIZE,
        )
        states = await self.db(self.store.run_state_counts, [r.id for r in rows])
        words = {r.id: run_words(r, states.get(r.id, {})) for r in rows}
        reused = await self.db(self.store.run_reused_counts, [r.id for r in rows])
        parts = {r.id: run_view.listed_parts(states[r.id], reused[r.id]) for r in rows}
        jobs = sorted(self.settings.schedule.jobs)
        return self.render(
            request,
            "runs.html",
            runs=rows,
            words=words,
            parts=parts,
            page=run_view.page_of(rows, number, total),
            wanted=wanted,
            statuses=run_view.RUN_STATUSES,
            query=_query_without_page(p),
            jobs=jobs,
            background=self.background,
        )

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        run = await self.db(self.store.get_run, run_id)
        if run is None:
            return self.render(request, "error.html", 404, message="No such run.")
        items = await self.db(self.store.run_outcomes, run_id)
        detail = run_detail(run, items)
        p = request.query_params
        outcome = p.get("outcome", "")
        search = p.get("q", "").strip()[:100]
        shown = [i for i in items if run_view.matches(i, outcome, search)]
        page = run_view.page_of(shown, run_view.page_number(p))
        status = run_words(run, {k: int(v) for k, v in detail["states"].items()})
        lines = await self.db(
            _log_lines, run.log_path, p.get("level"), p.get("portal"), p.get("item")
        )
        for line in lines:
            line["time"] = _log_time(line["timestamp"], self.settings.timezone)
        return self.render(
            request,
            "run.html",
            run=run,
            detail=detail,
            items=page.rows,
            page=page,
            status=status,
            outcome=outcome,
            search=search,
            outcome_filters=run_view.OUTCOME_FILTERS,
            parts=run_view.parts_of(items, detail["notes"], run.status.value),
            patient_of=run_view.patient_of,
            identifier_of=run_view.identifier_of,
            resume_command=resume_command(run.id),
            query=_query_without_page(p),
            lines=lines,
            filters=p,
        )

    async def resume(self, request: Request) -> Response:
        """Resume the run's queued and paused items (what `payerbot runs resume` does)."""
        await self.form(request)
        run_id = request.path_params["run_id"]
        run = await self.db(self.store.get_run, run_id)
        states = (await self.db(self.store.run_state_counts, [run_id])).get(run_id, {})
        words = run_words(run, states) if run is not None else None
        if run is None or words is None or run.status not in RESUMABLE or not words.left:
            request.session["flash"] = "Nothing to resume: no item of this run is waiting."
            return RedirectResponse(f"/runs/{run_id}", status_code=303)
        me = request.session["user"]["username"]
        await self.audit(me, "resume", f"run:{run_id}", f"{words.left} waiting items")

        def work() -> None:
            store = Store.open(self.settings)
            try:
                batches.resume_run(self.settings, store, run_id)
            finally:
                store.close()

        self._in_background(f"resume of {run_id}", work)
        request.session["flash"] = f"Resuming the {words.left} waiting item(s) of run {run_id}."
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    async def morning(self, request: Request) -> Response:
        """The home page: today's counts with links (supervisor counts for supervisors)."""
        user = request.session["user"]
        zone = ZoneInfo(self.settings.timezone)
        today_start = datetime.combine(local_today(self.settings.timezone), time(0), zone)
        last_night = today_start - timedelta(hours=12)  # since 12:00 PM yesterday
        counts = await self.db(self.store.morning_counts, today_start, last_night, user["username"])
        paused: dict[str, health.PortalPause] = {}
        if user["role"] == "supervisor":
            paused = await self.db(health.paused_portals, self.settings, self.store)
        return self.render(
            request,
            "home.html",
            counts=counts,
            paused=paused,
            today=local_date_text(today_start),
            last_night=last_night,
        )

    async def retry(self, request: Request) -> Response:
        await self.form(request)
        run_id = request.path_params["run_id"]
        run = await self.db(self.store.get_run, run_id)
        outcomes = await self.db(self.store.run_outcomes, run_id)
        failed = [i for i in outcomes if i.state == ItemState.SYSTEM_FAILED]
        if run is None or not failed:
            request.session["flash"] = "Nothing to retry."
            return RedirectResponse(f"/runs/{run_id}", status_code=303)
        kind = LookupKind(run.kind)
        model = EligibilityQuery if kind == LookupKind.ELIGIBILITY else ClaimStatusQuery
        rows = [(i.source_row, model.model_validate(i.query)) for i in failed]
        me = request.session["user"]["username"]
        await self.audit(me, "retry", f"run:{run_id}", f"{len(rows)} failed items")
        self._in_background(
            f"retry of {run_id}",
            lambda: batches.run_rows(
                self.settings, kind, rows, trigger="retry", source=f"retry of {run_id}", force=True
            ),
        )
        request.session["flash"] = f"Retrying {len(rows)} failed item(s) of {run_id}."
        return RedirectResponse("/runs", status_code=303)

    async def start_batch(self, request: Request) -> Response:
        form = await self.form(request)
        me = request.session["user"]["username"]
        upload = form.get("worklist")
        job = str(form.get("job") or "")
        if isinstance(upload, UploadFile) and upload.filename:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(upload.filename).name)[-80:]
            folder = private_dir(self.settings.data_dir / "uploads")
            path = folder / f"{utcnow():%Y%m%d-%H%M%S}-{name}"
            data = await upload.read()
            await self.db(_write_private, path, data)
            await self.audit(me, "batch", "upload", name)
            self._in_background(
                f"batch {name}",
                lambda: batches.run_worklist_file(self.settings, None, path, trigger="console"),
            )
            request.session["flash"] = f"Batch started from {name}."
        elif job in self.settings.schedule.jobs:
            from bots.interfaces import scheduler

            await self.audit(me, "batch", f"job:{job}")
            self._in_background(f"job {job}", lambda: scheduler.run_job(job, self.settings))
            request.session["flash"] = f"Job {job} started."
        else:
            request.session["flash"] = "Choose a worklist file or a job."
        return RedirectResponse("/runs", status_code=303)

    def _in_background(self, label: str, work: Callable[[], Any]) -> None:
        def run() -> None:
            self.background[label] = "running"
            try:
                work()
                self.background[label] = "finished"
            except Exception as exc:
                log.exception("console.background_failed", job=label)
                self.background[label] = f"failed: {type(exc).__name__}"

        threading.Thread(target=run, daemon=True, name=label).start()

    async def portals(self, request: Request) -> Response:
        status = await self.db(health.portal_status, self.settings, self.store)
        paused = await self.db(health.paused_portals, self.settings, self.store)
        words = {
            pid: health.portal_words(self.settings, p, paused.get(pid)) for pid, p in status.items()
        }
        return self.render(request, "portals.html", portals=status, words=words)

    async def files(self, request: Request) -> Response:
        kind, run_id, name = (request.path_params[k] for k in ("kind", "run_id", "name"))
        if kind == "traces" and request.session["user"]["role"] != "supervisor":
            return self.render(request, "error.html", 403, message="Supervisors only.")
        if kind not in ("evidence", "traces") or not (
            SAFE_NAME.match(run_id) and SAFE_NAME.match(name)
        ):
            return Response("not found", status_code=404)
        base = (self.settings.data_dir / kind).resolve()
        path = (base / run_id / name).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return Response("not found", status_code=404)
        if kind == "traces":
            me = request.session["user"]["username"]
            await self.audit(me, "download", f"trace:{run_id}/{name}")
            return FileResponse(path, filename=name, media_type="application/zip")
        return FileResponse(path)


def _query_without_page(params: QueryParams) -> str:
    """The page's filters as a query string, for its page links (``&page=N`` follows)."""
    return urlencode([(k, v) for k, v in params.multi_items() if k != "page"])


def _log_time(stamp: str, timezone: str) -> str:
    """A log line's UTC ISO timestamp as the practice reads it (unreadable: as written)."""
    try:
        return local_datetime_text(datetime.fromisoformat(stamp.replace("Z", "+00:00")), timezone)
    except ValueError:
        return stamp


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    path.chmod(0o600)


def _log_lines(
    path: str | None, level: str | None, portal: str | None, item: str | None
) -> list[dict[str, Any]]:
    if not path or not Path(path).is_file():
        return []
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines()[-5000:]:
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if level and event.get("level") != level:
            continue
        if portal and event.get("portal") != portal:
            continue
        if item and str(event.get("item_id")) != item:
            continue
        extra = {
            k: v
            for k, v in event.items()
            if k not in ("event", "level", "timestamp", "portal", "item_id", "run_id", "logger")
        }
        lines.append(
            {
                "timestamp": event.get("timestamp", ""),
                "level": event.get("level", ""),
                "event": event.get("event", ""),
                "portal": event.get("portal", ""),
                "item_id": event.get("item_id", ""),
                "extra": json.dumps(extra, default=str)[:300] if extra else "",
            }
        )
    return lines[-1000:]
