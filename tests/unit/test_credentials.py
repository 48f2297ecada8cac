"""Credentials: env over files over the OS keyring; the keyring optional and never fatal."""

from __future__ import annotations

import json
import os
import sys

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringError, KeyringLocked
from pydantic import SecretStr
from structlog.testing import capture_logs

from bots import logs
from bots.engine import credentials
from bots.engine.credentials import (
    credential_sources,
    login_secrets,
    store_secrets,
    write_secret_files,
)
from bots.errors import ConfigurationError
from bots.settings import AccountCredentials, load_settings

PORTAL, ACCOUNT = "payerhub", "main"
SERVICE = f"payerbot:{PORTAL}:{ACCOUNT}"

# Distinctive synthetic values: any of them showing up in a log or a message is a leak.
ENV_USER, ENV_PW = "envuser-Qz7kW", "envpass-Zx93-Lmq!"
FILE_USER, FILE_PW = "fileuser-Hj4pR", "filepass-Vb71-Nqe!"
RING_USER, RING_PW, RING_TOTP = "ringuser-Tk2mS", "ringpass-Wq58-Ptz!", "JBSWY3DPEHPK3PXP"


class MemoryKeyring(KeyringBackend):
    """A keyring backend over a dict; ``error`` set makes every call raise it."""

    priority = 1  # type: ignore[assignment]  # keyring declares it a classproperty

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.error: KeyringError | None = None
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        self.entries.pop((service, username), None)


@pytest.fixture
def ring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _clean_redactor():
    logs.redactor.clear()
    yield
    logs.redactor.clear()


def settings_for(tmp_path, **env_fields):
    creds = {PORTAL: {ACCOUNT: AccountCredentials(**env_fields)}} if env_fields else {}
    return load_settings(data_dir=tmp_path, credentials=creds)


def no_keyring(monkeypatch):
    """As if the keyring package were not installed: importing it raises ImportError."""
    for name in [m for m in sys.modules if m == "keyring" or m.startswith("keyring.")]:
        monkeypatch.setitem(sys.modules, name, None)


def test_precedence_env_over_files_over_keyring(tmp_path, ring):
    settings = settings_for(tmp_path, username=SecretStr(ENV_USER))
    write_secret_files(settings, PORTAL, ACCOUNT, {"username": FILE_USER, "password": FILE_PW})
    ring.entries.update(
        {
            (SERVICE, "username"): RING_USER,
            (SERVICE, "password"): RING_PW,
            (SERVICE, "totp_seed"): RING_TOTP,
        }
    )
    secrets = login_secrets(settings, PORTAL, ACCOUNT)
    assert (secrets.username, secrets.password, secrets.totp_seed) == (ENV_USER, FILE_PW, RING_TOTP)
    assert credential_sources(settings, PORTAL, ACCOUNT) == {
        "username": "env",
        "password": "files",
        "totp_seed": "keyring",
    }


def test_keyring_only(tmp_path, ring):
    settings = settings_for(tmp_path)
    answers = {"First pet?": "ringanswer-Pq8"}
    ring.entries.update(
        {
            (SERVICE, "username"): RING_USER,
            (SERVICE, "password"): RING_PW,
            (SERVICE, "security_answers"): json.dumps(answers),
        }
    )
    secrets = login_secrets(settings, PORTAL, ACCOUNT)
    assert (secrets.username, secrets.password, secrets.totp_seed) == (RING_USER, RING_PW, None)
    assert secrets.security_answers == answers
    # Another account's entries are not this one's.
    with pytest.raises(ConfigurationError, match="no credentials"):
        login_secrets(settings, PORTAL, "other")


def test_keyring_not_asked_when_env_and_files_have_everything(tmp_path, ring):
    settings = settings_for(tmp_path, username=SecretStr(ENV_USER), password=SecretStr(ENV_PW))
    write_secret_files(
        settings,
        PORTAL,
        ACCOUNT,
        {"totp_seed": RING_TOTP, "security_answers": {"q": "fileanswer-Kd3"}},
    )
    login_secrets(settings, PORTAL, ACCOUNT)
    assert ring.calls == 0


