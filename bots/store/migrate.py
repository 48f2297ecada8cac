"""The store's schema, managed by Alembic migrations that run on SQLite and PostgreSQL.

- SQLite (one machine, the embedded default) is brought to the newest schema when the
  store opens: nobody should have to run a command for a file next to the bot.
- PostgreSQL (a fleet) is upgraded by one deliberate ``payerbot db upgrade``, under an
  advisory lock so two machines upgrading at once take turns. A store that opens an older
  schema refuses with that command in the message, instead of half-working.
- A database made before migrations existed (tables, no ``alembic_version``) is stamped at
  the first revision, which is exactly that schema, and upgraded from there.

The head revision is checked with one query on open; Alembic's machinery only loads when
there is something to do.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from bots.errors import ConfigurationError

BASELINE = "0001"
"""The schema as it was before migrations: what a pre-migration database holds."""
HEAD = "0005"
"""The newest revision; a test fails when a migration is added without moving this."""

_LOCK_KEY = 0x70617965  # pg_advisory_lock key ("paye")


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "bots.store:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def script_head() -> str:
    """The head revision of the migration scripts (a test keeps ``HEAD`` equal to it)."""
    head = ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``. Returns (before, after)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        before = current_revision(conn)
        if before is None and inspect(conn).has_table("runs"):
            command.stamp(_config(conn), BASELINE)  # made by create_all, before migrations
            before = BASELINE
        command.upgrade(_config(conn), revision)
        return before, current_revision(conn)


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Check the schema on open: upgrade it (``auto_upgrade``) or refuse clearly."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision == HEAD:
        return
    if auto_upgrade:
        upgrade(engine)
        return
    where = engine.url.render_as_string(hide_password=True)
    raise ConfigurationError(
        f"the database {where} has schema revision {revision or 'none'}; this payerbot "
        f"needs {HEAD}: run `payerbot db upgrade` once (any one machine)"
    )
