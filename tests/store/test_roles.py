"""Two roles on real PostgreSQL: the owner migrates and grants, the application role the flows use
reads and writes rows (a whole window, the registry, the outbox) but cannot DROP, ALTER or
TRUNCATE, nor move the schema revision."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from driftwise.cli import app
from monitoring_lib import demo_data
from monitoring_lib.actions.registry import CHAMPION
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.alerts.outbox import deliver_pending
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.persist import persist_window
from monitoring_lib.spec.alerts import AlertsSpec
from monitoring_lib.store.engine import make_engine, open_store, upgrade
from monitoring_lib.store.models import MetricRow, Run
from monitoring_lib.store.repository import RunInfo, ensure_model
from monitoring_lib.store.roles import RoleError, grant_application_role
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project
from tests.store.test_alert_delivery import SlowChannel

pytestmark = pytest.mark.postgres

DAY = date(2024, 5, 1)
REFUSED = [
    "DROP TABLE metrics",
    "ALTER TABLE metrics ADD COLUMN sneaky integer",
    "ALTER TABLE runs RENAME TO gone",
    "TRUNCATE metrics",
    "TRUNCATE alerts CASCADE",
    "DROP VIEW v_model_status",
    "UPDATE alembic_version SET version_num = '0001'",
    "CREATE INDEX sneaky ON metrics (value)",
]


@pytest.fixture
def owner(fresh_pg_url: URL) -> Iterator[Engine]:
    """A migrated store, as the role that owns its schema."""
    engine = make_engine(fresh_pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app_role(owner: Engine) -> Iterator[str]:
    """A login role of its own (roles are server-wide: dropped again after the test)."""
    role = f"dw_app_{uuid.uuid4().hex[:8]}"
    with owner.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    yield role
    with owner.begin() as connection:
        connection.execute(text(f'DROP OWNED BY "{role}"'))
        connection.execute(text(f'DROP ROLE "{role}"'))


def as_role(owner: Engine, role: str) -> Engine:
    """An engine on the same store connecting as ``role`` (trust auth: no password needed)."""
    return make_engine(owner.url.set(username=role, password=None))


def refused(engine: Engine, statement: str) -> str:
    """The error PostgreSQL gives ``statement``, or '' if it ran."""
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    except ProgrammingError as error:
        return str(error.orig)
    return ""


def test_the_application_role_cannot_drop_alter_or_truncate(owner: Engine, app_role: str) -> None:
    owner_url = owner.url.render_as_string(hide_password=False)
    granted = CliRunner().invoke(app, ["db", "grant", app_role, "--url", owner_url])
    assert granted.exit_code == 0, granted.output
    assert "no DROP, ALTER or TRUNCATE" in granted.output
    engine = as_role(owner, app_role)
    for statement in REFUSED:
        error = refused(engine, statement)
        assert "must be owner" in error or "permission denied" in error, statement
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO models (name, task, created_at) VALUES ('m', 'binary', now())")
        )
        connection.execute(text("UPDATE models SET task = 'regression' WHERE name = 'm'"))
        assert connection.execute(text("SELECT task FROM models")).scalar_one() == "regression"
        assert connection.execute(text("SELECT count(*) FROM v_model_status")).scalar_one() == 0
        connection.execute(text("DELETE FROM models"))
    with owner.connect() as connection:  # nothing was dropped, altered or emptied
        assert connection.execute(text("SELECT count(*) FROM metrics")).scalar_one() == 0
        columns = connection.execute(
            text("SELECT count(*) FROM information_schema.columns WHERE column_name = 'sneaky'")
        ).scalar_one()
    assert columns == 0
    engine.dispose()


def test_a_whole_window_the_registry_and_the_outbox_work_as_the_application_role(
    owner: Engine, app_role: str, tmp_path: Path
) -> None:
    grant_application_role(owner, app_role)
    engine = as_role(owner, app_role)
    sessions = open_store(engine.url)  # the revision check reads alembic_version
    folder = write_project(tmp_path, [(DAY, demo_data.STATIONARY)], rows=400)
    channels = AlertsSpec.model_validate({"channels": [{"type": "slack_api", "channel": "C1"}]})
    spec = credit_spec(folder).model_copy(update={"alerts": channels})
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    evaluation = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=tmp_path / "artifacts"
    )
    now = datetime(2024, 5, 2, tzinfo=UTC)
    run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")
    for _rerun in range(2):  # the rerun deletes and rewrites the window's rows
        with sessions.begin() as session:
            persist_window(session, spec, window, run, evaluation)
    with sessions.begin() as session:
        model = ensure_model(session, spec.name, "binary")
        registry = StoreRegistry(session, tmp_path / "artifacts")
        version = registry.register(spec.name, {"weights": [1, 2]}, {"quality.roc_auc": 0.8}, {})
        registry.set_alias(spec.name, CHAMPION, version)
        registry.mark_good(spec.name, version, True)
        assert registry.load(spec.name, version) == {"weights": [1, 2]}
        stored = session.execute(
            select(func.count()).select_from(MetricRow).where(MetricRow.model_id == model)
        ).scalar_one()
        assert session.execute(select(Run.status)).scalar_one() == "succeeded"
    assert stored == len(evaluation.records)
    report = deliver_pending(sessions, [SlowChannel()], now=now)
    assert report.pending == 0
    engine.dispose()


def test_default_privileges_cover_tables_later_migrations_add(owner: Engine, app_role: str) -> None:
    grant_application_role(owner, app_role)
    with owner.begin() as connection:  # what a later migration, run by the owner, does
        connection.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY, note text)"))
    engine = as_role(owner, app_role)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO later_table (note) VALUES ('x')"))
        assert connection.execute(text("SELECT count(*) FROM later_table")).scalar_one() == 1
    assert "must be owner" in refused(engine, "DROP TABLE later_table")
    engine.dispose()


def test_grants_are_refused_for_a_missing_role_a_superuser_the_owner_and_sqlite(
    owner: Engine, sqlite_engine: Engine
) -> None:
    with pytest.raises(RoleError, match=r"there is no role 'nobody_here'.*CREATE ROLE"):
        grant_application_role(owner, "nobody_here")
    current = owner.url.username or "postgres"
    with pytest.raises(RoleError, match=r"superuser|the owner"):
        grant_application_role(owner, current)
    with pytest.raises(RoleError, match="sqlite has no database roles"):
        grant_application_role(sqlite_engine, "anyone")


def test_db_upgrade_uses_the_migration_url(
    fresh_pg_url: URL, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DRIFTWISE_DATABASE_URL (the flows' role) is not where `db upgrade` connects when the
    owner's URL is given."""
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", f"sqlite:///{tmp_path / 'not-this.db'}")
    monkeypatch.setenv(
        "DRIFTWISE_MIGRATION_DATABASE_URL", fresh_pg_url.render_as_string(hide_password=False)
    )
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert fresh_pg_url.database in result.output
    assert not (tmp_path / "not-this.db").exists()
    check = create_engine(fresh_pg_url)
    with check.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM models")).scalar_one() == 0
    check.dispose()
