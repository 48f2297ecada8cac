"""The truth audit (issue 18): the demo worklists over the three bundled portals, and every
field of every surface a person or an integrator reads, against the portals' ground truth.

The demo's two batches (`payerbot run` of each sample worklist, as `payerbot demo` runs
them), then a batch of the status words no flow knows (`payerbot run claim-status --worklist
unseen_words.csv`, same data folder), run once for the session (tests/samples.py, shared with
the end-to-end tests), feed every surface: the store, the run workbooks, the specialists'
workbook (all sheets) and the follow-ups; then `payerbot lookup --json` and the console's
lookup page answer a sample of the same rows (covering each portal, kind, outcome, prior-auth word and rule). What each row
must show comes from tests/truth.py (ground truth + config files, never the bot's code);
where each field sits on a surface from tests/audit/columns.py.

A failure prints one table: surface x field -> cells checked, cells wrong, and the rows
(worklist row number and a hash of the item's reference, never a value: PHI).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bots.settings import load_settings
from bots.store import FollowUp, Outcome, RejectedRow, Run, Store
from tests.audit.columns import (
    CLAIM_COLUMNS,
    CONSOLE_BENEFIT_COLUMNS,
    ELIGIBILITY_COLUMNS,
    FOLLOWUP_COLUMNS,
    FOLLOWUPS_SHEET,
    ITEM_COLUMN,
    REJECTED_SHEET,
    SHEETS,
)
from tests.audit.expect import (
    compare_payload,
    failed_outcome,
    ids,
    prior_auth_word,
    row_cells,
)
from tests.audit.readers import compare_row, headers_of, locate, read_sheets
from tests.audit.tally import Tally, as_day, ref_hash, same
from tests.cli_here import logging_kept
from tests.conftest import SAMPLES
from tests.samples import SampleRuns
from tests.timing import scaled
from tests.truth import (
    Expected,
    _claim_expected,
    expected_followups,
    expected_state,
    expected_worklist,
    parse_worklist_date,
    prior_auth,
    us_date,
)

pytestmark = pytest.mark.browser

WORKLISTS = {  # worklist file -> the kind of lookup its rows ask
    "appointments.csv": "eligibility",  # the demo's two batches
    "open_claims.csv": "claim_status",
    "unseen_words.csv": "claim_status",  # then: status words no flow knows (exit 1)
}
UNSEEN = "unseen_words.csv"
LABELS = {"appointments.csv": "E", "open_claims.csv": "C", "unseen_words.csv": "U"}


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Demo:
    """The demo's batches and the unseen-words batch after them, read once: every surface's
    rows, and what each row must show."""

    env: dict[str, str]
    procs: dict[str, subprocess.CompletedProcess[str]]  # the demo's `payerbot run`s
    unseen: subprocess.CompletedProcess[str]  # `payerbot run claim-status` of UNSEEN
    seconds: float
    as_of: date
    expected: dict[str, list[Expected]]  # worklist file -> its rows
    runs: dict[str, Run]  # worklist file -> its run
    outcomes: dict[str, dict[int, Outcome]]  # worklist file -> worklist row -> item
    followups: list[FollowUp]
    rejected: list[RejectedRow]
    run_sheets: dict[str, dict[str, list[dict[str, Any]]]]  # worklist file -> sheet -> rows
    workbook: dict[str, list[dict[str, Any]]]
    timings: dict[str, float] = field(default_factory=dict)

    def where(self, e: Expected) -> str:
        item = self.outcomes[e.worklist].get(e.row)
        return f"{LABELS[e.worklist]}{e.row} #{ref_hash(item.reference if item else None)}"


@pytest.fixture(scope="module")
def demo(sample_runs: SampleRuns, ground_truth: dict[str, Any]) -> Demo:
    """The sample worklists as the demo runs them, then the unseen words (run once for the
    session, tests/samples.py: the end-to-end tests read the same runs)."""
    by_file = {b.worklist.name: b for b in sample_runs.batches.values()}
    assert set(by_file) == set(WORKLISTS), "the demo's worklists, then the unseen words"
    runs = {name: b.run for name, b in by_file.items()}
    assert all(r.source == name for name, r in runs.items())
    expected = {n: expected_worklist(ground_truth, k, SAMPLES / n) for n, k in WORKLISTS.items()}
    outcomes = {
        name: {o.source_row: o for o in b.outcomes if o.source_row} for name, b in by_file.items()
    }
    run_sheets = {name: read_sheets(Path(run.spreadsheet_path)) for name, run in runs.items()}
    return Demo(
        env=sample_runs.env,
        procs={n: b.proc for n, b in by_file.items() if n != UNSEEN},
        unseen=by_file[UNSEEN].proc,
        seconds=sample_runs.demo_seconds,
        as_of=min(r.started_at for r in runs.values()).date(),
        expected=expected,
        runs=runs,
        outcomes=outcomes,
        followups=sample_runs.followups,
        rejected=sample_runs.rejected,
        run_sheets=run_sheets,
        workbook=read_sheets(sample_runs.workbook),
    )


def every(demo: Demo) -> Iterator[Expected]:
    for name in WORKLISTS:
        yield from demo.expected[name]


def verdict(tally: Tally, surface: str, *, least: int) -> None:
    checked = sum(n for (s, _), n in tally.checked.items() if s.startswith(surface))
    assert checked >= least, f"{surface}: only {checked} cells checked, expected {least}+"
    bad = sum(len(v) for (s, _), v in tally.wrong.items() if s.startswith(surface))
    print(f"\ntruth audit, {surface}: {checked - bad} of {checked} cells equal the ground truth")
    assert bad == 0, f"{surface} differs from the ground truth:\n" + tally.table()


# --- the expectation itself ---------------------------------------------------------------------


def test_row_rules_agree_with_the_fixture_generators_record(ground_truth):
    """The audit's own rules (tests/truth.py) give every row the outcome, member and claim
    the fixture generator recorded in *.expected.json: the expectation is not made up."""
    import json

    tally = Tally()
    for name, kind in WORKLISTS.items():
        recorded = json.loads((SAMPLES / name.replace(".csv", ".expected.json")).read_text())
        ours = {e.row: e for e in expected_worklist(ground_truth, kind, SAMPLES / name)}
        assert ours.keys() == {r["row"] for r in recorded}
        for r in recorded:
            e = ours[r["row"]]
            where = f"{LABELS[name]}{e.row}"
            code = {"ambiguous": "ambiguous_match"}.get(r["outcome"], r["outcome"])
            tally.check("expectation", "outcome", where, e.outcome == code)
            if kind == "eligibility":
                tally.check("expectation", "member", where, e.member_key == r["member_key"])
                if e.payload is not None:
                    active = e.payload["coverage_active"]
                    tally.check("expectation", "active", where, active == r["coverage_active"])
            else:
                tally.check("expectation", "claim", where, e.claim_number == r["claim_number"])
    verdict(tally, "expectation", least=300)


# --- the batch surfaces ---------------------------------------------------------------------------


def test_the_demo_runs_every_row_on_all_three_portals(demo):
    for proc in demo.procs.values():
        assert proc.returncode == 0, proc.stderr[-2000:]
    # a status word no flow knows is never an answer: that batch says some items failed
    assert {e.outcome for e in demo.expected[UNSEEN]} == {"layout_changed", "result"}
    assert demo.unseen.returncode == 1, demo.unseen.stderr[-2000:]
    for name, rows in demo.expected.items():
        assert {e.row for e in rows} == set(demo.outcomes[name]), name
        assert {e.portal for e in rows} == {"payerhub", "legacyportal", "medicaidportal"}
    print(f"\ntruth audit: the demo ran in {demo.seconds:.0f} s")


def test_store_equals_ground_truth(demo):
    """Every stored result field, every failure's outcome code, no answer for a failure."""
    tally = Tally()
    for e in every(demo):
        where = demo.where(e)
        item = demo.outcomes[e.worklist].get(e.row)
        if not tally.check("store", "item", where, item is not None):
            continue
        assert item is not None
        if e.answered:
            if tally.check("store", "outcome", where, item.state == "succeeded"):
                compare_payload(tally, "store", where, e, item.payload)
        else:
            tally.check(
                "store",
                "outcome",
                where,
                (item.state, item.last_error_code) == (expected_state(e.outcome), e.outcome),
            )
            tally.check("store", "no answer for a failure", where, item.payload is None)
    verdict(tally, "store", least=3000)


