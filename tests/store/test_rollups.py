"""Weekly roll-ups on a real PostgreSQL store, from two weeks of windows the pipeline stored: the
merged profile, the pooled quality (equal to the quality of all the week's labelled rows), the
summed service events; stored as windows of their own that daily keys, rules and views never
meet, judged by the week's rules, and replaced exactly by a rerun."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.persist import persist_window
from monitoring_lib.pipeline.rollups import ROLLUP_WINDOWS, fill_rollups
from monitoring_lib.records import Metric
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec
from monitoring_lib.store.models import Alert, MetricRow, Model, PolicyEvaluation
from monitoring_lib.store.repository import RunInfo, model_id, window_metrics
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project

pytestmark = pytest.mark.postgres

MONDAY = date(2024, 5, 6)
DAYS = [MONDAY + timedelta(days=d) for d in range(14)]
WEEKLY_RULE = {
    "name": "weekly-accuracy", "metric": "quality.accuracy", "direction": "below",
    "threshold": 0.99, "granularity": "week", "action": "alert",
}  # fmt: skip


def weekly_spec(folder: Path) -> MonitorSpec:
    data = credit_spec(folder, service=True).model_dump(mode="json", exclude={"base_dir"})
    data["window"]["length"] = "1d"
    data["rollups"] = ["week", "month"]
    data["policy"] = {"rules": [WEEKLY_RULE]}
    data["alerts"] = {"channels": [{"type": "slack_api", "channel": "C0WEEK", "cooldown": "30d"}]}
    return parse_spec(data, base_dir=folder)


def store_days(sessions: sessionmaker[Session], spec: MonitorSpec, artifacts: Path) -> None:
    reference = load_reference(spec)
    now = datetime(2024, 6, 1, tzinfo=UTC)
    run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")
    for day in DAYS:
        window = window_starting_on(day, timedelta(days=1), ZONE)
        data = load_window(spec, window)
        evaluation = evaluate_window(spec, data, reference, artifacts=artifacts, write_report=False)
        with sessions.begin() as session:
            persist_window(session, spec, window, run, evaluation)


def test_a_week_rolls_up_from_its_stored_windows(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    project = write_project(tmp_path, [(d, demo_data.STATIONARY) for d in DAYS], rows=600,
                            reference_rows=3_000, service=True)  # fmt: skip
    spec = weekly_spec(project)
    artifacts = tmp_path / "artifacts"
    store_days(pg_sessions, spec, artifacts)
    first = window_starting_on(DAYS[0], timedelta(days=1), ZONE)
    last = window_starting_on(DAYS[-1], timedelta(days=1), ZONE)

    rollups = fill_rollups(pg_sessions, spec, first.start, last.end, artifacts, raise_alerts=True)
    assert [(r.granularity, r.period.label, r.windows) for r in rollups] == [
        ("week", "2024-05-06", 7),
        ("week", "2024-05-13", 7),
    ]  # fmt: skip  (May is not over: no monthly roll-up yet)
    week = rollups[0]
    assert week.period.local_start.weekday() == 0
    assert week.period.end - week.period.start == timedelta(days=7)

    frames = [load_window(spec, window_starting_on(d, timedelta(days=1), ZONE)).frame
              for d in DAYS[:7]]  # fmt: skip
    rows = pd.concat(frames, ignore_index=True)
    labelled = rows.dropna(subset=["defaulted"])
    with pg_sessions() as session:
        weekly = model_id(session, "credit-default@week")
        assert weekly is not None
        stored = {r.key: r for r in window_metrics(session, weekly, week.period.start)}
        daily = model_id(session, "credit-default")
        assert daily is not None
        monday = {r.key for r in window_metrics(session, daily, first.start)}
        granularity = session.execute(select(Model.granularity).where(Model.id == weekly)).scalar()
    assert granularity == "week"
    assert stored[(Metric.ROW_COUNT, "", "")].value == len(rows)
    assert stored[(ROLLUP_WINDOWS, "", "")].details == {"expected": 7}
    assert stored[(Metric.PROFILE_COUNT, "income", "")].value == len(rows)
    accuracy = (labelled["defaulted"] == labelled["predicted_default"]).mean()
    assert stored[(Metric.ACCURACY, "", "")].value == pytest.approx(accuracy)
    assert stored[(Metric.ACCURACY, "", "")].details["rows"] == len(labelled)
    assert stored[(Metric.SERVICE_REQUESTS, "", "")].value == len(rows)
    fast = stored[(Metric.SLO_WINDOW_GOOD, "fast", "")]
    assert fast.details["count"] == int((rows["latency_ms"] < 250).sum())
    assert not any(key[0].startswith("drift.") for key in stored)  # said, not pretended
    assert (Metric.DRIFT_SHARE, "", "") in monday  # the daily window is untouched
    # The week's rule judged the week; the daily windows were judged without it.
    assert week.evaluation.results[0].rule == "weekly-accuracy"
    assert week.evaluation.results[0].value == pytest.approx(accuracy)
    with pg_sessions() as session:
        daily_rules = (
            session.execute(
                select(PolicyEvaluation.rule).where(PolicyEvaluation.model_id == daily).distinct()
            )
            .scalars()
            .all()
        )
        status = session.execute(text("SELECT model FROM v_model_status")).scalars().all()
        views = session.execute(text("SELECT DISTINCT model, granularity FROM v_rollups")).all()
    assert "weekly-accuracy" not in daily_rules
    assert status == ["credit-default"]
    assert views == [("credit-default", "week")]

    with pg_sessions() as session:  # the week's rule raised its alert under the roll-up
        alerts = session.execute(
            select(Alert.model_id, Alert.window_start, Alert.rule, Alert.kind, Alert.status)
        ).all()
    assert alerts == [(weekly, week.period.start, "weekly-accuracy", "firing", "pending")]

    again = fill_rollups(pg_sessions, spec, first.start, last.end, artifacts, raise_alerts=True)
    with pg_sessions() as session:
        rerun = {r.key: r for r in window_metrics(session, weekly, week.period.start)}
        assert session.execute(select(func.count()).select_from(Alert)).scalar() == 1
    assert len(again) == 2
    assert rerun.keys() == stored.keys()
    for key, record in stored.items():
        if record.details.get("exact") is False:  # KLL sketches merge with random compaction
            assert rerun[key].value is not None, key
        else:
            assert rerun[key] == record, key


def test_the_signal_view_lists_the_models_own_windows_only(
    pg_sessions: sessionmaker[Session],
) -> None:
    """A signal stored under a roll-up's models row is not a model of its own on the dashboards."""
    start = datetime(2024, 5, 6, tzinfo=UTC)
    with pg_sessions.begin() as session:
        for name, granularity in (("credit-default", "window"), ("credit-default@week", "week")):
            model = Model(name=name, task="classification", granularity=granularity)
            session.add(model)
            session.flush()
            session.add(
                MetricRow(model_id=model.id, window_start=start, window_end=start + timedelta(7),
                          metric="prediction.mean_probability", column_name="", segment="",
                          value=0.4, status="ok", details={})
            )  # fmt: skip
    with pg_sessions() as session:
        models = session.execute(text("SELECT model FROM v_signal_daily")).scalars().all()
    assert models == ["credit-default"]
