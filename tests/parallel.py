"""How `make test` spreads the suite over two pytest-xdist workers (``-n 2``).

The controller hands out *work units* with a scheduler of our own (``UnitScheduling``, made
by the ``pytest_xdist_make_scheduler`` hook in conftest.py): a unit is a test file, except
that the files using the costly ``sample_runs`` session fixture (the sample worklists run
once) are one unit, so that fixture is made once. A worker runs a unit's tests one after the
other, in file order: a file's module-scoped fixtures are made once and its tests see each
other's portal knobs exactly as in a run without workers. Units known to take minutes go
first (``SLOW_FIRST``), so the two workers end together instead of one of them starting the
scale-out test last; the units that each keep several processes busy (``APART``) never run
on both workers at once.

(xdist's own ``loadgroup`` cannot do this under pytest 9: it names a test's group by
rewriting ``item._nodeid``, which pytest 9 no longer reads, and hands out single tests.)

Each worker is a pytest process of its own, with everything conftest.py makes per session:
its own mock portals on free ports (``PAYERBOT_INSTALLATION=pytest-<pid>``), its own
``tmp_path`` folders, its own PostgreSQL schemas (tests/pg.py names each one at random).

What a new test needs to run under xdist: nothing, when it keeps to what the suite already
does — its files under ``tmp_path``, its ports free ones (port 0, or ``free_port()``), its
PostgreSQL tables in a ``pg_schema()``, mock portals through the ``mock_portals`` / ``hub`` /
``env`` fixtures. Never a fixed port, a fixed file outside ``tmp_path`` (the repo's ``var/``,
``/tmp/<name>``), a fixed PostgreSQL schema or table name, or a signal to anything but a
process the test started itself. A unit only decides which worker runs a test, not what
runs beside it: a test must not measure time or CPU (benchmarks do, `payerbot bench`).
"""

from __future__ import annotations

from collections import OrderedDict

from xdist.scheduler import LoadScopeScheduling

SLOW_FIRST = (
    "tests/test_scaleout.py",  # 500 items, three worker processes
    "sample_runs",  # the sample worklists: CLI views, end-to-end tests and truth audit
    "tests/test_stress.py",  # 120 claims on ten sessions under 300 ms latency
    "tests/test_mock_portal_lifetime.py",  # two short demos at once
    "tests/test_security.py",  # the demo with faults
    "tests/test_resume.py",  # SIGKILL at five moments
    "tests/test_bench.py",
    "tests/test_scheduler.py",  # scheduler processes waiting for their jobs' times
    "tests/flows/test_payerhub.py",  # a `payerbot` process per night of a locked account
    "tests/test_sessions.py",  # the credential scan's two batches with faults on
)
"""Work units that take minutes, slowest first: started first. A unit not listed keeps its
place in pytest's order after these."""

SAMPLE_RUN_FILES = (
    "tests/test_cli_views.py",
    "tests/test_end_to_end.py",
    "tests/test_truth_audit.py",
)
"""The files whose tests use ``sample_runs`` (tests/samples.py): one unit, one run of the
sample worklists. A test elsewhere that uses the fixture works; it only makes it again."""


def unit_of(nodeid: str) -> str:
    """A test's work unit, from its node id alone (the controller sees nothing else)."""
    path = nodeid.split("::", 1)[0]
    return "sample_runs" if path in SAMPLE_RUN_FILES else path


def _rank(unit: str) -> int:
    return SLOW_FIRST.index(unit) if unit in SLOW_FIRST else len(SLOW_FIRST)


APART = ("tests/test_scaleout.py", "tests/test_stress.py")
"""Units that each keep several processes busy (three fleet workers; ten sessions under
latency): never two of them on two workers at once, where they would fight for the same two
cores. One worker may run them one after the other; the other worker gets the rest."""


def pick(queue: list[str], elsewhere: set[str]) -> str:
    """The unit to hand out next: the first in ``queue`` unless it is one of ``APART`` while
    another of them is still running elsewhere (then the first unit that is not; the first
    anyway when nothing else is left)."""
    busy = any(unit in APART for unit in elsewhere)
    for unit in queue:
        if not (busy and unit in APART):
            return unit
    return queue[0]


class UnitScheduling(LoadScopeScheduling):
    """xdist's load-scope scheduling with our units, the slow ones handed out first, two of
    ``APART`` never at once on two workers."""

    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node):  # type: ignore[no-untyped-def]
        if not self._ordered:  # the queue is complete before the first unit goes out
            self._ordered = True
            order = sorted(self.workqueue, key=_rank)  # stable: pytest's order within a rank
            self.workqueue = OrderedDict((unit, self.workqueue[unit]) for unit in order)
        elsewhere = {
            unit
            for other, units in self.assigned_work.items()
            if other is not node
            for unit, tests in units.items()
            if not all(tests.values())
        }
        chosen = pick(list(self.workqueue), elsewhere)
        self.workqueue.move_to_end(chosen, last=False)  # the one super() pops
        super()._assign_work_unit(node)
