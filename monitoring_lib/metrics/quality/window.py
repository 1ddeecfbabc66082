"""A window's stored quality computed from its counts: the records Evidently's path gives (same
names, statuses and reasons, see ``compute``), each value with its interval, and the counts
themselves, which the store keeps so that rules can pool windows.

The counts path takes 2-17 ms where a window's Evidently report takes 0.2-0.4 s (1,500 rows,
``benchmarks/bench_quality_window.py``), and a run rescores a week of windows when late labels
arrive. ROC AUC is stored exact (scikit-learn's,
as Evidently's is) with the interval of the binned counts around it; the counts' own binned
value, within 0.005, is what pooled rules use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from monitoring_lib.metrics.quality.checks import QualityColumns, Verdict
from monitoring_lib.metrics.quality.compute import (
    ClassificationChecks,
    _Outcome,
    _records,
    classification_checks,
    regression_checks,
)
from monitoring_lib.metrics.quality.counts import QualityCounts, classification_counts
from monitoring_lib.metrics.quality.evidently_adapter import Key
from monitoring_lib.metrics.quality.intervals import QualityValue, bounded
from monitoring_lib.metrics.quality.regression import regression_counts
from monitoring_lib.metrics.quality.rows import prepare_quality, quality_columns
from monitoring_lib.metrics.quality.values import quality_values
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Task


@dataclass(frozen=True)
class WindowQuality:
    records: list[MetricRecord]
    """Label coverage and every quality metric, as ``compute_quality`` names them."""
    counts: QualityCounts | None
    """Counts of the window's usable labelled rows, kept even below the per-window minimum
    (a pooled rule adds them up); None when the rows cannot be counted (columns absent, or a
    binary window with a third class)."""


def window_quality(
    frame: pd.DataFrame,
    *,
    task: Task,
    target: str,
    prediction: str,
    probability: str | Mapping[Any, str] | None = None,
    pos_label: object = 1,
    min_labelled_rows: int = 30,
    level: float = 0.95,
) -> WindowQuality:
    """``compute_quality``'s records from counts, with ``level`` intervals in their details."""
    spec = quality_columns(task, target, prediction, probability, pos_label, min_labelled_rows)
    prepared = prepare_quality(frame, spec, min_labelled_rows)
    counts = None if prepared.rows is None else realised_counts(prepared.rows, spec)
    if prepared.early is not None or prepared.rows is None:
        return WindowQuality(prepared.early or [], counts)
    if spec.task == "regression":
        outcome = regression_checks(prepared.rows, spec)
        values = quality_values(counts, level=level) if counts is not None else ()
    else:
        checks = classification_checks(prepared.rows, spec)
        outcome = checks.outcome
        binary = spec.task == "binary"
        values = (
            ()
            if checks.refused or counts is None
            else _with_exact_auc(checks, counts, binary, level)
        )
    intervals = _fill(outcome, values)
    records = _records(outcome, {**prepared.details, **outcome.details})
    return WindowQuality([prepared.coverage, *_with_intervals(records, intervals)], counts)


def realised_counts(rows: pd.DataFrame, spec: QualityColumns) -> QualityCounts | None:
    """Counts of usable labelled rows (``rows.usable_rows``); scores only when all are valid."""
    if spec.task == "regression":
        return regression_counts(rows[spec.target].to_numpy(), rows[spec.prediction].to_numpy())
    scores: Any = _scores(rows, spec)
    if spec.task == "binary" and scores is not None:
        scores = scores[spec.pos_label]
    positive = spec.pos_label if spec.task == "binary" else None
    try:
        return classification_counts(
            rows[spec.target].to_numpy(), rows[spec.prediction].to_numpy(), scores,
            positive=positive,
        )  # fmt: skip
    except ValueError:  # a binary window with a third class: its records say so
        return None


def _scores(rows: pd.DataFrame, spec: QualityColumns) -> dict[str, Any] | None:
    """Class -> probabilities, when every configured column is present and within [0, 1]."""
    if not spec.probabilities or not set(spec.probabilities.values()) <= set(rows.columns):
        return None
    scores = {
        label: rows[column].to_numpy(np.float64) for label, column in spec.probabilities.items()
    }
    if any(((s < 0) | (s > 1)).any() for s in scores.values()):
        return None
    return scores


def _with_exact_auc(
    checks: ClassificationChecks, counts: QualityCounts, binary: bool, level: float
) -> tuple[QualityValue, ...]:
    """The counts' values with ROC AUC replaced by scikit-learn's exact one (same interval)."""
    values = quality_values(counts, level=level)
    exact = _exact_aucs(checks, binary)
    if not exact:
        return values
    return tuple(
        _exact(value, exact[value.column])
        if value.metric == Metric.ROC_AUC and value.column in exact
        else value
        for value in values
    )


def _exact_aucs(checks: ClassificationChecks, binary: bool) -> dict[str, float]:
    """Exact one-vs-rest ROC AUC per scored class (binary: at dataset level) and their mean."""
    probabilities = checks.probabilities
    if probabilities is None:
        return {}
    truth = checks.truth.to_numpy()
    labels = list(probabilities.columns)[:1] if binary else list(probabilities.columns)
    aucs = {}
    for label in labels:
        positive = truth == label
        if 0 < positive.sum() < len(positive):
            aucs[label] = float(roc_auc_score(positive, probabilities[label].to_numpy()))
    if binary:
        return {DATASET: aucs[labels[0]]} if aucs else {}
    if len(aucs) == len(labels):
        aucs[DATASET] = sum(aucs.values()) / len(aucs)
    return aucs


def _exact(value: QualityValue, auc: float) -> QualityValue:
    if value.value is None or value.se is None:
        rows = float(value.rows)
        return QualityValue(
            value.metric, value.column, auc, None, None, None, rows, "", value.level
        )
    return bounded(value.metric, value.column, auc, value.se, value.rows, value.level, value.method)


def _fill(outcome: _Outcome, values: Sequence[QualityValue]) -> dict[Key, QualityValue]:
    """Values into ``outcome`` where no verdict stands; the counts' reason where none is given."""
    found = {(value.metric, value.column): value for value in values}
    used: dict[Key, QualityValue] = {}
    for key in outcome.keys:
        if key in outcome.verdicts:
            continue
        value = found.get(key)
        if value is None or value.value is None:
            why = value.reason if value is not None else "not computable from the counts"
            outcome.verdicts[key] = Verdict(MetricStatus.SKIPPED, why)
        elif not math.isfinite(value.value):
            outcome.verdicts[key] = Verdict(MetricStatus.ERROR, "not a finite number (overflow)")
        else:
            outcome.values[key], used[key] = value.value, value
    return used


def _with_intervals(
    records: Sequence[MetricRecord], intervals: Mapping[Key, QualityValue]
) -> list[MetricRecord]:
    result = []
    for record in records:
        interval = intervals.get((Metric(record.metric), record.column))
        if record.status is MetricStatus.OK and interval is not None and interval.se is not None:
            record = replace(record, details={**record.details, **interval.details()})
        result.append(record)
    return result
