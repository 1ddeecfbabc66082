"""Through Prefect on PostgreSQL: a backfill over a whole week fills its weekly roll-up, which
sums the week's stored windows and leaves the daily ones as they were; the week's rule alerts on
Slack (slack-sdk to the local test server) once, and the daily windows raise nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.backfill import BackfillParams, backfill_model
from monitoring_lib.records import Metric
from monitoring_lib.store.models import Model, Run
from monitoring_lib.store.repository import window_metrics
from tests.flows.helpers import write_spec_file
from tests.flows.test_alerting_flow import ALERTS, TOKEN
from tests.slack_server import SlackTestServer

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
MONDAY = date(2024, 5, 6)
WEEKLY_RULE = {
    "name": "weekly-accuracy", "metric": "quality.accuracy", "direction": "below",
    "threshold": 0.99, "granularity": "week", "severity": "high", "action": "alert",
}  # fmt: skip
DAYS = [MONDAY + timedelta(days=i) for i in range(7)]


def test_a_backfilled_week_is_rolled_up_and_its_rule_alerts(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"rollups": ["week"], "policy": {"rules": [WEEKLY_RULE]}, "alerts": ALERTS}
    spec = write_spec_file(tmp_path, DAYS, rows=200, extra=extra)
    params = BackfillParams(
        spec_path=str(spec), start=DAYS[0], end=DAYS[-1], write_reports=False, concurrency=2,
        send_alerts=True,
    )  # fmt: skip
    with SlackTestServer(token=TOKEN, lifetime=300) as slack:
        monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)
        results = backfill_model(params)
    assert len(results) == 7
    [message] = slack.messages
    assert "weekly-accuracy" in str(message)
    assert "credit-default@week" in str(message)
    with Session(pg_store) as session:
        models = dict(session.execute(select(Model.name, Model.id)).all())
        daily = session.execute(select(Run).where(Run.model_id == models["credit-default"]))
        daily_rows = sum(run.row_count or 0 for run in daily.scalars())
        [weekly_run] = session.execute(
            select(Run).where(Run.model_id == models["credit-default@week"])
        ).scalars()
        weekly = {
            r.key: r for r in window_metrics(session, weekly_run.model_id, weekly_run.window_start)
        }
    assert set(models) == {"credit-default", "credit-default@week"}
    assert weekly_run.window_end - weekly_run.window_start == timedelta(days=7)
    assert weekly[(Metric.ROW_COUNT, "", "")].value == daily_rows == 7 * 200
    assert weekly[("rollup.windows", "", "")].value == 7
