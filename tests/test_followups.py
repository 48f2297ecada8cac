"""Follow-up rules against the mock portals: each rule fires on a case built for it in the
synthetic data and stays silent on a case built against it; the queue commands; the
queue's life across runs (confirmed, auto-closed, reopened)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bots.followups import priority as scoring
from bots.followups import queue as fq
from bots.followups.rules import triage_denial
from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
from bots.settings import load_settings
from bots.store import Store, utcnow
from tests.cli_here import payerbot_here
from tests.conftest import run_rows
from tests.test_cli import payerbot
from tests.truth import coverage_segment, expected_eligibility_outcome

pytestmark = pytest.mark.browser
DOS = date(2026, 12, 1)


def _unique(gt: dict[str, Any]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], int] = {}
    for m in gt["members"]:
        seen[(m["member_id"], m["dob"])] = seen.get((m["member_id"], m["dob"]), 0) + 1
    return [m for m in gt["members"] if seen[(m["member_id"], m["dob"])] == 1]


def _active(m: dict[str, Any], on: date = DOS) -> bool:
    return coverage_segment(m, on) is not None


def _auth(m: dict[str, Any], service: str) -> str:
    return next(
        (
            b["prior_auth_required"]
            for b in m["benefits"]
            if b["service_type"] == service and b["in_network"] == "Y"
        ),
        "none",
    )


def elig(m: dict[str, Any], **kw: Any) -> EligibilityQuery:
    return EligibilityQuery(
        payer_id=m["payer_id"],
        member_id=m["member_id"],
        dob=m["dob"],
        date_of_service=kw.pop("dos", DOS),
        **kw,
    )


def claim(c: dict[str, Any], **kw: Any) -> ClaimStatusQuery:
    return ClaimStatusQuery(payer_id=c["payer_id"], claim_number=c["claim_number"], **kw)


def rules_by_reference(store: Store, run_id: str) -> dict[str, set[str]]:
    items = {i.id: i.reference for i in store.run_outcomes(run_id)}
    found: dict[str, set[str]] = {ref: set() for ref in items.values()}
    for f in fq.list_followups(store, status=list(fq.STATUSES)):
        if f.item_id in items:
            found[items[f.item_id]].add(f.rule)
    return found


def test_each_eligibility_rule_fires_for_its_case_and_not_against_it(
    settings, ground_truth, mock_portals
):
    members = _unique(ground_truth)
    cases: dict[str, tuple[EligibilityQuery, set[str]]] = {}
    for payer in ("ACME", "DELTA", "STATEMCD"):  # one per portal
        subs = [m for m in members if m["payer_id"] == payer and m["relationship"] == "subscriber"]
        ended = next(m for m in subs if m["coverage"]["termination_date"] and not _active(m))
        future = next(
            (
                m
                for m in members
                if m["payer_id"] == payer and m["coverage"]["effective_date"] > DOS.isoformat()
            ),
            None,
        )
        active = [m for m in subs if _active(m)]
        auth = next(m for m in active if _auth(m, "MH") == "Y")
        plain = next(m for m in active if _auth(m, "98") == "N" and m is not auth)
        # a portal listing coverage segments answers nothing for a date none spans: the
        # follow-up then says so (tests.truth decides which portal does, from the data set)
        for name, m, rule in (
            ("terminated", ended, "coverage_terminated"),
            ("not yet effective", future, "coverage_inactive"),
        ):
            if m is None:
                continue
            uncovered = expected_eligibility_outcome(ground_truth, m["member_key"], DOS)
            cases[f"{payer} {name}"] = (
                elig(m),
                {"no_coverage_on_date" if uncovered == "no_coverage_on_date" else rule},
            )
        cases[f"{payer} auth needed"] = (
            elig(auth, service_type="MH", group_number=auth["group_number"]),
            {"prior_auth_required"},
        )
        cases[f"{payer} same member, office visit"] = (
            elig(auth, dos=date(2026, 12, 2), service_type="98", group_number=auth["group_number"]),
            set() if _auth(auth, "98") != "Y" else {"prior_auth_required"},
        )
        cases[f"{payer} group changed"] = (
            elig(plain, service_type="98", group_number="G0000000"),
            {"plan_changed"},
        )
        cases[f"{payer} clean"] = (
            elig(
                plain, dos=date(2026, 12, 2), service_type="98", group_number=plain["group_number"]
            ),
            set(),
        )
        unknown = dict(plain, member_id=plain["member_id"][:-4] + "9999")
        cases[f"{payer} unknown ID"] = (elig(unknown), {"member_not_found"})
    summary, outcomes = run_rows(
        settings, LookupKind.ELIGIBILITY, [(None, q) for q, _ in cases.values()]
    )
    assert {o.state for o in outcomes} <= {"succeeded", "business_failed"}, [
        (o.last_error_code, o.last_error_message) for o in outcomes if o.state == "system_failed"
    ]
    store = Store.open(settings)
    found = rules_by_reference(store, summary.run_id)
    wrong = {
        name: (found[q.reference()], expected)
        for name, (q, expected) in cases.items()
        if found[q.reference()] != expected
    }
    assert wrong == {}
    # The wording comes from config, with the answer's facts filled in.
    rows = fq.list_followups(store, rule="coverage_terminated")
    assert rows and all(r.reason.startswith("Coverage ended ") for r in rows)
    # a rule's "high" is scored with the visit's nearness (DOS against today) and no charge
    level = scoring.priority(
        "high",
        scoring.days_ahead("eligibility", DOS, utcnow().date()),
        Decimal(0),
        settings.followups.priority,
    )
    assert all(r.priority == level and r.status == "open" for r in rows)
    assert all(r.evidence_path and r.evidence_path.endswith(".jpg") for r in rows)
    assert summary.followups["created"] == sum(len(e) for _, e in cases.values())
    store.close()


def test_each_claim_rule_fires_for_its_case_and_not_against_it(
    settings, ground_truth, mock_portals, monkeypatch
):
    claims = ground_truth["claims"]
    today = date.today()
    pended = sorted(
        (c for c in claims if c["status"]["category"].startswith("P")),
        key=lambda c: c["received_date"],
    )
    oldest, newest = pended[0], pended[-1]
    # Pended "too long" sits between the newest and the oldest, whatever the date today.
    limit = (today - date.fromisoformat(newest["received_date"])).days + 5
    assert (today - date.fromisoformat(oldest["received_date"])).days > limit
    monkeypatch.setenv("PAYERBOT_FOLLOWUPS__PENDED_DAYS", str(limit))
    settings = load_settings()
    paid = [c for c in claims if c["status"]["category"] == "F1" and c["claim_number"]]
    cases: dict[str, tuple[ClaimStatusQuery, set[str]]] = {
        "pended long": (claim(oldest), {"claim_pended"}),
        "pended recently": (claim(newest), set()),
        "underpaid": (
            claim(paid[0], expected_paid=Decimal(paid[0]["paid"]) + 25),
            {"claim_underpaid"},
        ),
        "paid as expected": (claim(paid[1], expected_paid=Decimal(paid[1]["paid"])), set()),
        "not on file": (
            ClaimStatusQuery(
                payer_id="ACME", claim_number=ground_truth["not_on_file_claims"]["ACME"][0]
            ),
            {"claim_not_on_file"},
        ),
    }
    by_carc: dict[str, dict[str, Any]] = {}
    for c in claims:
        if c["status"]["category"] == "F2":
            for a in c["adjustments"]:
                if a["carc"] not in ("45", "1", "2", "3"):
                    by_carc.setdefault(a["carc"], c)
    for carc, c in sorted(by_carc.items()):
        cases[f"denied CARC {carc}"] = (claim(c), {"claim_denied"})
    summary, _ = run_rows(settings, LookupKind.CLAIM_STATUS, [(None, q) for q, _ in cases.values()])
    store = Store.open(settings)
    found = rules_by_reference(store, summary.run_id)
    wrong = {
        name: (found[q.reference()], expected)
        for name, (q, expected) in cases.items()
        if found[q.reference()] != expected
    }
    assert wrong == {}
    denied = fq.list_followups(store, rule="claim_denied")
    expected = {
        "authorization",
        "coding",
        "duplicate",
        "eligibility",
        "medical_necessity",
        "missing_information",
        "non_covered",
        "timely_filing",
    }
    assert {r.category for r in denied} == expected, "every triage category met"
    # the category's priority, weighed with the billed amount (a claim has no nearness)
    answers = {o.id: o for o in store.run_outcomes(summary.run_id)}
    for r in denied:
        item = answers[r.item_id]
        money = scoring.at_stake(item.kind, item.query, item.payload)
        base = settings.followups.denials[r.category or "other"].priority
        assert r.priority == scoring.priority(base, None, money, settings.followups.priority)
    assert {r.priority for r in denied} >= {"medium", "low"}, "denials are not all high"
    underpaid = fq.list_followups(store, rule="claim_underpaid")[0]
    assert "short $25.00" in underpaid.reason
    store.close()


def test_the_queue_lives_across_runs_and_the_cli_works_it(env, settings, ground_truth, hub):
    members = [m for m in _unique(ground_truth) if m["payer_id"] == "ACME"]
    active = next(m for m in members if _active(m) and m["relationship"] == "subscriber")
    query = elig(active, group_number="G0000000")  # the practice has an old group on file
    run_rows(settings, LookupKind.ELIGIBILITY, [(None, query)])
    store = Store.open(settings)
    (row,) = fq.list_followups(store)
    assert row.rule == "plan_changed" and row.status == "open"

    listed = json.loads(payerbot_here("queue", "list", "--json", env=env).stdout)
    assert [r["id"] for r in listed] == [row.id]
    assert (
        payerbot_here("queue", "assign", str(row.id), "dana", "--as", "sam", env=env).returncode
        == 0
    )
    mine = json.loads(
        payerbot_here("queue", "list", "--assignee", "dana", "--json", env=env).stdout
    )
    assert mine[0]["status"] == "in progress"
    refused = payerbot_here("queue", "resolve", str(row.id), "--note", " ", env=env)
    assert refused.returncode == 2 and "needs a note" in refused.stderr
    done = payerbot_here(
        "queue", "resolve", str(row.id), "--note", "updated the group", "--as", "dana", env=env
    )
    assert done.returncode == 0
    shown = json.loads(payerbot_here("queue", "show", str(row.id), "--json", env=env).stdout)
    assert shown["status"] == "done" and shown["resolved_by"] == "dana"
    assert "updated the group" in shown["notes"]
    assert [(h["actor"], h["action"]) for h in shown["history"]] == [
        ("sam", "assign"),
        ("dana", "resolve"),
    ]
    assert payerbot_here("queue", "show", "99999", env=env).returncode == 2

    # The next lookup still shows the old group: the follow-up is reopened, not duplicated.
    run_rows(settings, LookupKind.ELIGIBILITY, [(None, query)])
    # (the same question inside the dedupe window is reused, not asked again: force it)
    from bots.engine.runner import Runner
    from bots.services.finishers import followups_only
    from tests.conftest import run_async

    again = run_async(
        Runner(settings, store, finisher=followups_only(settings, store)).run(
            LookupKind.ELIGIBILITY, [(None, query)], force=True
        )
    )
    assert again.followups["reopened"] == 1
    (row,) = fq.list_followups(store, status=list(fq.STATUSES))
    assert row.status == "open" and "reopened" in row.notes
    # The practice fixed the group: the next answer closes the follow-up by itself.
    fixed = elig(active, group_number=active["group_number"])
    assert fixed.reference() == query.reference()
    closing = run_async(
        Runner(settings, store, finisher=followups_only(settings, store)).run(
            LookupKind.ELIGIBILITY, [(None, fixed)], force=True
        )
    )
    assert closing.followups["closed"] == 1
    (row,) = fq.list_followups(store, status=list(fq.STATUSES))
    assert row.status == "done" and row.resolved_by == "payerbot"
    store.close()


def test_triage_takes_the_first_configured_category_and_ignores_routine_adjustments():
    from bots.models import Adjustment, ClaimStatusResult

    settings = load_settings()

    def denied(*codes: str) -> ClaimStatusResult:
        return ClaimStatusResult(
            portal="x",
            payer_id="ACME",
            as_of="2026-11-28T00:00:00Z",
            claim_number="C1",
            member_id="M1",
            first_name="A",
            last_name="B",
            dos_from=DOS,
            dos_to=DOS,
            category="F2",
            adjustments=tuple(
                Adjustment(group_code=c.split("-")[0], carc=c.split("-")[1]) for c in codes
            ),
        )

    cats = settings.followups.denials
    assert triage_denial(denied("CO-45", "PR-1", "CO-16"), cats).category == "missing_information"
    both = triage_denial(denied("CO-16", "CO-29"), cats)
    assert (both.category, both.carcs) == ("timely_filing", ("CO-29",)), "config order wins"
    assert triage_denial(denied("CO-45", "OA-999"), cats).category == "other"
    assert triage_denial(denied("CO-45"), cats).carcs == ()


def test_unknown_placeholders_in_rule_wording_are_refused_at_start(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("PAYERBOT_FOLLOWUPS__RULES__CLAIM_PENDED__REASON", "Pended {patient_ssn}")
    with pytest.raises(ValidationError, match="unknown placeholder"):
        load_settings()


def test_a_desk_lookup_answers_with_the_estimate_and_its_follow_ups(env, settings, ground_truth):
    subs = [m for m in _unique(ground_truth) if m["payer_id"] == "ACME"]
    ended = next(m for m in subs if m["coverage"]["termination_date"] and not _active(m))
    proc = payerbot(
        "lookup",
        "eligibility",
        "--payer",
        "ACME",
        "--member-id",
        ended["member_id"],
        "--dob",
        ended["dob"],
        "--dos",
        DOS.isoformat(),
        "--service-type",
        "98",
        "--charge",
        "180.00",
        "--add-to-queue",
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["result"]["coverage_active"] is False
    assert Decimal(str(answer["estimate"]["amount"])) == Decimal("180.00"), "inactive: full charge"
    assert [f["rule"] for f in answer["followups"]] == ["coverage_terminated"]
