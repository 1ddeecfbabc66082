"""Which rows of a window quality is computed on, and the records when it cannot be computed.

Shared by the Evidently-backed records (``compute``) and the records computed from counts
(``window``): both see the same labelled rows, drop the same invalid values and refuse the same
windows with the same reasons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring_lib.metrics.quality.checks import PROBABILITY_METRICS, QualityColumns, Verdict
from monitoring_lib.metrics.quality.evidently_adapter import Key, label_string
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Task

_ERROR = MetricStatus.ERROR
_LABEL_METRICS = (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1)
_REGRESSION_METRICS = (Metric.RMSE, Metric.MAE, Metric.MAPE, Metric.R2)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A window's labelled rows ready to score, or the records that say why it cannot be."""

    coverage: MetricRecord
    rows: pd.DataFrame | None
    """Labelled rows with usable predictions (and probabilities); None when columns are absent."""
    details: dict[str, Any]
    early: list[MetricRecord] | None
    """The window's whole set of records when it cannot be scored (columns absent, too few rows)."""


def prepare_quality(frame: pd.DataFrame, spec: QualityColumns, min_labelled_rows: int) -> Prepared:
    """Label coverage, the usable labelled rows, and the verdict on whether they are enough."""
    target, prediction = spec.target, spec.prediction
    keys = dataset_keys(spec)
    missing = [column for column in (target, prediction) if column not in frame.columns]
    if target not in frame.columns:
        reason = f"window frame has no target column {target!r}"
        coverage = verdict_record((Metric.LABEL_COVERAGE, DATASET), Verdict(_ERROR, reason), {})
    else:
        coverage = label_coverage(frame, target)
    if missing:
        reason = f"window frame has no column {', '.join(map(repr, missing))}"
        return Prepared(
            coverage, None, {}, [coverage, *uniform_records(keys, Verdict(_ERROR, reason), {})]
        )
    rows, details = usable_rows(frame, spec)
    minimum = max(min_labelled_rows, 2)  # one row has no spread: no ROC AUC, R2 or error std
    if len(rows) < minimum:
        reason = f"{len(rows)} labelled rows with usable predictions; quality needs {minimum}"
        verdict = Verdict(MetricStatus.INSUFFICIENT_DATA, reason)
        return Prepared(
            coverage, rows, details, [coverage, *uniform_records(keys, verdict, details)]
        )
    return Prepared(coverage, rows, details, None)


def quality_columns(
    task: str,
    target: str,
    prediction: str,
    probability: str | Mapping[Any, str] | None,
    pos_label: object,
    min_labelled_rows: int,
) -> QualityColumns:
    if min_labelled_rows < 1:
        raise ValueError(f"min_labelled_rows must be at least 1, got {min_labelled_rows}")
    if task not in ("binary", "multiclass", "regression"):
        raise ValueError(f"unknown task {task!r}")
    if task == "regression" and probability is not None:
        raise ValueError("regression takes no probability column")
    if task == "binary" and not isinstance(probability, str | None):
        raise ValueError("binary takes one probability column: the positive class's")
    if task == "multiclass" and isinstance(probability, str):
        raise ValueError("multiclass takes a mapping of class -> probability column")
    positive = label_string(pos_label)
    probabilities: dict[str, str] = {}
    if isinstance(probability, str):
        probabilities = {positive: probability}
    elif probability is not None:
        probabilities = {label_string(label): column for label, column in probability.items()}
        if len(probabilities) != len(probability) or len(probabilities) < 3:
            # Evidently reads two probability columns as a binary task.
            raise ValueError("multiclass probabilities need 3+ classes, distinct as strings")
    return QualityColumns(Task(task), target, prediction, probabilities, positive)


def dataset_keys(spec: QualityColumns) -> list[Key]:
    if spec.task == "regression":
        return [(metric, DATASET) for metric in _REGRESSION_METRICS]
    metrics = _LABEL_METRICS + (PROBABILITY_METRICS if spec.probabilities else ())
    return [(metric, DATASET) for metric in metrics]


def label_coverage(frame: pd.DataFrame, target: str) -> MetricRecord:
    labelled, window = int(frame[target].notna().sum()), len(frame)
    details = {"labelled_rows": labelled, "window_rows": window}
    if window == 0:
        verdict = Verdict(MetricStatus.INSUFFICIENT_DATA, "window has no rows")
        return verdict_record((Metric.LABEL_COVERAGE, DATASET), verdict, details)
    return MetricRecord(Metric.LABEL_COVERAGE, labelled / window, details=details)


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def usable_rows(frame: pd.DataFrame, spec: QualityColumns) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labelled rows whose prediction (and probabilities) are usable, and how many were dropped.

    Non-numeric values where numbers are expected count as invalid, like NaN and infinity.
    """
    rows = frame.loc[frame[spec.target].notna()]
    regression = spec.task == "regression"
    if regression:
        rows = rows.assign(**{spec.target: _numeric(rows[spec.target])})
        rows = rows.assign(**{spec.prediction: _numeric(rows[spec.prediction])})
    probability_columns = [c for c in spec.probabilities.values() if c in rows.columns]
    rows = rows.assign(**{column: _numeric(rows[column]) for column in probability_columns})
    bad_target = ~np.isfinite(rows[spec.target]) if regression else rows[spec.target].isna()
    bad_prediction = rows[spec.prediction].isna() & ~bad_target
    if regression:
        bad_prediction = ~np.isfinite(rows[spec.prediction]) & ~bad_target
    bad_probability = ~np.isfinite(rows[probability_columns]).all(axis=1)
    bad_probability &= ~bad_target & ~bad_prediction
    details = {
        "labelled_rows": len(rows),
        "dropped_invalid_target": int(bad_target.sum()),
        "dropped_invalid_prediction": int(bad_prediction.sum()),
        "dropped_invalid_probability": int(bad_probability.sum()),
    }
    usable = rows.loc[~(bad_target | bad_prediction | bad_probability)]
    return usable, {"rows": len(usable), **details}


def uniform_records(
    keys: Sequence[Key], verdict: Verdict, details: Mapping[str, Any]
) -> list[MetricRecord]:
    return [verdict_record(key, verdict, details) for key in keys]


def verdict_record(key: Key, verdict: Verdict, details: Mapping[str, Any]) -> MetricRecord:
    metric, column = key
    return MetricRecord(
        metric, None, verdict.status, column, details={**details, "reason": verdict.reason}
    )
