"""`payerbot explore URL`: look at a new portal headlessly, through the steps an integrator
describes, and write what each page shows (bots/ops/explore_capture.py) for writing its flow.

Steps run in order: ``fill:<label>=<value>`` (``{username}``, ``{password}`` from the
portal account's credentials), ``totp:<label>`` (the current code from its TOTP seed),
``click:<name>`` (a button or link), ``select:<label>=<option>``, ``goto:<path or URL>``,
``wait:<text>``. A label is looked up by accessible name in the page and in each of its
frames (the first frame that has it), then as the caption in the table cell before a field,
as old portals show them. The first page load and every step that changes the page are
captured; a step that finds nothing ends the exploration with one sentence, the captures
so far kept. A click that opens a new tab or a popup window goes on in it.

Exploring must change nothing on the portal. With ``--portal`` the flow's read-only guard
applies (only the requests its flow declares); without (or before the portal has a flow:
exploring comes before ``payerbot new-flow``), only reads leave the browser, and
the non-GET requests a ``click`` step's own action sends while that step runs (a sign-in,
a search): nothing else, nothing in the background, nothing after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyotp
from playwright.async_api import (
    Browser,
    BrowserContext,
    Frame,
    Locator,
    Page,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bots.engine import browser as browser_mod
from bots.engine.credentials import login_secrets
from bots.errors import ConfigurationError
from bots.files import private_dir
from bots.flowkit.flow import LoginSecrets
from bots.flowkit.readonly import READ_METHODS, ReadOnlyGuard, ReadOnlyPolicy
from bots.ops.explore_capture import (
    Capture,
    Network,
    aria_tree,
    capture,
    comparable_tree,
    path_of,
    write_index,
)
from bots.settings import Settings

KINDS = ("fill", "totp", "click", "select", "goto", "wait")
SECRETS = ("{username}", "{password}")
LOOK_SECONDS = 3.0
"""How long a step looks for its field, button or link on a page still drawing."""


@dataclass(frozen=True)
class Step:
    """One step as the integrator typed it (``text``: shown in messages, never a secret)."""

    kind: str
    target: str
    value: str = ""
    text: str = ""


def parse_step(text: str) -> Step:
    """``fill:Member ID=ACM1`` -> Step; one sentence for a step that cannot be read."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in KINDS or not rest.strip():
        raise ConfigurationError(
            f"cannot read the step {text!r}: write kind:target, kind one of {', '.join(KINDS)}"
        )
    if kind in ("fill", "select"):
        target, eq, value = rest.partition("=")
        if not eq or not target.strip():
            raise ConfigurationError(f"cannot read the step {text!r}: write {kind}:<label>=<value>")
        return Step(kind, target.strip(), value, text)
    return Step(kind, rest.strip(), "", text)


class StepFailed(Exception):
    """A step found nothing to act on: its one sentence."""


@dataclass
class Exploration:
    """Where the captures went, what they show, and the sentence a failed step left."""

    folder: Path
    captures: list[Capture] = field(default_factory=list)
    failure: str | None = None


class ClickGuard:
    """The guard without a flow: reads go, and a non-GET only while a click step runs."""

    def __init__(self) -> None:
        self.clicking = False

    async def install(self, context: BrowserContext) -> None:
        async def _route(route: Route) -> None:
            if route.request.method in READ_METHODS or self.clicking:
                await route.fallback()
            else:
                await route.abort("blockedbyclient")

        await context.route("**/*", _route)


