"""Console users (name, role, password hash) and the audit log of what people did."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from bots.store.engine import StoreBase, utcnow
from bots.store.rows import User
from bots.store.schema import audit_log
from bots.store.schema import users as users_table

_PUBLIC = (
    users_table.c.username,
    users_table.c.role,
    users_table.c.created_at,
    users_table.c.disabled,
)
"""A user's columns that may leave the store (not the password hash)."""


def write_audit(conn: Connection, actor: str, action: str, target: str, detail: str) -> None:
    """One audit line (ids and fields, never PHI) in the caller's transaction."""
    conn.execute(
        insert(audit_log).values(
            at=utcnow(), actor=actor, action=action, target=target, detail=detail
        )
    )


class UsersMixin(StoreBase):
    """Who may use the console, and the record of what they did."""

    def save_user(self, username: str, password_hash: str, role: str) -> None:
        """Add a user, or give an existing one a new password and role (and enable it)."""
        values = {"password_hash": password_hash, "role": role, "disabled": 0}
        with self._tx() as conn:
            exists = conn.execute(
                select(users_table.c.username).where(users_table.c.username == username)
            ).first()
            if exists:
                conn.execute(
                    update(users_table).where(users_table.c.username == username).values(**values)
                )
            else:
                conn.execute(
                    insert(users_table).values(username=username, created_at=utcnow(), **values)
                )

    def user(self, username: str) -> User | None:
        """The user of that name, disabled or not."""
        with self._tx() as conn:
            row = conn.execute(
                select(*_PUBLIC).where(users_table.c.username == username)
            ).mappings()
            found = row.first()
        return User.of(found) if found is not None else None

    def password_hash(self, username: str) -> str | None:
        """The stored scrypt hash of a user's password (for checking a login only)."""
        with self._tx() as conn:
            found: str | None = conn.execute(
                select(users_table.c.password_hash).where(users_table.c.username == username)
            ).scalar()
        return found

    def users(self) -> list[User]:
        with self._tx() as conn:
            rows = conn.execute(select(*_PUBLIC)).mappings()
            return [User.of(r) for r in rows]

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Record what a person did (a login, a lookup, a download): ids, never PHI."""
        with self._tx() as conn:
            write_audit(conn, actor, action, target, detail)
