"""Quality before labels: confidence-based performance estimation (CBPE, as in NannyML).

If the model's probabilities are calibrated, a row predicted as class j is truly of class i with
probability p_i, so summing calibrated probabilities gives *expected* confusion counts, and from
them estimated accuracy, precision, recall, F1 and ROC AUC, days or weeks before labels arrive.
They come as ``ClassificationCounts`` with ``expected=True``, so pooling (``counts.pool``),
intervals (``values``) and CUSUM (``policy.cusum``) work on them unchanged; their metric
names are ``estimated.*``.

Calibration is fitted once, on the reference's scores and labels, per class (one-vs-rest, then
rows renormalised for multiclass). Sigmoid (Platt scaling on the score's log-odds) or isotonic
is kept only when it lowers the cross-validated expected calibration error of the raw scores.

Where it is blind: the estimate assumes P(label | score) is what it was on the reference. Under a
covariate shift (inputs move, the relation holds) it tracks realised quality; under a concept
shift (the relation changes) it does not see the drop at all. Pair it with realised quality
once labels come, and with drift on the inputs.

Regression is not estimated: without labels, the error of a regression model is only known if
it predicts its own error distribution, which driftwise's models do not (NannyML's DLE learns a
second model of the error from the features, an extra model with the same blind spot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from monitoring_lib.metrics.quality.counts import (
    ClassificationCounts,
    FloatArray,
    label_string,
    label_strings,
    score_bins,
    score_histograms,
)

Method = Literal["none", "sigmoid", "isotonic"]
METHODS: tuple[Method, ...] = ("none", "sigmoid", "isotonic")
REGRESSION_NOT_ESTIMATED = (
    "regression quality is not estimated before labels: the model gives no distribution of its "
    "own error"
)
_CLIP = 1e-12
"""Scores are clipped this far from 0 and 1 before taking log-odds."""


@dataclass(frozen=True, slots=True)
class ClassCalibration:
    """The calibration map of one class's score, and why it was chosen."""

    label: str
    method: Method
    cv_errors: tuple[tuple[Method, float], ...]
    """Cross-validated expected calibration error of each method (equal-mass bins)."""
    sigmoid: tuple[float, float] = (1.0, 0.0)
    """Slope and intercept on the log-odds of the score."""
    isotonic: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    """Thresholds (score, probability) of the isotonic fit; interpolated linearly between."""

    def apply(self, scores: npt.ArrayLike) -> FloatArray:
        values = np.asarray(scores, dtype=np.float64)
        if self.method == "sigmoid":
            slope, intercept = self.sigmoid
            return np.asarray(expit(slope * _log_odds(values) + intercept), dtype=np.float64)
        if self.method == "isotonic":
            x, y = self.isotonic
            return np.interp(np.clip(values, x[0], x[-1]), x, y)  # sklearn's own predict
        return values


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-class calibration fitted on the reference (binary: the positive class only)."""

    classes: tuple[str, ...]
    """The reference's classes, sorted."""
    positive: str | None
    """The positive class of a binary task; None for multiclass."""
    maps: tuple[ClassCalibration, ...]

    def probabilities(self, scores: npt.ArrayLike | Mapping[Any, npt.ArrayLike]) -> FloatArray:
        """Calibrated class probabilities, rows x ``classes`` (each row sums to 1)."""
        raw = _raw_matrix(self, scores)
        if self.positive is not None:
            p = self.maps[0].apply(raw[:, 0])
            columns = {self.positive: p, **{c: 1 - p for c in self.classes if c != self.positive}}
            return np.column_stack([columns[c] for c in self.classes])
        calibrated = np.column_stack([m.apply(raw[:, i]) for i, m in enumerate(self.maps)])
        totals = calibrated.sum(axis=1, keepdims=True)
        uniform = np.full_like(calibrated, 1 / calibrated.shape[1])
        safe = np.where(totals > 0, calibrated / np.where(totals > 0, totals, 1), uniform)
        return np.asarray(safe, dtype=np.float64)


def _log_odds(values: FloatArray) -> FloatArray:
    return np.asarray(logit(np.clip(values, _CLIP, 1 - _CLIP)), dtype=np.float64)


