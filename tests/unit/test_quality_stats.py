"""Quality from mergeable counts: equal to scikit-learn and to quality.py, exact when pooled,
and intervals that cover as often as they claim."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn import metrics as sk

from monitoring_lib.metrics.quality.compute import compute_quality
from monitoring_lib.metrics.quality.counts import (
    ClassificationCounts,
    classification_counts,
    counts_from_json,
    counts_to_json,
    merge,
    pool,
)
from monitoring_lib.metrics.quality.intervals import wilson_bounds
from monitoring_lib.metrics.quality.regression import regression_counts
from monitoring_lib.metrics.quality.values import QualityValue, find, quality_values
from monitoring_lib.records import DATASET, Metric, MetricStatus

EXACT = 1e-12
AUC_TOLERANCE = 0.005
CLASSES = np.array(["cat", "dog", "eel", "fox"])


def binary_rows(n: int, rng: np.random.Generator, separation: float = 2.0):
    """Labels with prevalence 0.3, scores monotone in a binormal signal, decision at 0.5."""
    truth = (rng.random(n) < 0.3).astype(int)
    signal = np.where(truth == 1, rng.normal(separation, 1, n), rng.normal(0, 1, n))
    score = 1 / (1 + np.exp(-(2.0 * signal - separation - math.log(7 / 3))))
    return truth, score, (score > 0.5).astype(int)


def multiclass_rows(n: int, rng: np.random.Generator):
    truth = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(0, 1, (n, len(CLASSES)))
    logits[np.arange(n), truth] += 1.2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return CLASSES[truth], probabilities, CLASSES[probabilities.argmax(axis=1)]


def regression_rows(n: int, rng: np.random.Generator):
    target = rng.normal(50, 10, n)
    return target, 0.9 * target + 5 + rng.normal(0, 4, n)


def multiclass_counts(truth, probabilities, predicted) -> ClassificationCounts:
    scores = {label: probabilities[:, i] for i, label in enumerate(CLASSES)}
    return classification_counts(truth, predicted, scores)


def value(values: tuple[QualityValue, ...], metric: str, column: str = DATASET) -> float:
    found = find(values, metric, column)
    assert found.value is not None, found.reason
    return found.value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_values_equal_sklearn(seed: int) -> None:
    truth, score, predicted = binary_rows(400, np.random.default_rng(seed))
    values = quality_values(classification_counts(truth, predicted, score, positive=1))
    expected = {
        Metric.ACCURACY: sk.accuracy_score(truth, predicted),
        Metric.PRECISION: sk.precision_score(truth, predicted),
        Metric.RECALL: sk.recall_score(truth, predicted),
        Metric.F1: sk.f1_score(truth, predicted),
        Metric.LOG_LOSS: sk.log_loss(truth, score),
    }
    for metric, exact in expected.items():
        assert value(values, metric) == pytest.approx(exact, abs=EXACT), metric
    assert abs(value(values, Metric.ROC_AUC) - sk.roc_auc_score(truth, score)) < AUC_TOLERANCE


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_values_equal_sklearn(seed: int) -> None:
    truth, probabilities, predicted = multiclass_rows(500, np.random.default_rng(seed))
    values = quality_values(multiclass_counts(truth, probabilities, predicted))
    for metric, score in (
        (Metric.PRECISION, sk.precision_score),
        (Metric.RECALL, sk.recall_score),
        (Metric.F1, sk.f1_score),
    ):
        macro = score(truth, predicted, average="macro")
        assert value(values, metric) == pytest.approx(macro, abs=EXACT)
        per_class = score(truth, predicted, average=None, labels=CLASSES)
        for label, exact in zip(CLASSES, per_class, strict=True):
            assert value(values, metric, label) == pytest.approx(exact, abs=EXACT)
    assert value(values, Metric.ACCURACY) == pytest.approx(sk.accuracy_score(truth, predicted))
    assert value(values, Metric.LOG_LOSS) == pytest.approx(
        sk.log_loss(truth, probabilities, labels=CLASSES), abs=EXACT
    )
    macro_auc = sk.roc_auc_score(truth, probabilities, multi_class="ovr", labels=CLASSES)
    assert abs(value(values, Metric.ROC_AUC) - macro_auc) < AUC_TOLERANCE
    for i, label in enumerate(CLASSES):
        exact = sk.roc_auc_score(truth == label, probabilities[:, i])
        assert abs(value(values, Metric.ROC_AUC, label) - exact) < AUC_TOLERANCE


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_values_equal_sklearn(seed: int) -> None:
    target, prediction = regression_rows(300, np.random.default_rng(seed))
    values = quality_values(regression_counts(target, prediction))
    expected = {
        Metric.RMSE: sk.root_mean_squared_error(target, prediction),
        Metric.MAE: sk.mean_absolute_error(target, prediction),
        Metric.MAPE: 100 * sk.mean_absolute_percentage_error(target, prediction),
        Metric.R2: sk.r2_score(target, prediction),
    }
    for metric, exact in expected.items():
        assert value(values, metric) == pytest.approx(exact, rel=1e-9), metric


def _scores(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    truth = (rng.random(n) < 0.4).astype(int)
    if kind == "confident":  # most scores within 1e-4 of 0 or 1
        logits = np.where(truth == 1, rng.normal(9, 3, n), rng.normal(-9, 3, n))
        return truth, 1 / (1 + np.exp(-logits))
    if kind == "narrow":  # every score between 0.45 and 0.55
        return truth, 0.5 + 0.05 * np.tanh(rng.normal(0.4 * truth, 0.3, n))
    if kind == "rounded":  # two decimals: ties everywhere
        return truth, np.round(np.clip(rng.normal(0.3 + 0.3 * truth, 0.2, n), 0, 1), 2)
    return truth, rng.beta(2 + 3 * truth, 3, n)


@pytest.mark.parametrize("kind", ["confident", "narrow", "rounded", "beta"])
def test_binned_roc_auc_stays_within_tolerance(kind: str) -> None:
    for seed in range(5):
        truth, score = _scores(kind, 2000, np.random.default_rng(seed))
        counts = classification_counts(truth, (score > 0.5).astype(int), score, positive=1)
        binned = value(quality_values(counts), Metric.ROC_AUC)
        assert abs(binned - sk.roc_auc_score(truth, score)) < AUC_TOLERANCE, (kind, seed)


def _frame_values(frame: pd.DataFrame, **kwargs) -> dict[tuple[str, str], float]:
    records = compute_quality(frame, target="y", prediction="y_hat", **kwargs)
    return {
        (r.metric, r.column): r.value
        for r in records
        if r.status is MetricStatus.OK and r.metric.startswith("quality.") and r.value is not None
    }


def test_values_equal_what_quality_py_stores() -> None:
    """The Evidently path and the counts path agree on every value both produce."""
    rng = np.random.default_rng(7)
    truth, probabilities, predicted = multiclass_rows(300, rng)
    frame = pd.DataFrame({"y": truth, "y_hat": predicted})
    mapping = {label: f"p_{label}" for label in CLASSES}
    for i, label in enumerate(CLASSES):
        frame[mapping[label]] = probabilities[:, i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = _frame_values(frame, task="multiclass", probability=mapping)
    ours = quality_values(multiclass_counts(truth, probabilities, predicted))
    assert len(stored) >= 4 + 3 * len(CLASSES) + 1
    for (metric, column), evidently in stored.items():
        tolerance = AUC_TOLERANCE if metric == Metric.ROC_AUC else 1e-9
        assert value(ours, metric, column) == pytest.approx(evidently, abs=tolerance), metric


def test_regression_values_equal_what_quality_py_stores() -> None:
    target, prediction = regression_rows(200, np.random.default_rng(3))
    frame = pd.DataFrame({"y": target, "y_hat": prediction})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = _frame_values(frame, task="regression")
    ours = quality_values(regression_counts(target, prediction))
    assert set(stored) == {
        (m.value, DATASET) for m in (Metric.RMSE, Metric.MAE, Metric.MAPE, Metric.R2)
    }
    for (metric, column), evidently in stored.items():
        assert value(ours, metric, column) == pytest.approx(evidently, rel=1e-9), metric


def test_merged_classification_counts_equal_counts_of_all_rows() -> None:
    rng = np.random.default_rng(11)
    truth, probabilities, predicted = multiclass_rows(600, rng)
    # windows of different sizes, one of which never sees 'fox'
    cuts = [0, 150, 170, 420, 600]
    windows = []
    for start, end in itertools.pairwise(cuts):
        keep = slice(start, end)
        rows_truth, rows_predicted = truth[keep].copy(), predicted[keep].copy()
        if start == 150:
            rows_truth[:], rows_predicted[:] = "cat", "dog"
            truth[keep], predicted[keep] = "cat", "dog"
        windows.append((rows_truth, probabilities[keep], rows_predicted))
    pooled = counts_to_json(pool(multiclass_counts(*w) for w in windows))
    whole = counts_to_json(multiclass_counts(truth, probabilities, predicted))
    assert pooled.pop("log_loss") == pytest.approx(whole.pop("log_loss"), rel=1e-12)
    assert pooled == whole  # every count and histogram bin, exactly


def test_merged_binary_counts_are_exact_and_refuse_a_third_class() -> None:
    truth, score, predicted = binary_rows(300, np.random.default_rng(2))
    first = classification_counts(truth[:100], predicted[:100], score[:100], positive=1)
    rest = classification_counts(truth[100:], predicted[100:], score[100:], positive=1)
    merged = counts_to_json(merge(first, rest))
    whole = counts_to_json(classification_counts(truth, predicted, score, positive=1))
    assert merged.pop("log_loss") == pytest.approx(whole.pop("log_loss"), rel=1e-12)
    assert merged == whole
    other = classification_counts(["a", "1"], ["a", "1"], positive=1)
    with pytest.raises(ValueError, match="more than two classes"):
        merge(first, other)


def test_merged_regression_counts_give_the_values_of_all_rows() -> None:
    """Floating sums are not bit-exact across orders; the values agree to rounding."""
    rng = np.random.default_rng(5)
    target, prediction = regression_rows(500, rng)
    target[300:] += 1e4  # a shifted pool: re-centring must keep R2's moments exact
    prediction[300:] += 1e4
    parts = [
        regression_counts(target[a:b], prediction[a:b]) for a, b in ((0, 50), (50, 300), (300, 500))
    ]
    pooled, whole = (
        quality_values(pool(parts)),
        quality_values(regression_counts(target, prediction)),
    )
    for ours, reference in zip(pooled, whole, strict=True):
        assert ours.metric == reference.metric
        assert ours.value == pytest.approx(reference.value, rel=1e-9)
        assert ours.se == pytest.approx(reference.se, rel=1e-7)


def test_counts_survive_json_exactly() -> None:
    rng = np.random.default_rng(4)
    truth, score, predicted = binary_rows(200, rng)
    items = [
        classification_counts(truth, predicted, score, positive=1),
        multiclass_counts(*multiclass_rows(100, rng)),
        regression_counts(*regression_rows(100, rng)),
    ]
    for counts in items:
        text = json.dumps(counts_to_json(counts))
        again = counts_from_json(json.loads(text))
        assert counts_to_json(again) == counts_to_json(counts)
        assert [v.value for v in quality_values(again)] == [v.value for v in quality_values(counts)]


def test_wilson_bounds_equal_scipy() -> None:
    for successes, rows in ((0, 12), (12, 12), (155, 165), (3, 7)):
        scipy_ci = binomtest(successes, rows).proportion_ci(confidence_level=0.9, method="wilson")
        ours = wilson_bounds(successes, rows, 0.9)
        assert ours == pytest.approx((scipy_ci.low, scipy_ci.high), abs=1e-12)


def _coverage(draw, truth_of: dict[str, float], draws: int = 2000) -> dict[str, float]:
    hits = dict.fromkeys(truth_of, 0)
    for _ in range(draws):
        values = quality_values(draw())
        for metric, true in truth_of.items():
            found = find(values, metric)
            hits[metric] += found.lower <= true <= found.upper
    return {metric: count / draws for metric, count in hits.items()}


def test_binary_intervals_cover_at_their_level() -> None:
    rng = np.random.default_rng(20)
    truth, score, predicted = binary_rows(2_000_000, rng)
    population = {
        Metric.ACCURACY: sk.accuracy_score(truth, predicted),
        Metric.PRECISION: sk.precision_score(truth, predicted),
        Metric.RECALL: sk.recall_score(truth, predicted),
        Metric.F1: sk.f1_score(truth, predicted),
        Metric.ROC_AUC: sk.roc_auc_score(truth, score),
        Metric.LOG_LOSS: sk.log_loss(truth, score),
    }

    def draw() -> ClassificationCounts:
        t, s, p = binary_rows(165, rng)
        return classification_counts(t, p, s, positive=1)

    for metric, share in _coverage(draw, population).items():
        assert 0.93 <= share <= 0.97, (metric, share)


def test_multiclass_intervals_cover_and_macro_auc_is_conservative() -> None:
    rng = np.random.default_rng(21)
    truth, probabilities, predicted = multiclass_rows(1_000_000, rng)
    population = {
        Metric.ACCURACY: sk.accuracy_score(truth, predicted),
        Metric.PRECISION: sk.precision_score(truth, predicted, average="macro"),
        Metric.RECALL: sk.recall_score(truth, predicted, average="macro"),
        Metric.F1: sk.f1_score(truth, predicted, average="macro"),
        Metric.ROC_AUC: sk.roc_auc_score(truth, probabilities, multi_class="ovr"),
        Metric.LOG_LOSS: sk.log_loss(truth, probabilities),
    }
    shares = _coverage(lambda: multiclass_counts(*multiclass_rows(300, rng)), population, 1000)
    for metric, share in shares.items():
        if metric == Metric.ROC_AUC:
            assert share >= 0.97, share  # the perfect-correlation bound: wider than nominal
        else:
            assert 0.92 <= share <= 0.98, (metric, share)


def test_regression_intervals_cover_at_their_level() -> None:
    rng = np.random.default_rng(22)
    target, prediction = regression_rows(2_000_000, rng)
    population = {
        Metric.RMSE: sk.root_mean_squared_error(target, prediction),
        Metric.MAE: sk.mean_absolute_error(target, prediction),
        Metric.MAPE: 100 * sk.mean_absolute_percentage_error(target, prediction),
        Metric.R2: sk.r2_score(target, prediction),
    }
    shares = _coverage(lambda: regression_counts(*regression_rows(500, rng)), population)
    for metric, share in shares.items():
        assert 0.93 <= share <= 0.97, (metric, share)


def test_undefined_metrics_carry_quality_py_reasons() -> None:
    binary = quality_values(classification_counts([0, 0, 0], [0, 0, 0], positive=1))
    precision, recall = find(binary, Metric.PRECISION), find(binary, Metric.RECALL)
    assert precision.value is None
    assert "predicted as '1'" in precision.reason
    assert recall.value is None
    assert "no labelled row is '1'" in recall.reason
    assert find(binary, Metric.ACCURACY).value == 1.0
    multi = quality_values(classification_counts(["a", "b", "b"], ["a", "c", "b"]))
    assert all(
        find(multi, m, "c").value is None for m in (Metric.PRECISION, Metric.RECALL, Metric.F1)
    )
    assert "has no labelled rows" in find(multi, Metric.RECALL, "c").reason
    assert find(multi, Metric.RECALL, "b").value == 0.5
    regression = quality_values(regression_counts([0.0, 1.0, 2.0], [0.5, 1.0, 2.5]))
    assert "target 0" in find(regression, Metric.MAPE).reason
    constant = quality_values(regression_counts([3.1] * 5, [3.0, 3.2, 3.1, 3.3, 2.9]))
    assert "constant" in find(constant, Metric.R2).reason


def test_record_keeps_the_interval_in_details_and_se_at_uses_the_baseline() -> None:
    truth, score, predicted = binary_rows(165, np.random.default_rng(9))
    accuracy = find(
        quality_values(classification_counts(truth, predicted, score, positive=1)), Metric.ACCURACY
    )
    record = accuracy.record(rows=165)
    assert record.status is MetricStatus.OK
    assert record.details["rows"] == 165
    assert record.details["ci_lower"] < record.value < record.details["ci_upper"]
    assert record.details["ci_method"] == "wilson"
    assert accuracy.se_at(0.94) == pytest.approx(math.sqrt(0.94 * 0.06 / 165))
    missing = quality_values(classification_counts([0], [0], positive=1))
    assert find(missing, Metric.RECALL).record().status is MetricStatus.SKIPPED
