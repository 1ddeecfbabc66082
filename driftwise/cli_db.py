"""`driftwise db ...`: create, upgrade and inspect the metric store's schema, as its owner."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from driftwise.output import console, errors, fail

db_app = typer.Typer(help="Create or upgrade the metric store's schema.", no_args_is_help=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=(
            "Store URL, as the schema's owner; default: DRIFTWISE_MIGRATION_DATABASE_URL, else "
            "DRIFTWISE_DATABASE_URL, else the local SQLite file."
        ),
    ),
]


def _engine(url: str | None):  # type: ignore[no-untyped-def]
    """The store as migrations see it: connected as the schema's owner."""
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import make_engine

    return make_engine(url or DriftwiseSettings().migration_url)


@db_app.command("upgrade")
def db_upgrade(
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations in sql/ to the metric store (creates it when new)."""
    from monitoring_lib.settings import safe_url
    from monitoring_lib.store.engine import current_revision, upgrade

    engine = _engine(url)
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    console.print(f"{safe_url(engine.url)}: {before or 'empty'} -> {after}", highlight=False)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    url: UrlOption = None,
) -> None:
    """Revert migrations (base removes every driftwise table)."""
    from monitoring_lib.store.engine import current_revision, downgrade

    engine = _engine(url)
    downgrade(engine, revision)
    console.print(f"now at {current_revision(engine) or 'base'}")


@db_app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Show the store's schema revision and whether it is the head this code expects (a SQLite
    store that does not exist yet is not created)."""
    from monitoring_lib.settings import DriftwiseSettings, safe_url
    from monitoring_lib.store.engine import current_revision, head_revision, missing_sqlite_file

    missing = missing_sqlite_file(url or DriftwiseSettings().migration_url)
    if missing is not None:
        console.print(
            f"{missing}: no metric store here yet; `driftwise db upgrade` creates it",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    engine = _engine(url)
    current, head = current_revision(engine), head_revision(engine)
    state = "up to date" if current == head else "run `driftwise db upgrade`"
    console.print(
        f"{safe_url(engine.url)}: at {current or 'base'}, head {head} ({state})", highlight=False
    )
    if current != head:
        raise typer.Exit(1)


@db_app.command("grant")
def db_grant(
    role: Annotated[str, typer.Argument(help="The application role the flows connect as.")],
    url: UrlOption = None,
    schema: Annotated[str, typer.Option(help="The schema driftwise's tables live in.")] = "public",
) -> None:
    """Let an application role read and write rows, now and in later migrations' tables, but
    not DROP, ALTER or TRUNCATE (PostgreSQL; run as the schema's owner after `db upgrade`)."""
    from monitoring_lib.store.engine import SchemaNotCurrentError
    from monitoring_lib.store.roles import RoleError, grant_application_role

    try:
        warnings = grant_application_role(_engine(url), role, schema)
    except (RoleError, SchemaNotCurrentError) as error:
        raise fail(escape(str(error))) from None
    for warning in warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    console.print(
        f"{role}: SELECT, INSERT, UPDATE, DELETE on driftwise's tables in {schema} (and on "
        "tables later migrations add); no DROP, ALTER or TRUNCATE",
        highlight=False,
    )
