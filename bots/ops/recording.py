"""`payerbot record PORTAL`: drive a login and a few lookups while Playwright records a HAR
with the responses, so the flow can be tested offline (``route_from_har``) against what the
portal really sent.

A recording holds PHI and a login. The command says so, writes owner-only files under
``<data_dir>/recordings/``, and scrubs them: every known PHI value (the questions asked and
the people the answers name) and every credential is replaced in the HAR by a fake of the
same length and shape, consistently, so the replay still fits together (a fake member ID
searched finds the fake member's page). The manifest next to the HAR holds the scrubbed
questions and the scrubbed answers the live run gave: a replay must give exactly those.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from playwright.async_api import async_playwright

from bots.engine import browser as browser_mod
from bots.engine.credentials import login_secrets
from bots.engine.gates import build_flow
from bots.errors import BusinessError, ConfigurationError
from bots.files import private_dir
from bots.flowkit.flow import LoginSecrets, PortalFlow, get_flow
from bots.flowkit.readonly import ReadOnlyGuard
from bots.models import ClaimStatusQuery, EligibilityQuery
from bots.settings import Settings

PHI_KEYS = ("member_id", "first_name", "last_name", "claim_number", "patient_account_number")
DATE_KEYS = ("dob",)


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
    for value in {v for v in values if v and len(v) >= 3}:
        fake = fake_like(value, salt)
        for real, fk in ((value, fake), (value.upper(), fake.upper())):
            mapping[real] = fk
        mapping[value.title()] = fake.title()
    for day in set(dates):
        shift = 1 + int.from_bytes(_digest(day.isoformat(), salt)[:2], "big") % 3000
        fake_day = day - timedelta(days=shift)
        mapping.update(zip(_date_forms(day), _date_forms(fake_day), strict=True))
    credentials = [secrets.username, secrets.password, *secrets.security_answers.values()]
    for n, secret in enumerate(c for c in credentials if c):
        mapping[secret] = (f"scrubbed{n}" + "x" * len(secret))[: len(secret)]
    for real, fk in list(mapping.items()):  # as they travel in forms and URLs
        mapping.setdefault(quote_plus(real), quote_plus(fk))
        mapping.setdefault(quote(real, safe=""), quote(fk, safe=""))
    return mapping


def apply(text: str, mapping: dict[str, str]) -> str:
    for real in sorted(mapping, key=len, reverse=True):
        text = text.replace(real, mapping[real])
    return text


def scrub(obj: Any, mapping: dict[str, str]) -> Any:
    """Every string inside a JSON document (a HAR, a manifest), after decoding: escaping
    in the file never hides a value from the scrub."""
    if isinstance(obj, str):
        return apply(obj, mapping)
    if isinstance(obj, list):
        return [scrub(v, mapping) for v in obj]
    if isinstance(obj, dict):
        return {k: scrub(v, mapping) for k, v in obj.items()}
    return obj


def _question(kind: str, data: dict[str, Any]) -> EligibilityQuery | ClaimStatusQuery:
    return (EligibilityQuery if kind == "eligibility" else ClaimStatusQuery).model_validate(data)


async def _ask_all(
    flow: PortalFlow, page: Any, questions: list[EligibilityQuery | ClaimStatusQuery]
) -> list[dict[str, Any]]:
    """Each question's answer, or the portal's "no" (its code): live and replayed alike."""
    answers: list[dict[str, Any]] = []
    for q in questions:
        try:
            if isinstance(q, EligibilityQuery):
                result: Any = await flow.eligibility(page, q)
            else:
                result = await flow.claim_status(page, q)
            answers.append({"result": result.model_dump(mode="json")})
        except BusinessError as exc:
            answers.append({"error": exc.code(), "reason_code": exc.reason_code})
    return answers


async def record(
    settings: Settings,
    portal_id: str,
    account: str,
    questions: list[EligibilityQuery | ClaimStatusQuery],
) -> tuple[Path, Path]:
    """Record a login and the lookups; scrub; return (har, manifest)."""
    portal = settings.portals[portal_id]
    flow: PortalFlow = build_flow(settings, portal_id)
    secrets = login_secrets(settings, portal_id, account)
    folder = private_dir(settings.data_dir / "recordings")
    stem = f"{portal_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    raw = folder / f".{stem}.raw.har"
    answers: list[dict[str, Any]] = []
    async with async_playwright() as playwright:
        browser = await browser_mod.launch(playwright, settings.browser)
        try:
            context = await browser.new_context(
                record_har_path=str(raw), record_har_content="embed", locale="en-US"
            )
            guard = ReadOnlyGuard(flow.read_only_policy())  # a live portal: only read
            await guard.install(context)
            page = await context.new_page()
            page.set_default_timeout(settings.browser.action_timeout_ms)
            await flow.login(page, secrets)
            answers = await _ask_all(flow, page, questions)
            await context.close()  # writes the HAR
            violation = guard.take()
            if violation is not None:
                raise violation
        finally:
            await browser.close()
    os.chmod(raw, 0o600)
    values: list[str] = []
    dates: list[date] = []
    for q in questions:
        values += [str(v) for k in PHI_KEYS if (v := getattr(q, k, None))]
        dates += [d for k in DATE_KEYS if (d := getattr(q, k, None))]
    for a in answers:
        r = a.get("result") or {}
        values += [str(r[k]) for k in PHI_KEYS if r.get(k)]
        dates += [date.fromisoformat(r[k]) for k in DATE_KEYS if r.get(k)]
    mapping = scrub_map(values, dates, secrets, salt=stem)
    har = folder / f"{stem}.har"
    recorded = json.loads(raw.read_text(encoding="utf-8"))
    _write_private(har, json.dumps(scrub(recorded, mapping)))
    raw.unlink()
    manifest = folder / f"{stem}.json"
    document = {
        "portal": portal_id,
        "flow": settings.flow_name(portal_id),
        "base_url": portal.base_url,
        "login": {
            "username": secrets.username,
            "password": secrets.password,
            "security_answers": dict(secrets.security_answers),
        },
        "questions": [{"kind": q.kind.value, **q.model_dump(mode="json")} for q in questions],
        "answers": answers,
        "scrubbed_values": len(mapping),
    }
    _write_private(manifest, json.dumps(scrub(document, mapping), indent=1))
    return har, manifest


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


async def replay(
    manifest_path: Path, har_path: Path, browser_settings: Any
) -> list[dict[str, Any]]:
    """Ask the manifest's questions against the HAR alone (anything not recorded is aborted:
    offline); returns the answers in the manifest's shape."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    flow = get_flow(manifest["flow"])(manifest["base_url"])
    login = manifest["login"]
    secrets = LoginSecrets(
        username=login["username"],
        password=login["password"],
        security_answers=login.get("security_answers") or {},
    )
    answers: list[dict[str, Any]] = []
    async with async_playwright() as playwright:
        browser = await browser_mod.launch(playwright, browser_settings)
        try:
            context = await browser.new_context(locale="en-US")
            await context.route_from_har(str(har_path), not_found="abort")
            await ReadOnlyGuard(flow.read_only_policy()).install(context)  # before the HAR
            page = await context.new_page()
            page.set_default_timeout(10_000)
            await flow.login(page, secrets)
            questions = [_question(d.pop("kind"), d) for d in manifest["questions"]]
            answers = await _ask_all(flow, page, questions)
        finally:
            await browser.close()
    return answers


def comparable(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answers without what differs per run (time, raw text, evidence)."""
    drop = {"as_of", "raw_text", "evidence", "attachments"}
    return [
        {"result": {k: v for k, v in a["result"].items() if k not in drop}} if "result" in a else a
        for a in answers
    ]


def check_portal(settings: Settings, portal_id: str) -> None:
    if portal_id not in settings.portals:
        raise ConfigurationError(f"no portal {portal_id!r} in config/portals.toml")
