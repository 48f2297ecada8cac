"""One classifier for the pages a portal shows instead of an answer (maintenance, 429, 5xx, …).

A flow declares its portal's error pages as a table and hands what it saw to
``raise_for_error_page`` (or ``raise_for_page`` for a Playwright page)::

    ERROR_PAGES = ErrorPages(
        "the Medicaid portal",
        captcha=Marker(heading="Security Check"),
        maintenance=Marker(heading="Scheduled Maintenance"),
        maintenance_ends=ClockTime("America/New_York"),   # "... until 6:00 AM Eastern."
        rate_limited=Marker(heading="Too Many Requests"),
        wait_seconds=r"wait (\\d+) seconds",
        server_error=Marker(heading="System Error"),
        unavailable=Marker("could not reach the portal"),  # an outage banner
        signed_out=Marker(heading=("Session Ended", "Provider Login")),
    )

A ``Marker`` recognises one kind of page by any one of: an HTTP status, the page's
heading (exact), a phrase in its text (any case), a JSON answer's error code.

The checks run in one fixed order, the first that matches decides:

1. CAPTCHA               -> PortalBlocked      (beats everything: a person must look)
2. maintenance           -> PortalMaintenance  (``until``: ``maintenance_ends``)
3. rate limited, or 429  -> RateLimited        (``retry_after``: JSON field, Retry-After
                                                header, then ``wait_seconds`` in the text)
4. server error, or 5xx  -> PortalUnavailable
5. unavailable           -> PortalUnavailable  (an outage banner: "we could not reach ...",
                                                the app's own word for a network failure)
6. signed out            -> SessionExpired
7. any other 4xx         -> LayoutChanged      (a page the flow does not know)

An outage is not a redesign: a ``PortalUnavailable`` is retried with backoff and never counts
toward the layout breaker, so a portal whose pages say it is unreachable must declare that
banner here (a banner the flow does not know is a ``LayoutChanged``). Network errors the
browser raises (``net::ERR_*``) are the engine's to classify (``bots/engine/attempts.py``).

So a maintenance page served as a 503 or saying "500" is maintenance, and a rate-limit
page that mentions a session is a rate limit. HTTP's own meanings (429, 5xx, 4xx) hold
for every portal; a table adds what its portal says besides (its maintenance page's
503, the 401 that ends its session). Nothing matched: ``None``, not an error page; a
flow that knows which pages it expects raises LayoutChanged for any other itself.

Messages are built from the table's own words and the status code, never from the page's
text, so no PHI shown on a page can reach an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bots.errors import (
    LayoutChanged,
    PayerbotError,
    PortalBlocked,
    PortalMaintenance,
    PortalUnavailable,
    RateLimited,
    SessionExpired,
)

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page, Response

__all__ = [
    "ClockTime",
    "ErrorPages",
    "JsonFields",
    "Marker",
    "classify_error_page",
    "next_clock_time",
    "raise_for_error_page",
    "raise_for_page",
]


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _squash(text: str) -> str:
    """Whitespace runs as one space, ends trimmed: headings compare as they read."""
    return " ".join(text.split())


@dataclass(frozen=True, init=False)
class Marker:
    """What identifies one kind of error page; any one of its signs is enough.

    ``Marker("too many requests", status=429, heading="Too Many Requests", code="rate_limited")``:
    phrases (positional) are found in the page's text in any case; a heading must equal
    the page's main heading; a code must equal a JSON answer's error code.
    """

    phrases: tuple[str, ...]
    statuses: frozenset[int]
    headings: tuple[str, ...]
    codes: tuple[str, ...]

    def __init__(
        self,
        *phrases: str,
        status: int | Iterable[int] = (),
        heading: str | Iterable[str] = (),
        code: str | Iterable[str] = (),
    ) -> None:
        object.__setattr__(self, "phrases", tuple(phrases))
        object.__setattr__(
            self, "statuses", frozenset((status,) if isinstance(status, int) else status)
        )
        object.__setattr__(self, "headings", tuple(_squash(h) for h in _strings(heading)))
        object.__setattr__(self, "codes", _strings(code))

    def evidence(
        self, *, status: int | None = None, heading: str = "", text: str = "", code: str = ""
    ) -> str | None:
        """How the page matched, in the table's own words (PHI-free), or None."""
        if status is not None and status in self.statuses:
            return f"HTTP {status}"
        if heading and _squash(heading) in self.headings:
            return f"heading {_squash(heading)!r}"
        if code and code in self.codes:
            return f"error code {code!r}"
        lowered = text.lower()
        phrase = next((p for p in self.phrases if p.lower() in lowered), None)
        return None if phrase is None else f"the page says {phrase!r}"

    def matches(
        self, *, status: int | None = None, heading: str = "", text: str = "", code: str = ""
    ) -> bool:
        return self.evidence(status=status, heading=heading, text=text, code=code) is not None


