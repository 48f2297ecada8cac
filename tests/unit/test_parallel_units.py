"""The suite's own scheduling onto xdist workers (tests/parallel.py): which unit a test
belongs to, and which unit a worker is handed next."""

from __future__ import annotations

from tests.parallel import APART, SAMPLE_RUN_FILES, pick, unit_of


def test_every_file_using_the_sample_runs_is_one_unit():
    assert {unit_of(f"{path}::test_x[a]") for path in SAMPLE_RUN_FILES} == {"sample_runs"}
    assert "tests/test_cli_views.py" in SAMPLE_RUN_FILES
    assert unit_of("tests/test_cli.py::test_x") == "tests/test_cli.py"


def test_two_heavy_units_never_go_to_two_workers_at_once():
    heavy, other = APART
    queue = [other, "tests/test_cli.py", "tests/test_console.py"]
    assert pick(queue, elsewhere={heavy}) == "tests/test_cli.py"
    assert pick(queue, elsewhere={"tests/test_dates.py"}) == other
    assert pick(queue, elsewhere=set()) == other


def test_a_heavy_unit_goes_anyway_when_nothing_else_is_left():
    heavy, other = APART
    assert pick([other], elsewhere={heavy}) == other
