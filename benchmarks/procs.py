"""Process-tree CPU and memory from /proc (Linux), without extra dependencies."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, str] | None:
    """(parent pid, cpu seconds, command name) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, name


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def tree_rss_mb(root: int | None = None) -> float:
    root = root or os.getpid()
    return _rss_mb(root) + sum(_rss_mb(p) for p in descendants(root))


@dataclass
class TreeSampler:
    """Samples a process tree every ``every`` seconds: peak RSS of the root (the bot) and of
    its descendants (driver + browser), and CPU seconds of everything that ran."""

    root: int
    every: float = 0.1
    peak_root_mb: float = 0.0
    peak_children_mb: float = 0.0
    _cpu: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.every)

    def sample(self) -> None:
        pids = [self.root, *descendants(self.root)]
        self.peak_root_mb = max(self.peak_root_mb, _rss_mb(self.root))
        self.peak_children_mb = max(self.peak_children_mb, sum(_rss_mb(p) for p in pids[1:]))
        for pid in pids:
            st = _stat(pid)
            if st is not None:
                self._cpu[pid] = max(self._cpu.get(pid, 0.0), st[1])

    def stop(self) -> float:
        """Stop; the CPU seconds of the tree (last value seen per process)."""
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return sum(self._cpu.values())
