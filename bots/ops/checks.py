"""`payerbot creds check`: say whether each configured account can work: its kept session
is still live, or a login works.

No lookups. The same guards as a run: a flagged account is not tried (a person must clear
it first), an account another process is logged in with is not tried (a second login
would end that session on most portals), a configured maintenance window is respected,
and a refused login flags the account like in a run. The kept session is tried first (a
login while it lives would make a second session, or end it on most portals), and the
portal is logged into only once it has ended (the old one signed out first); a working
session is kept (encrypted) for the next run to resume.

Each account says whether its kept session resumed or a new login was needed
(``session``); a kept session that had not expired yet did not resume points at the flow's
``resume()`` (bots/engine/kept_check.py).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import async_playwright

from bots.engine import browser as browser_mod
from bots.engine import kept_check
from bots.engine.attempts import classify
from bots.engine.credentials import login_secrets
from bots.engine.gates import build_flow
from bots.engine.sessions import PortalSession
from bots.engine.vault import open_vault
from bots.errors import (
    AuthenticationError,
    ConfigurationError,
    PortalBlocked,
    PortalMaintenance,
    ReadOnlyViolation,
)
from bots.flowkit.flow import LoginInfo
from bots.logs import get_logger, redactor
from bots.maintenance import active_window
from bots.settings import Settings
from bots.store import Store, utcnow

log = get_logger("payerbot.checks")


@dataclass
class AccountCheck:
    portal: str
    account: str
    status: str  # ok | failed | locked | in_use | missing | maintenance | blocked | error
    detail: str = ""
    password_expires_in_days: int | None = None
    session: kept_check.SessionOutcome | None = None
    """resumed | new_login | new_login_kept_session_not_resumed (None: not tried)."""

    @property
    def ok(self) -> bool:
        return self.status in {"ok", "in_use"}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def check_accounts(
    settings: Settings, store: Store, portal_ids: list[str]
) -> list[AccountCheck]:
    holder = f"{store.owner}:check-{secrets.token_hex(4)}"
    vault = open_vault(settings, store)
    checks: list[AccountCheck] = []
    async with async_playwright() as playwright:
        browser = None
        try:
            for portal_id in portal_ids:
                portal = settings.portals[portal_id]
                flow = build_flow(settings, portal_id)
                flagged = {f.account: f for f in store.flagged_accounts(portal_id)}
                window = active_window(
                    portal.windows(), utcnow(), ZoneInfo(portal.timezone or settings.timezone)
                )
                for account in portal.accounts:
                    check = AccountCheck(portal_id, account, "ok")
                    checks.append(check)
                    if account in flagged:
                        check.status = "locked"
                        check.detail = (
                            f"not tried: flagged {flagged[account].flag} "
                            f"({flagged[account].reason}); `payerbot creds reset-lock "
                            f"{portal_id} --account {account}` once fixed"
                        )
                        continue
                    try:
                        login = login_secrets(settings, portal_id, account)
                    except ConfigurationError as exc:
                        check.status, check.detail = "missing", str(exc)
                        continue
                    if window is not None:
                        check.status = "maintenance"
                        check.detail = (
                            f"not tried: scheduled maintenance until {window[1]:%H:%M} UTC"
                        )
                        continue
                    lease = store.lease_account(
                        portal_id, account, holder, None, settings.sessions.account_lease_seconds
                    )
                    if not lease.acquired:
                        check.status = "in_use"
                        check.detail = (
                            f"logged in now by run {lease.holder_run or 'another process'}"
                        )
                        continue
                    try:
                        if browser is None:
                            browser = await browser_mod.launch(playwright, settings.browser)
                        kept_at = kept_check.kept_before(vault, portal_id, account, login.username)
                        session = PortalSession(
                            browser,
                            flow,
                            portal_id,
                            account,
                            login,
                            settings.browser,
                            portal,
                            vault=vault,
                        )
                        try:
                            try:  # the kept session first: a login would end it
                                await session.ready()
                            finally:  # the guard's finding beats the flow's own outcome
                                violation = session.read_only_violation()
                                if violation is not None:
                                    raise violation
                        finally:
                            await session.close()
                        check.session = kept_check.outcome(session.resumed, kept_at)
                        said = kept_check.words(check.session, kept_at, settings.timezone)
                        if session.resumed:
                            check.detail = said
                            log.info("creds.session_live", portal=portal_id, account=account)
                        else:
                            _record(store, check, session.last_info, said)
                    except Exception as exc:  # each account is reported, whatever happened
                        _failed(store, check, exc)
                    finally:
                        store.release_account(portal_id, account, holder)
        finally:
            if browser is not None:
                await browser.close()
    return checks


def _record(store: Store, check: AccountCheck, info: LoginInfo | None, said: str) -> None:
    days = info.password_expires_in_days if info else None
    store.note_login(check.portal, check.account, days)
    check.password_expires_in_days = days
    check.detail = said + (
        "" if info is None else f"; password expires in {days if days is not None else '?'} day(s)"
    )
    log.info(
        "creds.ok",
        portal=check.portal,
        account=check.account,
        password_days_left=days,
        session=check.session,
    )


def _failed(store: Store, check: AccountCheck, exc: BaseException) -> None:
    error = classify(exc)
    check.detail = redactor.text(str(error))
    if isinstance(error, AuthenticationError):
        check.status = "failed"
        store.flag_account(
            check.portal, check.account, "login_refused", check.detail, "creds-check"
        )
    elif isinstance(error, PortalBlocked | ReadOnlyViolation):
        check.status = "blocked"
    elif isinstance(error, PortalMaintenance):
        check.status = "maintenance"
    else:
        check.status = "error"
    log.warning("creds.failed", portal=check.portal, account=check.account, error=error.code())


def run_checks(settings: Settings, store: Store, portal_ids: list[str]) -> list[AccountCheck]:
    return asyncio.run(check_accounts(settings, store, portal_ids))
