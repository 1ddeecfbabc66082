"""The metric store: SQLAlchemy 2.0 models, an engine and session factory (SQLite or PostgreSQL,
migrated by Alembic only), and repository functions that take a Session."""

from monitoring_lib.store.engine import open_store, session_factory, upgrade

__all__ = ["open_store", "session_factory", "upgrade"]
