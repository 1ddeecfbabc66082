"""A window's quality from counts stores what the Evidently path stores (names, statuses, reasons,
values), with an interval around each value, and keeps the counts for pooling."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from monitoring_lib.metrics.quality.compute import compute_quality
from monitoring_lib.metrics.quality.counts import ClassificationCounts, counts_to_json
from monitoring_lib.metrics.quality.regression import RegressionCounts
from monitoring_lib.metrics.quality.window import window_quality
from monitoring_lib.records import DATASET, Metric, MetricStatus

CLASSES = ["cat", "dog", "eel"]
MAPPING = {label: f"p_{label}" for label in CLASSES}


def binary_frame(n: int = 120, seed: int = 0, labels: tuple[Any, Any] = (0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    score = np.clip(0.35 * truth + 0.65 * rng.random(n), 0.0, 1.0)
    predicted = np.where(rng.random(n) < 0.8, truth, 1 - truth)
    names = np.array(labels, dtype=object)
    return pd.DataFrame({"y": names[truth], "y_hat": names[predicted], "p": score}).infer_objects()


def multiclass_frame(n: int = 150, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    probabilities = rng.random((n, 3))
    probabilities[np.arange(n), truth] += 0.8
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = np.where(rng.random(n) < 0.6, truth, rng.integers(0, 3, n))
    names = np.array(CLASSES)
    frame = pd.DataFrame({"y": names[truth], "y_hat": names[predicted]})
    for index, label in enumerate(CLASSES):
        frame[MAPPING[label]] = probabilities[:, index]
    return frame


def regression_frame(n: int = 100, seed: int = 2, offset: float = 50.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.normal(offset, 10.0, n)
    return pd.DataFrame({"y": truth, "y_hat": truth + rng.normal(0.0, 4.0, n)})


def partial(frame: pd.DataFrame) -> pd.DataFrame:
    hidden = frame.assign(y=frame["y"].astype(object))
    hidden.loc[hidden.index[::3], "y"] = None
    return hidden


BINARY = {"task": "binary", "probability": "p"}
MULTI = {"task": "multiclass", "probability": MAPPING}
REGRESSION = {"task": "regression"}
CASES: list[tuple[str, Callable[[], pd.DataFrame], dict[str, Any]]] = [
    ("binary", binary_frame, BINARY),
    ("binary-pos0", lambda: binary_frame(seed=3), {**BINARY, "pos_label": 0}),
    ("binary-strings", lambda: binary_frame(seed=4, labels=("no", "yes")),
     {**BINARY, "pos_label": "yes"}),
    ("binary-no-probability", binary_frame, {"task": "binary"}),
    ("binary-partial-labels", lambda: partial(binary_frame(seed=5)), BINARY),
    ("binary-nan-predictions",
     lambda: binary_frame().assign(y_hat=lambda f: f["y_hat"].astype(object).mask(f.index < 4)),
     BINARY),
    ("binary-nan-probabilities", lambda: binary_frame().assign(p=lambda f: f["p"].mask(f.index < 5)),
     BINARY),
    ("binary-single-class", lambda: binary_frame().assign(y=1), BINARY),
    ("binary-no-positive-labels", lambda: binary_frame().assign(y=0), BINARY),
    ("binary-no-positive-predictions", lambda: binary_frame().assign(y_hat=0), BINARY),
    ("binary-one-positive-label", lambda: binary_frame().assign(y=lambda f: (f.index == 7) * 1),
     BINARY),
    ("binary-third-class",
     lambda: binary_frame().assign(y_hat=lambda f: f["y_hat"].where(f.index > 0, 2)), BINARY),
    ("binary-probabilities-out-of-range", lambda: binary_frame().assign(p=lambda f: f["p"] * 1.5),
     BINARY),
    ("binary-missing-probability-column", lambda: binary_frame().drop(columns="p"), BINARY),
    ("binary-empty", lambda: binary_frame().iloc[:0], BINARY),
    ("binary-too-few", lambda: binary_frame().iloc[:20], BINARY),
    ("binary-missing-target", lambda: binary_frame().drop(columns="y"), BINARY),
    ("binary-missing-prediction", lambda: binary_frame().drop(columns="y_hat"), BINARY),
    ("multiclass", multiclass_frame, MULTI),
    ("multiclass-no-probability", multiclass_frame, {"task": "multiclass"}),
    ("multiclass-partial-labels", lambda: partial(multiclass_frame(seed=6)), MULTI),
    ("multiclass-class-unlabelled",
     lambda: multiclass_frame().assign(y=lambda f: f["y"].replace("eel", "dog")), MULTI),
    ("multiclass-class-unlabelled-no-probability",
     lambda: multiclass_frame().assign(y=lambda f: f["y"].replace("eel", "dog")),
     {"task": "multiclass"}),
    ("multiclass-label-without-probability",
     lambda: multiclass_frame().assign(y=lambda f: f["y"].where(f.index > 0, "fox")), MULTI),
    ("multiclass-prediction-without-probability",
     lambda: multiclass_frame().assign(y_hat=lambda f: f["y_hat"].where(f.index > 4, "fox")),
     MULTI),
    ("multiclass-not-summing-to-one", lambda: multiclass_frame().assign(p_cat=0.9), MULTI),
    ("multiclass-two-observed",
     lambda: multiclass_frame().query("y != 'eel' and y_hat != 'eel'"), {"task": "multiclass"}),
    ("multiclass-int-classes",
     lambda: multiclass_frame().assign(
         y=lambda f: f["y"].map({"cat": 0.0, "dog": 1.0, "eel": 2.0}),
         y_hat=lambda f: f["y_hat"].map({"cat": 0, "dog": 1, "eel": 2}),
     ).rename(columns={"p_cat": "p0", "p_dog": "p1", "p_eel": "p2"}),
     {"task": "multiclass", "probability": {0: "p0", 1: "p1", 2: "p2"}}),
    ("regression", regression_frame, REGRESSION),
    ("regression-negative", lambda: regression_frame(offset=-20.0), REGRESSION),
    ("regression-partial-labels", lambda: partial(regression_frame(seed=7)), REGRESSION),
    ("regression-zero-targets",
     lambda: regression_frame().assign(y=lambda f: f["y"].where(f.index > 2, 0.0)), REGRESSION),
    ("regression-constant-targets", lambda: regression_frame().assign(y=7.0), REGRESSION),
    ("regression-constant-predictions", lambda: regression_frame().assign(y_hat=40.0), REGRESSION),
    ("regression-junk-predictions",
     lambda: regression_frame().assign(
         y_hat=lambda f: pd.Series(["n/a", "x", *f["y_hat"].iloc[2:]], dtype=object)),
     REGRESSION),
]  # fmt: skip


@pytest.mark.parametrize(("make", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_counts_path_stores_what_the_evidently_path_stores(
    make: Callable[[], pd.DataFrame], kwargs: dict[str, Any]
) -> None:
    frame = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evidently = compute_quality(frame, target="y", prediction="y_hat", **kwargs)
    ours = window_quality(frame, target="y", prediction="y_hat", **kwargs).records

    assert [(r.metric, r.column, r.status) for r in ours] == [
        (r.metric, r.column, r.status) for r in evidently
    ]
    for mine, theirs in zip(ours, evidently, strict=True):
        assert mine.details.get("reason") == theirs.details.get("reason"), mine.key
        if theirs.value is None:
            assert mine.value is None
            continue
        assert mine.value == pytest.approx(theirs.value, rel=1e-9, abs=1e-12), mine.key
        for name, shared in theirs.details.items():
            assert mine.details[name] == shared, (mine.key, name)


@pytest.mark.parametrize(("make", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_ok_value_sits_inside_its_interval(
    make: Callable[[], pd.DataFrame], kwargs: dict[str, Any]
) -> None:
    records = window_quality(make(), target="y", prediction="y_hat", **kwargs).records
    for record in records:
        if record.status is not MetricStatus.OK or record.metric == Metric.LABEL_COVERAGE:
            continue
        details = record.details
        if "se" not in details:  # ROC AUC with a single row on one side: no spread to speak of
            assert record.metric == Metric.ROC_AUC
            continue
        assert details["ci_lower"] <= record.value <= details["ci_upper"], record.key
        assert details["se"] >= 0
        assert details["ci_level"] == 0.95
        assert details["ci_method"]


def test_accuracy_carries_wilsons_interval_and_the_counts_are_kept() -> None:
    frame = partial(binary_frame(n=165, seed=9))
    quality = window_quality(frame, task="binary", target="y", prediction="y_hat", probability="p")

    accuracy = next(r for r in quality.records if r.metric == Metric.ACCURACY)
    labelled = frame.dropna(subset=["y"])
    correct = int((labelled["y"].astype(int) == labelled["y_hat"]).sum())
    assert accuracy.details["ci_method"] == "wilson"
    assert accuracy.details["denominator_rows"] == len(labelled)
    low, high = sk_wilson(correct, len(labelled))
    assert (accuracy.details["ci_lower"], accuracy.details["ci_upper"]) == pytest.approx(
        (low, high)
    )
    counts = quality.counts
    assert isinstance(counts, ClassificationCounts)
    assert counts.rows == len(labelled)
    assert np.trace(counts.confusion) == correct
    assert counts.scored == ("1",)


def sk_wilson(successes: int, rows: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    interval = binomtest(successes, rows).proportion_ci(0.95, method="wilson")
    return interval.low, interval.high


def test_counts_are_kept_below_the_per_window_minimum_for_pooling() -> None:
    frame = binary_frame(n=12, seed=2)
    quality = window_quality(frame, task="binary", target="y", prediction="y_hat", probability="p")

    accuracy = next(r for r in quality.records if r.metric == Metric.ACCURACY)
    assert accuracy.status is MetricStatus.INSUFFICIENT_DATA
    assert quality.counts is not None
    assert quality.counts.rows == 12
    assert np.trace(quality.counts.confusion) == sk.accuracy_score(
        frame["y"], frame["y_hat"], normalize=False
    )


def test_counts_of_regression_and_of_unusable_windows() -> None:
    frame = regression_frame()
    quality = window_quality(frame, task="regression", target="y", prediction="y_hat")
    assert isinstance(quality.counts, RegressionCounts)
    assert quality.counts.rows == len(frame)

    third = binary_frame().assign(y_hat=lambda f: f["y_hat"].where(f.index > 0, 2))
    kwargs: dict[str, Any] = {"task": "binary", "target": "y", "prediction": "y_hat"}
    assert window_quality(third, **kwargs).counts is None
    assert window_quality(binary_frame().drop(columns="y"), **kwargs).counts is None
    outside = binary_frame().assign(p=lambda f: f["p"] * 1.5)
    counts = window_quality(outside, probability="p", **kwargs).counts
    assert isinstance(counts, ClassificationCounts)
    assert counts.scored == ()  # invalid scores are not binned, labels still count
    assert counts_to_json(counts)["scored"] == []


def test_multiclass_roc_auc_is_exact_with_the_binned_interval_around_it() -> None:
    frame = multiclass_frame(n=400, seed=8)
    records = window_quality(frame, target="y", prediction="y_hat", **MULTI).records
    auc = next(r for r in records if r.metric == Metric.ROC_AUC and r.column == DATASET)
    scores = frame[[MAPPING[c] for c in CLASSES]].to_numpy()
    exact = sk.roc_auc_score(frame["y"], scores, multi_class="ovr", labels=CLASSES)
    assert auc.value == pytest.approx(exact, abs=1e-12)
    assert auc.details["ci_method"] == "delong-bound"
    assert auc.details["ci_lower"] < exact < auc.details["ci_upper"]
