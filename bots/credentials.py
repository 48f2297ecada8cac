"""Portal credentials from the environment or the secrets folder; never from config files.

Sources, first wins:
1. ``PAYERBOT_CREDENTIALS__<PORTAL>__<ACCOUNT>__{USERNAME,PASSWORD,TOTP_SEED}``
2. files ``<secrets_dir>/<portal>/<account>/{username,password,totp_seed}`` (owner-only),
   one value per file, as container secrets are mounted.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from bots.errors import ConfigurationError
from bots.files import private_dir
from bots.flow import LoginSecrets
from bots.logs import redactor
from bots.settings import Settings

FIELDS = ("username", "password", "totp_seed", "security_answers")


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


def login_secrets(settings: Settings, portal: str, account: str) -> LoginSecrets:
    """The login for one portal account, or a ConfigurationError saying where to put it."""
    env = settings.credentials.get(portal, {}).get(account)
    values = _from_files(settings.resolved_secrets_dir / portal / account)
    if env is not None:
        for name in FIELDS:
            secret = getattr(env, name)
            if secret is not None:
                values[name] = secret.get_secret_value()
    if not values.get("username") or not values.get("password"):
        raise ConfigurationError(
            f"no credentials for portal {portal!r} account {account!r}: set "
            f"PAYERBOT_CREDENTIALS__{portal.upper()}__{account.upper()}__USERNAME / __PASSWORD "
            "(and __TOTP_SEED), or put files in "
            f"{settings.resolved_secrets_dir / portal / account}/"
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
