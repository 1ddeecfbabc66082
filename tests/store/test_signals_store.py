"""The signals on a real PostgreSQL store: a window written through ``persist_window`` stores
multivariate drift, prediction confidence and, for each drifted column, its impact computed from
the stored history; policy rules act on them like on any metric."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.persist import persist_window
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.models import MetricRow, Model
from monitoring_lib.store.repository import RunInfo, ensure_model, replace_window
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project

pytestmark = pytest.mark.postgres

DAY = date(2024, 5, 20)
HISTORY = 12


def _run() -> RunInfo:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    return RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")


def _spec(folder: Path) -> MonitorSpec:
    spec = credit_spec(folder)
    rules = [
        {"name": "unsure", "metric": "prediction.low_confidence_share", "direction": "above",
         "threshold": 0.05},
        {"name": "income-matters", "metric": "drift.impact", "column": "income",
         "direction": "above", "threshold": 0.5},
    ]  # fmt: skip
    policy = spec.policy.model_validate({"rules": rules})
    return spec.model_copy(update={"policy": policy})


def _history(sessions: sessionmaker[Session], spec: MonitorSpec) -> None:
    """Past windows in which income's drift went with lower accuracy and region's did not."""
    rng = np.random.default_rng(0)
    with sessions.begin() as session:
        model = ensure_model(session, spec.name, "binary")
        for back in range(HISTORY, 0, -1):
            effect = float(rng.uniform(0, 0.3))
            records = [
                MetricRecord(Metric.DRIFT_SHARE, 0.0),
                MetricRecord(Metric.DRIFT_SCORE, 0.5, column="income",
                             details={"effect_size": effect}),
                MetricRecord(Metric.DRIFT_SCORE, 0.5, column="region",
                             details={"effect_size": float(rng.uniform(0, 0.3))}),
                MetricRecord(Metric.ACCURACY, 0.9 - effect / 2 + float(rng.normal(0, 0.005))),
            ]  # fmt: skip
            window = window_starting_on(DAY - timedelta(days=back), timedelta(days=1), ZONE)
            replace_window(session, model, window, _run(), records)


def test_a_window_stores_its_signals_and_rules_act_on_them(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "p").mkdir()
    project = write_project(tmp_path / "p", [(DAY, demo_data.CHANGED)])
    spec = _spec(project)
    _history(pg_sessions, spec)
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    evaluation = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=tmp_path / "a",
        write_report=False,
    )  # fmt: skip
    with pg_sessions.begin() as session:
        outcome = persist_window(session, spec, window, _run(), evaluation)
    with pg_sessions() as session:
        rows = session.scalars(
            select(MetricRow)
            .join(Model, Model.id == MetricRow.model_id)
            .where(Model.name == spec.name, MetricRow.window_start == window.start)
        ).all()
    stored = {(r.metric, r.column_name): r for r in rows if r.segment == ""}

    error = stored[(Metric.MULTIVARIATE_ERROR, "")]
    assert error.value is not None
    assert error.details["reference_error"] > 0
    assert error.status in ("ok", "drift")
    assert stored[(Metric.MULTIVARIATE_DRIFT, "")].status == error.status
    low = stored[(Metric.LOW_CONFIDENCE_SHARE, "")]
    assert (low.status, low.details["band"]) == ("drift", [0.4, 0.6])
    assert low.value is not None
    assert low.value > low.details["reference_share"]
    assert {c for m, c in stored if m == Metric.CLASS_SHARE} == {"0", "1"}
    assert stored[(Metric.MEAN_PROBABILITY, "")].details["reference_mean"] > 0

    drifted = {c for (m, c), r in stored.items() if m == Metric.DRIFT_SCORE and r.status == "drift"}
    impact = {c: r for (m, c), r in stored.items() if m == Metric.DRIFT_IMPACT}
    assert "income" in drifted
    assert set(impact) == drifted
    income = impact["income"]
    assert income.details["windows"] >= HISTORY
    assert income.details["quality_metric"] == "quality.accuracy"
    assert income.value is not None
    assert income.value > 0.8
    assert income.status == "warning"
    others = [r for c, r in impact.items() if c not in ("income", "region")]
    assert all(r.status == MetricStatus.INSUFFICIENT_DATA for r in others)
    assert all(r.details["reason"].startswith("not enough history") for r in others)
    impacts = [r.column for r in outcome.records if r.metric == Metric.DRIFT_IMPACT]
    assert impacts == sorted(drifted)

    fired = {r.rule for r in outcome.evaluation.results if r.breached}
    assert fired == {"unsure", "income-matters"}
