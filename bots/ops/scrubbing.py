"""Scrubbing a recording: every known PHI value and credential becomes a fake of the same
length and shape, consistently, wherever it appears (HAR, storage state, manifest).

Values of three characters or more are replaced wherever they occur. Shorter ones (a first
name "Al", a last name "Ng") would wreck the recording that way (``<li>``, ``"Alpha"``), so
they are replaced only where they stand as a whole word: a whole JSON string value or a word
in it, a word of an HTML page's text or of a quoted attribute value, a form field's or a
query parameter's value. Script and style sheet files are data-free: only long values there.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import string
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

from bots.flowkit.flow import LoginSecrets

SHORT = 3
"""Values shorter than this are replaced as whole words only."""
_CODE_TYPES = ("javascript", "ecmascript", "css", "wasm")
_HTML_PARTS = re.compile(
    r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>)",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def _digest(value: str, salt: str) -> bytes:
    return hashlib.sha256(f"{salt}:{value}".encode()).digest()


def fake_like(value: str, salt: str) -> str:
    """Same length and shape: digits for digits, letters for letters (case kept)."""
    stream = _digest(value, salt)
    out = []
    for i, ch in enumerate(value):
        b = stream[i % len(stream)]
        if ch.isdigit():
            out.append(string.digits[b % 10])
        elif ch.isalpha():
            letter = string.ascii_uppercase[b % 26]
            out.append(letter if ch.isupper() else letter.lower())
        else:
            out.append(ch)
    fake = "".join(out)
    return fake if fake != value else fake_like(value, salt + "'")


def _date_forms(day: date) -> list[str]:
    return [
        day.isoformat(),
        day.strftime("%m/%d/%Y"),
        day.strftime("%m%d%Y"),
        f"{day.month}/{day.day}/{day.year}",
    ]


def scrub_map(
    values: list[str], dates: list[date], secrets: LoginSecrets, salt: str
) -> dict[str, str]:
    """Real value -> fake, for every written form of it that may appear in a recording."""
    mapping: dict[str, str] = {}
    for value in {v.strip() for v in values if v and v.strip()}:
        fake = fake_like(value, salt)
        for real, fk in ((value, fake), (value.upper(), fake.upper())):
            mapping[real] = fk
        mapping[value.title()] = fake.title()
    for day in set(dates):
        shift = 1 + int.from_bytes(_digest(day.isoformat(), salt)[:2], "big") % 3000
        fake_day = day - timedelta(days=shift)
        mapping.update(zip(_date_forms(day), _date_forms(fake_day), strict=True))
    credentials = [secrets.username, secrets.password, secrets.totp_seed or ""]
    credentials += list(secrets.security_answers.values())
    for n, secret in enumerate(c for c in credentials if c):
        mapping[secret] = (f"scrubbed{n}" + "x" * len(secret))[: len(secret)]
    for real, fk in list(mapping.items()):  # as they travel in forms and URLs
        mapping.setdefault(quote_plus(real), quote_plus(fk))
        mapping.setdefault(quote(real, safe=""), quote(fk, safe=""))
    return mapping


class Scrubber:
    """Applies a scrub map: long values everywhere, short ones as whole words only."""

    def __init__(self, mapping: dict[str, str]) -> None:
        longest_first = sorted(mapping, key=len, reverse=True)
        self.long = [(r, mapping[r]) for r in longest_first if len(r) >= SHORT]
        self.short = {r: f for r, f in mapping.items() if len(r) < SHORT}
        words = "|".join(re.escape(r) for r in sorted(self.short, key=len, reverse=True))
        self._words = re.compile(rf"(?<![\w])(?:{words})(?![\w])") if words else None

    def text(self, text: str, *, words: bool = True) -> str:
        """Long values anywhere; short ones (``words``) where they are a whole word."""
        for real, fake in self.long:
            text = text.replace(real, fake)
        if words and self._words is not None:
            text = self._words.sub(lambda m: self.short[m[0]], text)
        return text

    def quoted(self, text: str) -> str:
        """Short values only inside quoted strings (attribute values, script literals)."""
        text = self.text(text, words=False)
        return _QUOTED.sub(lambda m: self.text(m[0]), text)

    def html(self, page: str) -> str:
        """A page's text and quoted values; never its tag or attribute names or its code."""
        parts = _HTML_PARTS.split(page)
        return "".join((self.quoted(p) if i % 2 else self.text(p)) for i, p in enumerate(parts))

    def json_text(self, body: str) -> str:
        """A JSON body, decoded first (escapes never hide a value): its string values."""
        try:
            document = json.loads(body)
        except ValueError:
            return self.text(body)
        return json.dumps(self.document(document))

    def document(self, obj: Any) -> Any:
        """Every string value inside a JSON document (keys are field names: kept)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.document(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self.document(v) for k, v in obj.items()}
        return obj

    def body(self, text: str, mime_type: str) -> str:
        """A request's or response's body, as its type allows."""
        kind = mime_type.lower()
        if any(t in kind for t in _CODE_TYPES):
            return self.text(text, words=False)
        if "json" in kind:
            return self.json_text(text)
        if "html" in kind:
            return self.html(text)
        return self.text(text)  # a form post, plain text, XML: words are fine


def scrub_har(har: dict[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    """A HAR scrubbed: bodies by their type, every other string (URLs, headers, query and
    form values, page titles) as text. Binary bodies (base64) hold no text to scrub."""
    har = copy.deepcopy(har)
    bodies: list[tuple[int, str, str, str]] = []  # (entry, "request"/"response", text, type)
    for n, entry in enumerate(har.get("log", {}).get("entries", [])):
        for side, key in (("response", "content"), ("request", "postData")):
            holder = entry.get(side, {}).get(key) or {}
            if "text" in holder and holder.get("encoding") != "base64":
                bodies.append((n, side, holder.pop("text"), holder.get("mimeType", "")))
    scrubbed: dict[str, Any] = scrubber.document(har)
    entries = scrubbed["log"]["entries"] if bodies else []
    for n, side, text, mime_type in bodies:
        key = "content" if side == "response" else "postData"
        entries[n][side][key]["text"] = scrubber.body(text, mime_type)
    return scrubbed
