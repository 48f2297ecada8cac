"""Terminal output: a single lookup's answer, a run's details as data, the follow-up queue
(the run summaries and the runs list are bots/outputs/run_views.py).

Summaries name items by id and outcome only; patient details stay in the workbook.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bots.outputs.shown import NO_NAME
from bots.store import FollowUp, ItemState, Outcome, Run


def print_lookup(console: Console, answer: dict[str, Any]) -> None:
    result = answer.get("result")
    if answer["state"] != "succeeded" or not result:
        console.print(
            f"[bold yellow]{answer['state']}[/]: {answer.get('error')} - {answer.get('message')}"
        )
        if good := answer.get("last_good"):  # a failed lookup does not erase the last answer
            console.print(
                f"the last good answer, checked at {good['checked_at']}, still stands "
                "(--json shows it)",
                markup=False,
            )
    elif result["kind"] == "eligibility":
        # words first, codes beside them (bots/outputs/shown.py): the same as the console's
        ids = answer["summary"]["identifiers"]
        patient = ids["patient"] + (
            f" (on the portal: {ids['patient_on_portal']})" if ids["patient_on_portal"] else ""
        )
        # the portal's member ID; None when its answer shows no identity (identity_basis)
        shown_id = result.get("member_id") or "(identity not shown by the portal)"
        console.print(f"{patient}  {shown_id}", markup=False)
        colour = "green" if result["coverage_active"] else "red"
        console.print(f"[{colour}]{escape(answer['summary']['coverage_text'])}[/]")
        sharing = answer["summary"]["benefits"]
        console.print(
            f"prior authorization for {sharing['service_type']['label']}: "
            f"{sharing['prior_auth']['label']}",
            markup=False,
        )
        console.print(
            f"plan {result.get('plan_name')}  group {result.get('group_number')}  "
            f"{result.get('effective_date')} - {result.get('termination_date') or 'open'}",
            markup=False,
        )
        for group in answer["summary"].get("benefit_groups", []):
            table = Table(
                "benefit", "prior auth", "codes", title=group["name"], title_justify="left"
            )
            for b in group["lines"]:
                table.add_row(escape(b["text"]), b["prior_auth"], escape(b["codes"]))
            console.print(table)
    else:
        claim = answer["summary"]["claim"]
        console.print(f"claim {result['claim_number']}: {claim['status_text']}", markup=False)
        if claim["status_code_text"]:
            console.print(f"payer's status {claim['status_code_text']}", markup=False)
        amounts = claim["amounts"]
        console.print(
            f"billed {amounts['billed']}  allowed {amounts['allowed']}  paid {amounts['paid']}  "
            f"patient {amounts['patient_responsibility']}",
            markup=False,
        )
        for adj in claim["adjustments"]:
            console.print(f"  {adj['text']}  {adj['amount']}", markup=False)
    if answer.get("estimate"):
        console.print(f"[bold]{answer['estimate']['summary']}[/]")
    for f in answer.get("followups") or []:
        console.print(f"[yellow]follow-up {f['id']}:[/] {f['reason']} - {f['action']}")
    if answer.get("evidence"):
        console.print(f"evidence: {answer['evidence']}")


def run_detail(run: Run, items: Sequence[Outcome]) -> dict[str, Any]:
    """A run as data (`runs show --json`): counts per state and outcome, failures with
    reasons, durations (ms)."""
    states = Counter(i.state.value for i in items)
    outcomes = Counter(f"{i.state}:{i.last_error_code or 'ok'}" for i in items)
    durations = sorted(i.duration_ms for i in items if i.duration_ms is not None)

    def pct(q: float) -> float | None:
        return (
            round(durations[min(len(durations) - 1, int(q * len(durations)))])
            if durations
            else None
        )

    return {
        "run_id": run.id,
        "kind": run.kind.value,
        "trigger": run.trigger,
        "source": run.source,
        "status": run.status.value,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "seconds": run.seconds,
        "items": len(items),
        "states": dict(states),
        "outcomes": dict(outcomes),
        "lookup_ms": {
            "p50": pct(0.5),
            "p95": pct(0.95),
            "max": durations[-1] if durations else None,
        },
        "problems": [
            {
                "item_id": i.id,
                "row": i.source_row,
                "portal": i.portal,
                "state": i.state.value,
                "error": i.last_error_code.value if i.last_error_code else None,
                "message": i.last_error_message,
                "attempts": i.attempts,
                "evidence": i.evidence_path,
                "trace": i.trace_path,
            }
            for i in items
            if i.state != ItemState.SUCCEEDED
        ],
        "notes": run.notes or {},
        "log": run.log_path,
        "spreadsheet": run.spreadsheet_path,
    }


def print_followups(console: Console, rows: Sequence[FollowUp]) -> None:
    """The queue on a terminal: what to do, for whom, how urgent (patient name included:
    this is the specialist's own screen, like the workbook)."""
    table = Table("id", "prio", "status", "assignee", "payer", "patient", "reason", "next action")
    for r in rows:
        colour = {"high": "red", "medium": "yellow"}.get(r.priority, "")
        table.add_row(
            str(r.id),
            f"[{colour}]{r.priority}[/]" if colour else r.priority,
            r.status,
            r.assignee or "",
            r.payer_id,
            r.patient or NO_NAME,
            r.reason,
            r.action,
        )
    console.print(table)
    console.print(f"{len(rows)} follow-up(s)")


def print_followup(console: Console, row: FollowUp) -> None:
    console.print(f"[bold]Follow-up {row.id}[/] ({row.rule}) {row.priority}, {row.status}")
    for label, key in (
        ("reason", "reason"),
        ("category", "category"),
        ("next action", "action"),
        ("payer", "payer_id"),
        ("patient", "patient"),
        ("member ID", "member_id"),
        ("claim #", "claim_number"),
        ("service date", "service_date"),
        ("assignee", "assignee"),
        ("evidence", "evidence_path"),
        ("item", "item_id"),
    ):
        value = getattr(row, key)
        if value is not None:
            console.print(f"  {label:<13} {value}")
    if row.notes:
        console.print("  notes:\n    " + row.notes.replace("\n", "\n    "))
    for h in row.history or ():
        console.print(f"  {h.at:%Y-%m-%d %H:%M} {h.actor}: {h.action} {h.detail or ''}")
