"""Case (1): a monitor run whose process ends (``os._exit``) inside the window's persist
transaction, after its metric rows were written and before the commit, leaves no row of the
window; the rerun stores exactly the rows a clean run of the window stores in a fresh store."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from prefect.settings import get_current_settings
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.store.engine import make_engine, upgrade
from monitoring_lib.store.models import Base
from tests.flows.helpers import metric_rows, write_spec_file
from tests.flows.persist_hooks import DIED

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
ROOT = Path(__file__).resolve().parents[2]
DAY = date(2024, 5, 1)


def rows_per_window_table(engine: Engine) -> dict[str, int]:
    """Rows of every table keyed by a window (runs, metrics, profiles, alerts, ...)."""
    tables = [t for t in Base.metadata.sorted_tables if "window_start" in t.columns]
    assert len(tables) >= 5
    with Session(engine) as session:
        return {
            t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in tables
        }


def test_a_run_killed_mid_persist_leaves_no_partial_window_and_the_rerun_equals_a_clean_run(
    tmp_path: Path, pg_store: Engine, fresh_pg_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec_file(tmp_path, [DAY], rows=150)
    mark = tmp_path / "metrics-written"
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    killed = subprocess.run(
        [sys.executable, "-m", "tests.flows.persist_hooks", "die", str(mark), str(spec), str(DAY)],
        env=env, cwd=ROOT, timeout=300, check=False, capture_output=True,
    )  # fmt: skip
    assert killed.returncode == DIED, killed.stderr.decode(errors="replace")[-3000:]
    assert int(mark.read_text()) > 100  # its transaction had written the window's metrics
    assert set(rows_per_window_table(pg_store).values()) == {0}  # none of them survived

    params = MonitorParams(spec_path=str(spec), window_date=DAY, write_report=False, relabel_days=0)
    rerun = monitor_model(params, return_state=True)
    assert rerun.is_completed(), rerun.message
    after_rerun = metric_rows(pg_store)

    clean_engine = make_engine(fresh_pg_url)
    upgrade(clean_engine)
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", fresh_pg_url.render_as_string(hide_password=False))
    try:
        assert monitor_model(params, return_state=True).is_completed()
        clean = metric_rows(clean_engine)
    finally:
        clean_engine.dispose()
    assert len(clean) > 100
    assert after_rerun == clean
    assert rows_per_window_table(pg_store)["runs"] == 1
