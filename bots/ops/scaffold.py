"""`payerbot new-flow NAME`: a new portal's flow, its config entry and its test module, each
with TODOs that say what to fill in (README, "Adding a payer portal").

The templates live beside this module: ``scaffold_flow.FLOW`` (flows/NAME.py: login with an
optional one-time code, resume, logout, landmarks, options, both lookups) and
``scaffold_test.TEST`` (tests/flows/test_NAME.py: both lookups and a kept-session resume,
skipped with the reason where the portal or its test login is not there)."""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

from bots.errors import ConfigurationError
from bots.ops.scaffold_flow import FLOW
from bots.ops.scaffold_test import TEST

CONFIG = """
# Added by `payerbot new-flow __NAME__`: TODO fill in, then add the payers it answers for.
[portals.__NAME__]
title = __TITLE_Q__
base_url = "__BASE_URL__"
accounts = ["main"]              # TODO: the portal's accounts (`payerbot creds set __NAME__ main`)
max_sessions = 1                 # TODO: what the portal tolerates; never more than accounts
# maintenance_windows = ["Sun 02:00-04:00"]   # TODO: as the portal announces them

# TODO(options): the choices the flow's Options model (flows/__NAME__.py) takes, e.g. the
# practice location to pick after sign-in; checked when the flow is built.
[portals.__NAME__.options]
# practice = "TODO"

# [payers.TODO]
# name = "TODO"
# portal = "__NAME__"
# aliases = ["TODO"]
"""


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Flow"


def _render(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template


def new_flow(name: str, root: Path, base_url: str, title: str | None = None) -> list[Path]:
    """Write flows/NAME.py, tests/flows/test_NAME.py and a config block under ``root``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", name) or keyword.iskeyword(name):
        raise ConfigurationError(
            "a flow name is 2-40 lowercase letters, digits or _ and starts with a letter"
        )
    if not re.fullmatch(r"https?://[^\s\"'\\]+", base_url):
        raise ConfigurationError("the base URL is an address such as https://portal.example")
    flow_path = root / "flows" / f"{name}.py"
    test_path = root / "tests" / "flows" / f"test_{name}.py"
    for path in (flow_path, test_path):
        if path.exists():
            raise ConfigurationError(f"{path} exists already: not overwritten")
    config = root / "config" / "portals.toml"
    if config.exists() and f"[portals.{name}]" in config.read_text(encoding="utf-8"):
        raise ConfigurationError(f"config/portals.toml has a [portals.{name}] already")
    title = " ".join((title or f"{name} (TODO: the portal's name)").split())
    values = {
        "NAME": name,
        "CLS": _class_name(name),
        "TITLE_Q": json.dumps(title),  # a string literal in Python and in TOML alike
        "TITLE": title.replace('"""', "'''").replace("\\", "/"),
        "BASE_URL": base_url.rstrip("/"),
        "ENV": f"PAYERBOT_TEST_{name.upper()}",
    }
    for package in (root / "flows", root / "tests", root / "tests" / "flows"):
        package.mkdir(parents=True, exist_ok=True)  # packages, as in this repository
        (package / "__init__.py").touch(exist_ok=True)
    flow_path.write_text(_render(FLOW, values), encoding="utf-8")
    test_path.write_text(_render(TEST, values), encoding="utf-8")
    config.parent.mkdir(parents=True, exist_ok=True)
    with config.open("a", encoding="utf-8") as fh:
        fh.write(_render(CONFIG, values))
    return [flow_path, test_path, config]
