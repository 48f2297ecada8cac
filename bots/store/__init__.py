"""The store: SQLAlchemy tables and the work queue (SQLite by default, PostgreSQL to scale out)."""

from __future__ import annotations

from bots.store.core import AccountLease, Enqueued, Store, WorkItem, utcnow
from bots.store.schema import FINISHED_STATES, ItemState

__all__ = [
    "FINISHED_STATES",
    "AccountLease",
    "Enqueued",
    "ItemState",
    "Store",
    "WorkItem",
    "utcnow",
]
