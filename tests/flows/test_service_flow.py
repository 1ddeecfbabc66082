"""Through Prefect on PostgreSQL: a log with latency and status columns gives each window its
service health and SLO figures, in the store, in the burn-rate rule's verdict and in the run's
summary artifact."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.store.models import PolicyEvaluation
from tests.flows.helpers import write_spec_file
from tests.flows.test_quality_summary_flow import latest_summary

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1), date(2024, 5, 2)]
BURN = {
    "rules": [
        {
            "name": "availability-burn",
            "metric": "slo.burn_rate",
            "column": "availability",
            "direction": "above",
            "threshold": {"long": "3d", "short": "1d", "factor": 2},
            "severity": "high",
        }
    ]
}


def test_the_summary_shows_service_health_and_slos(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, DAYS, service=True, extra={"policy": BURN})
    for day in DAYS:
        result = monitor_model(
            MonitorParams(spec_path=str(spec), window_date=day, write_report=False)
        )
    service = result["service"]
    assert service[0].startswith("- service: 500 requests; error share ")
    assert "latency p50 / p95 / p99 " in service[0]
    assert [line.split("`")[1] for line in service[1:]] == ["availability", "fast"]
    assert "over its period, error budget left" in service[1]
    markdown = latest_summary()
    assert service[0] in markdown
    assert service[2] in markdown
    with Session(pg_store) as session:
        verdicts = (
            session.execute(
                select(PolicyEvaluation).where(PolicyEvaluation.rule == "availability-burn")
            )
            .scalars()
            .all()
        )
    assert len(verdicts) == 2
    assert not any(v.firing for v in verdicts)  # 0.1% errors: a fifth of the budget's pace
    assert all(v.value is not None and v.value < 1 for v in verdicts)
