"""Did a check's session resume the kept one, or need a new login? (`creds check`,
`doctor portals`.)

A kept session that existed and had not expired, yet did not resume, is the sign of a
flow whose ``resume()`` is wrong (every run would then log in again): said plainly, on the
first day, rather than noticed after a month of extra logins.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from bots.dates import local_datetime_text
from bots.engine.vault import SessionVault

SessionOutcome = Literal["resumed", "new_login", "new_login_kept_session_not_resumed"]


def kept_before(
    vault: SessionVault | None, portal: str, account: str, username: str
) -> datetime | None:
    """When the kept session worth trying was saved (None: none, or expired, or another
    login's). Read before the session opens: resuming or a new login rewrites it."""
    if vault is None or vault.load(portal, account, username) is None:
        return None
    saved = vault.saved_at(portal, account)
    return datetime.fromtimestamp(saved, UTC) if saved is not None else None


def outcome(resumed: bool, kept_at: datetime | None) -> SessionOutcome:
    if resumed:
        return "resumed"
    return "new_login" if kept_at is None else "new_login_kept_session_not_resumed"


def words(said: SessionOutcome, kept_at: datetime | None, timezone: str) -> str:
    """The outcome in one phrase a person reads."""
    if said == "resumed":
        return "resumed the kept session (no login needed)"
    if said == "new_login":
        return "new login (no kept session)"
    return (
        f"the kept session from {local_datetime_text(kept_at, timezone)} did not resume: a "
        "new login was needed; if the portal still had it, check the flow's resume()"
    )
