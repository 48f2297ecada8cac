"""Console users: roles, passwords hashed with scrypt (stdlib), never stored or logged;
their sessions, kept in the store by the hash of a random id the signed cookie carries.

Every function here is synchronous (scrypt and the store take time): the console calls them
in a worker thread, never on its event loop."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bots.errors import ConfigurationError
from bots.store import Store, User, utcnow

ROLES = ("specialist", "supervisor")
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY = hash_password(secrets.token_hex(8))  # same work for unknown users: no timing oracle


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigurationError(f"passwords have at least {MIN_PASSWORD} characters")


def add_user(store: Store, username: str, password: str, role: str) -> None:
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)}")
    if (
        not username
        or len(username) > 80
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise ConfigurationError("user names are letters, digits, '.', '-' and '_' (up to 80)")
    _check_password(password)
    store.save_user(username, hash_password(password), role)


def change_password(store: Store, username: str, password: str) -> None:
    """A user's new password; their sessions end (every browser logs in again)."""
    _check_password(password)
    if not store.set_password(username, hash_password(password)):
        raise ConfigurationError(f"there is no console user named {username!r}")
    store.audit("payerbot", "password", f"user:{username}")


def remove_user(store: Store, username: str) -> None:
    """Delete a user; their sessions end at their next request."""
    if not store.remove_user(username):
        raise ConfigurationError(f"there is no console user named {username!r}")
    store.audit("payerbot", "remove", f"user:{username}")


@dataclass(frozen=True)
class LoginCheck:
    """A login's outcome: the user when the password is theirs, and whether the name is a
    user's at all (so a log names a user, never a password typed in the name field)."""

    user: User | None
    known: bool


def check_login(store: Store, username: str, password: str) -> LoginCheck:
    """The same work whether or not the user exists: no timing oracle for user names."""
    user = store.user(username)
    stored = store.password_hash(username)
    if user is None or user.disabled or stored is None:
        verify_password(password, _DUMMY)
        return LoginCheck(None, user is not None)
    if not verify_password(password, stored):
        return LoginCheck(None, True)
    return LoginCheck(user, True)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user, when the password is theirs and they are enabled; None otherwise."""
    return check_login(store, username, password).user


# --- sessions -----------------------------------------------------------------------------------

SESSION_TOUCH = timedelta(seconds=60)
"""How stale a session's ``seen_at`` may grow before a request refreshes it (one write a
minute per active user, not one per request)."""


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(store: Store, user: User, idle: timedelta) -> str:
    """A new session of ``user``: its random id (for the cookie; the store keeps a hash)."""
    session_id = secrets.token_urlsafe(32)
    stale = utcnow() - idle - SESSION_TOUCH
    store.start_console_session(_session_hash(session_id), user.username, stale)
    return session_id


def session_user(store: Store, session_id: str) -> User | None:
    """The enabled user of a live session, or None (ended, revoked, or never was)."""
    if not session_id:
        return None
    key = _session_hash(session_id)
    found = store.console_session(key)
    if found is None:
        return None
    user, seen = found
    if utcnow() - seen > SESSION_TOUCH:
        store.touch_console_session(key)
    return user


def end_session(store: Store, session_id: str) -> None:
    if session_id:
        store.end_console_session(_session_hash(session_id))


def get_user(store: Store, username: str) -> User | None:
    """An enabled user of that name, or None."""
    user = store.user(username)
    return None if user is None or user.disabled else user


def list_users(store: Store) -> list[User]:
    return store.users()
