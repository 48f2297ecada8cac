"""Evidence links in the workbooks: the console's own /files URL for each evidence file,
which opens wherever the workbook is opened (a downloaded copy, an e-mail attachment), and
the path relative to the workbook as a fallback for the local copy only.

The URL mirrors the console's route ``/files/{kind}/{run_id}/{name}``
(bots/interfaces/console/supervision.py ``files``): only files under the data folder's
``evidence`` or ``traces`` folder, one run folder deep, have one."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from bots.settings import Settings

_ANY_ADDRESS = {"0.0.0.0", "::", ""}  # noqa: S104  # a bind address, not a bind


def console_base_url(settings: Settings) -> str:
    """``console.public_url``, else the console's own address (host and port)."""
    if settings.console.public_url:
        return settings.console.public_url.rstrip("/")
    host = settings.console.host
    if host in _ANY_ADDRESS:
        host = socket.getfqdn()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{settings.console.port}"


@dataclass(frozen=True, slots=True)
class EvidenceLinks:
    """How a workbook links its evidence: ``base_url`` None means no console URLs (the
    relative path is the only link)."""

    data_dir: Path
    base_url: str | None

    @classmethod
    def of(cls, settings: Settings) -> EvidenceLinks:
        return cls(settings.data_dir, console_base_url(settings))

    def url(self, evidence: str | None) -> str | None:
        """The console URL that serves ``evidence``, or None (none configured, or a file the
        console does not serve)."""
        if not evidence or not self.base_url:
            return None
        try:
            rel = Path(evidence).resolve().relative_to(self.data_dir.resolve())
        except ValueError:
            return None
        if len(rel.parts) != 3 or rel.parts[0] not in ("evidence", "traces"):
            return None
        return f"{self.base_url}/files/{'/'.join(rel.parts)}"


def local_link(evidence: str | None, workbook: Path) -> str | None:
    """``evidence`` relative to the workbook's folder (a link that works on this machine
    and on a share that holds both)."""
    if not evidence:
        return None
    try:
        return os.path.relpath(evidence, workbook.parent)
    except ValueError:  # another drive (Windows): no relative path exists
        return Path(evidence).as_uri() if Path(evidence).is_absolute() else evidence