NOTHING = Marker()
"""A marker that matches no page (a portal without, say, a CAPTCHA)."""


@dataclass(frozen=True, eq=False)
class ClockTime:
    """How a maintenance page says when it ends: a clock time ("back by 2:00 AM ET").

    The time is read in ``zone``, or in the zone the page names (``zones``: a word on the
    page -> IANA zone, the first found wins); after the phrase ``after`` when given
    ("Please try again after 5:00 AM."). No time or no zone: ``until`` is None.
    """

    zone: str | None = None
    zones: Mapping[str, str] = field(default_factory=dict)
    after: str = ""

    def read(self, text: str, now: datetime | None = None) -> datetime | None:
        if self.after:
            at = text.lower().find(self.after.lower())
            if at < 0:
                return None
            text_after = text[at + len(self.after) :]
        else:
            text_after = text
        zone = next(
            (z for word, z in self.zones.items() if re.search(rf"\b{re.escape(word)}\b", text)),
            self.zone,
        )
        return next_clock_time(text_after, zone, now=now) if zone and text_after else None


@dataclass(frozen=True)
class JsonFields:
    """Where a portal's JSON error answers (its API) say what happened: the error code,
    the seconds to wait, and when maintenance ends (ISO 8601)."""

    code: str = "error"
    wait: str = "retry_after"
    until: str = "until"


@dataclass(frozen=True)
class ErrorPages:
    """One portal's error pages: how to recognise each kind, and how to read its numbers.

    ``portal`` names the portal in messages ("PayerHub", "the Medicaid portal").
    ``wait_seconds`` is a pattern whose first group is the seconds a rate-limit page
    asks to wait (matched in any case). ``json``: set for a portal whose JSON answers
    are classified too.
    """

    portal: str
    captcha: Marker = NOTHING
    maintenance: Marker = NOTHING
    maintenance_ends: ClockTime = field(default_factory=ClockTime)
    rate_limited: Marker = NOTHING
    wait_seconds: str = r"(?:wait|retry after) (\d+) seconds"
    server_error: Marker = NOTHING
    unavailable: Marker = NOTHING
    """An outage banner: the portal's app says it could not reach its server."""
    signed_out: Marker = NOTHING
    json: JsonFields | None = None


def classify_error_page(
    pages: ErrorPages,
    *,
    status: int | None = None,
    heading: str = "",
    text: str = "",
    headers: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
) -> PayerbotError | None:
    """The error the page stands for, checked in the order of the module docstring; None for
    a page that is not an error page.

    ``status``: the HTTP status when the flow has the response (None: judge by the page);
    ``heading``: the page's main heading; ``text``: the text shown (the page, or an alert
    banner); ``headers``: the response headers (lower-case names, for Retry-After);
    ``body``: a JSON answer's top-level object (read when ``pages.json`` is set).
    """
    code = ""
    if pages.json is not None and body is not None:
        code = str(body.get(pages.json.code) or "")
    seen: dict[str, Any] = {"status": status, "heading": heading, "text": text, "code": code}
    portal = pages.portal
    if found := pages.captcha.evidence(**seen):
        return PortalBlocked(f"{portal} shows a CAPTCHA ({found}): a person must look")
    if found := pages.maintenance.evidence(**seen):
        return PortalMaintenance(
            f"{portal} is in its scheduled maintenance window ({found})",
            until=_until(pages, text, body),
        )
    found = "HTTP 429" if status == 429 else pages.rate_limited.evidence(**seen)
    if found:
        return RateLimited(
            f"{portal} asks to slow down ({found})",
            retry_after=_retry_after(pages, text, headers, body),
        )
    found = f"HTTP {status}" if status and status >= 500 else pages.server_error.evidence(**seen)
    if found:
        return PortalUnavailable(f"{portal} answered with a server error ({found})")
    if found := pages.unavailable.evidence(**seen):
        return PortalUnavailable(f"{portal} could not be reached ({found})")
    if found := pages.signed_out.evidence(**seen):
        return SessionExpired(f"{portal} ended the session ({found})")
    if status is not None and status >= 400:
        return LayoutChanged(f"{portal} answered HTTP {status} for a page the flow uses")
    return None


