"""Through Prefect on PostgreSQL: the first run makes the serving model the champion, so relative
thresholds judge the very first window; runs at once register it once."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.backfill import BackfillParams, backfill_model
from monitoring_lib.store.models import ModelAlias, ModelVersion, PolicyEvaluation
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]
POLICY = {
    "rules": [
        {
            "name": "accuracy-drop",
            "metric": "quality.accuracy",
            "direction": "below",
            "threshold": {"delta": -0.05},
            "action": "alert",
        }
    ]
}


def test_the_first_runs_register_the_serving_model_once_and_judge_against_it(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, DAYS, extra={"policy": POLICY})
    backfill_model(
        BackfillParams(
            spec_path=str(spec), start=DAYS[0], end=DAYS[-1], concurrency=2, write_reports=False
        )
    )

    with Session(pg_store) as session:
        versions = session.scalars(select(ModelVersion)).all()
        alias = session.scalars(select(ModelAlias)).one()
        rows = session.scalars(
            select(PolicyEvaluation)
            .where(PolicyEvaluation.rule == "accuracy-drop")
            .order_by(PolicyEvaluation.window_start)
        ).all()
    assert len(versions) == 1  # two first runs at once, one registration
    serving = versions[0]
    assert serving.tags["source"] == "external"
    assert alias.version_id == serving.id
    baseline = serving.metrics["quality.accuracy"]
    assert 0.5 < baseline < 1
    assert len(rows) == len(DAYS)
    for row in rows:
        assert row.threshold == pytest.approx(baseline - 0.05)  # from the very first window
        assert "champion's" in row.reasons[0]
        assert not row.firing  # the serving model is as good as on its reference
