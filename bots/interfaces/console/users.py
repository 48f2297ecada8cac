"""Console users: roles, passwords hashed with scrypt (stdlib), never stored or logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from bots.errors import ConfigurationError
from bots.store import Store, User

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


def add_user(store: Store, username: str, password: str, role: str) -> None:
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)}")
    if (
        not username
        or len(username) > 80
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise ConfigurationError("user names are letters, digits, '.', '-' and '_' (up to 80)")
    if len(password) < MIN_PASSWORD:
        raise ConfigurationError(f"passwords have at least {MIN_PASSWORD} characters")
    store.save_user(username, hash_password(password), role)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user, when the password is theirs and they are enabled; None otherwise (the
    same work either way: no timing oracle for user names)."""
    user = store.user(username)
    stored = store.password_hash(username)
    if user is None or user.disabled or stored is None:
        verify_password(password, _DUMMY)
        return None
    if not verify_password(password, stored):
        return None
    return user


def get_user(store: Store, username: str) -> User | None:
    """An enabled user of that name, or None."""
    user = store.user(username)
    return None if user is None or user.disabled else user


def list_users(store: Store) -> list[User]:
    return store.users()
