"""A findable follow-up queue (issue 20): the patient fields a specialist searches and sorts
by, copied onto the follow-up (searched, sorted and paged in SQL, not in Python), the dates
of service one follow-up stands for (one per patient and problem across appointments) and
the key that says which problem that is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_followups_problem": ["problem_key"],
    "ix_followups_service_date": ["service_date", "id"],
    "ix_followups_member_id": ["member_id"],
    "ix_followups_claim_number": ["claim_number"],
    "ix_followups_payer": ["payer_id", "status"],
    "ix_followups_assignee": ["assignee", "status"],
}


def upgrade() -> None:
    with op.batch_alter_table("followups") as batch:
        batch.add_column(sa.Column("problem_key", sa.String(length=255)))
        batch.add_column(sa.Column("patient", sa.String(length=160)))
        batch.add_column(sa.Column("member_id", sa.String(length=80)))
        batch.add_column(sa.Column("claim_number", sa.String(length=80)))
        batch.add_column(sa.Column("service_date", sa.Date()))
        batch.add_column(sa.Column("service_dates", sa.JSON()))
    for name, columns in _INDEXES.items():
        op.create_index(name, "followups", columns)
    _backfill()


def _backfill() -> None:
    """The patient fields of follow-ups raised before this revision, from their question."""
    conn = op.get_bind()
    meta = sa.MetaData()
    followups = sa.Table("followups", meta, autoload_with=conn)
    items = sa.Table("work_items", meta, autoload_with=conn)
    rows = conn.execute(
        sa.select(followups.c.id, items.c.query).join(items, items.c.id == followups.c.item_id)
    ).all()
    for followup_id, query in rows:
        query = query or {}
        names = [query.get("last_name"), query.get("first_name")]
        service = query.get("date_of_service") or query.get("dos_from")
        conn.execute(
            sa.update(followups)
            .where(followups.c.id == followup_id)
            .values(
                patient=", ".join(n for n in names if n) or None,
                member_id=query.get("member_id"),
                claim_number=query.get("claim_number"),
                service_date=date.fromisoformat(service) if service else None,
                service_dates=[service] if service else [],
            )
        )


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="followups")
    with op.batch_alter_table("followups") as batch:
        for column in (
            "service_dates",
            "service_date",
            "claim_number",
            "member_id",
            "patient",
            "problem_key",
        ):
            batch.drop_column(column)
