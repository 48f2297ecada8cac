"""A scripted portal for engine tests, like httpx's MockTransport: a PortalFlow whose every
answer, error, login and hang is written in a script, and which records what it was asked.

Run it through the real engine with browserless sessions (bots/engine/browserless.py)::

    flow = ScriptedFlow(
        {"M1": [PortalTimeout("slow"), ANSWER], "M2": MemberNotFound("no such member")},
        logins={"second": AuthenticationError("password refused")},
    )
    runner = Runner(settings, store, flows={"hub": flow}, session_factory=BrowserlessSessions())

A question is keyed by its member id (eligibility) or claim number (claim status; member id
when it has none). Its n-th ask plays the n-th step of its script; the last step repeats.
A step is ``ANSWER`` (a result made from the query), a result, an exception (raised),
``HANG`` (never returns) or ``Slow(seconds, then)``. Logins are scripted per account the
same way (``None`` or a ``LoginInfo``: logged in).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from bots.flowkit.flow import LoginInfo, LoginSecrets, PortalFlow
from bots.models import (
    ClaimStatusQuery,
    ClaimStatusResult,
    EligibilityQuery,
    EligibilityResult,
    LookupKind,
)
from bots.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.async_api import Page


def scripted_settings(data_dir: Path, *, max_sessions: int = 1) -> Settings:
    """Settings for one scripted portal ``alpha`` (payer ``ALPHA``, one account ``main``,
    synthetic credentials): what a benchmark or a test of the engine alone runs against,
    with ``flows={"alpha": ScriptedFlow()}`` and ``BrowserlessSessions``."""
    return Settings(
        data_dir=data_dir,
        retention_days=None,
        portals={
            "alpha": {
                "base_url": "https://alpha.invalid",
                "accounts": ["main"],
                "max_sessions": max_sessions,
                "timezone": "UTC",
            }
        },
        payers={"ALPHA": {"name": "Alpha", "portal": "alpha"}},
        credentials={
            "alpha": {
                "main": {
                    "username": "scripted-user",
                    "password": "scripted-password",
                    "totp_seed": "JBSWY3DPEHPK3PXP",
                    "security_answers": "{}",
                }
            }
        },
        queue={"drift_canary": False},
        sessions={"reuse": False},
    )


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ANSWER = _Marker("ANSWER")
"""Answer with a result made from the query (coverage active; a paid claim)."""
HANG = _Marker("HANG")
"""Never return (until the engine cuts the lookup off)."""


@dataclass(frozen=True)
class Slow:
    """Take ``seconds``, then play ``then``."""

    seconds: float
    then: Any = ANSWER


Step = Any
"""ANSWER, HANG, Slow, a result, None / LoginInfo (a login), or an exception to raise."""


class ScriptedPage:
    """The stand-in a browserless session hands the flow instead of a Playwright page: it
    says which account's session asks; anything a real flow would do with a page fails."""

    context = None  # no browser context: no read-only guard to ask (guard_of: None)

    def __init__(self, account: str | None) -> None:
        self.account = account

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"a browserless session has no page (.{name}): only a ScriptedFlow can use it"
        )


@dataclass(frozen=True)
class Asked:
    """One call the flow received."""

    what: Literal["login", "logout", "eligibility", "claim_status", "landmarks"]
    key: str  # the question's key, the account for a login, the stage for landmarks
    account: str | None
    at: float = field(default_factory=time.monotonic)


def _steps(script: Step | Sequence[Step]) -> list[Step]:
    return list(script) if isinstance(script, list | tuple) else [script]


