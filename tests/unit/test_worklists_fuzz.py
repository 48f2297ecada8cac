"""Property tests: whatever a practice-management export throws at the import, it never
raises, and every data row is either accepted or rejected with a reason."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.intake.worklists import import_worklist
from bots.models import LookupKind
from bots.settings import load_settings

SETTINGS = load_settings()
HEADER = [
    "Appt Date",
    "Patient Last",
    "Patient First",
    "DOB",
    "Insurance",
    "Member ID",
    "Expected Charge",
]

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "12/01/2026",
            "2026-12-01",
            "13/45/2026",
            "45000",
            "",
            '=HYPERLINK("x")',
            "+1",
            "@SUM(A1)",
            "ACME",
            "Acme Health Plan",
            "ACM12345678901",
            "0045123378",
            "$1,200.00",
            "(12.00)",
            "abc",
        ]
    ),
    st.text(min_size=5000, max_size=20000),  # a huge field
)
rows = st.lists(st.lists(cells, min_size=0, max_size=9), max_size=12)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1"])
delimiters = st.sampled_from([",", ";", "\t"])
headers = st.one_of(
    st.just(HEADER), st.permutations(HEADER), st.lists(st.sampled_from(HEADER), max_size=7)
)


def render(header: list[str], body: list[list[str]], delimiter: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue()


def check(report, data_rows: int) -> None:
    """Every data row accepted or rejected, numbered by the line it starts on (a quoted cell
    may span lines: numbers below the header, increasing, never more than the rows)."""
    rejected = {e.source_row for e in report.errors}
    accepted = {r.source_row for r in report.rows}
    assert not accepted & rejected
    assert all(e.reason for e in report.errors)
    if report.problem is not None:
        assert report.rows == [] and [e.reason for e in report.errors] == [report.problem]
    elif report.preset is not None:
        assert len(accepted | rejected) == report.total_rows
        assert min(accepted | rejected, default=2) >= 2
        assert report.total_rows <= data_rows


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(header=headers, body=rows, encoding=encodings, delimiter=delimiters)
def test_any_table_imports_without_raising(tmp_path, header, body, encoding, delimiter):
    text = render(header, body, delimiter)
    path = tmp_path / "w.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    report = import_worklist(path, SETTINGS, LookupKind.ELIGIBILITY)
    check(report, len(body))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(max_size=4000), suffix=st.sampled_from([".csv", ".xlsx", ".txt"]))
def test_random_bytes_never_raise(tmp_path, blob, suffix):
    path = tmp_path / f"w{suffix}"
    path.write_bytes(blob)
    report = import_worklist(path, SETTINGS)
    assert report.rows == [] or report.preset is not None
    check(report, 10**6)
