"""The web console: server-rendered pages (Starlette + Jinja2, autoescaped), little JavaScript.

Security model:
- bound to 127.0.0.1 by default (`console.host`); a login for everything but /login and
  /static; roles specialist and supervisor (supervisor pages answer 403 to a specialist);
- the session is a signed cookie (HttpOnly, SameSite=Strict, Secure when
  `console.secure_cookies`), expiring after `console.idle_minutes` without a request;
- every POST carries the session's CSRF token (form field ``csrf`` or header
  ``X-CSRF-Token``), otherwise 403;
- files are served only from the data folder's evidence / traces (traces: supervisors),
  by run id and file name checked against a strict pattern, never a path from the request;
- who looked up, downloaded, assigned or resolved what is in the audit log (ids, not PHI).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from playwright.async_api import Browser, async_playwright
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bots.engine import browser as browser_mod
from bots.errors import ConfigurationError, PayerbotError
from bots.files import private_dir
from bots.followups import queue as fq
from bots.intake.worklists import PayerDirectory
from bots.interfaces.console import users
from bots.logs import get_logger
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.ops import health
from bots.outputs.report import run_detail
from bots.services import batches, lookups
from bots.settings import Settings
from bots.store import ItemState, Store, utcnow

log = get_logger("payerbot.console")
HERE = Path(__file__).parent
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
Handler = Callable[[Request], Awaitable[Response]]


def console_secret(settings: Settings) -> str:
    """The cookie-signing key: PAYERBOT_CONSOLE_SECRET, else <secrets_dir>/console.key."""
    env = os.environ.get("PAYERBOT_CONSOLE_SECRET")
    if env:
        return env
    path = settings.resolved_secrets_dir / "console.key"
    if path.exists():
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(f"{path} is readable by others: chmod 600 it")
        return path.read_text().strip()
    private_dir(path.parent)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


class Console:
    """The app's state and handlers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.open(settings)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.env.filters["money"] = lambda v: "" if v is None else f"${Decimal(str(v)):,.2f}"
        # evidence and trace paths become the console's own /files URLs (None: not served)
        self.env.filters["file_url"] = lambda path: _file_url(settings, path)
        self.payers = PayerDirectory(settings)
        self.background: dict[str, str] = {}  # job label -> status, for the runs page
        self._playwright: Any = None
        self._chromium: Browser | None = None
        self._launching = asyncio.Lock()

    async def _browser(self) -> Browser:
        """One browser for the console's lifetime: a desk lookup does not wait for a launch."""
        async with self._launching:
            if self._chromium is None or not self._chromium.is_connected():
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._chromium = await browser_mod.launch(self._playwright, self.settings.browser)
            return self._chromium

    async def close(self) -> None:
        if self._chromium is not None:
            await self._chromium.close()
        if self._playwright is not None:
            await self._playwright.stop()
        self.store.close()

    # --- plumbing ---------------------------------------------------------------------------

    def render(self, request: Request, name: str, code: int = 200, **ctx: Any) -> HTMLResponse:
        user = request.session.get("user")
        html = self.env.get_template(name).render(
            user=user,
            csrf=request.session.get("csrf", ""),
            flash=request.session.pop("flash", None),
            path=request.url.path,
            **ctx,
        )
        return HTMLResponse(html, status_code=code)

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        self.store.audit(actor, action, target, detail)

    async def form(self, request: Request) -> Any:
        form = await request.form()
        token = form.get("csrf") or request.headers.get("x-csrf-token")
        if not token or not secrets.compare_digest(str(token), request.session.get("csrf", "")):
            raise CsrfError
        return form

    def guard(self, role: str | None, handler: Handler) -> Handler:
        """Login required (and a role); idle sessions end; POST bodies checked for CSRF."""

        async def wrapped(request: Request) -> Response:
            user = request.session.get("user")
            now = time.time()
            idle = self.settings.console.idle_minutes * 60
            if user and now - float(request.session.get("seen", 0)) > idle:
                request.session.clear()
                request.session["flash"] = "Your session ended after inactivity. Log in again."
                user = None
            if not user or users.get_user(self.store, user["username"]) is None:
                if request.method == "GET":
                    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
                return Response("login required", status_code=401)
            if role == "supervisor" and user["role"] != "supervisor":
                return self.render(request, "error.html", 403, message="Supervisors only.")
            request.session["seen"] = now
            try:
                return await handler(request)
            except CsrfError:
                return self.render(
                    request, "error.html", 403, message="The form expired. Reload and retry."
                )

        return wrapped

    # --- login --------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            request.session.setdefault("login_csrf", secrets.token_urlsafe(24))
            return self.render(
                request,
                "login.html",
                next=_safe_next(request.query_params.get("next")),
                login_csrf=request.session["login_csrf"],
            )
        form = await request.form()
        token = str(form.get("csrf") or "")
        if not token or not secrets.compare_digest(token, request.session.get("login_csrf", "")):
            return self.render(request, "error.html", 403, message="The form expired. Reload.")
        username = str(form.get("username") or "").strip()
        user = users.authenticate(self.store, username, str(form.get("password") or ""))
        if user is None:
            self.audit(username[:80] or "?", "login_failed", "console")
            request.session["login_csrf"] = secrets.token_urlsafe(24)
            return self.render(
                request,
                "login.html",
                401,
                error="Unknown user or wrong password.",
                next=_safe_next(str(form.get("next") or "")),
                login_csrf=request.session["login_csrf"],
            )
        request.session.clear()  # a new session on login (no fixation)
        request.session.update(
            user={"username": user.username, "role": user.role},  # the cookie holds JSON
            csrf=secrets.token_urlsafe(24),
            seen=time.time(),
        )
        self.audit(user.username, "login", "console")
        home = "/runs" if user.role == "supervisor" else "/lookup"
        return RedirectResponse(_safe_next(str(form.get("next") or "")) or home, status_code=303)

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(self, request: Request) -> Response:
        role = request.session["user"]["role"]
        return RedirectResponse("/runs" if role == "supervisor" else "/lookup", status_code=303)

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
        except (ValueError, ValidationError, InvalidOperation, ConfigurationError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
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
        item = answer.item
        self.audit(user, "lookup", f"item:{item.id}", f"{kind} run {answer.run_id}")
        return self.render(
            request,
            "lookup.html",
            payers=payers,
            form=values,
            item=item,
            result=item.payload,
            evidence=_file_url(self.settings, item.evidence_path),
            estimate=answer.estimate,
            followups=answer.followups,
            notices=answer.notices,
            seconds=round(answer.seconds, 1),
        )

    def _query(self, kind: str, v: dict[str, str]) -> EligibilityQuery | ClaimStatusQuery:
        payer = self.payers.resolve(v.get("payer", ""))
        if payer is None:
            raise ConfigurationError("choose a payer")
        if kind == "eligibility":
            return EligibilityQuery(
                payer_id=payer,
                member_id=re.sub(r"\s+", "", v.get("member_id", "")).upper(),
                dob=date.fromisoformat(v.get("dob", "")),
                date_of_service=date.fromisoformat(v["dos"]) if v.get("dos") else date.today(),
                service_type=v.get("service_type") or "30",
                expected_charge=Decimal(v["charge"]) if v.get("charge") else None,
            )
        if kind == "claim_status":
            return ClaimStatusQuery(payer_id=payer, claim_number=v.get("claim_number") or None)
        raise ConfigurationError("unknown lookup kind")

    # --- the follow-up queue ------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        params = request.query_params
        status = params.getlist("status") or ["open", "in progress"]
        me = request.session["user"]["username"]
        rows = fq.list_followups(
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
                fq.assign(self.store, followup_id, str(form.get("assignee") or me), me)
                request.session["flash"] = f"Follow-up {followup_id} assigned."
            elif action == "resolve":
                fq.resolve(self.store, followup_id, str(form.get("note") or ""), me)
                request.session["flash"] = f"Follow-up {followup_id} resolved."
            else:
                return Response("not found", status_code=404)
        except PayerbotError as exc:
            request.session["flash"] = str(exc)
        return RedirectResponse(str(form.get("back") or "/queue"), status_code=303)

    async def workbook(self, request: Request) -> Response:
        path = self.settings.workbook_path
        if not path.is_file():
            return self.render(request, "error.html", 404, message="No workbook yet.")
        self.audit(request.session["user"]["username"], "download", "workbook")
        return FileResponse(path, filename=path.name)

    # --- supervisors --------------------------------------------------------------------------

    async def runs(self, request: Request) -> Response:
        rows = self.store.list_runs(50)
        jobs = sorted(self.settings.schedule.jobs)
        return self.render(request, "runs.html", runs=rows, jobs=jobs, background=self.background)

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        run = self.store.get_run(run_id)
        if run is None:
            return self.render(request, "error.html", 404, message="No such run.")
        items = self.store.run_outcomes(run_id)
        detail = run_detail(run, items)
        p = request.query_params
        lines = _log_lines(run.log_path, p.get("level"), p.get("portal"), p.get("item"))
        return self.render(
            request, "run.html", run=run, detail=detail, items=items, lines=lines, filters=p
        )

    async def retry(self, request: Request) -> Response:
        await self.form(request)
        run_id = request.path_params["run_id"]
        run = self.store.get_run(run_id)
        failed = [i for i in self.store.run_outcomes(run_id) if i.state == ItemState.SYSTEM_FAILED]
        if run is None or not failed:
            request.session["flash"] = "Nothing to retry."
            return RedirectResponse(f"/runs/{run_id}", status_code=303)
        kind = LookupKind(run.kind)
        model = EligibilityQuery if kind == LookupKind.ELIGIBILITY else ClaimStatusQuery
        rows = [(i.source_row, model.model_validate(i.query)) for i in failed]
        me = request.session["user"]["username"]
        self.audit(me, "retry", f"run:{run_id}", f"{len(rows)} failed items")
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
            path.write_bytes(await upload.read())
            path.chmod(0o600)
            self.audit(me, "batch", "upload", name)
            self._in_background(
                f"batch {name}",
                lambda: batches.run_worklist_file(self.settings, None, path, trigger="console"),
            )
            request.session["flash"] = f"Batch started from {name}."
        elif job in self.settings.schedule.jobs:
            from bots.interfaces import scheduler

            self.audit(me, "batch", f"job:{job}")
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
        status = health.portal_status(self.settings, self.store)
        return self.render(request, "portals.html", portals=status)

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
            self.audit(request.session["user"]["username"], "download", f"trace:{run_id}/{name}")
            return FileResponse(path, filename=name, media_type="application/zip")
        return FileResponse(path)


class CsrfError(Exception):
    pass


def _safe_next(target: str | None) -> str:
    """Only our own paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _file_url(settings: Settings, path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    try:
        rel = p.resolve().relative_to(settings.data_dir.resolve())
    except ValueError:
        return None
    if len(rel.parts) != 3 or rel.parts[0] not in ("evidence", "traces"):
        return None
    return f"/files/{rel.parts[0]}/{rel.parts[1]}/{rel.parts[2]}"


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


def create_app(settings: Settings) -> Starlette:
    console = Console(settings)
    g = console.guard
    routes = [
        Route("/login", console.login, methods=["GET", "POST"]),
        Route("/logout", g(None, console.logout), methods=["POST"]),
        Route("/", g(None, console.home)),
        Route("/lookup", g(None, console.lookup), methods=["GET", "POST"]),
        Route("/queue", g(None, console.queue)),
        Route("/queue/{id:int}/{action}", g(None, console.followup_action), methods=["POST"]),
        Route("/workbook", g(None, console.workbook)),
        Route("/files/{kind}/{run_id}/{name}", g(None, console.files)),
        Route("/runs", g("supervisor", console.runs)),
        Route("/runs/{run_id}", g("supervisor", console.run)),
        Route("/runs/{run_id}/retry", g("supervisor", console.retry), methods=["POST"]),
        Route("/batch", g("supervisor", console.start_batch), methods=["POST"]),
        Route("/portals", g("supervisor", console.portals)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await console.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=console_secret(settings),
                session_cookie="payerbot_console",
                max_age=None,  # a browser-session cookie; idle expiry is enforced server-side
                same_site="strict",
                https_only=settings.console.secure_cookies,
            )
        ],
    )
    app.state.console = console
    return app
