"""Deadlines in tests scale with the machine: a loaded machine makes a test slower, not red.

A deadline here exists to end a test that hangs, not to measure speed (benchmarks measure,
`payerbot bench`). Each one is multiplied by ``PAYERBOT_TEST_TIME_FACTOR`` (default 1) and
by the machine's load per core when the wait starts (at least 1), so a suite run beside
other work on two cores waits longer instead of failing.
"""

from __future__ import annotations

import os
import time

FACTOR = float(os.environ.get("PAYERBOT_TEST_TIME_FACTOR", "1") or 1)


def factor() -> float:
    """How much longer than on a quiet machine to allow, now."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        load = 1.0
    return FACTOR * max(1.0, load)


def scaled(seconds: float) -> float:
    """``seconds`` on a quiet machine, more on a busy one."""
    return seconds * factor()


def deadline_in(seconds: float) -> float:
    """A ``time.monotonic()`` deadline ``seconds`` away on a quiet machine."""
    return time.monotonic() + scaled(seconds)
