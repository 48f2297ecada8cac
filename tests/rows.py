"""Store rows for tests that feed outputs directly (workbooks): every column, typed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from bots.models import LookupKind
from bots.store import FollowUp, Outcome, RejectedRow

T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def outcome(**over: Any) -> Outcome:
    """An answered eligibility item unless ``over`` says otherwise (text states and codes
    read as their enums, as from the store)."""
    row: dict[str, Any] = {
        "id": 1,
        "reference": f"ref-{over.get('id', 1)}",
        "kind": "eligibility",
        "payer_id": "ACME",
        "portal": "payerhub",
        "query": {},
        "state": "succeeded",
        "attempts": 1,
        "not_before": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error_code": None,
        "last_error_message": None,
        "reason_code": None,
        "source_file": "w.csv",
        "source_row": None,
        "created_at": T0,
        "updated_at": T0,
        "finished_at": T0,
        "checked_at": T0,
    }
    row.update(over)
    return Outcome.of(row)


def followup(**over: Any) -> FollowUp:
    row: dict[str, Any] = {
        "id": 1,
        "item_id": 101,
        "rule": "claim_denied",
        "kind": LookupKind.CLAIM_STATUS,
        "payer_id": "ACME",
        "run_id": None,
        "reason": "Claim denied",
        "category": None,
        "priority": "medium",
        "action": "Review the denial",
        "evidence_path": None,
        "assignee": None,
        "status": "open",
        "notes": None,
        "created_at": T0,
        "updated_at": T0,
        "resolved_at": None,
        "resolved_by": None,
        "exported_status": None,
        "exported_assignee": None,
        "exported_notes": None,
    }
    names = {f.name for f in dataclasses.fields(FollowUp)}
    row.update(over)
    unknown = set(row) - names
    assert not unknown, f"not a follow-up column: {unknown}"
    return FollowUp(**row)


def rejected(**over: Any) -> RejectedRow:
    row: dict[str, Any] = {
        "id": 1,
        "run_id": "run-1",
        "source_file": "w.csv",
        "source_row": 2,
        "column": None,
        "reason": "bad",
    }
    row.update(over)
    return RejectedRow(**row)
