"""Bad values and missing labels on PostgreSQL, persisted through the policy as a run does.

Case 21: an all-NaN column, a constant one, single-class labels and unseen categories give
statuses and reasons, and nothing stored is NaN. Case 22: with no labels (or only null ones)
quality is pending, not 0; late labels rescore it; and no retraining is decided without them.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.late_labels import refresh_labels
from monitoring_lib.pipeline.persist import WindowOutcome, persist_window
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.spec.base import Decision
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.models import MetricRow
from monitoring_lib.store.repository import RunInfo
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, reveal_all_labels, write_project

pytestmark = pytest.mark.postgres
DAY = date(2024, 5, 1)
RETRAIN_ON_ANY_ACCURACY = {
    "rules": [
        {
            "name": "accuracy-retrain",
            "metric": "quality.accuracy",
            "direction": "below",
            "threshold": 1.01,  # any real accuracy breaches it
            "action": "retrain",
        }
    ]
}


def spec_of(folder: Path, policy: dict[str, Any] | None = None) -> MonitorSpec:
    spec = credit_spec(folder)
    if policy is None:
        return spec
    return spec.model_copy(update={"policy": type(spec.policy).model_validate(policy)})


def run_window(
    folder: Path, sessions: sessionmaker[Session], policy: dict[str, Any] | None = None
) -> WindowOutcome:
    spec = spec_of(folder, policy)
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    evaluation = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=folder / "artifacts",
        write_report=False,
    )  # fmt: skip
    now = datetime.now(UTC)
    with sessions.begin() as session:
        run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")
        return persist_window(session, spec, window, run, evaluation, raise_alerts=False)


def stored(sessions: sessionmaker[Session]) -> dict[tuple[str, str, str], MetricRow]:
    with sessions() as session:
        rows = session.execute(select(MetricRow)).scalars().all()
        return {(r.metric, r.column_name, r.segment): r for r in rows}


def assert_nothing_is_nan(rows: dict[tuple[str, str, str], MetricRow]) -> None:
    for key, row in rows.items():
        if row.value is None:
            assert row.status != MetricStatus.OK, key
            assert row.details.get("reason"), key
        else:
            assert math.isfinite(row.value), key
        json.dumps(row.details, allow_nan=False)  # raises on NaN or infinity anywhere


def test_hostile_values_give_statuses_and_reasons_never_nan(
    tmp_path: Path, pg_sessions: sessionmaker[Session]
) -> None:
    folder = write_project(tmp_path, [(DAY, demo_data.STATIONARY)], rows=600, reference_rows=3_000)
    log = pd.read_parquet(folder / "log.parquet")
    log = log.assign(
        income=np.nan,  # all NaN
        age=41,  # constant
        loan_purpose=np.where(np.arange(len(log)) % 3 == 0, "spaceship", log["loan_purpose"]),
    )
    log.to_parquet(folder / "log.parquet")
    labels = pd.read_parquet(folder / "labels.parquet").assign(defaulted=0)  # one class
    labels.to_parquet(folder / "labels.parquet")

    run_window(folder, pg_sessions)
    rows = stored(pg_sessions)
    assert_nothing_is_nan(rows)

    all_nan = rows[(Metric.DRIFT_SCORE, "income", "")]
    assert (all_nan.value, all_nan.status) == (None, MetricStatus.INSUFFICIENT_DATA)
    assert rows[(Metric.DQ_NOT_NULL, "income", "")].status == MetricStatus.FAILED
    constant = rows[(Metric.DRIFT_SCORE, "age", "")]
    assert constant.value is not None
    assert constant.status == MetricStatus.DRIFT  # a whole window at one age is not the reference
    unseen = rows[(Metric.DQ_ALLOWED_CATEGORIES, "loan_purpose", "")]
    assert unseen.status == MetricStatus.FAILED
    assert {"value": "spaceship", "count": 200} in unseen.details["unseen"]
    auc = rows[(Metric.ROC_AUC, "", "")]
    assert (auc.value, auc.status) == (None, MetricStatus.SKIPPED)
    assert "class" in auc.details["reason"]
    assert rows[(Metric.ACCURACY, "", "")].value is not None  # the other metrics still computed


@pytest.mark.parametrize("labels", ["none arrived", "all null"])
def test_without_labels_quality_is_pending_then_late_labels_rescore_it(
    tmp_path: Path, pg_sessions: sessionmaker[Session], labels: str
) -> None:
    folder = write_project(tmp_path, [(DAY, demo_data.STATIONARY)], rows=600, reference_rows=3_000)
    known = pd.read_parquet(folder / "labels.parquet")
    if labels == "none arrived":
        known.iloc[:0].to_parquet(folder / "labels.parquet")
    else:
        known.assign(defaulted=np.nan).to_parquet(folder / "labels.parquet")

    outcome = run_window(folder, pg_sessions, RETRAIN_ON_ANY_ACCURACY)
    rows = stored(pg_sessions)
    assert_nothing_is_nan(rows)
    assert rows[(Metric.LABEL_COVERAGE, "", "")].value == 0
    for metric in (Metric.ACCURACY, Metric.F1, Metric.ROC_AUC):
        pending = rows[(metric, "", "")]
        assert (pending.value, pending.status) == (None, MetricStatus.INSUFFICIENT_DATA), metric
    assert rows[(Metric.ESTIMATED_ACCURACY, "", "")].value is not None  # estimated meanwhile
    # No retraining decided on quality nobody has measured yet.
    assert outcome.evaluation.decision is Decision.NONE
    (result,) = outcome.evaluation.results
    assert "has no usable value (insufficient_data" in result.reason

    reveal_all_labels(folder)
    (refresh,) = refresh_labels(spec_of(folder), pg_sessions)
    assert (refresh.refreshed, refresh.labelled_now) == (True, 600)
    rescored = stored(pg_sessions)
    accuracy = rescored[(Metric.ACCURACY, "", "")]
    assert accuracy.status == MetricStatus.OK
    assert accuracy.value is not None
    assert 0.5 < accuracy.value <= 1
    assert rescored[(Metric.LABEL_COVERAGE, "", "")].value == 1
