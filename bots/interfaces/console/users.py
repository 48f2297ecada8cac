"""Console users: roles, passwords hashed with scrypt (stdlib), never stored or logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import insert, select, update

from bots.errors import ConfigurationError
from bots.store import Store, utcnow
from bots.store.schema import users

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
    with store.transaction() as conn:
        exists = conn.execute(select(users.c.username).where(users.c.username == username)).first()
        values = {"password_hash": hash_password(password), "role": role, "disabled": 0}
        if exists:
            conn.execute(update(users).where(users.c.username == username).values(**values))
        else:
            conn.execute(insert(users).values(username=username, created_at=utcnow(), **values))


def authenticate(store: Store, username: str, password: str) -> dict[str, Any] | None:
    with store.transaction() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
    if row is None or row["disabled"]:
        verify_password(password, _DUMMY)
        return None
    if not verify_password(password, row["password_hash"]):
        return None
    return {"username": row["username"], "role": row["role"]}


def get_user(store: Store, username: str) -> dict[str, Any] | None:
    with store.transaction() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
    if row is None or row["disabled"]:
        return None
    return {"username": row["username"], "role": row["role"]}


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.transaction() as conn:
        rows = conn.execute(
            select(users.c.username, users.c.role, users.c.created_at, users.c.disabled)
        ).mappings()
        return [dict(r) for r in rows]
