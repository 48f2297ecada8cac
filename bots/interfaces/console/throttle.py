"""Login throttling: an exponential delay per user name and per client address, and a short
lock of an address that keeps failing.

The policy (README, "The web console"):
- the first ``login_free_failures`` failed logins of a user name, or from an address, are
  answered at once; after that each attempt must wait ``login_delay_seconds``, doubling
  with each further failure, up to ``login_max_delay_seconds``. An attempt made too early
  is refused without checking the password;
- ``login_lock_after`` failed or too-early attempts from one address lock that address for
  ``login_lock_seconds``: every login from it is refused, the right password too;
- a user name is never locked, only delayed: a stranger guessing a user's password costs
  that user at most ``login_max_delay_seconds`` on another computer;
- a successful login clears the counters of its user name and address; counters without a
  new failure for ``login_lock_seconds`` are forgotten.

The state lives in the console's memory (one console process); a restart clears it. Every
call runs on the event loop, so an attempt is counted before its password is checked:
parallel attempts cannot slip past the count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bots.settings import ConsoleSettings

_MAX_ENTRIES = 10_000
"""Counters kept at most (user names are the attacker's to invent): the stalest go first."""


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0  # when the last counted attempt was checked
    locked_until: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """A login refused before its password was checked, and for how long."""

    locked: bool  # the address is locked (else: too early after failures)
    seconds: float
    began: bool = False  # this attempt started the lock

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.seconds))

    @property
    def message(self) -> str:
        wait = _duration(self.retry_after)
        if self.locked:
            return f"Too many failed logins from this computer. Try again in {wait}."
        return f"Too many failed logins. Try again in {wait}."


class LoginThrottle:
    """Counts failed logins by user name and by address; says which attempts to refuse."""

    def __init__(self, settings: ConsoleSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self._users: dict[str, _Count] = {}
        self._addresses: dict[str, _Count] = {}

    def _delay(self, failures: int) -> float:
        s = self.settings
        extra = failures - s.login_free_failures
        if extra < 0:
            return 0.0
        return float(min(s.login_delay_seconds * 2.0 ** min(extra, 60), s.login_max_delay_seconds))

    def _get(self, table: dict[str, _Count], key: str, now: float) -> _Count:
        count = table.get(key)
        if count is not None and count.locked_until and count.locked_until <= now:
            count = None  # a lock ended: a fresh start
        elif count is not None and now - count.last > self.settings.login_lock_seconds:
            count = None  # quiet for a lock's length: forgotten
        if count is None:
            if len(table) >= _MAX_ENTRIES:
                for stale in sorted(table, key=lambda k: table[k].last)[: _MAX_ENTRIES // 10]:
                    del table[stale]
            count = table[key] = _Count()
        return count

    def attempt(self, username: str, address: str) -> Refusal | None:
        """Before a password is checked: a refusal, or None (the attempt is then counted as
        a failure until ``succeeded`` says otherwise)."""
        now = self.clock()
        name = username.strip().lower()[:80]
        where = self._addresses.get(address)
        if where is not None and where.locked_until > now:
            return Refusal(locked=True, seconds=where.locked_until - now)
        where = self._get(self._addresses, address, now)
        who = self._get(self._users, name, now)
        wait = max(
            self._delay(where.failures) - (now - where.last),
            self._delay(who.failures) - (now - who.last),
        )
        if wait > 0:
            # Too early: counts against the address (hammering locks it sooner), never
            # against the user name, whose wait an attacker could otherwise keep renewing.
            where.failures += 1
            if where.failures >= self.settings.login_lock_after:
                where.locked_until = now + self.settings.login_lock_seconds
                return Refusal(True, self.settings.login_lock_seconds, began=True)
            return Refusal(locked=False, seconds=wait)
        for count in (where, who):
            count.failures += 1
            count.last = now
        return None

    def failed(self, address: str) -> float:
        """The password was wrong: the seconds the address is now locked for (0: not)."""
        now = self.clock()
        where = self._addresses.get(address)
        if where is None or where.failures < self.settings.login_lock_after:
            return 0.0
        where.locked_until = now + self.settings.login_lock_seconds
        return self.settings.login_lock_seconds

    def failures(self, address: str) -> int:
        count = self._addresses.get(address)
        return count.failures if count is not None else 0

    def succeeded(self, username: str, address: str) -> None:
        self._users.pop(username.strip().lower()[:80], None)
        self._addresses.pop(address, None)


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
