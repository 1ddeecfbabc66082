"""The one place quality meets Evidently: build the metric plan, run it, read results by id.

Results are read by metric id and class label, never by list position, so a new Evidently
release that reorders its output cannot shift values between metrics."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from evidently import (
    BinaryClassification,
    DataDefinition,
    Dataset,
    MulticlassClassification,
    Report,
)
from evidently.core.metric_types import ByLabelValue, MeanStdValue, SingleValue
from evidently.metrics import (
    Accuracy,
    F1ByLabel,
    F1Score,
    LogLoss,
    Precision,
    PrecisionByLabel,
    Recall,
    RecallByLabel,
    RocAuc,
    RocAucByLabel,
)

from monitoring_lib.records import DATASET, Metric

Key = tuple[Metric, str]
"""(metric, column) of one quality value; column is DATASET or a class label."""


TRUTH = "__driftwise_target__"


PREDICTED = "__driftwise_prediction__"


MAPE_TRUTH = "__driftwise_abs_target__"


MAPE_PREDICTED = "__driftwise_signed_prediction__"


def label_string(label: object) -> str:
    if isinstance(label, float | np.floating) and float(label).is_integer():
        return str(int(label))
    return str(label)


def classification_plan(
    truth: pd.Series,
    predicted: pd.Series,
    probabilities: pd.DataFrame | None,
    *,
    labels_pos: str | None,
    probabilities_pos: str | None,
    per_class: bool,
) -> tuple[pd.DataFrame, DataDefinition, list[tuple[Metric, Any]]]:
    """Two Evidently tasks on one frame: label metrics from the prediction column, ROC AUC and
    log loss from the probabilities (one task would derive labels from the probabilities)."""
    frame = pd.DataFrame({TRUTH: truth.to_numpy(), PREDICTED: predicted.to_numpy()})
    tasks = [_classification_task("labels", labels_pos, prediction_labels=PREDICTED)]
    plan: list[tuple[Metric, Any]] = [
        (Metric.ACCURACY, Accuracy(classification_name="labels")),
        (Metric.PRECISION, Precision(classification_name="labels")),
        (Metric.RECALL, Recall(classification_name="labels")),
        (Metric.F1, F1Score(classification_name="labels")),
    ]
    if per_class:
        plan += [
            (Metric.PRECISION, PrecisionByLabel(classification_name="labels")),
            (Metric.RECALL, RecallByLabel(classification_name="labels")),
            (Metric.F1, F1ByLabel(classification_name="labels")),
        ]
    if probabilities is not None:
        frame = pd.concat([frame, probabilities], axis=1)
        columns = list(probabilities.columns)
        tasks.append(_classification_task("probas", probabilities_pos, prediction_probas=columns))
        plan += [
            (Metric.ROC_AUC, RocAuc(classification_name="probas")),
            (Metric.LOG_LOSS, LogLoss(classification_name="probas")),
        ]
        if per_class and probabilities_pos is None and set(columns) <= set(truth):
            plan.append((Metric.ROC_AUC, RocAucByLabel(classification_name="probas")))
    definition = DataDefinition(
        categorical_columns=[TRUTH, PREDICTED],
        numerical_columns=list(frame.columns[2:]),
        classification=tasks,
    )
    return frame, definition, plan


def _classification_task(name: str, pos_label: str | None, **columns: Any) -> Any:
    if pos_label is None:
        return MulticlassClassification(name=name, target=TRUTH, **columns)
    return BinaryClassification(name=name, target=TRUTH, pos_label=pos_label, **columns)


def run_report(
    frame: pd.DataFrame, definition: DataDefinition, plan: list[tuple[Metric, Any]]
) -> dict[Key, float]:
    """The one Evidently call: run the planned metrics and read each result by its metric id."""
    dataset = Dataset.from_pandas(frame, data_definition=definition)
    with warnings.catch_warnings():
        # sklearn warns on the 0/0 cases that this module already reports as SKIPPED.
        warnings.simplefilter("ignore")
        snapshot = Report([evidently_metric for _, evidently_metric in plan]).run(dataset, None)
    values: dict[Key, float] = {}
    for metric, evidently_metric in plan:
        values |= _read_result(metric, snapshot.metric_results[evidently_metric.metric_id])
    return values


def _read_result(metric: Metric, result: object) -> dict[Key, float]:
    if isinstance(result, ByLabelValue):
        return {(metric, label_string(label)): float(v.value) for label, v in result.values.items()}
    if isinstance(result, MeanStdValue):
        return {(metric, DATASET): float(result.mean.value)}
    if isinstance(result, SingleValue):
        return {(metric, DATASET): float(result.value)}
    raise TypeError(f"unexpected Evidently result {type(result).__name__} for {metric}")
