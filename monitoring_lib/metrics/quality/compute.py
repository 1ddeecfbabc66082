"""Model quality of one window, computed with Evidently 0.7 on the rows labelled so far.

Labels arrive late, so quality uses only rows whose target is present and records
``labels.coverage`` beside it. Evidently runs in one function (``run_report``); everything around
it is pure pandas that decides what may be computed and, when not, records why.

Definitions, as Evidently 0.7 computes them (the tests check each against scikit-learn):

* binary: accuracy, precision, recall and F1 of ``pos_label`` from the prediction column; ROC AUC
  and log loss from the positive-class probability (not from the thresholded labels).
* multiclass: dataset-level precision, recall and F1 are macro averages over every class seen in
  labels or predictions (sklearn ``average="macro"``: a class that was never labelled counts as
  recall 0, one never predicted as precision 0); ROC AUC is the macro one-vs-rest average and
  log loss the categorical cross-entropy. Per-class values have ``column`` = the class as a string.
* regression: RMSE, MAE, R2 as in sklearn; MAPE in percent (100 x sklearn's fraction). MAPE is
  skipped when a target is 0, where it is undefined.

Class labels are compared as strings, with integral floats written as ints, because a target
column with missing labels is float (``1.0``) while the predictions are int (``1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from evidently import (
    DataDefinition,
    Regression,
)
from evidently.metrics import (
    MAE,
    MAPE,
    RMSE,
    R2Score,
)

from monitoring_lib.metrics.quality.checks import (
    PER_CLASS_METRICS,
    PROBABILITY_METRICS,
    QualityColumns,
    Verdict,
    label_verdicts,
    probability_frame,
    probability_verdicts,
)
from monitoring_lib.metrics.quality.evidently_adapter import (
    MAPE_PREDICTED,
    MAPE_TRUTH,
    PREDICTED,
    TRUTH,
    Key,
    classification_plan,
    label_string,
    run_report,
)
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Task

_ERROR = MetricStatus.ERROR
_SKIPPED = MetricStatus.SKIPPED


_NEGATIVE = "__driftwise_negative__"
"""Name of the negative class when a binary window shows only the positive one."""

_LABEL_METRICS = (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1)
_REGRESSION_METRICS = (Metric.RMSE, Metric.MAE, Metric.MAPE, Metric.R2)


@dataclass(slots=True)
class _Outcome:
    """What one window yields: Evidently's values, and verdicts that override them."""

    keys: list[Key]
    values: dict[Key, float] = field(default_factory=dict)
    verdicts: dict[Key, Verdict] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    notes: dict[Key, str] = field(default_factory=dict)


def compute_quality(
    frame: pd.DataFrame,
    *,
    task: Task,
    target: str,
    prediction: str,
    probability: str | Mapping[Any, str] | None = None,
    pos_label: object = 1,
    min_labelled_rows: int = 30,
) -> list[MetricRecord]:
    """Quality records of one window plus its label coverage.

    ``frame`` is the window's predictions left-joined with the labels known so far. For binary,
    ``probability`` names the positive-class probability column; for multiclass it maps each class
    to its probability column. Bad configuration raises ValueError; bad data becomes a status.
    """
    spec = _spec(task, target, prediction, probability, pos_label, min_labelled_rows)
    keys = _dataset_keys(spec)
    missing = [column for column in (target, prediction) if column not in frame.columns]
    if target not in frame.columns:
        reason = f"window frame has no target column {target!r}"
        coverage = _verdict_record((Metric.LABEL_COVERAGE, DATASET), Verdict(_ERROR, reason), {})
    else:
        coverage = _label_coverage(frame, target)
    if missing:
        reason = f"window frame has no column {', '.join(map(repr, missing))}"
        return [coverage, *_uniform(keys, Verdict(_ERROR, reason), {})]
    rows, details = _usable_rows(frame, spec)
    minimum = max(min_labelled_rows, 2)  # one row has no spread: no ROC AUC, R2 or error std
    if len(rows) < minimum:
        reason = f"{len(rows)} labelled rows with usable predictions; quality needs {minimum}"
        return [
            coverage,
            *_uniform(keys, Verdict(MetricStatus.INSUFFICIENT_DATA, reason), details),
        ]
    if spec.task == "regression":
        outcome = _regression_outcome(rows, spec)
    else:
        outcome = _classification_outcome(rows, spec)
    return [coverage, *_records(outcome, {**details, **outcome.details})]


