"""The specialist's pages: a single lookup with its evidence and estimate, the follow-up
queue (search, filters, sort, pages; assign, unassign, resolve, reopen, one or many), the
specialists' workbook download and the upload of its edits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from bots.dates import local_date_text, local_today
from bots.errors import ConfigurationError, PayerbotError
from bots.files import private_dir
from bots.followups import queue as fq
from bots.intake.lookup_form import FIELDS, Query, check_lookup, service_type_choices
from bots.interfaces.console.base import ConsoleBase, file_url, log, safe_next
from bots.outputs.shown import summary
from bots.outputs.specialists_workbook import WorkbookUnreadable
from bots.outputs.workbook_sync import import_workbook, write_download
from bots.services import lookups
from bots.store import Store

MAX_UPLOAD = 20 * 1024 * 1024  # bytes: far above a specialists' workbook


class DeskPages(ConsoleBase):
    """What a billing specialist does at the desk."""

    _desk_lookups: dict[str, DeskLookup] | None = None

    # --- single lookups -----------------------------------------------------------------------
    # The form is checked before any portal is asked (bots/intake/lookup_form.py): each
    # problem is shown next to its field, the typed values kept. With JavaScript the page
    # posts the form for a lookup id, polls its progress (in words) and can cancel it; without,
    # the POST waits for the answer as it always did.

    def _lookup_page(self, request: Request, code: int = 200, **ctx: Any) -> Response:
        form = ctx.pop("form", {})
        return self.render(
            request,
            "lookup.html",
            code,
            payers=sorted(self.settings.payers.items()),
            service_types=service_type_choices(self.settings),
            default_service_type=self.settings.worklists.desk_service_type(),
            form=form,
            **ctx,
        )

    async def lookup(self, request: Request) -> Response:
        if request.method == "GET":
            return self._lookup_page(request)
        form = await self.form(request)
        values = {k: str(v).strip() for k, v in form.items() if k != "csrf"}
        kind = values.get("kind", "eligibility")
        wants_json = request.headers.get("x-lookup-mode") == "async"
        checked = check_lookup(self.settings, kind, values, local_today(self.settings.timezone))
        if checked.query is None:
            if wants_json:
                return JSONResponse({"errors": checked.problems}, status_code=400)
            errors = {k: v for k, v in checked.problems.items() if k in FIELDS}
            others = [v for k, v in checked.problems.items() if k not in FIELDS]
            if others:  # no field of its own (the lookup kind): above the form
                errors["form"] = " ".join(others)
            return self._lookup_page(request, 400, form=values, errors=errors)
        user = request.session["user"]["username"]
        add = values.get("add_to_queue") == "1"
        if wants_json:
            job = self._start_lookup(user, checked.query, values, add)
            return JSONResponse({"id": job.id, "status": f"/lookup/jobs/{job.id}"}, status_code=202)
        try:
            answer = await lookups.lookup(
                self.settings,
                self.store,
                checked.query,
                browser=await self._browser(),
                add_to_queue=add,
            )
        except PayerbotError as exc:
            return self._lookup_page(request, 400, form=values, error=str(exc))
        await self.audit(user, "lookup", f"item:{answer.item.id}", f"{kind} run {answer.run_id}")
        return self._answer_page(request, values, answer)

    def _answer_page(
        self, request: Request, values: dict[str, str], answer: lookups.LookupAnswer
    ) -> Response:
        # a lookup that failed after an earlier answer shows that answer, and the failure
        item = answer.item.as_answered()
        return self._lookup_page(
            request,
            form=values,
            item=item,
            result=item.payload,
            summary=summary(item.kind, item.query, item.payload),
            evidence=file_url(self.settings, item.evidence_path),
            estimate=(
                answer.estimate
                if item is answer.item
                else lookups.estimate_for(item, self.settings)
            ),
            followups=answer.followups,
            suggested=answer.suggested,
            added_to_queue=values.get("add_to_queue") == "1",
            notices=answer.notices,
            seconds=round(answer.seconds, 1),
        )

    def _start_lookup(
        self, user: str, query: Query, values: dict[str, str], add_to_queue: bool
    ) -> DeskLookup:
        """A lookup worked in the background for the page that polls it (one per id)."""
        jobs = self.desk_lookups
        for old in [k for k, j in jobs.items() if j.expired()]:
            del jobs[old]
        job = DeskLookup(secrets.token_urlsafe(12), user, values, lookups.LookupWatch())

        async def work() -> lookups.LookupAnswer:
            try:
                answer = await lookups.lookup(
                    self.settings,
                    self.store,
                    query,
                    browser=await self._browser(),
                    add_to_queue=add_to_queue,
                    watch=job.watch,
                )
            except PayerbotError:
                raise  # its plain sentence is the page's
            except Exception:
                log.exception("console.lookup_failed")
                raise
            await self.audit(
                user, "lookup", f"item:{answer.item.id}", f"{query.kind} run {answer.run_id}"
            )
            return answer

        job.task = asyncio.create_task(work())
        jobs[job.id] = job
        return job

    @property
    def desk_lookups(self) -> dict[str, DeskLookup]:
        """The lookups pages poll, by id: in memory (a restarted console forgets them)."""
        if self._desk_lookups is None:
            self._desk_lookups = {}
        return self._desk_lookups

    def _job(self, request: Request) -> DeskLookup | None:
        """The caller's own lookup job by id (another user's is not found)."""
        job = self.desk_lookups.get(request.path_params["id"])
        if job is None or job.user != request.session["user"]["username"]:
            return None
        return job

    async def lookup_status(self, request: Request) -> Response:
        """A lookup's progress as JSON: its phase, the sentence shown, seconds waited."""
        job = self._job(request)
        if job is None:
            return JSONResponse({"state": "gone", "words": "This lookup is gone."}, 404)
        waited = round(time.monotonic() - job.started)
        if job.cancelled:
            return JSONResponse(
                {
                    "state": "cancelled",
                    "words": "Cancelled: nothing was shown or kept from this lookup.",
                    "waited": waited,
                }
            )
        assert job.task is not None
        if job.task.done():
            failure = job.task.exception()
            return JSONResponse(
                {
                    "state": "done" if failure is None else "failed",
                    "words": "Done." if failure is None else _failure_words(failure),
                    "answer": f"/lookup/jobs/{job.id}/answer",
                    "waited": waited,
                }
            )
        phase, words, left = await self.db(job.watch.state, self.settings, self.store)
        return JSONResponse(
            {"state": phase, "words": words, "seconds_left": left, "waited": waited}
        )

    async def lookup_answer(self, request: Request) -> Response:
        """The page with a finished lookup's answer (the form as it was typed)."""
        job = self._job(request)
        if job is None or job.task is None or not job.task.done() or job.cancelled:
            return self._lookup_page(
                request, 404, error="This lookup is not finished, was cancelled, or is gone."
            )
        failure = job.task.exception()
        if failure is not None:
            return self._lookup_page(request, 400, form=job.values, error=_failure_words(failure))
        return self._answer_page(request, job.values, job.task.result())

    async def lookup_cancel(self, request: Request) -> Response:
        """Stop waiting: the lookup is abandoned (its run ends as interrupted, no answer is
        shown; a portal request in flight may finish, unseen)."""
        await self.form(request)
        job = self._job(request)
        if job is None:
            return JSONResponse({"state": "gone"}, 404)
        if job.task is not None and not job.task.done():
            job.cancelled = True
            job.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job.task
            await self.audit(job.user, "lookup_cancel", "lookup", f"after {job.waited()} s")
        return JSONResponse({"state": "cancelled" if job.cancelled else "done"})

    # --- the follow-up queue ------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        """The follow-up queue a page at a time: search, filters and sort in the query
        string (a link or a bookmark keeps them), with how many match in all."""
        params = request.query_params
        me = request.session["user"]["username"]
        # a submitted filter form says which statuses it wants (none ticked: all of them)
        status = params.getlist("status") or ([] if params.get("filtered") else _NOT_DONE)
        assignee = params.get("assignee", "")
        try:
            query = fq.build_query(
                text=params.get("q", ""),
                status=status,
                priority=[p for p in params.getlist("priority") if p],
                payer=params.get("payer", ""),
                rule=params.get("rule", ""),
                assignee=me if assignee == "me" else assignee,
                dos_from=params.get("from", ""),
                dos_to=params.get("to", ""),
                sort=params.get("sort", ""),
                descending=params.get("dir") == "desc",
                page=params.get("page") or 1,
                per_page=params.get("per_page") or 50,
            )
            error = None
        except ConfigurationError as exc:
            query, error = fq.build_query(status=_NOT_DONE), str(exc)
        found = await self.db(fq.find_followups, self.store, query)
        users = [u.username for u in await self.db(self.store.users)]
        payers = await self.db(self.store.followup_payers)
        state = [(k, v) for k, v in params.multi_items() if k != "page" and v]
        return self.render(
            request,
            "queue.html",
            400 if error else 200,
            found=found,
            query=query,
            showing=fq.showing(found),
            error=error,
            statuses=status,
            assignee=assignee,
            params=params,
            users=users,
            payers=payers,
            rules=sorted(self.settings.followups.rules),
            sorts=fq.SORT_NAMES,
            here=_url("/queue", [*state, ("page", str(found.page))]),
            page_url=lambda n: _url("/queue", [*state, ("page", str(n))]),
            sort_url=lambda key: _url(
                "/queue",
                [(k, v) for k, v in state if k not in ("sort", "dir")]
                + [("sort", key)]
                + ([("dir", "desc")] if query.sort == key and not query.descending else []),
            ),
            dates=lambda r: ", ".join(local_date_text(d) for d in r.service_dates),
        )

    async def followup_action(self, request: Request) -> Response:
        """One follow-up's action (``/queue/{id}/{action}``) or the same for the ticked ones
        (``/queue/bulk/{action}``): assign (to the chosen user), unassign, resolve, reopen.
        Back to the same page, filters and row."""
        form = await self.form(request)
        me = request.session["user"]["username"]
        action = request.path_params["action"]
        if "id" in request.path_params:
            ids = [int(request.path_params["id"])]
        else:
            ids = [int(v) for v in form.getlist("ids") if str(v).isdigit()]
        if action not in _ACTIONS:
            return Response("not found", status_code=404)
        done: list[int] = []
        try:
            if not ids:
                raise ConfigurationError("Tick the follow-ups to change first.")
            for followup_id in ids:
                await self.db(_ACTIONS[action], self.store, followup_id, form, me)
                done.append(followup_id)
            which = f"Follow-up {ids[0]}" if len(ids) == 1 else f"{len(ids)} follow-ups"
            request.session["flash"] = f"{which} {_DONE_WORDS[action]}."
        except PayerbotError as exc:
            request.session["flash"] = str(exc) + (
                f" ({len(done)} changed before that.)" if done else ""
            )
        # back to the page the form was on: a path of ours only, never another site; the
        # row's anchor keeps the specialist's place on the page
        back = safe_next(str(form.get("back") or "")) or "/queue"
        anchor = f"#followup-{ids[0]}" if ids else ""
        return RedirectResponse(back.split("#", 1)[0] + anchor, status_code=303)

    async def workbook(self, request: Request) -> Response:
        """A copy of the specialists' workbook made for this download: console links, a
        first sheet saying where edits go back (the upload below), removed once sent."""
        path = self.settings.workbook_path
        if not path.is_file():
            return self.render(request, "error.html", 404, message="No workbook yet.")
        me = request.session["user"]["username"]
        folder = private_dir(self.settings.data_dir / "spreadsheets" / "downloads")
        fd, name = tempfile.mkstemp(prefix="download-", suffix=".xlsx", dir=folder)
        os.close(fd)
        copy = await self.db(write_download, self.store, self.settings, Path(name), me)
        await self.audit(me, "download", "workbook")
        return FileResponse(
            copy, filename=path.name, background=BackgroundTask(copy.unlink, missing_ok=True)
        )

    async def workbook_upload(self, request: Request) -> Response:
        """Bring a downloaded copy's Status / Assignee / Notes edits back (workbook_sync)."""
        if request.method == "GET":
            return self.render(request, "workbook_upload.html")
        me = request.session["user"]["username"]
        form = await self.form(request)
        upload = form.get("file")
        data = await upload.read(MAX_UPLOAD + 1) if isinstance(upload, UploadFile) else b""
        if not data:
            return self._upload_refused(request, "Choose the workbook file to upload.")
        if len(data) > MAX_UPLOAD:
            return self._upload_refused(request, "That file is larger than a workbook (20 MB).")
        folder = private_dir(self.settings.data_dir / "spreadsheets" / "uploads")
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".xlsx", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            merge = await self.db(
                import_workbook, self.store, self.settings, Path(name), f"workbook:{me}"
            )
        except WorkbookUnreadable:
            return self._upload_refused(
                request,
                "That file is not the specialists' workbook: it needs a Follow-ups sheet with "
                "Follow-up ID, Status, Assignee and Notes columns.",
            )
        finally:
            Path(name).unlink(missing_ok=True)
        await self.audit(me, "upload", "workbook", merge.summary())
        return self.render(request, "workbook_upload.html", merge=merge)

    def _upload_refused(self, request: Request, error: str) -> Response:
        return self.render(request, "workbook_upload.html", 400, error=error)


