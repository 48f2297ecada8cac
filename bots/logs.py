"""Structured JSON logs (structlog) with PHI and secrets redacted by key and by value.

Every record, ours or a library's (SQLAlchemy, uvicorn, asyncio), passes through one
processor chain ending in the redactor, then goes to the run's JSON-lines file and,
briefly, to stderr. Tracebacks are rendered as data without local variables.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from bots.files import private_dir
from bots.models import PHI_FIELDS

REDACTED = "[REDACTED]"

SECRET_KEYS: frozenset[str] = frozenset(
    {
        "password",
        "totp_seed",
        "totp",
        "code",
        "secret",
        "token",
        "cookie",
        "cookies",
        "authorization",
        "username",
        "storage_state",
        "set-cookie",
    }
)
_SENSITIVE_KEYS = {k.lower() for k in PHI_FIELDS | SECRET_KEYS}


class Redactor:
    """Masks values registered as sensitive (worklist PHI, credentials) wherever they appear.

    Values are kept in a character trie and compiled, on first use after a change, into
    one regex whose alternatives share prefixes: matching stays fast with tens of
    thousands of values (a night's worklists), and adding a value costs no compile.
    A value also matches when a portal prints it with spaces or dashes inside.
    """

    def __init__(self) -> None:
        self._trie: dict[str, Any] = {}
        self._count = 0
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False
        self._lock = threading.Lock()

    def add(self, *values: object) -> None:
        """Register PHI or secret values; dates are registered in the formats portals print."""
        with self._lock:
            for value in values:
                for text in _variants(value):
                    key = _SEPARATORS.sub("", text.upper())
                    if len(key) < 3:
                        continue
                    node = self._trie
                    for ch in key:
                        node = node.setdefault(ch, {})
                    if "" not in node:
                        node[""] = True
                        self._count += 1
                        self._dirty = True

    def clear(self) -> None:
        with self._lock:
            self._trie, self._count, self._pattern, self._dirty = {}, 0, None, False

    def _compiled(self) -> re.Pattern[str] | None:
        if self._dirty:
            with self._lock:
                if self._dirty:
                    body = _trie_regex(self._trie)
                    self._pattern = re.compile(body, re.IGNORECASE) if body else None
                    self._dirty = False
        return self._pattern

    def text(self, text: str) -> str:
        pattern = self._compiled()
        return pattern.sub(REDACTED, text) if pattern else text

    def scrub(self, value: Any, key: str | None = None, *, by_key: bool = True) -> Any:
        if (
            by_key
            and key is not None
            and key.lower() in _SENSITIVE_KEYS
            and value not in (None, "")
        ):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        # Inside a rendered traceback, keys such as "name" are code, not people: values only.
        by_key = by_key and key != "exception"
        if isinstance(value, Mapping):
            return {k: self.scrub(v, str(k), by_key=by_key) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(v, key, by_key=by_key) for v in value]
        return value

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        return {k: self.scrub(v, k) for k, v in event_dict.items()}


_SEPARATORS = re.compile(r"[\s\-]")
_GAP = r"[\s\-]?"


def _trie_regex(node: dict[str, Any]) -> str:
    """The regex continuing from a trie node; a space or dash may stand between characters."""
    branches = []
    for ch in sorted((k for k in node if k), reverse=True):
        child = node[ch]
        rest = _trie_regex(child)
        if not rest:
            tail = ""
        elif "" in child:  # a value ends here and a longer one goes on: prefer the longer
            tail = f"(?:{_GAP}{rest})?"
        else:
            tail = f"{_GAP}{rest}"
        branches.append(re.escape(ch) + tail)
    if len(branches) <= 1:
        return "".join(branches)
    return "(?:" + "|".join(branches) + ")"


def _variants(value: object) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, date):
        return (value.isoformat(), value.strftime("%m/%d/%Y"), value.strftime("%m%d%Y"))
    text = str(value).strip()
    out = {text}
    compact = re.sub(r"[\s\-]", "", text)
    out.add(compact)
    return out


redactor = Redactor()
"""The process-wide redactor; the runner registers each item's PHI before working it."""

_FILE_HANDLERS: dict[Path, logging.Handler] = {}
_CONFIGURED = False


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def _final_processors(*, structured_tracebacks: bool) -> list[Processor]:
    exceptions: Processor = (
        structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if structured_tracebacks
        else structlog.processors.format_exc_info  # plain text, never locals
    )
    return [exceptions, structlog.processors.UnicodeDecoder(), redactor]


def configure(level: str = "INFO", console_level: str = "WARNING") -> None:
    """Route structlog and stdlib logging through the redacting chain; console to stderr."""
    global _CONFIGURED
    _CONFIGURED = True
    _install_record_factory()
    structlog.configure(
        processors=[
            *_shared_processors(),
            redactor,  # before any handler (pytest's capture included) sees the event
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_payerbot_console", False):
            root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_final_processors(structured_tracebacks=False),
                # plain tracebacks: a rich one prints local variables (PHI, secrets)
                structlog.dev.ConsoleRenderer(
                    colors=False, exception_formatter=structlog.dev.plain_traceback
                ),
            ],
        )
    )
    console._payerbot_console = True  # type: ignore[attr-defined]  # our marker on a stdlib handler
    root.addHandler(console)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel("WARNING")


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Scrub library records at birth, so no handler anywhere can print PHI from them."""
    record = _base_factory(*args, **kwargs)
    if isinstance(record.msg, str):
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = record.msg
        record.msg, record.args = redactor.text(message), None
    if record.exc_info and record.exc_info[1] is not None:
        rendered = "".join(traceback.format_exception(*record.exc_info))
        record.exc_text = redactor.text(rendered)
    return record


def _install_record_factory() -> None:
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


def open_run_log(path: Path) -> Path:
    """Start writing every record, as JSON lines, to ``path`` (owner-only permissions)."""
    if not _CONFIGURED:
        configure()
    private_dir(path.parent)
    path.touch(mode=0o600, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_final_processors(structured_tracebacks=True),
                structlog.processors.JSONRenderer(sort_keys=False, default=str),
            ],
        )
    )
    logging.getLogger().addHandler(handler)
    _FILE_HANDLERS[path] = handler
    return path


def close_run_log(path: Path) -> None:
    handler = _FILE_HANDLERS.pop(path, None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()


def get_logger(name: str = "payerbot") -> Any:
    return structlog.get_logger(name)
