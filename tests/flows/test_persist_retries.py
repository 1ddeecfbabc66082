"""Case (2): the window's transaction fails twice with a transient OperationalError (a
serialization failure raised by PostgreSQL itself), then succeeds under the task's retries:
one row per key, equal to a clean run's rows."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from flows.monitor import MonitorParams, monitor_model
from tests.flows.helpers import metric_rows, write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAY = date(2024, 5, 1)
FAIL_TWICE = """
CREATE FUNCTION fail_twice() RETURNS trigger AS $$ BEGIN
  IF nextval('persist_failures') <= 2 THEN
    RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""


def test_a_persist_failing_twice_then_succeeding_stores_one_row_per_key(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, [DAY], rows=150)
    params = MonitorParams(spec_path=str(spec), window_date=DAY, write_report=False, relabel_days=0)
    with pg_store.begin() as connection:
        connection.execute(text("CREATE SEQUENCE persist_failures"))
        connection.execute(text(FAIL_TWICE))
        connection.execute(
            text(
                "CREATE TRIGGER fail_twice BEFORE INSERT ON profiles "
                "FOR EACH ROW EXECUTE FUNCTION fail_twice()"
            )
        )
    try:
        state = monitor_model(params, return_state=True)
        with pg_store.connect() as connection:
            failures = connection.execute(text("SELECT last_value FROM persist_failures"))
            assert failures.scalar_one() >= 3  # two refused attempts, then the one that passed
    finally:
        with pg_store.begin() as connection:
            connection.execute(text("DROP TRIGGER fail_twice ON profiles"))
            connection.execute(text("DROP FUNCTION fail_twice()"))
            connection.execute(text("DROP SEQUENCE persist_failures"))
    assert state.is_completed(), state.message
    retried = metric_rows(pg_store)
    keys = Counter(row[:4] for row in retried)
    assert retried
    assert max(keys.values()) == 1  # one row per (window, metric, column, segment)

    monitor_model(params)  # a clean run of the same window
    assert metric_rows(pg_store) == retried
