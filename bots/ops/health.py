"""Portal health: per portal its accounts' sessions and flags, last success, the last day's
outcomes and failure rate, the next maintenance window (CLI `portals status`, the console)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bots.engine.credentials import credential_sources
from bots.engine.vault import session_kept
from bots.errors import ConfigurationError
from bots.maintenance import next_window
from bots.settings import Settings
from bots.store import Store, utcnow


def portal_status(settings: Settings, store: Store) -> dict[str, Any]:
    """The data behind `portals status` (the console shows the same)."""
    flags = store.flagged_accounts()
    activity = store.portal_activity()
    sessions = {(r.portal, r.account): r for r in store.account_sessions()}
    now = utcnow()
    status: dict[str, Any] = {}
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
            accounts[account] = {
                "flag": next(
                    (
                        {"flag": f.flag, "reason": f.reason, "since": f.since}
                        for f in flags
                        if f.portal == portal_id and f.account == account
                    ),
                    None,
                ),
                "session": session,
                "credentials": _sources(settings, portal_id, account),
                "last_login": row.last_login_at if row else None,
                "password_days_left": days,
            }
        status[portal_id] = {
            "title": portal.title,
            "base_url": portal.base_url,
            "accounts": accounts,
            "next_maintenance": (
                {
                    "start": window[0].astimezone(zone).isoformat(timespec="minutes"),
                    "end": window[1].astimezone(zone).isoformat(timespec="minutes"),
                }
                if window
                else None
            ),
        }
        # the keys appear only with something to say (as `portals status --json` always did)
        seen = activity.get(portal_id)
        if seen is not None and seen.last_success is not None:
            status[portal_id]["last_success"] = seen.last_success
        if seen is not None and seen.last_24h is not None:
            status[portal_id]["last_24h"] = seen.last_24h
        recent = status[portal_id].get("last_24h", {})
        tries = sum(recent.values())
        failed = recent.get("system_failed", 0)
        status[portal_id]["failure_rate_24h"] = round(failed / tries, 3) if tries else None
    return status


def _sources(settings: Settings, portal_id: str, account: str) -> dict[str, str] | str:
    """Where each credential field comes from (env, files, keyring), never a value."""
    try:
        return credential_sources(settings, portal_id, account)
    except ConfigurationError as exc:
        return str(exc)
