"""Engines, sessions and the schema revision check.

Nothing here creates tables: the Alembic migrations under ``sql/`` own the schema, and a store
whose revision is not the code's head is refused at once with the command that fixes it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.errors import DeterministicError
from monitoring_lib.settings import safe_url


class SchemaNotCurrentError(DeterministicError, RuntimeError):
    """The store's schema revision is not the one this code was written for."""


def sql_dir() -> Path:
    """The ``sql/`` folder: in the source tree, or packaged inside an installed wheel."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_sql", here.parent / "sql"):
        if (candidate / "migrations" / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the driftwise migrations folder (sql/migrations) was not found")


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: URL | str, **options: Any) -> Engine:
    """An engine for the store; a SQLite file's folder is created on first use."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def missing_sqlite_file(url: URL | str) -> Path | None:
    """The file of a SQLite store that does not exist yet (connecting would create it)."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path


def alembic_config(engine: Engine) -> Config:
    config = Config(str(sql_dir() / "alembic.ini"))
    config.set_main_option("script_location", str(sql_dir() / "migrations"))
    return config


def head_revision(engine: Engine) -> str:
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(
            f"the migrations have {len(heads)} heads ({heads}); expected exactly one"
        )
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, action: Any, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def assert_schema_current(engine: Engine) -> None:
    """Fail fast, naming the fix, when the store is behind (or ahead of) this code."""
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        where = safe_url(engine.url)
        state = "has no driftwise tables" if current is None else f"is at revision {current}"
        raise SchemaNotCurrentError(
            f"the metric store {where} {state}, but this driftwise expects revision {head}: "
            "run `driftwise db upgrade` as the schema's owner (DRIFTWISE_MIGRATION_DATABASE_URL, "
            "or the same DRIFTWISE_DATABASE_URL)"
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@functools.cache
def _shared_engine(url: URL) -> Engine:
    return make_engine(url)


def open_store(url: URL | str, *, check: bool = True) -> sessionmaker[Session]:
    """A session factory on a store whose schema is current.

    Every task of every run calls this: one engine (and connection pool) per store URL per
    process is shared, instead of a new pool each call that nothing disposes. The revision check
    still runs on each call, so a store migrated underneath a long-running process is noticed.
    """
    engine = _shared_engine(make_url(url))
    if check:
        assert_schema_current(engine)
    return session_factory(engine)
