"""The read-only policy: what a flow's declaration lets through, and what it refuses."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bots.errors import ReadOnlyViolation
from bots.flowkit.readonly import ReadOnlyGuard, ReadOnlyPolicy, Send, portal_request
from flows.legacyportal import LegacyPortalFlow
from flows.medicaidportal import MedicaidPortalFlow
from flows.payerhub import PayerHubFlow
from tests.conftest import run_async

BASE = "http://127.0.0.1:8001"


def hub() -> ReadOnlyPolicy:
    return PayerHubFlow(BASE).read_only_policy()


def test_reads_pass_and_declared_sends_pass():
    policy = hub()
    assert policy.refusal("GET", f"{BASE}/api/claims/C1", navigation=False) is None
    assert policy.refusal("HEAD", f"{BASE}/", navigation=False) is None
    assert policy.refusal("post", f"{BASE}/api/eligibility?x=1", navigation=False) is None


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", f"{BASE}/api/appeals"),  # a write the flow never declared
        ("PUT", f"{BASE}/api/eligibility"),  # a declared path, another method
        ("POST", f"{BASE}/api/eligibility/member/extra"),  # more than the declared path
        ("DELETE", f"{BASE}/api/profile"),
        ("POST", "http://elsewhere.example/api/eligibility"),  # the path, on another site
    ],
)
def test_every_other_non_get_is_refused(method, url):
    refusal = hub().refusal(method, url, navigation=False)
    assert refusal is not None and method in refusal


def test_write_pages_are_refused_as_navigations_only():
    policy = MedicaidPortalFlow(BASE).read_only_policy()
    assert policy.refusal("GET", f"{BASE}/claims/abc123/adjust", navigation=True)
    assert policy.refusal("GET", f"{BASE}/provider/enrollment", navigation=True)
    assert policy.refusal("GET", f"{BASE}/claims/abc123", navigation=True) is None
    assert policy.refusal("GET", f"{BASE}/claims/abc123/detail.pdf", navigation=True) is None
    legacy = LegacyPortalFlow(BASE).read_only_policy()
    assert legacy.refusal("GET", f"{BASE}/ChangePassword.aspx?u=1", navigation=True)
    assert legacy.refusal("POST", f"{BASE}/ChangePassword.aspx", navigation=True)


def test_a_single_page_apps_write_routes_are_write_pages():
    assert hub().write_page(f"{BASE}/#/appeals") == "/#/appeals"
    assert hub().write_page(f"{BASE}/#/eligibility") is None
    assert hub().write_page(f"{BASE}/") is None


def test_a_star_stands_for_one_path_segment():
    policy = ReadOnlyPolicy.of(BASE, [Send("POST", "/claims/*/search")], [])
    assert policy.refusal("POST", f"{BASE}/claims/42/search", navigation=False) is None
    assert policy.refusal("POST", f"{BASE}/claims/4/2/search", navigation=False)


def test_a_refusal_names_no_query_string():
    refusal = hub().refusal("POST", f"{BASE}/api/notes?member=W123456789", navigation=False)
    assert refusal is not None and "W123456789" not in refusal


def test_the_guard_reports_a_violation_once():
    guard = ReadOnlyGuard(hub())
    guard.record("sent POST /a, a request its flow does not declare")
    guard.record("sent POST /b, a request its flow does not declare")
    first = guard.take()
    assert isinstance(first, ReadOnlyViolation) and "/a" in str(first) and "1 more" in str(first)
    assert guard.take() is None


def test_the_request_helper_refuses_a_write_without_a_guard():
    class Context:
        pass

    class Bare:  # a page whose context the engine never guarded
        context = Context()

    with pytest.raises(ReadOnlyViolation):
        run_async(portal_request(cast(Any, Bare()), "POST", f"{BASE}/api/eligibility"))


def test_every_bundled_flow_declares_what_it_sends():
    for flow in (PayerHubFlow, LegacyPortalFlow, MedicaidPortalFlow):
        assert flow.sends and flow.write_pages, flow.name


def test_a_sign_in_on_another_host_is_declared_by_its_full_address():
    policy = ReadOnlyPolicy.of(BASE, [Send("POST", "https://sso.example/login")], [])
    assert policy.refusal("POST", "https://sso.example/login", navigation=True) is None
    assert policy.refusal("POST", f"{BASE}/login", navigation=True)
    assert policy.refusal("POST", "https://sso.example/other", navigation=True)