def audit_sheet(
    tally: Tally, surface: str, demo: Demo, name: str, rows: list[dict[str, Any]]
) -> None:
    """One Eligibility / Claim status sheet: each row of a worklist once, every field. The
    specialists' sheet holds both claim worklists: a row is the worklist's by its item ID."""
    columns = ELIGIBILITY_COLUMNS if WORKLISTS[name] == "eligibility" else CLAIM_COLUMNS
    located = locate(headers_of(rows), columns)
    item_header = (locate(headers_of(rows), {"item": ITEM_COLUMN})["item"] or [None])[0]
    if not tally.check(surface, "item (column)", "-", item_header is not None):
        return
    items = {o.id for o in demo.outcomes[name].values()}
    row_header = (located.get("row") or [None])[0]
    by_row: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        number = r.get(row_header) if row_header else None
        item = r.get(item_header)
        if isinstance(number, (int, float)) and isinstance(item, (int, float)) and item in items:
            by_row.setdefault(int(number), []).append(r)
    for e in demo.expected[name]:
        where = demo.where(e)
        found = by_row.get(e.row, [])
        if not tally.check(surface, "row present once", where, len(found) == 1):
            continue
        compare_row(tally, surface, where, row_cells(e), found[0], located)


def test_run_workbooks_equal_ground_truth(demo):
    """The per-run spreadsheet: every row, every column with a ground-truth counterpart,
    read by header name."""
    tally = Tally()
    for name, sheets in demo.run_sheets.items():
        sheet = SHEETS[WORKLISTS[name]]
        audit_sheet(tally, f"run workbook/{sheet}", demo, name, sheets.get(sheet, []))
    verdict(tally, "run workbook", least=2000)


