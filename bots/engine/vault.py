"""Portal sessions kept between runs, encrypted at rest.

A logged-in browser context's storage state (cookies, local storage) is as good as the
password for as long as the portal honours it, so it is never written in clear:

- encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key from the secrets source:
  ``PAYERBOT_SESSION_KEY`` or the owner-only file ``<secrets_dir>/session.key``, created on
  first use; the key never sits next to the states it opens unless the secrets folder does;
- written atomically, owner-only (0600 in a 0700 folder), named by portal and account
  labels from config (never a username);
- bound to the login it came from: a keyed hash of the username is stored inside, so a
  changed username (a new login in the secrets) never reuses the old session;
- thrown away when older than ``max_age_hours``, unreadable (another key, tampering), or
  when the portal refuses the account.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from bots.errors import ConfigurationError
from bots.files import private_dir
from bots.logs import get_logger

if TYPE_CHECKING:
    from bots.settings import Settings
    from bots.store import Store

log = get_logger("payerbot.vault")
KEY_ENV = "PAYERBOT_SESSION_KEY"


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:60] or "_"


def state_path(folder: Path, portal: str, account: str) -> Path:
    """Where one account's kept session lives (config labels, never a username)."""
    return folder / _label(portal) / f"{_label(account)}.state"


def session_key(secrets_dir: Path) -> bytes:
    """The Fernet key: from the environment, else the secrets folder (made on first use)."""
    env = os.environ.get(KEY_ENV)
    if env:
        key = env.strip().encode()
    else:
        path = secrets_dir / "session.key"
        if path.exists():
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigurationError(
                    f"{path} is readable by others: chmod 600 it (and 700 its folder)"
                )
            key = path.read_bytes().strip()
        else:
            private_dir(secrets_dir)
            key = Fernet.generate_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
    try:
        Fernet(key)
    except ValueError:
        raise ConfigurationError(
            f"the session key ({KEY_ENV} or session.key) is not a Fernet key: "
            "32 url-safe base64-encoded bytes (python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())')"
        ) from None
    return key


class SessionVault:
    """Encrypted storage states, one per portal account, in owner-only files.

    The files suit one machine. A fleet of workers on several machines keeps them in the
    shared store instead (``StoreVault``): any worker that takes an account's lease can
    resume the session the last holder left, even if that holder was killed.
    """

    def __init__(self, folder: Path, key: bytes, max_age_hours: float = 12.0) -> None:
        self.folder = folder
        self._fernet = Fernet(key)
        self._hmac_key = hashlib.sha256(b"payerbot-session-owner" + key).digest()
        self.max_age_seconds = max_age_hours * 3600

    # --- where the sealed tokens live (files here; a table in StoreVault) ----------------

    def path(self, portal: str, account: str) -> Path:
        return state_path(self.folder, portal, account)

    def _read(self, portal: str, account: str) -> bytes | None:
        try:
            return self.path(portal, account).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, portal: str, account: str, token: bytes) -> None:
        path = self.path(portal, account)
        private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(token)
        os.replace(tmp, path)

    def discard(self, portal: str, account: str) -> None:
        self.path(portal, account).unlink(missing_ok=True)

    def saved_at(self, portal: str, account: str) -> float | None:
        """When the state was written (file time; the payload stays sealed), or None."""
        try:
            return self.path(portal, account).stat().st_mtime
        except FileNotFoundError:
            return None

    # --- sealing ---------------------------------------------------------------------------

    def _owner(self, username: str) -> str:
        return hmac.new(self._hmac_key, username.encode(), hashlib.sha256).hexdigest()[:32]

    def save(self, portal: str, account: str, username: str, state: dict[str, Any]) -> None:
        blob = json.dumps({"owner": self._owner(username), "saved": time.time(), "state": state})
        self._write(portal, account, self._fernet.encrypt(blob.encode()))

    def load(self, portal: str, account: str, username: str) -> dict[str, Any] | None:
        """The saved state, or None when there is none worth trying (and then it is gone)."""
        token = self._read(portal, account)
        if token is None:
            return None
        try:
            blob = json.loads(self._fernet.decrypt(token))
        except (InvalidToken, ValueError):
            log.warning("session_state.unreadable", portal=portal, account=account)
            self.discard(portal, account)
            return None
        if not hmac.compare_digest(blob.get("owner", ""), self._owner(username)):
            log.info("session_state.other_login", portal=portal, account=account)
            self.discard(portal, account)
            return None
        if time.time() - float(blob.get("saved", 0)) > self.max_age_seconds:
            self.discard(portal, account)
            return None
        state: dict[str, Any] = blob["state"]
        return state


class StoreVault(SessionVault):
    """The same sealed states, kept in the shared store (table ``kept_sessions``) so that a
    fleet's workers on several machines resume each other's sessions. Every machine needs
    the same session key (``PAYERBOT_SESSION_KEY``): a state sealed under another key is
    unreadable and dropped, which costs one login, never a wrong session."""

    def __init__(self, store: Store, key: bytes, max_age_hours: float = 12.0) -> None:
        super().__init__(Path("kept_sessions"), key, max_age_hours)
        self._store = store

    def _read(self, portal: str, account: str) -> bytes | None:
        kept = self._store.kept_session(portal, account)
        return kept.token.encode() if kept and kept.token else None

    def _write(self, portal: str, account: str, token: bytes) -> None:
        self._store.keep_session(portal, account, token.decode())

    def discard(self, portal: str, account: str) -> None:
        self._store.discard_kept_session(portal, account)

    def saved_at(self, portal: str, account: str) -> float | None:
        kept = self._store.kept_session(portal, account)
        return kept.saved_at.timestamp() if kept and kept.saved_at else None


def open_vault(settings: Settings, store: Store) -> SessionVault | None:
    """Where this deployment keeps sessions: owner-only files next to a SQLite store (one
    machine), the shared store itself otherwise (a fleet). None: reuse is off."""
    if not settings.sessions.reuse:
        return None
    key = session_key(settings.resolved_secrets_dir)
    if store.is_sqlite:
        return SessionVault(settings.data_dir / "sessions", key, settings.sessions.max_age_hours)
    return StoreVault(store, key, settings.sessions.max_age_hours)


def session_kept(settings: Settings, store: Store, portal: str, account: str) -> bool:
    """Whether a sealed state waits for the account (without the key: nothing is opened)."""
    if store.is_sqlite:
        return state_path(settings.data_dir / "sessions", portal, account).exists()
    return store.kept_session(portal, account) is not None
