"""Flows that stay on the view: open a search view only when the page is not on it, fill its
form, submit and wait for *this* question's answer, read the result region, each in as few
page round trips as is safe.

A portal that clears or replaces its results on submit (a single-page app such as PayerHub)
need not be navigated away and back for every lookup: ``on_view`` checks the view's landmarks
in one evaluate and navigates only when the page is elsewhere, busy or lost its form.
``submit_and_wait`` ties the wait to the request the submit sends (``page.expect_request``
and its response), then waits in the page for an answer to show (a result, an alert, the
sign-in page), so nothing stale is read; the engine's identity check stays the safety net.
``read_region`` reads a region's labelled fields, tables, buttons and text in one evaluate.

Messages raised here name pages, labels and buttons only (never a value typed or read).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from playwright.async_api import Page, Request, Response

from bots.errors import LayoutChanged, SessionExpired
from bots.flowkit.pages import _READ_DL, _READ_TABLES

# --- what a page shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """Something a page shows: a visible element matching a CSS ``selector`` whose text
    (whitespace collapsed) is ``text`` exactly, or any text when ``text`` is None."""

    selector: str
    text: str | None = None

    def js(self) -> dict[str, str | None]:
        return {"selector": self.selector, "text": self.text}


@dataclass(frozen=True)
class Region:
    """A result region read in one round trip: labelled fields (<dt>/<dd>), tables (heading,
    headers, rows of cell texts; as ``pages.read_tables``), buttons and the region's text."""

    fields: dict[str, str]
    tables: list[dict[str, Any]]
    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)

    def button(self, name: str) -> dict[str, Any] | None:
        """The first visible button named ``name`` ({"name", "disabled", "index"}), if any."""
        return next((b for b in self.buttons if b["name"] == name), None)


@dataclass(frozen=True)
class Answer:
    """What the page showed after a submit: ``kind`` is the name of the answer seen (one of
    the ``answers`` asked for), ``"alert"`` (``alert`` holds its text) or ``"signed_out"``.
    ``region`` is the result region read in the same round trip (for an answer)."""

    kind: str
    alert: str = ""
    region: Region | None = None


_JS_COMMON = (
    "const readFields = "
    + _READ_DL.strip()
    + ";\nconst readTables = "
    + _READ_TABLES.strip()
    + r""";
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const visible = (el) => !!el && el.isConnected && el.getClientRects().length > 0 &&
  getComputedStyle(el).visibility !== 'hidden';
const shown = (root, spec) => {
  if (!root || !spec) return null;
  for (const el of root.querySelectorAll(spec.selector)) {
    if (visible(el) && (spec.text === null || norm(el.innerText) === spec.text)) return el;
  }
  return null;
};
const control = (name, kind) => {
  const found = [];
  for (const label of document.querySelectorAll('label')) {
    if (norm(label.innerText) === name && label.control) found.push(label.control);
  }
  for (const el of document.querySelectorAll('[aria-label]')) {
    if (norm(el.getAttribute('aria-label')) === name) found.push(el);
  }
  return found.filter((el) => {
    const tag = el.tagName, type = (el.type || '').toLowerCase();
    if (kind === 'select') return tag === 'SELECT';
    if (kind === 'check') return tag === 'INPUT' && (type === 'radio' || type === 'checkbox');
    if (kind === 'fill') return tag === 'TEXTAREA' ||
      (tag === 'INPUT' && type !== 'radio' && type !== 'checkbox' && type !== 'submit');
    return true;
  });
};
const buttons = (root) => Array.from(root.querySelectorAll(
  'button, [role=button], input[type=submit], input[type=button]'));
const buttonName = (el) => norm(el.getAttribute('aria-label') || el.innerText || el.value);
const alertText = () => {
  for (const el of document.querySelectorAll('[role=alert]')) {
    if (visible(el) && norm(el.innerText)) return norm(el.innerText);
  }
  return null;
};
const readRegion = (root) => {
  const fields = readFields(root);
  const tables = readTables(root);
  const counts = {};
  const found = [];
  for (const el of buttons(root)) {
    const name = buttonName(el);
    const index = counts[name] || 0;
    counts[name] = index + 1;
    if (visible(el)) found.push({name, index, disabled: !!el.disabled});
  }
  return {fields, tables, text: root.innerText, buttons: found};
};
"""
)

