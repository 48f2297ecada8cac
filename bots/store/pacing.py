"""What a portal's rate limits taught the bot: its spacing between lookups, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from bots.store.engine import StoreBase, utcnow
from bots.store.schema import portal_pace


class PacingMixin(StoreBase):
    """One remembered pace per portal; how it decays is the engine's (bots/engine/gates.py)."""

    def remembered_pace(self, portal: str) -> tuple[float, datetime] | None:
        """(seconds between lookups, when learned), or None when nothing is remembered."""
        with self._tx() as conn:
            row = conn.execute(
                select(portal_pace.c.pace_seconds, portal_pace.c.learned_at).where(
                    portal_pace.c.portal == portal
                )
            ).first()
        return (float(row[0]), row[1]) if row is not None else None

    def remember_pace(self, portal: str, seconds: float, at: datetime | None = None) -> None:
        """Keep (or replace) the portal's pace, learned now (or ``at``)."""
        with self._tx() as conn:
            conn.execute(portal_pace.delete().where(portal_pace.c.portal == portal))
            conn.execute(
                insert(portal_pace).values(
                    portal=portal, pace_seconds=seconds, learned_at=at or utcnow()
                )
            )