class Explorer:
    """One browser page walked through the steps; the secrets it types are redacted."""

    def __init__(
        self, page: Page, out: Path, secrets: LoginSecrets | None, timeout_ms: int
    ) -> None:
        self.page, self.out, self.secrets, self.timeout_ms = page, out, secrets, timeout_ms
        self.network = Network()
        self.network.attach(page)
        self.masks: list[Locator] = []  # fields holding a secret: masked on screenshots
        self.hidden: set[str] = set()
        if secrets is not None:
            self.hidden |= {v for v in (secrets.username, secrets.password, secrets.totp_seed) if v}
        self.click_guard: ClickGuard | None = None
        self.signature = ""

    def redact(self, text: str) -> str:
        for secret in sorted(self.hidden, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    async def page_state(self) -> str:
        """Each frame's address and accessibility tree (typed values left out)."""
        parts = []
        for frame in self.page.frames:
            if not frame.is_detached():
                parts.append(frame.url + "\n" + comparable_tree(await aria_tree(frame)))
        return "\n\n\x00".join(parts)

    async def settle(self) -> None:
        """Until the page stops changing: loaded, the network quiet, the tree unchanged."""
        try:
            await self.page.wait_for_load_state("load", timeout=self.timeout_ms)
            await self.page.wait_for_load_state("networkidle", timeout=3_000)
        except PlaywrightTimeout:
            pass  # a page that polls never goes quiet: the tree decides
        before = await self.page_state()
        for _ in range(12):
            await asyncio.sleep(0.25)
            now = await self.page_state()
            if now == before:
                return
            before = now

    async def capture(self, captures: list[Capture]) -> None:
        """Write the page; one more try, settled, when it changed under the capture."""
        for attempt in (1, 2):
            try:
                masks = [m for m in self.masks if m.page is self.page and await _shown(m)]
                captures.append(
                    await capture(
                        self.page, len(captures) + 1, self.out, self.network, masks, self.redact
                    )
                )
                break
            except PlaywrightError:
                if attempt == 2:
                    raise StepFailed("the page kept changing while it was captured") from None
                await self.settle()
        self.signature = await self.page_state()

    # --- finding things ------------------------------------------------------------------

    def _frames(self) -> list[Frame]:
        main = self.page.main_frame
        return [main, *(f for f in self.page.frames if f is not main and not f.is_detached())]

    async def _first(self, finders: Callable[[Frame], list[Locator]]) -> Locator | None:
        """The first match in the page, then in each frame in order; a page still drawing
        gets a few seconds (LOOK_SECONDS) before the step is said to find nothing."""
        deadline = time.monotonic() + min(LOOK_SECONDS, self.timeout_ms / 1000)
        while True:
            for frame in self._frames():
                for locator in finders(frame):
                    try:
                        if await locator.count():
                            return locator.first
                    except PlaywrightError:
                        break  # the frame went away while we looked
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.2)

    async def field(self, label: str) -> Locator | None:
        caption = label.replace("'", "")

        def finders(frame: Frame) -> list[Locator]:
            return [
                frame.get_by_label(label, exact=True),
                frame.get_by_role("textbox", name=label, exact=True),
                frame.get_by_role("combobox", name=label, exact=True),
                frame.get_by_placeholder(label, exact=True),
                frame.locator(
                    f"xpath=//td[normalize-space(.)='{caption}']/following-sibling::td[1]"
                    "//*[self::input or self::select or self::textarea]"
                ),
            ]

        return await self._first(finders)

    async def control(self, name: str) -> Locator | None:
        return await self._first(
            lambda f: [
                f.get_by_role("button", name=name, exact=True),
                f.get_by_role("link", name=name, exact=True),
            ]
        )

    # --- the steps -----------------------------------------------------------------------

    def _value(self, step: Step) -> tuple[str, bool]:
        """The step's value with the account's login put in, and whether it holds a secret."""
        if not any(s in step.value for s in SECRETS):
            return step.value, False
        if self.secrets is None:
            raise StepFailed("{username} and {password} need --portal (the account's login)")
        value = step.value.replace("{username}", self.secrets.username)
        return value.replace("{password}", self.secrets.password), True

    async def run(self, step: Step) -> None:
        if step.kind in ("fill", "totp", "select"):
            target = await self.field(step.target)
            if target is None:
                raise StepFailed(f"no field labelled {step.target!r} on the page or in its frames")
            if step.kind == "select":
                await self._select(target, step)
                return
            if step.kind == "totp":
                if self.secrets is None or not self.secrets.totp_seed:
                    raise StepFailed("no TOTP seed: give --portal with an account that has one")
                code = pyotp.TOTP(self.secrets.totp_seed).now()
                self.hidden.add(code)
                value, secret = code, True
            else:
                value, secret = self._value(step)
                if secret:
                    self.hidden.add(value)
            await target.fill(value)
            if secret:
                self.masks.append(target)
        elif step.kind == "click":
            target = await self.control(step.target)
            if target is None:
                raise StepFailed(
                    f"no button or link named {step.target!r} on the page or in its frames"
                )
            if self.click_guard is not None:
                self.click_guard.clicking = True
            opened = len(self.page.context.pages)
            try:
                await target.click()
                await self.settle()
                if len(self.page.context.pages) > opened:  # a new tab or a popup window:
                    self.page = self.page.context.pages[-1]  # the steps go on there
                    await self.settle()
            finally:
                if self.click_guard is not None:
                    self.click_guard.clicking = False
        elif step.kind == "goto":
            await self.page.goto(urljoin(self.page.url, step.target))
            await self.settle()
        else:
            await self._wait(step.target)

    async def _select(self, target: Locator, step: Step) -> None:
        deadline = time.monotonic() + min(LOOK_SECONDS, self.timeout_ms / 1000)
        while True:  # a list filled by the page's own request after it shows
            options = [o.strip() for o in await target.locator("option").all_inner_texts()]
            if step.value in options:
                break
            if time.monotonic() >= deadline:
                raise StepFailed(f"the list {step.target!r} does not offer {step.value!r}")
            await asyncio.sleep(0.2)
        await target.select_option(label=step.value)
        await self.settle()

    async def _wait(self, text: str) -> None:
        deadline = time.monotonic() + self.timeout_ms / 1000
        while time.monotonic() < deadline:
            for frame in self._frames():
                try:
                    if await frame.get_by_text(text).first.is_visible():
                        await self.settle()
                        return
                except PlaywrightError:
                    continue
            await asyncio.sleep(0.2)
        raise StepFailed(
            f"no text {text!r} appeared on the page or in its frames within "
            f"{self.timeout_ms / 1000:g} s"
        )


