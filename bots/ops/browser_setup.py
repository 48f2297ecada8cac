"""Make a Chromium available for Playwright: the set-up step behind `make demo` and `make test`.

Order: an already usable browser (explicit setting, Playwright's own, Debian's); else
`python -m playwright install chromium`; else, as root, Debian's
`chromium-headless-shell` package; else stop and say exactly what to install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import playwright

from bots.engine.browser import INSTALL_HINT, SYSTEM_CANDIDATES, playwright_chromium
from bots.settings import load_settings


def expected_major() -> int | None:
    """The Chromium major version this Playwright release was built against."""
    browsers = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    try:
        data = json.loads(browsers.read_text())
    except (OSError, ValueError):
        return None
    for entry in data.get("browsers", []):
        if entry.get("name") == "chromium":
            return int(str(entry["browserVersion"]).split(".")[0])
    return None


def binary_major(path: Path) -> int | None:
    try:
        text = subprocess.run(  # noqa: S603 - our own resolved browser binary
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)\.\d+\.\d+", text)
    return int(match.group(1)) if match else None


def find() -> Path | None:
    explicit = load_settings().browser.executable
    if explicit is not None:
        return explicit if explicit.is_file() else None
    own = playwright_chromium()
    if own is not None:
        return own
    return next((c for c in SYSTEM_CANDIDATES if c.is_file()), None)


def _run(cmd: list[str], timeout: int) -> bool:
    print("+", " ".join(cmd), flush=True)
    try:
        return subprocess.run(cmd, timeout=timeout).returncode == 0  # noqa: S603 - our own fixed argv, no shell
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure() -> Path:
    found = find()
    if found is None:
        _run([sys.executable, "-m", "playwright", "install", "chromium"], timeout=600)
        found = find()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print(
            "Playwright could not download its Chromium; "
            "installing Debian's chromium-headless-shell."
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=600, check=False)  # noqa: S607 - apt-get from PATH, as a person runs it
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium-headless-shell"],  # noqa: S607 - apt-get from PATH
            env=env,
            timeout=900,
            check=False,
        )
        found = find()
    if found is None:
        raise SystemExit(INSTALL_HINT + (" (needs root: sudo)" if os.geteuid() != 0 else ""))
    want, have = expected_major(), binary_major(found)
    print(f"browser: {found} (Chromium {have}; this Playwright expects {want})")
    if want and have and abs(want - have) > 3:
        print(
            f"warning: Chromium {have} is far from Playwright's {want}: "
            "pin playwright to a release "
            "built for this major (pyproject.toml) to avoid protocol mismatches."
        )
    return found


if __name__ == "__main__":
    ensure()