def _failure_words(exc: BaseException) -> str:
    """Why a lookup could not finish, in our own words (never Python's)."""
    if isinstance(exc, PayerbotError):
        return f"The lookup could not finish: {exc}"
    return "The lookup could not finish: an error in payerbot (the console's log has it)."


_NOT_DONE = ["open", "in progress"]


def _assign(store: Store, followup_id: int, form: Any, me: str) -> object:
    return fq.assign(store, followup_id, str(form.get("assignee") or me), me)


def _unassign(store: Store, followup_id: int, form: Any, me: str) -> object:
    return fq.assign(store, followup_id, None, me)


def _resolve(store: Store, followup_id: int, form: Any, me: str) -> object:
    return fq.resolve(store, followup_id, str(form.get("note") or ""), me)


def _reopen(store: Store, followup_id: int, form: Any, me: str) -> object:
    return fq.reopen(store, followup_id, me, str(form.get("note") or "") or None)


_ACTIONS: dict[str, Callable[[Store, int, Any, str], object]] = {
    "assign": _assign,
    "unassign": _unassign,
    "resolve": _resolve,
    "reopen": _reopen,
}
_DONE_WORDS = {
    "assign": "assigned",
    "unassign": "unassigned",
    "resolve": "resolved",
    "reopen": "reopened",
}


def _url(path: str, pairs: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(pairs)}" if pairs else path


@dataclass
class DeskLookup:
    """A desk lookup the page polls: its owner, the form as typed, its progress, its task."""

    id: str
    user: str
    values: dict[str, str]
    watch: lookups.LookupWatch
    task: asyncio.Task[lookups.LookupAnswer] | None = None
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    def waited(self) -> int:
        return round(time.monotonic() - self.started)

    def expired(self) -> bool:
        """Finished more than an hour ago: forgotten."""
        return self.task is not None and self.task.done() and self.waited() > 3600