def test_specialists_workbook_equals_ground_truth(demo):
    """The specialists' workbook, all sheets: results, follow-ups, rejected rows."""
    tally = Tally()
    for name, kind in WORKLISTS.items():
        sheet = SHEETS[kind]
        audit_sheet(tally, f"specialists/{sheet}", demo, name, demo.workbook.get(sheet, []))
    audit_followup_sheet(tally, demo, demo.workbook.get(FOLLOWUPS_SHEET, []))
    rejected = demo.workbook.get(REJECTED_SHEET)
    tally.check(f"specialists/{REJECTED_SHEET}", "sheet present", "-", rejected is not None)
    # every demo row is a valid question: nothing rejected
    for i, _ in enumerate(rejected or [], 2):
        tally.check(f"specialists/{REJECTED_SHEET}", "row rejected", f"sheet row {i}", False)
    verdict(tally, "specialists", least=2000)


def _by_row(demo: Demo) -> dict[int, tuple[Expected, Outcome]]:
    """Item id -> (its worklist row's expectation, the item)."""
    out = {}
    for e in every(demo):
        item = demo.outcomes[e.worklist].get(e.row)
        if item is not None:
            out[item.id] = (e, item)
    return out


def test_followups_equal_ground_truth(demo):
    """Each expected follow-up raised once with the right reason facts; none for a clean row."""
    tally = Tally()
    raised: dict[int, list[FollowUp]] = {}
    for f in demo.followups:
        raised.setdefault(f.item_id, []).append(f)
    items = _by_row(demo)
    for item_id, (e, _) in items.items():
        where = demo.where(e)
        want = {f.rule: f for f in expected_followups(e, demo.as_of)}
        got = {f.rule: f for f in raised.get(item_id, [])}
        tally.check("followups", "one per rule", where, len(got) == len(raised.get(item_id, [])))
        tally.check("followups", "clean row: none", where, bool(want) or not got)
        for rule in sorted(set(want) | set(got)):
            name = f"{rule}"
            if not tally.check("followups", name, where, rule in want and rule in got):
                continue
            for text in want[rule].says:
                tally.check("followups", f"{rule}.reason", where, text in got[rule].reason)
            if want[rule].category is not None:
                tally.check(
                    "followups",
                    f"{rule}.category",
                    where,
                    got[rule].category == want[rule].category,
                )
    tally.check(
        "followups",
        "about the demo's items",
        "-",
        {f.item_id for f in demo.followups} <= set(items),
    )
    verdict(tally, "followups", least=100)


