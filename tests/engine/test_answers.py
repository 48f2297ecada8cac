"""What one attempt's outcome means for the item: answers, business "no"s (final), portal
failures (retried with backoff, then system_failed), hangs cut off, surprises classified."""

from __future__ import annotations

import pytest

from bots.errors import (
    AmbiguousMatch,
    CapabilityMissing,
    ClaimNotFound,
    MemberNotFound,
    PatientMismatch,
    PortalTimeout,
    PortalUnavailable,
)
from bots.flowkit.scripted import ANSWER, HANG, ScriptedFlow, Slow
from bots.models import LookupKind
from tests.engine.conftest import claim, elig, run, tries
from tests.timing import scaled

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


def test_answers_are_recorded_with_one_login_per_account(settings, store):
    flow = ScriptedFlow(default=Slow(0.01))  # slow enough for both sessions to take items
    rows = [elig(f"M{n}") for n in range(6)]
    summary, items = run(settings, store, {"alpha": flow}, rows)
    assert {i.state for i in items.values()} == {"succeeded"}
    assert all(i.attempts == 1 and i.payload["member_id"] == k for k, i in items.items())
    assert sorted(c.key for c in flow.asked()) == sorted(items), "each question asked once"
    assert sorted(c.key for c in flow.logins()) == ["main", "second"], "one login per account"
    assert (
        summary.ok
        and summary.lookups == 6
        and summary.logins == {"alpha/main": 1, "alpha/second": 1}
    )


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (MemberNotFound("no such member"), "member_not_found", "75"),
        (PatientMismatch("the page shows someone else"), "patient_mismatch", None),
        (AmbiguousMatch("two members fit"), "ambiguous_match", None),
    ],
)
def test_a_business_no_is_final_and_never_retried(settings, store, error, code, reason):
    flow = ScriptedFlow({"M1": [error, ANSWER]})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    item = items["M1"]
    assert (item.state, item.last_error_code, item.reason_code) == (
        "business_failed",
        code,
        reason,
    )
    assert item.attempts == 1 and len(flow.asked("M1")) == 1
    assert items["M2"].state == "succeeded"
    assert summary.ok, "a business answer is not a failure of the run"


def test_a_claim_not_on_file_is_a_business_answer(settings, store):
    flow = ScriptedFlow({"C1": ClaimNotFound("not on file")})
    _, items = run(settings, store, {"alpha": flow}, [claim("C1")], kind=LookupKind.CLAIM_STATUS)
    assert (items["C1"].state, items["C1"].reason_code) == ("business_failed", "A4")
    assert len(flow.asked("C1")) == 1


@pytest.mark.parametrize(
    "error",
    [PortalTimeout("slow"), PortalUnavailable("HTTP 503")],
    ids=["timeout", "unavailable"],
)
def test_a_portal_failure_is_retried_up_to_max_attempts_then_system_failed(make_settings, error):
    settings = make_settings(queue={"max_attempts": 3})
    from bots.store import Store

    store = Store.open(settings)
    flow = ScriptedFlow({"M1": error})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    item = items["M1"]
    assert (item.state, item.attempts) == ("system_failed", 3)
    assert len(flow.asked("M1")) == 3
    assert [t[1:] for t in tries(store, item.id)] == [("system_failed", error.code())] * 3
    assert not summary.ok
    store.close()


def test_a_transient_fault_then_an_answer_succeeds_on_the_second_attempt(settings, store):
    flow = ScriptedFlow({"M1": [PortalUnavailable("HTTP 500"), ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 2)
    assert [t[1:] for t in tries(store, items["M1"].id)] == [
        ("system_failed", "portal_unavailable"),
        ("succeeded", None),
    ]


def test_retries_wait_the_backoff(make_settings):
    settings = make_settings(queue={"backoff_base_seconds": 0.15, "backoff_max_seconds": 1.0})
    from bots.store import Store

    store = Store.open(settings)
    flow = ScriptedFlow({"M1": [PortalUnavailable("HTTP 500"), PortalUnavailable("500"), ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    first, second, third = (c.at for c in flow.asked("M1"))
    assert items["M1"].state == "succeeded"
    # full jitter between half the cap and the cap: 0.075-0.15 s, then 0.15-0.3 s
    assert second - first >= 0.07 and third - second >= 0.14
    store.close()


def test_a_question_beyond_the_portals_search_fails_without_retry(settings, store):
    flow = ScriptedFlow({"M1": CapabilityMissing("this portal cannot search by name")})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert (items["M1"].state, items["M1"].last_error_code) == (
        "system_failed",
        "capability_missing",
    )
    assert items["M1"].attempts == 1 and len(flow.asked("M1")) == 1


def test_an_unexpected_exception_is_a_flow_bug_never_retried(settings, store):
    flow = ScriptedFlow({"M1": [ValueError("the flow tripped"), ANSWER], "M2": ANSWER})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    assert [t[1:] for t in tries(store, items["M1"].id)] == [("system_failed", "flow_bug")]
    assert (items["M1"].state, items["M1"].attempts) == ("system_failed", 1)
    assert len(flow.asked("M1")) == 1, "the same code fails the same way: not retried"
    assert items["M2"].state == "succeeded"
    assert "alpha" not in summary.stopped_portals


def test_a_flow_bug_keeps_its_traceback_in_the_log(settings, store, caplog):
    flow = ScriptedFlow({"M1": KeyError("status")})
    run(settings, store, {"alpha": flow}, [elig("M1")])
    bugs = [r for r in caplog.records if "flow.bug" in r.getMessage()]
    assert bugs and bugs[0].exc_info and bugs[0].exc_info[0] is KeyError
    assert "Traceback" in caplog.text


def test_a_hanging_lookup_is_cut_off_as_a_portal_timeout_and_retried(make_settings):
    settings = make_settings(queue={"lookup_timeout_seconds": 0.1})
    from bots.store import Store

    store = Store.open(settings)
    flow = ScriptedFlow({"M1": [HANG, ANSWER], "M2": HANG})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    assert [t[1:] for t in tries(store, items["M1"].id)] == [
        ("system_failed", "portal_timeout"),
        ("succeeded", None),
    ]
    assert (items["M2"].state, items["M2"].attempts) == ("system_failed", 3)
    assert items["M2"].last_error_code == "portal_timeout"
    assert summary.duration_seconds < scaled(3), "never a hang"
    store.close()


def test_a_hanging_login_is_cut_off_too_and_the_next_attempt_logs_in_again(make_settings):
    settings = make_settings(
        queue={"lookup_timeout_seconds": 0.1}, portals={"alpha": {"accounts": ["main"]}}
    )
    from bots.store import Store

    store = Store.open(settings)
    flow = ScriptedFlow(logins={"main": [HANG, None]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert (items["M1"].state, items["M1"].attempts) == ("succeeded", 2)
    assert len(flow.logins("main")) == 2 and len(flow.asked("M1")) == 1
    store.close()
