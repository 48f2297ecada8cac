"""The pace each portal's 429s taught the bot, remembered between runs (issue 19).

- ``portal_pace``: per portal, the spacing between lookups it was slowed to, and when
  (the next run starts from it, halved every `queue.rate_limit_memory_hours`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_pace",
        sa.Column("portal", sa.String(length=40), nullable=False),
        sa.Column("pace_seconds", sa.Float(), nullable=False),
        sa.Column("learned_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("portal"),
    )


def downgrade() -> None:
    op.drop_table("portal_pace")
