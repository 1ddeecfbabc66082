"""Every stored quality metric from sufficient statistics, with a standard error and an interval.

Definitions equal ``monitoring_lib.quality`` (Evidently 0.7, i.e. scikit-learn): binary
precision/recall/F1 of the positive class, multiclass macro averages over the classes seen in
labels or predictions, ROC AUC one-vs-rest (macro), log loss clipped at machine epsilon, MAPE in
percent. Intervals:

* proportions (accuracy; precision and recall of one class): Wilson score interval;
* F1 and macro averages: delta method on the multinomial confusion counts, on the logit scale;
* ROC AUC: DeLong's variance computed on the binned scores, logit scale; the multiclass macro
  average takes the bound of perfectly correlated classes (conservative, see ``_macro_auc``).
  A class's own ROC AUC is given whenever it has rows of both sides, where quality.py
  (Evidently) gives every class's or none;
* log loss: central limit theorem on the log scale; regression (``regression``): central
  limit theorem and delta method (RMSE from MSE's interval, R2).

Expected counts (``estimation``) give ``estimated.*`` values whose ``se`` is the
spread of the estimate from window to window (what a CUSUM standardises by) and whose interval
is where the window's realised value should fall if the calibration holds (see ``_spreads``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from monitoring_lib.metrics.quality.counts import ClassificationCounts, FloatArray, QualityCounts
from monitoring_lib.metrics.quality.intervals import (
    QualityValue,
    bounded,
    missing,
    wald,
    wilson_bounds,
    z_value,
)
from monitoring_lib.metrics.quality.regression import RegressionCounts, regression_values
from monitoring_lib.records import DATASET, Metric

ESTIMATED = "estimated"
"""Prefix of estimated metrics: ``estimated.accuracy`` for ``quality.accuracy``."""


# Confusion-matrix metrics: value and gradient with respect to the cell proportions P = C / n.
Gradient = tuple[float, FloatArray]


def _accuracy(p: FloatArray) -> Gradient:
    return float(np.trace(p)), np.eye(len(p))


def _ratio(p: FloatArray, c: int, *, row: bool, column: bool, numerator: float = 1.0) -> Gradient:
    """numerator * P[c, c] over the class's labelled (row) or predicted (column) share, or both."""
    denominator = (p[c, :].sum() if row else 0.0) + (p[:, c].sum() if column else 0.0)
    grad = np.zeros_like(p)
    if denominator <= 0:
        return 0.0, grad
    value = numerator * p[c, c] / denominator
    if row:
        grad[c, :] -= value / denominator
    if column:
        grad[:, c] -= value / denominator
    grad[c, c] += numerator / denominator
    return float(value), grad


def _precision(p: FloatArray, c: int) -> Gradient:
    return _ratio(p, c, row=False, column=True)


def _recall(p: FloatArray, c: int) -> Gradient:
    return _ratio(p, c, row=True, column=False)


def _f1(p: FloatArray, c: int) -> Gradient:
    """2 TP / (labelled + predicted)."""
    return _ratio(p, c, row=True, column=True, numerator=2.0)


def _macro(p: FloatArray, one: Callable[[FloatArray, int], Gradient]) -> Gradient:
    """sklearn's macro average over classes seen in labels or predictions (0/0 counts as 0)."""
    seen = [c for c in range(len(p)) if p[c, :].sum() + p[:, c].sum() > 0]
    parts = [one(p, c) for c in seen]
    value = sum(v for v, _ in parts) / len(seen)
    return value, sum((g for _, g in parts), np.zeros_like(p)) / len(seen)


def _spreads(counts: ClassificationCounts, grad: FloatArray) -> tuple[float, float]:
    """Delta-method variances of f(C / n): between windows (rows drawn anew), and of the
    realised value around the expected one given the rows (labels drawn from the calibrated
    probabilities; zero for realised counts).

    Each row adds p (its class probabilities) to the column of its predicted class, so with
    Q[j] = sum over rows predicted j of p p^T: between = (sum_j g_j'Q_j g_j / n - (g.C / n)^2) / n
    and labels = (sum g^2 C - sum_j g_j'Q_j g_j) / n^2.
    """
    n = counts.rows
    moments = counts.column_moments()
    quadratic = float(sum(grad[:, j] @ moments[j] @ grad[:, j] for j in range(len(grad))))
    mean = float((grad * counts.confusion).sum()) / n
    between = max(quadratic / n - mean**2, 0.0) / n
    labels = max(float((grad**2 * counts.confusion).sum()) - quadratic, 0.0) / n**2
    return between, labels


