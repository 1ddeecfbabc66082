"""A window with no predictions through the monitor flow (case 19): insufficient data, an alert
from the built-in data-missing rule, no drift, no retraining, and one status everywhere."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.observability.prometheus import store_registry
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.store.engine import session_factory
from monitoring_lib.store.models import Action, Alert, MetricRow
from tests.flows.helpers import write_spec_file
from tests.slack_server import SlackTestServer

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]
EMPTY_DAY = date(2024, 5, 4)
TOKEN = "xoxb-111-222-emptywindowtest"
SLACK = {"channels": [{"type": "slack_api", "channel": "C0FEED", "min_interval_seconds": 0}]}
FEED_STOPPED_RETRAIN = {
    "name": "feed-stopped",
    "metric": "window.row_count",
    "direction": "below",
    "threshold": 1,
    "action": "retrain",
}
RETRAIN = {
    "retrain": {"trainer": "monitoring_lib.example_trainer:train", "metric": "quality.roc_auc"}
}


def run(spec: Path, day: date) -> dict[str, Any]:
    return monitor_model(MonitorParams(spec_path=str(spec), window_date=day, write_report=False))


def stored(engine: Engine, metric: str) -> MetricRow:
    with Session(engine) as session:
        return session.execute(
            select(MetricRow)
            .where(MetricRow.metric == metric, MetricRow.column_name == "")
            .where(MetricRow.segment == "")
            .order_by(MetricRow.window_start.desc())
            .limit(1)
        ).scalar_one()


def view_health(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT health FROM v_model_status")).scalar_one())


def exported_health(engine: Engine) -> float:
    exposition = generate_latest(store_registry(session_factory(engine))).decode()
    line = next(x for x in exposition.splitlines() if x.startswith("driftwise_model_health{"))
    return float(line.rsplit(" ", 1)[1])


def test_an_empty_window_alerts_judges_no_drift_and_never_retrains(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = {"data_missing": {}, "rules": [FEED_STOPPED_RETRAIN]}
    spec = write_spec_file(
        tmp_path, DAYS, extra={"policy": policy, "alerts": SLACK, "actions": RETRAIN}
    )
    with SlackTestServer(token=TOKEN, lifetime=300) as slack:
        monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)
        for day in DAYS:
            assert run(spec, day)["decision"] == "none"
        result = run(spec, EMPTY_DAY)
        assert len(slack.messages) == 2  # the built-in rule's and the user's rule's
        assert any("data-missing" in str(message) for message in slack.messages)

    rows = stored(pg_store, Metric.ROW_COUNT)
    assert (rows.value, rows.status) == (0.0, MetricStatus.INSUFFICIENT_DATA)
    share = stored(pg_store, Metric.DRIFT_SHARE)
    assert (share.value, share.status) == (None, MetricStatus.INSUFFICIENT_DATA)
    assert result["drifted_columns"] == []
    assert any("data-missing" in r and "0, below 250" in r for r in result["reasons"])
    assert "retrain: not started, the window has no predictions" in result["reasons"]
    with Session(pg_store) as session:
        assert session.execute(select(Action)).scalars().all() == []
        alerted = set(session.execute(select(Alert.rule)).scalars())
    assert alerted == {"data-missing", "feed-stopped"}
    # A rule fires on the empty window: red in the summary, the store's view and Prometheus.
    assert result["status"] == "red"
    assert view_health(pg_store) == "red"
    assert exported_health(pg_store) == 2.0


def test_an_empty_window_without_rules_is_amber_everywhere(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, DAYS)
    result = run(spec, EMPTY_DAY)
    assert result["rows"] == 0
    assert result["decision"] == "none"
    assert result["status"] == "amber"
    assert view_health(pg_store) == "amber"
    assert exported_health(pg_store) == 1.0
