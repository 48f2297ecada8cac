"""Crontab expressions as APScheduler triggers, read the way crontab reads them.

Crontab weekdays are the crontab's (0 and 7 Sunday, 1 Monday): APScheduler 3 counts from
Monday, so numbers are translated to day names (a known 3.x trap). Used by the scheduler
and by `payerbot doctor`.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bots.errors import ConfigurationError

WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _weekdays(field: str) -> str:
    """Crontab day-of-week numbers (0/7 Sunday) -> names APScheduler reads unambiguously."""
    return re.sub(r"(?<![/\d])([0-7])(?!\d)", lambda m: WEEKDAYS[int(m[1])], field)


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab expression (5 fields, or 6 with seconds first) in a time zone."""
    fields = expression.split()
    zone = ZoneInfo(timezone)
    try:
        if len(fields) == 5:
            minute, hour, day, month, dow = fields
            second = "0"
        elif len(fields) == 6:
            second, minute, hour, day, month, dow = fields
        else:
            raise ValueError("a cron expression has 5 fields (or 6, seconds first)")
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(dow),
            timezone=zone,
        )
    except ValueError as exc:
        raise ConfigurationError(f"bad cron expression {expression!r}: {exc}") from None
