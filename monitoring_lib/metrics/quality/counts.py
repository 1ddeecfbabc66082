"""Mergeable sufficient statistics of a window's quality: what pooling, intervals and CUSUM need.

A daily accuracy over 165 rows has a standard deviation near 0.018, too noisy to act on alone.
Keeping counts instead of ratios lets any number of windows be pooled exactly (the metric of the
pooled rows, not a mean of daily ratios) and gives every metric a standard error.

* classification: the confusion matrix (truth x predicted) at the model's decision, per scored
  class a histogram of its score over rows of that class and over the others (fine logit-scale
  bins: ROC AUC within 0.005 of the exact value), and the sums behind log loss;
* regression: power sums of the errors and of the centred targets (RMSE, MAE, MAPE, R2 and the
  moments their delta-method intervals need).

Counts are floats so that *expected* counts (performance estimation before labels, see
``estimation``) share the form; realised counts hold whole numbers. Class labels
are compared as strings, integral floats written as ints, as ``monitoring_lib.quality`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import logit

from monitoring_lib.metrics.quality.regression import (
    RegressionCounts,
    merge_regression,
    regression_from_json,
    regression_to_json,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

SCORE_BINS = 3200
"""Histogram bins over logit(score) in [-LOGIT_RANGE, LOGIT_RANGE]: 0.01 wide, 0.0025 in p."""
LOGIT_RANGE = 16.0
"""Scores beyond 1e-7 of 0 or 1 share the end bins."""
_EPS = float(np.finfo(np.float64).eps)
"""sklearn's log-loss clipping and quality.py's 'target is 0' tolerance."""


def label_string(label: object) -> str:
    """A class label as stored: ``1.0`` (a target column with NaN) and ``1`` are the same class."""
    if isinstance(label, float | np.floating) and float(label).is_integer():
        return str(int(label))
    return str(label)


def label_strings(values: Sequence[object] | npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    array = np.asarray(values)
    if array.dtype.kind in "iuUb":
        return array.astype(str)
    return np.asarray([label_string(value) for value in array], dtype=str)


def _frozen(array: npt.ArrayLike) -> FloatArray:
    result = np.array(array, dtype=np.float64)
    result.flags.writeable = False
    return result


@dataclass(frozen=True, slots=True, eq=False)
class ClassificationCounts:
    """One window's (or several pooled windows') classification statistics.

    Compare two with ``to_json()``: the arrays make ``==`` ambiguous.
    """

    classes: tuple[str, ...]
    """Every class seen in labels, predictions or probability columns, sorted."""
    positive: str | None
    """The binary task's positive class; None for multiclass."""
    confusion: FloatArray
    """confusion[i, j]: rows of true class i predicted as class j."""
    scored: tuple[str, ...] = ()
    """Classes with a probability column (binary: the positive class only)."""
    score_positive: FloatArray = field(default_factory=lambda: _frozen(np.zeros((0, SCORE_BINS))))
    """Per scored class, histogram of its score over the rows of that class."""
    score_negative: FloatArray = field(default_factory=lambda: _frozen(np.zeros((0, SCORE_BINS))))
    """Per scored class, histogram of its score over the other rows."""
    log_loss_rows: float = 0.0
    log_loss_sum: float = 0.0
    log_loss_sum_sq: float = 0.0
    expected: bool = False
    """True for counts estimated from calibrated probabilities, not from labels."""
    second_moments: FloatArray | None = None
    """Expected counts only: [j] = sum over rows predicted j of p p^T (p the class probabilities).

    The delta method needs it for the spread of an estimate; for realised counts it is the
    diagonal of the confusion matrix's columns and is not stored."""

    def __post_init__(self) -> None:
        for name in ("confusion", "score_positive", "score_negative", "second_moments"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen(getattr(self, name)))
        size = len(self.classes)
        if list(self.classes) != sorted(set(self.classes)):
            raise ValueError("classes must be distinct and sorted")
        if self.confusion.shape != (size, size):
            raise ValueError(f"confusion must be {size}x{size}")
        if self.positive is not None and (size > 2 or (size and self.positive not in self.classes)):
            raise ValueError(f"a binary task has {self.positive!r} and one other class at most")
        shape = (len(self.scored), SCORE_BINS)
        if self.score_positive.shape != shape or self.score_negative.shape != shape:
            raise ValueError(f"score histograms must be {shape[0]}x{SCORE_BINS}")
        if self.expected != (self.second_moments is not None):
            raise ValueError("expected counts, and only they, carry second moments")

    @property
    def rows(self) -> float:
        return float(self.confusion.sum())

    @property
    def scored_rows(self) -> float:
        """Rows with scores: every scored class's two histograms share them."""
        if not self.scored:
            return 0.0
        return float(self.score_positive[0].sum() + self.score_negative[0].sum())

    def column_moments(self) -> FloatArray:
        """Per predicted class j, sum of p p^T over its rows (realised: diag of column j)."""
        if self.second_moments is not None:
            return self.second_moments
        size = len(self.classes)
        moments = np.zeros((size, size, size))
        for j in range(size):
            moments[j] = np.diag(self.confusion[:, j])
        return moments


