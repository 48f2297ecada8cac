"""Follow-ups: one per item and rule, read with their question's patient fields, changed in
one transaction with their audit lines. What a rule means lives in bots/followups/."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, insert, or_, select, update

from bots.store.engine import StoreBase
from bots.store.rows import AuditEntry, FollowUp
from bots.store.schema import audit_log, followups, work_items
from bots.store.users import write_audit

_WITH_QUERY = select(followups, work_items.c.query).join(
    work_items, work_items.c.id == followups.c.item_id
)
"""A follow-up with its item's question (for the patient fields)."""

UNASSIGNED = "unassigned"
"""The assignee filter that means nobody (no user can be called that: see ``FollowupQuery``)."""

_RANKS = {
    "priority": {"high": 0, "medium": 1, "low": 2},
    "status": {"open": 0, "in progress": 1, "done": 2},
}

SORTS: dict[str, Any] = {
    "id": followups.c.id,
    "date": followups.c.service_date,
    "member": followups.c.member_id,
    "claim": followups.c.claim_number,
    "patient": func.lower(followups.c.patient),
    "payer": followups.c.payer_id,
    "reason": followups.c.reason,
    "priority": case(_RANKS["priority"], value=followups.c.priority, else_=9),
    "status": case(_RANKS["status"], value=followups.c.status, else_=9),
    "assignee": func.lower(followups.c.assignee),
    "updated": followups.c.updated_at,
}
"""The columns a queue can be sorted by (a whitelist: a name from a URL never reaches SQL)."""


