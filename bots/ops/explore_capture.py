"""What `payerbot explore` writes for each page it visits: screenshot, accessibility tree,
forms (page, frames, open shadow roots), network requests, suggested landmarks, the index.

Nothing here holds a typed value: forms list labels and names, requests their method, path,
query keys and posted field names; every text written passes the explorer's redaction
(the login it typed, the codes it generated).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator, Page, Request, Response

from bots.files import private_dir

Redact = Callable[[str], str]

# One round trip per frame: every form control of the document and of each open shadow root
# inside it (recursively), grouped by form, with the label a person reads; and the headings.
_FORMS_JS = """
() => {
  const text = (el) => (el ? (el.textContent || '').replace(/\\s+/g, ' ').trim() : '');
  const pathOf = (href) => {
    try {
      const u = new URL(href, location.href);
      const keys = Array.from(new Set(Array.from(u.searchParams.keys())));
      return u.pathname + (keys.length ? '?' + keys.map((k) => k + '=').join('&') : '');
    } catch (e) { return ''; }
  };
  const roleOf = (el) => {
    const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
    if (el.getAttribute('role')) return el.getAttribute('role');
    if (tag === 'select') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    if (tag === 'textarea') return 'textbox';
    if (tag === 'button' || ['submit', 'button', 'reset', 'image'].includes(type)) return 'button';
    if (type === 'checkbox' || type === 'radio') return type;
    if (type === 'number') return 'spinbutton';
    if (type === 'search') return 'searchbox';
    if (type === 'range') return 'slider';
    return 'textbox';
  };
  const labelOf = (el, root) => {
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const t = by.split(/\\s+/).map((id) => text(root.getElementById(id))).join(' ').trim();
      if (t) return t;
    }
    const aria = (el.getAttribute('aria-label') || '').trim();
    if (aria) return aria;
    if (el.labels && el.labels.length) {
      const clone = el.labels[0].cloneNode(true);  // a select inside its label: not its options
      clone.querySelectorAll('select, option, input, textarea, button').forEach((c) => c.remove());
      const t = text(clone);
      if (t) return t;
    }
    if (roleOf(el) === 'button') return el.tagName === 'INPUT' ? (el.value || '').trim() : text(el);
    return (el.getAttribute('title') || el.getAttribute('placeholder') || '').trim();
  };
  const captionOf = (el) => {  // old portals: the caption sits in the table cell before
    const cell = el.closest('td, th');
    const before = cell && cell.previousElementSibling;
    return before ? text(before).slice(0, 80) : '';
  };
  const hostOf = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
  const groups = new Map();
  const visit = (root, hosts) => {
    for (const el of root.querySelectorAll('input, select, textarea, button')) {
      const type = el.tagName === 'INPUT' ? (el.getAttribute('type') || 'text').toLowerCase()
        : el.tagName === 'BUTTON' ? (el.getAttribute('type') || 'submit').toLowerCase() : null;
      const form = el.form || null;
      const key = form || root;
      if (!groups.has(key)) {
        groups.set(key, {
          form: !!form,
          method: form ? (form.getAttribute('method') || 'get').toUpperCase() : null,
          action: form ? pathOf(form.getAttribute('action') || location.href) : null,
          form_name: form ? (form.getAttribute('name') || form.id || null) : null,
          shadow_hosts: hosts,
          controls: [],
        });
      }
      const control = {
        label: labelOf(el, root),
        caption: captionOf(el),
        role: roleOf(el),
        tag: el.tagName.toLowerCase(),
        type: type,
        name: el.getAttribute('name'),
        id: el.id || null,
        required: el.required || el.getAttribute('aria-required') === 'true',
        visible: el.getClientRects().length > 0 && type !== 'hidden',
      };
      if (el.tagName === 'SELECT') {
        const options = Array.from(el.options);
        control.options = options.slice(0, 60).map((o) => ({text: text(o), value: o.value}));
        if (options.length > 60) control.more_options = options.length - 60;
      }
      groups.get(key).controls.push(control);
    }
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) visit(el.shadowRoot, hosts.concat([hostOf(el)]));
    }
  };
  visit(document, []);
  const headings = Array.from(document.querySelectorAll('h1, h2, h3'))
    .map((h) => ({level: Number(h.tagName[1]), text: text(h).slice(0, 120)}))
    .filter((h) => h.text);
  const named = (sel) => Array.from(document.querySelectorAll(sel)).map(text).filter(Boolean);
  const nav = named('nav a[href], [role=navigation] a[href]');
  const links = (nav.length ? nav : named('a[href]')).slice(0, 12);
  return {title: document.title || '', headings, links, forms: Array.from(groups.values())};
}
"""

_VALUE_ROLES = r"textbox|searchbox|spinbutton|combobox|slider"
_VALUE = re.compile(rf'^(\s*- (?:{_VALUE_ROLES})(?: "(?:[^"\\]|\\.)*")?)(?: \[[^\]]*\])*:.*$', re.M)
_STATES = re.compile(r" \[(?:selected|checked|checked=\w+|pressed|pressed=\w+|expanded)\]")


def comparable_tree(snapshot: str) -> str:
    """An accessibility tree without what typing or ticking changes: a fill is no new page."""
    return _STATES.sub("", _VALUE.sub(r"\1", snapshot))


async def aria_tree(frame: Frame) -> str:
    """The frame's accessibility tree (a frameset document has no body: its root then)."""
    try:
        body = frame.locator("body")
        root = body if await body.count() else frame.locator("html")
        return await root.aria_snapshot(timeout=5_000)
    except PlaywrightError:  # detached while we looked, or nothing rendered yet
        return ""