def audit_followup_sheet(tally: Tally, demo: Demo, rows: list[dict[str, Any]]) -> None:
    """The Follow-ups sheet: every expected follow-up once, with the row's identifiers."""
    surface = f"specialists/{FOLLOWUPS_SHEET}"
    located = locate(headers_of(rows), FOLLOWUP_COLUMNS)
    for name in ("item", "reason"):
        if not tally.check(surface, f"{name} (column)", "-", bool(located.get(name))):
            return
    item_header = located["item"][0]
    sheet: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if isinstance(r.get(item_header), (int, float)):
            sheet.setdefault(int(r[item_header]), []).append(r)
    for item_id, (e, _) in _by_row(demo).items():
        where = demo.where(e)
        want = expected_followups(e, demo.as_of)
        got = sheet.get(item_id, [])
        if not tally.check(surface, "follow-ups per row", where, len(got) == len(want)):
            continue
        p = e.payload or {}
        expected: dict[str, Any] = {
            "payer": e.payer_id,
            "patient": f"{p['last_name']}, {p['first_name']}"
            if p and p.get("identity_basis") == "shown"
            else ", ".join(
                x for x in (e.cells.get("Patient Last"), e.cells.get("Patient First")) if x
            ),
            "member_id": ids(p.get("member_id"), e.cells.get("Member ID")),
        }
        if e.kind == "eligibility":
            expected["service_date"] = parse_worklist_date(e.cells["Appt Date"], past=False)
        else:
            number = p.get("claim_number") or e.cells.get("Claim #") or None
            expected["claim_number"] = number
            expected["service_date"] = as_day(p.get("dos_from")) or (
                parse_worklist_date(e.cells["DOS From"], past=False)
                if e.cells.get("DOS From")
                else None
            )
        for want_f in want:
            reasons = [str(r.get(located["reason"][0]) or "") for r in got]
            for text in want_f.says:
                tally.check(
                    surface, f"{want_f.rule}.reason", where, any(text in x for x in reasons)
                )
        for r in got:
            compare_row(tally, surface, where, expected, r, located)


# --- the desk's surfaces: a sample of rows asked again --------------------------------------------


def sample(demo: Demo, *, claim_number_only: bool = False) -> list[Expected]:
    """Few rows that together cover an active answer per kind x portal, an inactive one,
    each failure outcome per kind, each prior-auth word, each rule or trap per kind and each
    claim status category class: the row covering most of what is not covered yet, in turn
    (the first such row in worklist order, so the sample is the same every run)."""
    rows = [
        e
        for e in every(demo)
        if not (claim_number_only and e.kind == "claim_status" and not e.cells.get("Claim #"))
    ]

    def covers(e: Expected) -> set[tuple[str | None, ...]]:
        p = e.payload or {}
        found: set[tuple[str | None, ...]] = {("rule", e.kind, e.rule)}
        if not e.answered:
            found.add(("failed", e.kind, e.outcome))
        elif e.kind == "eligibility":
            if p["coverage_active"]:
                found.add(("answered", e.kind, e.portal))
            else:
                found.add(("inactive", e.kind))
            found.add(("prior auth", prior_auth(p, e.service_type or "30")))
        else:
            found |= {("answered", e.kind, e.portal), ("category", p["category"][:1])}
        return found

    wanted = set().union(*(covers(e) for e in rows))
    picked: list[Expected] = []
    while wanted:
        best = max(rows, key=lambda e: len(covers(e) & wanted))  # the first of the best
        picked.append(best)
        wanted -= covers(best)
    return picked


