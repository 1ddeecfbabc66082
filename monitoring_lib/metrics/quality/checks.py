"""What quality may be computed in a window, and why not when it may not.

Labels arrive late and windows are small, so many metrics are 0/0 somewhere: no row predicted
positive, a class never labelled, probabilities that do not sum to 1. Each becomes a verdict with
a status and a reason instead of the 0 that scikit-learn (and so Evidently) would report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_lib.metrics.quality.evidently_adapter import Key
from monitoring_lib.records import DATASET, Metric, MetricStatus
from monitoring_lib.spec.base import Task

_ROW_SUM_TOLERANCE = 1e-4
"""Loose enough for float32 softmax output, tight enough to catch unnormalised scores."""


_ERROR = MetricStatus.ERROR


_SKIPPED = MetricStatus.SKIPPED


PROBABILITY_METRICS = (Metric.ROC_AUC, Metric.LOG_LOSS)


PER_CLASS_METRICS = (Metric.PRECISION, Metric.RECALL, Metric.F1)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a value is not stored: becomes a record with this status and ``details['reason']``."""

    status: MetricStatus
    reason: str


@dataclass(frozen=True, slots=True)
class QualityColumns:
    task: Task
    target: str
    prediction: str
    probabilities: dict[str, str]
    """Class label (as a string) -> probability column; binary holds only the positive class."""
    pos_label: str


def probability_frame(
    rows: pd.DataFrame, spec: QualityColumns, negative: str
) -> pd.DataFrame | None:
    """Probabilities named by class, as Evidently wants them; None if none configured or found."""
    if not spec.probabilities or not set(spec.probabilities.values()) <= set(rows.columns):
        return None
    if spec.task == "binary":
        positive = rows[spec.probabilities[spec.pos_label]].to_numpy()
        return pd.DataFrame({spec.pos_label: positive, negative: 1.0 - positive})
    return pd.DataFrame(
        {label: rows[column].to_numpy() for label, column in spec.probabilities.items()}
    )


def label_verdicts(
    truth: pd.Series, predicted: pd.Series, classes: Sequence[str], spec: QualityColumns
) -> dict[Key, Verdict]:
    """Label metrics that are 0/0 here: sklearn would report 0 and Evidently passes that on."""
    verdicts: dict[Key, Verdict] = {}
    labelled, guessed = set(truth), set(predicted)
    if spec.task == "binary":
        positive = spec.pos_label
        if positive not in guessed:
            reason = f"no row was predicted as {positive!r}, so precision is undefined"
            verdicts[(Metric.PRECISION, DATASET)] = Verdict(_SKIPPED, reason)
        if positive not in labelled:
            reason = f"no labelled row is {positive!r}, so recall is undefined"
            verdicts[(Metric.RECALL, DATASET)] = Verdict(_SKIPPED, reason)
        if positive not in labelled | guessed:
            reason = f"neither labels nor predictions contain {positive!r}, so F1 is undefined"
            verdicts[(Metric.F1, DATASET)] = Verdict(_SKIPPED, reason)
    for label in classes:
        if label not in labelled:
            reason = f"class {label!r} has no labelled rows in this window"
            verdicts |= {(metric, label): Verdict(_SKIPPED, reason) for metric in PER_CLASS_METRICS}
        elif label not in guessed:
            reason = f"class {label!r} was never predicted, so its precision is undefined"
            verdicts[(Metric.PRECISION, label)] = Verdict(_SKIPPED, reason)
    return verdicts


def probability_verdicts(
    truth: pd.Series,
    probabilities: pd.DataFrame | None,
    classes: Sequence[str],
    spec: QualityColumns,
) -> dict[Key, Verdict]:
    if not spec.probabilities:
        return {}
    mapped = sorted(spec.probabilities) if classes else []
    keys = [(metric, DATASET) for metric in PROBABILITY_METRICS]
    keys += [(Metric.ROC_AUC, label) for label in mapped]
    unknown = sorted(set(truth) - set(mapped)) if classes else []
    if probabilities is None:
        reason = f"window frame lacks probability columns {sorted(spec.probabilities.values())}"
    elif (outside := int(((probabilities < 0) | (probabilities > 1)).to_numpy().sum())) > 0:
        reason = f"{outside} probabilities lie outside [0, 1]"
    elif unknown:
        reason = f"labels contain classes with no probability column: {unknown[:5]}"
    else:
        return _undefined_probability_verdicts(truth, probabilities, mapped)
    return {key: Verdict(_ERROR, reason) for key in keys}


def _undefined_probability_verdicts(
    truth: pd.Series, probabilities: pd.DataFrame, mapped: Sequence[str]
) -> dict[Key, Verdict]:
    """ROC AUC needs every scored class among the labels; log loss needs rows that sum to 1."""
    verdicts: dict[Key, Verdict] = {}
    if truth.nunique() < 2:
        verdicts[(Metric.ROC_AUC, DATASET)] = Verdict(_SKIPPED, "only one class present in labels")
    absent = sorted(set(mapped) - set(truth))
    if absent:
        reason = f"classes {absent[:5]} have no labelled rows, so one-vs-rest ROC AUC is undefined"
        verdicts[(Metric.ROC_AUC, DATASET)] = Verdict(_SKIPPED, reason)
        for label in mapped:
            # Evidently 0.7 computes per-class ROC AUC for all classes at once or not at all.
            why = reason if label in absent else f"not computed because {reason}"
            verdicts[(Metric.ROC_AUC, label)] = Verdict(_SKIPPED, why)
    off = int((np.abs(probabilities.sum(axis=1) - 1.0) > _ROW_SUM_TOLERANCE).sum())
    if mapped and off:
        reason = f"probabilities of {off} rows do not sum to 1, so log loss is meaningless"
        verdicts[(Metric.LOG_LOSS, DATASET)] = Verdict(_ERROR, reason)
    return verdicts