def frame_label(frame: Frame) -> str:
    """How a capture names a frame: its name, else its URL's path."""
    return frame.name or urlsplit(frame.url).path or "(unnamed)"


_IDENTIFIER = re.compile(r"[^/?#]*\d{4,}[^/?#]*")


def path_of(url: str) -> str:
    """A URL's path and its query keys, never their values (they may hold PHI); a path part
    with four digits or more (a member ID, a claim number, a date) reads ``{n}``."""
    parts = urlsplit(url)
    route, _, route_query = parts.fragment.partition("?")  # a single-page app's #/view?a=1
    path = _IDENTIFIER.sub("{n}", (parts.path or "/") + (f"#{route}" if parts.fragment else ""))
    return path + _keys(parts.query) + _keys(route_query)


def _keys(query: str) -> str:
    keys = list(dict.fromkeys(k for k, _ in parse_qsl(query, keep_blank_values=True)))
    return "?" + "&".join(f"{k}=" for k in keys) if keys else ""


# --- network -----------------------------------------------------------------------------


@dataclass
class Network:
    """The requests of a browser context, handed out in capture-sized batches."""

    blocked: list[str] = field(default_factory=list)
    _seen: list[tuple[Request, Response | None, str | None]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.context.on("response", lambda r: self._seen.append((r.request, r, None)))
        page.context.on("requestfailed", lambda r: self._seen.append((r, None, r.failure)))

    def take(self) -> list[dict[str, Any]]:
        batch, self._seen = self._seen, []
        return [_request_entry(*seen) for seen in batch if not seen[0].url.startswith("data:")]


def _request_entry(
    request: Request, response: Response | None, failure: str | None
) -> dict[str, Any]:
    parts = urlsplit(request.url)
    content_type = (response.headers.get("content-type", "") if response else "").split(";")[0]
    entry: dict[str, Any] = {
        "method": request.method,
        "host": parts.netloc,
        "path": path_of(request.url.split("#")[0]),
        "resource_type": request.resource_type,
        "status": response.status if response else None,
        "content_type": content_type or None,
        "json": "json" in content_type,
    }
    if failure is not None:
        entry["failed"] = "blocked" if "BLOCKED_BY_CLIENT" in failure.upper() else "failed"
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        entry["posted_fields"] = _posted_fields(request)
    return entry


def _posted_fields(request: Request) -> list[str] | None:
    """The NAMES of what a request posts (form fields, a JSON object's keys), never values."""
    kind = request.headers.get("content-type", "")
    try:
        body = request.post_data
    except (PlaywrightError, UnicodeDecodeError):
        return None
    if not body:
        return []
    if "json" in kind:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return sorted(data) if isinstance(data, dict) else None
    if "multipart" in kind:
        return list(dict.fromkeys(re.findall(r'name="([^"]+)"', body)))
    return list(dict.fromkeys(k for k, _ in parse_qsl(body, keep_blank_values=True)))


# --- landmarks ---------------------------------------------------------------------------

_ROLE_KINDS = {"combobox", "textbox", "checkbox", "radio"}


async def _unique(frame: Frame, kind: str, name: str) -> bool:
    locator: Locator
    if kind == "label":
        locator = frame.get_by_label(name, exact=True)
    else:
        locator = frame.get_by_role(kind, name=name, exact=True)  # type: ignore[arg-type]  # kind is a role name Playwright lists as a Literal
    try:
        return await locator.count() == 1
    except PlaywrightError:
        return False


async def suggest_landmarks(frame: Frame, found: dict[str, Any], limit: int = 12) -> list[str]:
    """Landmarks this frame's page shows once each (checked here, as ``missing_landmarks``
    would look them up), then notes on fields that have no name to find them by."""
    candidates: list[list[str]] = []
    headings = [h for h in found["headings"] if h["level"] == 1] or found["headings"][:1]
    candidates += [[f"heading:{h['text']}"] for h in headings[:1]]
    notes: list[str] = []
    for group in sorted(found["forms"], key=lambda g: not g["form"]):  # a <form>'s first
        for c in group["controls"]:
            if not c["visible"]:
                continue
            if c["role"] == "button":
                candidates.append([f"button:{c['label']}"] if c["label"] else [])
            elif c["label"]:
                kinds = ["label", c["role"]] if c["role"] in _ROLE_KINDS else ["label"]
                candidates.append([f"{k}:{c['label']}" for k in kinds])
            elif c["caption"]:
                notes.append(
                    f"# no name for the {c['role']} after the caption {c['caption']!r} "
                    f"(name={c['name']!r}): read it by its caption"
                )
    if not any(c["role"] != "button" for g in found["forms"] for c in g["controls"]):
        candidates += [[f"link:{name}"] for name in found["links"][:4]]  # a menu, a home page
    chosen: list[str] = []
    for options in candidates:
        for spec in options:
            kind, name = spec.split(":", 1)
            if spec not in chosen and await _unique(frame, kind, name):
                chosen.append(spec)
                break
        if len(chosen) >= limit:
            break
    return chosen + notes


LANDMARKS_HEADER = (
    "# Suggested for the flow's landmarks() (bots.flowkit.pages): each was found exactly once\n"
    "# on this page, by the kind and name it shows; keep those the flow relies on."
)


def landmarks_line(specs: list[str], frame: str | None) -> str:
    marks = [s for s in specs if not s.startswith("#")]
    notes = [s for s in specs if s.startswith("#")]
    args = ", ".join(json.dumps(s) for s in marks)
    if frame is not None:
        args += (", " if args else "") + f"frame={json.dumps(frame)}"
    return "\n".join(([f"landmarks({args})"] if marks else []) + notes)


# --- one capture -------------------------------------------------------------------------


@dataclass
class Capture:
    """What the index says of one page visited."""

    folder: Path
    url: str
    title: str
    h1: str
    forms: int
    places: list[str]
    json_reads: list[str]
    blocked: list[str]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "page"


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _where(frame: Frame | None, group: dict[str, Any]) -> dict[str, Any]:
    where: dict[str, Any] = {"frame": None, "shadow_hosts": group.pop("shadow_hosts")}
    if frame is not None:
        where["frame"] = {"name": frame.name or None, "path": path_of(frame.url)}
    return where


def _place(where: dict[str, Any]) -> str:
    frame = where["frame"]
    text = f"frame {frame['name'] or frame['path']!r}" if frame else "main page"
    if where["shadow_hosts"]:
        text += " > shadow root of " + " > ".join(where["shadow_hosts"])
    return text


def _yaml_tree(snapshot: str) -> str:
    if not snapshot.strip():
        return "    []"
    return "\n".join("    " + line for line in snapshot.splitlines())


async def capture(
    page: Page, number: int, out: Path, network: Network, masks: list[Locator], redact: Redact
) -> Capture:
    """Write one page's folder: NN-slug/{screenshot.png,aria.yml,forms.json,network.json,
    landmarks.txt}."""
    frames = [f for f in page.frames if not f.is_detached()]
    seen: list[tuple[Frame, dict[str, Any], str]] = []
    for frame in frames:
        try:
            found = await frame.evaluate(_FORMS_JS)
        except PlaywrightError:
            continue  # gone while we looked: the next capture shows what replaced it
        seen.append((frame, found, await aria_tree(frame)))
    top: dict[str, Any] = seen[0][1] if seen and seen[0][0] is page.main_frame else {}
    h1: str = next(
        (h["text"] for _, found, _ in seen for h in found["headings"] if h["level"] == 1), ""
    )
    title: str = top.get("title") or await page.title()
    folder = private_dir(out / f"{number:02d}-{_slug(h1 or title or urlsplit(page.url).path)}")
    shot = folder / "screenshot.png"
    await page.screenshot(path=str(shot), full_page=True, mask=masks)
    os.chmod(shot, 0o600)

    forms: list[dict[str, Any]] = []
    trees, marks = [], []
    for frame, found, tree in seen:
        sub = None if frame is page.main_frame else frame
        for group in found["forms"]:
            forms.append({"where": _where(sub, group), **group})
        name = json.dumps(frame_label(frame)) if sub else None
        trees.append(
            (
                f"- frame: {name}\n  url: {json.dumps(path_of(frame.url))}\n"
                if sub
                else "- page: main\n"
            )
            + f"  title: {json.dumps(found['title'])}\n  tree:\n{_yaml_tree(tree)}"
        )
        line = landmarks_line(
            await suggest_landmarks(frame, found), frame_label(frame) if sub else None
        )
        if line:
            marks.append(line)
    requests = network.take()
    write_private(folder / "aria.yml", redact("\n".join(trees) + "\n"))
    write_private(
        folder / "forms.json",
        redact(json.dumps({"url": path_of(page.url), "forms": forms}, indent=1)),
    )
    write_private(folder / "network.json", redact(json.dumps(requests, indent=1)))
    write_private(folder / "landmarks.txt", redact("\n".join([LANDMARKS_HEADER, *marks]) + "\n"))
    real = [  # a form, or fields outside any (a single-page app's): a lone button is not one
        f
        for f in forms
        if any(c["visible"] and (f["form"] or c["role"] != "button") for c in f["controls"])
    ]
    return Capture(
        folder=folder,
        url=redact(path_of(page.url)),
        title=redact(title),
        h1=redact(h1),
        forms=len(real),
        places=list(dict.fromkeys(_place(f["where"]) for f in real)),
        json_reads=[f"{r['method']} {r['path']}" for r in requests if r["json"]],
        blocked=[f"{r['method']} {r['path']}" for r in requests if r.get("failed") == "blocked"],
    )


def write_index(
    out: Path, start: str, captures: list[Capture], failure: str | None, guard: str
) -> None:
    lines = [f"# Exploring {start}", "", guard, ""]
    lines.append("| # | page | URL path | title | h1 | forms | where | JSON reads |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for n, c in enumerate(captures, 1):
        reads = "<br>".join(c.json_reads) or "-"
        lines.append(
            f"| {n} | [{c.folder.name}]({c.folder.name}/) | `{c.url}` | {c.title} | {c.h1} "
            f"| {c.forms} | {'; '.join(c.places) or '-'} | {reads} |"
        )
    blocked = [b for c in captures for b in c.blocked]
    if blocked:
        lines += ["", "Stopped by the read-only guard: " + ", ".join(dict.fromkeys(blocked))]
    if failure:
        lines += ["", f"Stopped: {failure}"]
    write_private(out / "index.md", "\n".join(lines) + "\n")
