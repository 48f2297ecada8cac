"""The web console: server-rendered pages (Starlette + Jinja2, autoescaped), little JavaScript.

Security model:
- bound to 127.0.0.1 by default (`console.host`); a login for everything but /login and
  /static; roles specialist and supervisor (supervisor pages answer 403 to a specialist);
- failed logins are throttled per user name and per client address (throttle.py): an
  exponential delay, then a short lock of the address; each failure and lock is logged
  (user name when it is a user's, address; never the password);
- the session is a signed cookie (HttpOnly, SameSite=Strict, Secure when
  `console.secure_cookies`) holding a random session id whose hash is in the store: logout,
  a new password and `users remove` delete it, so a copied cookie dies with it; a session
  also ends after `console.idle_minutes` without a request;
- every POST carries the session's CSRF token (form field ``csrf`` or header
  ``X-CSRF-Token``), otherwise 403;
- files are served only from the data folder's evidence / traces (traces: supervisors),
  by run id and file name checked against a strict pattern, never a path from the request;
- who looked up, downloaded, assigned or resolved what is in the audit log (ids, not PHI);
- redirect targets taken from a request (``next``, ``back``) are local paths only;
- the store and password hashing run in worker threads, never on the event loop.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bots.interfaces.console import users
from bots.interfaces.console.base import HERE, client_address, console_secret, safe_next
from bots.interfaces.console.desk import DeskPages
from bots.interfaces.console.supervision import SupervisorPages
from bots.interfaces.console.throttle import LoginThrottle
from bots.logs import get_logger
from bots.services import lookups
from bots.services.local_service import LocalService
from bots.settings import Settings

log = get_logger("payerbot.console")


class Console(DeskPages, SupervisorPages):
    """The app's state and handlers: the desk's pages, the supervisor's, and the login."""

    # --- login --------------------------------------------------------------------------------

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.throttle = LoginThrottle(settings.console)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            request.session.setdefault("login_csrf", secrets.token_urlsafe(24))
            return self.render(
                request,
                "login.html",
                next=safe_next(request.query_params.get("next")),
                login_csrf=request.session["login_csrf"],
            )
        form = await request.form()
        token = str(form.get("csrf") or "")
        if not token or not secrets.compare_digest(token, request.session.get("login_csrf", "")):
            return self.render(request, "error.html", 403, message="The form expired. Reload.")
        username = str(form.get("username") or "").strip()
        address = client_address(request)
        target = safe_next(str(form.get("next") or ""))
        refused = self.throttle.attempt(username, address)
        if refused is not None:
            # neither the password is checked nor the store written: hammering costs nothing
            log.warning(
                "console.login_refused",
                address=address,
                locked=refused.locked,
                retry_after=refused.retry_after,
            )
            if refused.began:
                await self._locked(username, address, refused.seconds)
            response = self._login_again(request, 429, refused.message, target)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
        check = await self.db(
            users.check_login, self.store, username, str(form.get("password") or "")
        )
        user = check.user
        if user is None:
            who = username[:80] if check.known else "?"  # never a password typed as a name
            locked = self.throttle.failed(address)
            log.warning(
                "console.login_failed",
                console_user=who,
                address=address,
                failures=self.throttle.failures(address),
                locked_seconds=round(locked),
            )
            await self.audit(who, "login_failed", "console", f"from {address}")
            if locked:
                await self._locked(username, address, locked)
            return self._login_again(request, 401, "Unknown user or wrong password.", target)
        self.throttle.succeeded(username, address)
        session_id = await self.db(users.start_session, self.store, user, self.idle)
        request.session.clear()  # a new session on login (no fixation)
        request.session.update(
            user={"username": user.username, "role": user.role},  # the cookie holds JSON
            sid=session_id,
            csrf=secrets.token_urlsafe(24),
            seen=time.time(),
        )
        log.info("console.login", console_user=user.username, address=address)
        await self.audit(user.username, "login", "console", f"from {address}")
        return RedirectResponse(target or "/", status_code=303)

    async def _locked(self, username: str, address: str, seconds: float) -> None:
        """An address was just locked out: a log line and an audit line, naming the user
        only when the name is a user's."""
        known = await self.db(users.get_user, self.store, username) is not None
        who = username[:80] if known else "?"
        log.warning("console.login_locked", console_user=who, address=address, seconds=seconds)
        await self.audit(who, "login_locked", "console", f"{address} for {seconds:.0f} s")

    def _login_again(self, request: Request, code: int, error: str, target: str) -> Response:
        request.session["login_csrf"] = secrets.token_urlsafe(24)
        return self.render(
            request,
            "login.html",
            code,
            error=error,
            next=target,
            login_csrf=request.session["login_csrf"],
        )

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        await self.db(users.end_session, self.store, request.session.get("sid", ""))
        await self.audit(request.session["user"]["username"], "logout", "console")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(self, request: Request) -> Response:
        """The morning home page: today's counts with links (supervision.py)."""
        return await self.morning(request)


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
        Route("/queue/bulk/{action}", g(None, console.followup_action), methods=["POST"]),
        Route("/workbook", g(None, console.workbook)),
        Route("/workbook/upload", g(None, console.workbook_upload), methods=["GET", "POST"]),
        Route("/files/{kind}/{run_id}/{name}", g(None, console.files)),
        Route("/runs", g("supervisor", console.runs)),
        Route("/runs/{run_id}", g("supervisor", console.run)),
        Route("/runs/{run_id}/retry", g("supervisor", console.retry), methods=["POST"]),
        Route("/runs/{run_id}/resume", g("supervisor", console.resume), methods=["POST"]),
        Route("/batch", g("supervisor", console.start_batch), methods=["POST"]),
        Route("/portals", g("supervisor", console.portals)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    routes[-1:-1] = [  # a desk lookup the page polls (progress in words, cancel)
        Route("/lookup/jobs/{id}", g(None, console.lookup_status)),
        Route("/lookup/jobs/{id}/answer", g(None, console.lookup_answer)),
        Route("/lookup/jobs/{id}/cancel", g(None, console.lookup_cancel), methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # `payerbot lookup` asks this console over the data folder's socket (same OS user only)
        answer = lookups.CommandLineLookups(
            settings, console.store, console.kept_browser, "console"
        )
        service = LocalService(settings, answer, "console")
        await service.start()
        try:
            yield
        finally:
            await service.close()
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
