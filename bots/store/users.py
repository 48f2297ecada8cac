"""Console users (name, role, password hash), their sessions, and the audit log of what
people did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from bots.store.engine import StoreBase, utcnow
from bots.store.rows import User
from bots.store.schema import audit_log, console_sessions
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
        """Add a user, or give an existing one a new password and role (and enable it): the
        sessions of the old password end."""
        values = {"password_hash": password_hash, "role": role, "disabled": 0}
        with self._tx() as conn:
            exists = conn.execute(
                select(users_table.c.username).where(users_table.c.username == username)
            ).first()
            if exists:
                conn.execute(
                    update(users_table).where(users_table.c.username == username).values(**values)
                )
                _end_sessions(conn, username)
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

    def set_password(self, username: str, password_hash: str) -> bool:
        """A user's new password; every session of theirs ends. False: no such user."""
        with self._tx() as conn:
            changed = conn.execute(
                update(users_table)
                .where(users_table.c.username == username)
                .values(password_hash=password_hash)
            ).rowcount
            _end_sessions(conn, username)
        return bool(changed)

    def remove_user(self, username: str) -> bool:
        """Delete a user and end their sessions (the audit log keeps their name). False: no
        such user."""
        with self._tx() as conn:
            _end_sessions(conn, username)
            removed = conn.execute(
                delete(users_table).where(users_table.c.username == username)
            ).rowcount
        return bool(removed)

    # --- console sessions ---------------------------------------------------------------------

    def start_console_session(self, id_hash: str, username: str, stale_before: datetime) -> None:
        """Record a login's session (by the hash of its id); forget sessions idle since
        before ``stale_before`` on the way."""
        now = utcnow()
        with self._tx() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.seen_at < stale_before))
            conn.execute(
                insert(console_sessions).values(
                    id_hash=id_hash, username=username, created_at=now, seen_at=now
                )
            )

    def console_session(self, id_hash: str) -> tuple[User, datetime] | None:
        """The enabled user of a live session and when it was last seen; None when the
        session ended (logout, new password, user removed) or never was."""
        with self._tx() as conn:
            found = (
                conn.execute(
                    select(*_PUBLIC, console_sessions.c.seen_at)
                    .join(users_table, users_table.c.username == console_sessions.c.username)
                    .where(console_sessions.c.id_hash == id_hash, users_table.c.disabled == 0)
                )
                .mappings()
                .first()
            )
        return (User.of(found), found["seen_at"]) if found is not None else None

    def touch_console_session(self, id_hash: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(console_sessions)
                .where(console_sessions.c.id_hash == id_hash)
                .values(seen_at=utcnow())
            )

    def end_console_session(self, id_hash: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.id_hash == id_hash))

    def users(self) -> list[User]:
        with self._tx() as conn:
            rows = conn.execute(select(*_PUBLIC)).mappings()
            return [User.of(r) for r in rows]

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Record what a person did (a login, a lookup, a download): ids, never PHI."""
        with self._tx() as conn:
            write_audit(conn, actor, action, target, detail)


def _end_sessions(conn: Connection, username: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.username == username))
