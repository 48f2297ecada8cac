"""The follow-up queue in the store, on SQLite and PostgreSQL: 5,000 follow-ups paged,
searched, filtered and sorted in SQL with their count; one follow-up per patient and problem
across appointment dates; priorities spread by nearness and money."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from bots.errors import ConfigurationError
from bots.followups import priority as scoring
from bots.followups import queue as fq
from bots.settings import load_settings
from bots.store import UNASSIGNED, FollowupQuery, ItemState, Question, Store, utcnow
from tests.queue_seed import seed_queue

COUNT = 5_000


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def _all_ids(store: Store, **filters: Any) -> list[int]:
    ids: list[int] = []
    page = 1
    while True:
        found = store.find_followups(FollowupQuery(page=page, per_page=500, **filters))
        ids += [r.id for r in found.rows]
        if page >= found.pages:
            return ids
        page += 1


def test_five_thousand_followups_page_search_filter_and_sort_with_their_count(store):
    seeded = seed_queue(store, COUNT)
    first = store.find_followups(FollowupQuery(sort="date"))
    assert (first.total, first.first, first.last, first.pages) == (COUNT, 1, 50, 100)
    assert fq.showing(first) == "Showing 1–50 of 5,000"
    second = store.find_followups(FollowupQuery(sort="date", page=2))
    assert (second.first, second.last) == (51, 100)
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}
    # every follow-up once across all pages (the id breaks ties between equal dates)
    every = _all_ids(store, sort="date")
    assert len(every) == COUNT and len(set(every)) == COUNT
    past = fq.find_followups(store, FollowupQuery(sort="date", page=101))
    assert (past.page, past.first) == (100, 4951), "past the end: the last page"
    last = store.find_followups(FollowupQuery(sort="date", page=100))
    assert fq.showing(last) == "Showing 4,951–5,000 of 5,000" and len(last.rows) == 50

    # search: partial, any case, member ID, claim number or patient name
    target = seeded[4321]
    by_member = store.find_followups(FollowupQuery(text=target.member_id[2:].lower()))
    assert target.member_id in [r.member_id for r in by_member.rows]
    exact = store.find_followups(FollowupQuery(text=target.member_id))
    assert exact.total == 1 and exact.rows[0].patient == target.patient
    claim = next(s for s in seeded if s.claim_number)
    assert store.find_followups(FollowupQuery(text=claim.claim_number.lower())).total == 1
    assert store.find_followups(FollowupQuery(text="tester0432")).total == 10  # 04320-04329
    assert store.find_followups(FollowupQuery(text="pat tester04321")).total == 1
    assert store.find_followups(FollowupQuery(text="50%_")).total == 0  # wildcards are text

    # filters, each against the seeded truth
    for q, wanted in (
        (FollowupQuery(priority=("high",)), [s for s in seeded if s.priority == "high"]),
        (FollowupQuery(payer_id="DELTA"), [s for s in seeded if s.payer_id == "DELTA"]),
        (FollowupQuery(rule="claim_denied"), [s for s in seeded if s.rule == "claim_denied"]),
        (
            FollowupQuery(dos_from=date(2026, 12, 10), dos_to=date(2026, 12, 12)),
            [s for s in seeded if date(2026, 12, 10) <= s.service_date <= date(2026, 12, 12)],
        ),
    ):
        assert store.find_followups(q).total == len(wanted) > 0, q
    ids = sorted(_all_ids(store))[:3]
    for followup_id in ids:
        fq.assign(store, followup_id, "dana", "sam")
    assert store.find_followups(FollowupQuery(assignee="dana")).total == 3
    assert store.find_followups(FollowupQuery(assignee=UNASSIGNED)).total == COUNT - 3
    assert store.find_followups(FollowupQuery(status=("in progress",))).total == 3

    # sort by every column, both ways: the page is in that order
    for key in fq.SORT_NAMES:
        for descending in (False, True):
            rows = store.find_followups(FollowupQuery(sort=key, descending=descending)).rows
            values = [_sort_value(r, key) for r in rows]
            shown = [v for v in values if v is not None]
            assert values == shown + [None] * (len(values) - len(shown)), "empty ones last"
            assert shown == sorted(shown, reverse=descending), (key, descending)
    by_date = store.find_followups(FollowupQuery(sort="date")).rows
    by_date_desc = store.find_followups(FollowupQuery(sort="date", descending=True)).rows
    assert by_date[0].service_date < by_date_desc[0].service_date
    with pytest.raises(ValueError):
        store.find_followups(FollowupQuery(sort="reason; DROP TABLE followups"))


def _sort_value(row: Any, key: str) -> Any:
    ranks = {"priority": fq.PRIORITY_ORDER, "status": {s: i for i, s in enumerate(fq.STATUSES)}}
    if key in ranks:
        return ranks[key][getattr(row, key)]
    value = {
        "date": row.service_date,
        "member": row.member_id,
        "claim": row.claim_number,
        "patient": row.patient,
        "payer": row.payer_id,
        "reason": row.reason,
        "assignee": row.assignee,
        "id": row.id,
    }[key]
    return value.lower() if isinstance(value, str) and key in ("patient", "assignee") else value


def test_bad_searches_are_one_plain_sentence():
    for kwargs in (
        {"page": "two"},
        {"per_page": 5000},
        {"sort": "secret"},
        {"status": ["closed"]},
        {"dos_from": "13/45/2026"},
    ):
        with pytest.raises(ConfigurationError) as err:
            fq.build_query(**kwargs)
        assert str(err.value).endswith(".") and "Error" not in str(err.value)
    q = fq.build_query(dos_from="12/01/2026", dos_to="2026-12-31", payer="acme")
    assert (q.dos_from, q.dos_to, q.payer_id) == (date(2026, 12, 1), date(2026, 12, 31), "ACME")


# --- one follow-up per patient and problem ----------------------------------------------------

FOLLOWUPS = SimpleNamespace(followups=load_settings().followups)
TODAY = date(2026, 12, 2)


def _answer(store: Store, visits: list[date], *, active: bool, charge: str | None = None) -> str:
    """A run asking one member's eligibility for these visits, answered (terminated plan
    unless ``active``)."""
    questions = [
        Question(
            reference=f"elig-QZ777-{day}",
            kind="eligibility",
            payer_id="ACME",
            portal="payerhub",
            query={
                "payer_id": "ACME",
                "member_id": "QZ777000",
                "last_name": "SAMPLE",
                "first_name": "ALEX",
                "dob": "1980-01-01",
                "date_of_service": day.isoformat(),
                **({"expected_charge": charge} if charge else {}),
            },
        )
        for day in visits
    ]
    run_id, _ = store.start_run("eligibility", "batch", "visits.csv", questions, force=True)
    while (item := store.claim(run_id, "payerhub")) is not None:
        day = date.fromisoformat(item.query["date_of_service"])
        payload = {
            "kind": "eligibility",
            "portal": "payerhub",
            "payer_id": "ACME",
            "as_of": utcnow().isoformat(),
            "member_id": "QZ777000",
            "date_of_service": day.isoformat(),
            "coverage_active": active,
            "effective_date": "2024-01-01",
            "termination_date": None if active else "2026-11-15",
        }
        store.complete(
            item, run_id, outcome=ItemState.SUCCEEDED, started_at=utcnow(), payload=payload
        )
    return run_id


def test_the_same_problem_for_three_visits_is_one_followup_listing_the_three_dates(store):
    visits = [TODAY + timedelta(days=d) for d in (1, 8, 20)]
    run = _answer(store, visits, active=False)
    raised = fq.raise_followups(store, FOLLOWUPS, run, as_of=TODAY)  # type: ignore[arg-type]
    (row,) = store.list_followups()
    assert raised.created == 1 and raised.merged == 2
    assert row.rule == "coverage_terminated" and row.service_dates == tuple(visits)
    assert row.service_date == visits[0] and row.priority == "high"  # tomorrow's visit
    # a specialist works it; a fourth visit joins and keeps what the specialist did
    fq.assign(store, row.id, "dana", "dana")
    fq.add_note(store, row.id, "Left a voicemail", "dana")
    fourth = TODAY + timedelta(days=30)
    run = _answer(store, [fourth], active=False)
    fq.raise_followups(store, FOLLOWUPS, run, as_of=TODAY)  # type: ignore[arg-type]
    (row,) = store.list_followups()
    assert row.service_dates == (*visits, fourth)
    assert (row.status, row.assignee) == ("in progress", "dana")
    assert row.notes and "Left a voicemail" in row.notes
    # a desk lookup of the fourth visit shows the follow-up its date joined
    (asked,) = store.run_outcomes(run)
    assert [f.id for f in fq.followups_of(store, FOLLOWUPS, asked)] == [row.id]  # type: ignore[arg-type]
    # the first visit's new answer no longer shows it: that date leaves, the rest stay open
    run = _answer(store, [visits[0]], active=True)
    fq.raise_followups(store, FOLLOWUPS, run, as_of=TODAY)  # type: ignore[arg-type]
    (row,) = store.list_followups()
    assert row.service_dates == (visits[1], visits[2], fourth) and row.status == "in progress"
    # every visit answered covered: closed
    run = _answer(store, [*visits[1:], fourth], active=True)
    fq.raise_followups(store, FOLLOWUPS, run, as_of=TODAY)  # type: ignore[arg-type]
    (row,) = store.list_followups()
    assert row.status == "done" and "no longer shows" in (row.notes or "")
    # the queue finds it by member ID, with its dates
    (found,) = store.find_followups(FollowupQuery(text="qz777", status=("done",))).rows
    assert found.id == row.id


def test_priority_spreads_by_nearness_and_money(store):
    settings = FOLLOWUPS.followups.priority
    high_rule = "high"
    assert scoring.priority(high_rule, 0, Decimal(0), settings) == "high"  # today
    assert scoring.priority(high_rule, 1, Decimal(0), settings) == "high"  # tomorrow
    assert scoring.priority(high_rule, 5, Decimal(0), settings) == "medium"  # this week
    assert scoring.priority(high_rule, 45, Decimal(0), settings) == "medium"  # weeks away
    assert scoring.priority(high_rule, 45, Decimal(1500), settings) == "high"  # money
    assert scoring.priority("medium", 45, Decimal(0), settings) == "low"
    assert scoring.priority("medium", None, Decimal(300), settings) == "medium"
    assert scoring.priority("low", None, Decimal(40), settings) == "low"
    # through the queue: the same terminated plan, three members, three answers
    levels = {}
    for member, days, charge in (("QZ1", 1, None), ("QZ2", 40, None), ("QZ3", 40, "1500")):
        visit = TODAY + timedelta(days=days)
        question = Question(
            reference=f"elig-{member}",
            kind="eligibility",
            payer_id="ACME",
            portal="payerhub",
            query={
                "payer_id": "ACME",
                "member_id": member,
                "date_of_service": visit.isoformat(),
                **({"expected_charge": charge} if charge else {}),
            },
        )
        run_id, _ = store.start_run("eligibility", "batch", None, [question])
        item = store.claim(run_id, "payerhub")
        store.complete(
            item,
            run_id,
            outcome=ItemState.SUCCEEDED,
            started_at=utcnow(),
            payload={
                "kind": "eligibility",
                "portal": "payerhub",
                "payer_id": "ACME",
                "as_of": utcnow().isoformat(),
                "date_of_service": visit.isoformat(),
                "coverage_active": False,
                "termination_date": "2026-11-15",
            },
        )
        fq.raise_followups(store, FOLLOWUPS, run_id, as_of=TODAY)  # type: ignore[arg-type]
        levels[member] = store.find_followups(FollowupQuery(text=member)).rows[0].priority
    assert levels == {"QZ1": "high", "QZ2": "medium", "QZ3": "high"}
