"""Kept portal sessions: encrypted, owner-only, bound to the login, thrown away when stale."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from bots.engine.vault import KEY_ENV, SessionVault, session_key
from bots.errors import ConfigurationError

STATE = {
    "cookies": [{"name": "SID", "value": "cookie-value-7f3a9c", "domain": "127.0.0.1"}],
    "origins": [],
}


@pytest.fixture
def vault(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    return SessionVault(tmp_path / "sessions", session_key(tmp_path / "secrets"))


def test_saved_state_is_encrypted_owner_only_and_reads_back(vault, tmp_path):
    vault.save("payerhub", "main", "clinic.main", STATE)
    path = vault.path("payerhub", "main")
    raw = path.read_bytes()
    assert b"cookie-value-7f3a9c" not in raw and b"SID" not in raw and b"clinic" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key_file = tmp_path / "secrets" / "session.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert vault.load("payerhub", "main", "clinic.main") == STATE


def test_another_login_never_reuses_the_session(vault):
    vault.save("payerhub", "main", "clinic.main", STATE)
    assert vault.load("payerhub", "main", "clinic.other") is None
    assert not vault.path("payerhub", "main").exists(), "a state of another login is dropped"


def test_a_state_sealed_with_another_key_or_tampered_is_dropped(vault, tmp_path):
    other = SessionVault(tmp_path / "sessions", Fernet.generate_key())
    other.save("payerhub", "main", "clinic.main", STATE)
    assert vault.load("payerhub", "main", "clinic.main") is None
    vault.save("payerhub", "main", "clinic.main", STATE)
    path = vault.path("payerhub", "main")
    raw = bytearray(path.read_bytes())
    raw[40] ^= 1
    path.write_bytes(bytes(raw))
    assert vault.load("payerhub", "main", "clinic.main") is None


def test_a_state_older_than_the_maximum_age_is_not_tried(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = session_key(tmp_path / "secrets")
    SessionVault(tmp_path / "s", key).save("payerhub", "main", "u", STATE)
    assert (
        SessionVault(tmp_path / "s", key, max_age_hours=1e-9).load("payerhub", "main", "u") is None
    )


def test_file_names_are_labels_never_paths(vault):
    path = vault.path("../../etc", "main/../x")
    assert path.parent.parent == vault.folder and ".." not in path.relative_to(vault.folder).parts


def test_key_from_the_environment_wins_and_a_bad_key_is_a_clear_error(tmp_path, monkeypatch):
    key = Fernet.generate_key()
    monkeypatch.setenv(KEY_ENV, key.decode())
    assert session_key(tmp_path / "secrets") == key
    assert not (tmp_path / "secrets" / "session.key").exists()
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(ConfigurationError, match="not a Fernet key"):
        session_key(tmp_path / "secrets")


def test_a_key_file_readable_by_others_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    session_key(tmp_path / "secrets")
    os.chmod(tmp_path / "secrets" / "session.key", 0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        session_key(tmp_path / "secrets")


def test_a_fleet_keeps_sealed_sessions_in_the_shared_store(store_url, tmp_path, monkeypatch):
    """Workers on several machines resume each other's sessions from the store; the row
    holds only the sealed token, and a worker with another key drops it (one login)."""
    from sqlalchemy import select

    from bots.engine.vault import StoreVault
    from bots.store import Store
    from bots.store.schema import kept_sessions

    monkeypatch.delenv(KEY_ENV, raising=False)
    key = session_key(tmp_path / "secrets")
    store = Store(store_url)
    try:
        one, two = StoreVault(store, key), StoreVault(store, key)
        one.save("payerhub", "main", "clinic.main", STATE)
        with store.engine.begin() as conn:  # the raw row: only the sealed token
            token = conn.execute(select(kept_sessions.c.token)).scalar_one()
        assert "cookie-value-7f3a9c" not in token and "clinic" not in token
        assert two.load("payerhub", "main", "clinic.main") == STATE
        assert two.saved_at("payerhub", "main") is not None
        assert (
            StoreVault(store, Fernet.generate_key()).load("payerhub", "main", "clinic.main") is None
        )
        assert one.load("payerhub", "main", "clinic.main") is None, "unreadable: dropped"
        one.save("payerhub", "main", "clinic.main", STATE)
        one.discard("payerhub", "main")
        assert two.saved_at("payerhub", "main") is None
    finally:
        store.close()
