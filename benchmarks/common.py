"""What the three benchmark workers share: the workload and the JSON they print.

Every worker reads the same job file (portal URL, logins, questions) and prints one JSON
line: lookups done, wall seconds, per-lookup milliseconds, logins, errors.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bots.flowkit.flow import LoginSecrets
from bots.models import EligibilityQuery


@dataclass
class Job:
    url: str
    logins: list[dict[str, str]]  # username, password, totp_seed per session
    queries: list[dict[str, Any]]
    executable: str | None = None

    @classmethod
    def read(cls, path: str) -> Job:
        return cls(**json.loads(Path(path).read_text()))

    def secrets(self, n: int) -> LoginSecrets:
        login = self.logins[n]
        return LoginSecrets(login["username"], login["password"], login.get("totp_seed"))

    def questions(self) -> list[EligibilityQuery]:
        return [EligibilityQuery.model_validate(q) for q in self.queries]


@dataclass
class Outcome:
    lookups: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    logins: int = 0
    errors: int = 0
    checkpoints: dict[str, float] = field(default_factory=dict)

    def emit(self) -> None:
        sys.stdout.write(json.dumps(asdict(self)) + "\n")


def clock() -> float:
    return time.perf_counter()
