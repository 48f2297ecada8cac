"""A run's status as a sentence ("Finished with 17 failures", "Stopped: 40 items left"),
the same on the console and in the digest, and the command that resumes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bots.store import OPEN_STATES, ItemState, Run, RunStatus

RESUMABLE = frozenset(
    {RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.FINISHED}
)
"""Statuses after which a person may resume a run's waiting items (never while it runs)."""
_ACTIVE = {
    RunStatus.QUEUED: "Waiting for a worker",
    RunStatus.RUNNING: "Running",
    RunStatus.DELEGATED: "Waiting for the batch that holds the portal's session",
    RunStatus.STOPPING: "Stopping",
    RunStatus.FINISHING: "Finishing",
}


@dataclass(frozen=True, slots=True)
class RunWords:
    """How a run went, for a person: ``text``; ``bad`` when it needs attention."""

    text: str
    bad: bool
    failures: int
    left: int  # items still waiting (resumable once the run is over)
    total: int

    @property
    def resumable(self) -> bool:
        return self.left > 0


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def run_words(run: Run, states: Mapping[str, int]) -> RunWords:
    """``states``: the run's items per state now (``Store.run_state_counts``)."""
    total = sum(states.values())
    failures = int(states.get(ItemState.SYSTEM_FAILED, 0))
    left = sum(int(states.get(s, 0)) for s in OPEN_STATES)
    done = total - left
    if run.status in _ACTIVE:
        text = f"{_ACTIVE[run.status]}: {done:,} of {total:,}"
        return RunWords(text, False, failures, 0, total)
    over_left = left if run.status in RESUMABLE else 0
    failed_words = f" with {_plural(failures, 'failure')}" if failures else ""
    if run.status == RunStatus.FINISHED and not left:
        return RunWords(f"Finished{failed_words}", bool(failures), failures, 0, total)
    head = {
        RunStatus.FINISHED: "Finished",
        RunStatus.STOPPED: "Stopped",
        RunStatus.INTERRUPTED: "Interrupted",
        RunStatus.FAILED: "Failed",
    }.get(run.status, run.status.label.capitalize())
    text = f"{head}{failed_words}"
    if over_left:
        text += f": {_plural(over_left, 'item')} left"
    return RunWords(text, True, failures, over_left, total)


def resume_command(run_id: str) -> str:
    """What resumes a run from a terminal (the console's Resume button does the same)."""
    return f"payerbot runs resume {run_id}"
