"""Portal health: per portal its accounts' sessions and flags, last success, the last day's
outcomes and failure rate, the next maintenance window (CLI `portals status`, the console)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bots.dates import local_datetime_text
from bots.engine.credentials import credential_sources
from bots.engine.vault import session_kept
from bots.errors import ConfigurationError
from bots.maintenance import next_window
from bots.settings import Settings
from bots.store import AccountFlag, Store, utcnow


@dataclass(frozen=True, slots=True)
class AccountHealth:
    """One account of a portal: its lockout flag, its session, its credentials' sources."""

    flag: AccountFlag | None
    session: str  # live in a run, kept for the next run, or none
    credentials: dict[str, str] | str  # field -> where it comes from (never a value), or why not
    last_login: datetime | None
    password_days_left: int | None  # counted down from the portal's last notice

    def as_dict(self) -> dict[str, Any]:
        flag = self.flag
        return {
            "flag": {"flag": flag.flag, "reason": flag.reason, "since": flag.since}
            if flag
            else None,
            "session": self.session,
            "credentials": self.credentials,
            "last_login": self.last_login,
            "password_days_left": self.password_days_left,
        }


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """The next scheduled maintenance, in the portal's own time zone (ISO, minutes)."""

    start: str
    end: str


@dataclass(frozen=True, slots=True)
class PortalHealth:
    """A portal as a supervisor checks it."""

    title: str
    base_url: str
    accounts: dict[str, AccountHealth]
    next_maintenance: MaintenanceWindow | None
    last_success: datetime | None  # None: no successful lookup on record
    last_24h: dict[str, int] | None  # attempts per outcome (None: none in the last day)
    failure_rate_24h: float | None

    def as_dict(self) -> dict[str, Any]:
        """`portals status --json`: last_success and last_24h only when there is one."""
        data: dict[str, Any] = {
            "title": self.title,
            "base_url": self.base_url,
            "accounts": {name: a.as_dict() for name, a in self.accounts.items()},
            "next_maintenance": {
                "start": self.next_maintenance.start,
                "end": self.next_maintenance.end,
            }
            if self.next_maintenance
            else None,
        }
        if self.last_success is not None:
            data["last_success"] = self.last_success
        if self.last_24h is not None:
            data["last_24h"] = self.last_24h
        data["failure_rate_24h"] = self.failure_rate_24h
        return data


def portal_status(settings: Settings, store: Store) -> dict[str, PortalHealth]:
    """The data behind `portals status` (the console shows the same)."""
    flags = {(f.portal, f.account): f for f in store.flagged_accounts()}
    activity = store.portal_activity()
    sessions = {(r.portal, r.account): r for r in store.account_sessions()}
    now = utcnow()
    status: dict[str, PortalHealth] = {}
    for portal_id, portal in settings.portals.items():
        zone = ZoneInfo(portal.timezone or settings.timezone)
        window = next_window(portal.windows(), now, zone)
        accounts = {}
        for account in portal.accounts:
            row = sessions.get((portal_id, account))
            kept = session_kept(settings, store, portal_id, account)
            if row is not None and row.holder:
                session = f"live in run {row.holder_run or 'another process'}"
            elif kept:
                session = "kept (resumed by the next run if the portal still honours it)"
            else:
                session = "none"
            notice_at = row.password_notice_at if row else None
            days = row.password_days_left if row else None
            if days is not None and notice_at is not None:
                days = max(0, days - (now - notice_at).days)
            accounts[account] = AccountHealth(
                flag=flags.get((portal_id, account)),
                session=session,
                credentials=_sources(settings, portal_id, account),
                last_login=row.last_login_at if row else None,
                password_days_left=days,
            )
        seen = activity.get(portal_id)
        recent = (seen.last_24h if seen else None) or {}
        tries = sum(recent.values())
        status[portal_id] = PortalHealth(
            title=portal.title,
            base_url=portal.base_url,
            accounts=accounts,
            next_maintenance=MaintenanceWindow(
                window[0].astimezone(zone).isoformat(timespec="minutes"),
                window[1].astimezone(zone).isoformat(timespec="minutes"),
            )
            if window
            else None,
            last_success=seen.last_success if seen else None,
            last_24h=seen.last_24h if seen else None,
            failure_rate_24h=round(recent.get("system_failed", 0) / tries, 3) if tries else None,
        )
    return status


def _sources(settings: Settings, portal_id: str, account: str) -> dict[str, str] | str:
    """Where each credential field comes from (env, files, keyring), never a value."""
    try:
        return credential_sources(settings, portal_id, account)
    except ConfigurationError as exc:
        return str(exc)


