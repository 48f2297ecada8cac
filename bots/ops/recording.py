"""`payerbot record PORTAL`: sign in, then record a few lookups as a HAR with the responses,
so the flow can be tested offline against what the portal really sent; `replay` asks the
recorded questions again against the recording alone.

The login happens in a browser context that records nothing; its signed-in storage state
(cookies, local storage) is saved next to the HAR, and the lookups are recorded in a fresh
context started from that state by the flow's ``resume``: exactly what a replay does. So a
replay never logs in (a TOTP code, a CAPTCHA, a security question differ every time), and
a portal whose session does not survive in its storage state is found while recording.

A recording holds PHI. The command says so, writes owner-only files under
``<data_dir>/recordings/``, and scrubs them (``bots.ops.scrubbing``): every known PHI value
(the questions asked and the people the answers name) and every credential is replaced by a
fake of the same length and shape, consistently, so the replay still fits together (a fake
member ID searched finds the fake member's page). The manifest next to the HAR holds the
scrubbed questions and the scrubbed answers the live run gave: a replay must give exactly
those. Neither file holds the login.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from bots.engine import browser as browser_mod
from bots.engine.credentials import login_secrets
from bots.engine.gates import build_flow
from bots.errors import BusinessError, ConfigurationError, PayerbotError, SessionExpired
from bots.files import private_dir
from bots.flowkit.flow import PortalFlow, get_flow
from bots.flowkit.readonly import ReadOnlyGuard
from bots.models import ClaimStatusQuery, EligibilityQuery
from bots.ops.har_replay import HarReplay
from bots.ops.scrubbing import Scrubber, fake_like, scrub_har, scrub_map
from bots.settings import Settings

__all__ = ["Replay", "comparable", "fake_like", "record", "replay", "scrub_map"]

PHI_KEYS = ("member_id", "first_name", "last_name", "claim_number", "patient_account_number")
DATE_KEYS = ("dob",)


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
    """Sign in, record the lookups from the signed-in state; scrub; return (har, manifest).
    The storage state is ``<stem>.state.json`` beside them."""
    portal = settings.portals[portal_id]
    flow: PortalFlow = build_flow(settings, portal_id)
    if flow.api_reads:
        raise ConfigurationError(
            f"a recording cannot hold {portal_id}'s API reads: set api_reads off for it"
        )
    secrets = login_secrets(settings, portal_id, account)
    folder = private_dir(settings.data_dir / "recordings")
    stem = f"{portal_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    raw = folder / f".{stem}.raw.har"
    policy = flow.read_only_policy()
    try:
        async with async_playwright() as playwright:
            browser = await browser_mod.launch(playwright, settings.browser)
            try:
                signing_in = await browser.new_context(locale="en-US")
                guard = ReadOnlyGuard(policy)  # a live portal: only read
                await guard.install(signing_in)
                page = await signing_in.new_page()
                page.set_default_timeout(settings.browser.action_timeout_ms)
                await flow.login(page, secrets)
                state = await signing_in.storage_state()
                await signing_in.close()
                context = await browser.new_context(
                    storage_state=state,
                    record_har_path=str(raw),
                    record_har_content="embed",
                    locale="en-US",
                )
                await guard.install(context)
                page = await context.new_page()
                page.set_default_timeout(settings.browser.action_timeout_ms)
                if not await flow.resume(page):
                    raise SessionExpired(
                        f"{portal_id}'s session did not resume from its storage state right "
                        "after the login: the flow's resume() must find it live to record"
                    )
                answers = await _ask_all(flow, page, questions)
                await context.close()  # writes the HAR
                violation = guard.take()
                if violation is not None:
                    raise violation
                signed_out = await _sign_out(browser, flow, state, guard)
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
        scrubber = Scrubber(mapping)
        har = folder / f"{stem}.har"
        recorded = json.loads(raw.read_text(encoding="utf-8"))
        _write_private(har, json.dumps(scrub_har(recorded, scrubber)))
    finally:
        raw.unlink(missing_ok=True)
    state_path = folder / f"{stem}.state.json"
    _write_private(state_path, json.dumps(scrubber.document(state), indent=1))
    manifest = folder / f"{stem}.json"
    document = {
        "portal": portal_id,
        "flow": settings.flow_name(portal_id),
        "base_url": portal.base_url,
        "options": portal.options,  # the flow's [portals.NAME.options], as recorded
        "storage_state": state_path.name,  # the signed-in session: the replay resumes it
        "signed_out": signed_out,  # the session the state holds has ended on the portal
        "questions": [{"kind": q.kind.value, **q.model_dump(mode="json")} for q in questions],
        "answers": answers,
        "scrubbed_values": len(mapping),
    }
    _write_private(manifest, json.dumps(scrubber.document(document), indent=1))
    return har, manifest


async def _sign_out(browser: Any, flow: PortalFlow, state: Any, guard: ReadOnlyGuard) -> bool:
    """End the recorded session on the portal (outside the recording), so the storage state
    kept beside the HAR opens nothing: a replay needs it offline only. False when the flow
    has no sign out or the portal did not confirm it (the session then ends when it idles)."""
    if not flow.can_logout():
        return False
    context = await browser.new_context(storage_state=state, locale="en-US")
    try:
        await guard.install(context)
        await flow.logout(await context.new_page())
        return True
    except (PayerbotError, PlaywrightError):
        return False
    finally:
        await context.close()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@dataclass
class Replay:
    """A replay's answers (the manifest's shape) and how the recording served it."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0
    """Requests answered from the recording."""
    aborted: list[str] = field(default_factory=list)
    """Requests the recording could not answer (``METHOD path``), aborted: never sent."""


async def replay(manifest_path: Path, har_path: Path, browser_settings: Any) -> Replay:
    """Resume the recorded session and ask the manifest's questions against the HAR alone
    (no request leaves the browser: what the recording lacks is aborted and counted)."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not manifest.get("storage_state"):
        raise ConfigurationError(
            f"{manifest_path.name} holds no signed-in session: record the portal again"
        )
    flow_cls = get_flow(manifest["flow"])
    flow = flow_cls(manifest["base_url"], options=manifest.get("options") or {})
    state = json.loads((manifest_path.parent / manifest["storage_state"]).read_text("utf-8"))
    har = json.loads(har_path.read_text(encoding="utf-8"))
    recording = HarReplay.of(har, flow_cls.volatile_fields)
    outcome = Replay()
    async with async_playwright() as playwright:
        browser = await browser_mod.launch(playwright, browser_settings)
        try:
            context = await browser.new_context(storage_state=state, locale="en-US")
            await recording.install(context)
            await ReadOnlyGuard(flow.read_only_policy()).install(context)  # before the HAR
            page = await context.new_page()
            page.set_default_timeout(10_000)
            await _resume_offline(flow, page, recording)
            questions = [_question(d.pop("kind"), d) for d in manifest["questions"]]
            outcome.answers = await _ask_all(flow, page, questions)
        finally:
            await browser.close()
    outcome.served, outcome.aborted = recording.served, list(recording.aborted)
    return outcome


async def _resume_offline(flow: PortalFlow, page: Any, recording: HarReplay) -> None:
    """The flow's resume() on the recorded session, or one sentence on why it failed."""
    try:
        live = await flow.resume(page)
        why = "the flow's resume() found no live session"
    except (PayerbotError, PlaywrightError):
        live, why = False, "the flow's resume() stopped on a page the recording cannot serve"
    if not live:
        lacked = ", ".join(recording.aborted[:3]) or "none"
        raise SessionExpired(
            f"the recording's session did not resume offline: {why} "
            f"(requests the recording lacked: {lacked})"
        )


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