def _confusion_value(
    counts: ClassificationCounts,
    metric: Metric,
    column: str,
    gradient: Gradient,
    wilson: tuple[float, float] | None,
    level: float,
) -> QualityValue:
    """Realised: Wilson (a proportion) or the logit-scale delta method; expected: see module."""
    value, grad = gradient
    between, labels = _spreads(counts, grad)
    name = _name(counts, metric)
    if counts.expected:
        half = z_value(level) * math.sqrt(labels)
        lower, upper = max(value - half, 0.0), min(value + half, 1.0)
        rows = float(wilson[1]) if wilson else counts.rows
        return QualityValue(
            name, column, value, math.sqrt(between), lower, upper, rows, "cbpe", level
        )
    if wilson is None:
        return bounded(name, column, value, math.sqrt(between), counts.rows, level, "delta")
    successes, rows = float(wilson[0]), float(wilson[1])
    lower, upper = wilson_bounds(successes, rows, level)
    se = math.sqrt(value * (1 - value) / rows)
    return QualityValue(
        name, column, value, se, lower, upper, rows, "wilson", level, proportion=True
    )


def _name(counts: ClassificationCounts, metric: Metric) -> str:
    return metric.value.replace("quality.", f"{ESTIMATED}.", 1) if counts.expected else metric.value


def _reasons(label: str, binary: bool) -> tuple[str, str, str]:
    """Why precision, recall, F1 are undefined, in quality.py's words."""
    if binary:
        return (
            f"no row was predicted as {label!r}, so precision is undefined",
            f"no labelled row is {label!r}, so recall is undefined",
            f"neither labels nor predictions contain {label!r}, so F1 is undefined",
        )
    unlabelled = f"class {label!r} has no labelled rows in this window"
    return (
        f"class {label!r} was never predicted, so its precision is undefined",
        unlabelled,
        unlabelled,
    )


def _class_values(
    counts: ClassificationCounts, c: int, column: str, level: float
) -> list[QualityValue]:
    """Precision, recall and F1 of class ``c`` (binary: the positive class, at dataset level)."""
    p, binary = counts.confusion / counts.rows, column == DATASET
    labelled, predicted = counts.confusion[c, :].sum(), counts.confusion[:, c].sum()
    tp = counts.confusion[c, c]
    defined = (
        predicted > 0 and (binary or labelled > 0),
        labelled > 0,
        labelled + predicted > 0 if binary else labelled > 0,
    )
    plans = (
        (Metric.PRECISION, _precision(p, c), (tp, predicted)),
        (Metric.RECALL, _recall(p, c), (tp, labelled)),
        (Metric.F1, _f1(p, c), None),
    )
    reasons = _reasons(counts.classes[c], binary)
    if not binary and labelled <= 0:
        reasons = (reasons[1],) * 3
    return [
        _confusion_value(counts, metric, column, gradient, wilson, level)
        if ok
        else missing(_name(counts, metric), column, level, why)
        for (metric, gradient, wilson), ok, why in zip(plans, defined, reasons, strict=True)
    ]


def _label_values(counts: ClassificationCounts, level: float) -> list[QualityValue]:
    """Accuracy, precision, recall and F1 of the window, then per class for multiclass."""
    p = counts.confusion / counts.rows
    accuracy = _confusion_value(
        counts,
        Metric.ACCURACY,
        DATASET,
        _accuracy(p),
        (np.trace(counts.confusion), counts.rows),
        level,
    )
    if counts.positive is not None:
        return [
            accuracy,
            *_class_values(counts, counts.classes.index(counts.positive), DATASET, level),
        ]
    macro = [
        _confusion_value(counts, metric, DATASET, _macro(p, one), None, level)
        for metric, one in (
            (Metric.PRECISION, _precision),
            (Metric.RECALL, _recall),
            (Metric.F1, _f1),
        )
    ]
    per_class = [
        v for c, label in enumerate(counts.classes) for v in _class_values(counts, c, label, level)
    ]
    return [accuracy, *macro, *per_class]


def _delong(positive: FloatArray, negative: FloatArray) -> tuple[float, float | None]:
    """ROC AUC of binned scores (ties count half) and DeLong's standard error on the same bins:
    every row in a bin shares one placement value, so the histograms carry all DeLong needs."""
    m, n = float(positive.sum()), float(negative.sum())
    below = np.cumsum(negative) - negative
    above = m - np.cumsum(positive)
    v10 = (below + 0.5 * negative) / n
    v01 = (above + 0.5 * positive) / m
    auc = float((positive * v10).sum() / m)
    if m <= 1 or n <= 1:
        return auc, None
    s10 = float((positive * (v10 - auc) ** 2).sum()) / (m - 1)
    s01 = float((negative * (v01 - auc) ** 2).sum()) / (n - 1)
    return auc, math.sqrt(s10 / m + s01 / n)