@dataclass(frozen=True)
class FollowupQuery:
    """One page of the queue: what to find, how to sort it, which page.

    ``text`` matches patient name, member ID or claim number, case-insensitive and partial
    (every word must match one of them); ``assignee`` is a user name or ``UNASSIGNED``;
    ``sort`` a key of ``SORTS`` (ties broken by id, so pages never overlap)."""

    text: str = ""
    status: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    payer_id: str | None = None
    rule: str | None = None
    assignee: str | None = None
    dos_from: date | None = None
    dos_to: date | None = None
    updated_since: datetime | None = None
    sort: str = "priority"
    descending: bool = False
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class FollowupPage:
    """The rows of one page and how many match in all."""

    rows: list[FollowUp]
    total: int
    page: int
    per_page: int

    @property
    def first(self) -> int:
        """The position of the page's first row (1-based; 0 when nothing matches)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(q: FollowupQuery) -> list[ColumnElement[bool]]:
    c = followups.c
    where: list[ColumnElement[bool]] = []
    for word in q.text.replace(",", " ").split():
        pattern = _like(word)
        where.append(
            or_(
                *(
                    func.lower(col).like(pattern, escape="\\")
                    for col in (c.patient, c.member_id, c.claim_number)
                )
            )
        )
    if q.status:
        where.append(c.status.in_(q.status))
    if q.priority:
        where.append(c.priority.in_(q.priority))
    if q.payer_id:
        where.append(c.payer_id == q.payer_id)
    if q.rule:
        where.append(c.rule == q.rule)
    if q.assignee == UNASSIGNED:
        where.append(c.assignee.is_(None))
    elif q.assignee:
        where.append(c.assignee == q.assignee)
    if q.dos_from:
        where.append(c.service_date >= q.dos_from)
    if q.dos_to:
        where.append(c.service_date <= q.dos_to)
    if q.updated_since:
        where.append(c.updated_at >= q.updated_since)
    return where


class FollowupEdits:
    """Changes to follow-ups inside one transaction (``with store.followup_edits() as
    edits:``): read, create, update and audit together, or none of it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, followup_id: int) -> FollowUp | None:
        row = self._conn.execute(_WITH_QUERY.where(followups.c.id == followup_id)).mappings()
        first = row.first()
        return FollowUp.of(first) if first is not None else None

    def of_item(self, item_id: int) -> list[FollowUp]:
        """The item's follow-ups, one per rule."""
        rows = self._conn.execute(_WITH_QUERY.where(followups.c.item_id == item_id)).mappings()
        return [FollowUp.of(r) for r in rows]

    def of_problems(self, keys: Iterable[str]) -> list[FollowUp]:
        """Follow-ups raised for any of these problems (see bots/followups/queue.py), newest
        first."""
        wanted = list(keys)
        if not wanted:
            return []
        rows = self._conn.execute(
            _WITH_QUERY.where(followups.c.problem_key.in_(wanted)).order_by(followups.c.id.desc())
        ).mappings()
        return [FollowUp.of(r) for r in rows]

    def create(self, **values: Any) -> None:
        """A new follow-up (columns by name: item_id, rule, kind, payer_id, status...)."""
        self._conn.execute(insert(followups).values(**values))

    def create_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Many new follow-ups in one statement (an import, a test's big queue)."""
        if rows:
            self._conn.execute(insert(followups), list(rows))

    def update(self, followup_id: int, **values: Any) -> None:
        """Set columns of one follow-up."""
        self._conn.execute(update(followups).where(followups.c.id == followup_id).values(**values))

    def audit(self, actor: str, action: str, target: str, detail: str) -> None:
        """An audit line in the same transaction as the change it records."""
        write_audit(self._conn, actor, action, target, detail)


class FollowupsMixin(StoreBase):
    """The specialists' follow-up queue as rows."""

    @contextmanager
    def followup_edits(self) -> Iterator[FollowupEdits]:
        """One transaction of follow-up changes (see ``FollowupEdits``)."""
        with self._tx() as conn:
            yield FollowupEdits(conn)

    def list_followups(
        self,
        *,
        status: Sequence[str] | None = None,
        assignee: str | None = None,
        priority: str | None = None,
        rule: str | None = None,
        updated_since: datetime | None = None,
    ) -> list[FollowUp]:
        """Follow-ups matching every filter given (in no particular order)."""
        stmt = _WITH_QUERY
        if status:
            stmt = stmt.where(followups.c.status.in_(list(status)))
        if assignee is not None:
            stmt = stmt.where(followups.c.assignee == assignee)
        if priority is not None:
            stmt = stmt.where(followups.c.priority == priority)
        if rule is not None:
            stmt = stmt.where(followups.c.rule == rule)
        if updated_since is not None:
            stmt = stmt.where(followups.c.updated_at >= updated_since)
        with self._tx() as conn:
            return [FollowUp.of(r) for r in conn.execute(stmt).mappings()]

    def find_followups(self, q: FollowupQuery) -> FollowupPage:
        """One page of the follow-ups matching ``q``, sorted, with how many match in all."""
        if q.sort not in SORTS:
            raise ValueError(f"cannot sort by {q.sort!r}")
        page, per_page = max(1, q.page), max(1, q.per_page)
        where = and_(*_conditions(q)) if _conditions(q) else None
        key = SORTS[q.sort]
        order = key.desc() if q.descending else key.asc()
        stmt = _WITH_QUERY.order_by(order.nulls_last(), followups.c.id.asc())
        count = select(func.count()).select_from(followups)
        if where is not None:
            stmt, count = stmt.where(where), count.where(where)
        with self._tx() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(stmt.limit(per_page).offset((page - 1) * per_page)).mappings()
            return FollowupPage([FollowUp.of(r) for r in rows], total, page, per_page)

    def followup_payers(self) -> list[str]:
        """The payers with follow-ups (for the queue's payer filter)."""
        with self._tx() as conn:
            stmt = select(followups.c.payer_id).distinct().order_by(followups.c.payer_id)
            return list(conn.execute(stmt).scalars())

    def get_followup(self, followup_id: int) -> FollowUp | None:
        """One follow-up with its history (the audit lines about it, oldest first)."""
        with self._tx() as conn:
            row = conn.execute(_WITH_QUERY.where(followups.c.id == followup_id)).mappings()
            found = row.first()
            if found is None:
                return None
            history = conn.execute(
                select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.detail)
                .where(audit_log.c.target == f"followup:{followup_id}")
                .order_by(audit_log.c.id)
            ).mappings()
            return FollowUp.of(found, tuple(AuditEntry.of(h) for h in history))

    def followups_by_id(self, ids: Iterable[int]) -> dict[int, FollowUp]:
        with self._tx() as conn:
            rows = conn.execute(_WITH_QUERY.where(followups.c.id.in_(list(ids)))).mappings()
            return {r["id"]: FollowUp.of(r) for r in rows}

    def mark_exported(self, rows: Iterable[FollowUp]) -> None:
        """Remember what the workbook now shows of each follow-up, to tell a specialist's
        edit there from a change made elsewhere on the next read-back."""
        with self._tx() as conn:
            for row in rows:
                conn.execute(
                    update(followups)
                    .where(followups.c.id == row.id)
                    .values(
                        exported_status=row.status,
                        exported_assignee=row.assignee,
                        exported_notes=row.notes,
                    )
                )

    def items_with_followups_untouched_since(self, cutoff: datetime) -> set[int]:
        """Items with a follow-up not done and not updated since ``cutoff``."""
        with self._tx() as conn:
            return set(
                conn.execute(
                    select(followups.c.item_id).where(
                        followups.c.status != "done", followups.c.updated_at < cutoff
                    )
                ).scalars()
            )
