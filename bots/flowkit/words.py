"""Strict word maps: a portal's word for a field -> payerbot's code, or no answer at all.

A portal that shows a word the flow has never seen (a new network wording, a status it
did not list) has changed; guessing a default would turn that change into a wrong answer.
``Words`` reads only the words it was given, compared without regard to case, spacing or
punctuation, and raises ``LayoutChanged`` naming the field, never the word, otherwise::

    NETWORKS = Words("network", {"In-network": YesNoUnknown.YES, "Out-of-network": ...})
    NETWORKS.read("IN NETWORK")   # -> YesNoUnknown.YES
    NETWORKS.read("Tier 2")       # -> LayoutChanged("the portal shows a network word ...")

What a blank cell means is declared per map (``blank=``): by default a blank is refused
like an unknown word; ``blank=None`` reads it as "not shown", ``blank=value`` as that value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

from bots.errors import LayoutChanged

T = TypeVar("T")

_BLANKS = frozenset({"", "—", "–", "-", "n/a"})


class _Refuse(Enum):
    REFUSE = "refuse"


REFUSE = _Refuse.REFUSE
"""``blank=REFUSE`` (the default): a blank where a word belongs is a changed page."""


def normalized(text: str) -> str:
    """The form words are compared in: case-folded, punctuation as spaces, spaces collapsed."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def is_blank(text: str | None) -> bool:
    return text is None or text.strip().casefold() in _BLANKS


class Words(Generic[T]):
    """One field's vocabulary on one portal, read strictly (see the module docstring)."""

    __slots__ = ("_blank", "_words", "field")

    def __init__(
        self, field: str, mapping: Mapping[str, T], *, blank: T | _Refuse = REFUSE
    ) -> None:
        self.field = field
        self._blank = blank
        self._words: dict[str, T] = {}
        for word, value in mapping.items():
            key = normalized(word)
            if not key:
                raise ValueError(f"{field}: declare what a blank means with blank=, not a '' word")
            if key in self._words and self._words[key] != value:
                raise ValueError(f"{field}: {word!r} reads like another word with another value")
            self._words[key] = value

    def read(self, text: str | None) -> T:
        """The code for the portal's word; ``LayoutChanged`` for a word it does not know."""
        if is_blank(text):
            if self._blank is REFUSE:
                raise LayoutChanged(f"the portal shows no {self.field} where the flow needs one")
            return self._blank
        assert text is not None
        found = self._words.get(normalized(text), REFUSE)
        if found is REFUSE:
            raise LayoutChanged(f"the portal shows a {self.field} word the flow does not know")
        return found

    def read_value(self, value: Any) -> T:
        """A JSON value (an API's code or flag) read like a word: only known values pass."""
        if value is None or isinstance(value, str):
            return self.read(value)
        if isinstance(value, bool):  # JSON true/false are words too: "true"/"false"
            return self.read("true" if value else "false")
        raise LayoutChanged(f"the portal shows a {self.field} value the flow does not know")

    def knows(self, text: str) -> bool:
        return normalized(text) in self._words

    def __iter__(self) -> Iterator[str]:
        return iter(self._words)

    def __repr__(self) -> str:
        return f"Words({self.field!r}, {len(self._words)} words)"
