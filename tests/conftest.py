"""Shared fixtures: a real PostgreSQL server (one throwaway database per test session), SQLite
stores in temporary folders, and a clean environment for settings.

PostgreSQL is found through DRIFTWISE_TEST_PG_URL (default: the local server's `test` database).
With CI=true an unreachable server fails the run; elsewhere PostgreSQL tests skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.store.engine import make_engine, session_factory, upgrade
from monitoring_lib.store.models import Base

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def _server_url() -> URL:
    return make_url(os.environ.get("DRIFTWISE_TEST_PG_URL", DEFAULT_PG_URL))


@pytest.fixture(scope="session")
def pg_server() -> URL:
    """The PostgreSQL server's URL, after checking that it answers."""
    url = _server_url()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        reason = (
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable: {error.orig}"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


def create_database(server: URL) -> URL:
    """A new empty database on the server; the caller drops it with drop_database."""
    name = f"dw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name)


def drop_database(server: URL, url: URL) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_pg_url(pg_server: URL) -> Iterator[URL]:
    """An empty database of its own, for migration tests."""
    url = create_database(pg_server)
    yield url
    drop_database(pg_server, url)


@pytest.fixture(scope="session")
def pg_engine(pg_server: URL) -> Iterator[Engine]:
    """One migrated database for the session's store tests."""
    url = create_database(pg_server)
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_database(pg_server, url)


def _truncate(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # A test that leaks an open transaction fails here at once instead of hanging.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def pg_sessions(pg_engine: Engine) -> sessionmaker[Session]:
    """Sessions on the migrated PostgreSQL store, emptied before each test."""
    _truncate(pg_engine)
    return session_factory(pg_engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's DRIFTWISE_* variables or writes into the work tree."""
    for name in list(os.environ):
        if name.startswith("DRIFTWISE_") and name != "DRIFTWISE_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DRIFTWISE_HOME", str(tmp_path / ".driftwise"))
