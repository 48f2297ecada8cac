"""`payerbot ARGS` run in this process: the command's own entry point (``main()``, so a
configuration mistake ends as it does for a user), its stdout, stderr and exit code, without
a Python and its imports to start per command (most of a quick command's time, and more on a
loaded machine).

For the quick commands a test reads between the steps it proves (``queue list``, ``runs
show``, ``portals status``, ``workbook import`` ...). What a test proves about a process
itself (its exit on a signal, a lookup "the next night", a service) keeps a real process:
tests/test_cli.py ``payerbot``.

An exception the command lets out fails the test here (a user would see a traceback).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from tests.timing import scaled


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """Logging as it was before: a command configures it (a handler on its own stderr)."""
    import structlog

    from bots import logs

    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    configured = logs._CONFIGURED  # whether a run log must configure logging first
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        structlog.configure(**config)
        logs._CONFIGURED = configured


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` as ``env`` says for the PAYERBOT_ variables (set, changed or absent)
    and every other variable it sets; restored afterwards."""
    names = {k for k in env if os.environ.get(k) != env[k]}
    names |= {k for k in os.environ if k.startswith("PAYERBOT_") and k not in env}
    saved = {k: os.environ.get(k) for k in names}
    for key in names:
        if key in env:
            os.environ[key] = env[key]
        else:
            del os.environ[key]
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def payerbot_here(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What `payerbot ARGS` prints and exits with, run by ``main()`` in a worker thread (a
    command may call ``asyncio.run``, which the browser tests' sync Playwright forbids in
    this thread)."""
    from bots.interfaces.cli import main

    def invoke() -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        argv, stdin = sys.argv, sys.stdin
        code: int | str | None = 0
        try:
            sys.argv, sys.stdin = ["payerbot", *args], io.StringIO("")
            with (
                environ(env),
                logging_kept(),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                try:
                    main()
                except SystemExit as exc:
                    code = exc.code
        finally:
            sys.argv, sys.stdin = argv, stdin
        returncode = code if isinstance(code, int) else (0 if code is None else 1)
        if isinstance(code, str):  # sys.exit("words"): said on stderr, exit 1
            err.write(code + "\n")
        return subprocess.CompletedProcess(
            ["payerbot", *args], returncode, out.getvalue(), err.getvalue()
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result(timeout=scaled(300))
