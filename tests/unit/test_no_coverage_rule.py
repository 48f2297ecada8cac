"""A date of service no coverage segment spans is no answer; the follow-up says what to do."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bots.errors import NoCoverageOnDate
from bots.followups.rules import RuleBook
from bots.models import LookupKind
from bots.settings import load_settings
from bots.store import ItemState, Outcome, OutcomeCode


def _uncovered(dos: str | None) -> Outcome:
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    query = {"payer_id": "STATEMCD", "member_id": "900000000001", "dob": "1980-01-01"}
    if dos:
        query["date_of_service"] = dos
    return Outcome(
        id=1,
        reference="ref",
        kind=LookupKind.ELIGIBILITY,
        payer_id="STATEMCD",
        portal="medicaidportal",
        query=query,
        state=ItemState.BUSINESS_FAILED,
        attempts=1,
        not_before=None,
        lease_owner=None,
        lease_expires_at=None,
        last_error_code=OutcomeCode(NoCoverageOnDate.code()),
        last_error_message="no coverage segment covers the date of service",
        reason_code=None,
        source_file=None,
        source_row=None,
        created_at=now,
        updated_at=now,
        finished_at=now,
    )


def test_no_coverage_on_date_is_a_business_outcome_with_a_label_and_a_follow_up() -> None:
    assert issubclass(NoCoverageOnDate, Exception) and not NoCoverageOnDate.retryable
    code = OutcomeCode(NoCoverageOnDate.code())
    assert code is OutcomeCode.NO_COVERAGE_ON_DATE
    assert code.label == "no coverage segment covers the date of service"
    rules = RuleBook(load_settings().followups)
    (finding,) = rules.evaluate(_uncovered("2026-12-01"), date(2026, 11, 30))
    assert finding.rule == "no_coverage_on_date" and finding.priority == "high"
    assert "12/01/2026" in finding.reason and "Confirm coverage" in finding.action
    (blind,) = rules.evaluate(_uncovered(None), date(2026, 11, 30))
    assert "unknown" in blind.reason  # never a Python error for a question without a date
