"""Performance estimation before labels: calibration chosen by cross-validation, estimates that
track realised quality under a covariate shift, and the blind spot under a concept shift."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitoring_lib.metrics.quality.counts import (
    classification_counts,
    counts_from_json,
    counts_to_json,
    pool,
)
from monitoring_lib.metrics.quality.estimation import (
    calibration_error,
    calibration_from_json,
    calibration_to_json,
    expected_counts,
    fit_calibration,
)
from monitoring_lib.metrics.quality.values import find, quality_values
from monitoring_lib.records import Metric

ACCURACY_TOLERANCE = 0.03
"""Mean |estimated - realised| accuracy over 165-row windows when the calibration holds; most
of it is the realised value's own label noise, which the estimate's interval accounts for."""


def binary_world(n: int, rng: np.random.Generator, *, spread=1.0, boundary=0.0, overconfident=True):
    """x ~ N(0, spread); P(y = 1 | x) = sigmoid(4 (x - boundary)); the model's score is
    sigmoid(6 x + 0.3) (overconfident) or the true probability at boundary 0."""
    x = rng.normal(0.0, spread, n)
    truth = (rng.random(n) < 1 / (1 + np.exp(-4 * (x - boundary)))).astype(int)
    score = 1 / (1 + np.exp(-(6 * x + 0.3))) if overconfident else 1 / (1 + np.exp(-4 * x))
    return truth, score, (score > 0.5).astype(int)


CLASSES = ("a", "b", "c")


def multiclass_world(n: int, rng: np.random.Generator, shift: float = 0.0):
    x = rng.normal(0.0, 1.0, (n, 3))
    x[:, 0] += shift
    true_p = np.exp(2 * x) / np.exp(2 * x).sum(axis=1, keepdims=True)
    cumulative = true_p.cumsum(axis=1)
    truth = np.array(CLASSES)[(rng.random((n, 1)) > cumulative).sum(axis=1)]
    raw = np.exp(3 * x) / np.exp(3 * x).sum(axis=1, keepdims=True)
    scores = {label: raw[:, i] for i, label in enumerate(CLASSES)}
    return truth, scores, np.array(CLASSES)[raw.argmax(axis=1)]


def test_calibration_is_kept_only_when_it_lowers_held_out_error() -> None:
    rng = np.random.default_rng(0)
    truth, score, _ = binary_world(5000, rng)
    overconfident = fit_calibration(truth, score, positive=1).maps[0]
    errors = dict(overconfident.cv_errors)
    assert overconfident.method in ("sigmoid", "isotonic")
    assert errors[overconfident.method] < errors["none"]
    assert overconfident.method == min(errors, key=errors.__getitem__)
    fresh_truth, fresh_score, _ = binary_world(20000, rng)
    before = calibration_error(fresh_truth, fresh_score)
    after = calibration_error(fresh_truth, overconfident.apply(fresh_score))
    assert after < before / 3
    truth, score, _ = binary_world(5000, rng, overconfident=False)
    calibrated = fit_calibration(truth, score, positive=1).maps[0]
    chosen = dict(calibrated.cv_errors)[calibrated.method]
    assert chosen <= dict(calibrated.cv_errors)["none"]


def _accuracy_errors(calibration, windows: int, rng, **world) -> tuple[np.ndarray, np.ndarray]:
    """Per window: estimated - realised accuracy, and whether the interval held the realised."""
    errors, covered = [], []
    for _ in range(windows):
        truth, score, predicted = binary_world(165, rng, **world)
        estimated = find(
            quality_values(expected_counts(predicted, score, calibration)), "estimated.accuracy"
        )
        realised = find(
            quality_values(classification_counts(truth, predicted, positive=1)), Metric.ACCURACY
        )
        errors.append(estimated.value - realised.value)
        covered.append(estimated.lower <= realised.value <= estimated.upper)
    return np.asarray(errors), np.asarray(covered)


def _realised_accuracy(rng: np.random.Generator, **world) -> float:
    truth, _, predicted = binary_world(200_000, rng, **world)
    return float(np.mean(truth == predicted))


def test_estimated_accuracy_tracks_realised_under_a_calibrated_covariate_shift() -> None:
    rng = np.random.default_rng(1)
    truth, score, _ = binary_world(5000, rng)
    calibration = fit_calibration(truth, score, positive=1)
    # more rows near the decision boundary: accuracy falls, P(y | x) and so calibration hold
    assert _realised_accuracy(rng, spread=0.6) < _realised_accuracy(rng) - 0.05
    errors, covered = _accuracy_errors(calibration, 600, rng, spread=0.6)
    assert np.mean(np.abs(errors)) < ACCURACY_TOLERANCE
    assert abs(np.mean(errors)) < 0.005
    assert 0.93 <= covered.mean() <= 0.98


def test_estimation_is_blind_to_a_concept_shift() -> None:
    rng = np.random.default_rng(2)
    truth, score, _ = binary_world(5000, rng)
    calibration = fit_calibration(truth, score, positive=1)
    assert _realised_accuracy(rng, boundary=0.4) < _realised_accuracy(rng) - 0.05
    errors, covered = _accuracy_errors(calibration, 300, rng, boundary=0.4)
    assert np.mean(errors) > 0.04  # the estimate stays up while realised accuracy falls
    assert covered.mean() < 0.6


def test_multiclass_probabilities_sum_to_one_and_estimates_track_realised() -> None:
    rng = np.random.default_rng(3)
    truth, scores, _ = multiclass_world(6000, rng)
    calibration = fit_calibration(truth, scores)
    assert calibration.classes == CLASSES
    rows = calibration.probabilities(multiclass_world(50, rng)[1])
    assert rows.sum(axis=1) == pytest.approx(np.ones(50))
    gaps = []
    for _ in range(200):
        truth, scores, predicted = multiclass_world(300, rng, shift=0.8)
        estimated = quality_values(expected_counts(predicted, scores, calibration))
        realised = quality_values(classification_counts(truth, predicted, scores))
        for metric in (Metric.ACCURACY, Metric.F1, Metric.ROC_AUC):
            name = metric.value.replace("quality.", "estimated.")
            gaps.append((metric, find(estimated, name).value - find(realised, metric).value))
    for metric in (Metric.ACCURACY, Metric.F1, Metric.ROC_AUC):
        errors = np.array([gap for m, gap in gaps if m == metric])
        assert np.mean(np.abs(errors)) < ACCURACY_TOLERANCE, metric
        assert abs(np.mean(errors)) < 0.01, metric


def test_estimated_values_are_named_and_pool_like_realised_ones() -> None:
    rng = np.random.default_rng(4)
    truth, score, predicted = binary_world(3000, rng)
    calibration = fit_calibration(truth, score, positive=1)
    names = {
        v.metric for v in quality_values(expected_counts(predicted[:200], score[:200], calibration))
    }
    assert names == {f"estimated.{m}" for m in ("accuracy", "precision", "recall", "f1", "roc_auc")}
    parts = [
        expected_counts(predicted[a:b], score[a:b], calibration) for a, b in ((0, 100), (100, 3000))
    ]
    pooled, whole = pool(parts), expected_counts(predicted, score, calibration)
    for ours, reference in zip(quality_values(pooled), quality_values(whole), strict=True):
        assert ours.value == pytest.approx(reference.value, rel=1e-9)
        assert ours.se == pytest.approx(reference.se, rel=1e-9)
    again = counts_from_json(json.loads(json.dumps(counts_to_json(whole))))
    assert counts_to_json(again) == counts_to_json(whole)


def test_estimated_se_is_the_spread_between_windows() -> None:
    """The se (what CUSUM divides by) matches the spread of estimates over unchanged windows."""
    rng = np.random.default_rng(5)
    truth, score, _ = binary_world(5000, rng)
    calibration = fit_calibration(truth, score, positive=1)
    values, ses = [], []
    for _ in range(800):
        _, score, predicted = binary_world(165, rng)
        estimated = find(
            quality_values(expected_counts(predicted, score, calibration)), "estimated.accuracy"
        )
        values.append(estimated.value)
        ses.append(estimated.se)
    assert np.mean(ses) == pytest.approx(np.std(values), rel=0.1)


def test_calibration_survives_json() -> None:
    rng = np.random.default_rng(6)
    truth, scores, _ = multiclass_world(3000, rng)
    calibration = fit_calibration(truth, scores)
    again = calibration_from_json(json.loads(json.dumps(calibration_to_json(calibration))))
    assert again == calibration
    probe = multiclass_world(20, rng)[1]
    assert np.array_equal(again.probabilities(probe), calibration.probabilities(probe))
