"""The extension point: PortalFlow, one subclass per payer portal in flows/, and its registry.

A flow only drives the page and returns typed results. It never touches the queue,
the spreadsheet, the environment or the clock (no sleeps: wait for page states).
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel

from bots.errors import ConfigurationError
from bots.flowkit.readonly import ReadOnlyPolicy, Send
from bots.models import LookupKind

if TYPE_CHECKING:
    from playwright.async_api import Page

    from bots.models import (
        ClaimStatusQuery,
        ClaimStatusResult,
        EligibilityQuery,
        EligibilityResult,
    )


@dataclass(frozen=True, repr=False)
class LoginSecrets:
    """What a flow needs to log in. repr shows no values."""

    username: str
    password: str
    totp_seed: str | None = None
    security_answers: Mapping[str, str] = field(default_factory=dict)

    def answer(self, question: str) -> str | None:
        """The stored answer to a security question, matched without case or punctuation."""
        wanted = _question_key(question)
        return next(
            (a for q, a in self.security_answers.items() if _question_key(q) == wanted), None
        )

    def __repr__(self) -> str:
        seed = "***" if self.totp_seed else None
        return f"LoginSecrets(username=***, password=***, totp_seed={seed})"


@dataclass(frozen=True)
class LoginInfo:
    """What a login saw besides the home page: notices a supervisor must hear about."""

    password_expires_in_days: int | None = None
    """The portal said the password expires in this many days (the bot never changes it)."""


class PortalFlow(ABC):
    """Drives one payer portal. Subclasses set ``name`` and implement what the portal offers.

    ``base_url`` comes from settings. A lookup a portal does not offer is simply not
    overridden: ``capabilities()`` reports it and the engine refuses before any browser starts.
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    offers_api_reads: ClassVar[bool] = False
    """The flow can read the JSON the portal's own pages fetch (``api_reads`` in config)."""
    sends: ClassVar[tuple[Send, ...]] = ()
    """Every non-GET request the flow needs (its sign-in, MFA and search forms, API
    searches): the engine's read-only guard aborts any other (bots/flowkit/readonly.py)."""
    write_pages: ClassVar[tuple[str, ...]] = ()
    """Paths of the portal's pages that change something (appeals, profile, change
    password; ``*`` one segment, ``/#/route`` a single-page app's): never opened."""
    volatile_fields: ClassVar[tuple[str, ...]] = ()
    """Names of form, JSON or query fields whose value differs on every run (a CSRF token,
    a timestamp): a replay of a recording (``payerbot record``) matches requests ignoring
    them."""
    result_region: ClassVar[str | None] = None
    """A Playwright selector for where the flow's answer shows (a results section, or the
    frame it is in): a successful lookup's evidence is a screenshot of that region only. None
    (or the region not visible): the viewport. A failure's evidence is always the whole page."""
    payers: ClassVar[frozenset[str] | None] = None
    """The payer ids the portal serves, when the flow knows them (a fixed list on its pages;
    a state Medicaid portal serves its own program only). None: whatever the portal lists at
    lookup time. A payer routed to a portal that does not serve it is a ConfigurationError
    before any browser starts (``bots.engine.gates.PortalFlows.route``)."""

    options_model: ClassVar[type[BaseModel] | None] = None
    """The per-portal choices the flow takes from ``[portals.NAME.options]`` (which practice
    location to pick, which NPI to search under), as a pydantic model: validated when the
    flow is built, so a missing or misspelt option stops the run before any browser starts.
    None: the flow takes no options (and refuses any)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_reads: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if api_reads and not self.offers_api_reads:
            raise ConfigurationError(f"the {self.name} flow cannot read the portal's API")
        self.api_reads = api_reads
        self.options: Any = self.parse_options(options or {})
        """The validated options (an instance of ``options_model``), None without a model."""

    @classmethod
    def parse_options(cls, data: Mapping[str, Any]) -> BaseModel | None:
        """``data`` as the flow's options model; pydantic's ValidationError when it does not
        fit (``build_flow`` says which key in one sentence)."""
        if cls.options_model is None:
            if data:
                raise ConfigurationError(
                    f"the {cls.name} flow takes no options: remove its [portals.*.options] table"
                )
            return None
        return cls.options_model.model_validate(dict(data))

    def read_only_policy(self) -> ReadOnlyPolicy:
        """What the engine's read-only guard lets this flow send to its portal."""
        return ReadOnlyPolicy.of(self.base_url, self.sends, self.write_pages)

    @property
    def screenshot_evidence(self) -> bool:
        """Whether a result's evidence is a screenshot of the page (else the flow hands the
        portal's own response over as an attachment)."""
        return not self.api_reads

    @abstractmethod
    async def login(self, page: Page, secrets: LoginSecrets) -> LoginInfo | None:
        """Reach the logged-in home page (MFA and interstitials included) or raise.

        Return a LoginInfo when the portal said something on the way (a password-expiry
        notice); interstitials are dismissed, never acted on."""

    @abstractmethod
    async def is_logged_in(self, page: Page) -> bool:
        """True when the page is inside a live session (detects expiry)."""

    async def resume(self, page: Page) -> bool:
        """Open the portal with a session restored from storage state (cookies of an earlier
        login); True when it is still live. Override when the home page is not base_url."""
        await page.goto(self.base_url)
        return await self.is_logged_in(page)

    async def logout(self, page: Page) -> None:
        """Sign out of the session the page's cookies hold, or raise the portal's error (a
        5xx, a 429, maintenance) when the portal did not confirm it. The engine calls it
        before logging in again, so an account never has two live sessions; a session that
        had already ended is signed out all the same. Override where the portal has a sign
        out (a flow without one: the engine reuses the old session while it lasts)."""
        raise NotImplementedError

    @classmethod
    def can_logout(cls) -> bool:
        return cls.logout is not PortalFlow.logout

    async def landmarks(
        self,
        page: Page,
        stage: Literal["login", "search"],
        kinds: frozenset[LookupKind] | None = None,
    ) -> list[str]:
        """What the live pages lack of what this flow relies on ([]: they look as expected).

        ``login``: on a fresh page, before any login (the sign-in form). ``search``: inside a
        live session (the search forms the lookups use; ``kinds``: only those of these lookup
        kinds, None: all, as few page loads as a rate-limited portal allows). The engine runs
        both before a batch
        (the drift canary) and pauses a portal whose pages changed; `payerbot doctor portals`
        runs them on demand. Each flow declares its own; portal errors (maintenance, 5xx)
        raise as in a lookup, they are not drift."""
        return []

    async def eligibility(self, page: Page, query: EligibilityQuery) -> EligibilityResult:
        raise NotImplementedError

    async def claim_status(self, page: Page, query: ClaimStatusQuery) -> ClaimStatusResult:
        raise NotImplementedError

    @classmethod
    def capabilities(cls) -> frozenset[LookupKind]:
        offered = set()
        if cls.eligibility is not PortalFlow.eligibility:
            offered.add(LookupKind.ELIGIBILITY)
        if cls.claim_status is not PortalFlow.claim_status:
            offered.add(LookupKind.CLAIM_STATUS)
        return frozenset(offered)


def _question_key(question: str) -> str:
    return "".join(ch for ch in question.lower() if ch.isalnum())


_REGISTRY: dict[str, type[PortalFlow]] = {}


def register(flow_cls: type[PortalFlow]) -> type[PortalFlow]:
    """Class decorator: make a flow findable by its name. Duplicate names are refused."""
    name = getattr(flow_cls, "name", None)
    if not name:
        raise ConfigurationError(f"{flow_cls.__qualname__} has no name")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not flow_cls:
        raise ConfigurationError(
            f"two flows are named {name!r}: {existing.__module__}.{existing.__qualname__} "
            f"and {flow_cls.__module__}.{flow_cls.__qualname__}"
        )
    _REGISTRY[name] = flow_cls
    return flow_cls


def load_flows(package: str = "flows") -> dict[str, type[PortalFlow]]:
    """Import every module of the flows package so each registers itself."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
    return dict(_REGISTRY)


def get_flow(name: str) -> type[PortalFlow]:
    flows = load_flows()
    try:
        return flows[name]
    except KeyError:
        known = ", ".join(sorted(flows)) or "none"
        raise ConfigurationError(f"no flow named {name!r} in flows/ (known: {known})") from None
