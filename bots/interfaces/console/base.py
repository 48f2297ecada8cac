"""The console's plumbing: settings, store, templates, the long-lived browser, rendering,
the audit log, and the guard every page passes (login, role, idle expiry, CSRF).

The store and password hashing are synchronous and may wait (a SQLite write waits up to
30 s for another writer's lock): handlers call them through ``self.db(...)``, in a worker
thread, so one waiting request never holds up the others."""

from __future__ import annotations

import os
import re
import secrets
import stat
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from playwright.async_api import Browser
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bots.codes import network_label, prior_auth_label
from bots.dates import local_datetime_text
from bots.errors import ConfigurationError
from bots.files import private_dir
from bots.intake.worklists import PayerDirectory
from bots.interfaces.console import users
from bots.logs import get_logger
from bots.outputs.shown import NO_NAME, percent_text, with_descriptions
from bots.services.lookups import KeptBrowser
from bots.settings import Settings
from bots.store import OutcomeCode, Store

log = get_logger("payerbot.console")
HERE = Path(__file__).parent
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
Handler = Callable[[Request], Awaitable[Response]]
P = ParamSpec("P")
T = TypeVar("T")


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


def clock(settings: Settings, when: datetime | None) -> str:
    """A stored (UTC) time as the practice reads it: ``12/04/2026 3:07 AM`` local."""
    return local_datetime_text(when, settings.timezone)


class ConsoleBase:
    """The console's state and plumbing; the pages are its subclasses' (desk, supervision)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.open(settings)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.env.filters["money"] = lambda v: "—" if v is None else f"${Decimal(str(v)):,.2f}"
        # words a person reads, shared with the workbooks and `lookup --json` (outputs/shown.py)
        self.env.filters["prior_auth"] = prior_auth_label
        self.env.filters["outcome"] = lambda code: OutcomeCode(code).label if code else ""
        self.env.filters["network"] = network_label
        self.env.filters["percent"] = lambda v: percent_text(Decimal(str(v)))
        self.env.filters["with_descriptions"] = with_descriptions  # "CO-16: <description>"
        self.env.globals["no_name"] = NO_NAME
        # evidence and trace paths become the console's own /files URLs (None: not served)
        self.env.filters["file_url"] = lambda path: file_url(settings, path)
        self.env.filters["clock"] = lambda when: clock(settings, when)
        self.payers = PayerDirectory(settings)
        self.background: dict[str, str] = {}  # job label -> status, for the runs page
        self.kept_browser = KeptBrowser(settings)

    async def _browser(self) -> Browser:
        """One browser for the console's lifetime: a desk lookup does not wait for a launch."""
        return await self.kept_browser.get()

    async def close(self) -> None:
        await self.kept_browser.close()
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

    async def db(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args)`` (the store, password hashing) in a worker thread: off the loop."""
        return await run_in_threadpool(work, *args, **kwargs)

    async def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        await self.db(self.store.audit, actor, action, target, detail)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.console.idle_minutes)

    async def form(self, request: Request) -> Any:
        form = await request.form()
        token = form.get("csrf") or request.headers.get("x-csrf-token")
        if not token or not secrets.compare_digest(str(token), request.session.get("csrf", "")):
            raise CsrfError
        return form

    def guard(self, role: str | None, handler: Handler) -> Handler:
        """Login required (a live session in the store, and a role); idle sessions end; POST
        bodies checked for CSRF."""

        async def wrapped(request: Request) -> Response:
            user = request.session.get("user")
            now = time.time()
            if user and now - float(request.session.get("seen", 0)) > self.idle.total_seconds():
                await self.db(users.end_session, self.store, request.session.get("sid", ""))
                request.session.clear()
                request.session["flash"] = "Your session ended after inactivity. Log in again."
                user = None
            live = None
            if user:
                live = await self.db(users.session_user, self.store, request.session.get("sid", ""))
            if live is None:
                # no session, or one ended in the store (logout elsewhere, new password,
                # user removed or disabled): the cookie is worth nothing
                if user:
                    request.session.clear()
                    request.session["flash"] = "Your session has ended. Log in again."
                if request.method == "GET":
                    target = quote(request.url.path, safe="/")
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return Response("login required", status_code=401)
            request.session["user"] = {"username": live.username, "role": live.role}
            if role == "supervisor" and live.role != "supervisor":
                return self.render(request, "error.html", 403, message="Supervisors only.")
            request.session["seen"] = now
            try:
                return await handler(request)
            except CsrfError:
                return self.render(
                    request, "error.html", 403, message="The form expired. Reload and retry."
                )

        return wrapped


class CsrfError(Exception):
    pass


def safe_next(target: str | None) -> str:
    """A path of this console taken from a request (``next``, ``back``), or "": never an
    open redirect. Browsers read ``//host``, ``/\\host`` and ``/<tab>/host`` as another
    site, so a target starts with one "/" and holds no backslash or control character."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return ""
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return ""
    return target


def client_address(request: Request) -> str:
    """Who is asking, for the login throttle (the proxy's X-Forwarded-For only when
    ``console.trusted_proxy`` names it: uvicorn applies it)."""
    return request.client.host if request.client else "unknown"


def file_url(settings: Settings, path: str | None) -> str | None:
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
