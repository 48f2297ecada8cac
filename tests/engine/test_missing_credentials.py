"""One missing login costs that account only: the others run, the run says which account
and the command that fixes it; a portal with no account left ends its items
``no_credentials`` (resumable once the login is set)."""

from __future__ import annotations

import pytest

from bots.flowkit.scripted import ScriptedFlow
from tests.conftest import run_async
from tests.engine.conftest import _credentials, elig, key_of, new_runner, run

pytestmark = pytest.mark.timeout(30)


def _without(portal: str, account: str) -> dict:
    """The test's logins, but this account's password not set (its username is)."""
    creds = _credentials()
    creds[portal][account]["password"] = None
    return creds


def test_a_missing_password_sets_that_account_aside_and_the_others_run(make_settings):
    settings = make_settings(credentials=_without("alpha", "main"))
    from bots.store import Store

    store = Store.open(settings)
    alpha, beta = ScriptedFlow(), ScriptedFlow()
    rows = [elig(f"M{n}") for n in range(4)] + [elig("B1", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert {i.state for i in items.values()} == {"succeeded"}, "nothing lost"
    assert [c.key for c in alpha.logins()] == ["second"]
    assert summary.ok and not summary.stopped_portals
    why = summary.accounts_set_aside["alpha/main"]
    assert "payerbot creds set alpha main" in why
    assert "Traceback" not in why and "ConfigurationError" not in why
    assert store.get_run(summary.run_id).notes["accounts_set_aside"] == {"alpha/main": why}
    store.close()


def test_a_portal_with_no_login_left_ends_its_items_saying_so_and_resume_asks_them_again(
    make_settings,
):
    settings = make_settings(credentials=_without("beta", "main"))
    from bots.store import Store

    store = Store.open(settings)
    alpha, beta = ScriptedFlow(), ScriptedFlow()
    rows = [elig("M1"), elig("B1", "BETA"), elig("B2", "BETA")]
    summary, items = run(settings, store, {"alpha": alpha, "beta": beta}, rows)
    assert items["M1"].state == "succeeded", "the other portal runs"
    assert beta.calls == []
    for key in ("B1", "B2"):
        assert (items[key].state, items[key].last_error_code) == ("system_failed", "no_credentials")
        assert "payerbot creds set beta main" in items[key].last_error_message
    assert "payerbot creds set beta main" in summary.stopped_portals["beta"]
    fixed = make_settings()  # the login is set now (`payerbot creds set beta main`)
    resumed = run_async(new_runner(fixed, store, {"beta": beta}).resume(summary.run_id))
    after = {key_of(i): i for i in store.run_outcomes(summary.run_id)}
    assert {i.state for i in after.values()} == {"succeeded"} and resumed.ok
    store.close()
