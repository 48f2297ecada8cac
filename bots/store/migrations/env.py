"""Alembic environment of the store. Run through ``bots.store.migrate`` (``payerbot db
upgrade``), which hands over an open connection; never reads alembic.ini."""

from __future__ import annotations

from alembic import context

from bots.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: Alembic rebuilds such tables ("batch" mode).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # Only our tables: APScheduler keeps its job table in the same database.
    include_name=lambda name, type_, _parent: type_ != "table" or name in metadata.tables,
)
with context.begin_transaction():
    context.run_migrations()
