from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
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
}
VIEWS = {
    "v_model_status",
    "v_drift_daily",
    "v_column_drift_daily",
    "v_quality_daily",
    "v_run_daily",
    "v_alert_events",
    "v_action_events",
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