# The view's state: null while it is still coming (no fresh h1 yet, a request under way, the
# ``ready`` element not yet there and no alert instead); else the first problem, in the order
# the flows always used. A page that will be navigated has its h1s marked stale, so the wait
# after a hash-route change never reads the previous view's heading.
_VIEW_STATE = (
    "(a) => {"
    + _JS_COMMON
    + r"""
  const markStale = () => {
    for (const el of document.querySelectorAll('h1')) el.__pbStale = true;
  };
  if (!a.here) { markStale(); return {state: 'elsewhere'}; }
  const verdict = (() => {
    if (a.signedOut && shown(document, a.signedOut)) return {state: 'signed_out'};
    const h1 = Array.from(document.querySelectorAll('h1')).find((el) => !el.__pbStale);
    if (!h1) return null;
    if (norm(h1.innerText) !== a.heading) return {state: 'problem', problem: 'heading'};
    if (a.busy && document.querySelector(a.busy)) return a.wait ? null : {state: 'busy'};
    if (a.ready && !document.querySelector(a.ready)) {
      const alert = alertText();
      if (alert !== null) return {state: 'alert', alert};
      return a.wait ? null : {state: 'not_ready'};
    }
    for (const label of a.labels) {
      if (!control(label, null).length) return {state: 'problem', problem: 'label', name: label};
    }
    const names = new Set(buttons(document).map(buttonName));
    for (const button of a.buttons) {
      if (!names.has(button)) return {state: 'problem', problem: 'button', name: button};
    }
    return {state: 'ok'};
  })();
  if (!a.wait && (verdict === null || verdict.state !== 'ok')) markStale();
  return a.wait ? verdict : (verdict || {state: 'coming'});
}"""
)


async def on_view(
    page: Page,
    url: str,
    heading: str,
    *,
    labels: Iterable[str] = (),
    buttons: Iterable[str] = (),
    ready: str | None = None,
    busy: str | None = None,
    signed_out: Shown | None = None,
    portal: str = "the portal",
) -> str | None:
    """Be on the search view at ``url``: navigate only when the page is elsewhere, or on it
    but busy (``busy``: a CSS selector shown while a request is under way), not ready or
    without its form; check its landmarks (the ``heading`` of its h1, its ``labels`` and
    ``buttons``) in one round trip. A redesign raises LayoutChanged, the sign-in page
    (``signed_out``) SessionExpired. Staying costs one round trip; a page on the view's URL
    that does not pass is reloaded (an earlier lookup's request cannot land on the new view).

    ``ready``: a CSS selector for what the view loads after it shows (a dropdown's options);
    on a fresh view the wait lasts until it is there or an alert shows instead, whose text
    is returned for the flow to classify; None when the view is ready.
    """
    marks: dict[str, Any] = {
        "heading": heading,
        "labels": list(labels),
        "buttons": list(buttons),
        "ready": ready,
        "busy": busy,
        "signedOut": signed_out.js() if signed_out else None,
        "here": page.url == url,
        "wait": False,
    }
    state = await page.evaluate(_VIEW_STATE, marks)
    if state["state"] == "ok":
        return None  # stay: the app clears its results on submit
    if state["state"] == "signed_out":
        raise SessionExpired(f"{portal} shows its sign-in page")
    if marks["here"]:
        await page.reload()
    else:
        await page.goto(url)
    handle = await page.wait_for_function(_VIEW_STATE, arg={**marks, "here": True, "wait": True})
    state = await handle.json_value()
    await handle.dispose()
    if state["state"] == "signed_out":
        raise SessionExpired(f"{portal} shows its sign-in page")
    if state["state"] == "alert":
        return str(state["alert"])
    if state["state"] == "problem":
        raise LayoutChanged(_problem(heading, state))
    return None


