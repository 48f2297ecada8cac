"""The extension point: flows register by name, duplicates are refused, capabilities are known."""

from __future__ import annotations

import pytest

from bots.errors import ConfigurationError, PatientMismatch, PortalTimeout
from bots.flowkit.flow import LoginSecrets, PortalFlow, get_flow, load_flows, register
from bots.models import LookupKind


def test_bundled_flows_register_with_their_capabilities():
    flows = load_flows()
    assert "payerhub" in flows
    assert flows["payerhub"].capabilities() == {LookupKind.ELIGIBILITY, LookupKind.CLAIM_STATUS}


def test_a_portal_without_claims_says_so_and_duplicates_are_refused():
    class EligOnly(PortalFlow):
        name = "elig-only-test"

        async def login(self, page, secrets): ...
        async def is_logged_in(self, page):
            return True

        async def eligibility(self, page, query): ...

    assert EligOnly.capabilities() == {LookupKind.ELIGIBILITY}
    register(EligOnly)

    class Impostor(EligOnly):
        pass

    with pytest.raises(ConfigurationError, match="two flows are named 'elig-only-test'"):
        register(Impostor)
    with pytest.raises(ConfigurationError, match="no flow named 'nope'"):
        get_flow("nope")


def test_error_families_and_codes():
    assert PortalTimeout.retryable and not PatientMismatch.retryable
    assert PatientMismatch.code() == "patient_mismatch"


def test_secrets_never_print():
    secrets = LoginSecrets("clinic.user", "hunter2!", "JBSWY3DPEHPK3PXP")
    assert "hunter2" not in repr(secrets) and "clinic.user" not in repr(secrets)
    assert "JBSWY" not in str(secrets)