def _spec(
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


def _dataset_keys(spec: QualityColumns) -> list[Key]:
    if spec.task == "regression":
        return [(metric, DATASET) for metric in _REGRESSION_METRICS]
    metrics = _LABEL_METRICS + (PROBABILITY_METRICS if spec.probabilities else ())
    return [(metric, DATASET) for metric in metrics]


def _label_coverage(frame: pd.DataFrame, target: str) -> MetricRecord:
    labelled, window = int(frame[target].notna().sum()), len(frame)
    details = {"labelled_rows": labelled, "window_rows": window}
    if window == 0:
        verdict = Verdict(MetricStatus.INSUFFICIENT_DATA, "window has no rows")
        return _verdict_record((Metric.LABEL_COVERAGE, DATASET), verdict, details)
    return MetricRecord(Metric.LABEL_COVERAGE, labelled / window, details=details)


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _usable_rows(frame: pd.DataFrame, spec: QualityColumns) -> tuple[pd.DataFrame, dict[str, Any]]:
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


def _regression_outcome(rows: pd.DataFrame, spec: QualityColumns) -> _Outcome:
    truth, predicted = rows[spec.target], rows[spec.prediction]
    outcome = _Outcome(keys=_dataset_keys(spec))
    zero_targets = int((truth.abs() <= np.finfo(np.float64).eps).sum())
    if zero_targets:
        reason = f"{zero_targets} labelled rows have target 0, where MAPE is undefined"
        outcome.verdicts[(Metric.MAPE, DATASET)] = Verdict(_SKIPPED, reason)
    if truth.nunique() < 2:
        reason = "labelled targets are constant, so R2 is undefined (zero variance)"
        outcome.verdicts[(Metric.R2, DATASET)] = Verdict(_SKIPPED, reason)
    elif predicted.nunique() < 2:
        note = "predictions are constant: R2 <= 0 and measures only the offset from the mean"
        outcome.notes[(Metric.R2, DATASET)] = note
    # Evidently 0.7 divides by max(target, eps), so a negative target blows MAPE up; flipping
    # the sign of both target and prediction on those rows keeps |error| / |target| intact.
    sign = np.where(truth < 0, -1.0, 1.0)
    frame = pd.DataFrame(
        {
            TRUTH: truth.to_numpy(),
            PREDICTED: predicted.to_numpy(),
            MAPE_TRUTH: truth.abs().to_numpy(),
            MAPE_PREDICTED: predicted.to_numpy() * sign,
        }
    )
    definition = DataDefinition(
        numerical_columns=list(frame.columns),
        regression=[
            Regression(name="model", target=TRUTH, prediction=PREDICTED),
            Regression(name="mape", target=MAPE_TRUTH, prediction=MAPE_PREDICTED),
        ],
    )
    plan: list[tuple[Metric, Any]] = [
        (Metric.RMSE, RMSE(regression_name="model")),
        (Metric.MAE, MAE(regression_name="model")),
        (Metric.R2, R2Score(regression_name="model")),
    ]
    if not zero_targets:
        plan.append((Metric.MAPE, MAPE(regression_name="mape")))
    _run_safely(outcome, frame, definition, plan)
    return outcome


def _classification_outcome(rows: pd.DataFrame, spec: QualityColumns) -> _Outcome:
    truth = rows[spec.target].map(label_string)
    predicted = rows[spec.prediction].map(label_string)
    observed = sorted(set(truth) | set(predicted))
    binary = spec.task == "binary"
    classes = [] if binary else sorted(set(observed) | set(spec.probabilities))
    outcome = _Outcome(keys=_dataset_keys(spec) + _per_class_keys(classes, spec))
    outcome.details = _class_details(truth, predicted, classes)
    others = [label for label in observed if label != spec.pos_label]
    if binary and len(others) > 1:
        reason = (
            f"binary task expects one class besides pos_label {spec.pos_label!r}, "
            f"found {len(others)}: {others[:5]}"
        )
        outcome.verdicts = {key: Verdict(_ERROR, reason) for key in outcome.keys}
        return outcome
    probabilities = probability_frame(rows, spec, others[0] if others else _NEGATIVE)
    outcome.verdicts = label_verdicts(truth, predicted, classes, spec)
    outcome.verdicts |= probability_verdicts(truth, probabilities, classes, spec)
    blocked = outcome.verdicts.get((Metric.ROC_AUC, DATASET))
    if blocked is not None and blocked.status is _ERROR:
        probabilities = None
    # Evidently 0.7 takes a multiclass window with two observed classes for binary and fails on
    # pos_label, so such a window is declared binary and its macro averages come from by-class.
    labels_pos = spec.pos_label if binary else (observed[0] if len(observed) == 2 else None)
    frame, definition, plan = classification_plan(
        truth,
        predicted,
        probabilities,
        labels_pos=labels_pos,
        probabilities_pos=spec.pos_label if binary else None,
        per_class=not binary,
    )
    _run_safely(outcome, frame, definition, plan)
    if not binary and len(observed) == 2:
        outcome.values |= _macro_from_per_class(outcome.values, observed)
    return outcome


def _per_class_keys(classes: Sequence[str], spec: QualityColumns) -> list[Key]:
    keys = [(metric, label) for label in classes for metric in PER_CLASS_METRICS]
    return keys + [(Metric.ROC_AUC, label) for label in classes if label in spec.probabilities]


def _class_details(
    truth: pd.Series, predicted: pd.Series, classes: Sequence[str]
) -> dict[str, Any]:
    """Classes that bend the macro averages, named so a dashboard can explain a dip."""
    details: dict[str, Any] = {}
    unlabelled = sorted(set(classes) - set(truth))
    unpredicted = sorted(set(classes) - set(predicted))
    if unlabelled:
        details["classes_without_labels"] = unlabelled
    if unpredicted:
        details["classes_never_predicted"] = unpredicted
    return details


def _run_safely(
    outcome: _Outcome,
    frame: pd.DataFrame,
    definition: DataDefinition,
    plan: list[tuple[Metric, Any]],
) -> None:
    """Evidently's failures become ERROR records: one bad window must not stop the flow."""
    try:
        outcome.values |= run_report(frame, definition, plan)
    except Exception as error:
        reason = f"Evidently failed: {type(error).__name__}: {error}"
        for key in outcome.keys:
            outcome.verdicts.setdefault(key, Verdict(_ERROR, reason))


def _macro_from_per_class(values: Mapping[Key, float], classes: Sequence[str]) -> dict[Key, float]:
    """sklearn's macro average; a class Evidently reports nothing for (never labelled) counts 0."""
    return {
        (metric, DATASET): sum(values.get((metric, label), 0.0) for label in classes) / len(classes)
        for metric in PER_CLASS_METRICS
    }


def _records(outcome: _Outcome, details: Mapping[str, Any]) -> list[MetricRecord]:
    records = []
    for key in outcome.keys:
        verdict, value = outcome.verdicts.get(key), outcome.values.get(key)
        if verdict is None and (value is None or not math.isfinite(value)):
            verdict = Verdict(_ERROR, "Evidently returned no finite value")
        if verdict is not None or value is None:
            records.append(_verdict_record(key, verdict or Verdict(_ERROR, "no value"), details))
            continue
        note = {"note": outcome.notes[key]} if key in outcome.notes else {}
        records.append(MetricRecord(key[0], value, column=key[1], details={**details, **note}))
    return records


def _uniform(
    keys: Sequence[Key], verdict: Verdict, details: Mapping[str, Any]
) -> list[MetricRecord]:
    return [_verdict_record(key, verdict, details) for key in keys]


def _verdict_record(key: Key, verdict: Verdict, details: Mapping[str, Any]) -> MetricRecord:
    metric, column = key
    return MetricRecord(
        metric, None, verdict.status, column, details={**details, "reason": verdict.reason}
    )
