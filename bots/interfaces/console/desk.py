"""The specialist's pages: a single lookup with its evidence and estimate, the follow-up
queue (search, filters, sort, pages; assign, unassign, resolve, reopen, one or many), the
specialists' workbook download."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from bots.dates import local_date_text, local_today
from bots.errors import ConfigurationError, PayerbotError
from bots.followups import queue as fq
from bots.interfaces.console.base import ConsoleBase, file_url, safe_next
from bots.models import ClaimStatusQuery, EligibilityQuery, plain_message
from bots.outputs.shown import summary
from bots.services import lookups
from bots.store import Store


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
        path = self.settings.workbook_path
        if not path.is_file():
            return self.render(request, "error.html", 404, message="No workbook yet.")
        await self.audit(request.session["user"]["username"], "download", "workbook")
        return FileResponse(path, filename=path.name)


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
