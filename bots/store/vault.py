"""Kept sessions: a portal account's sealed storage state, shared by a fleet's workers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from bots.store.engine import StoreBase, utcnow
from bots.store.rows import KeptSession
from bots.store.schema import kept_sessions


def _where(portal: str, account: str) -> tuple[Any, ...]:
    return (kept_sessions.c.portal == portal, kept_sessions.c.account == account)


class VaultMixin(StoreBase):
    """Sealed tokens only: sealing and opening them is bots/engine/vault.py's (the key
    never reaches the store)."""

    def kept_session(self, portal: str, account: str) -> KeptSession | None:
        with self._tx() as conn:
            row = (
                conn.execute(
                    select(kept_sessions.c.token, kept_sessions.c.saved_at).where(
                        *_where(portal, account)
                    )
                )
                .mappings()
                .first()
            )
        return KeptSession(row["token"], row["saved_at"]) if row is not None else None

    def keep_session(self, portal: str, account: str, token: str) -> None:
        """Keep (or replace) the account's sealed state."""
        with self._tx() as conn:
            conn.execute(kept_sessions.delete().where(*_where(portal, account)))
            conn.execute(
                insert(kept_sessions).values(
                    portal=portal, account=account, token=token, saved_at=utcnow()
                )
            )

    def discard_kept_session(self, portal: str, account: str) -> None:
        with self._tx() as conn:
            conn.execute(kept_sessions.delete().where(*_where(portal, account)))
