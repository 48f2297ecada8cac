"""One lookup end to end, for every caller (CLI, console): run it, then what a person reads.

A single lookup is a run of one question (trigger ``lookup``, never reusing an earlier
answer), worked by the same engine as a batch: it borrows the overnight batch's session
when one holds the account. What comes back is the item's outcome, the patient's cost
estimate for an answered eligibility lookup, and the follow-ups the answer raised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from playwright.async_api import Browser

from bots.engine.runner import Runner
from bots.engine.runs import NoticeCallback
from bots.followups.estimates import Estimate, estimate_patient_cost
from bots.followups.queue import followups_of
from bots.models import ClaimStatusQuery, EligibilityQuery, EligibilityResult, LookupKind
from bots.outputs.shown import summary
from bots.services.finishers import followups_only
from bots.settings import Settings
from bots.store import FollowUp, ItemState, Outcome, Store


@dataclass
class LookupAnswer:
    """A single lookup's outcome, its estimate and the follow-ups it raised."""

    run_id: str
    item: Outcome
    estimate: Estimate | None
    followups: list[FollowUp]
    seconds: float
    notices: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.item.state == ItemState.SUCCEEDED

    def as_json(self) -> dict[str, Any]:
        """The answer as `payerbot lookup --json` prints it: ``result`` is the stored answer
        (codes, as the portal said them); ``summary`` the words a person reads, as the
        workbooks and the console show them (bots/outputs/shown.py)."""
        item = self.item
        estimate = self.estimate
        return {
            "run_id": self.run_id,
            "item_id": item.id,
            "state": item.state.value,
            "error": item.last_error_code.value if item.last_error_code else None,
            "message": item.last_error_message,
            "reason_code": item.reason_code,
            "evidence": item.evidence_path,
            "trace": item.trace_path,
            "result": item.payload,
            "summary": summary(item.kind, item.query, item.payload),
            "estimate": (
                {
                    "amount": estimate.amount,
                    "summary": estimate.summary,
                    "steps": list(estimate.steps),
                }
                if estimate is not None
                else None
            ),
            "followups": [
                {"id": f.id, "rule": f.rule, "reason": f.reason, "action": f.action}
                for f in self.followups
            ],
            # a failed lookup does not erase what the portal answered before: both are shown
            "last_good": (
                {
                    "result": good.payload,
                    "summary": summary(item.kind, item.query, good.payload),
                    "checked_at": good.checked_at.isoformat(),
                    "evidence": good.evidence_path,
                    "run_id": good.run_id,
                }
                if (good := item.last_good) is not None
                else None
            ),
            "newer_failure": (
                {
                    "at": failure.at.isoformat(),
                    "error": failure.error_code.value if failure.error_code else None,
                    "reason": failure.words,
                }
                if (failure := item.newer_failure) is not None
                else None
            ),
        }


def estimate_for(item: Outcome) -> Estimate | None:
    """The patient's estimated share for an answered eligibility item (docs/estimates.md)."""
    if item.kind != LookupKind.ELIGIBILITY or item.state != ItemState.SUCCEEDED or not item.payload:
        return None
    charge = item.query.get("expected_charge")
    return estimate_patient_cost(
        EligibilityResult.model_validate(item.payload),
        item.query.get("service_type") or "30",
        Decimal(str(charge)) if charge is not None else None,
    )


async def lookup(
    settings: Settings,
    store: Store,
    query: EligibilityQuery | ClaimStatusQuery,
    *,
    browser: Browser | None = None,
    notice: NoticeCallback | None = None,
) -> LookupAnswer:
    """Ask one question now. ``browser``: a long-lived browser of the caller (the console)
    that the lookup uses and leaves open; None: one is started for this lookup."""
    notices: list[str] = []

    def tell(message: str) -> None:
        notices.append(message)
        if notice is not None:
            notice(message)

    runner = Runner(
        settings, store, notice=tell, browser=browser, finisher=followups_only(settings, store)
    )
    summary = await runner.run(
        LookupKind(query.kind), [(None, query)], trigger="lookup", force=True
    )
    # the store off the event loop: a console serving other requests may be running it
    item = (await asyncio.to_thread(store.run_outcomes, summary.run_id))[0]
    raised = await asyncio.to_thread(followups_of, store, settings, item)
    return LookupAnswer(
        run_id=summary.run_id,
        item=item,
        estimate=estimate_for(item),
        followups=raised,
        seconds=summary.duration_seconds,
        notices=notices,
    )
