"""Actions in the window's time: a 20-day backfill with actions allowed and the 20 daily runs the
schedule would make (each as of its scheduled time) start, skip and gate the same retrainings,
on windows two years before the wall clock (and across a DST change). Small data, few columns."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.backfill import BackfillParams, backfill_model
from flows.monitor import MonitorParams, monitor_model
from monitoring_lib import demo_data
from monitoring_lib.store.models import Action, Model
from tests.credit_world import ZONE, credit_spec, write_project

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 3, 24) + timedelta(days=i) for i in range(20)]  # DST starts on 2024-03-31
POLICY = {
    "rules": [
        {
            "name": "dataset-drift",
            "metric": "drift.share",
            "direction": "above",
            "threshold": 0.3,
            "severity": "high",
            "action": "retrain",
        }
    ]
}
ACTIONS = {
    "retrain": {
        "trainer": "monitoring_lib.example_trainer:train",
        "metric": "quality.roc_auc",
        "min_labelled_rows": 50,
        "windows": 3,
        "cooldown": "7d",
    }
}


def small_spec(folder: Path, name: str) -> Path:
    """80 predictions a day, a 400-row reference, three features: the decisions, not the data."""
    folder.mkdir()
    worlds = [(day, demo_data.world_on(day, DAYS[4])) for day in DAYS]
    project = write_project(folder, worlds, rows=80, reference_rows=400)
    spec = credit_spec(project, name=name).model_dump(mode="json", exclude={"base_dir"})
    spec.update(window={"length": "1d", "timezone": ZONE}, policy=POLICY, actions=ACTIONS)
    columns = spec["columns"]
    columns.update(numerical=["income", "debt_to_income"], categorical=["loan_purpose"])
    columns.pop("segments", None)
    path = project / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def story(engine: Engine, model: str) -> list[tuple[str, object, str]]:
    with Session(engine) as session:
        query = (
            select(Action.kind, Action.window_start, Action.status)
            .join(Model, Model.id == Action.model_id)
            .where(Model.name == model)
            .order_by(Action.id)
        )
        return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


@pytest.mark.timeout(900)  # 40 monitor runs and their retrainings
def test_a_backfill_with_actions_and_the_daily_schedule_take_the_same_actions(
    tmp_path: Path, pg_store: Engine
) -> None:
    backfilled = small_spec(tmp_path / "backfill", "credit-backfill")
    daily = small_spec(tmp_path / "daily", "credit-daily")

    state = backfill_model(
        BackfillParams(
            spec_path=str(backfilled), start=DAYS[0], end=DAYS[-1], allow_actions=True,
            write_reports=False,
        ),
        return_state=True,
    )  # fmt: skip
    assert state.is_completed()
    for day in DAYS:  # what the daily schedule does: a run the morning after each window
        scheduled = datetime.combine(day + timedelta(days=1), time(6), ZoneInfo(ZONE))
        monitor_model(
            MonitorParams(spec_path=str(daily), as_of=scheduled, write_report=False),
            return_state=True,
        ).result()

    actions = story(pg_store, "credit-backfill")
    retrains = [a for a in actions if a[0] == "retrain"]
    assert [status for _, _, status in retrains].count("skipped") < len(retrains)
    assert sum(1 for _, _, status in retrains if status != "skipped") >= 2  # one per cooldown
    assert actions == story(pg_store, "credit-daily")
