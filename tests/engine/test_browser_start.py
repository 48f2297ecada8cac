"""When a run starts its browser: a batch while the store queues its questions (off the run's
critical path), closed again when the run opened no session; a desk lookup only once it has
an account of its own (it may borrow a running batch's session instead)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from bots.engine.browserless import BrowserlessSessions
from bots.flowkit.scripted import ScriptedFlow, Slow
from bots.models import LookupKind
from bots.store import Store
from tests.conftest import run_async
from tests.engine.conftest import elig, new_runner, run
from tests.timing import scaled

pytestmark = pytest.mark.timeout(30)


class CountedSessions(BrowserlessSessions):
    """Browserless sessions that count the browser's launches (a start of a browser not
    running) and closes."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.closes = 0
        self.started = threading.Event()

    async def start(self) -> None:
        if not self.started.is_set():
            self.starts += 1
            self.started.set()

    async def close(self) -> None:
        self.closes += int(self.started.is_set())
        self.started.clear()


def test_a_batch_starts_its_browser_while_its_questions_are_queued(settings, store):
    sessions = CountedSessions()
    queue = store.start_run
    seen: list[bool] = []

    def start_run(*args: Any, **kwargs: Any) -> Any:
        # Started before the questions are in the store: the launch does not wait for them.
        seen.append(sessions.started.wait(scaled(5)))
        return queue(*args, **kwargs)

    store.start_run = start_run  # type: ignore[method-assign]
    _, found = run(settings, store, {"alpha": ScriptedFlow()}, [elig("A1")], sessions=sessions)
    assert seen == [True], "the browser started while the store queued the run"
    assert found["A1"].state == "succeeded"
    assert (sessions.starts, sessions.closes) == (1, 1)


def test_a_batch_with_nothing_to_ask_closes_the_browser_it_started(settings, store):
    flow = ScriptedFlow()
    run(settings, store, {"alpha": flow}, [elig("A1")])
    sessions = CountedSessions()
    runner = new_runner(settings, store, {"alpha": flow}, sessions=sessions)
    again = run_async(runner.run(LookupKind.ELIGIBILITY, [elig("A1")]))  # the answer is reused
    assert again.counts["reused"] == 1 and sessions.opened == []
    assert (sessions.starts, sessions.closes) == (1, 1), "started early, closed again"


def test_a_batch_whose_questions_cannot_be_queued_closes_the_browser_it_started(settings, store):
    sessions = CountedSessions()

    def start_run(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store is gone")

    store.start_run = start_run  # type: ignore[method-assign]
    runner = new_runner(settings, store, {"alpha": ScriptedFlow()}, sessions=sessions)
    with pytest.raises(RuntimeError):
        run_async(runner.run(LookupKind.ELIGIBILITY, [elig("A1")], force=True))
    assert (sessions.starts, sessions.closes) == (1, 1)


def test_a_desk_lookup_borrowing_a_session_starts_no_browser(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    night_store, desk_store = Store.open(settings), Store.open(settings)  # two processes
    flow = ScriptedFlow(default=Slow(0.03))
    night = new_runner(settings, night_store, {"alpha": flow})
    desk_sessions = CountedSessions()
    desk = new_runner(settings, desk_store, {"alpha": flow}, sessions=desk_sessions)

    async def lookup_during_the_batch() -> Any:
        batch = [elig(f"B{n}") for n in range(1, 6)]
        running = asyncio.create_task(night.run(LookupKind.ELIGIBILITY, batch, force=True))
        while len(flow.asked()) < 2:
            await asyncio.sleep(0.005)
        lookup = await desk.run(LookupKind.ELIGIBILITY, [elig("L1")], trigger="lookup", force=True)
        await running
        return lookup

    lookup = run_async(lookup_during_the_batch())
    assert lookup.borrowed_from, "the batch answered it"
    assert (desk_sessions.starts, desk_sessions.closes) == (0, 0)
    night_store.close()
    desk_store.close()
