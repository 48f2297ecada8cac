"""How `make test` spreads the suite over two pytest-xdist workers (``-n 2 --dist loadgroup``).

NOTE (known gap): with pytest 9 the units below are NOT applied yet. xdist 3.8 names a
test's group by rewriting ``item._nodeid``, which pytest 9 no longer reads (it keeps
``item._id``), so loadgroup hands out single tests, as ``--dist load`` does (a module fixture
is made once per worker that runs the module's tests; the suite passes that way). Applying
the units needs a scheduler of our own (``pytest_xdist_make_scheduler``) or ``loadfile``.

Each worker is a pytest process of its own, with everything conftest.py makes per session:
its own mock portals on free ports (``PAYERBOT_INSTALLATION=pytest-<pid>``), its own
``tmp_path`` folders, its own PostgreSQL schemas (tests/pg.py names each one at random).

A work unit, the tests one worker runs one after the other, is a test file: a file's
module-scoped fixtures are made once and its tests see each other's portal knobs exactly as
in a run without workers. Tests that use a costly session fixture (``sample_runs``: the
sample worklists run once) are one unit across files, so that fixture is made once. Files
known to take minutes go first (``SLOW_FIRST``), so the two workers end together instead of
one of them starting the 5-minute scale-out test last.

What a new test needs to run under xdist: nothing, when it keeps to what the suite already
does — its files under ``tmp_path``, its ports free ones (port 0, or ``free_port()``), its
PostgreSQL tables in a ``pg_schema()``, mock portals through the ``mock_portals`` / ``hub`` /
``env`` fixtures. Never a fixed port, a fixed file outside ``tmp_path`` (the repo's ``var/``,
``/tmp/<name>``), a fixed PostgreSQL schema or table name, or a signal to anything but a
process the test started itself. A test that must not share the machine with another test
(e.g. it measures time or CPU) marks its file ``pytest.mark.xdist_group("<name>")`` and says
why; a unit only decides which worker runs a test, not what runs beside it.
"""

from __future__ import annotations

import pytest

SLOW_FIRST = (
    "tests/test_scaleout.py",  # ~5 min: 2,000 items, three worker processes
    "sample_runs",  # the sample worklists, end-to-end tests and truth audit
    "tests/test_stress.py",  # ~2 min: 300 claims under 300 ms latency
    "tests/test_mock_portal_lifetime.py",  # two demos at once
    "tests/test_security.py",  # the demo with faults
    "tests/test_bench.py",
)
"""Work units that take minutes, slowest first: started first. A unit not listed keeps its
place in pytest's order after these."""

SHARED_FIXTURES = ("sample_runs",)
"""Session fixtures worth one unit: every test using one runs on the same worker."""


def group_of(item: pytest.Item) -> str:
    """The item's work unit: an explicit ``xdist_group`` mark, a shared costly session
    fixture, else its file."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    for name in SHARED_FIXTURES:
        if name in getattr(item, "fixturenames", ()):
            return name
    return item.nodeid.split("::", 1)[0]


def assign_units(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` (xdist workers only): every item gets its unit as an
    ``xdist_group`` mark, and the slow units go first."""
    # xdist sets a worker's own --dist to "no" and tells it loadgroup apart
    if not hasattr(config, "workerinput") or not config.getoption("loadgroup", False):
        return
    groups = {id(item): group_of(item) for item in items}
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(groups[id(item)]))

    def rank(item: pytest.Item) -> int:
        group = groups[id(item)]
        return SLOW_FIRST.index(group) if group in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: pytest's order within each rank
