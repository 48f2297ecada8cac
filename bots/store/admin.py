"""The database itself, for operators and the bench: upgrade or inspect the schema at a URL,
make and drop scratch PostgreSQL schemas. Nothing here touches the store's rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text

from bots.store import migrate
from bots.store.engine import open_engine


def printable_url(url: str) -> str:
    """The URL with its password hidden (for messages)."""
    return make_url(url).render_as_string(hide_password=True)


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema at ``url`` to ``revision``. Returns (before, after)."""
    engine = open_engine(url)
    try:
        return migrate.upgrade(engine, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema revision at ``url`` (None: no schema under Alembic)."""
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return migrate.current_revision(conn)
    finally:
        engine.dispose()


def ping(url: str) -> None:
    """Connect and ask one question; raises whatever the driver raises when unreachable."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


@contextmanager
def scratch_schema(url: str, name: str) -> Iterator[str]:
    """A new, upgraded PostgreSQL schema ``name`` in the database at ``url`` (one of the same
    name is dropped first); yields the URL that works in it. Dropped on the way out."""
    if not name.replace("_", "").isalnum():
        raise ValueError("a scratch schema's name is letters, digits and '_'")
    admin = create_engine(url)
    try:
        with admin.begin() as conn:  # the name was checked above: no quoting games
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        try:
            scoped = f"{url}?options=-csearch_path%3D{name}"
            engine = create_engine(scoped)
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()
            yield scoped
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        admin.dispose()
