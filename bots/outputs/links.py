"""Links to the console from what is read elsewhere (the digest, mails): absolute URLs."""

from __future__ import annotations

from bots.outputs.evidence_links import console_base_url
from bots.settings import Settings

__all__ = ["console_url"]


def console_url(settings: Settings, path: str = "") -> str:
    """The console's address (``console.public_url``, else http://host:port) + ``path``:
    the same base as the workbooks' evidence links (evidence_links.console_base_url)."""
    return console_base_url(settings) + path