def score_bins(scores: npt.ArrayLike) -> IntArray:
    """The histogram bin of each score (logit scale, so confident scores still get resolved)."""
    values = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(values).all() or ((values < 0) | (values > 1)).any():
        raise ValueError("scores must be finite probabilities in [0, 1]")
    with np.errstate(divide="ignore"):
        logits = np.nan_to_num(logit(values), posinf=LOGIT_RANGE, neginf=-LOGIT_RANGE)
    width = 2 * LOGIT_RANGE / SCORE_BINS
    index = np.clip(np.floor((logits + LOGIT_RANGE) / width), 0, SCORE_BINS - 1)
    return np.asarray(index, dtype=np.intp)


def score_histograms(bins: IntArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column (a scored class), histograms of its score bins weighted by P(row is of the
    class) and by 1 - P: indicators for labelled rows, calibrated probabilities for expected."""
    positive = np.zeros((bins.shape[1], SCORE_BINS))
    negative = np.zeros((bins.shape[1], SCORE_BINS))
    for column in range(bins.shape[1]):
        w = weights[:, column]
        positive[column] = np.bincount(bins[:, column], w, minlength=SCORE_BINS)
        negative[column] = np.bincount(bins[:, column], 1.0 - w, minlength=SCORE_BINS)
    return positive, negative


def _score_matrix(
    scores: npt.ArrayLike | Mapping[Any, npt.ArrayLike] | None, positive: str | None, rows: int
) -> tuple[tuple[str, ...], FloatArray]:
    """Scored classes (sorted) and their scores as a rows x classes matrix."""
    if scores is None:
        return (), np.zeros((rows, 0))
    if isinstance(scores, Mapping):
        if positive is not None:
            raise ValueError("binary scores are one array: the positive class's probability")
        named = {
            label_string(label): np.asarray(v, dtype=np.float64) for label, v in scores.items()
        }
        scored = tuple(sorted(named))
        matrix = np.column_stack([named[label] for label in scored]) if scored else None
    else:
        if positive is None:
            raise ValueError("multiclass scores map each class to its probability column")
        scored, matrix = (positive,), np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    if matrix is None or matrix.shape[0] != rows:
        raise ValueError(f"scores must have one value per row ({rows})")
    return scored, matrix


def classification_counts(
    truth: Sequence[object] | npt.NDArray[Any],
    predicted: Sequence[object] | npt.NDArray[Any],
    scores: npt.ArrayLike | Mapping[Any, npt.ArrayLike] | None = None,
    *,
    positive: object = None,
) -> ClassificationCounts:
    """Realised counts of labelled rows (already cleaned of missing or invalid values).

    Binary: give ``positive`` and, optionally, ``scores`` as the positive class's probability.
    Multiclass: ``positive=None`` and ``scores`` a mapping class -> probability column.
    """
    truth_s, predicted_s = label_strings(truth), label_strings(predicted)
    if truth_s.shape != predicted_s.shape:
        raise ValueError("truth and predicted must have one value per row")
    pos = None if positive is None else label_string(positive)
    scored, matrix = _score_matrix(scores, pos, len(truth_s))
    seen = set(truth_s.tolist()) | set(predicted_s.tolist()) | set(scored)
    classes = tuple(sorted(seen | ({pos} if pos is not None else set())))
    if pos is not None and len(classes) > 2:
        others = [label for label in classes if label != pos]
        raise ValueError(f"binary task expects one class besides {pos!r}, found {others[:5]}")
    size = len(classes)
    truth_i, predicted_i = np.searchsorted(classes, truth_s), np.searchsorted(classes, predicted_s)
    confusion = np.bincount(truth_i * size + predicted_i, minlength=size * size)
    indicator = truth_s[:, None] == np.asarray(scored, dtype=str)[None, :]
    positive_hist, negative_hist = score_histograms(
        score_bins(matrix), indicator.astype(np.float64)
    )
    loss = _log_loss_terms(truth_s, matrix, scored, pos)
    return ClassificationCounts(
        classes=classes,
        positive=pos,
        confusion=confusion.reshape(size, size).astype(np.float64),
        scored=scored,
        score_positive=positive_hist,
        score_negative=negative_hist,
        log_loss_rows=float(loss.size),
        log_loss_sum=float(loss.sum()),
        log_loss_sum_sq=float((loss**2).sum()),
    )


def _log_loss_terms(
    truth: npt.NDArray[np.str_], matrix: FloatArray, scored: tuple[str, ...], positive: str | None
) -> FloatArray:
    """-log p(true class) per row, clipped as sklearn does; empty when some label has no score."""
    if not scored:
        return np.zeros(0)
    if positive is not None:
        probability = np.where(truth == positive, matrix[:, 0], 1.0 - matrix[:, 0])
    elif set(truth.tolist()) <= set(scored):
        probability = matrix[np.arange(len(truth)), np.searchsorted(scored, truth)]
    else:
        return np.zeros(0)
    return np.asarray(-np.log(np.clip(probability, _EPS, 1 - _EPS)), dtype=np.float64)


QualityCounts = ClassificationCounts | RegressionCounts

REALISED = "realised"
"""The stored kind of counts of labelled rows (``quality.*`` metrics)."""
EXPECTED = "expected"
"""The stored kind of counts expected from calibrated probabilities (``estimated.*`` metrics)."""


def kind_of_metric(metric: str) -> str | None:
    """Which kind of counts a metric comes from; None for a metric not kept as counts."""
    if metric.startswith("quality."):
        return REALISED
    return EXPECTED if metric.startswith("estimated.") else None


def _embed(values: FloatArray, source: Sequence[str], target: Sequence[str]) -> FloatArray:
    """``values`` indexed by ``source`` labels on every axis, placed in ``target``'s index."""
    index = np.searchsorted(target, source)
    result = np.zeros((len(target),) * values.ndim)
    result[np.ix_(*([index] * values.ndim))] = values
    return result


def _merge_classification(a: ClassificationCounts, b: ClassificationCounts) -> ClassificationCounts:
    if a.positive != b.positive or a.expected != b.expected:
        raise ValueError("cannot merge counts of different tasks, or realised with expected")
    classes = tuple(sorted(set(a.classes) | set(b.classes)))
    scored = tuple(sorted(set(a.scored) | set(b.scored)))
    moments = None
    if a.second_moments is not None and b.second_moments is not None:
        moments = _embed(a.second_moments, a.classes, classes)
        moments += _embed(b.second_moments, b.classes, classes)
    return replace(
        a,
        classes=classes,
        confusion=_embed(a.confusion, a.classes, classes) + _embed(b.confusion, b.classes, classes),
        scored=scored,
        score_positive=_stack(a, b, scored, positive=True),
        score_negative=_stack(a, b, scored, positive=False),
        log_loss_rows=a.log_loss_rows + b.log_loss_rows,
        log_loss_sum=a.log_loss_sum + b.log_loss_sum,
        log_loss_sum_sq=a.log_loss_sum_sq + b.log_loss_sum_sq,
        second_moments=moments,
    )


def _stack(
    a: ClassificationCounts, b: ClassificationCounts, scored: Sequence[str], *, positive: bool
) -> FloatArray:
    result = np.zeros((len(scored), SCORE_BINS))
    for counts in (a, b):
        histograms = counts.score_positive if positive else counts.score_negative
        result[np.searchsorted(scored, counts.scored)] += histograms
    return result


def merge(a: QualityCounts, b: QualityCounts) -> QualityCounts:
    """The counts of the rows of both: exact, so a pooled metric equals the metric of all rows."""
    if isinstance(a, RegressionCounts) and isinstance(b, RegressionCounts):
        return merge_regression(a, b)
    if isinstance(a, ClassificationCounts) and isinstance(b, ClassificationCounts):
        if len(set(a.classes) | set(b.classes)) > 2 and a.positive is not None:
            raise ValueError("merged binary counts would hold more than two classes")
        return _merge_classification(a, b)
    raise ValueError("cannot merge regression with classification counts")


def pool(windows: Iterable[QualityCounts]) -> QualityCounts:
    """All windows merged (e.g. the last seven days for a rule with ``pool: 7d``)."""
    items = list(windows)
    if not items:
        raise ValueError("nothing to pool")
    return reduce(merge, items)


def _number(value: float, whole: bool) -> float | int:
    return int(value) if whole else float(value)


def _sparse(histograms: FloatArray, whole: bool) -> list[list[list[float | int]]]:
    """Nonzero bins only: a window of 165 rows fills at most 165 of each histogram's bins."""
    return [[[int(b), _number(row[b], whole)] for b in np.flatnonzero(row)] for row in histograms]


def _dense(sparse: Sequence[Sequence[Sequence[float]]]) -> FloatArray:
    result = np.zeros((len(sparse), SCORE_BINS))
    for row, pairs in zip(result, sparse, strict=True):
        for b, weight in pairs:
            row[int(b)] = weight
    return result


def counts_to_json(counts: QualityCounts) -> dict[str, Any]:
    """Plain JSON types, exact: floats keep their repr, realised counts are written as ints."""
    if isinstance(counts, RegressionCounts):
        return regression_to_json(counts)
    whole = not counts.expected
    return {
        "kind": "classification",
        "version": 1,
        "bins": {"count": SCORE_BINS, "logit_range": LOGIT_RANGE},
        "classes": list(counts.classes),
        "positive": counts.positive,
        "expected": counts.expected,
        "confusion": [[_number(v, whole) for v in row] for row in counts.confusion],
        "scored": list(counts.scored),
        "score_positive": _sparse(counts.score_positive, whole),
        "score_negative": _sparse(counts.score_negative, whole),
        "log_loss": [counts.log_loss_rows, counts.log_loss_sum, counts.log_loss_sum_sq],
        "second_moments": None if counts.second_moments is None else counts.second_moments.tolist(),
    }


def counts_from_json(data: Mapping[str, Any]) -> QualityCounts:
    """The counts ``counts_to_json`` wrote; other bin layouts are refused, not silently mixed."""
    if data.get("version") != 1:
        raise ValueError(f"unknown quality counts version {data.get('version')!r}")
    if data["kind"] == "regression":
        return regression_from_json(data)
    if data["bins"] != {"count": SCORE_BINS, "logit_range": LOGIT_RANGE}:
        raise ValueError(f"score histograms use bins {data['bins']}, this version another layout")
    moments, size = data.get("second_moments"), len(data["classes"])
    rows, total, total_sq = data["log_loss"]
    return ClassificationCounts(
        classes=tuple(data["classes"]),
        positive=data["positive"],
        confusion=np.asarray(data["confusion"], dtype=np.float64).reshape(size, size),
        scored=tuple(data["scored"]),
        score_positive=_dense(data["score_positive"]),
        score_negative=_dense(data["score_negative"]),
        log_loss_rows=float(rows),
        log_loss_sum=float(total),
        log_loss_sum_sq=float(total_sq),
        expected=bool(data["expected"]),
        second_moments=None if moments is None else np.asarray(moments, dtype=np.float64),
    )
