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
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
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

    Values are compiled into regexes whose alternatives share prefixes (a trie), so matching
    stays fast with tens of thousands of values (a night's worklists). A value also matches
    when a portal prints it with spaces or dashes inside.

    Registering must stay cheap while a run adds every item's values as it goes: one regex
    of everything, recompiled after each item, cost a fleet worker ~50 ms per item after a
    few hundred items (quadratic). So values live in tiers, like a binary counter: new values
    go to a small ``fresh`` tier (recompiled alone, cheaply); when it fills it becomes a
    compiled tier, and tiers of similar size merge. Each value is compiled O(log n) times,
    and a text is matched against a handful of patterns whose matches are united.

    A process that lives for weeks (the scheduler, the console, a fleet worker) must not keep
    every patient it ever saw: 100,000 lookups' values held ~240 MB of patterns. A patient's
    values (``add(..., keep=False)``, what the engine registers per item) are forgotten
    ``KEEP_SECONDS`` after they were last registered (the engine registers an item's values
    again at every attempt, so a value is held while its item is worked and for a day after);
    credentials (``keep=True``, the default) are held for the life of the process.
    """

    FRESH_LIMIT = 64
    """Values in the fresh tier before it is compiled into the tiers."""

    KEEP_SECONDS = 24 * 3600.0
    """How long a patient's values are held after they were last registered."""

    PRUNE_EVERY_SECONDS = 600.0
    """How often (at most) registering looks for values to forget."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._keys: set[str] = set()
        self._kept: set[str] = set()  # never forgotten (credentials)
        self._seen: dict[str, float] = {}  # a patient's value -> when it was last registered
        self._pruned = clock()
        self._fresh: list[str] = []
        self._tiers: list[tuple[list[str], re.Pattern[str]]] = []
        self._patterns: tuple[re.Pattern[str], ...] = ()
        self._dirty = False
        self._lock = threading.Lock()

    def add(self, *values: object, keep: bool = True) -> None:
        """Register PHI or secret values; dates are registered in the formats portals print.

        ``keep``: held for the life of the process (credentials); otherwise (a patient's
        values) forgotten ``KEEP_SECONDS`` after the last time they were registered."""
        with self._lock:
            now = self._clock()
            for value in values:
                for text in _variants(value):
                    key = _SEPARATORS.sub("", text.upper())
                    if len(key) < 3:
                        continue
                    if keep:
                        self._kept.add(key)
                        self._seen.pop(key, None)
                    elif key not in self._kept:
                        self._seen[key] = now
                    if key in self._keys:
                        continue
                    self._keys.add(key)
                    self._fresh.append(key)
                    self._dirty = True
            if now - self._pruned >= self.PRUNE_EVERY_SECONDS:
                self._forget_older_than(now - self.KEEP_SECONDS)
                self._pruned = now

    def _forget_older_than(self, cutoff: float) -> None:
        """Drop the patients' values last registered before ``cutoff``; the patterns are
        compiled again from what is left, as one tier (lock held)."""
        old = {key for key, seen in self._seen.items() if seen < cutoff}
        if not old:
            return
        for key in old:
            del self._seen[key]
        self._keys -= old
        left = [key for keys, _ in self._tiers for key in keys if key not in old]
        left += [key for key in self._fresh if key not in old]
        self._fresh = []
        self._tiers = [(left, _compile(left))] if left else []
        self._dirty = True

    def __len__(self) -> int:
        """How many values (in their registered forms) are held."""
        return len(self._keys)

    def clear(self) -> None:
        with self._lock:
            self._keys, self._kept, self._seen = set(), set(), {}
            self._fresh, self._tiers = [], []
            self._patterns, self._dirty = (), False

    def _compiled(self) -> tuple[re.Pattern[str], ...]:
        if self._dirty:
            with self._lock:
                if self._dirty:
                    if len(self._fresh) >= self.FRESH_LIMIT:
                        keys, self._fresh = self._fresh, []
                        while self._tiers and len(self._tiers[-1][0]) <= len(keys):
                            keys = self._tiers.pop()[0] + keys
                        self._tiers.append((keys, _compile(keys)))
                    patterns = [pattern for _, pattern in self._tiers]
                    if self._fresh:
                        patterns.append(_compile(self._fresh))
                    self._patterns = tuple(patterns)
                    self._dirty = False
        return self._patterns

    def text(self, text: str) -> str:
        patterns = self._compiled()
        if not patterns:
            return text
        # Every match at every position (the pattern is a lookahead), of every tier, united:
        # two values overlapping in a text ("…OVERLAP" + "LAPSED…") leave nothing unmasked.
        spans = sorted(m.span(1) for pattern in patterns for m in pattern.finditer(text))
        if not spans:
            return text
        out, done = [], 0
        start, end = spans[0]
        for s, e in spans[1:]:
            if s < end:  # overlapping matches of two tiers: one masked stretch
                end = max(end, e)
                continue
            out += [text[done:start], REDACTED]
            done, (start, end) = end, (s, e)
        out += [text[done:start], REDACTED, text[end:]]
        return "".join(out)

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


def _compile(keys: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive regex finding any of the keys (a trie of them) at any position:
    a lookahead, so overlapping occurrences are all found (group 1 is the value)."""
    trie: dict[str, Any] = {}
    for key in keys:
        node = trie
        for ch in key:
            node = node.setdefault(ch, {})
        node[""] = True
    return re.compile(f"(?=({_trie_regex(trie)}))", re.IGNORECASE)


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


def _local_timestamp(timezone: str) -> Processor:
    """The console's lines in the practice's local time (``12/04/2026 3:07 AM``); the JSON
    run logs keep UTC."""
    from datetime import datetime

    from bots.dates import local_datetime_text

    def local(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        stamp = event_dict.get("timestamp")
        if isinstance(stamp, str):
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                return event_dict
            event_dict["timestamp"] = local_datetime_text(when, timezone)
        return event_dict

    return local


def configure(
    level: str = "INFO", console_level: str = "WARNING", timezone: str | None = None
) -> None:
    """Route structlog and stdlib logging through the redacting chain; console to stderr
    (in ``timezone``'s local time when given)."""
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
                *([_local_timestamp(timezone)] if timezone else []),
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
