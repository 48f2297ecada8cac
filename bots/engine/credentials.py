"""Portal credentials from the environment, the secrets folder or the OS keyring; never from
config files.

Sources, per field, first wins:
1. ``PAYERBOT_CREDENTIALS__<PORTAL>__<ACCOUNT>__{USERNAME,PASSWORD,TOTP_SEED,SECURITY_ANSWERS}``
2. files ``<secrets_dir>/<portal>/<account>/{username,password,totp_seed,security_answers}``
   (owner-only), one value per file, as container secrets are mounted.
3. the OS keyring (macOS Keychain, Secret Service, Windows Credential Locker), service
   ``payerbot:<portal>:<account>``, one entry per field name; only when the optional
   ``keyring`` package is installed (``pip install 'payerbot[keyring]'``) and has a usable
   backend. Store there with ``payerbot creds set PORTAL ACCOUNT --keyring``. A locked or
   broken keyring is skipped with a warning; a missing one silently.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bots.errors import ConfigurationError
from bots.files import private_dir
from bots.flowkit.flow import LoginSecrets
from bots.logs import get_logger, redactor
from bots.settings import Settings

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

FIELDS = ("username", "password", "totp_seed", "security_answers")

log = get_logger("payerbot.credentials")


def keyring_service(portal: str, account: str) -> str:
    """The keyring service name one account's fields are stored under (key = field name)."""
    return f"payerbot:{portal}:{account}"


def _keyring_backend() -> KeyringBackend | None:
    """The active keyring backend, or None when keyring is not installed or has no backend.

    Raises keyring.errors.KeyringError if the backend cannot even be set up.
    """
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None  # nothing to ask (fail raises on every call, null forgets everything)
    return backend


def _from_keyring(portal: str, account: str, names: list[str]) -> dict[str, str]:
    """Those of ``names`` the OS keyring holds; {} if it is absent, unusable or locked."""
    if not names:
        return {}
    try:
        from keyring.errors import KeyringError
    except ImportError:
        return {}
    values: dict[str, str] = {}
    try:
        backend = _keyring_backend()
        if backend is None:
            return {}
        service = keyring_service(portal, account)
        for name in names:
            secret = backend.get_password(service, name)
            if secret is not None:
                values[name] = secret
    except KeyringError as exc:  # locked, no backend, backend failed to initialise
        log.warning(
            "keyring unavailable, skipped", portal=portal, account=account, error=type(exc).__name__
        )
        return {}
    return values


