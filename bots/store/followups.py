"""Follow-ups: one per item and rule, read with their question's patient fields, changed in
one transaction with their audit lines. What a rule means lives in bots/followups/."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from bots.store.engine import StoreBase
from bots.store.rows import AuditEntry, FollowUp
from bots.store.schema import audit_log, followups, work_items
from bots.store.users import write_audit

_WITH_QUERY = select(followups, work_items.c.query).join(
    work_items, work_items.c.id == followups.c.item_id
)
"""A follow-up with its item's question (for the patient fields)."""


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

    def create(self, **values: Any) -> None:
        """A new follow-up (columns by name: item_id, rule, kind, payer_id, status...)."""
        self._conn.execute(insert(followups).values(**values))

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
