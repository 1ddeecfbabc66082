"""Two database roles on PostgreSQL: the schema's owner runs the migrations, and the flows run as
an application role that reads and writes rows but cannot DROP, ALTER or TRUNCATE anything.

A table can be dropped, altered or truncated only by its owner (or with the TRUNCATE privilege),
so the application role gets SELECT on everything and INSERT, UPDATE, DELETE on driftwise's
tables, never ownership or TRUNCATE. Default privileges give it the same on the tables and
sequences later migrations create. SQLite has no roles: a file store is guarded by file
permissions only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, text

from monitoring_lib.store.engine import assert_schema_current
from monitoring_lib.store.models import Base


class RoleError(ValueError):
    """The grants cannot be made as asked (no such role, a superuser, SQLite, ...)."""


def grant_statements(quote: str, schema: str, tables: Sequence[str]) -> list[str]:
    """The GRANTs for role ``quote`` (already quoted) on ``schema`` (quoted) and its tables."""
    names = ", ".join(f"{schema}.{table}" for table in tables)
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {quote}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {quote}",  # views and alembic_version
        f"GRANT INSERT, UPDATE, DELETE ON {names} TO {quote}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quote}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quote}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {quote}",
    ]


def grant_application_role(engine: Engine, role: str, schema: str = "public") -> list[str]:
    """Let ``role`` read and write driftwise's rows (now and in tables later migrations add);
    run as the schema's owner. Returns warnings about what the role can still do."""
    if engine.dialect.name != "postgresql":
        raise RoleError(
            f"{engine.dialect.name} has no database roles: grants apply to PostgreSQL only"
        )
    assert_schema_current(engine)
    with engine.begin() as connection:
        _check_role(connection, role)
        prepare = connection.dialect.identifier_preparer
        tables = [prepare.quote(table.name) for table in Base.metadata.sorted_tables]
        for statement in grant_statements(prepare.quote(role), prepare.quote(schema), tables):
            connection.execute(text(statement))
        return _warnings(connection, role, schema)


def _check_role(connection: Connection, role: str) -> None:
    found = connection.execute(
        text("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).first()
    if found is None:
        raise RoleError(
            f"there is no role {role!r}: create it first, e.g. "
            f"CREATE ROLE {role} LOGIN PASSWORD '...'"
        )
    superuser, is_self = found
    if superuser:
        raise RoleError(f"{role!r} is a superuser: it may DROP anything, whatever is granted")
    if is_self:
        raise RoleError(
            f"{role!r} is the role these migrations run as (the owner): the flows need a role "
            "of their own"
        )


def _warnings(connection: Connection, role: str, schema: str) -> list[str]:
    can_create = connection.execute(
        text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
        {"role": role, "schema": schema},
    ).scalar_one()
    if not can_create:
        return []
    return [
        f"{role!r} may CREATE tables in schema {schema!r} (PostgreSQL before 15 grants that to "
        f"PUBLIC): it still cannot touch driftwise's tables; to stop it, run "
        f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"
    ]
