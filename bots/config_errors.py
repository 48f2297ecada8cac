"""Configuration mistakes said in one line: the file and line of a TOML syntax error, an
unknown key with the closest valid one, a wrong type naming the key and what it takes.

``load_settings`` runs ``check_files`` and ``check_environment`` before pydantic sees
anything; the CLI turns a pydantic ``ValidationError`` into one sentence with ``explain``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bots.errors import ConfigurationError

ENV_PREFIX = "PAYERBOT_"
NOT_SETTINGS = ("CONFIG_DIR", "SESSION_KEY", "CONSOLE_SECRET", "TEST_", "DOCS_", "BENCH_")
"""PAYERBOT_* environment variables read elsewhere (not settings): never reported."""

_TYPES = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "decimal_parsing": "a number",
    "decimal_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text in quotes",
    "list_type": 'a list, e.g. ["a", "b"]',
    "dict_type": "a table of settings",
    "model_type": "a table of settings",
    "model_attributes_type": "a table of settings",
    "path_type": "a path in quotes",
}


def check_files(files: Iterable[Path], settings_model: type[BaseModel]) -> dict[str, Any]:
    """Read each TOML file (a syntax error names the file and line) and refuse unknown keys
    of ``settings_model``; returns the merged data (the later file wins)."""
    merged: dict[str, Any] = {}
    for path in files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: {_toml_sentence(str(exc))}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
        for where in unknown_keys(data, settings_model):
            raise ConfigurationError(f"{path}: {where}")
        merged.update(data)
    return merged


def _toml_sentence(message: str) -> str:
    """tomllib's "Expected '=' after a key ... (at line 3, column 9)" -> line first."""
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    what = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message).strip()
    what = what[:1].lower() + what[1:]
    if found is None:
        return f"TOML syntax error at the end of the file: {what}"
    return f"TOML syntax error on line {found[1]} (column {found[2]}): {what}"


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel], path: str = "") -> list[str]:
    """One sentence per key the model does not know, with the closest valid key."""
    found: list[str] = []
    fields = model.model_fields
    for key, value in data.items():
        name = f"{path}{key}"
        if key not in fields:
            found.append(_unknown(name, key, fields))
            continue
        found += _nested(value, fields[key].annotation, f"{name}.")
    return found


def _nested(value: Any, annotation: Any, path: str) -> list[str]:
    """Walk into a table whose type is a model, or a dict of models (portals, jobs)."""
    if not isinstance(value, Mapping):
        return []
    target = _table_type(annotation)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return unknown_keys(value, target, path)
    if typing.get_origin(target) is dict:
        _, inner = typing.get_args(target)
        return [p for k, v in value.items() for p in _nested(v, inner, f"{path}{k}.")]
    return []


def _table_type(annotation: Any) -> Any:
    """The model or dict type inside ``X | None``; None for anything else."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if _table_type(arg) is not None:
                return _table_type(arg)
        return None
    if typing.get_origin(annotation) is dict:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unknown(name: str, key: str, known: Iterable[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {prefix}{close[0]}?" if close else ""
    return f"{name}: unknown setting{hint}"


def check_environment(environ: Mapping[str, str], settings_model: type[BaseModel]) -> None:
    """PAYERBOT_* variables that name no setting (``__`` nests): refused like a TOML key.
    A single-word variable is only refused when it is a near miss of a setting, since other
    programs' PAYERBOT_* variables may live in the same environment."""
    fields = settings_model.model_fields
    for variable in sorted(environ):
        if not variable.upper().startswith(ENV_PREFIX):
            continue
        rest = variable[len(ENV_PREFIX) :]
        if rest.upper().startswith(NOT_SETTINGS) or not rest:
            continue
        parts = [p.lower() for p in rest.split("__")]
        if parts[0] not in fields:
            close = difflib.get_close_matches(parts[0], list(fields), cutoff=0.8)
            if len(parts) > 1 or close:
                hint = f"; did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""
                raise ConfigurationError(f"{variable}: unknown setting{hint}")
            continue
        problem = _env_path(parts, settings_model)
        if problem is not None:
            raise ConfigurationError(f"{variable}: {problem}")


def _env_path(parts: list[str], model: type[BaseModel]) -> str | None:
    """Follow a variable's ``__`` parts through the models; a sentence when one is unknown."""
    annotation: Any = model
    walked: list[str] = []
    for part in parts:
        target = _table_type(annotation)
        if isinstance(target, type) and issubclass(target, BaseModel):
            if part not in target.model_fields:
                done = "__".join(walked).upper()
                prefix = f"{ENV_PREFIX}{done}__" if done else ENV_PREFIX
                close = difflib.get_close_matches(part, list(target.model_fields), cutoff=0.6)
                hint = f"; did you mean {prefix}{close[0].upper()}?" if close else ""
                return f"unknown setting{hint}"
            annotation = target.model_fields[part].annotation
        elif typing.get_origin(target) is dict:
            annotation = typing.get_args(target)[1]  # any name: a portal, a job, an account
        else:
            return None  # a plain value (a list given as JSON, a path): pydantic checks it
        walked.append(part)
    return None


def explain(exc: ValidationError, environ: Mapping[str, str] | None = None) -> str:
    """A pydantic error about the settings as one sentence: the key (and the PAYERBOT_*
    variable that set it, when one did), then what it takes."""
    error = exc.errors(include_url=False)[0]
    key = ".".join(str(p) for p in error["loc"]) or "settings"
    variable = ENV_PREFIX + "__".join(str(p).upper() for p in error["loc"])
    if environ is not None and variable in {name.upper() for name in environ}:
        key = f"{variable} ({key})"
    kind = error["type"]
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    if kind in _TYPES:
        return f"{key}: expected {_TYPES[kind]}{more}"
    if kind == "missing":
        return f"{key}: required setting is missing{more}"
    if kind == "literal_error":
        return f"{key}: expected one of {error.get('ctx', {}).get('expected', '?')}{more}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        bound = next(iter(error.get("ctx", {}).values()), "?")
        return f"{key}: expected a number {words} {bound}{more}"
    if kind == "extra_forbidden":
        return f"{key}: unknown setting{more}"
    if kind == "too_short":
        return f"{key}: needs at least one entry{more}"
    message = re.sub(r"^(Value|Assertion) error, ", "", str(error["msg"]))
    return f"{key}: {message}{more}"