class ScriptedFlow(PortalFlow):
    """A portal that plays a script (see the module docstring) and records every call."""

    name: ClassVar[str] = "scripted"
    title: ClassVar[str] = "Scripted portal (tests)"

    def __init__(
        self,
        answers: Mapping[str, Step | Sequence[Step]] | None = None,
        *,
        logins: Mapping[str, Step | Sequence[Step]] | None = None,
        logouts: Mapping[str, Step | Sequence[Step]] | None = None,
        landmarks: Mapping[str, Sequence[str]] | None = None,
        default: Step = ANSWER,
        base_url: str = "https://portal.invalid",
        screenshot_evidence: bool = True,
    ) -> None:
        super().__init__(base_url)
        self.answers = {key: _steps(steps) for key, steps in (answers or {}).items()}
        self.login_script = {account: _steps(steps) for account, steps in (logins or {}).items()}
        self.logout_script = {a: _steps(steps) for a, steps in (logouts or {}).items()}
        self.landmark_script = dict(landmarks or {})
        self.default = default
        self._screenshots = screenshot_evidence
        self.calls: list[Asked] = []
        self._plays: Counter[tuple[str, str]] = Counter()

    @property
    def screenshot_evidence(self) -> bool:
        return self._screenshots

    # --- what it was asked ---------------------------------------------------------------------

    def asked(self, key: str | None = None) -> list[Asked]:
        """The lookups it received (of one question, when ``key`` is given), in order."""
        return [
            c
            for c in self.calls
            if c.what in ("eligibility", "claim_status") and (key is None or c.key == key)
        ]

    def sessions_calls(self, account: str) -> list[str]:
        """What one account's session did, in order: login, logout, and the lookups."""
        return [c.what for c in self.calls if c.account == account and c.what != "landmarks"]

    def logins(self, account: str | None = None) -> list[Asked]:
        """The logins it received (of one account), in order."""
        return [c for c in self.calls if c.what == "login" and account in (None, c.key)]

    # --- the portal ------------------------------------------------------------------------------

    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        account = _account(page) or secrets.username
        self.calls.append(Asked("login", account, account))
        step = self._next(("login", account), self.login_script.get(account), None)
        return cast(LoginInfo | None, await _play(step, None))

    async def logout(self, page: Page) -> None:
        """Signs out as scripted per account (``logouts``: None, or an error to raise)."""
        account = _account(page) or ""
        self.calls.append(Asked("logout", account, account))
        await _play(self._next(("logout", account), self.logout_script.get(account), None), None)

    async def is_logged_in(self, page: Page) -> bool:
        return True

    async def resume(self, page: Page) -> bool:
        return False

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        self.calls.append(Asked("landmarks", stage, _account(page)))
        return list(self.landmark_script.get(stage, []))

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        return cast(EligibilityResult, await self._lookup("eligibility", page, query))

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        return cast(ClaimStatusResult, await self._lookup("claim_status", page, query))

    async def _lookup(
        self,
        what: Literal["eligibility", "claim_status"],
        page: Page,
        query: EligibilityQuery | ClaimStatusQuery,
    ) -> Any:
        key = question_key(query)
        self.calls.append(Asked(what, key, _account(page)))
        step = self._next((what, key), self.answers.get(key), self.default)
        return await _play(step, query)

    def _next(self, slot: tuple[str, str], steps: list[Step] | None, default: Step) -> Step:
        n = self._plays[slot]
        self._plays[slot] += 1
        if not steps:
            return default
        return steps[min(n, len(steps) - 1)]


class ScriptedEligibilityFlow(ScriptedFlow):
    """A scripted portal that offers eligibility lookups only (no claim status)."""

    claim_status = PortalFlow.claim_status


def question_key(query: EligibilityQuery | ClaimStatusQuery) -> str:
    """What a script keys a question by: member id, or claim number for a claim."""
    if isinstance(query, ClaimStatusQuery):
        return query.claim_number or query.member_id or ""
    return query.member_id


def _account(page: Any) -> str | None:
    return page.account if isinstance(page, ScriptedPage) else None


async def _play(step: Step, query: EligibilityQuery | ClaimStatusQuery | None) -> Any:
    while True:
        if isinstance(step, Slow):
            await asyncio.sleep(step.seconds)
            step = step.then
            continue
        if step is HANG:
            await asyncio.Event().wait()
        if isinstance(step, BaseException):
            raise step
        if step is ANSWER:
            return answer_for(query) if query is not None else None
        return step


def answer_for(query: EligibilityQuery | ClaimStatusQuery) -> EligibilityResult | ClaimStatusResult:
    """A plain answer to the question: active coverage, or a paid claim."""
    now = datetime.now(UTC)
    if isinstance(query, EligibilityQuery):
        return EligibilityResult(
            portal="scripted",
            payer_id=query.payer_id,
            as_of=now,
            member_id=query.member_id,
            first_name=query.first_name or "Pat",
            last_name=query.last_name or "Doe",
            dob=query.dob,
            date_of_service=query.date_of_service,
            coverage_active=True,
            plan_name="Scripted PPO",
        )
    day = query.dos_from or now.date()
    return ClaimStatusResult(
        portal="scripted",
        payer_id=query.payer_id,
        as_of=now,
        claim_number=query.claim_number or "C0",
        member_id=query.member_id or "M0",
        first_name=query.first_name or "Pat",
        last_name=query.last_name or "Doe",
        dos_from=day,
        dos_to=query.dos_to or day,
        category="F1",
        status_text="Paid",
    )
