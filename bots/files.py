"""Files in the data folder hold PHI: folders are created 0700 and files 0600, always."""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents owner-only; tighten it if it already exists."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Make sure the file's folder is private and the file itself owner-only."""
    private_dir(path.parent)
    if path.exists():
        os.chmod(path, 0o600)
    return path
