"""The specialist's pages: a single lookup with its evidence and estimate, the follow-up
queue (assign, resolve), the specialists' workbook download and the upload of its edits."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from bots.dates import local_today
from bots.errors import ConfigurationError, PayerbotError
from bots.files import private_dir
from bots.followups import queue as fq
from bots.interfaces.console.base import ConsoleBase, file_url, safe_next
from bots.models import ClaimStatusQuery, EligibilityQuery, plain_message
from bots.outputs.shown import summary
from bots.outputs.specialists_workbook import WorkbookUnreadable
from bots.outputs.workbook_sync import import_workbook, write_download
from bots.services import lookups

MAX_UPLOAD = 20 * 1024 * 1024  # bytes: far above a specialists' workbook


class DeskPages(ConsoleBase):
    """What a billing specialist does at the desk."""

    # --- single lookups -----------------------------------------------------------------------

    async def lookup(self, request: Request) -> Response:
        payers = sorted(self.settings.payers.items())
        if request.method == "GET":
            return self.render(request, "lookup.html", payers=payers, form={})
        form = await self.form(request)
        values = {k: str(v).strip() for k, v in form.items() if k != "csrf"}
        kind = values.get("kind", "eligibility")
        try:
            query = self._query(kind, values)
        except (ValueError, ValidationError, ConfigurationError) as exc:
            # the question's shape in plain words (bots/models.py), never pydantic's text
            message = plain_message(exc) if isinstance(exc, ValidationError) else str(exc)
            return self.render(
                request, "lookup.html", 400, payers=payers, form=values, error=message
            )
        user = request.session["user"]["username"]
        try:
            answer = await lookups.lookup(
                self.settings, self.store, query, browser=await self._browser()
            )
        except PayerbotError as exc:
            return self.render(
                request, "lookup.html", 400, payers=payers, form=values, error=str(exc)
            )
        await self.audit(user, "lookup", f"item:{answer.item.id}", f"{kind} run {answer.run_id}")
        # a lookup that failed after an earlier answer shows that answer, and the failure
        item = answer.item.as_answered()
        return self.render(
            request,
            "lookup.html",
            payers=payers,
            form=values,
            item=item,
            result=item.payload,
            summary=summary(item.kind, item.query, item.payload),
            evidence=file_url(self.settings, item.evidence_path),
            estimate=answer.estimate if item is answer.item else lookups.estimate_for(item),
            followups=answer.followups,
            notices=answer.notices,
            seconds=round(answer.seconds, 1),
        )

    def _query(self, kind: str, v: dict[str, str]) -> EligibilityQuery | ClaimStatusQuery:
        payer = self.payers.resolve(v.get("payer", ""))
        if payer is None:
            raise ConfigurationError("choose a payer")
        member_id = re.sub(r"\s+", "", v.get("member_id", "")).upper() or None
        dob = _form_date(v, "dob", "The date of birth")
        if kind == "eligibility":
            return EligibilityQuery(
                payer_id=payer,
                member_id=member_id,
                dob=dob,
                date_of_service=_form_date(v, "dos", "The date of service")
                or local_today(self.settings.timezone),
                service_type=v.get("service_type") or "30",
                expected_charge=_form_money(v, "charge", "The expected charge"),
            )
        if kind == "claim_status":
            return ClaimStatusQuery(
                payer_id=payer,
                claim_number=v.get("claim_number") or None,
                member_id=member_id,
                dob=dob,
                dos_from=_form_date(v, "dos", "The date of service"),
            )
        raise ConfigurationError("unknown lookup kind")

    # --- the follow-up queue ------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        params = request.query_params
        status = params.getlist("status") or ["open", "in progress"]
        me = request.session["user"]["username"]
        rows = await self.db(
            fq.list_followups,
            self.store,
            status=status,
            assignee=me if params.get("mine") else None,
            priority=params.get("priority") or None,
        )
        return self.render(
            request, "queue.html", rows=rows, statuses=status, mine=bool(params.get("mine"))
        )

    async def followup_action(self, request: Request) -> Response:
        form = await self.form(request)
        followup_id = int(request.path_params["id"])
        me = request.session["user"]["username"]
        action = request.path_params["action"]
        try:
            if action == "assign":
                assignee = str(form.get("assignee") or me)
                await self.db(fq.assign, self.store, followup_id, assignee, me)
                request.session["flash"] = f"Follow-up {followup_id} assigned."
            elif action == "resolve":
                note = str(form.get("note") or "")
                await self.db(fq.resolve, self.store, followup_id, note, me)
                request.session["flash"] = f"Follow-up {followup_id} resolved."
            else:
                return Response("not found", status_code=404)
        except PayerbotError as exc:
            request.session["flash"] = str(exc)
        # back to the page the form was on: a path of ours only, never another site
        back = safe_next(str(form.get("back") or "")) or "/queue"
        return RedirectResponse(back, status_code=303)

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


def _form_date(values: dict[str, str], name: str, what: str) -> date | None:
    """A date field of the lookup form (the browser sends YYYY-MM-DD), or None when empty."""
    text = values.get(name, "")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} is not a date (YYYY-MM-DD).") from None


def _form_money(values: dict[str, str], name: str, what: str) -> Decimal | None:
    text = values.get(name, "").replace(",", "").lstrip("$")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} is not an amount.") from None
