from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
    select,
)
from sqlalchemy.engine import URL

from monitoring_lib.store.engine import (
    SchemaNotCurrentError,
    alembic_config,
    assert_schema_current,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    open_store,
    upgrade,
)
from monitoring_lib.store.models import Base

TABLES = {
    "models",
    "runs",
    "metrics",
    "profiles",
    "reference_profiles",
    "alerts",
    "actions",
    "model_versions",
    "model_aliases",
    "policy_evaluations",
    "quality_counts",
}
VIEWS = {
    "v_model_status",
    "v_drift_daily",
    "v_column_drift_daily",
    "v_quality_daily",
    "v_run_daily",
    "v_signal_daily",
    "v_alert_events",
    "v_action_events",
    "v_service_daily",
    "v_rollups",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "postgresql":
        url: URL | str = request.getfixturevalue("fresh_pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    return make_engine(url)


def test_migrations_have_a_single_head(sqlite_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(sqlite_engine))
    assert len(script.get_heads()) == 1
    assert head_revision(sqlite_engine) == script.get_current_head()


def test_upgrade_then_downgrade_round_trip(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    inspector = inspect(empty_engine)
    assert set(inspector.get_table_names()) - {"alembic_version"} == TABLES
    assert set(inspector.get_view_names()) == VIEWS
    downgrade(empty_engine, "base")
    inspector = inspect(empty_engine)
    assert set(inspector.get_table_names()) - {"alembic_version"} == set()
    assert set(inspector.get_view_names()) == set()
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision(empty_engine)


def test_models_match_the_migrations(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_a_store_behind_the_code_is_refused_with_the_fix(empty_engine: Engine) -> None:
    with pytest.raises(
        SchemaNotCurrentError, match=r"has no driftwise tables.*driftwise db upgrade"
    ):
        assert_schema_current(empty_engine)
    upgrade(empty_engine, "0001")
    with pytest.raises(SchemaNotCurrentError, match=r"is at revision 0001.*expects revision"):
        open_store(empty_engine.url)
    upgrade(empty_engine)
    assert_schema_current(empty_engine)


def test_refusal_hides_the_password(fresh_pg_url: URL) -> None:
    url = fresh_pg_url.set(password="hunter2")  # trust auth: the password is ignored
    with pytest.raises(SchemaNotCurrentError) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)


def test_open_store_shares_one_engine_per_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade(make_engine(url))
    first, second = open_store(url), open_store(url)
    assert first.kw["bind"] is second.kw["bind"]
    assert (
        open_store(f"sqlite:///{tmp_path / 'other.db'}", check=False).kw["bind"]
        is not first.kw["bind"]
    )


def _value(table: Table, column: Column[Any], row: int) -> Any:
    """A value of the column's type for row ``row`` (0, 1, 2); ids and references are row + 1."""
    if column.foreign_keys or (column.name == "id" and column.primary_key):
        return row + 1
    kind = column.type
    if isinstance(kind, Boolean):
        return row % 2 == 0
    if isinstance(kind, Integer):
        return 10 * row + 7
    if isinstance(kind, Float):
        return row + 0.25
    if isinstance(kind, DateTime):
        return datetime(2024, 5, 1, 6, tzinfo=UTC) + timedelta(days=row, minutes=len(column.name))
    if isinstance(kind, JSON):
        return {"row": row, "text": f"{table.name} ünï 📉", "list": [row, None]}
    if isinstance(kind, String):
        return f"{row} {table.name}.{column.name} ü📉"[: kind.length or 200]
    raise AssertionError(f"no sample value for {table.name}.{column.name} ({kind!r})")


Snapshot = dict[str, list[tuple[Any, ...]]]


def _fill(engine: Engine) -> dict[str, list[str]]:
    """Three rows in every table the store has at its revision; returns each table's columns."""
    tables = MetaData()
    tables.reflect(engine)
    written = {}
    with engine.begin() as connection:
        for table in tables.sorted_tables:
            if table.name != "alembic_version":
                rows = [{c.name: _value(table, c, row) for c in table.columns} for row in range(3)]
                connection.execute(table.insert(), rows)
                written[table.name] = [c.name for c in table.columns]
    return written


def _snapshot(engine: Engine, columns: dict[str, list[str]]) -> Snapshot:
    """Every row of the tables, reading only ``columns`` of each, in a stable order."""
    tables = MetaData()
    tables.reflect(engine, only=list(columns))
    with engine.connect() as connection:
        return {
            name: sorted(
                map(tuple, connection.execute(select(*(tables.tables[name].c[c] for c in names)))),
                key=repr,
            )
            for name, names in columns.items()
        }


@pytest.mark.parametrize("start", ["first", "previous"])
def test_upgrading_a_store_that_holds_data_keeps_every_row(
    empty_engine: Engine, start: str
) -> None:
    """From the first revision, and from the one before head, with rows in every table: after
    the upgrade every row and every value is still there."""
    script = ScriptDirectory.from_config(alembic_config(empty_engine))
    head = script.get_revision(head_revision(empty_engine))
    revision = "0001" if start == "first" else head.down_revision
    assert isinstance(revision, str)
    upgrade(empty_engine, revision)
    columns = _fill(empty_engine)
    before = _snapshot(empty_engine, columns)
    assert len(before) >= 9
    assert all(len(rows) == 3 for rows in before.values())
    upgrade(empty_engine)
    assert _snapshot(empty_engine, columns) == before
    assert_schema_current(empty_engine)