def _auc_value(counts: ClassificationCounts, s: int, column: str, level: float) -> QualityValue:
    name = _name(counts, Metric.ROC_AUC)
    positive, negative = counts.score_positive[s], counts.score_negative[s]
    if positive.sum() <= 0 or negative.sum() <= 0:
        return missing(name, column, level, "only one class present in labels")
    auc, se = _delong(positive, negative)
    if se is None:
        return missing(name, column, level, "ROC AUC needs two rows of each class")
    rows = float(positive.sum() + negative.sum())
    # Expected counts: DeLong on probability-weighted histograms, an approximation of the spread.
    return bounded(
        name, column, auc, se, rows, level, "cbpe-delong" if counts.expected else "delong"
    )


def _unscored(counts: ClassificationCounts) -> list[str]:
    labelled = [c for i, c in enumerate(counts.classes) if counts.confusion[i, :].sum() > 0]
    return sorted(set(labelled) - set(counts.scored))


def _probability_values(counts: ClassificationCounts, level: float) -> list[QualityValue]:
    """ROC AUC (per scored class, and their macro average) and log loss."""
    name, loss_name = _name(counts, Metric.ROC_AUC), _name(counts, Metric.LOG_LOSS)
    if not counts.scored or counts.scored_rows <= 0:
        why = "no probability columns in these rows"
        return [missing(name, DATASET, level, why), missing(loss_name, DATASET, level, why)]
    if counts.positive is not None:
        dataset = [_auc_value(counts, 0, DATASET, level), _log_loss(counts, loss_name, level)]
        return dataset[:1] if counts.expected else dataset
    per_class = [_auc_value(counts, s, label, level) for s, label in enumerate(counts.scored)]
    unscored = _unscored(counts)
    if unscored:
        why = f"labels contain classes with no probability column: {unscored[:5]}"
        dataset = [missing(name, DATASET, level, why), missing(loss_name, DATASET, level, why)]
    else:
        dataset = [_macro_auc(per_class, name, level)]
        if not counts.expected:
            dataset.append(_log_loss(counts, loss_name, level))
    return [*dataset, *per_class]


def _macro_auc(per_class: list[QualityValue], name: str, level: float) -> QualityValue:
    """The mean of one-vs-rest AUCs. The classes' AUCs are correlated in ways their marginal
    histograms do not show, so the standard error is the bound of perfect correlation (the mean
    of theirs): independence undercovers (88% for a 95% interval, 4 classes, 300 rows) while the
    bound overcovers (99.9%); a conservative interval, and a CUSUM on it is slower."""
    absent = [v.column for v in per_class if v.value is None]
    if absent:
        why = f"classes {absent[:5]} have no labelled rows, so one-vs-rest ROC AUC is undefined"
        return missing(name, DATASET, level, why)
    value = sum(v.value or 0.0 for v in per_class) / len(per_class)
    se = sum(v.se or 0.0 for v in per_class) / len(per_class)
    rows = max(v.rows for v in per_class)
    return bounded(name, DATASET, value, se, rows, level, f"{per_class[0].method}-bound")


def _log_loss(counts: ClassificationCounts, name: str, level: float) -> QualityValue:
    """Mean cross-entropy; the interval is Wald's on the log scale, as the terms are skewed
    (plain Wald covers 93% at 165 rows, the log scale 94%)."""
    rows = counts.log_loss_rows
    if rows < 2:
        return missing(name, DATASET, level, "log loss needs two rows with probabilities")
    mean = counts.log_loss_sum / rows
    variance = max(counts.log_loss_sum_sq / rows - mean**2, 0.0) * rows / (rows - 1)
    se = math.sqrt(variance / rows)
    if mean <= 0:
        return wald(name, DATASET, mean, se, rows, level)
    spread = z_value(level) * se / mean
    lower, upper = mean * math.exp(-spread), mean * math.exp(spread)
    return QualityValue(name, DATASET, mean, se, lower, upper, rows, "clt-log", level)


def classification_values(
    counts: ClassificationCounts, *, level: float = 0.95
) -> tuple[QualityValue, ...]:
    """Accuracy, precision, recall, F1 (and per class for multiclass), ROC AUC and log loss."""
    if counts.rows <= 0:
        names = [Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1]
        return tuple(missing(_name(counts, m), DATASET, level, "no rows") for m in names)
    values = _label_values(counts, level)
    if counts.scored:
        values += _probability_values(counts, level)
    return tuple(values)


def quality_values(counts: QualityCounts, *, level: float = 0.95) -> tuple[QualityValue, ...]:
    """Every stored quality metric of these counts (pooled or not), with intervals."""
    if isinstance(counts, RegressionCounts):
        return regression_values(counts, level=level)
    return classification_values(counts, level=level)


def find(values: tuple[QualityValue, ...], metric: str, column: str = DATASET) -> QualityValue:
    """The value of ``metric`` (and class ``column``) among ``values``."""
    for value in values:
        if value.metric == metric and value.column == column:
            return value
    raise KeyError((metric, column))