# --- in words (the console's portals and home pages) -------------------------------------------

FLAG_WORDS = {
    "login_refused": "wrong password (the portal refused the login)",
    "portal_blocked": "blocked by the portal",
}
"""An account flag in words; the flag itself is shown beside them."""


@dataclass(frozen=True, slots=True)
class PortalPause:
    """A portal the last run paused, in words: ``text`` ("Paused since ... by the page-change
    check"), the run that did it."""

    text: str
    run_id: str
    since: datetime


@dataclass(frozen=True, slots=True)
class AccountWords:
    name: str
    state: str  # "Ready", "Locked since ...: wrong password ..."
    bad: bool
    flag: str | None  # the stored flag, shown beside the words
    fix: str | None  # the command that clears it
    session: str
    last_login: str
    password: str


@dataclass(frozen=True, slots=True)
class PortalWords:
    """A portal's health as sentences, local times."""

    state: str
    bad: bool
    success: str
    last_success: str
    maintenance: str
    accounts: list[AccountWords]


def _pause_text(reason: str, postponed: bool, since: str) -> str:
    if postponed:
        return f"Postponed since {since}: the portal asked us to slow down"
    if "drift canary" in reason:
        return f"Paused since {since} by the page-change check"
    if "could not read its pages" in reason:
        return f"Paused since {since}: lookups in a row could not read its pages"
    if "maintenance" in reason:
        return f"Paused since {since}: the portal is in maintenance"
    if "account" in reason or "login" in reason:
        return f"Stopped since {since}: no account could sign in"
    return f"Stopped since {since}"


def paused_portals(settings: Settings, store: Store) -> dict[str, PortalPause]:
    """Portals a run of the last week stopped or postponed, with no successful lookup on
    them since that run started."""
    last = store.portal_activity()
    paused: dict[str, PortalPause] = {}
    for portal, pause in store.paused_portals(utcnow() - timedelta(days=7)).items():
        seen = last.get(portal)
        success = seen.last_success if seen else None
        if success is not None and _utc(success) >= _utc(pause.since):
            continue
        since = local_datetime_text(pause.since, settings.timezone)
        paused[portal] = PortalPause(
            _pause_text(pause.reason, pause.postponed, since), pause.run_id, pause.since
        )
    return paused


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo("UTC"))


def portal_words(
    settings: Settings, health: PortalHealth, pause: PortalPause | None = None
) -> PortalWords:
    """``health`` as a supervisor reads it: no dicts, no bare codes, local times."""
    zone = settings.timezone
    recent = health.last_24h or {}
    tries = sum(recent.values())
    answered = recent.get("succeeded", 0) + recent.get("business_failed", 0)
    failed = recent.get("system_failed", 0)
    if tries:
        success = (
            f"{round(100 * answered / tries)}% of {tries:,} lookups in the last 24 hours answered"
            + (f" ({failed:,} failed)" if failed else "")
        )
    else:
        success = "No lookups in the last 24 hours"
    accounts = []
    for name, account in health.accounts.items():
        flag = account.flag
        if flag is not None:
            words = FLAG_WORDS.get(flag.flag, flag.flag.replace("_", " "))
            state = f"Locked since {local_datetime_text(flag.since, zone)}: {words}"
            fix = f"payerbot creds reset-lock {flag.portal} --account {flag.account}"
        else:
            state, fix = "Ready", None
        days = account.password_days_left
        accounts.append(
            AccountWords(
                name=name,
                state=state,
                bad=flag is not None,
                flag=flag.flag if flag else None,
                fix=fix,
                session="No open session"
                if account.session == "none"
                else account.session[:1].upper() + account.session[1:],
                last_login=local_datetime_text(account.last_login, zone, empty="never"),
                password=f"Password expires in {days} day{'s' if days != 1 else ''}"
                if days is not None
                else "",
            )
        )
    if pause is not None:
        state, bad = pause.text, True
    elif accounts and all(a.bad for a in accounts):
        state, bad = "Not used: every account is locked", True
    else:
        state, bad = "Working", False
    window = health.next_maintenance
    maintenance = (
        f"Next maintenance {local_datetime_text(datetime.fromisoformat(window.start), zone)}"
        f" to {local_datetime_text(datetime.fromisoformat(window.end), zone)}"
        if window
        else ""
    )
    return PortalWords(
        state=state,
        bad=bad,
        success=success,
        last_success=local_datetime_text(health.last_success, zone, empty="never"),
        maintenance=maintenance,
        accounts=accounts,
    )