def _raw_matrix(
    calibration: Calibration, scores: npt.ArrayLike | Mapping[Any, npt.ArrayLike]
) -> FloatArray:
    """Scores as rows x maps, in the calibration's order."""
    if calibration.positive is not None:
        if isinstance(scores, Mapping):
            raise ValueError("binary scores are one array: the positive class's probability")
        return np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    if not isinstance(scores, Mapping):
        raise ValueError("multiclass scores map each class to its probability column")
    named = {label_string(k): np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    missing = [m.label for m in calibration.maps if m.label not in named]
    if missing:
        raise ValueError(f"no scores for classes {missing[:5]}")
    return np.column_stack([named[m.label] for m in calibration.maps])


def calibration_error(labels: npt.ArrayLike, probabilities: npt.ArrayLike, bins: int = 10) -> float:
    """Expected calibration error: mean |mean p - share of positives| over equal-mass bins."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, min(bins, max(len(p), 1)))
    return float(sum(len(i) * abs(p[i].mean() - y[i].mean()) for i in parts if len(i)) / len(p))


def _fit(method: Method, scores: FloatArray, labels: FloatArray) -> ClassCalibration:
    """One method fitted on all given rows (cv_errors filled in by the caller)."""
    if method == "sigmoid":
        model = LogisticRegression(C=np.inf).fit(_log_odds(scores).reshape(-1, 1), labels)
        pair = (float(model.coef_[0, 0]), float(model.intercept_[0]))
        return ClassCalibration("", method, (), sigmoid=pair)
    if method == "isotonic":
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
        thresholds = (tuple(fitted.X_thresholds_.tolist()), tuple(fitted.y_thresholds_.tolist()))
        return ClassCalibration("", method, (), isotonic=thresholds)
    return ClassCalibration("", "none", ())


def _cross_validated(
    scores: FloatArray, labels: FloatArray, folds: int, bins: int, seed: int
) -> tuple[tuple[Method, float], ...]:
    """Each method's calibration error on held-out folds (fitted on the others)."""
    held_out = {method: np.zeros_like(scores) for method in METHODS}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(scores.reshape(-1, 1), labels):
        for method in METHODS:
            held_out[method][test] = _fit(method, scores[train], labels[train]).apply(scores[test])
    return tuple((method, calibration_error(labels, held_out[method], bins)) for method in METHODS)


def _calibrate_class(
    label: str, scores: FloatArray, labels: FloatArray, folds: int, bins: int, seed: int
) -> ClassCalibration:
    """The method with the lowest cross-validated error; 'none' unless another beats it."""
    if labels.min() == labels.max() or min(labels.sum(), (1 - labels).sum()) < folds:
        return ClassCalibration(label, "none", ())
    errors = _cross_validated(scores, labels, folds, bins, seed)
    best = min(errors, key=lambda pair: (pair[1], METHODS.index(pair[0])))[0]
    fitted = _fit(best, scores, labels)
    return ClassCalibration(label, best, errors, fitted.sigmoid, fitted.isotonic)


def fit_calibration(
    truth: Sequence[object] | npt.NDArray[Any],
    scores: npt.ArrayLike | Mapping[Any, npt.ArrayLike],
    *,
    positive: object = None,
    folds: int = 5,
    bins: int = 10,
    seed: int = 0,
) -> Calibration:
    """Calibration of the reference's scores; ``positive`` set for binary, as in quality."""
    labels = label_strings(truth)
    pos = None if positive is None else label_string(positive)
    if pos is not None:
        if isinstance(scores, Mapping):
            raise ValueError("binary scores are one array: the positive class's probability")
        named = {pos: np.asarray(scores, dtype=np.float64)}
    elif isinstance(scores, Mapping):
        named = {label_string(k): np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    else:
        raise ValueError("multiclass scores map each class to its probability column")
    classes = tuple(sorted(set(labels.tolist()) | set(named) | ({pos} if pos else set())))
    maps = tuple(
        _calibrate_class(c, named[c], (labels == c).astype(np.float64), folds, bins, seed)
        for c in sorted(named)
    )
    return Calibration(classes, pos, maps)


def expected_counts(
    predicted: Sequence[object] | npt.NDArray[Any],
    scores: npt.ArrayLike | Mapping[Any, npt.ArrayLike],
    calibration: Calibration,
) -> ClassificationCounts:
    """Expected counts of a window's rows (labelled or not) under the calibration.

    The confusion matrix adds each row's calibrated class probabilities to the column of its
    predicted class; ROC AUC histograms bin the raw scores (calibration keeps their order) and
    weigh each row by its calibrated probability of being of the class.
    """
    guessed = label_strings(predicted)
    classes = tuple(sorted(set(calibration.classes) | set(guessed.tolist())))
    known = np.searchsorted(classes, calibration.classes)
    p = np.zeros((len(guessed), len(classes)))
    p[:, known] = calibration.probabilities(scores)
    onehot = guessed[:, None] == np.asarray(classes, dtype=str)[None, :]
    confusion = p.T @ onehot
    moments = np.einsum("rk,ri,rj->kij", onehot.astype(np.float64), p, p)
    raw = _raw_matrix(calibration, scores)
    scored = tuple(m.label for m in calibration.maps)
    weights = p[:, np.searchsorted(classes, scored)]
    positive, negative = score_histograms(score_bins(raw), weights)
    return ClassificationCounts(
        classes=classes,
        positive=calibration.positive,
        confusion=confusion,
        scored=scored,
        score_positive=positive,
        score_negative=negative,
        expected=True,
        second_moments=moments,
    )


def calibration_to_json(calibration: Calibration) -> dict[str, Any]:
    """Plain JSON, to keep with the champion it was fitted for."""
    return {"version": 1, **asdict(calibration)}


def calibration_from_json(data: Mapping[str, Any]) -> Calibration:
    if data.get("version") != 1:
        raise ValueError(f"unknown calibration version {data.get('version')!r}")
    maps = tuple(
        ClassCalibration(
            label=m["label"],
            method=m["method"],
            cv_errors=tuple((method, float(error)) for method, error in m["cv_errors"]),
            sigmoid=(float(m["sigmoid"][0]), float(m["sigmoid"][1])),
            isotonic=(tuple(m["isotonic"][0]), tuple(m["isotonic"][1])),
        )
        for m in data["maps"]
    )
    return Calibration(tuple(data["classes"]), data["positive"], maps)
