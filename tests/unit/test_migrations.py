"""The schema is Alembic's: migrations build exactly the tables the code uses, on SQLite and
PostgreSQL; an old database is upgraded in place; a shared database is never half-used."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, select

from bots.errors import ConfigurationError
from bots.store import Store, migrate
from bots.store.schema import metadata, runs
from tests.pg import pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """Migrations take schemas down and up: each test gets a new one of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with pg_schema() as url:
        yield url


def test_head_constant_matches_the_scripts():
    assert migrate.script_head() == migrate.HEAD, "move migrate.HEAD with a new migration"


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda n, t, _p: t != "table" or n in metadata.tables,
                },
            )
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def test_migrations_make_the_schema_of_the_code_on_both_engines(store_url):
    Store(store_url).close()  # SQLite upgrades itself; the PostgreSQL schema was upgraded
    assert _diff(store_url) == []


def test_down_to_nothing_and_up_again(store_url):
    engine = create_engine(store_url)
    with engine.begin() as conn:
        migrate.command.downgrade(migrate._config(conn), "base")
    with engine.connect() as conn:
        assert migrate.current_revision(conn) is None
    assert migrate.upgrade(engine) == (None, migrate.HEAD)
    engine.dispose()
    assert _diff(store_url) == []


def test_a_database_from_before_migrations_is_stamped_and_upgraded(tmp_path):
    """A store file made by create_all (no alembic_version, no executor column) opens,
    keeps its runs, and gains the new schema."""
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrate.command.upgrade(migrate._config(conn), migrate.BASELINE)
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.exec_driver_sql(
            'INSERT INTO runs (id, kind, "trigger", status, started_at, counts) '
            "VALUES ('old-run', 'eligibility', 'batch', 'finished', '2026-11-01 10:00:00', '{}')"
        )
    engine.dispose()
    store = Store(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD
            row = conn.execute(select(runs.c.id, runs.c.executor)).one()
        assert tuple(row) == ("old-run", "local")
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_shared_database_behind_the_code_is_refused_with_the_command():
    with pg_schema(upgrade=False) as url:
        with pytest.raises(ConfigurationError, match="payerbot db upgrade"):
            Store(url)
        engine = create_engine(url)
        migrate.upgrade(engine, migrate.BASELINE)
        with pytest.raises(ConfigurationError, match=f"revision {migrate.BASELINE}.*needs"):
            Store(url)
        assert migrate.upgrade(engine) == (migrate.BASELINE, migrate.HEAD)
        engine.dispose()
        Store(url).close()


def test_admin_upgrades_by_url_and_makes_scratch_schemas_it_drops(tmp_path):
    """What `payerbot db upgrade|current` and the bench's fleet rows use."""
    from sqlalchemy import inspect, text

    from bots.store import admin
    from tests.pg import PG_URL

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert admin.current_revision(url) is None
    assert admin.upgrade(url) == (None, migrate.HEAD)
    assert admin.current_revision(url) == migrate.HEAD
    assert "secret" not in admin.printable_url("postgresql://u:secret@h/db")

    admin.ping(PG_URL)
    with admin.scratch_schema(PG_URL, "pb_scratch_test") as scoped:
        store = Store(scoped)  # PostgreSQL is never upgraded on open: scratch_schema did it
        try:
            assert store.list_runs() == []
        finally:
            store.close()
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            assert "pb_scratch_test" not in inspect(conn).get_schema_names()
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    with pytest.raises(ValueError), admin.scratch_schema(PG_URL, 'x"; DROP TABLE runs; --'):
        pass
