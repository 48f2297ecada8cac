"""Reused answers counted apart from answered on every surface a person reads: one small
worklist run twice through the CLI (the second run holds the first run's rows, reused within
the dedupe window, and one new row the portal is asked), then the CLI summary, `runs show`
(text and --json), the digest (text and HTML), the console's run page and the run workbook
all say the same numbers, and they are the truth: the portal was asked once."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bots.ops import mock_portals as fixture_portals
from bots.settings import ROOT, Settings, load_settings
from bots.store import Outcome, Run, Store
from tests.conftest import portal_env
from tests.samples import PAYERBOT
from tests.timing import scaled
from tests.worklist_factory import eligibility_worklist

pytestmark = pytest.mark.browser

ANSWERED, REUSED = 1, 2  # the second run: one new row, the first run's two rows again
PARTS = {"answered": ANSWERED, "reused": REUSED, "no result": 0, "failed": 0, "waiting": 0}


@dataclass
class Pair:
    settings: Settings
    env: dict[str, str]
    first: Run
    second: Run
    outcomes: list[Outcome]  # the second run's items
    printed: str  # what the second `payerbot run` printed
    asked: int  # eligibility lookups the portal answered during the second run


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [PAYERBOT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def lookups(portal: Any) -> int:
    return sum(portal.counters()["lookups"].values())


@pytest.fixture(scope="module")
def pair(mock_portals, ground_truth, tmp_path_factory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("reused")
    values = portal_env(mock_portals, base / "var")
    values["PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS"] = '["main"]'
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        env = {**os.environ, **values}
        settings = load_settings()
        fixture_portals.provision_credentials(settings, "payerhub")
        hub = mock_portals["payerhub"]
        hub.reset()
        full = base / "three.csv"
        eligibility_worklist(ground_truth, full, ANSWERED + REUSED, {"ACME"})
        lines = full.read_text().splitlines(keepends=True)
        two = base / "two.csv"
        two.write_text("".join(lines[: 1 + REUSED]))
        cli(env, "run", "eligibility", "--worklist", str(two))
        before = lookups(hub)
        printed = cli(env, "run", "eligibility", "--worklist", str(full)).stdout
        asked = lookups(hub) - before
        store = Store.open(settings)
        try:
            second, first = store.list_runs(2)
            outcomes = store.run_outcomes(second.id)
        finally:
            store.close()
        yield Pair(settings, env, first, second, outcomes, printed, asked)


def test_the_truth_the_second_run_asked_the_portal_once(pair):
    assert pair.asked == ANSWERED, "one new row asked; the first run's rows reused"
    assert [o.state.value for o in pair.outcomes] == ["succeeded"] * (ANSWERED + REUSED)
    assert sum(o.disposition == "reused" for o in pair.outcomes) == REUSED
    assert pair.second.counts["reused"] == REUSED


def test_the_cli_summary_and_runs_show_say_answered_and_reused_apart(pair):
    sentence = "3 item(s): 1 answered, 2 reused, 0 no result, 0 failed, 0 waiting"
    assert sentence in " ".join(pair.printed.split()), pair.printed
    # the second run resumed the session the first kept: no new login
    assert "logins: payerhub/main 0 (resumed 1)" in pair.printed
    shown = " ".join(cli(pair.env, "runs", "show", pair.second.id).stdout.split())
    assert sentence in shown and "logins: payerhub/main 0 (resumed 1)" in shown
    first = " ".join(cli(pair.env, "runs", "show", pair.first.id).stdout.split())
    assert "logins: payerhub/main 1 (resumed 0)" in first
    data = json.loads(cli(pair.env, "runs", "show", pair.second.id, "--json").stdout)
    assert {p: data["summary"][p] for p in PARTS} == PARTS
    assert data["summary"]["total"] == ANSWERED + REUSED
    assert data["logins"] == {"payerhub/main": {"logins": 0, "resumed": 1}}


def test_the_digest_says_answered_and_reused_apart_in_text_html_and_json(pair):
    from bots.outputs import digest

    store = Store.open(pair.settings)
    try:
        data = digest.build(pair.settings, store, "nightly", 1, [pair.second.id], "finished", "ok")
    finally:
        store.close()
    (run,) = data["runs"]
    assert {p: run["parts"][p] for p in PARTS} == PARTS and run["parts"]["total"] == 3
    assert data["by_portal"] == {"payerhub": {"answered": ANSWERED, "reused": REUSED}}
    json.dumps(data, default=str)  # the webhook's body
    text = digest.plain_text(data)
    assert "3 items, 1 answered, 2 reused, 0 no result, 0 failed, 0 waiting" in text, text
    html = digest.render_html(data)
    header = re.search(r"<h2>Runs</h2><table><tr>(.*?)</tr>", html)[1]
    row = re.search(rf'<tr><td><a href="[^"]*">{pair.second.id}</a>.*?</tr>', html, re.S)[0]
    heads = re.findall(r"<th>(.*?)</th>", header)
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    by_head = dict(zip(heads, cells, strict=True))
    assert {p: int(by_head[p]) for p in PARTS} == PARTS and by_head["items"] == "3"


def test_the_run_workbook_has_a_summary_that_adds_up(pair):
    wb = load_workbook(Path(pair.second.spreadsheet_path))
    rows = {r[0]: r[1] for r in wb["Run summary"].iter_rows(min_row=2, values_only=True)}
    assert {p: rows[p] for p in PARTS} == PARTS and rows["total"] == ANSWERED + REUSED
    assert wb["Eligibility"].max_row == 1 + ANSWERED + REUSED


def test_the_console_runs_list_and_run_page_count_and_filter_reused_apart(pair, tmp_path):
    from tests.test_console import add_console_users, serving, session

    add_console_users(pair.settings)
    with serving(pair.env, tmp_path / "console.log") as url:
        client, _ = session(url, "sam", "sam-supervisor-pw")
        page = client.get(f"/runs/{pair.second.id}").text
        parts = re.sub(r"<[^>]+>", "", re.search(r'<p id="run-parts">(.*?)</p>', page, re.S)[1])
        assert " ".join(parts.split()) == (
            "3 item(s): 1 answered, 2 reused, 0 no result, 0 failed, 0 waiting"
        )
        for outcome, n in (("answered", ANSWERED), ("reused", REUSED)):
            shown = client.get(f"/runs/{pair.second.id}", params={"outcome": outcome}).text
            assert len(re.findall(r'<tr id="item-\d+">', shown)) == n, outcome
        listed = client.get("/runs").text
        head = re.search(r'<table aria-label="Runs">\s*<tr>(.*?)</tr>', listed, re.S)[1]
        row = re.search(rf'<tr><td><a href="/runs/{pair.second.id}">.*?</tr>', listed, re.S)[0]
        cells = [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        by_head = dict(zip(re.findall(r"<th>(.*?)</th>", head), cells, strict=True))
        assert (by_head["Items"], by_head["Answered"], by_head["Reused"]) == ("3", "1", "2")
        assert by_head["No result"] == "0"
        client.close()
