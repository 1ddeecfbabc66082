"""The dashboard views on PostgreSQL, over rows written through the repository."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.store.repository import RunInfo, ensure_model, replace_window
from monitoring_lib.windows import window_starting_on

pytestmark = pytest.mark.postgres
DAY = timedelta(days=1)


def store(
    sessions: sessionmaker[Session],
    model: str,
    day: date,
    rows: list[MetricRecord],
    status: str = "succeeded",
) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        replace_window(
            session,
            ensure_model(session, model, "binary"),
            window_starting_on(day, DAY, "UTC"),
            RunInfo(status=status, started_at=now, finished_at=now, code_version="t"),
            rows,
        )


def drift_rows(share: float, drifted: int, status: MetricStatus) -> list[MetricRecord]:
    columns = [
        MetricRecord(
            Metric.DRIFT_SCORE,
            0.01,
            MetricStatus.DRIFT if i < drifted else MetricStatus.OK,
            column=f"c{i}",
        )
        for i in range(4)
    ]
    return [*columns, MetricRecord(Metric.DRIFT_SHARE, share, status)]


@pytest.fixture
def filled(pg_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    quality = [MetricRecord(Metric.ACCURACY, 0.9), MetricRecord(Metric.LABEL_COVERAGE, 0.5)]
    store(pg_sessions, "calm", date(2024, 5, 1), drift_rows(0.75, 3, MetricStatus.DRIFT))
    store(pg_sessions, "calm", date(2024, 5, 2), drift_rows(0.0, 0, MetricStatus.OK) + quality)
    store(pg_sessions, "wobbly", date(2024, 5, 2), drift_rows(0.25, 1, MetricStatus.OK))
    store(pg_sessions, "broken", date(2024, 5, 2), [], status="failed")
    return pg_sessions


def query(sessions: sessionmaker[Session], sql: str) -> list[dict[str, object]]:
    with sessions() as session:
        return [dict(row._mapping) for row in session.execute(text(sql))]


def test_model_status_takes_the_latest_window(filled: sessionmaker[Session]) -> None:
    rows = {r["model"]: r for r in query(filled, "SELECT * FROM v_model_status")}
    assert {m: r["health"] for m, r in rows.items()} == {
        "calm": "green",
        "wobbly": "amber",
        "broken": "red",
    }
    assert rows["calm"]["window_start"] == datetime(2024, 5, 2, tzinfo=UTC)


def test_drift_daily(filled: sessionmaker[Session]) -> None:
    rows = query(
        filled,
        "SELECT model, window_start, drift_share, drifted_columns FROM v_drift_daily WHERE model = 'calm' ORDER BY window_start",
    )
    assert [(r["drift_share"], r["drifted_columns"]) for r in rows] == [(0.75, 3), (0.0, 0)]


def test_column_drift_daily(filled: sessionmaker[Session]) -> None:
    rows = query(
        filled,
        "SELECT column_name, status FROM v_column_drift_daily WHERE model = 'wobbly' ORDER BY column_name",
    )
    assert [(r["column_name"], r["status"]) for r in rows] == [
        ("c0", "drift"),
        ("c1", "ok"),
        ("c2", "ok"),
        ("c3", "ok"),
    ]


def test_quality_daily_carries_label_coverage(filled: sessionmaker[Session]) -> None:
    rows = query(filled, "SELECT model, metric, value, label_coverage FROM v_quality_daily")
    assert rows == [
        {"model": "calm", "metric": "quality.accuracy", "value": 0.9, "label_coverage": 0.5}
    ]


def test_views_are_read_only(filled: sessionmaker[Session]) -> None:
    with (
        pytest.raises(DBAPIError, match='cannot update view "v_drift_daily"'),
        filled.begin() as session,
    ):
        session.execute(text("UPDATE v_drift_daily SET drift_share = 1"))
