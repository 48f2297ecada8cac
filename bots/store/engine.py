"""The store's connection: the SQLAlchemy engine, transactions, the clock, node liveness.

Every store method is synchronous and short; async callers hop to a thread
(``await asyncio.to_thread(store.claim, ...)``). On SQLite every transaction starts with
``BEGIN IMMEDIATE`` so two processes never claim the same item; on PostgreSQL claims use
``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from bots.files import private_dir
from bots.settings import QueueSettings
from bots.store.migrate import ensure_schema


def utcnow() -> datetime:
    return datetime.now(UTC)


def open_engine(url: str) -> Engine:
    """An engine for the store's URL: SQLite in WAL mode with ``BEGIN IMMEDIATE`` (an
    owner-only file, made on first use), or a pooled PostgreSQL connection."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        private_dir(path.parent)
        if not path.exists():
            path.touch(mode=0o600)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def alive(pid: int) -> bool:
    """Whether a process of this machine runs (ours always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StoreBase:
    """The connection and identity every part of the store shares.

    ``node``: this machine's name in leases and runs (``Settings.node``, i.e.
    ``PAYERBOT_NODE``, or the host name). Leases of a process on this node that is gone are
    taken over at once; those of another node only when they lapse (its clock and process
    table are not ours to read)."""

    def __init__(
        self, url: str, queue: QueueSettings | None = None, *, node: str | None = None
    ) -> None:
        self.url = url
        self.queue = queue or QueueSettings()
        self.node = node or socket.gethostname()
        self.engine = open_engine(url)
        # SQLite (one machine) upgrades itself; a shared PostgreSQL is upgraded on purpose.
        ensure_schema(self.engine, auto_upgrade=self.is_sqlite)
        self.owner = f"{self.node}:{os.getpid()}"
        self._swept_at = -float("inf")  # when a claim last abandoned lapsed leases (queue.py)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _holder_dead(self, holder: str) -> bool:
        """A holder (host:pid:token) on this node whose process is gone."""
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        return host == self.node and pid.isdigit() and not alive(int(pid))