def raise_for_error_page(
    pages: ErrorPages,
    *,
    status: int | None = None,
    heading: str = "",
    text: str = "",
    headers: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
) -> None:
    """Raise the error ``classify_error_page`` finds; return quietly for any other page."""
    error = classify_error_page(
        pages, status=status, heading=heading, text=text, headers=headers, body=body
    )
    if error is not None:
        raise error


_SEEN = """() => {
  const h1 = document.querySelector('h1');
  const body = document.body;
  return {heading: h1 ? h1.innerText.trim() : '', text: body ? body.innerText : ''};
}"""


async def raise_for_page(
    pages: ErrorPages, where: Page | Frame, response: Response | None = None
) -> None:
    """Read the page (its first <h1> and its text, one round-trip) and the response it came
    with (status, Retry-After), and raise for an error page (``raise_for_error_page``)."""
    seen: dict[str, str] = await where.evaluate(_SEEN)
    raise_for_error_page(
        pages,
        status=response.status if response is not None else None,
        heading=seen["heading"],
        text=seen["text"],
        headers=response.headers if response is not None else None,
    )


def next_clock_time(text: str, zone: str, *, now: datetime | None = None) -> datetime | None:
    """'... back by 2:00 AM ET' -> the next 2:00 AM in ``zone`` as an aware datetime."""
    found = re.search(r"(\d{1,2}):(\d{2})\s*([AaPp])\.?[Mm]", text)
    if not found:
        return None
    hour = int(found.group(1)) % 12 + (12 if found.group(3).upper() == "P" else 0)
    now = (now or datetime.now(ZoneInfo(zone))).astimezone(ZoneInfo(zone))
    at = now.replace(hour=hour, minute=int(found.group(2)), second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def _until(pages: ErrorPages, text: str, body: Mapping[str, Any] | None) -> datetime | None:
    """When maintenance ends: a JSON answer's ISO time, else the clock time on the page."""
    if pages.json is not None and body is not None:
        value = body.get(pages.json.until)
        if isinstance(value, str):
            try:
                until = datetime.fromisoformat(value)
            except ValueError:
                return None
            zone = pages.maintenance_ends.zone
            if until.tzinfo is None:  # a wall-clock time: the portal's, or none we can trust
                return until.replace(tzinfo=ZoneInfo(zone)) if zone else None
            return until
    return pages.maintenance_ends.read(text)


def _retry_after(
    pages: ErrorPages,
    text: str,
    headers: Mapping[str, str] | None,
    body: Mapping[str, Any] | None,
) -> float | None:
    """Seconds to wait: a JSON answer's field, the Retry-After header (seconds), the page's
    own words (``wait_seconds``); the first that is a number wins."""
    if pages.json is not None and body is not None and body.get(pages.json.wait) is not None:
        seconds = _seconds(str(body[pages.json.wait]))
        if seconds is not None:
            return seconds
    header = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if header is not None and (seconds := _seconds(header)) is not None:
        return seconds
    found = re.search(pages.wait_seconds, text, re.IGNORECASE)
    return float(found.group(1)) if found else None


def _seconds(value: str) -> float | None:
    return float(value) if re.fullmatch(r"\d+(?:\.\d*)?", value.strip()) else None
