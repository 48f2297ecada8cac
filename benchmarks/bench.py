"""`payerbot bench`: payerbot against a naive script and a minimal hand-written loop, side by
side in one run, against the bundled PayerHub mock portal (fixed seed).

Each program runs in its own process on the same workload; a sampler reads the process
tree from /proc (CPU seconds, peak memory of the program and of its browser). The report
(JSON + Markdown) lands in ``<data_dir>/bench/<stamp>/``. Figures are meant as ratios
within one report: these machines are noisy.

The yardstick for page reading is the lean page loop (benchmarks/lean/, rows and ratios from
benchmarks/lean_rows.py): hand-written without payerbot's code, one per bundled portal
(``--portals`` adds the legacy and Medicaid portals' rows). Latency is one per report: run it
at 0 ms and again at ``--latency-ms 300``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.lean_rows import LEAN, PORTAL_PAYERS, lean_ratios, logins_of, portal_rows
from benchmarks.procs import TreeSampler
from bots.engine.browser import playwright_chromium, resolve_executable
from bots.files import private_dir
from bots.ops import mock_portals as fixture_portals
from bots.settings import ROOT, Settings

PAYERS = ("ACME", "BLUESTEM", "CARDINAL")
API_ROW = "payerbot, API reads"
"""payerbot with ``api_reads`` on: the hub's JSON through the logged-in browser context."""


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _workload(
    gt: dict[str, Any], items: int, seed: int = 20261128, payers: tuple[str, ...] = PAYERS
) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], int] = {}
    for m in gt["members"]:
        seen[(m["member_id"], m["dob"])] = seen.get((m["member_id"], m["dob"]), 0) + 1
    members = [
        m
        for m in gt["members"]
        if m["payer_id"] in payers and seen[(m["member_id"], m["dob"])] == 1
    ]
    random.Random(seed).shuffle(members)  # noqa: S311 - a reproducible order, not a secret
    return [
        {
            "payer_id": m["payer_id"],
            "member_id": m["member_id"],
            "dob": m["dob"],
            # a distinct day per pass over the members: every question is a new question
            "date_of_service": (date(2026, 12, 1) + timedelta(days=i // len(members))).isoformat(),
            "service_type": "98",
        }
        for i, m in enumerate(members[i % len(members)] for i in range(items))
    ]


def _run_worker(module: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.Popen(  # noqa: S603 - our own modules, our own arguments
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = TreeSampler(proc.pid).start()
    out, err = proc.communicate(timeout=3 * 3600)
    cpu = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed: {err.strip().splitlines()[-1:] or proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    lookups = max(result["lookups"], 1)
    return {
        "lookups": result["lookups"],
        "errors": result["errors"],
        "not_found": result.get("not_found", 0),
        "logins": result["logins"],
        "seconds": round(result["seconds"], 2),
        "lookups_per_min": round(result["lookups"] / result["seconds"] * 60, 1)
        if result["seconds"]
        else None,
        "p50_ms": _pct(result["latencies_ms"], 0.5),
        "p95_ms": _pct(result["latencies_ms"], 0.95),
        "cpu_s_per_lookup": round(cpu / lookups, 3),
        "peak_bot_mb": round(sampler.peak_root_mb, 1),
        "peak_browser_mb": round(sampler.peak_children_mb, 1),
        "checkpoints_mb": result.get("checkpoints", {}),
    }


def _timed_cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603
        [str(ROOT / ".venv" / "bin" / "payerbot"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"lookup failed: {proc.stderr.strip().splitlines()[-1:]}")
    return (time.perf_counter() - started) * 1000


def machine(settings: Settings) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError, StopIteration):
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    mem = 0
    with contextlib.suppress(OSError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    exe = resolve_executable(settings.browser, own=playwright_chromium())
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "browser": str(exe) if exe else "playwright's",
    }


def run_bench(
    settings: Settings,
    *,
    items: int = 200,
    latency_ms: int = 0,
    jitter_ms: int = 0,
    sessions: tuple[int, ...] = (1, 2, 4, 8),
    naive_items: int = 10,
    single_lookups: int = 5,
    memory_items: int = 0,
    references: bool = True,
    api_reads: bool = True,
    page_reads: bool = True,
    workers: tuple[int, ...] = (1, 2, 3),
    fleet_items: int = 200,
    pg_url: str | None = None,
    night: int = 0,
    night_latency_ms: int = 300,
    progress: Any = None,
    portals: tuple[str, ...] = ("payerhub",),
) -> Path:
    """Run the benchmark; returns the Markdown report's path."""
    say = progress or (lambda _m: None)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = private_dir(settings.data_dir / "bench" / stamp)
    others = [p for p in dict.fromkeys(portals) if p != "payerhub"]  # lean + payerbot rows
    unknown = [p for p in others if p not in PORTAL_PAYERS]
    if unknown:
        raise ValueError(f"no bundled portal named {', '.join(unknown)}")
    portal = fixture_portals.start(
        settings,
        {"payerhub": 0, **dict.fromkeys(others, 0)},
        [
            "--latency-ms",
            str(latency_ms),
            "--jitter-ms",
            str(jitter_ms),
            "--session-idle-seconds",
            "7200",
        ],
    )
    url = portal.urls["payerhub"]
    exe = resolve_executable(settings.browser, own=playwright_chromium())
    report: dict[str, Any] = {
        "command": "payerbot bench " + " ".join(sys.argv[2:]),
        "settings": {
            "items": items,
            "latency_ms": latency_ms,
            "jitter_ms": jitter_ms,
            "sessions": list(sessions),
            "naive_items": naive_items,
            "memory_items": memory_items,
            "workers": list(workers),
            "fleet_items": fleet_items,
            "night": night,
            "seed": 20261128,
            "portals": ["payerhub", *others],
        },
        "machine": machine(settings),
        "rows": [],
    }
    try:
        gt = httpx.get(f"{url}/__admin/ground-truth", timeout=30).json()
        accounts = httpx.get(f"{url}/__admin/accounts", timeout=30).json()
        logins = [{k: a[k] for k in ("username", "password", "totp_seed")} for a in accounts]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with tempfile.TemporaryDirectory() as tmp:

            def job(n: int) -> str:
                path = Path(tmp) / f"job-{n}.json"
                path.write_text(
                    json.dumps(
                        {
                            "url": url,
                            "logins": logins,
                            "queries": _workload(gt, n),
                            "executable": str(exe) if exe else None,
                        }
                    )
                )
                return str(path)

            main_job = job(items)
            other_jobs = {p: portal.urls[p] for p in others}

            def job_for(name: str) -> str:
                """Another portal's job: its members, its logins (security answers too)."""
                where = other_jobs[name]
                truth = httpx.get(f"{where}/__admin/ground-truth", timeout=30).json()
                their = httpx.get(f"{where}/__admin/accounts", timeout=30).json()
                path = Path(tmp) / f"job-{name}-{items}.json"
                path.write_text(
                    json.dumps(
                        {
                            "url": where,
                            "logins": logins_of(their),
                            "queries": _workload(truth, items, payers=PORTAL_PAYERS[name]),
                            "executable": str(exe) if exe else None,
                        }
                    )
                )
                return str(path)

            other_files = {p: job_for(p) for p in others}
            if latency_ms:
                report["portal_request_ms"] = _portal_request_ms(url, accounts[0], gt)

            def requests() -> int:
                return int(httpx.get(f"{url}/__admin/counters", timeout=30).json()["requests"])

            for k in sessions:
                k = min(k, len(logins))
                programs: list[tuple[str, str, dict[str, str]]] = []
                if page_reads:
                    programs.append(("payerbot", "benchmarks.engine", {}))
                if api_reads:
                    api = {"BENCH_PORTAL": json.dumps({"api_reads": True})}
                    programs.append((API_ROW, "benchmarks.engine", api))
                if references:
                    programs.append(("minimal loop", "benchmarks.minimal_loop", {}))
                    programs.append((LEAN, "benchmarks.lean.payerhub", {}))
                for name, module, extra in programs:
                    httpx.post(f"{url}/__admin/reset", timeout=30)
                    say(f"{name}, {k} session(s), {items} lookups")
                    args = [main_job, str(k)]
                    if module == "benchmarks.engine":
                        args.append(str(Path(tmp) / f"engine-{k}-{time.monotonic_ns()}"))
                    row = _run_worker(module, args, {**env, **extra})
                    row["requests_per_lookup"] = round(requests() / max(row["lookups"], 1), 1)
                    report["rows"].append({"program": name, "sessions": k, **row})
                for other in others:
                    report["rows"] += portal_rows(
                        other, other_jobs[other], other_files[other], k, Path(tmp), env,
                        _run_worker, say, items,
                    )  # fmt: skip
            if references and naive_items:
                httpx.post(f"{url}/__admin/reset", timeout=30)
                say(f"naive script, {naive_items} lookups")
                row = _run_worker("benchmarks.naive_script", [job(naive_items)], env)
                report["rows"].append({"program": "naive script", "sessions": 1, **row})
            if single_lookups:
                report["single_lookup"] = _single(
                    settings, url, gt, logins, Path(tmp), single_lookups, say
                )
            if memory_items:
                httpx.post(f"{url}/__admin/reset", timeout=30)
                say(f"payerbot, memory over {memory_items} lookups")
                marks = ",".join(str(m) for m in (min(500, memory_items), memory_items))
                row = _run_worker(
                    "benchmarks.engine",
                    [job(memory_items), "2", str(Path(tmp) / "engine-memory"), marks],
                    env,
                )
                report["memory"] = {"lookups": row["lookups"], "tree_mb_at": row["checkpoints_mb"]}
            if workers and fleet_items:
                report["fleet"] = _fleet(
                    settings,
                    url,
                    gt,
                    [a["account"] for a in accounts],
                    workers,
                    fleet_items,
                    pg_url or DEFAULT_PG_URL,
                    Path(tmp),
                    say,
                )
            if night:
                from benchmarks.night import run_night

                report["night"] = run_night(settings, night, night_latency_ms, Path(tmp), say)
    finally:
        portal.stop()
    report["ratios"] = _ratios(report, report.get("portal_request_ms") or latency_ms)
    report["ratios"].update(lean_ratios(report["rows"]))
    (out / "report.json").write_text(json.dumps(report, indent=1))
    md = out / "report.md"
    md.write_text(markdown(report))
    return md


DEFAULT_PG_URL = os.environ.get(
    "PAYERBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FLEET_SESSIONS_PER_WORKER = 2


def _fleet(
    settings: Settings,
    url: str,
    gt: dict[str, Any],
    accounts: list[str],
    workers: tuple[int, ...],
    items: int,
    pg_url: str,
    tmp: Path,
    say: Any,
) -> dict[str, Any]:
    """Throughput of 1, 2, 3... `payerbot worker` processes sharing one PostgreSQL queue: the
    same fleet run each time (in a schema of its own), from enqueue to finished."""
    from bots.models import EligibilityQuery, LookupKind
    from bots.services.fleet_runs import enqueue_rows
    from bots.store import RunStatus, Store, admin

    per_worker = FLEET_SESSIONS_PER_WORKER
    rows: list[dict[str, Any]] = []
    try:
        admin.ping(pg_url)
    except Exception as exc:  # the report says why the section is missing
        return {"error": f"PostgreSQL not reachable at {pg_url}: {type(exc).__name__}"}
    questions = [(None, EligibilityQuery.model_validate(q)) for q in _workload(gt, items, 7)]
    for k in workers:
        with admin.scratch_schema(pg_url, f"bench_{os.getpid()}_{k}") as db:
            store = Store(db, settings.queue)
            try:
                run_id = enqueue_rows(settings, store, LookupKind.ELIGIBILITY, questions).run_id
                sessions = min(k * per_worker, len(accounts))
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "PAYERBOT_DATA_DIR": str(tmp / f"fleet-{k}"),
                    "PAYERBOT_DATABASE_URL": db,
                    "PAYERBOT_PORTALS__PAYERHUB__BASE_URL": url,
                    "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": json.dumps(accounts[:sessions]),
                    "PAYERBOT_PORTALS__PAYERHUB__MAX_SESSIONS": str(sessions),
                }
                say(f"fleet: {k} worker(s) x {per_worker} sessions, {items} lookups")
                started = time.monotonic()
                procs = [
                    subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                        [
                            sys.executable,
                            "-m",
                            "bots",
                            "worker",
                            "--sessions",
                            str(per_worker),
                        ],
                        env={**env, "PAYERBOT_NODE": f"bench-{n}"},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for n in range(k)
                ]
                try:
                    while (
                        run := store.get_run(run_id)
                    ) is None or run.status != RunStatus.FINISHED:
                        if all(p.poll() is not None for p in procs):
                            raise RuntimeError("every worker exited before the run finished")
                        time.sleep(0.2)
                    seconds = time.monotonic() - started
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        try:
                            p.wait(timeout=60)
                        except subprocess.TimeoutExpired:
                            p.kill()
                counts = run.counts
                rows.append(
                    {
                        "workers": k,
                        "sessions": sessions,
                        "lookups": items,
                        "seconds": round(seconds, 1),
                        "lookups_per_min": round(items / seconds * 60, 1),
                        "system_failed": counts.get("system_failed"),
                    }
                )
            finally:
                store.close()
    base = rows[0]["lookups_per_min"] if rows else None
    for r in rows:
        r["vs_1_worker"] = round(r["lookups_per_min"] / base, 2) if base else None
    return {"sessions_per_worker": per_worker, "rows": rows}


def _single(
    settings: Settings,
    url: str,
    gt: dict[str, Any],
    logins: list[dict[str, str]],
    tmp: Path,
    count: int,
    say: Any,
) -> dict[str, Any]:
    """`payerbot lookup` wall time from a fresh data folder (cold: browser + login) and with
    a kept session from the previous lookup (warm: browser, no login)."""
    from bots.engine.credentials import write_secret_files
    from bots.settings import load_settings

    data = tmp / "single"
    env = {
        **os.environ,
        "PAYERBOT_DATA_DIR": str(data),
        "PAYERBOT_PORTALS__PAYERHUB__BASE_URL": url,
        "PAYERBOT_PORTALS__PAYERHUB__ACCOUNTS": '["main"]',
    }
    local = load_settings(
        data_dir=data, portals={"payerhub": {"base_url": url, "accounts": ["main"]}}
    )
    write_secret_files(local, "payerhub", "main", logins[0])
    queries = _workload(gt, count + 1)

    def ask(q: dict[str, Any], *extra: str) -> float:
        return _timed_cli(
            [
                "lookup",
                "eligibility",
                "--payer",
                q["payer_id"],
                "--member-id",
                q["member_id"],
                "--dob",
                q["dob"],
                "--dos",
                q["date_of_service"],
                "--json",
                *extra,
            ],
            env,
        )

    say("single lookups, cold and warm")
    cold = ask(queries[0], "--no-service")
    warm = [ask(q, "--no-service") for q in queries[1:]]
    # `payerbot lookup` while the console runs: answered by it over the data folder's socket
    via: list[float] = []
    later = _workload(gt, 3 * count + 3)
    console = _console_lookups(
        local,
        env,
        later[count + 1 : 2 * count + 2],
        say,
        (ask, later[2 * count + 2 : 3 * count + 2], via),
    )
    return {
        "cli_cold_ms": round(cold),
        "cli_warm_p50_ms": round(statistics.median(warm)),
        "cli_warm_ms": [round(w) for w in warm],
        "console_warm_p50_ms": round(statistics.median(console)) if console else None,
        "console_warm_ms": [round(c) for c in console],
        "cli_via_console_warm_p50_ms": round(statistics.median(via)) if via else None,
        "cli_via_console_warm_ms": [round(v) for v in via],
        "note": "CLI: wall time of `payerbot lookup --json`, process start included; console: "
        "POST /lookup on a running console, session kept from the previous lookup",
    }


def _console_lookups(
    settings: Settings,
    env: dict[str, str],
    queries: list[dict[str, Any]],
    say: Any,
    cli: tuple[Any, list[dict[str, Any]], list[float]] | None = None,
) -> list[float]:
    """POST /lookup timings on a running console; with ``cli`` (ask, questions, timings),
    also `payerbot lookup` timings while it runs (answered over its socket)."""
    import re
    import socket

    from bots.interfaces.console.users import add_user
    from bots.store import Store

    store = Store.open(settings)
    add_user(store, "bench", "bench-password-1", "specialist")
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603
        [str(ROOT / ".venv" / "bin" / "payerbot"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times: list[float] = []
    try:
        base = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=base, timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                page = client.get("/login")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    return []
                time.sleep(0.2)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        client.post(
            "/login",
            data={
                "csrf": token[1] if token else "",
                "username": "bench",
                "password": "bench-password-1",
                "next": "",
            },
        )
        form = client.get("/lookup").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        say("single lookups on the console")
        for q in queries:
            started = time.perf_counter()
            answer = client.post(
                "/lookup",
                data={
                    "csrf": csrf[1] if csrf else "",
                    "kind": "eligibility",
                    "payer": q["payer_id"],
                    "member_id": q["member_id"],
                    "dob": q["dob"],
                    "dos": q["date_of_service"],
                    "service_type": "98",
                },
            )
            if answer.status_code == 200 and "Answer" in answer.text:
                times.append((time.perf_counter() - started) * 1000)
        if cli is not None:
            say("single lookups through the CLI, answered by the console")
            cli[2].extend(cli[0](q) for q in cli[1])
        return times[1:]  # the first one logs in when there is no kept session yet
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _portal_request_ms(url: str, account: dict[str, Any], gt: dict[str, Any]) -> float:
    """What one lookup request costs at the portal itself: the configured latency plus the
    mock portal's own work, timed with a bare HTTP client (median of 15 eligibility calls).
    The latency bound of the report uses this, not the nominal latency alone."""
    import pyotp

    query = _workload(gt, 1)[0] | {"service_type": "98"}
    with httpx.Client(base_url=url, timeout=30) as client:
        challenge = client.post(
            "/api/auth/login",
            json={"username": account["username"], "password": account["password"]},
        ).json()["challenge"]
        code = pyotp.TOTP(account["totp_seed"]).now()
        client.post("/api/auth/mfa", json={"challenge": challenge, "code": code}).raise_for_status()
        times = []
        for _ in range(15):
            started = time.perf_counter()
            client.post("/api/eligibility", json=query).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        client.post("/api/auth/logout", json={})
    return round(statistics.median(times), 1)


def _ratios(report: dict[str, Any], request_ms: float) -> dict[str, Any]:
    rows = report["rows"]

    def rate(program: str, k: int) -> float | None:
        return next(
            (r["lookups_per_min"] for r in rows if r["program"] == program and r["sessions"] == k),
            None,
        )

    ratios: dict[str, Any] = {}
    for program, label in (("payerbot", "payerbot"), (API_ROW, "payerbot_api_reads")):
        vs_minimal: dict[str, float] = {}
        vs_ideal: dict[str, float] = {}
        for r in rows:
            if r["program"] != program:
                continue
            k = r["sessions"]
            minimal = rate("minimal loop", k)
            if minimal:
                vs_minimal[str(k)] = round(r["lookups_per_min"] / minimal, 2)
            if request_ms and r.get("requests_per_lookup"):
                ideal = k * 60 / (r["requests_per_lookup"] * request_ms / 1000)
                vs_ideal[str(k)] = round(r["lookups_per_min"] / ideal, 2)
        if vs_minimal or program == "payerbot":
            ratios[f"{label}_vs_minimal"] = vs_minimal
        if vs_ideal or program == "payerbot":
            ratios[f"{label}_vs_ideal"] = vs_ideal
        naive = rate("naive script", 1)
        single = rate(program, 1)
        if naive and single:
            ratios[f"{label}_1_session_vs_naive"] = round(single / naive, 1)
        best = max((r["lookups_per_min"] for r in rows if r["program"] == program), default=0)
        if naive and best:
            ratios[f"{label}_best_vs_naive"] = round(best / naive, 1)
    memory = report.get("memory", {}).get("tree_mb_at", {})
    if len(memory) == 2:
        first, last = (memory[k] for k in sorted(memory, key=int))
        ratios["memory_growth"] = round(last / first - 1, 3) if first else None
    return ratios


SHOWN_AS = {"minimal loop": "minimal loop (payerbot flow code, no engine)"}


RATIO_WORDS = {
    "payerbot_vs_lean": "payerbot reading pages / lean page loop",
    "payerbot_api_reads_vs_lean": "payerbot reading the API / lean page loop",
    "payerbot_cpu_vs_lean": "CPU s per lookup, payerbot / lean page loop",
    "payerbot_requests_vs_lean": "requests per lookup, payerbot / lean page loop",
    "payerbot_vs_minimal": "payerbot reading pages / its flow code without the engine",
    "payerbot_api_reads_vs_minimal": "payerbot reading the API / its flow code without the engine",
    "payerbot_vs_ideal": "payerbot reading pages / the latency bound",
    "payerbot_api_reads_vs_ideal": "payerbot reading the API / the latency bound",
}


def _ratio_table(ratios: dict[str, Any]) -> list[str]:
    """The ratios as a table people read: one row per ratio (and portal), one column per
    session count."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for key, value in ratios.items():
        if not isinstance(value, dict) or not value:
            continue
        words = RATIO_WORDS.get(key, key.replace("_", " "))
        if all(isinstance(v, dict) for v in value.values()):
            rows += [(f"{words}, {portal}", by) for portal, by in value.items() if by]
        else:
            rows.append((words, value))
    if not rows:
        return []
    sessions = sorted({k for _, by in rows for k in by}, key=lambda k: (len(k), k))
    head = " | ".join(f"{k} session{'s' if k != '1' else ''}" for k in sessions)
    lines = [
        "Ratios, same run:",
        "",
        f"| ratio | {head} |",
        "| --- |" + " ---: |" * len(sessions),
    ]
    for words, by in rows:
        cells = " | ".join("" if by.get(k) is None else str(by[k]) for k in sessions)
        lines.append(f"| {words} | {cells} |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    lines = [
        "# payerbot bench",
        "",
        f"`{report['command']}`",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_mb']} MB, Python {m['python']}, "
        f"browser {m['browser']}. Portal latency {s['latency_ms']} ms ± {s['jitter_ms']} ms, "
        f"{s['items']} lookups per row, seed {s['seed']}.",
        "",
        "| program | sessions | lookups/min | p50 ms | p95 ms | CPU s/lookup | peak bot MB "
        "| peak browser MB | requests/lookup | the portal said no | other errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {SHOWN_AS.get(r['program'], r['program'])} | {r['sessions']} | "
            f"{r['lookups_per_min']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {r['cpu_s_per_lookup']} | {r['peak_bot_mb']} | "
            f"{r['peak_browser_mb']} | {r.get('requests_per_lookup', '')} | "
            f"{r.get('not_found', 0)} | {r['errors'] - r.get('not_found', 0)} |"
        )
    if report.get("portal_request_ms"):
        lines += [
            "",
            f"One lookup request at the portal (bare HTTP client, median): "
            f"{report['portal_request_ms']} ms; the latency bound is sessions x 60 s / "
            "(requests per lookup x that).",
        ]
    lines += ["", *_ratio_table(report["ratios"])]
    if "single_lookup" in report:
        sl = report["single_lookup"]
        lines += [
            "",
            f"Single lookup: CLI (`payerbot lookup`, process start included) cold "
            f"{sl['cli_cold_ms']} ms, warm p50 {sl['cli_warm_p50_ms']} ms {sl['cli_warm_ms']}; "
            f"console (POST /lookup, kept session) warm p50 {sl['console_warm_p50_ms']} ms "
            f"{sl['console_warm_ms']}; CLI answered by the running console (its socket) warm "
            f"p50 {sl.get('cli_via_console_warm_p50_ms')} ms {sl.get('cli_via_console_warm_ms')}.",
        ]
    fleet = report.get("fleet")
    if fleet and fleet.get("rows"):
        lines += [
            "",
            f"Fleet: `payerbot worker` processes ({fleet['sessions_per_worker']} sessions each) "
            "sharing one PostgreSQL queue, one fleet run from enqueue to finished:",
            "",
            "| workers | sessions | lookups | seconds | lookups/min | vs 1 worker | failed |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in fleet["rows"]:
            lines.append(
                f"| {r['workers']} | {r['sessions']} | {r['lookups']} | {r['seconds']} | "
                f"{r['lookups_per_min']} | {r['vs_1_worker']} | {r['system_failed']} |"
            )
    elif fleet:
        lines += ["", f"Fleet: not measured ({fleet.get('error')})."]
    if "memory" in report:
        lines += [
            "",
            f"Memory of the process tree by lookups done: {report['memory']['tree_mb_at']} MB.",
        ]
    if "night" in report:
        from benchmarks.night import markdown as night_markdown

        lines += night_markdown(report["night"])
    return "\n".join(lines) + "\n"
