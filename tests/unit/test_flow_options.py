"""``[portals.NAME.options]``: validated by the model the flow declares and handed to the
flow; a missing, misspelt or wrongly typed option is one sentence naming the key, before any
browser starts."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from bots.engine.gates import build_flow
from bots.errors import ConfigurationError
from bots.flowkit.flow import PortalFlow
from bots.settings import PortalSettings, Settings


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    practice: str
    npi: str | None = None
    locations_per_page: int = 25


class _WithOptions(PortalFlow):  # not registered: built by class
    name = "with_options"
    options_model = _Options

    async def login(self, page, secrets):  # type: ignore[no-untyped-def]
        return None

    async def is_logged_in(self, page):  # type: ignore[no-untyped-def]
        return True


class _WithoutOptions(_WithOptions):
    name = "without_options"
    options_model = None


def _settings(options: dict[str, object]) -> Settings:
    portal = PortalSettings(base_url="http://127.0.0.1:9", accounts=["main"], options=options)
    return Settings.model_construct(portals={"clinicnet": portal})


def test_the_flow_gets_its_options_validated() -> None:
    flow = build_flow(
        _settings({"practice": "Eastside", "locations_per_page": "50"}), "clinicnet", _WithOptions
    )
    assert isinstance(flow.options, _Options)
    assert (flow.options.practice, flow.options.npi, flow.options.locations_per_page) == (
        "Eastside",
        None,
        50,
    )


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        (
            {},
            "config/portals.toml: portals.clinicnet.options.practice: required setting is missing",
        ),
        (
            {"practice": "Eastside", "practise": "x"},
            "config/portals.toml: portals.clinicnet.options.practise: unknown setting",
        ),
        (
            {"practice": "Eastside", "locations_per_page": "many"},
            "config/portals.toml: portals.clinicnet.options.locations_per_page: expected a whole number",
        ),
    ],
)
def test_a_bad_option_is_one_sentence_naming_the_key(
    options: dict[str, object], sentence: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_flow(_settings(options), "clinicnet", _WithOptions)
    assert str(caught.value) == sentence


def test_a_flow_without_options_refuses_an_options_table() -> None:
    assert build_flow(_settings({}), "clinicnet", _WithoutOptions).options is None
    with pytest.raises(ConfigurationError, match="takes no options"):
        build_flow(_settings({"practice": "Eastside"}), "clinicnet", _WithoutOptions)


def test_every_bundled_flow_is_built_the_engine_s_way() -> None:
    from bots.flowkit.flow import load_flows

    flows = load_flows()
    assert {"payerhub", "legacyportal", "medicaidportal"} <= set(flows)
    for name, cls in flows.items():
        settings = _settings({})
        assert build_flow(settings, "clinicnet", cls).name == name
