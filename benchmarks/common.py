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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the lean loops (benchmarks/lean/) load no bots code
    from bots.flowkit.flow import LoginSecrets
    from bots.models import EligibilityQuery


@dataclass
class Job:
    url: str
    logins: list[dict[str, Any]]  # username, password, totp_seed / security_answers per session
    queries: list[dict[str, Any]]
    executable: str | None = None
    claim_queries: list[dict[str, Any]] = field(default_factory=list)
    """Claim status questions (``payer_id``, ``claim_number``, ``member_id``, ``dob``): only
    the lean loops that read claims ask them, after the eligibility questions."""

    @classmethod
    def read(cls, path: str) -> Job:
        return cls(**json.loads(Path(path).read_text()))

    def secrets(self, n: int) -> LoginSecrets:
        from bots.flowkit.flow import LoginSecrets

        login = self.logins[n]
        return LoginSecrets(
            login["username"],
            login["password"],
            login.get("totp_seed"),
            login.get("security_answers") or {},
        )

    def questions(self) -> list[EligibilityQuery]:
        from bots.models import EligibilityQuery

        return [EligibilityQuery.model_validate(q) for q in self.queries]


@dataclass
class Outcome:
    lookups: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    logins: int = 0
    errors: int = 0
    mismatches: int = 0
    """Answers about somebody else (shown member ID or DOB not the question's): also errors."""
    not_found: int = 0
    """Questions the portal answered with "no such member" (lean loops): also errors."""
    checkpoints: dict[str, float] = field(default_factory=dict)

    def emit(self) -> None:
        sys.stdout.write(json.dumps(asdict(self)) + "\n")


def clock() -> float:
    return time.perf_counter()
