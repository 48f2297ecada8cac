"""The read-only guard: "the bot only reads", enforced for every flow by the engine.

A flow declares the non-GET requests it needs (``PortalFlow.sends``: its sign-in and search
forms, MFA, API searches) and the pages of its portal that change something
(``PortalFlow.write_pages``: appeals, profile, change password). The engine installs one
``ReadOnlyGuard`` on every browser context it opens: any other non-GET request, to any
host, is aborted before it leaves the browser, a navigation to a write page is aborted,
and each is recorded on the guard. The engine checks the guard after every lookup (a flow
that swallows the aborted request's error is caught all the same) and ends the lookup as a
``ReadOnlyViolation``.

Requests made with Playwright's request API do not pass a context's routes: a flow makes
them with ``portal_request`` only, which applies the same allowlist (and refuses a non-GET
on a page without a guard). ``tests/unit/test_layout.py`` checks that flows never call the
request API directly.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bots.errors import ReadOnlyViolation

if TYPE_CHECKING:
    from playwright.async_api import APIResponse, BrowserContext, Frame, Page, Route

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that only read (HTTP's safe methods): never checked against the allowlist."""


@dataclass(frozen=True)
class Send:
    """One non-GET request a flow needs: its method and its path on the portal's own origin
    (or a full address, for a sign-in on another host: ``https://sso.example/login``).

    In ``path``, ``*`` stands for any text within one path segment and ``**`` for anything;
    the query string is not part of the match. ``Send("POST", "/login.aspx")``."""

    method: str
    path: str

    def __post_init__(self) -> None:
        if not self.path.startswith(("/", "https://", "http://")):
            raise ValueError(f"a Send path starts with '/' or is a full address: {self.path!r}")

    def where(self, origin: str) -> tuple[str, str]:
        """(origin, path pattern) of this request; ``origin``: the portal's."""
        if self.path.startswith("/"):
            return origin, self.path
        return _where(self.path, fragment=False)


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*)", path)
    regex = "".join(".*" if p == "**" else "[^/#]*" if p == "*" else re.escape(p) for p in parts)
    return re.compile(regex + r"/?")


def _where(url: str, *, fragment: bool) -> tuple[str, str]:
    """(origin, path): the path with its fragment (``/#/appeals``) when asked for."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if fragment and parts.fragment:
        path = f"{path}#{parts.fragment}"
    return f"{parts.scheme}://{parts.netloc}".lower(), path


@dataclass(frozen=True)
class ReadOnlyPolicy:
    """What a flow may send to its portal (everything else that is not a read is refused)."""

    origin: str
    sends: tuple[Send, ...] = ()
    write_pages: tuple[str, ...] = ()
    _sends: tuple[tuple[str, str, re.Pattern[str]], ...] = field(init=False, repr=False)
    _writes: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sends = tuple(
            (s.method.upper(), at, _pattern(path))
            for s in self.sends
            for at, path in [s.where(self.origin)]
        )
        writes = tuple((w, _pattern(w)) for w in self.write_pages)
        object.__setattr__(self, "_sends", sends)
        object.__setattr__(self, "_writes", writes)

    @classmethod
    def of(cls, base_url: str, sends: Iterable[Send], write_pages: Iterable[str]) -> ReadOnlyPolicy:
        return cls(_where(base_url, fragment=False)[0], tuple(sends), tuple(write_pages))

    def refusal(self, method: str, url: str, *, navigation: bool) -> str | None:
        """Why this request may not leave the browser (None: it may). PHI-free: the method
        and the path (never the query), or the declared write page."""
        method = method.upper()
        origin, path = _where(url, fragment=False)
        if navigation and origin == self.origin:
            page = self.write_page(url)
            if page is not None:
                return f"opened {page}, a page of the portal that changes something"
        if method in READ_METHODS:
            return None
        if any(m == method and at == origin and p.fullmatch(path) for m, at, p in self._sends):
            return None
        where = path if origin == self.origin else f"another site ({urlsplit(url).netloc})"
        return f"sent {method} {where}, a request its flow does not declare"

    def write_page(self, url: str) -> str | None:
        """The declared write page this address opens (None: not one)."""
        origin, path = _where(url, fragment=True)
        if origin != self.origin:
            return None
        bare = path.split("#", 1)[0]
        for declared, pattern in self._writes:
            if pattern.fullmatch(path if "#" in declared else bare):
                return declared
        return None


_GUARDS: weakref.WeakKeyDictionary[Any, ReadOnlyGuard] = weakref.WeakKeyDictionary()


class ReadOnlyGuard:
    """The guard of one browser context: aborts what the policy refuses, remembers it."""

    def __init__(self, policy: ReadOnlyPolicy) -> None:
        self.policy = policy
        self.violations: list[str] = []

    def record(self, refusal: str) -> ReadOnlyViolation:
        self.violations.append(refusal)
        return ReadOnlyViolation(f"the read-only guard stopped the flow: it {refusal}")

    def take(self) -> ReadOnlyViolation | None:
        """The first violation since the last call (None: the flow only read); forgets them."""
        if not self.violations:
            return None
        first, more = self.violations[0], len(self.violations) - 1
        self.violations.clear()
        extra = f" (and {more} more)" if more else ""
        return ReadOnlyViolation(f"the read-only guard stopped the flow: it {first}{extra}")

    async def install(
        self, context: BrowserContext, *, block_resource_types: Iterable[str] = ()
    ) -> None:
        """One route for the whole context (the guard, and the resource types the settings
        block: one interception per request, not two); every page it opens is watched for
        in-page navigations to a write page (a single-page app's ``#/appeals``)."""
        blocked = frozenset(block_resource_types)

        async def _route(route: Route) -> None:
            request = route.request
            refusal = self.policy.refusal(
                request.method, request.url, navigation=request.is_navigation_request()
            )
            if refusal is not None:
                self.record(refusal)
                await route.abort("blockedbyclient")
            elif request.resource_type in blocked:
                await route.abort()
            else:
                await route.fallback()

        await context.route("**/*", _route)
        _GUARDS[context] = self
        if self.policy.write_pages:
            for page in context.pages:
                self._watch(page)
            context.on("page", self._watch)

    def _watch(self, page: Page) -> None:
        def navigated(frame: Frame) -> None:
            declared = self.policy.write_page(frame.url)
            if declared is not None:  # not aborted: an in-page route, or reached by a redirect
                self.record(f"opened {declared}, a page of the portal that changes something")

        page.on("framenavigated", navigated)


def guard_of(page: Page) -> ReadOnlyGuard | None:
    """The guard the engine installed on this page's context (None: none)."""
    context = page.context
    return _GUARDS.get(context) if context is not None else None


async def portal_request(
    page: Page,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
) -> APIResponse:
    """A request through the page's logged-in context (its cookies), outside the page: the
    one way a flow calls a portal's API. The guard's allowlist applies, as to the page's own
    requests; a non-GET on a page without a guard is refused. A refused request raises
    ``ReadOnlyViolation`` and is recorded on the guard (swallowing the error hides nothing).
    Error statuses do not raise: the flow reads them (``raise_for_error_page``)."""
    guard = guard_of(page)
    if guard is None:
        if method.upper() not in READ_METHODS:
            raise ReadOnlyViolation(
                "the read-only guard is not installed on this browser context: only reads"
            )
    else:
        refusal = guard.policy.refusal(method, url, navigation=False)
        if refusal is not None:
            raise guard.record(refusal)
    return await page.context.request.fetch(
        url,
        method=method,
        headers=dict(headers) if headers is not None else None,
        data=data,
        fail_on_status_code=False,
    )