def payerbot_here(demo: Demo, args: list[str]) -> str:
    """What `payerbot ARGS` prints on stdout, run in this process by typer's CliRunner (no
    Python and imports to start per command: most of a lookup's time under load). In a
    thread of its own: the command calls asyncio.run, which the event loop of the browser
    tests' sync Playwright forbids in this thread."""
    from concurrent.futures import ThreadPoolExecutor

    from typer.testing import CliRunner

    from bots.interfaces.cli import app

    values = {k: v for k, v in demo.env.items() if k.startswith("PAYERBOT_")}

    def invoke() -> str:
        with logging_kept():
            result = CliRunner().invoke(app, args, env=values)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            print(f"payerbot {args[0]} raised {type(result.exception).__name__}")  # no PHI
        return result.stdout

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result(timeout=scaled(300))


def _us_to_iso(text: str, *, past: bool) -> str:
    return parse_worklist_date(text, past=past).isoformat()


def test_lookup_json_equals_ground_truth(demo):
    """`payerbot lookup --json`: the same answer, field for field, for a sample of rows."""
    tally = Tally()
    rows = sample(demo, claim_number_only=True)
    started = time.monotonic()
    for e in rows:
        where = demo.where(e)
        c = e.cells
        if e.kind == "eligibility":
            args = [
                "eligibility",
                "--payer", e.payer_id or "",
                "--member-id", c["Member ID"],
                "--dob", _us_to_iso(c["DOB"], past=True),
                "--dos", _us_to_iso(c["Appt Date"], past=False),
                "--service-type", e.service_type or "30",
            ]  # fmt: skip
        else:
            args = ["claim-status", "--payer", e.payer_id or "", "--claim-number", c["Claim #"]]
            if c.get("Member ID"):
                args += ["--member-id", c["Member ID"]]
            if c.get("DOB"):
                args += ["--dob", _us_to_iso(c["DOB"], past=True)]
        stdout = payerbot_here(demo, ["lookup", *args, "--json"])
        import json

        try:
            shown = json.loads(stdout)
        except ValueError:
            tally.check("lookup --json", "one JSON object", where, False)
            continue
        if e.answered:
            if tally.check("lookup --json", "outcome", where, shown.get("state") == "succeeded"):
                compare_payload(tally, "lookup --json", where, e, shown.get("result"))
        else:
            tally.check(
                "lookup --json",
                "outcome",
                where,
                (shown.get("state"), shown.get("error")) == (expected_state(e.outcome), e.outcome),
            )
            tally.check(
                "lookup --json", "no answer for a failure", where, shown.get("result") is None
            )
    demo.timings["lookup --json"] = time.monotonic() - started
    print(f"\ntruth audit: {len(rows)} lookups --json in {demo.timings['lookup --json']:.0f} s")
    assert {(e.kind, e.portal) for e in rows} >= {
        (k, p) for k in WORKLISTS.values() for p in ("payerhub", "legacyportal", "medicaidportal")
    }
    verdict(tally, "lookup --json", least=len(rows) * 5)


# --- the console's lookup page ----------------------------------------------------------------------


def _money_after(text: str, label: str) -> str | None:
    """The amount shown right after a label ("Billed $1.00", "allowed: —"), or None when
    no mention of the label carries one (a status text may say "Paid" too)."""
    words = r"(?:\s*(?:resp\.?|responsibility|amount|share))?"
    pattern = rf"\b{label}\b{words}\s*:?\s*(\$[\d,]+\.\d\d|—|–)"
    m = re.search(pattern, text, re.IGNORECASE)
    return m.group(1) if m else None


