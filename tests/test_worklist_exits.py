"""`payerbot run` on worklists with nothing to run, or nothing looked up (issue 19): the
documented exit code, one line on stderr saying why, and the same reason in the run's
import.json and the store's import_errors, with the row numbers a person sees and no PHI on
any of those surfaces."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from bots.interfaces.cli.common import EXIT_CODES, EXIT_NO_ROWS, EXIT_NOTHING_LOOKED_UP
from bots.store import Store
from tests.conftest import SAMPLES
from tests.test_cli import payerbot
from tests.test_security import phi_values
from tests.worklist_factory import eligibility_worklist

APPOINTMENTS = (SAMPLES / "appointments.csv").read_text().splitlines()
HEADER = APPOINTMENTS[0]


def without_column(line: str, name: str) -> str:
    drop = next(csv.reader([HEADER])).index(name)
    return ",".join(c for i, c in enumerate(next(csv.reader([line]))) if i != drop)


def bad_dob(line: str, header: str = HEADER) -> str:
    cells = next(csv.reader([line]))
    cells[next(csv.reader([header])).index("DOB")] = "31/31/1999"
    return ",".join(cells)


CASES = {
    "empty": (b"", "the file is empty"),
    "binary": (
        b"\x89PNG\r\n\x1a\n" + random.Random(5).randbytes(4000),
        "the file is not a readable CSV or XLSX: it holds binary data, not text",
    ),
    "header-only": ((HEADER + "\r\n").encode(), "the file has column headers but no rows"),
    "no-dob-column": (
        "\n".join(without_column(r, "DOB") for r in APPOINTMENTS[:4]).encode(),
        "the worklist has no date of birth column",
    ),
    "no-header-row": (
        "\n".join(APPOINTMENTS[1:4]).encode(),
        "the first row looks like data, not headers",
    ),
    "every-row-rejected": (
        "\n".join(
            [
                "Appointments - printed 11/27/2026",
                "",
                HEADER,
                "",
                bad_dob(APPOINTMENTS[1]),
                "",
                "",
                bad_dob(APPOINTMENTS[2]),
            ]
        ).encode(),
        "every row was rejected (2 of 2; first: row 5 column dob: not a date",
    ),
}


def stored_import_errors(settings, run_id: str) -> list[tuple[int, str | None, str]]:
    store = Store.open(settings)
    try:
        return [(e.source_row, e.column, e.reason) for e in store.import_errors(run_id)]
    finally:
        store.close()


@pytest.mark.parametrize("case", list(CASES))
def test_a_worklist_with_nothing_to_run_exits_4_and_says_why_everywhere(
    env, settings, tmp_path, ground_truth, case
):
    content, reason = CASES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)
    proc = payerbot("run", "eligibility", "--worklist", str(path), env=env)
    assert proc.returncode == EXIT_NO_ROWS, proc.stderr[-2000:]
    stderr = " ".join(proc.stderr.split())
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("nothing done:")]
    assert line.startswith(f"nothing done: {case}.csv: ") and reason in " ".join(line.split())
    assert "Traceback" not in stderr and "Error" not in stderr
    shown = proc.stdout + proc.stderr
    report = json.loads(next((settings.data_dir / "runs").glob("*/import.json")).read_text())
    (run_id,) = [p.name for p in (settings.data_dir / "runs").iterdir()]
    stored = stored_import_errors(settings, run_id)
    assert report["accepted"] == 0 and stored
    if case == "every-row-rejected":  # the file's line numbers, title and blank lines counted
        assert [(e["source_row"], e["column"]) for e in report["errors"]] == [
            (5, "dob"),
            (8, "dob"),
        ]
        assert [(row, column) for row, column, _ in stored] == [(5, "dob"), (8, "dob")]
        assert "row 5 column dob: not a date" in stderr and "row 8 column dob" in stderr
    else:
        assert reason in report["problem"] and [e["reason"] for e in report["errors"]] == [
            report["problem"]
        ]
        assert [r for _, _, r in stored] == [report["problem"]]
        assert stderr.count(reason) == 1, "one line, not a row error and the same again"
    said = shown + json.dumps(report) + json.dumps(stored)
    assert [v for v in phi_values(ground_truth) if v in said] == []
    assert "31/31/1999" not in said


def test_the_exit_codes_are_documented_in_the_help_and_the_readme(env):
    proc = payerbot("run", "--help", env=env)
    text = " ".join(proc.stdout.split())
    assert "4 nothing to run" in text and "5 nothing was looked up" in text
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert " ".join(EXIT_CODES.split()) in readme


def test_a_batch_whose_accounts_are_all_held_by_another_run_exits_5(
    env, settings, tmp_path, ground_truth
):
    hub_payers = {p for p in settings.payers if settings.portal_for_payer(p) == "payerhub"}
    path = tmp_path / "hub.csv"
    eligibility_worklist(ground_truth, path, 3, hub_payers)
    store = Store.open(settings)
    try:
        other, _ = store.start_run("eligibility", "batch", "tonight.csv")
        for account in settings.portals["payerhub"].accounts:
            lease = store.lease_account("payerhub", account, f"{store.owner}:held", other, 600)
            assert lease.acquired
        proc = payerbot("run", "eligibility", "--worklist", str(path), env=env)
    finally:
        store.close()
    assert proc.returncode == EXIT_NOTHING_LOOKED_UP, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("nothing done:")]
    line = " ".join(line.split())
    assert "nothing was looked up: all 3 item(s)" in line and f"in use by run {other}" in line
    assert "payerbot runs resume" in line


def test_a_fleet_run_with_nothing_to_queue_exits_4(env, settings, tmp_path):
    path = tmp_path / "no-header.csv"
    path.write_text("\n".join(APPOINTMENTS[1:4]) + "\n")
    proc = payerbot("run", "eligibility", "--worklist", str(path), "--fleet", env=env)
    assert proc.returncode == EXIT_NO_ROWS, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("nothing done:")]
    assert "the first row looks like data, not headers" in " ".join(line.split())


@pytest.mark.browser
def test_a_cr_only_report_with_a_title_line_runs_and_names_its_bad_row_by_its_line(
    env, settings, tmp_path, ground_truth
):
    """Old-Mac line ends (CR only), a title line and blank lines above the header, a blank
    line between rows: the good rows run, the bad one is reported as the line it is on."""
    made = tmp_path / "made.csv"
    eligibility_worklist(ground_truth, made, 2, {"ACME"})
    header, first, second = made.read_text().splitlines()
    lines = [
        "Appointments - printed 11/27/2026",
        "",
        header,
        first,
        "",
        bad_dob(second, header),
        second,
    ]
    path = tmp_path / "mac.csv"
    path.write_bytes("\r".join(lines).encode() + b"\r")
    proc = payerbot("run", "eligibility", "--worklist", str(path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mac.csv row 6 column dob: not a date" in " ".join(proc.stderr.split())
    report = json.loads(next((settings.data_dir / "runs").glob("*/import.json")).read_text())
    assert (report["rows"], report["accepted"], report["rejected"]) == (3, 2, 1)
    assert [(e["source_row"], e["column"]) for e in report["errors"]] == [(6, "dob")]
    store = Store.open(settings)
    try:
        (run,) = store.list_runs()
        rows = sorted(i.source_row for i in store.run_outcomes(run.id))
    finally:
        store.close()
    assert rows == [4, 7]
    said = proc.stdout + proc.stderr + json.dumps(report)
    assert [v for v in phi_values(ground_truth) if v in said] == []
