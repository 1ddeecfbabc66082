"""Alembic environment: runs migrations on the connection driftwise hands over, or, when Alembic
is called directly, as the schema owner the settings name (DRIFTWISE_MIGRATION_DATABASE_URL, else
DRIFTWISE_DATABASE_URL)."""

from alembic import context
from sqlalchemy import Connection

from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.store.engine import make_engine
from monitoring_lib.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(DriftwiseSettings().migration_url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("driftwise migrations run online only: use `driftwise db upgrade`")
run_online()