def audit_console_answer(tally: Tally, page: Page, e: Expected, where: str) -> None:
    s = "console lookup"
    answer = page.get_by_role("region", name=re.compile("^Answer"))
    expect(answer).to_be_visible(timeout=scaled(120) * 1000)
    text = " ".join(answer.inner_text().split())
    if not e.answered:
        tally.check(s, "outcome words", where, same(failed_outcome(e), text))
        tally.check(s, "no answer for a failure", where, "Coverage: " not in text)
        return
    p = e.payload
    assert p is not None

    def shows(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, date):
            ok = us_date(value) in text or value.isoformat() in text
        else:
            ok = str(value).casefold() in text.casefold()
        tally.check(s, name, where, ok)

    if e.kind == "eligibility":
        if p.get("identity_basis") == "shown":
            shows("patient", f"{p['last_name']}, {p['first_name']}")
        else:  # the answer shows no identity, and the desk question names nobody
            shows("patient", "(no name given)")
        shows("member_id", p["member_id"])
        # the coverage sentence: "Coverage: Active on 12/01/2026 — <plan>, group <group>"
        said = re.search(r"Coverage: (Active|Inactive) on (\d\d/\d\d/\d{4})", text)
        tally.check(
            s,
            "coverage",
            where,
            said is not None
            and (said.group(1) == "Active") == p["coverage_active"]
            and said.group(2) == us_date(p["date_of_service"]),
        )
        shows("plan", p["plan_name"])
        shows("group", p["group_number"])
        shows("effective", date.fromisoformat(p["effective_date"]))
        if p["termination_date"]:
            shows("termination", date.fromisoformat(p["termination_date"]))
        audit_console_benefits(tally, page, e, where)
        return
    shows("claim_number", p["claim_number"])
    shows("category", p["category"])
    shows("status_code", p["status_code"])
    for name, label in (
        ("billed", "billed"),
        ("allowed", "allowed"),
        ("paid", "paid"),
        ("patient_responsibility", "patient"),
    ):
        value = p[name]
        tally.compare(
            s, name, where, None if value is None else Decimal(value), _money_after(text, label)
        )
    for a in p["adjustments"]:
        tally.check(s, "adjustments", where, f"{a['group_code']}-{a['carc']}" in text)


def audit_console_benefits(tally: Tally, page: Page, e: Expected, where: str) -> None:
    """The benefits table: one row per benefit line, its amount, remaining and prior auth."""
    s = "console lookup"
    p = e.payload
    assert p is not None
    tables = page.get_by_role("table", name="Benefits")
    if not p["benefits"]:
        tally.check(s, "benefits (none when inactive)", where, tables.count() == 0)
        return
    if not tally.check(s, "benefits (table)", where, tables.count() == 1):
        return
    # one row per benefit line: the line in words, its raw X12 codes, its prior auth; a
    # heading row (one cell) names each service type
    rows = [
        [" ".join(c.split()) for c in r]
        for r in tables.first.evaluate(
            "t => [...t.rows].filter(r => r.cells.length > 1)"
            ".map(r => [...r.cells].map(c => c.innerText))"
        )
    ]
    headers = rows[0]
    col = {
        name: next((i for i, h in enumerate(headers) if c.matches(h)), None)
        for name, c in CONSOLE_BENEFIT_COLUMNS.items()
    }
    for name, index in col.items():
        if index is None:
            tally.check(s, f"benefits.{name} (no column)", where, False)
    if any(col[k] is None for k in col):
        return

    def at(r: list[str], name: str) -> str:
        i = col[name]
        return r[i] if i is not None and i < len(r) else ""

    shown: dict[str, list[str]] = {at(r, "codes"): r for r in rows[1:]}
    tally.check(s, "benefits (lines)", where, len(rows) - 1 == len(p["benefits"]))
    for b in p["benefits"]:
        codes = " · ".join(
            [
                f"EB01 {b['benefit']}",
                f"EB02 {b['coverage_level'] or '-'}",
                f"EB03 {b['service_type']}",
                f"EB06 {b['time_period'] or '-'}",
                f"EB11 {b['prior_auth_required']}",
                f"EB12 {b['in_network']}",
            ]
        )
        r = shown.get(codes)
        if not tally.check(s, "benefits.line shown", where, r is not None):
            continue
        assert r is not None
        words = at(r, "benefit")
        network = {
            "Y": "in network",
            "N": "out of network",
            "W": "in and out of network",
            "U": "network unknown",
        }[b["in_network"]]
        tally.check(s, "benefits.network", where, f", {network}" in words)
        for name, value in (("amount", b["amount"]), ("total", b["total"])):
            if value is not None:
                tally.check(s, f"benefits.{name}", where, f"${Decimal(value):,.2f}" in words)
        if b["percent"] is not None:
            tally.check(
                s, "benefits.percent", where, f"{Decimal(b['percent']).normalize():f}%" in words
            )
        if b["remaining"] is not None and b["benefit"] in ("C", "G"):
            tally.check(
                s, "benefits.remaining", where, f"${Decimal(b['remaining']):,.2f} left" in words
            )
        tally.compare(
            s,
            "benefits.prior_auth",
            where,
            prior_auth_word(b["prior_auth_required"]),
            at(r, "prior_auth"),
        )