def _problem(heading: str, state: Mapping[str, Any]) -> str:
    if state["problem"] == "heading":
        return f"the {heading!r} page has another heading"
    if state["problem"] == "label":
        return f"the {heading!r} form has no {state['name']!r} field"
    return f"the {heading!r} form has no {state['name']!r} button"


# --- filling a form -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One field to set: its label, how (``fill`` a text/date box, ``select`` an option by
    value, ``check`` a radio or checkbox) and the value (None for ``check``)."""

    label: str
    how: Literal["fill", "select", "check"]
    value: str | None = None


def fill(label: str, value: str | None) -> Entry:
    """A text or date box set to ``value`` (None empties it: no earlier lookup's text stays)."""
    return Entry(label, "fill", value or "")


def select(label: str, value: str) -> Entry:
    """A dropdown set to the option whose value is ``value`` (its absence: LayoutChanged)."""
    return Entry(label, "select", value)


def check(label: str) -> Entry:
    """A radio button or checkbox checked (as a click would: its change event fires)."""
    return Entry(label, "check")


# Values are set through the element's own prototype setter (what frameworks that track the
# value expect) and announced with bubbling input and change events, as typing would.
_FILL = (
    "(a) => {"
    + _JS_COMMON
    + r"""
  const found = [];
  for (const e of a.entries) {
    const els = control(e.label, e.how);
    if (els.length !== 1) return {problem: els.length ? 'several' : 'missing', label: e.label};
    found.push([e, els[0]]);
  }
  for (const [e, el] of found) {
    if (e.how === 'select' && !Array.from(el.options).some((o) => o.value === e.value)) {
      return {problem: 'option', label: e.label};
    }
  }
  for (const [e, el] of found) {
    if (e.how === 'check') {
      if (!el.checked) el.click();
      continue;
    }
    const proto = Object.getPrototypeOf(el);
    const setter = Object.getOwnPropertyDescriptor(proto, 'value').set;
    if (el.value !== e.value) {
      setter.call(el, e.value);
      el.dispatchEvent(new Event('input', {bubbles: true}));
      el.dispatchEvent(new Event('change', {bubbles: true}));
    }
  }
  if (a.submit !== null) {
    const button = buttons(document).find((b) => buttonName(b) === a.submit && visible(b));
    if (!button) return {problem: 'button', label: a.submit};
    if (button.disabled) return {problem: 'disabled', label: a.submit};
    button.click();
  }
  return null;
}"""
)


async def fill_form(
    page: Page, entries: Iterable[Entry], *, submit: str | None = None, where: str = "search"
) -> None:
    """Set every field in one round trip, then press the ``submit`` button when named.

    All fields are found before any is set: a missing or ambiguous label, or an option the
    dropdown does not offer, raises LayoutChanged and leaves the form as it was. Fields are
    set in the order given (a radio that shows a group of fields first)."""
    entries = list(entries)
    problem = await page.evaluate(
        _FILL,
        {
            "entries": [{"label": e.label, "how": e.how, "value": e.value} for e in entries],
            "submit": submit,
        },
    )
    if problem is None:
        return
    label = problem["label"]
    message = {
        "missing": f"the {where} form has no {label!r} field",
        "several": f"the {where} form has more than one {label!r} field",
        "option": f"the {where} form's {label!r} list does not offer the choice wanted",
        "button": f"the {where} form has no {label!r} button",
        "disabled": f"the {where} form's {label!r} button is disabled",
    }[problem["problem"]]
    raise LayoutChanged(message)


async def click_button(page: Page, name: str, index: int = 0, *, within: str = "body") -> None:
    """Press the ``index``-th button named ``name`` inside ``within`` (a CSS selector), in one
    round trip (as ``Region.buttons`` lists them)."""
    pressed = await page.evaluate(
        "(a) => {"
        + _JS_COMMON
        + r"""
  const root = document.querySelector(a.within);
  const all = root ? buttons(root).filter((b) => buttonName(b) === a.name) : [];
  const el = all[a.index];
  if (!el || !visible(el) || el.disabled) return false;
  el.click();
  return true;
}""",
        {"name": name, "index": index, "within": within},
    )
    if not pressed:
        raise LayoutChanged(f"the page has no {name!r} button to press")


# --- submitting and waiting for this question's answer ---------------------------------------

_ANSWER = (
    "(a) => {"
    + _JS_COMMON
    + r"""
  if (a.busy && document.querySelector(a.busy)) return null;
  const region = document.querySelector(a.region);
  if (region) {
    for (const [kind, spec] of a.answers) {
      if (shown(region, spec)) return {kind, region: a.read ? readRegion(region) : null};
    }
  }
  const alert = alertText();
  if (alert !== null) return {kind: 'alert', alert};
  if (a.signedOut && shown(document, a.signedOut)) return {kind: 'signed_out'};
  return null;
}"""
)


def request_matcher(method: str, path: str | re.Pattern[str]) -> Callable[[Request], bool]:
    """Requests of ``method`` whose URL path is ``path`` (a string) or matches it fully."""

    def matches(request: Request) -> bool:
        if request.method != method:
            return False
        got = urlsplit(request.url).path
        return got == path if isinstance(path, str) else path.fullmatch(got) is not None

    return matches


async def wait_for_answer(
    page: Page,
    region: str,
    answers: Mapping[str, Shown],
    *,
    busy: str | None = None,
    signed_out: Shown | None = None,
    read: bool = True,
) -> Answer:
    """Wait in the page until ``region`` (a CSS selector) shows one of ``answers`` (checked in
    order, scoped to the region), or an alert shows, or ``signed_out``; never while ``busy``
    matches. With ``read``, the region is read in the same round trip."""
    arg = {
        "region": region,
        "answers": [[k, v.js()] for k, v in answers.items()],
        "busy": busy,
        "signedOut": signed_out.js() if signed_out else None,
        "read": read,
    }
    # Mostly the app has rendered by the time the response is in: one look, one round trip.
    got = await page.evaluate(_ANSWER, arg)
    if got is None:
        handle = await page.wait_for_function(_ANSWER, arg=arg)
        got = await handle.json_value()
        await handle.dispose()
    read_back = got.get("region")
    return Answer(
        kind=got["kind"],
        alert=got.get("alert") or "",
        region=None
        if read_back is None
        else Region(
            fields=read_back["fields"],
            tables=read_back["tables"],
            text=read_back["text"],
            buttons=read_back["buttons"],
        ),
    )


async def submit_and_wait(
    page: Page,
    click: Callable[[], Awaitable[object]],
    *,
    method: str,
    path: str | re.Pattern[str],
    region: str,
    answers: Mapping[str, Shown],
    busy: str | None = None,
    signed_out: Shown | None = None,
    read: bool = True,
) -> Answer:
    """Submit (``click``) and wait for the answer to *this* question.

    The wait is tied to the request the submit sends (``method`` to ``path``): it must be
    sent after the click began, and its response (or its failure) has come before the page
    is looked at; only then does the page's answer count (``wait_for_answer``). A submit that
    sends no request (the form refused it) ends in the page's timeout."""
    async with page.expect_request(request_matcher(method, path)) as sent:
        await click()
    request = await sent.value
    await request.response()  # None when it failed (the app then shows its banner)
    return await wait_for_answer(page, region, answers, busy=busy, signed_out=signed_out, read=read)


async def read_region(page: Page, region: str) -> Region:
    """The region (a CSS selector) read in one round trip; LayoutChanged when it is absent."""
    got = await page.evaluate(
        "(sel) => {"
        + _JS_COMMON
        + "const root = document.querySelector(sel); return root ? readRegion(root) : null; }",
        region,
    )
    if got is None:
        raise LayoutChanged("the page has no result region")
    return Region(
        fields=got["fields"], tables=got["tables"], text=got["text"], buttons=got["buttons"]
    )


def posted_to(response: Response | None, url: str) -> bool:
    """Whether a navigation's response answers a POST to ``url`` (redirects followed back):
    the page a form post brought, not a page that happened to load meanwhile."""
    if response is None:
        return False
    request = response.request
    while request.redirected_from is not None:
        request = request.redirected_from
    return request.method == "POST" and request.url.partition("?")[0] == url
