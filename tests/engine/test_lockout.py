"""A person must look: a CAPTCHA stops the portal, a refused login flags the account (never
logged into again, in this run or a later one) and stops the portal; with every account
flagged its items end without a login."""

from __future__ import annotations

import pytest

from bots.errors import AuthenticationError, PortalBlocked
from bots.flowkit.scripted import ScriptedFlow, Slow
from tests.engine.conftest import elig, run

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


def test_a_refused_login_flags_the_account_and_stops_the_portal(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    store = _store(settings)
    alpha = ScriptedFlow(logins={"main": AuthenticationError("password refused")})
    summary, items = run(settings, store, {"alpha": alpha}, [elig(f"M{n}") for n in range(4)])
    assert len(alpha.logins()) == 1, "one refused login, never a second"
    assert alpha.asked() == []
    assert {i.last_error_code for i in items.values()} == {"authentication_error"}
    assert {i.state for i in items.values()} == {"system_failed"}
    assert sorted(i.attempts for i in items.values()) == [0, 0, 0, 1]
    (flag,) = store.flagged_accounts("alpha")
    assert (flag.account, flag.flag) == ("main", "login_refused")
    assert "alpha" in summary.stopped_portals
    store.close()


def test_a_refused_login_stops_the_portals_other_sessions_in_a_local_run(settings, store):
    alpha = ScriptedFlow(
        default=Slow(0.02), logins={"second": [Slow(0.05, AuthenticationError("locked"))]}
    )
    summary, items = run(settings, store, {"alpha": alpha}, [elig(f"M{n}") for n in range(12)])
    assert len(alpha.logins("second")) == 1
    assert [f.account for f in store.flagged_accounts("alpha")] == ["second"]
    states = {(i.state, i.last_error_code) for i in items.values()}
    assert states <= {("succeeded", None), ("system_failed", "authentication_error")}
    ended = [i for i in items.values() if i.last_error_code == "authentication_error"]
    assert len(ended) >= 6, "main stopped too: the portal's unclaimed items ended"
    assert all(i.attempts <= 1 for i in items.values()), "nothing retried"
    assert "alpha" in summary.stopped_portals


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
