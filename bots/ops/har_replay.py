"""Serving a browser context from a recorded HAR alone: every request is answered from the
recording or aborted (never sent), and counted, so "offline" is a number (``aborted``).

A request finds its recorded answer by method, address (without the fragment), query and
body, minus the flow's ``volatile_fields`` (a CSRF token, a timestamp: fields that differ
on every run), read from a query string, a form post or a JSON body. The same request
recorded several times is answered in the order it was recorded (the last answer repeats).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from playwright.async_api import BrowserContext, Route

# Hop-by-hop or body-encoding headers that no longer fit the decoded body the HAR holds.
_DROPPED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})

Key = tuple[str, str, tuple[tuple[str, str], ...], str]


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def _without(value: Any, volatile: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_without(v, volatile) for v in value]
    return value


def request_key(
    method: str, url: str, body: str | None, content_type: str, volatile: frozenset[str]
) -> Key:
    """What identifies a request in the recording, volatile fields left out."""
    parts = urlsplit(url)
    query = tuple(
        sorted(
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in volatile
        )
    )
    where = f"{parts.scheme}://{parts.netloc}{parts.path}"
    text = body or ""
    kind = content_type.lower()
    if text and ("json" in kind or text.lstrip()[:1] in ("{", "[")):
        with contextlib.suppress(ValueError):  # not JSON after all: compared as it is
            text = json.dumps(_without(json.loads(text), volatile), sort_keys=True)
    elif text and "x-www-form-urlencoded" in kind:
        fields = parse_qsl(text, keep_blank_values=True)
        text = json.dumps(sorted((k, v) for k, v in fields if k not in volatile))
    return (method.upper(), where, query, text)


def _header(headers: Iterable[dict[str, str]], name: str) -> str:
    return next((h["value"] for h in headers if h["name"].lower() == name), "")


def _response(entry: dict[str, Any]) -> RecordedResponse:
    response = entry["response"]
    headers: dict[str, str] = {}
    for h in response.get("headers", []):
        name = h["name"]
        if name.startswith(":") or name.lower() in _DROPPED_HEADERS:
            continue
        if name.lower() in (n.lower() for n in headers):
            continue  # one value per name: the first (a fulfilled response takes a dict)
        headers[name] = h["value"]
    content = response.get("content", {})
    text = content.get("text", "")
    body = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()
    return RecordedResponse(status=response["status"], headers=headers, body=body)


@dataclass
class HarReplay:
    """A recording's answers by request; what the replay served and what it aborted."""

    volatile: frozenset[str]
    answers: dict[Key, list[RecordedResponse]] = field(default_factory=dict)
    served: int = 0
    aborted: list[str] = field(default_factory=list)
    """``METHOD path`` of each request the recording could not answer (no query, no body:
    they may hold fake identifiers, never real ones, but a count is what matters)."""
    _next: dict[Key, int] = field(default_factory=dict)

    @classmethod
    def of(cls, har: dict[str, Any], volatile: Iterable[str] = ()) -> HarReplay:
        replay = cls(frozenset(volatile))
        for entry in har.get("log", {}).get("entries", []):
            request = entry["request"]
            post = request.get("postData") or {}
            key = request_key(
                request["method"],
                request["url"],
                post.get("text"),
                post.get("mimeType", "") or _header(request.get("headers", []), "content-type"),
                replay.volatile,
            )
            if entry.get("response", {}).get("status", 0) <= 0:
                continue  # a request that never got an answer while recording
            replay.answers.setdefault(key, []).append(_response(entry))
        return replay

    def find(
        self, method: str, url: str, body: str | None, content_type: str
    ) -> RecordedResponse | None:
        """The recorded answer to this request (the next one, when it was sent several times)."""
        key = request_key(method, url, body, content_type, self.volatile)
        recorded = self.answers.get(key)
        if not recorded:
            return None
        n = self._next.get(key, 0)
        self._next[key] = n + 1
        return recorded[min(n, len(recorded) - 1)]

    async def install(self, context: BrowserContext) -> None:
        """Answer every request of the context from the recording, abort the rest."""

        async def _route(route: Route) -> None:
            request = route.request
            content_type = await request.header_value("content-type") or ""
            buffer = request.post_data_buffer  # a binary body too (post_data would refuse it)
            body = buffer.decode("utf-8", errors="replace") if buffer is not None else None
            found = self.find(request.method, request.url, body, content_type)
            if found is None:
                self.aborted.append(f"{request.method} {urlsplit(request.url).path}")
                await route.abort("internetdisconnected")
                return
            self.served += 1
            await route.fulfill(status=found.status, headers=found.headers, body=found.body)

        await context.route("**/*", _route)