def _from_files(folder: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in FIELDS:
        path = folder / name
        if path.is_file():
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigurationError(
                    f"secret file {path} is readable by others: chmod 600 it (and 700 its folder)"
                )
            values[name] = path.read_text(encoding="utf-8").strip()
    return values


def _gather(settings: Settings, portal: str, account: str) -> dict[str, tuple[str, str]]:
    """Each field found, as (source, value): env over files over keyring."""
    found: dict[str, tuple[str, str]] = {
        name: ("files", value)
        for name, value in _from_files(settings.resolved_secrets_dir / portal / account).items()
    }
    env = settings.credentials.get(portal, {}).get(account)
    if env is not None:
        for name in FIELDS:
            secret = getattr(env, name)
            if secret is not None:
                found[name] = ("env", secret.get_secret_value())
    missing = [name for name in FIELDS if name not in found]
    for name, value in _from_keyring(portal, account, missing).items():
        found[name] = ("keyring", value)
    return found


def login_secrets(settings: Settings, portal: str, account: str) -> LoginSecrets:
    """The login for one portal account, or a ConfigurationError saying where to put it."""
    values = {name: value for name, (_, value) in _gather(settings, portal, account).items()}
    if not values.get("username") or not values.get("password"):
        raise ConfigurationError(
            f"no credentials for portal {portal!r} account {account!r}: set "
            f"PAYERBOT_CREDENTIALS__{portal.upper()}__{account.upper()}__USERNAME / __PASSWORD "
            "(and __TOTP_SEED), put files in "
            f"{settings.resolved_secrets_dir / portal / account}/, or store them in the OS "
            f"keyring with `payerbot creds set {portal} {account} --keyring` "
            "(needs the keyring extra: pip install 'payerbot[keyring]')"
        )
    try:
        answers = json.loads(values["security_answers"]) if values.get("security_answers") else {}
    except ValueError:
        raise ConfigurationError(
            f"security_answers for {portal}/{account} is not a JSON object of question: answer"
        ) from None
    # Whatever echoes them (a browser error naming typed text, a portal banner) is masked.
    redactor.add(values["username"], values["password"], values.get("totp_seed"), *answers.values())
    return LoginSecrets(values["username"], values["password"], values.get("totp_seed"), answers)


def credential_sources(settings: Settings, portal: str, account: str) -> dict[str, str]:
    """Which source ("env", "files", "keyring") each non-empty field comes from; never values.

    Raises ConfigurationError, as login would, for a secret file readable by others.
    """
    return {
        name: source
        for name, (source, value) in _gather(settings, portal, account).items()
        if value
    }


def store_secrets(
    settings: Settings,
    portal: str,
    account: str,
    values: dict[str, str],
    *,
    target: Literal["files", "keyring"],
) -> str:
    """Store one account's login (non-empty fields of ``values``) in the secrets folder or the
    OS keyring; return where it went, for the user (never the values)."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown credential fields {unknown}; known: {', '.join(FIELDS)}")
    given = {name: value for name, value in values.items() if value}
    if not given:
        raise ValueError("no credential values to store")
    if given.get("security_answers"):
        try:
            answers = json.loads(given["security_answers"])
        except ValueError:
            answers = None
        if not isinstance(answers, dict):
            raise ConfigurationError(
                f"security_answers for {portal}/{account} must be a JSON object of question: answer"
            )
    if target == "files":
        where = f"files in {write_secret_files(settings, portal, account, given)}/"
        above = {"env"}
    elif target == "keyring":
        where = _store_in_keyring(portal, account, given)
        above = {"env", "files"}
    else:
        raise ValueError(f"unknown target {target!r}: files or keyring")
    sources = credential_sources(settings, portal, account)
    shadowed = sorted(name for name in given if sources.get(name) in above)
    if shadowed:
        where += "; note: " + ", ".join(
            f"{name} is also set in {sources[name]}, which takes precedence" for name in shadowed
        )
    return where


def _store_in_keyring(portal: str, account: str, values: dict[str, str]) -> str:
    try:
        from keyring.errors import KeyringError
    except ImportError:
        raise ConfigurationError(
            "the keyring package is not installed: pip install 'payerbot[keyring]', "
            "or store the credentials as files instead"
        ) from None
    service = keyring_service(portal, account)
    try:
        backend = _keyring_backend()
        if backend is None:
            raise ConfigurationError(
                "no usable OS keyring backend (none found, or keyring is disabled): install or "
                "unlock one (Secret Service, macOS Keychain, Windows Credential Locker), "
                "or store the credentials as files instead"
            )
        for name, value in values.items():
            backend.set_password(service, name, value)
    except KeyringError as exc:
        raise ConfigurationError(
            f"could not store credentials in the OS keyring ({type(exc).__name__}): unlock it, "
            "or store the credentials as files instead"
        ) from None
    return f"OS keyring ({backend.name}), service {service!r}"


def write_secret_files(
    settings: Settings, portal: str, account: str, values: dict[str, Any]
) -> Path:
    """Store one account's login in the secrets folder with owner-only permissions."""
    folder = private_dir(settings.resolved_secrets_dir / portal / account)
    for parent in (settings.resolved_secrets_dir, folder.parent):
        os.chmod(parent, 0o700)
    for name in FIELDS:
        if values.get(name):
            text = values[name] if isinstance(values[name], str) else json.dumps(values[name])
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(path, 0o600)
    return folder
