"""The store: the only SQL in payerbot (SQLite by default, PostgreSQL to scale out).

``Store`` is the one object callers hold (bots/store/facade.py); its parts, one module per
aggregate: ``engine`` (connection, transactions, clock, node liveness), ``runs``, ``queue``
(enqueue, claim, complete, release, postpone/fail pending; ``conditions`` says which items),
``fleet`` (what is due across fleet runs, who finishes each), ``outcomes`` (answers as
rows), ``accounts`` (flags, leases, login notes), ``followups``, ``users`` (console users,
audit log), ``vault`` (kept sessions), ``jobs`` (scheduler job runs and job store). Rows are
typed and frozen (``rows``), states and codes are enums with labels (``states``); ``schema``
has the tables, ``migrate`` and ``admin`` the schema's upgrades.
"""

from __future__ import annotations

from bots.store.engine import utcnow
from bots.store.facade import Store
from bots.store.followups import UNASSIGNED, FollowupEdits, FollowupPage, FollowupQuery
from bots.store.rows import (
    AccountFlag,
    AccountLease,
    AccountSession,
    Answer,
    Attempt,
    AuditEntry,
    Enqueued,
    FollowUp,
    Item,
    JobRun,
    KeptSession,
    Outcome,
    PortalActivity,
    Question,
    RejectedRow,
    Run,
    User,
    WorkItem,
)
from bots.store.states import (
    FINAL_RUN_STATUSES,
    FINISHED_STATES,
    OPEN_STATES,
    ItemState,
    OutcomeCode,
    RunStatus,
)

__all__ = [
    "FINAL_RUN_STATUSES",
    "FINISHED_STATES",
    "OPEN_STATES",
    "UNASSIGNED",
    "AccountFlag",
    "AccountLease",
    "AccountSession",
    "Answer",
    "Attempt",
    "AuditEntry",
    "Enqueued",
    "FollowUp",
    "FollowupEdits",
    "FollowupPage",
    "FollowupQuery",
    "Item",
    "ItemState",
    "JobRun",
    "KeptSession",
    "Outcome",
    "OutcomeCode",
    "PortalActivity",
    "Question",
    "RejectedRow",
    "Run",
    "RunStatus",
    "Store",
    "User",
    "WorkItem",
    "utcnow",
]
