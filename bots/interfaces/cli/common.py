"""What every sub-command shares: consoles, exit codes, settings, errors, progress, signals."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bots import logs
from bots.errors import AuthenticationError, PayerbotError
from bots.settings import Settings, load_settings

if TYPE_CHECKING:  # the engine and the store load when a command uses them: a lookup a
    # running service answers starts in a fraction of the time (bots/services/local_service.py)
    from bots.engine.runner import Runner
    from bots.engine.runs import RunSummary

EXIT_FAILURES, EXIT_CONFIG, EXIT_AUTH, EXIT_NO_ROWS, EXIT_NOTHING_LOOKED_UP = 1, 2, 3, 4, 5
EXIT_BAD_INPUT = 6
EXIT_CODES = (
    'Exit codes: 0 done (answers, "not found" answers, reused answers, part of the work '
    "postponed by a portal's maintenance window); 1 some items failed after retries or a "
    "portal was stopped (CAPTCHA, no account left); 2 configuration error; 3 a portal refused "
    "the login (lookup); 4 nothing to run: no row of the worklist can be looked up (empty, "
    "unreadable, no header row, a required column missing, headers only, every row "
    "rejected); 5 nothing was looked up: every item was left queued (another run holds the "
    "accounts, a maintenance window); 6 a lookup's input was refused before any portal was "
    "asked (one line on stderr per problem)."
)
"""The one table of exit codes (README "Exit codes", `payerbot --help`)."""

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="The ``payerbot`` command line: batches, single lookups, run history, the queue.",
    epilog=EXIT_CODES,
    pretty_exceptions_show_locals=False,  # a crash must not print PHI or secrets held in locals
)
"""The ``payerbot`` command: each module of this package adds its sub-commands to it."""

out = Console()
err = Console(stderr=True)


def settings_for(verbose: bool = False) -> Settings:
    settings = load_settings()
    logs.configure(
        settings.log_level,
        console_level="INFO" if verbose else "WARNING",
        timezone=settings.timezone,  # the console's lines in local time; run logs keep UTC
    )
    return settings


def fail(exc: PayerbotError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)  # one line, however long
    return typer.Exit(EXIT_AUTH if isinstance(exc, AuthenticationError) else EXIT_CONFIG)


def nothing_done(code: int, why: str) -> typer.Exit:
    """One line on stderr saying why nothing ran (or nothing was looked up), and its code."""
    err.print(f"[bold red]nothing done:[/] {escape(why)}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


class ProgressLines:
    """Progress for a log or a pipe (stderr not a terminal): one line every ``every_items``
    lookups or ``every_seconds``, whichever comes first, and one at the end."""

    def __init__(self, console: Console, every_items: int, every_seconds: float) -> None:
        self.console, self.every_items, self.every_seconds = console, every_items, every_seconds
        self.done, self.total, self.said_done = 0, 0, -1
        self.started = self.said_at = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="progress-lines")

    def __enter__(self) -> ProgressLines:
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._ticker.join(timeout=5)
        if self.total and self.done != self.said_done:
            self._say()

    def update(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.total = done, total
            due = done - max(self.said_done, 0) >= self.every_items or done == total
        if due and done != self.said_done:
            self._say()

    def _tick(self) -> None:
        while not self._stop.wait(min(1.0, self.every_seconds)):
            if self.total and time.monotonic() - self.said_at >= self.every_seconds:
                self._say()

    def _say(self) -> None:
        from bots.outputs.run_views import duration_text

        with self._lock:
            done, total = self.done, self.total
            self.said_done, self.said_at = done, time.monotonic()
        share = f" ({done * 100 // total}%)" if total else ""
        elapsed = duration_text(time.monotonic() - self.started)
        self.console.print(
            f"progress: {done} of {total} lookups done{share}, {elapsed} elapsed",
            soft_wrap=True,
            highlight=False,
        )


def progress_bar(settings: Settings | None = None) -> tuple[Any, Any]:
    """A live bar on a terminal; progress lines (``ProgressLines``) when stderr is a log or
    a pipe, every ``progress_every_items`` lookups or ``progress_every_seconds``."""
    if not err.is_terminal:
        every = settings or load_settings()
        lines = ProgressLines(err, every.progress_every_items, every.progress_every_seconds)
        return lines, lines.update
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    task = progress.add_task("lookups", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


def until_signalled(runner: Runner, job: Coroutine[Any, Any, RunSummary]) -> RunSummary:
    """Run the job; SIGTERM or Ctrl-C lets the lookups in flight finish and leaves the
    rest resumable (`payerbot runs resume RUN`)."""

    async def main() -> RunSummary:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.request_stop)
        try:
            return await job
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


def with_store(fn: Any) -> Any:
    from bots.store import Store

    settings = load_settings()
    store = Store.open(settings)
    try:
        return fn(store)
    except PayerbotError as exc:
        raise fail(exc) from None
    finally:
        store.close()