async def _shown(locator: Locator) -> bool:
    """Whether a field is still there to be masked (its frame may be gone)."""
    try:
        return await locator.count() > 0
    except PlaywrightError:
        return False


def default_folder(settings: Settings, url: str) -> Path:
    parts = urlsplit(url)
    host = (parts.hostname or "page") + (f"_{parts.port}" if parts.port else "")
    return settings.data_dir / "explore" / f"{host}-{time.strftime('%Y%m%d-%H%M%S')}"


def guard_words(portal: str | None, policy: ReadOnlyPolicy | None) -> str:
    if policy is not None:
        return (
            f"Read-only guard: {portal}'s flow (only the requests it declares leave the browser)."
        )
    why = f" ({portal} has no flow yet)" if portal is not None else ""
    return (
        f"Read-only guard{why}: reads only, and the non-GET requests a click step sends "
        "while it runs."
    )


async def explore(
    settings: Settings,
    url: str,
    steps: list[Step],
    *,
    portal: str | None = None,
    account: str | None = None,
    out: Path | None = None,
    browser: Browser | None = None,
) -> Exploration:
    """Open ``url``, capture it, run the steps (capturing each change); never raises for a
    step that finds nothing: ``failure`` says which and why."""
    secrets = None
    policy = None
    if portal is not None:
        from bots.engine.gates import build_flow
        from bots.flowkit.flow import load_flows

        if portal not in settings.portals:
            raise ConfigurationError(f"no portal {portal!r} in config/portals.toml")
        who = account or settings.portals[portal].accounts[0]
        secrets = login_secrets(settings, portal, who)
        if settings.flow_name(portal) in load_flows():  # none yet: explored before new-flow
            policy = build_flow(settings, portal).read_only_policy()
    folder = private_dir(out or default_folder(settings, url))
    result = Exploration(folder)
    try:
        if browser is not None:
            await _explore_in(browser, settings, url, steps, secrets, policy, result)
        else:
            async with async_playwright() as playwright:
                try:
                    own = await browser_mod.launch(playwright, settings.browser)
                except PlaywrightError:
                    raise ConfigurationError(
                        "Chromium did not start: `python -m bots.ops.browser_setup` says "
                        "which one payerbot uses and how to install one"
                    ) from None
                try:
                    await _explore_in(own, settings, url, steps, secrets, policy, result)
                finally:
                    await own.close()
    finally:
        guard = guard_words(portal, policy)
        write_index(folder, explorer_start(url), result.captures, result.failure, guard)
    return result


async def _explore_in(
    browser: Browser,
    settings: Settings,
    url: str,
    steps: list[Step],
    secrets: LoginSecrets | None,
    policy: ReadOnlyPolicy | None,
    result: Exploration,
) -> None:
    """The walk in a browser context of its own, under the guard."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        context.set_default_timeout(settings.browser.action_timeout_ms)
        context.set_default_navigation_timeout(settings.browser.navigation_timeout_ms)
        page = await context.new_page()
        explorer = Explorer(page, result.folder, secrets, settings.browser.action_timeout_ms)
        if policy is not None:
            await ReadOnlyGuard(policy).install(context)
        else:
            explorer.click_guard = ClickGuard()
            await explorer.click_guard.install(context)
        await _walk(explorer, url, steps, result)
    finally:
        await context.close()


def explorer_start(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{path_of(url)}"


async def _walk(explorer: Explorer, url: str, steps: list[Step], result: Exploration) -> None:
    try:
        await explorer.page.goto(url)
    except PlaywrightError:
        result.failure = f"could not open {explorer_start(url)}: the site did not answer"
        return
    try:
        await explorer.settle()
        await explorer.capture(result.captures)
    except (StepFailed, PlaywrightError):
        result.failure = f"could not capture {explorer_start(url)}: the page kept changing"
        return
    for n, step in enumerate(steps, 1):
        try:
            await explorer.run(step)
            await _capture_if_changed(explorer, step, result)
        except StepFailed as exc:
            result.failure = f"step {n} ({step.text}): {exc}"
            return
        except PlaywrightTimeout:
            result.failure = f"step {n} ({step.text}): the page did not let it happen in time"
            return
        except PlaywrightError as exc:
            why = (
                "the read-only guard stopped it (a page that changes something, or a request "
                "the portal's flow does not declare)"
                if "BLOCKED_BY_CLIENT" in str(exc).upper()
                else "the browser could not do it"
            )
            result.failure = f"step {n} ({step.text}): {why}"
            return


async def _capture_if_changed(explorer: Explorer, step: Step, result: Exploration) -> None:
    now = await explorer.page_state()
    if step.kind in ("fill", "totp"):  # typing changes the tree's names, not the page
        changed = _urls(now) != _urls(explorer.signature)
    else:
        changed = now != explorer.signature
    if changed:
        await explorer.capture(result.captures)
    else:
        explorer.signature = now


def _urls(signature: str) -> list[str]:
    return [part.split("\n", 1)[0] for part in signature.split("\n\n\x00")]