@pytest.mark.parametrize("error", [KeyringLocked("locked"), KeyringError("backend broke")])
def test_failing_keyring_is_skipped_with_a_warning_without_values(tmp_path, ring, error):
    ring.entries[(SERVICE, "password")] = RING_PW
    ring.error = error
    settings = settings_for(tmp_path, username=SecretStr(ENV_USER))
    with capture_logs() as captured, pytest.raises(ConfigurationError) as raised:
        login_secrets(settings, PORTAL, ACCOUNT)
    message = str(raised.value)
    assert "no credentials" in message and "--keyring" in message
    assert ENV_USER not in message and RING_PW not in message
    warnings = [e for e in captured if e["log_level"] == "warning"]
    assert len(warnings) == 1  # one per lookup, not one per field
    assert warnings[0]["portal"] == PORTAL and warnings[0]["account"] == ACCOUNT
    text = repr(captured)
    for value in (ENV_USER, RING_PW):
        assert value not in text


def test_failing_keyring_does_not_hide_files(tmp_path, ring):
    ring.error = KeyringLocked("locked")
    settings = settings_for(tmp_path)
    write_secret_files(settings, PORTAL, ACCOUNT, {"username": FILE_USER, "password": FILE_PW})
    with capture_logs() as captured:
        secrets = login_secrets(settings, PORTAL, ACCOUNT)
    assert (secrets.username, secrets.password) == (FILE_USER, FILE_PW)
    assert [e["log_level"] for e in captured] == ["warning"]  # totp_seed was looked for


def test_no_backend_is_skipped_silently(tmp_path):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        settings = settings_for(tmp_path)
        write_secret_files(settings, PORTAL, ACCOUNT, {"username": FILE_USER, "password": FILE_PW})
        with capture_logs() as captured:
            assert login_secrets(settings, PORTAL, ACCOUNT).password == FILE_PW
            with pytest.raises(ConfigurationError, match="no usable OS keyring backend"):
                store_secrets(settings, PORTAL, ACCOUNT, {"password": RING_PW}, target="keyring")
        assert captured == []
    finally:
        keyring.set_keyring(previous)


def test_keyring_not_installed_files_still_work(tmp_path, monkeypatch):
    settings = settings_for(tmp_path)
    write_secret_files(settings, PORTAL, ACCOUNT, {"username": FILE_USER, "password": FILE_PW})
    no_keyring(monkeypatch)
    with pytest.raises(ImportError):
        import keyring as _  # noqa: F401 - imported to prove the patch works
    with capture_logs() as captured:
        secrets = login_secrets(settings, PORTAL, ACCOUNT)
        assert credential_sources(settings, PORTAL, ACCOUNT) == {
            "username": "files",
            "password": "files",
        }
    assert (secrets.username, secrets.password) == (FILE_USER, FILE_PW)
    assert captured == []
    with pytest.raises(ConfigurationError, match="keyring package is not installed"):
        store_secrets(settings, PORTAL, ACCOUNT, {"password": RING_PW}, target="keyring")


def test_store_in_keyring_then_login_reads_it(tmp_path, ring):
    settings = settings_for(tmp_path)
    where = store_secrets(
        settings,
        PORTAL,
        ACCOUNT,
        {"username": RING_USER, "password": RING_PW, "totp_seed": RING_TOTP},
        target="keyring",
    )
    assert ring.entries[(SERVICE, "password")] == RING_PW
    assert SERVICE in where and "keyring" in where
    for value in (RING_USER, RING_PW, RING_TOTP):
        assert value not in where
    assert not (settings.resolved_secrets_dir / PORTAL / ACCOUNT).exists()  # nothing on disk
    secrets = login_secrets(settings, PORTAL, ACCOUNT)
    assert (secrets.username, secrets.password, secrets.totp_seed) == (
        RING_USER,
        RING_PW,
        RING_TOTP,
    )


def test_store_in_files(tmp_path, ring):
    settings = settings_for(tmp_path)
    where = store_secrets(
        settings, PORTAL, ACCOUNT, {"username": FILE_USER, "password": FILE_PW}, target="files"
    )
    folder = settings.resolved_secrets_dir / PORTAL / ACCOUNT
    assert str(folder) in where and FILE_PW not in where
    assert (folder / "password").read_text() == FILE_PW
    assert os.stat(folder / "password").st_mode & 0o777 == 0o600
    assert ring.entries == {}
    assert login_secrets(settings, PORTAL, ACCOUNT).password == FILE_PW


