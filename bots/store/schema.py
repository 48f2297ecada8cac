"""Tables of the store: runs, work items (the queue), results per attempt, import errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from bots.store.states import ItemState


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always returned aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use bots.store.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = value
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("trigger", String(20), nullable=False),  # batch | lookup | schedule
    Column("source", String(255)),  # worklist file name (never PHI)
    Column("status", String(20), nullable=False),  # running | finished | failed | interrupted
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("counts", JSON, nullable=False, default=dict),
    Column("log_path", Text),
    Column("spreadsheet_path", Text),
    Column("message", Text),
    # What a supervisor must hear about beyond the counts (JSON, no PHI): portals stopped or
    # postponed and why, password-expiry notices, kept sessions resumed, borrowed sessions.
    Column("notes", JSON),
    # Who works the run: ``local`` (the process that made it: CLI, console, scheduler) or
    # ``fleet`` (any `payerbot worker`, on any machine sharing the store).
    Column("executor", String(20), nullable=False, server_default="local"),
)

work_items = Table(
    "work_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reference", String(255), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("payer_id", String(40), nullable=False),
    Column("portal", String(40), nullable=False),
    Column("query", JSON, nullable=False),
    Column("state", String(20), nullable=False, default=ItemState.NEW.value),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", UTCDateTime),
    Column("lease_owner", String(120)),
    Column("lease_expires_at", UTCDateTime),
    Column("last_error_code", String(60)),
    Column("last_error_message", Text),
    Column("reason_code", String(20)),
    Column("source_file", String(255)),
    Column("source_row", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_work_items_claim", "portal", "state", "not_before"),
)

run_items = Table(
    "run_items",
    metadata,
    Column("run_id", String(40), ForeignKey("runs.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("work_items.id"), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("disposition", String(20), nullable=False),  # queued | reused | requeued
)

results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("work_items.id"), nullable=False, index=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("payload", JSON),  # the normalized result model, when there is one
    Column("error_code", String(60)),
    Column("error_message", Text),
    Column("reason_code", String(20)),
    Column("evidence_path", Text),
    Column("trace_path", Text),
    Column("account", String(60)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
)

import_errors = Table(
    "import_errors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), ForeignKey("runs.id"), nullable=False, index=True),
    Column("source_file", String(255), nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("column", String(80)),
    Column("reason", Text, nullable=False),  # says what is wrong, never echoes the value
)

account_flags = Table(
    "account_flags",
    metadata,
    Column("portal", String(40), primary_key=True),
    Column("account", String(60), primary_key=True),
    Column("flag", String(40), nullable=False),  # login_refused | portal_blocked
    Column("reason", Text, nullable=False),  # what the portal said, never a credential
    Column("since", UTCDateTime, nullable=False),
    Column("run_id", String(40)),
)

account_sessions = Table(
    "account_sessions",
    metadata,
    Column("portal", String(40), primary_key=True),
    Column("account", String(60), primary_key=True),
    # The one process allowed to be logged in with the account now (host:pid:token), the
    # run it works for, and until when its lease holds without a renewal.
    Column("holder", String(160)),
    Column("holder_run", String(40)),
    Column("lease_expires_at", UTCDateTime),
    Column("last_login_at", UTCDateTime),
    Column("password_days_left", Integer),  # as the portal said at the last notice
    Column("password_notice_at", UTCDateTime),
)

kept_sessions = Table(
    "kept_sessions",
    metadata,
    # A portal account's logged-in storage state, sealed (Fernet) by the session key, for a
    # fleet whose workers on several machines take turns with the account (bots/engine/vault.py).
    Column("portal", String(40), primary_key=True),
    Column("account", String(60), primary_key=True),
    Column("token", Text, nullable=False),
    Column("saved_at", UTCDateTime, nullable=False),
)

portal_pace = Table(
    "portal_pace",
    metadata,
    # The spacing between lookups a portal's 429s taught the bot, for the next run to start
    # from (it decays: halved every `queue.rate_limit_memory_hours`, bots/engine/gates.py).
    Column("portal", String(40), primary_key=True),
    Column("pace_seconds", Float, nullable=False),
    Column("learned_at", UTCDateTime, nullable=False),
)

followups = Table(
    "followups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("work_items.id"), nullable=False),
    Column("rule", String(40), nullable=False),  # one follow-up per item and rule
    Column("kind", String(20), nullable=False),
    Column("payer_id", String(40), nullable=False),
    Column("run_id", String(40)),  # the run whose answer raised (or last confirmed) it
    Column("reason", Text, nullable=False),
    Column("category", String(40)),  # denial triage category
    Column("priority", String(10), nullable=False),  # high | medium | low
    Column("action", Text, nullable=False),
    Column("evidence_path", Text),
    Column("assignee", String(80)),
    Column("status", String(20), nullable=False),  # open | in progress | done
    Column("notes", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(80)),
    # What the last workbook showed, to tell a specialist's edit in the workbook from a
    # change made elsewhere (console, CLI) since.
    Column("exported_status", String(20)),
    Column("exported_assignee", String(80)),
    Column("exported_notes", Text),
    # One follow-up per patient and problem across appointment dates (issue 20): the
    # problem's key (rule, payer, member or claim), the dates of service it stands for (ISO
    # dates, JSON) and the soonest of them; the patient fields copied from the question so
    # the queue is searched, sorted and paged in SQL.
    Column("problem_key", String(255)),
    Column("patient", String(160)),  # "LAST, FIRST"
    Column("member_id", String(80)),
    Column("claim_number", String(80)),
    Column("service_date", Date),
    Column("service_dates", JSON),
    Index("ux_followups_item_rule", "item_id", "rule", unique=True),
    Index("ix_followups_status", "status", "priority"),
    Index("ix_followups_problem", "problem_key"),
    Index("ix_followups_service_date", "service_date", "id"),
    Index("ix_followups_member_id", "member_id"),
    Index("ix_followups_claim_number", "claim_number"),
    Index("ix_followups_payer", "payer_id", "status"),
    Index("ix_followups_assignee", "assignee", "status"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),  # a user name, "workbook", "payerbot"
    Column("action", String(40), nullable=False),  # assign | resolve | status | note | lookup ...
    Column("target", String(80), nullable=False),  # followup:12, item:34 (ids, never PHI)
    Column("detail", Text),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(80), nullable=False, index=True),  # name in config/schedule.toml
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(20), nullable=False),  # running | finished | failed | stopped
    Column("run_ids", JSON, nullable=False, default=list),
    Column("message", Text),  # what it did or why it failed (no PHI)
    Column("report_path", Text),  # the digest
)

users = Table(
    "users",
    metadata,
    Column("username", String(80), primary_key=True),
    Column("password_hash", Text, nullable=False),  # scrypt$n$r$p$salt$hash
    Column("role", String(20), nullable=False),  # specialist | supervisor
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Integer, nullable=False, default=0),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    # A console login: the cookie (signed) carries a random session id, the store only its
    # SHA-256. Logout, a new password and `users remove` delete the rows: the cookie is dead.
    Column("id_hash", String(64), primary_key=True),
    Column("username", String(80), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),  # refreshed about once a minute
    Index("ix_console_sessions_username", "username"),
)
