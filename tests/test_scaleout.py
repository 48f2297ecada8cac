"""Scale-out on the real PostgreSQL server: three `payerbot worker` processes, acting as
three machines, work 500 queued items across the mock portals while one of them is killed
mid-run.

Checked afterwards: every item answered exactly once and correctly (ground truth); no
portal account ever had two live sessions (the portals' own counters); each portal's session
limit reached and never passed across the fleet; the killed worker's items were taken back
and finished by the others; both fleet runs were finished by a worker with their workbooks;
the survivors stop cleanly on SIGTERM. PayerHub is read through its API (``api_reads``), the
legacy and Medicaid portals through their pages: most items are PayerHub's, sixty and forty
the others' (a page read costs the 2-core machine ~15 times the CPU of an API read).

How many items: what the fleet is tested for is coordination, which needs every worker busy
on every portal at once (so each portal's limit is reached) and work left when one worker is
frozen at a quarter done (so it dies holding items). 500 items do that (the test ran 2,000,
1,800 of them PayerHub API reads and 200 page reads, for the same checks): still a dozen or
more items per session on every portal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bots.store import Store
from bots.store.migrate import HEAD
from bots.store.schema import results, work_items
from tests.pg import pg_schema
from tests.timing import deadline_in, scaled
from tests.truth import _subset_payload, expected_claim, expected_eligibility
from tests.worklist_factory import claim_worklist, concatenated, eligibility_worklist

pytestmark = pytest.mark.browser

ACCOUNTS = {"payerhub": 3, "legacyportal": 3, "medicaidportal": 2}
LIMITS = {"payerhub": 2, "legacyportal": 3, "medicaidportal": 2}  # payerhub: fewer than accounts
ELIGIBILITY = {"payerhub": 300, "legacyportal": 30, "medicaidportal": 20}
CLAIMS = {"payerhub": 100, "legacyportal": 30, "medicaidportal": 20}
FINAL = {"succeeded", "business_failed", "system_failed"}


def _worker(env: dict[str, str], node: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bots", "worker", "--sessions", "3"],
        env={**env, "PAYERBOT_NODE": node},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.timeout(900)
def test_three_workers_500_items_one_killed(mock_portals, ground_truth, tmp_path):
    for portal in mock_portals.values():
        portal.reset()
        portal.knobs(latency_ms=0, jitter_ms=0)
    dates = [date(2026, 12, 1) + timedelta(days=d) for d in range(14)]
    eligibility = tmp_path / "appointments.csv"
    claims = tmp_path / "open_claims.csv"
    elig_parts, claim_parts = [], []
    for name in ELIGIBILITY:
        payers = {p["payer_id"] for p in ground_truth["payers"] if p["portal"] == name}
        part = tmp_path / f"appointments-{name}.csv"
        elig_parts.append(
            (part, eligibility_worklist(ground_truth, part, ELIGIBILITY[name], payers, dates=dates))
        )
        part = tmp_path / f"open_claims-{name}.csv"
        claim_parts.append((part, claim_worklist(ground_truth, part, CLAIMS[name], payers)))
    want_elig = concatenated(eligibility, elig_parts)
    want_claims = concatenated(claims, claim_parts)

    with pg_schema(upgrade=False) as url:
        env = {
            **os.environ,
            "PAYERBOT_DATA_DIR": str(tmp_path / "var"),
            "PAYERBOT_DATABASE_URL": url,
            # machines: a dead peer's leases lapse after 10 s, then others take its work
            "PAYERBOT_QUEUE__LEASE_SECONDS": "10",
            "PAYERBOT_SESSIONS__ACCOUNT_LEASE_SECONDS": "10",
            # PayerHub read through its API, the other two through their pages: both paths
            "PAYERBOT_PORTALS__PAYERHUB__API_READS": "true",
        }
        for name, portal in mock_portals.items():
            env[f"PAYERBOT_PORTALS__{name.upper()}__BASE_URL"] = portal.url
            accounts = ["main", "second", "third", "fourth"][: ACCOUNTS[name]]
            env[f"PAYERBOT_PORTALS__{name.upper()}__ACCOUNTS"] = json.dumps(accounts)
            env[f"PAYERBOT_PORTALS__{name.upper()}__MAX_SESSIONS"] = str(LIMITS[name])

        def cli(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "bots", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=scaled(120),
                check=False,
            )

        upgraded = cli("db", "upgrade")
        assert upgraded.returncode == 0 and f"upgraded empty -> {HEAD}" in upgraded.stdout
        runs = []
        for kind, path in (("eligibility", eligibility), ("claim-status", claims)):
            queued = cli("run", kind, "--worklist", str(path), "--fleet")
            assert queued.returncode == 0, queued.stderr[-2000:]
            runs.append(queued.stdout.split()[1].rstrip(":"))

        logs = {n: (tmp_path / f"{n}.log").open("w") for n in ("m1", "m2", "m3")}
        workers = {n: _worker(env, n, logs[n]) for n in logs}
        os.environ["PAYERBOT_DATA_DIR"] = env["PAYERBOT_DATA_DIR"]
        store = Store(url)
        try:
            total = sum(ELIGIBILITY.values()) + sum(CLAIMS.values())

            def finished() -> int:
                with store.engine.begin() as conn:
                    return conn.execute(
                        select(func.count()).where(work_items.c.state.in_(FINAL))
                    ).scalar_one()

            most_held: dict[str, int] = {}

            def sample_leases() -> None:
                """Per portal, the most accounts held live at once across the fleet."""
                for name in ACCOUNTS:
                    live = sum(1 for a in store.account_sessions(name) if a.holder)
                    most_held[name] = max(most_held.get(name, 0), live)

            def held_by(node: str) -> set[int]:
                with store.engine.begin() as conn:
                    return set(
                        conn.execute(
                            select(work_items.c.id).where(
                                work_items.c.state == "in_progress",
                                work_items.c.lease_owner.like(f"{node}:%"),
                            )
                        ).scalars()
                    )

            deadline = deadline_in(600)
            # A quarter done, then one worker frozen while it holds items mid-lookup. Which
            # one is up to the fleet: PayerHub (most of the work) allows two sessions, so one
            # of the three workers may hold none of its accounts and, once the smaller
            # portals are done, nothing at all; freezing that one would test nothing.
            victim = ""
            while not victim:
                assert time.monotonic() < deadline, f"the fleet made no progress: {finished()}"
                assert all(w.poll() is None for w in workers.values())
                sample_leases()
                if finished() >= total // 4:
                    for node in ("m1", "m2", "m3"):
                        workers[node].send_signal(signal.SIGSTOP)
                        time.sleep(0.3)
                        if held_by(node):
                            victim = node
                            break
                        workers[node].send_signal(signal.SIGCONT)
                time.sleep(0.3)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(timeout=scaled(30))
            survivors = [n for n in ("m1", "m2", "m3") if n != victim]
            # What it died holding: still leased to it (a lease lapses only after 10 s), so
            # never completed by it; a commit in flight when it froze has landed by now.
            held_by_victim = held_by(victim)
            assert held_by_victim, "the killed worker held items mid-lookup"

            while any(getattr(store.get_run(r), "status", None) != "finished" for r in runs):
                assert time.monotonic() < deadline, f"not finished: {finished()} of {total}"
                assert all(workers[n].poll() is None for n in survivors)
                sample_leases()
                time.sleep(0.5)
            for n in survivors:
                workers[n].send_signal(signal.SIGTERM)
            for n in survivors:
                assert workers[n].wait(timeout=scaled(60)) == 0, (
                    tmp_path / f"{n}.log"
                ).read_text()[-3000:]

            with store.engine.begin() as conn:
                per_item = dict(
                    conn.execute(
                        select(results.c.item_id, func.count())
                        .where(results.c.outcome.in_(["succeeded", "business_failed"]))
                        .group_by(results.c.item_id)
                    ).all()
                )
                attempts = dict(conn.execute(select(work_items.c.id, work_items.c.attempts)).all())
            outcomes = {r: store.run_outcomes(r) for r in runs}
            run_rows = {r: store.get_run(r) for r in runs}
        finally:
            store.close()
            del os.environ["PAYERBOT_DATA_DIR"]
            for w in workers.values():
                if w.poll() is None:
                    w.kill()
            for log in logs.values():
                log.close()

    # every item exactly once: one final answer each, none failed, none answered twice
    assert len(attempts) == total
    assert all(per_item.get(i) == 1 for i in attempts), "an item answered twice or never"
    # the killed worker's in-flight items were taken back and finished by the others
    assert all(per_item.get(i) == 1 and attempts[i] >= 2 for i in held_by_victim)
    # right answers (the ground truth), row by row
    elig = {o.source_row: o for o in outcomes[runs[0]]}
    for want in want_elig:
        got = elig[want["row"]]
        if want["outcome"] == "result":
            assert got.state == "succeeded", (want, got.last_error_code)
            assert got.payload["coverage_active"] == want["coverage_active"]
            assert expected_eligibility(
                ground_truth, want["member_key"], got.payload
            ) == _subset_payload(got.payload)
        else:
            code = {"ambiguous": "ambiguous_match"}.get(want["outcome"], want["outcome"])
            assert (got.state, got.last_error_code) == ("business_failed", code)
    claim_rows = {o.source_row: o for o in outcomes[runs[1]]}
    for want in want_claims:
        got = claim_rows[want["row"]]
        if want["outcome"] == "result":
            assert got.state == "succeeded", (want, got.last_error_code)
            assert expected_claim(
                ground_truth, want["claim_number"], got.payload
            ) == _subset_payload(got.payload)
        else:
            assert (got.state, got.last_error_code) == ("business_failed", want["outcome"])
    # per-portal session limits held across the fleet (leases sampled all along)
    assert most_held == LIMITS, most_held
    # never two live sessions of one account, on any portal (the portals' own counters)
    for name, portal in mock_portals.items():
        concurrent = portal.counters()["max_concurrent_sessions"]
        assert concurrent and max(concurrent.values()) == 1, (name, concurrent)
    # both runs finished by a worker, counted, with their workbooks
    for run_id, want_n in zip(runs, (sum(ELIGIBILITY.values()), sum(CLAIMS.values())), strict=True):
        run = run_rows[run_id]
        assert run.executor == "fleet" and run.counts["items"] == want_n
        assert run.counts["system_failed"] == 0
        assert run.spreadsheet_path and os.path.exists(run.spreadsheet_path)
        assert run.notes["finished_by"].split(":")[0] in survivors
