"""The night at scale: N mixed lookups (eligibility and claim status) over the three bundled
mock portals at an added latency per portal request, with the configured session limits.

``payerbot bench --night N`` calls :func:`run_night`: it starts the three mock portals
(PayerHub, the legacy portal, the Medicaid portal) with ``--latency-ms``, builds a synthetic
night from their ground truth and runs it in a child process

    python -m benchmarks.night JOB.json DATA_DIR

which works it with payerbot's real engine as ``payerbot run`` does (``run_rows``: the
Runner, the store, evidence, follow-ups and the specialists' workbook), with the portals,
accounts, session limits and ``api_reads`` of the configuration (config/portals.toml, the
same as ``payerbot demo``). The child samples its whole process tree (bot + driver +
browser) from /proc and records memory at a checkpoint (1,000 lookups) and at the end.

The night is a sequence of batches of up to 1,000 lookups, each an eligibility run and a
claim status run (about 60/40), as a scheduler works several worklists. Its questions are
spread over the portals in proportion to the members and claims each one serves. The
mock data set has a few hundred claims: a claim is asked again in a later batch (``force``:
asked, not reused from the dedupe window), never twice in one run. Every 15th eligibility
row asks for an ID the payer does not know (a "no result"); the data set's deliberate traps
(benefit or status words no flow knows) are left out: this row measures throughput.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.procs import TreeSampler, _rss_mb, _stat, descendants
from bots.codes import CLAIM_STATUS_CATEGORIES, CoverageLevel, YesNoUnknown
from bots.ops import mock_portals as fixture_portals
from bots.settings import ROOT, Settings

PORTALS = ("payerhub", "legacyportal", "medicaidportal")
BATCH = 1000
"""Lookups per batch (an eligibility run and a claim status run); also the memory checkpoint."""
CLAIM_SHARE = 0.4
SEED = 20261202


# -- the workload ------------------------------------------------------------------------


def _unique_members(gt: dict[str, Any]) -> list[dict[str, Any]]:
    """Members whose ID + DOB cannot be confused with a family member (no twins)."""
    seen: Counter[tuple[str, str]] = Counter((m["member_id"], m["dob"]) for m in gt["members"])
    return [m for m in gt["members"] if seen[(m["member_id"], m["dob"])] == 1]


def _plain_benefits(m: dict[str, Any]) -> bool:
    """No benefit word outside the X12 tables the flows know (the data set's strict traps)."""
    known: dict[str, set[str | None]] = {
        "in_network": {c.value for c in YesNoUnknown},
        "prior_auth_required": {c.value for c in YesNoUnknown},
        "coverage_level": {c.value for c in CoverageLevel} | {None},
    }
    return all(b[k] in known[k] for b in m["benefits"] for k in known)


def _portal_of(gt: dict[str, Any]) -> dict[str, str]:
    return {p["payer_id"]: p["portal"] for p in gt["payers"]}


def night_workload(gt: dict[str, Any], n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """Batches of questions: ``[{"eligibility": [...], "claim_status": [...]}, ...]``, N in all.

    Each portal gets eligibility and claims in proportion to the members and claims it
    serves; within a batch the portals' questions are interleaved (shuffled)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    portal = _portal_of(gt)
    known_ids = {m["member_id"] for m in gt["members"]}
    members = {p: [m for m in _unique_members(gt) if portal[m["payer_id"]] == p] for p in PORTALS}
    members = {p: [m for m in ms if _plain_benefits(m)] for p, ms in members.items()}
    claims = {
        p: [
            c
            for c in gt["claims"]
            if portal[c["payer_id"]] == p and c["status"]["category"] in CLAIM_STATUS_CATEGORIES
        ]
        for p in PORTALS
    }
    for pool in (*members.values(), *claims.values()):
        rng.shuffle(pool)
    member_weight = {p: len(members[p]) for p in PORTALS}
    claim_weight = {p: len(claims[p]) for p in PORTALS}
    used: Counter[str] = Counter()  # eligibility questions asked per portal (never repeated)
    batches: list[dict[str, Any]] = []
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        n_claims = round(size * CLAIM_SHARE)
        elig: list[dict[str, Any]] = []
        for p, k in _split(size - n_claims, member_weight, rng).items():
            pool = members[p]
            for _ in range(k):
                i = used[p]
                used[p] += 1
                m = pool[i % len(pool)]
                # a new day of service per pass over the portal's members: a new question
                dos = date(2026, 12, 1) + timedelta(days=i // len(pool))
                member_id = m["member_id"]
                if i % 15 == 14:  # an ID the payer does not know
                    member_id = member_id[:-4] + "9999"
                    if member_id in known_ids:
                        member_id = m["member_id"]
                elig.append(
                    {
                        "kind": "eligibility",
                        "payer_id": m["payer_id"],
                        "member_id": member_id,
                        "dob": m["dob"],
                        "date_of_service": dos.isoformat(),
                        "service_type": "30",
                    }
                )
        claim_rows: list[dict[str, Any]] = []
        for p, k in _split(n_claims, claim_weight, rng).items():
            if k > len(claims[p]):
                raise ValueError(f"{p} serves {len(claims[p])} claims; a batch asks {k}")
            for c in rng.sample(claims[p], k):  # distinct within the run
                claim_rows.append(
                    {
                        "kind": "claim_status",
                        "payer_id": c["payer_id"],
                        "claim_number": c["claim_number"],
                        "member_id": c["member_id"],
                    }
                )
        rng.shuffle(elig)
        rng.shuffle(claim_rows)
        batches.append({"eligibility": elig, "claim_status": claim_rows})
    return batches


def _split(total: int, weights: dict[str, int], rng: random.Random) -> dict[str, int]:
    """``total`` split in proportion to ``weights`` (largest remainders; ties at random)."""
    whole = sum(weights.values())
    exact = {p: total * w / whole for p, w in weights.items()}
    parts = {p: int(x) for p, x in exact.items()}
    rest = sorted(weights, key=lambda p: (exact[p] - parts[p], rng.random()), reverse=True)
    for p in rest[: total - sum(parts.values())]:
        parts[p] += 1
    return parts


# -- the child: payerbot's engine over the night -------------------------------------------


def _pss_mb(pid: int) -> float:
    """A process's proportional set size: its private memory plus its share of what it
    shares (Chromium's processes share much; their RSS summed counts it many times)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class _Peak:
    """The whole process tree (this process + driver + browser), sampled every second: its
    RSS now and at its peak so far, and the CPU seconds of every process seen in it; per
    window between two checkpoints, the peak of the tree's RSS and PSS and of this
    process's (the bot's) RSS."""

    def __init__(self, every: float = 1.0) -> None:
        self.peak = 0.0
        self.every = every
        self._cpu: dict[int, float] = {}
        self._window = {"tree_rss": 0.0, "tree_pss": 0.0, "bot_rss": 0.0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> float:
        me = os.getpid()
        pids = [me, *descendants(me)]
        now = sum(_rss_mb(p) for p in pids)
        pss = sum(_pss_mb(p) for p in pids)
        bot = _rss_mb(me)
        with self._lock:
            self.peak = max(self.peak, now)
            for key, value in (("tree_rss", now), ("tree_pss", pss), ("bot_rss", bot)):
                self._window[key] = max(self._window[key], value)
            for pid in pids:
                st = _stat(pid)
                if st is not None:
                    self._cpu[pid] = max(self._cpu.get(pid, 0.0), st[1])
        return now

    def window(self) -> dict[str, float]:
        """The window's peaks since the last call (then a new window starts)."""
        with self._lock:
            seen = {f"window_{k}_mb": round(v, 1) for k, v in self._window.items()}
            self._window = dict.fromkeys(self._window, 0.0)
        return seen

    @property
    def cpu(self) -> float:
        with self._lock:
            return sum(self._cpu.values())

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> _Peak:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def work_night(job: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """Run the job's batches with the configured engine; the figures as a dict."""
    from bots.engine.credentials import write_secret_files
    from bots.models import ClaimStatusQuery, EligibilityQuery, LookupKind
    from bots.services.batches import run_rows
    from bots.settings import load_settings
    from bots.store import Store

    settings = load_settings(data_dir=data_dir)
    for portal_id, url in job["urls"].items():
        portal = settings.portals[portal_id]
        portal.base_url = url
        logins = {a["account"]: a for a in job["accounts"][portal_id]}
        for account in portal.accounts:
            write_secret_files(settings, portal_id, account, logins[account])
    total = sum(len(b["eligibility"]) + len(b["claim_status"]) for b in job["batches"])
    marks = sorted({*range(BATCH, total, BATCH), min(BATCH, total), total})
    checkpoints: dict[str, dict[str, float]] = {}
    peak = _Peak().start()
    done_before = 0

    step = max(total // 100, 10)
    told = [0]

    def progress(done: int, _total: int) -> None:
        if done_before + done >= told[0] + step:
            told[0] = done_before + done
            sys.stderr.write(
                f"night: {told[0]}/{total} lookups in {time.perf_counter() - started:.0f} s, "
                f"tree {peak.sample():.0f} MB, peak {peak.peak:.0f} MB, CPU {peak.cpu:.0f} s\n"
            )
            sys.stderr.flush()
        while marks and done_before + done >= marks[0]:
            now = peak.sample()
            checkpoints[str(marks.pop(0))] = {
                "tree_mb": round(now, 1),
                "peak_mb": round(peak.peak, 1),
                **peak.window(),
            }

    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    by_portal: Counter[str] = Counter()
    login_counts: Counter[str] = Counter()
    runs: list[dict[str, Any]] = []
    store = Store.open(settings)
    started = time.perf_counter()
    try:
        for batch in job["batches"]:
            for kind, model in (
                (LookupKind.ELIGIBILITY, EligibilityQuery),
                (LookupKind.CLAIM_STATUS, ClaimStatusQuery),
            ):
                rows = [(None, model.model_validate(q)) for q in batch[kind.value]]
                if not rows:
                    continue
                result = run_rows(
                    settings, kind, rows, trigger="bench", progress=progress, force=True
                )
                summary = result.summary
                for item in store.run_outcomes(summary.run_id):
                    states[item.state.value] += 1
                    by_kind[kind.value] += 1
                    by_portal[item.portal] += 1
                    if item.state.value != "succeeded":
                        code = item.last_error_code.value if item.last_error_code else "none"
                        reasons[f"{item.state.value}:{code}"] += 1
                login_counts.update(summary.logins)
                runs.append(
                    {
                        "kind": kind.value,
                        "lookups": summary.lookups,
                        "seconds": round(summary.duration_seconds, 1),
                        "stopped_portals": sorted(summary.stopped_portals),
                    }
                )
                done_before += len(rows)
                progress(0, 0)
    finally:
        seconds = time.perf_counter() - started
        peak.stop()
        store.close()
    return {
        "lookups": sum(states.values()),
        "seconds": round(seconds, 1),
        "states": dict(states),
        "failures_by_reason": dict(reasons.most_common()),
        "by_kind": dict(by_kind),
        "by_portal": dict(by_portal),
        "logins": dict(login_counts),
        "runs": runs,
        "checkpoints": checkpoints,
        "peak_tree_mb": round(peak.peak, 1),
        "portals": {
            p: {
                "max_sessions": settings.portals[p].max_sessions,
                "accounts": len(settings.portals[p].accounts),
                "api_reads": settings.portals[p].api_reads,
                "pace_seconds": settings.portals[p].pace_seconds,
            }
            for p in job["urls"]
        },
    }


# -- the parent: portals, job, child, figures ----------------------------------------------


def run_night(settings: Settings, n: int, latency_ms: int, tmp: Path, say: Any) -> dict[str, Any]:
    """Start the three mock portals at ``latency_ms``, run N mixed lookups in a child process
    sampled from outside too (CPU), and return the report's ``night`` section."""
    portals = fixture_portals.start(
        settings,
        dict.fromkeys(PORTALS, 0),
        ["--latency-ms", str(latency_ms), "--session-idle-seconds", "7200"],
    )
    try:
        urls = {p: portals.urls[p] for p in PORTALS}
        gt = httpx.get(f"{urls['payerhub']}/__admin/ground-truth", timeout=30).json()
        accounts = {
            p: httpx.get(f"{u}/__admin/accounts", timeout=30).json() for p, u in urls.items()
        }
        batches = night_workload(gt, n)
        job = tmp / "night-job.json"
        job.write_text(json.dumps({"urls": urls, "accounts": accounts, "batches": batches}))
        for u in urls.values():
            httpx.post(f"{u}/__admin/reset", timeout=30)
        say(f"night: {n} mixed lookups over {', '.join(PORTALS)} at {latency_ms} ms")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PAYERBOT_DATA_DIR", None)
        proc = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
            [sys.executable, "-m", "benchmarks.night", str(job), str(tmp / "night-data")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = TreeSampler(proc.pid, every=1.0).start()
        errors: deque[str] = deque(maxlen=20)

        def relay() -> None:  # the child's progress lines, live; the rest kept for errors
            assert proc.stderr is not None
            for line in proc.stderr:
                (say if line.startswith("night: ") else errors.append)(line.rstrip())

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait()
        reader.join()
        cpu = sampler.stop()
        if proc.returncode != 0:
            tail = [errors[-1]] if errors else [str(proc.returncode)]
            raise RuntimeError(f"the night's worker failed: {tail[0]}")
        night: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        counters = {p: fixture_portals.counters(u) for p, u in urls.items()}
    finally:
        portals.stop()
    return _figures(night, n, latency_ms, cpu, counters)


def _figures(
    night: dict[str, Any], n: int, latency_ms: int, cpu: float, counters: dict[str, Any]
) -> dict[str, Any]:
    states = night["states"]
    lookups = max(night["lookups"], 1)
    marks = sorted(night["checkpoints"], key=int)
    first, last = (night["checkpoints"][m] for m in (marks[0], marks[-1]))
    growth = round(last["peak_mb"] / first["peak_mb"] - 1, 3) if first["peak_mb"] else None

    def grew(key: str) -> float | None:
        a, b = first.get(key), last.get(key)
        return round(b / a - 1, 3) if a and b else None

    window_growth = {k: grew(f"window_{k}_mb") for k in ("tree_rss", "tree_pss", "bot_rss")}
    bound: dict[str, Any] = {}
    for p, c in counters.items():
        asked = night["by_portal"].get(p, 0)
        sessions = night["portals"][p]["max_sessions"]
        rpl = c["requests"] / asked if asked else None
        rate = sessions * 60 / (rpl * latency_ms / 1000) if rpl and latency_ms else None
        bound[p] = {
            "lookups": asked,
            "sessions": sessions,
            "requests_per_lookup": round(rpl, 2) if rpl else None,
            "max_lookups_per_min": round(rate, 1) if rate else None,
            "min_minutes": round(asked / rate, 1) if rate else None,
        }
    floor = max((b["min_minutes"] or 0.0 for b in bound.values()), default=0.0)
    cores = os.cpu_count() or 1
    per_lookup = cpu / lookups
    cpu_rate = cores * 60 / per_lookup if per_lookup else None
    return {
        "lookups": n,
        "latency_ms": latency_ms,
        "answered": states.get("succeeded", 0),
        "no_result": states.get("business_failed", 0),
        "failed": states.get("system_failed", 0),
        "other": sum(v for k, v in states.items() if k not in _DONE),
        "failures_by_reason": night["failures_by_reason"],
        "by_kind": night["by_kind"],
        "seconds": night["seconds"],
        "minutes": round(night["seconds"] / 60, 1),
        "lookups_per_min": round(night["lookups"] / night["seconds"] * 60, 1)
        if night["seconds"]
        else None,
        "cpu_s_per_lookup": round(cpu / lookups, 3),
        "peak_tree_mb": night["peak_tree_mb"],
        "memory_at": night["checkpoints"],
        "memory_growth": growth,
        "window_growth": window_growth,
        "logins": night["logins"],
        "portals": night["portals"],
        "latency_bound": bound,
        "bound_minutes": round(floor, 1),
        "cpu_bound": {
            "cores": cores,
            "max_lookups_per_min": round(cpu_rate, 1) if cpu_rate else None,
            "min_minutes": round(n / cpu_rate, 1) if cpu_rate else None,
        },
        "batches": len(night["runs"]) // 2 or len(night["runs"]),
        "runs": len(night["runs"]),
        "outside_runs_seconds": round(
            night["seconds"] - sum(r["seconds"] for r in night["runs"]), 1
        ),
    }


_DONE = ("succeeded", "business_failed", "system_failed")


def _window_lines(night: dict[str, Any], marks: list[str]) -> list[str]:
    """Per window of lookups: the peaks within it (not since the start), summed RSS and PSS
    of the tree, and the bot's own RSS; the last window against the first."""
    at = night["memory_at"]
    if not marks or "window_tree_rss_mb" not in at[marks[0]]:
        return []
    lines = [
        "",
        "Peaks within each window of lookups (RSS summed over the tree counts memory the "
        "browser's processes share once per process; PSS counts it once):",
        "",
        "| lookups up to | tree RSS peak MB | tree PSS peak MB | bot process RSS peak MB |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for m in marks:
        w = at[m]
        lines.append(
            f"| {m} | {w['window_tree_rss_mb']} | {w['window_tree_pss_mb']} | "
            f"{w['window_bot_rss_mb']} |"
        )
    g = night.get("window_growth") or {}
    lines += [
        "",
        f"Last window against the first: tree RSS peak {g.get('tree_rss')}, tree PSS peak "
        f"{g.get('tree_pss')}, bot process {g.get('bot_rss')} (target: within 0.10).",
    ]
    return lines


def markdown(night: dict[str, Any]) -> list[str]:
    """The report's night section (Markdown lines)."""
    if "error" in night:
        return ["", "## The night at scale", "", f"Not measured: {night['error']}."]
    marks = sorted(night["memory_at"], key=int)
    api = [p for p, v in night["portals"].items() if v["api_reads"]] or ["none"]
    limits = ", ".join(f"{p} {v['max_sessions']}" for p, v in night["portals"].items())
    lines = [
        "",
        "## The night at scale",
        "",
        f"{night['lookups']} mixed lookups ({night['by_kind']}) over the three bundled mock "
        f"portals at {night['latency_ms']} ms per portal request, configured session limits "
        f"({limits}), "
        f"API reads: {', '.join(api)}; {night['batches']} batch(es) of up to {BATCH}.",
        "",
        "| lookups | minutes | lookups/min | answered | no result | failed | other "
        "| CPU s/lookup | peak tree MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {night['lookups']} | {night['minutes']} | {night['lookups_per_min']} | "
        f"{night['answered']} | {night['no_result']} | {night['failed']} | {night['other']} | "
        f"{night['cpu_s_per_lookup']} | {night['peak_tree_mb']} |",
        "",
        "Memory of the whole process tree (bot + driver + browser) by lookups done: "
        + "; ".join(
            f"at {m}: {night['memory_at'][m]['tree_mb']} MB (peak so far "
            f"{night['memory_at'][m]['peak_mb']} MB)"
            for m in marks
        )
        + f"; growth of the peak {night['memory_growth']} (target: within 0.10).",
        *_window_lines(night, marks),
        "",
        f"Not answered, by reason: {night['failures_by_reason'] or 'none'}. Runs: "
        f"{night['runs']}; time outside their lookups (queueing, follow-ups, workbooks, "
        "browser close, between runs): "
        f"{night['outside_runs_seconds']} s.",
        "",
        "Latency bound per portal (sessions x 60 s / (requests per lookup x latency)): "
        + "; ".join(
            f"{p} {b['sessions']} session(s), {b['requests_per_lookup']} requests/lookup, "
            f"<= {b['max_lookups_per_min']}/min, >= {b['min_minutes']} min for {b['lookups']}"
            for p, b in night["latency_bound"].items()
        )
        + f". The night cannot take less than {night['bound_minutes']} min at this latency.",
        "",
        f"CPU bound (all {night['cpu_bound']['cores']} cores busy with this night alone, at "
        f"{night['cpu_s_per_lookup']} CPU s per lookup): <= "
        f"{night['cpu_bound']['max_lookups_per_min']}/min, >= "
        f"{night['cpu_bound']['min_minutes']} min for {night['lookups']}. On a shared machine "
        "the wall time is longer than both bounds.",
    ]
    return lines


if __name__ == "__main__":
    figures = work_night(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
    sys.stdout.write(json.dumps(figures) + "\n")
