"""The architecture is checked, not only drawn: stages import downward only, the store is the
only SQL, the engine never reaches forward, and no module imports itself in a circle.

The stages, bottom up (docs/architecture.md draws them):

    shared modules  dates, errors, codes, files, maintenance, matching, models, settings, logs,
                    config_errors
    intake, store, flowkit
    engine
    followups
    outputs
    ops
    services
    interfaces
"""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

from bots.settings import ROOT

BOTS = ROOT / "bots"
SHARED = {
    "dates",
    "errors",
    "codes",
    "files",
    "maintenance",
    "matching",
    "models",
    "settings",
    "logs",
    "config_errors",
}
RANK = {
    **dict.fromkeys(SHARED, 0),
    "intake": 1,
    "store": 1,
    "flowkit": 1,
    "engine": 2,
    "followups": 3,
    "outputs": 4,
    "ops": 5,
    "services": 6,
    "interfaces": 7,
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports (absolute names), at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = {
    _module(p): p for p in BOTS.rglob("*.py") if "migrations" not in p.relative_to(BOTS).parts
}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_belongs_to_a_stage():
    loose = [m for m in MODULES if _stage(m) not in RANK and m not in {"bots", "bots.__main__"}]
    assert loose == [], "a module outside the stages: add it to a stage package"


def test_stages_import_downward_only():
    upward = []
    for module, path in MODULES.items():
        stage = _stage(module)
        if stage not in RANK:
            continue  # bots/__init__ (the public API) and __main__
        for target in _imports(path):
            other = _stage(target) if target.startswith("bots.") else None
            if other in RANK and other != stage and RANK[other] > RANK[stage]:
                upward.append(f"{module} -> {target}")
            # stages of one rank (intake, store, flowkit) stay apart, shared modules excepted
            if other in RANK and other != stage and RANK[other] == RANK[stage] > 0:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_only_the_store_speaks_sql():
    outside = [
        m
        for m, p in MODULES.items()
        if _stage(m) != "store" and any(t.split(".")[0] == "sqlalchemy" for t in _imports(p))
    ]
    flows = [p.name for p in (ROOT / "flows").glob("*.py") if "sqlalchemy" in p.read_text()]
    assert outside == [] and flows == []


def test_the_engine_never_reaches_forward():
    forward = {"followups", "outputs", "ops", "services", "interfaces"}
    reached = [
        f"{m} -> {t}"
        for m, p in MODULES.items()
        if _stage(m) == "engine"
        for t in _imports(p)
        if t.startswith("bots.") and _stage(t) in forward
    ]
    assert reached == []


def test_flows_use_the_public_engine_surface_only():
    """A flow imports the flow kit, models, errors, codes and the one matching rule: never the
    engine, the store or an interface (a flow drives pages and returns results, nothing else)."""
    allowed = {"flowkit", "models", "errors", "codes", "matching"}
    wrong = []
    for path in (ROOT / "flows").glob("*.py"):
        for target in _imports(path):
            if target.startswith("bots.") and _stage(target) not in allowed:
                wrong.append(f"{path.name} -> {target}")
    assert wrong == []


def test_no_import_cycles_between_modules():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # every import counts, those inside functions too: late binding hides a cycle, not fixes it
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # a package's __init__ re-exporting its own modules is not a cycle of design
    real = [c for c in cycles if not any(a.startswith(b + ".") for a, b in pairwise(c))]
    assert real == []


# What would let a flow's requests pass the engine's read-only guard unchecked: Playwright's
# request API (routes never see it: flows call ``portal_request``), a route of its own (a
# page's routes run before the context's), a context or browser of its own (no guard).
GUARD_BYPASSES = {"request", "route", "unroute", "route_from_har", "new_context", "browser"}


def test_flows_cannot_get_past_the_read_only_guard():
    found = []
    for path in sorted((ROOT / "flows").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in GUARD_BYPASSES:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert found == [], "use bots.flowkit.readonly.portal_request, nothing else"
