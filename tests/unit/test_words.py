"""bots.flowkit.words: a portal's words read strictly, an unknown word is a changed page."""

from __future__ import annotations

import pytest

from bots.codes import CoverageLevel, YesNoUnknown
from bots.errors import LayoutChanged
from bots.flowkit.words import Words

NETWORKS = Words("network", {"In-network": YesNoUnknown.YES, "Out-of-network": YesNoUnknown.NO})


@pytest.mark.parametrize(
    "text", ["In-network", "in-network", "IN NETWORK", " In  network ", "in_network", "In-Network."]
)
def test_case_spaces_and_punctuation_do_not_matter(text: str) -> None:
    assert NETWORKS.read(text) is YesNoUnknown.YES


@pytest.mark.parametrize("text", ["Tier 2", "In network preferred", "Innetwork", "Y"])
def test_an_unknown_word_is_a_changed_page_naming_the_field_not_the_word(text: str) -> None:
    with pytest.raises(LayoutChanged) as caught:
        NETWORKS.read(text)
    message = str(caught.value)
    assert "network word the flow does not know" in message
    assert text.strip() not in message


def test_a_blank_is_refused_unless_the_map_declares_what_it_means() -> None:
    for blank in ("", "  ", "—", "-", None):
        with pytest.raises(LayoutChanged, match="shows no network"):
            NETWORKS.read(blank)
    levels = Words("coverage level", {"Individual": CoverageLevel.INDIVIDUAL}, blank=None)
    assert levels.read("") is None and levels.read("—") is None
    auth = Words("prior authorization", {"Yes": YesNoUnknown.YES}, blank=YesNoUnknown.UNKNOWN)
    assert auth.read(" ") is YesNoUnknown.UNKNOWN
    with pytest.raises(LayoutChanged):
        auth.read("Maybe")  # a blank default is not a default for unknown words


def test_json_values_read_like_words() -> None:
    flags = Words("coverage status", {"true": True, "false": False})
    assert flags.read_value(True) is True and flags.read_value(False) is False
    for odd in (1, 0, "yes", 2.5, [], {}):
        with pytest.raises(LayoutChanged, match="coverage status"):
            flags.read_value(odd)


def test_two_words_that_read_alike_with_different_values_are_refused() -> None:
    with pytest.raises(ValueError, match="reads like another word"):
        Words("network", {"In-network": "Y", "in network": "N"})
    with pytest.raises(ValueError, match="blank="):
        Words("coverage level", {"": None})
    assert Words("network", {"In-network": "Y", "IN NETWORK": "Y"}).read("in network") == "Y"