def test_store_says_when_a_higher_source_shadows_it(tmp_path, ring):
    settings = settings_for(tmp_path, password=SecretStr(ENV_PW))
    where = store_secrets(
        settings, PORTAL, ACCOUNT, {"username": RING_USER, "password": RING_PW}, target="keyring"
    )
    assert "password is also set in env" in where and "username" not in where.split("note:")[1]
    assert ENV_PW not in where and RING_PW not in where


def test_store_rejects_bad_input(tmp_path, ring):
    settings = settings_for(tmp_path)
    with pytest.raises(ValueError, match="unknown credential fields"):
        store_secrets(settings, PORTAL, ACCOUNT, {"passwd": RING_PW}, target="keyring")
    with pytest.raises(ValueError, match="no credential values"):
        store_secrets(settings, PORTAL, ACCOUNT, {"password": ""}, target="keyring")
    with pytest.raises(ConfigurationError, match="JSON object"):
        store_secrets(settings, PORTAL, ACCOUNT, {"security_answers": "[1]"}, target="keyring")
    assert ring.entries == {}


def test_store_in_failing_keyring_is_a_configuration_error(tmp_path, ring):
    ring.error = KeyringLocked("locked")
    with pytest.raises(ConfigurationError, match="KeyringLocked") as raised:
        store_secrets(
            settings_for(tmp_path), PORTAL, ACCOUNT, {"password": RING_PW}, target="keyring"
        )
    assert RING_PW not in str(raised.value)


def test_world_readable_file_is_refused(tmp_path, ring):
    settings = settings_for(tmp_path)
    folder = write_secret_files(
        settings, PORTAL, ACCOUNT, {"username": FILE_USER, "password": FILE_PW}
    )
    os.chmod(folder / "password", 0o644)
    ring.entries[(SERVICE, "password")] = RING_PW  # the keyring does not paper over it
    with pytest.raises(ConfigurationError, match="readable by others"):
        login_secrets(settings, PORTAL, ACCOUNT)
    with pytest.raises(ConfigurationError, match="readable by others"):
        credential_sources(settings, PORTAL, ACCOUNT)


def test_credential_sources_never_contain_values(tmp_path, ring):
    settings = settings_for(tmp_path, username=SecretStr(ENV_USER))
    write_secret_files(settings, PORTAL, ACCOUNT, {"password": FILE_PW})
    ring.entries[(SERVICE, "totp_seed")] = RING_TOTP
    ring.entries[(SERVICE, "security_answers")] = ""  # empty counts as absent
    sources = credential_sources(settings, PORTAL, ACCOUNT)
    assert sources == {"username": "env", "password": "files", "totp_seed": "keyring"}
    text = repr(sources)
    for value in (ENV_USER, FILE_PW, RING_TOTP):
        assert value not in text
    assert set(sources.values()) <= {"env", "files", "keyring"}
    assert credential_sources(settings, PORTAL, "other") == {}


@pytest.mark.parametrize("source", ["env", "files", "keyring"])
def test_loaded_password_is_registered_with_the_redactor(tmp_path, ring, source):
    user, pw = {"env": (ENV_USER, ENV_PW), "files": (FILE_USER, FILE_PW)}.get(
        source, (RING_USER, RING_PW)
    )
    if source == "env":
        settings = settings_for(tmp_path, username=SecretStr(user), password=SecretStr(pw))
    else:
        settings = settings_for(tmp_path)
        store_secrets(settings, PORTAL, ACCOUNT, {"username": user, "password": pw}, target=source)
    assert pw in logs.redactor.text(f"x {pw} y")  # storing alone does not register it
    login_secrets(settings, PORTAL, ACCOUNT)
    masked = logs.redactor.text(f"x {pw} y")
    assert pw not in masked and logs.REDACTED in masked


def test_service_name():
    assert credentials.keyring_service("medicaidportal", "night") == "payerbot:medicaidportal:night"
