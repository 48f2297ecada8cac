"""A big synthetic follow-up queue, written through the store's API (no portal, no run):
for the tests that page, search and sort thousands of follow-ups. Synthetic data only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import insert, select

from bots.store import Store, utcnow
from bots.store.schema import work_items

PAYERS = (("ACME", "payerhub"), ("DELTA", "legacyportal"), ("STATEMCD", "medicaidportal"))
RULES = ("coverage_terminated", "plan_changed", "prior_auth_required", "claim_denied")
LEVELS = ("high", "medium", "low", "medium", "low")
START = date(2026, 12, 1)


@dataclass(frozen=True)
class Seeded:
    """What one seeded follow-up is made of (to check the pages against)."""

    n: int
    member_id: str
    claim_number: str | None
    patient: str
    payer_id: str
    rule: str
    priority: str
    service_date: date


def seeded(n: int) -> Seeded:
    payer, _ = PAYERS[n % len(PAYERS)]
    rule = RULES[n % len(RULES)]
    return Seeded(
        n=n,
        member_id=f"QZ{(n * 7919) % 1_000_003:07d}",
        claim_number=f"CLM{n:07d}" if rule == "claim_denied" else None,
        patient=f"TESTER{n:05d}, PAT",
        payer_id=payer,
        rule=rule,
        priority=LEVELS[n % len(LEVELS)],
        service_date=START + timedelta(days=(n * 37) % 90),
    )


def seed_queue(store: Store, count: int) -> list[Seeded]:
    """``count`` open, unassigned follow-ups, one work item each. The items go in with one
    bulk insert (enqueueing 5,000 questions one by one takes a minute on PostgreSQL and is
    not what is tested here); the follow-ups through the store's API."""
    rows = [seeded(n) for n in range(count)]
    now = utcnow()
    items = [
        {
            "reference": f"seed-{s.n}",
            "kind": "claim_status" if s.claim_number else "eligibility",
            "payer_id": s.payer_id,
            "portal": dict(PAYERS)[s.payer_id],
            "query": {
                "payer_id": s.payer_id,
                "member_id": s.member_id,
                "last_name": s.patient.split(", ")[0],
                "first_name": "PAT",
                "date_of_service": s.service_date.isoformat(),
                **({"claim_number": s.claim_number} if s.claim_number else {}),
            },
            "state": "succeeded",
            "attempts": 1,
            "created_at": now,
            "updated_at": now,
        }
        for s in rows
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(work_items), items)
        ids = dict(conn.execute(select(work_items.c.reference, work_items.c.id)).all())
    with store.followup_edits() as edits:
        edits.create_many(
            [
                {
                    "item_id": ids[f"seed-{s.n}"],
                    "rule": s.rule,
                    "kind": "claim_status" if s.claim_number else "eligibility",
                    "payer_id": s.payer_id,
                    "reason": f"Synthetic reason {s.n}",
                    "action": "Synthetic next action",
                    "priority": s.priority,
                    "status": "open",
                    "created_at": now,
                    "updated_at": now,
                    "patient": s.patient,
                    "member_id": s.member_id,
                    "claim_number": s.claim_number,
                    "service_date": s.service_date,
                    "service_dates": [s.service_date.isoformat()],
                    "problem_key": f"{s.rule}:seed{s.n}",
                }
                for s in rows
            ]
        )
    return rows
