"""What the engine spends per lookup besides the lookup: store round trips and log calls.

A run against the scripted portal (no browser) counts every SQL statement, every
transaction and every log call; the marginal cost of one more item (a run of 2N items
less a run of N) must stay under a bound, so a change that adds a round trip per item
fails here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from sqlalchemy import event

from bots.flowkit.scripted import ScriptedFlow
from bots.settings import Settings
from bots.store import Store
from tests.engine.conftest import elig, run

pytestmark = pytest.mark.timeout(60)


@dataclass
class Cost:
    """What a run cost: statements by their first word, transactions, log events."""

    statements: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    logs: Counter[str] = field(default_factory=Counter)

    def minus(self, other: Cost) -> Cost:
        return Cost(
            self.statements - other.statements,
            self.transactions - other.transactions,
            self.logs - other.logs,
        )

    @property
    def sql(self) -> int:
        return sum(self.statements.values())


@contextmanager
def counted(store: Store) -> Iterator[Cost]:
    cost = Cost()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        word = statement.split(None, 1)[0].upper()
        if word not in ("BEGIN", "COMMIT", "ROLLBACK"):
            cost.statements[word] += 1

    def on_begin(_conn: Any) -> None:
        cost.transactions += 1

    event.listen(store.engine, "before_cursor_execute", on_execute)
    event.listen(store.engine, "begin", on_begin)
    try:
        with structlog.testing.capture_logs() as logs:
            yield cost
        cost.logs.update(str(entry["event"]) for entry in logs)
    finally:
        event.remove(store.engine, "before_cursor_execute", on_execute)
        event.remove(store.engine, "begin", on_begin)


def _one_session(make_settings: Any) -> Settings:
    accounts = {"accounts": ["main"], "max_sessions": 1}
    queue = {"poll_seconds": 1.0}  # the default: how often `runs stop` is asked of the store
    return make_settings(portals={"alpha": accounts}, queue=queue)  # type: ignore[no-any-return]


def _run_cost(settings: Settings, store: Store, prefix: str, n: int) -> Cost:
    flow = ScriptedFlow()
    rows = [elig(f"{prefix}{k}") for k in range(n)]
    with counted(store) as cost:
        summary, items = run(settings, store, {"alpha": flow}, rows)
    assert summary.lookups == n and {i.state for i in items.values()} == {"succeeded"}
    return cost


def per_item(make_settings: Any, n: int = 10) -> tuple[Cost, float]:
    """The marginal cost of one happy-path item: (a run of 2n) - (a run of n), over n."""
    settings = _one_session(make_settings)
    store = Store.open(settings)
    try:
        _run_cost(settings, store, "W", 2)  # warm: first-use costs are not per item
        small = _run_cost(settings, store, "S", n)
        large = _run_cost(settings, store, "L", 2 * n)
    finally:
        store.close()
    return large.minus(small), float(n)


def test_a_happy_path_item_costs_few_store_round_trips_and_log_calls(make_settings):
    extra, n = per_item(make_settings)
    sql, transactions = extra.sql / n, extra.transactions / n
    logs = sum(extra.logs.values()) / n
    # Measured (issue 21): 11 statements in 3 transactions before, 8 in 2 after (queueing
    # the question: 3; claiming it: 3; recording the answer: 2), and one log call.
    assert transactions <= 2, f"{transactions} transactions per item ({extra.statements})"
    assert sql <= 8, f"{sql} SQL statements per item ({extra.statements})"
    assert logs <= 1, f"{logs} log calls per item ({extra.logs})"
