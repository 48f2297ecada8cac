"""PostgreSQL for the tests: the machine's real server (127.0.0.1:5432, database ``test``),
one fresh schema per use, dropped afterwards. ``.ci/run`` makes sure the server runs; a test
that needs it and cannot reach it fails with the reason (it is not skipped)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bots.store import migrate

PG_URL = os.environ.get("PAYERBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema(*, upgrade: bool = True) -> Iterator[str]:
    """A database URL whose tables live in a new schema of their own (``search_path``)."""
    name = f"pb_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__}); start it "
            "(.ci/run does: pg_ctlcluster <version> main start) or set PAYERBOT_TEST_PG_URL"
        )
    url = f"{PG_URL}?options=-csearch_path%3D{name}"
    try:
        if upgrade:
            engine = create_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def emptied(url: str) -> None:
    """Every table of the schema behind ``url`` emptied and its ids restarted, the schema
    itself (Alembic's version included) kept. A test that left a transaction open makes this
    fail after 10 s instead of hanging."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            tables = conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            names = ", ".join(f'"{name}"' for name in tables)
            if names:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
