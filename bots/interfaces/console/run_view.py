"""A run's items as the run page shows them: filtered by outcome, searched by patient,
member or claim, 50 to a page; and the runs list's filters read from a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bots.dates import parse_date
from bots.outputs.run_views import PARTS, bucket, summary_parts
from bots.store import Outcome, RunStatus

PAGE_SIZE = 50
OUTCOME_FILTERS: dict[str, tuple[str, str]] = {
    "failed": ("Failed only", "failed"),
    "waiting": ("Waiting (queued, paused or waiting for an account)", "waiting"),
    "answered": ("Answered (asked of the portal this run)", "answered"),
    "reused": ("Reused (answered earlier, not asked again)", "reused"),
    "no_result": ("No result (the portal said no)", "no result"),
}
"""The run page's outcome filter: value -> (label, the part of the run's summary it shows:
the same parts as `payerbot runs show`, so a filter shows as many items as its count)."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the words around it."""

    rows: list[Any]
    number: int
    pages: int
    matched: int
    first: int  # 1-based index of the first row shown (0: none)
    last: int

    @property
    def showing(self) -> str:
        if not self.matched:
            return "Nothing matches."
        return f"Showing {self.first:,}–{self.last:,} of {self.matched:,}"


def page_of(rows: Sequence[Any], number: int, matched: int | None = None) -> Page:
    """Page ``number`` (1-based, clamped) of ``rows`` (all of them, or one page already cut
    by the store when ``matched`` is the total)."""
    total = len(rows) if matched is None else matched
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(1, number), pages)
    start = (number - 1) * PAGE_SIZE
    shown = list(rows[start : start + PAGE_SIZE]) if matched is None else list(rows)
    return Page(shown, number, pages, total, start + 1 if shown else 0, start + len(shown))


def page_number(params: Mapping[str, str]) -> int:
    try:
        return int(params.get("page", "1"))
    except ValueError:
        return 1


def patient_of(item: Outcome) -> str:
    """ "LAST, FIRST" from the question ("" when the worklist gave no name)."""
    q = item.query
    return ", ".join(n for n in (q.get("last_name"), q.get("first_name")) if n)


def identifier_of(item: Outcome) -> str:
    """The question's identifiers: member ID, claim number, patient account number."""
    q = item.query
    parts = [
        f"member {q['member_id']}" if q.get("member_id") else "",
        f"claim {q['claim_number']}" if q.get("claim_number") else "",
        f"account {q['patient_account_number']}" if q.get("patient_account_number") else "",
    ]
    return " · ".join(p for p in parts if p)


def parts_of(
    items: Sequence[Outcome], notes: Mapping[str, Any], run_status: str
) -> list[tuple[str, str, int]]:
    """The run's parts for the page: (filter value, part, items), adding up to the total."""
    counted = summary_parts(items, notes, run_status)
    value = {part: key for key, (_, part) in OUTCOME_FILTERS.items()}
    return [(value[p], p, int(counted[p])) for p in PARTS]


def listed_parts(states: Mapping[str, int], reused: Mapping[str, int]) -> dict[str, int]:
    """A run's answered / reused / no result for the runs list, from its items per state and
    its reused items per state (the store's counts: no item is read), as `bucket` counts."""
    kept = ("succeeded", "business_failed")
    return {
        "answered": states.get("succeeded", 0) - reused.get("succeeded", 0),
        "reused": sum(reused.get(s, 0) for s in kept),
        "no result": states.get("business_failed", 0) - reused.get("business_failed", 0),
    }


def matches(item: Outcome, outcome: str, search: str) -> bool:
    if outcome in OUTCOME_FILTERS and bucket(item, {}, "")[0] != OUTCOME_FILTERS[outcome][1]:
        return False
    if not search:
        return True
    needle = search.casefold()
    q = item.query
    haystack = [
        patient_of(item),
        " ".join(str(q.get(k) or "") for k in ("first_name", "last_name")),
        *(str(q.get(k) or "") for k in ("member_id", "claim_number", "patient_account_number")),
    ]
    return str(item.id) == needle or any(needle in h.casefold() for h in haystack if h)


@dataclass
class RunsFilter:
    """The runs list's filters, read from the query string; ``problem``: one sentence."""

    kind: str = ""  # "" | batches | desk
    status: str = ""
    date_from: str = ""
    date_to: str = ""
    since: datetime | None = None
    until: datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def desk(self) -> bool | None:
        return {"desk": True, "batches": False}.get(self.kind)


RUN_STATUSES = [s.value for s in RunStatus]


def runs_filter(params: Mapping[str, str], timezone: str, today: Any) -> RunsFilter:
    """The filters of the runs list; dates are the practice's local days."""
    f = RunsFilter(
        kind=params.get("kind", "") if params.get("kind") in ("batches", "desk") else "",
        status=params.get("status", "") if params.get("status") in RUN_STATUSES else "",
        date_from=params.get("from", "").strip(),
        date_to=params.get("to", "").strip(),
    )
    zone = ZoneInfo(timezone)
    for text, which in ((f.date_from, "from"), (f.date_to, "to")):
        if not text:
            continue
        try:
            day = parse_date(text, None, today)
        except ValueError:
            f.problems.append(f"The “{which}” date is not a date: write it as MM/DD/YYYY.")
            continue
        start = datetime.combine(day, time(0), zone)
        if which == "from":
            f.since = start
        else:  # the whole "to" day is included
            f.until = datetime.combine(day.fromordinal(day.toordinal() + 1), time(0), zone)
    if f.since and f.until and f.since >= f.until:
        f.problems.append("The “from” date is after the “to” date.")
        f.since = f.until = None
    return f