@pytest.fixture
def console_url(demo: Demo, tmp_path: Path) -> Iterator[str]:
    from bots.interfaces.console.users import add_user
    from tests.test_console import serving

    values = {k: v for k, v in demo.env.items() if k.startswith("PAYERBOT_")}
    with environ(values):
        store = Store.open(load_settings())
        try:
            add_user(store, "audit", "audit-specialist-pw", "specialist")
        finally:
            store.close()
    with serving({**demo.env, "PAYERBOT_CONSOLE__IDLE_MINUTES": "30"}, tmp_path / "c.log") as url:
        yield url


def test_console_lookup_page_equals_ground_truth(demo, console_url, page: Page, ground_truth):
    """The console's lookup page, in Chromium, for a sample of rows per portal, kind, trap.
    The page asks a claim by its number alone: the answer expected is that question's."""
    from tests.test_console import log_in

    tally = Tally()
    log_in(page, console_url, "audit", "audit-specialist-pw")
    rows = [
        e
        if e.kind == "eligibility"
        else replace(
            _claim_expected(
                ground_truth, e.row, {"Claim #": e.cells["Claim #"], "Payer": e.cells["Payer"]}
            ),
            worklist=e.worklist,
        )
        for e in sample(demo, claim_number_only=True)
    ]
    started = time.monotonic()
    for e in rows:
        page.goto(f"{console_url}/lookup")
        c = e.cells
        if e.kind == "eligibility":
            page.get_by_label("Lookup", exact=True).select_option("eligibility")
            page.get_by_label("Payer").select_option(e.payer_id or "")
            page.get_by_label("Member ID").fill(c["Member ID"])
            page.get_by_label("Date of birth").fill(_us_to_iso(c["DOB"], past=True))
            page.get_by_label("Date of service").fill(_us_to_iso(c["Appt Date"], past=False))
            page.get_by_label("Service type").select_option(e.service_type or "30")
        else:
            page.get_by_label("Lookup", exact=True).select_option("claim_status")
            page.get_by_label("Payer").select_option(e.payer_id or "")
            page.get_by_label(re.compile("^Claim number")).fill(c["Claim #"])
        page.get_by_role("button", name="Look up").click()
        audit_console_answer(tally, page, e, demo.where(e))
    demo.timings["console"] = time.monotonic() - started
    print(f"\ntruth audit: {len(rows)} console lookups in {demo.timings['console']:.0f} s")
    verdict(tally, "console lookup", least=len(rows) * 3)
