"""A person must look: a CAPTCHA stops the portal; a refused login flags the account (never
logged into again, in this run or a later one) and sets it aside while the portal's other
accounts carry the work; with every account flagged its items end ``account_locked``
without a login, and `runs resume` asks them again after `creds reset-lock`."""

from __future__ import annotations

import pytest

from bots.errors import AuthenticationError, PortalBlocked
from bots.flowkit.scripted import ScriptedFlow, Slow
from bots.models import LookupKind
from tests.conftest import run_async
from tests.engine.conftest import elig, key_of, new_runner, run

pytestmark = pytest.mark.timeout(30)  # an engine test takes well under a second


def _store(settings):
    from bots.store import Store

    return Store.open(settings)


def test_a_captcha_stops_the_portal_and_ends_its_unclaimed_items_with_the_reason(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    alpha = ScriptedFlow({"M2": PortalBlocked("a CAPTCHA is shown")})
    beta = ScriptedFlow()
    rows = [elig(f"M{n}") for n in range(1, 6)] + [elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert items["M1"].state == "succeeded"
    assert (items["M2"].state, items["M2"].attempts) == ("system_failed", 1)
    assert items["M2"].last_error_code == "portal_blocked", "never retried into the CAPTCHA"
    for key in ("M3", "M4", "M5"):
        assert (items[key].state, items[key].attempts) == ("system_failed", 0)
        assert items[key].last_error_code == "portal_blocked"
        assert items[key].last_error_message.startswith("not attempted: alpha stopped")
    assert [c.key for c in alpha.asked()] == ["M1", "M2"]
    assert items["B1"].state == "succeeded", "the other portal carries on"
    assert "alpha" in summary.stopped_portals and not summary.ok
    assert store.flagged_accounts("alpha") == [], "a CAPTCHA is not the account's fault"
    store.close()


def test_with_its_only_account_refused_the_portals_items_end_account_locked(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    alpha = ScriptedFlow(logins={"main": AuthenticationError("password refused")})
    summary, items = run(settings, store, {"alpha": alpha}, [elig(f"M{n}") for n in range(4)])
    assert len(alpha.logins()) == 1, "one refused login, never a second"
    assert alpha.asked() == []
    assert {(i.state, i.last_error_code, i.attempts) for i in items.values()} == {
        ("system_failed", "account_locked", 0)
    }, "the item in its hands went back first: no attempt spent on any"
    assert all("creds reset-lock alpha" in i.last_error_message for i in items.values())
    (flag,) = store.flagged_accounts("alpha")
    assert (flag.account, flag.flag) == ("main", "login_refused")
    assert "creds reset-lock alpha" in summary.stopped_portals["alpha"]
    assert "alpha/main" in summary.accounts_set_aside
    store.close()


def test_a_refused_account_is_set_aside_and_the_other_account_answers_everything(settings, store):
    alpha = ScriptedFlow(
        default=Slow(0.02), logins={"second": [Slow(0.05, AuthenticationError("locked"))]}
    )
    summary, items = run(settings, store, {"alpha": alpha}, [elig(f"M{n}") for n in range(12)])
    assert len(alpha.logins("second")) == 1, "exactly one failed login"
    assert [f.account for f in store.flagged_accounts("alpha")] == ["second"]
    assert {(i.state, i.attempts) for i in items.values()} == {("succeeded", 1)}, (
        "the refused session's item went back to the queue without spending an attempt"
    )
    assert {c.account for c in alpha.asked()} == {"main"}
    assert sorted(c.key for c in alpha.asked()) == sorted(items), "each asked once"
    assert "alpha" not in summary.stopped_portals and summary.ok
    assert "creds reset-lock alpha --account second" in summary.accounts_set_aside["alpha/second"]


def test_a_spare_account_is_opened_in_place_of_a_refused_one(make_settings):
    # one session at a time: second is not used until main is refused
    settings = make_settings(portals={"alpha": {"accounts": ["main", "second"], "max_sessions": 1}})
    store = _store(settings)
    alpha = ScriptedFlow(logins={"main": AuthenticationError("password refused")})
    summary, items = run(settings, store, {"alpha": alpha}, [elig(f"M{n}") for n in range(5)])
    assert [c.key for c in alpha.logins()] == ["main", "second"]
    assert {(i.state, i.attempts) for i in items.values()} == {("succeeded", 1)}
    assert {c.account for c in alpha.asked()} == {"second"}
    assert summary.ok and summary.logins == {"alpha/main": 1, "alpha/second": 1}
    assert {s.holder for s in store.account_sessions("alpha")} == {None}, "both let go"
    store.close()


def test_runs_resume_asks_account_locked_items_again_once_a_person_reset_the_lock(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    refusing = ScriptedFlow(logins={"main": AuthenticationError("password refused")})
    summary, _ = run(settings, store, {"alpha": refusing}, [elig("M1"), elig("M2")])
    run_id = summary.run_id
    still_flagged = ScriptedFlow()
    again = run_async(new_runner(settings, store, {"alpha": still_flagged}).resume(run_id))
    assert still_flagged.calls == [], "still set aside: not a single login"
    assert {i.last_error_code for i in store.run_outcomes(run_id)} == {"account_locked"}
    assert not again.ok
    assert store.clear_account_flags("alpha") == 1  # `payerbot creds reset-lock alpha`
    fixed = ScriptedFlow()
    resumed = run_async(new_runner(settings, store, {"alpha": fixed}).resume(run_id))
    after = {key_of(i): i for i in store.run_outcomes(run_id)}
    assert {(i.state, i.attempts) for i in after.values()} == {("succeeded", 1)}
    assert sorted(c.key for c in fixed.asked()) == ["M1", "M2"] and resumed.ok
    store.close()


def test_a_flagged_account_is_never_logged_into_in_a_later_run(settings, store):
    # two questions, each held 0.5 s: both sessions claim one, so main tries its login
    refusing = ScriptedFlow(
        logins={"main": AuthenticationError("password refused")}, default=Slow(0.5)
    )
    run(settings, store, {"alpha": refusing}, [elig("M1"), elig("M2")])
    assert len(refusing.logins("main")) == 1
    assert [f.account for f in store.flagged_accounts("alpha")] == ["main"]
    later = ScriptedFlow(default=Slow(0.01))
    summary, items = run(settings, store, {"alpha": later}, [elig(f"N{n}") for n in range(4)])
    assert [c.key for c in later.logins()] == ["second"], "main is left alone"
    assert {c.account for c in later.asked()} == {"second"}
    assert {i.state for i in items.values()} == {"succeeded"} and summary.ok


def test_with_every_account_flagged_the_items_end_account_locked_without_a_login(settings, store):
    for account in ("main", "second"):
        store.flag_account("alpha", account, "login_refused", "password refused", None)
    alpha, beta = ScriptedFlow(), ScriptedFlow()
    rows = [elig("M1"), elig("M2"), elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert alpha.calls == [], "not a single login"
    for key in ("M1", "M2"):
        assert (items[key].state, items[key].attempts) == ("system_failed", 0)
        assert items[key].last_error_code == "account_locked"
    assert "creds reset-lock alpha" in summary.stopped_portals["alpha"]
    assert items["B1"].state == "succeeded"


def test_a_desk_lookup_refused_on_its_account_is_answered_with_the_portals_other_account(
    settings, store
):
    alpha = ScriptedFlow(logins={"main": AuthenticationError("password refused")})
    runner = new_runner(settings, store, {"alpha": alpha})
    summary = run_async(runner.run(LookupKind.ELIGIBILITY, [elig("M1")], trigger="lookup"))
    (item,) = store.run_outcomes(summary.run_id)
    assert (item.state, item.attempts) == ("succeeded", 1)
    assert [c.key for c in alpha.logins()] == ["main", "second"], "one refused login, then second"
    assert [c.account for c in alpha.asked()] == ["second"]
