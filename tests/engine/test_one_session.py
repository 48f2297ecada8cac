"""One live session per account: a new login first signs out the session the portal may
still hold (after an expiry read on a page, after a login that failed half-way), and a
sign-out the portal did not confirm means no login this attempt."""

from __future__ import annotations

import pytest

from bots.errors import PortalUnavailable, SessionExpired
from bots.flowkit.scripted import ANSWER, ScriptedFlow
from tests.engine.conftest import elig, run

pytestmark = pytest.mark.timeout(30)


def test_a_relogin_after_an_expiry_signs_the_old_session_out_first(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    from bots.store import Store

    store = Store.open(settings)
    flow = ScriptedFlow({"M2": [SessionExpired("signed out"), ANSWER]})
    _, items = run(settings, store, {"alpha": flow}, [elig("M1"), elig("M2")])
    assert {(i.state, i.attempts) for i in items.values()} == {("succeeded", 1)}
    assert flow.sessions_calls("main") == [
        "login",
        "eligibility",
        "eligibility",
        "logout",
        "login",
        "eligibility",
    ]
    store.close()


def test_a_login_that_failed_half_way_is_signed_out_before_the_next_one(make_settings):
    settings = make_settings(portals={"alpha": {"accounts": ["main"]}})
    from bots.store import Store

    store = Store.open(settings)
    flow = ScriptedFlow(
        logins={"main": [PortalUnavailable("500 on the terms page"), None]},
        logouts={"main": [PortalUnavailable("500 on the sign out"), None]},
    )
    _, items = run(settings, store, {"alpha": flow}, [elig("M1")])
    assert items["M1"].state == "succeeded"
    # the first login may have opened a session: the next attempt signs out first; that
    # sign out fails, so no login then; the third attempt signs out, then logs in
    assert flow.sessions_calls("main") == ["login", "logout", "logout", "login", "eligibility"]
    store.close()
