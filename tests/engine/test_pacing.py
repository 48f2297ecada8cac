"""Adaptive pacing per portal (issue 19, item 1): a 429 widens the portal's spacing between
lookups for the rest of the run (multiplied; each answer adds a few lookups a minute back,
never faster than the configured ``pace_seconds``), the next run starts from what was learned (halved every
``rate_limit_memory_hours``), and only a time budget of 429s with no answer postpones the
portal's items: queued for `runs resume`, never failed."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest

from bots.engine.runs import pace_sentence
from bots.errors import RateLimited
from bots.flowkit.scripted import ANSWER, ScriptedFlow
from bots.store import Store, utcnow
from tests.conftest import run_async
from tests.engine.conftest import elig, new_runner, outcomes, run, tries

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a few seconds

ONE_ACCOUNT = {"alpha": {"accounts": ["main"], "max_sessions": 1}}


def _gaps(flow: ScriptedFlow) -> list[float]:
    asked = [c.at for c in flow.asked()]
    return [b - a for a, b in pairwise(asked)]


def test_429s_widen_the_pace_and_answers_ease_it_back_to_the_configured_one(make_settings):
    settings = make_settings(
        queue={
            "rate_limit_pause_seconds": 0.0,
            "rate_limit_slowdown": 2.0,
            "rate_limit_first_pace_seconds": 0.02,
            "rate_limit_recovery_per_minute": 400.0,
            "rate_limit_max_pace_seconds": 10.0,
        },
        portals={"alpha": {**ONE_ACCOUNT["alpha"], "pace_seconds": 0.03}},
    )
    store = Store.open(settings)
    flow = ScriptedFlow({"M0": [RateLimited("429")] * 3 + [ANSWER]})
    rows = [elig(f"M{n}") for n in range(7)]
    summary, items = run(settings, store, {"alpha": flow}, rows)
    assert {(i.state, i.attempts) for i in items.values()} == {("succeeded", 1)}
    pace = summary.portal_pace["alpha"]
    # 0.03 configured -> 0.06 -> 0.12 -> 0.24 (250 a minute); each answer adds 400 a minute:
    # 650, 1050, 1450, 1850, then past the configured 2000 a minute: 0.03 s again
    assert pace == {
        "rate_limited": 3,
        "configured_seconds": 0.03,
        "started_seconds": 0.03,
        "slowest_seconds": 0.24,
        "ended_seconds": 0.03,
    }
    # lookups are spaced by their turns; a store round trip more or less moves one by ~0.03 s
    gaps = _gaps(flow)
    assert gaps[2] >= 0.2, "after the third 429 the portal is asked once per 0.24 s"
    assert sum(gaps[-3:]) >= 3 * 0.03 - 0.03, "never faster than the configured pace"
    assert gaps[3] > gaps[-1], "each answer eases the pace"
    sentence = summary.notes()["slowed_portals"]["alpha"]
    assert sentence == (
        "asked us to slow down 3 times; paced to one lookup every 0.24 s (was 0.03 s); "
        "one every 0.03 s at the end of the run"
    )
    store.close()


def test_a_retry_after_pauses_every_session_and_the_pace_still_widens(make_settings):
    settings = make_settings(queue={"rate_limit_first_pace_seconds": 0.05})
    store = Store.open(settings)
    flow = ScriptedFlow({"M1": [RateLimited("429", retry_after=0.3), ANSWER]})
    summary, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    first, again = flow.asked("M1")[0].at, flow.asked("M1")[1].at
    assert again - first >= 0.29, "Retry-After honoured"
    assert items["M1"].attempts == 1 and summary.portal_pace["alpha"]["slowest_seconds"] == 0.05
    store.close()


def test_429s_for_the_whole_budget_postpone_the_portals_items_never_fail_them(make_settings):
    settings = make_settings(
        queue={"rate_limit_budget_minutes": 0.005, "rate_limit_pause_seconds": 0.02},  # 0.3 s
        portals=ONE_ACCOUNT,
    )
    store = Store.open(settings)
    alpha = ScriptedFlow(default=RateLimited("429"))
    beta = ScriptedFlow()
    rows = [elig(f"M{n}") for n in range(4)] + [elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    waiting = [items[f"M{n}"] for n in range(4)]
    assert [(i.state, i.attempts) for i in waiting] == [("new", 0)] * 4, "queued, not failed"
    assert all(tries(store, i.id) == [] for i in waiting), "no attempt recorded"
    assert "asked us to slow down" in summary.postponed_portals["alpha"]
    assert "runs resume" in summary.postponed_portals["alpha"]
    assert items["B1"].state == "succeeded" and summary.ok, "postponed is not failed"
    assert store.get_run(summary.run_id).status == "finished"
    asked = len(alpha.asked())

    # the portal answers again: `runs resume` finishes the run
    answering = ScriptedFlow()
    resumed = run_async(new_runner(settings, store, {"alpha": answering}).resume(summary.run_id))
    assert {i.state for i in outcomes(store, resumed.run_id).values()} == {"succeeded"}
    assert len(alpha.asked()) == asked and len(answering.asked()) == 4
    store.close()


def test_an_answer_restarts_the_budget(make_settings):
    settings = make_settings(
        queue={"rate_limit_budget_minutes": 0.005, "rate_limit_pause_seconds": 0.12},
        portals=ONE_ACCOUNT,
    )
    store = Store.open(settings)
    # each item is refused twice (0.24 s), then answered: 429s for longer than the budget in
    # all, never for the budget without an answer
    flow = ScriptedFlow({f"M{n}": [RateLimited("429")] * 2 + [ANSWER] for n in range(3)})
    summary, items = run(settings, store, {"alpha": flow}, [elig(f"M{n}") for n in range(3)])
    assert {(i.state, i.attempts) for i in items.values()} == {("succeeded", 1)}
    assert not summary.postponed_portals
    store.close()


def test_the_next_run_starts_from_the_learned_pace_halved_every_memory_period(make_settings):
    settings = make_settings(
        queue={
            "rate_limit_pause_seconds": 0.0,
            "rate_limit_first_pace_seconds": 0.2,
            "rate_limit_max_pace_seconds": 10.0,
            "rate_limit_recovery_per_minute": 0.0,
            "rate_limit_memory_hours": 4.0,
        },
        portals=ONE_ACCOUNT,
    )
    store = Store.open(settings)
    first = ScriptedFlow({"M0": [RateLimited("429")] * 2 + [ANSWER]})
    summary, _ = run(settings, store, {"alpha": first}, [elig("M0")])
    assert summary.portal_pace["alpha"]["ended_seconds"] == 0.4
    kept = store.remembered_pace("alpha")
    assert kept is not None and kept[0] == pytest.approx(0.4)

    # eight hours later (two halvings): the next run starts at 0.1 s, without a single 429
    store.remember_pace("alpha", 0.4, at=utcnow() - timedelta(hours=8))
    second = ScriptedFlow()
    summary, _ = run(settings, store, {"alpha": second}, [elig(f"N{n}") for n in range(4)])
    assert summary.portal_pace["alpha"]["started_seconds"] == pytest.approx(0.1)
    # (the first gap is shorter by the first lookup's login; turns, not asks, are spaced)
    assert sum(_gaps(second)[1:]) >= 2 * 0.1 - 0.04, "paced from the start"
    assert "as an earlier run learned" in summary.notes()["slowed_portals"]["alpha"]

    # long forgotten: the configured pace (0) again, nothing to report
    store.remember_pace("alpha", 0.4, at=utcnow() - timedelta(days=3))
    third = ScriptedFlow()
    summary, _ = run(settings, store, {"alpha": third}, [elig(f"P{n}") for n in range(3)])
    assert "alpha" not in summary.portal_pace
    store.close()


def test_the_pace_in_words():
    facts = {
        "rate_limited": 12,
        "configured_seconds": 0,
        "started_seconds": 0,
        "slowest_seconds": 2.4,
        "ended_seconds": 1.2,
    }
    assert pace_sentence(facts) == (
        "asked us to slow down 12 times; paced to one lookup every 2.4 s (was 0 s); "
        "one every 1.2 s at the end of the run"
    )


def test_the_run_record_the_summary_and_the_digest_say_the_portal_was_slowed(make_settings):
    from rich.console import Console

    from bots.outputs import digest
    from bots.outputs.report import run_detail
    from bots.outputs.run_views import print_run_detail, print_run_summary

    settings = make_settings(
        queue={"rate_limit_pause_seconds": 0.0, "rate_limit_first_pace_seconds": 0.04},
        portals=ONE_ACCOUNT,
    )
    store = Store.open(settings)
    flow = ScriptedFlow({"M1": [RateLimited("429"), ANSWER]})
    summary, _ = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    said = "asked us to slow down 1 time; paced to one lookup every 0.04 s (was 0 s)"
    notes = store.get_run(summary.run_id).notes
    assert notes["slowed_portals"]["alpha"].startswith(said), "kept in the run record"
    assert notes["portal_pace"]["alpha"]["rate_limited"] == 1

    terminal = Console(record=True, width=200)
    print_run_summary(terminal, summary, store.run_outcomes(summary.run_id), settings.data_dir)
    run_row = store.get_run(summary.run_id)
    items = store.run_outcomes(summary.run_id)
    print_run_detail(terminal, run_row, run_detail(run_row, items), items, settings.timezone)
    shown = terminal.export_text()
    assert shown.count(f"portal alpha slowed down: {said}") == 2, shown

    data = digest.build(settings, store, "nightly", 1, [summary.run_id], "finished", "ok")
    assert data["slowed_portals"][0]["why"].startswith(said)
    assert f"SLOWED DOWN - alpha: {said}" in digest._plain(data)
    assert said in digest.render_html(data)
    store.close()
