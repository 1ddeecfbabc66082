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
from monitoring_lib.metrics.quality.rows import (
    dataset_keys,
    prepare_quality,
    quality_columns,
    verdict_record,
)
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Task

_ERROR = MetricStatus.ERROR
_SKIPPED = MetricStatus.SKIPPED


_NEGATIVE = "__driftwise_negative__"
"""Name of the negative class when a binary window shows only the positive one."""


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
    spec = quality_columns(task, target, prediction, probability, pos_label, min_labelled_rows)
    prepared = prepare_quality(frame, spec, min_labelled_rows)
    if prepared.early is not None or prepared.rows is None:
        return prepared.early or []
    if spec.task == "regression":
        outcome = _regression_outcome(prepared.rows, spec)
    else:
        outcome = _classification_outcome(prepared.rows, spec)
    return [prepared.coverage, *_records(outcome, {**prepared.details, **outcome.details})]


def regression_checks(rows: pd.DataFrame, spec: QualityColumns) -> _Outcome:
    """The regression keys, with verdicts where a metric is undefined and notes where odd."""
    truth, predicted = rows[spec.target], rows[spec.prediction]
    outcome = _Outcome(keys=dataset_keys(spec))
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
    return outcome


def _regression_outcome(rows: pd.DataFrame, spec: QualityColumns) -> _Outcome:
    truth, predicted = rows[spec.target], rows[spec.prediction]
    outcome = regression_checks(rows, spec)
    zero_targets = (Metric.MAPE, DATASET) in outcome.verdicts
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


@dataclass(slots=True)
class ClassificationChecks:
    """What may be computed in a classification window: keys, verdicts, and the rows to score."""

    outcome: _Outcome
    truth: pd.Series
    """Labels as strings."""
    predicted: pd.Series
    observed: list[str]
    """Classes seen in labels or predictions, sorted."""
    probabilities: pd.DataFrame | None
    """Probabilities named by class; None when absent or refused by an error verdict."""
    refused: bool = False
    """A binary window with more than two classes: every key is an error already."""


def classification_checks(rows: pd.DataFrame, spec: QualityColumns) -> ClassificationChecks:
    truth = rows[spec.target].map(label_string)
    predicted = rows[spec.prediction].map(label_string)
    observed = sorted(set(truth) | set(predicted))
    binary = spec.task == "binary"
    classes = [] if binary else sorted(set(observed) | set(spec.probabilities))
    outcome = _Outcome(keys=dataset_keys(spec) + _per_class_keys(classes, spec))
    outcome.details = _class_details(truth, predicted, classes)
    others = [label for label in observed if label != spec.pos_label]
    if binary and len(others) > 1:
        reason = (
            f"binary task expects one class besides pos_label {spec.pos_label!r}, "
            f"found {len(others)}: {others[:5]}"
        )
        outcome.verdicts = {key: Verdict(_ERROR, reason) for key in outcome.keys}
        return ClassificationChecks(outcome, truth, predicted, observed, None, refused=True)
    probabilities = probability_frame(rows, spec, others[0] if others else _NEGATIVE)
    outcome.verdicts = label_verdicts(truth, predicted, classes, spec)
    outcome.verdicts |= probability_verdicts(truth, probabilities, classes, spec)
    blocked = outcome.verdicts.get((Metric.ROC_AUC, DATASET))
    if blocked is not None and blocked.status is _ERROR:
        probabilities = None
    return ClassificationChecks(outcome, truth, predicted, observed, probabilities)


def _classification_outcome(rows: pd.DataFrame, spec: QualityColumns) -> _Outcome:
    checks = classification_checks(rows, spec)
    outcome, observed = checks.outcome, checks.observed
    if checks.refused:
        return outcome
    binary = spec.task == "binary"
    # Evidently 0.7 takes a multiclass window with two observed classes for binary and fails on
    # pos_label, so such a window is declared binary and its macro averages come from by-class.
    labels_pos = spec.pos_label if binary else (observed[0] if len(observed) == 2 else None)
    frame, definition, plan = classification_plan(
        checks.truth,
        checks.predicted,
        checks.probabilities,
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
            records.append(verdict_record(key, verdict or Verdict(_ERROR, "no value"), details))
            continue
        note = {"note": outcome.notes[key]} if key in outcome.notes else {}
        records.append(MetricRecord(key[0], value, column=key[1], details={**details, **note}))
    return records
