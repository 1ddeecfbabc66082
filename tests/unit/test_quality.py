"""Quality from Evidently 0.7, checked value by value against scikit-learn on the same rows."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from evidently import DataDefinition
from evidently.metrics import RMSE
from sklearn import metrics as sk
from sklearn.preprocessing import label_binarize

from monitoring_lib.metrics.quality import compute as quality
from monitoring_lib.metrics.quality.compute import compute_quality
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus

TOLERANCE = 1e-9
CLASSES = ["cat", "dog", "eel"]
MAPPING = {label: f"p_{label}" for label in CLASSES}


def by_key(records: Sequence[MetricRecord]) -> dict[tuple[str, str], MetricRecord]:
    keyed = {(record.metric, record.column): record for record in records}
    assert len(keyed) == len(records), "a window must not repeat a (metric, column) key"
    return keyed


def value(records: Sequence[MetricRecord], metric: Metric, column: str = DATASET) -> float:
    record = by_key(records)[(metric, column)]
    assert record.status is MetricStatus.OK, record.details.get("reason")
    assert record.value is not None
    return record.value


def quiet(function: Callable[..., float], *args: Any, **kwargs: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(function(*args, **kwargs))


def binary_frame(n: int = 120, seed: int = 0, labels: tuple[Any, Any] = (0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    score = np.clip(0.35 * truth + 0.65 * rng.random(n), 0.0, 1.0)
    predicted = np.where(rng.random(n) < 0.8, truth, 1 - truth)
    names = np.array(labels, dtype=object)
    frame = pd.DataFrame({"y": names[truth], "y_hat": names[predicted], "p": score})
    return frame.infer_objects()


def multiclass_frame(n: int = 150, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], n)
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


def binary(frame: pd.DataFrame, **kwargs: Any) -> list[MetricRecord]:
    kwargs.setdefault("probability", "p")
    return compute_quality(frame, task="binary", target="y", prediction="y_hat", **kwargs)


def multiclass(frame: pd.DataFrame, **kwargs: Any) -> list[MetricRecord]:
    kwargs.setdefault("probability", MAPPING)
    return compute_quality(frame, task="multiclass", target="y", prediction="y_hat", **kwargs)


def regression(frame: pd.DataFrame, **kwargs: Any) -> list[MetricRecord]:
    return compute_quality(frame, task="regression", target="y", prediction="y_hat", **kwargs)


def assert_binary_matches_sklearn(
    records: Sequence[MetricRecord], frame: pd.DataFrame, pos_label: Any
) -> None:
    truth, predicted, score = frame["y"], frame["y_hat"], frame["p"]
    is_positive = truth == pos_label
    expected = {
        Metric.ACCURACY: sk.accuracy_score(truth, predicted),
        Metric.PRECISION: sk.precision_score(truth, predicted, pos_label=pos_label),
        Metric.RECALL: sk.recall_score(truth, predicted, pos_label=pos_label),
        Metric.F1: sk.f1_score(truth, predicted, pos_label=pos_label),
        Metric.ROC_AUC: sk.roc_auc_score(is_positive, score),
        Metric.LOG_LOSS: sk.log_loss(is_positive, score),
    }
    for metric, number in expected.items():
        assert value(records, metric) == pytest.approx(number, abs=TOLERANCE), metric


@pytest.mark.parametrize(
    ("labels", "pos_label", "seed"),
    [((0, 1), 1, 0), ((0, 1), 0, 3), (("no", "yes"), "yes", 4), ((False, True), True, 5)],
    ids=["int-pos1", "int-pos0", "strings", "bools"],
)
def test_binary_matches_sklearn(labels: tuple[Any, Any], pos_label: Any, seed: int) -> None:
    frame = binary_frame(seed=seed, labels=labels)
    records = binary(frame, pos_label=pos_label)

    assert_binary_matches_sklearn(records, frame, pos_label)
    assert [r.metric for r in records] == [
        Metric.LABEL_COVERAGE,
        Metric.ACCURACY,
        Metric.PRECISION,
        Metric.RECALL,
        Metric.F1,
        Metric.ROC_AUC,
        Metric.LOG_LOSS,
    ]


def test_binary_label_metrics_come_from_the_prediction_column_not_the_probability() -> None:
    frame = binary_frame(seed=6)
    frame["y_hat"] = 1 - frame["y"]  # every label wrong, while the scores still rank well

    records = binary(frame)

    assert value(records, Metric.ACCURACY) == 0.0
    assert value(records, Metric.ROC_AUC) > 0.7


def test_binary_without_probability_has_no_probability_metrics() -> None:
    records = binary(binary_frame(seed=7), probability=None)

    assert {r.metric for r in records}.isdisjoint({Metric.ROC_AUC, Metric.LOG_LOSS})
    assert value(records, Metric.F1) > 0.0


@pytest.mark.parametrize("with_probabilities", [True, False], ids=["probas", "labels-only"])
def test_multiclass_matches_sklearn(with_probabilities: bool) -> None:
    frame = multiclass_frame()
    records = multiclass(frame, probability=MAPPING if with_probabilities else None)
    truth, predicted = frame["y"], frame["y_hat"]
    expected = {
        (Metric.ACCURACY, DATASET): sk.accuracy_score(truth, predicted),
        (Metric.PRECISION, DATASET): sk.precision_score(truth, predicted, average="macro"),
        (Metric.RECALL, DATASET): sk.recall_score(truth, predicted, average="macro"),
        (Metric.F1, DATASET): sk.f1_score(truth, predicted, average="macro"),
    }
    for function, metric in [
        (sk.precision_score, Metric.PRECISION),
        (sk.recall_score, Metric.RECALL),
        (sk.f1_score, Metric.F1),
    ]:
        per_class = function(truth, predicted, labels=CLASSES, average=None)
        expected |= {(metric, label): per_class[i] for i, label in enumerate(CLASSES)}
    if with_probabilities:
        scores = frame[[MAPPING[label] for label in CLASSES]].to_numpy()
        one_hot = label_binarize(truth, classes=CLASSES)
        per_class_auc = sk.roc_auc_score(one_hot, scores, average=None)
        expected[(Metric.ROC_AUC, DATASET)] = sk.roc_auc_score(
            truth, scores, multi_class="ovr", labels=CLASSES
        )
        expected[(Metric.LOG_LOSS, DATASET)] = sk.log_loss(truth, scores, labels=CLASSES)
        expected |= {(Metric.ROC_AUC, c): per_class_auc[i] for i, c in enumerate(CLASSES)}

    for (metric, column), number in expected.items():
        assert value(records, metric, column) == pytest.approx(number, abs=TOLERANCE)
    assert len(records) == 1 + len(expected)


def test_multiclass_int_classes_with_float_target_and_int_mapping_keys() -> None:
    frame = multiclass_frame(seed=8)
    codes = {label: index for index, label in enumerate(CLASSES)}
    frame["y"] = frame["y"].map(codes).astype("float64")  # a target with gaps arrives as float
    frame["y_hat"] = frame["y_hat"].map(codes)
    frame.loc[:9, "y"] = np.nan
    mapping = {codes[label]: column for label, column in MAPPING.items()}

    records = multiclass(frame, probability=mapping)

    labelled = frame.dropna(subset=["y"])
    assert {r.column for r in records} == {DATASET, "0", "1", "2"}
    assert value(records, Metric.PRECISION, "2") == pytest.approx(
        sk.precision_score(labelled["y"], labelled["y_hat"], labels=[2], average=None)[0]
    )
    assert value(records, Metric.F1) == pytest.approx(
        sk.f1_score(labelled["y"], labelled["y_hat"], average="macro"), abs=TOLERANCE
    )


def test_multiclass_window_with_two_observed_classes_uses_the_macro_average() -> None:
    """Evidently 0.7 mistakes two observed classes for a binary task; the macro still holds."""
    frame = multiclass_frame(seed=9)
    frame = frame.loc[frame["y"].isin(["cat", "dog"]) & frame["y_hat"].isin(["cat", "dog"])]

    records = multiclass(frame.reset_index(drop=True), probability=None)

    truth, predicted = frame["y"], frame["y_hat"]
    for metric, function in [
        (Metric.PRECISION, sk.precision_score),
        (Metric.RECALL, sk.recall_score),
        (Metric.F1, sk.f1_score),
    ]:
        expected = function(truth, predicted, average="macro")
        assert value(records, metric) == pytest.approx(expected, abs=TOLERANCE)
    assert value(records, Metric.ACCURACY) == pytest.approx(sk.accuracy_score(truth, predicted))


@pytest.mark.parametrize("offset", [50.0, -5.0], ids=["positive-targets", "negative-targets"])
def test_regression_matches_sklearn(offset: float) -> None:
    frame = regression_frame(offset=offset)
    records = regression(frame)
    truth, predicted = frame["y"], frame["y_hat"]

    assert value(records, Metric.RMSE) == pytest.approx(
        sk.root_mean_squared_error(truth, predicted), abs=TOLERANCE
    )
    assert value(records, Metric.MAE) == pytest.approx(
        sk.mean_absolute_error(truth, predicted), abs=TOLERANCE
    )
    assert value(records, Metric.R2) == pytest.approx(sk.r2_score(truth, predicted), abs=TOLERANCE)
    # Evidently reports MAPE in percent; the sign of a negative target must not distort it.
    assert value(records, Metric.MAPE) == pytest.approx(
        100.0 * sk.mean_absolute_percentage_error(truth, predicted), rel=TOLERANCE
    )


@pytest.mark.parametrize(
    ("task", "make"),
    [("binary", binary_frame), ("multiclass", multiclass_frame), ("regression", regression_frame)],
)
def test_partial_labels_use_labelled_rows_only_and_record_coverage(
    task: str, make: Callable[[], pd.DataFrame]
) -> None:
    frame = make()
    hidden = frame.index[::3]
    partial = frame.assign(y=frame["y"].astype(object))
    partial.loc[hidden, "y"] = None
    run = {"binary": binary, "multiclass": multiclass, "regression": regression}[task]

    records = by_key(run(partial))
    expected = by_key(run(frame.drop(index=hidden).reset_index(drop=True)))

    coverage = records[(Metric.LABEL_COVERAGE, DATASET)]
    labelled = len(frame) - len(hidden)
    assert coverage.value == pytest.approx(labelled / len(frame))
    assert coverage.details == {"labelled_rows": labelled, "window_rows": len(frame)}
    for key, record in records.items():
        if key[0] is not Metric.LABEL_COVERAGE:
            assert record.value == pytest.approx(expected[key].value, abs=TOLERANCE), key
            assert record.details["rows"] == labelled


def with_nan_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y_hat=frame["y_hat"].astype(object).mask(frame.index < 4))


def with_nan_probabilities(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(p=frame["p"].mask(frame.index < 5))


def single_class(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y=1)


BAD_INPUTS: list[tuple[str, Callable[[], list[MetricRecord]], Metric, str, MetricStatus, str]] = [
    (
        "empty-window",
        lambda: binary(binary_frame().iloc[:0]),
        Metric.LABEL_COVERAGE,
        DATASET,
        MetricStatus.INSUFFICIENT_DATA,
        "window has no rows",
    ),
    (
        "empty-window-quality",
        lambda: binary(binary_frame().iloc[:0]),
        Metric.ROC_AUC,
        DATASET,
        MetricStatus.INSUFFICIENT_DATA,
        "0 labelled rows",
    ),
    (
        "one-row-window",
        lambda: regression(regression_frame().iloc[:1], min_labelled_rows=1),
        Metric.R2,
        DATASET,
        MetricStatus.INSUFFICIENT_DATA,
        "1 labelled rows with usable predictions; quality needs 2",
    ),
    (
        "too-few-labels",
        lambda: multiclass(multiclass_frame().iloc[:20]),
        Metric.F1,
        DATASET,
        MetricStatus.INSUFFICIENT_DATA,
        "20 labelled rows with usable predictions; quality needs 30",
    ),
    (
        "all-labels-missing",
        lambda: binary(binary_frame().assign(y=np.nan)),
        Metric.ACCURACY,
        DATASET,
        MetricStatus.INSUFFICIENT_DATA,
        "0 labelled rows",
    ),
    (
        "missing-label-column",
        lambda: binary(binary_frame().drop(columns="y")),
        Metric.LABEL_COVERAGE,
        DATASET,
        MetricStatus.ERROR,
        "no target column 'y'",
    ),
    (
        "missing-label-column-quality",
        lambda: regression(regression_frame().drop(columns="y")),
        Metric.MAE,
        DATASET,
        MetricStatus.ERROR,
        "no column 'y'",
    ),
    (
        "missing-prediction-column",
        lambda: binary(binary_frame().drop(columns="y_hat")),
        Metric.F1,
        DATASET,
        MetricStatus.ERROR,
        "no column 'y_hat'",
    ),
    (
        "missing-probability-column",
        lambda: binary(binary_frame().drop(columns="p")),
        Metric.LOG_LOSS,
        DATASET,
        MetricStatus.ERROR,
        "lacks probability columns ['p']",
    ),
    (
        "single-class-labels",
        lambda: binary(single_class(binary_frame())),
        Metric.ROC_AUC,
        DATASET,
        MetricStatus.SKIPPED,
        "only one class present in labels",
    ),
    (
        "single-class-no-positive-labels",
        lambda: binary(binary_frame().assign(y=0)),
        Metric.RECALL,
        DATASET,
        MetricStatus.SKIPPED,
        "no labelled row is '1', so recall is undefined",
    ),
    (
        "no-positive-predictions",
        lambda: binary(binary_frame().assign(y_hat=0)),
        Metric.PRECISION,
        DATASET,
        MetricStatus.SKIPPED,
        "no row was predicted as '1'",
    ),
    (
        "binary-with-a-third-class",
        lambda: binary(binary_frame().assign(y_hat=lambda f: f["y_hat"].where(f.index > 0, 2))),
        Metric.ACCURACY,
        DATASET,
        MetricStatus.ERROR,
        "binary task expects one class besides pos_label '1', found 2: ['0', '2']",
    ),
    (
        "prediction-class-unseen-in-labels",
        lambda: multiclass(
            multiclass_frame().assign(y=lambda f: f["y"].replace("eel", "dog")), probability=None
        ),
        Metric.RECALL,
        "eel",
        MetricStatus.SKIPPED,
        "class 'eel' has no labelled rows",
    ),
    (
        "probability-class-unseen-in-labels",
        lambda: multiclass(multiclass_frame().assign(y=lambda f: f["y"].replace("eel", "dog"))),
        Metric.ROC_AUC,
        DATASET,
        MetricStatus.SKIPPED,
        "classes ['eel'] have no labelled rows",
    ),
    (
        "label-class-without-probability",
        lambda: multiclass(multiclass_frame().assign(y=lambda f: f["y"].where(f.index > 0, "fox"))),
        Metric.ROC_AUC,
        "cat",
        MetricStatus.ERROR,
        "labels contain classes with no probability column: ['fox']",
    ),
    (
        "probabilities-out-of-range",
        lambda: binary(binary_frame().assign(p=lambda f: f["p"] * 1.5)),
        Metric.LOG_LOSS,
        DATASET,
        MetricStatus.ERROR,
        "probabilities lie outside [0, 1]",
    ),
    (
        "probabilities-not-summing-to-one",
        lambda: multiclass(multiclass_frame().assign(p_cat=0.9)),
        Metric.LOG_LOSS,
        DATASET,
        MetricStatus.ERROR,
        "do not sum to 1",
    ),
    (
        "mape-zero-targets",
        lambda: regression(regression_frame().assign(y=lambda f: f["y"].where(f.index > 2, 0.0))),
        Metric.MAPE,
        DATASET,
        MetricStatus.SKIPPED,
        "3 labelled rows have target 0, where MAPE is undefined",
    ),
    (
        "constant-targets",
        lambda: regression(regression_frame().assign(y=7.0)),
        Metric.R2,
        DATASET,
        MetricStatus.SKIPPED,
        "labelled targets are constant",
    ),
]


@pytest.mark.parametrize(
    ("run", "metric", "column", "status", "reason"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_a_status_and_a_reason(
    run: Callable[[], list[MetricRecord]],
    metric: Metric,
    column: str,
    status: MetricStatus,
    reason: str,
) -> None:
    records = run()

    record = by_key(records)[(metric, column)]
    assert record.status is status
    assert record.value is None
    assert reason in record.details["reason"]
    for every in records:
        assert every.value is None or math.isfinite(every.value)
        assert every.status is not MetricStatus.OK or every.value is not None


def test_single_class_labels_still_compute_the_other_metrics() -> None:
    frame = single_class(binary_frame())
    records = binary(frame)

    truth, predicted = frame["y"], frame["y_hat"]
    assert value(records, Metric.ACCURACY) == pytest.approx(sk.accuracy_score(truth, predicted))
    assert value(records, Metric.RECALL) == pytest.approx(sk.recall_score(truth, predicted))
    assert value(records, Metric.LOG_LOSS) == pytest.approx(
        sk.log_loss(frame["y"], frame["p"], labels=[0, 1]), abs=TOLERANCE
    )


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (with_nan_predictions, "dropped_invalid_prediction"),
        (with_nan_probabilities, "dropped_invalid_probability"),
    ],
    ids=["nan-predictions", "nan-probabilities"],
)
def test_nan_predictions_or_probabilities_drop_rows_and_say_how_many(
    damage: Callable[[pd.DataFrame], pd.DataFrame], detail: str
) -> None:
    frame = damage(binary_frame(seed=10))
    records = binary(frame)

    kept = frame.dropna().reset_index(drop=True)
    dropped = len(frame) - len(kept)
    assert dropped > 0
    assert_binary_matches_sklearn(records, kept.assign(y_hat=kept["y_hat"].astype(int)), 1)
    for record in records[1:]:
        assert record.details[detail] == dropped
        assert record.details["rows"] == len(kept)


def test_unseen_prediction_class_keeps_the_sklearn_macro_and_names_the_class() -> None:
    frame = multiclass_frame(seed=11).assign(y=lambda f: f["y"].replace("eel", "dog"))
    records = multiclass(frame, probability=None)

    expected = quiet(sk.recall_score, frame["y"], frame["y_hat"], average="macro")
    assert value(records, Metric.RECALL) == pytest.approx(expected, abs=TOLERANCE)
    assert by_key(records)[(Metric.RECALL, DATASET)].details["classes_without_labels"] == ["eel"]


def test_class_missing_from_labels_still_gives_log_loss() -> None:
    frame = multiclass_frame(seed=12).assign(y=lambda f: f["y"].replace("eel", "dog"))
    records = multiclass(frame)

    scores = frame[[MAPPING[label] for label in CLASSES]].to_numpy()
    expected = sk.log_loss(frame["y"], scores, labels=CLASSES)
    assert value(records, Metric.LOG_LOSS) == pytest.approx(expected, abs=TOLERANCE)


def test_constant_predictions_give_r2_with_a_note() -> None:
    frame = regression_frame().assign(y_hat=40.0)
    records = regression(frame)

    r2 = by_key(records)[(Metric.R2, DATASET)]
    assert r2.value == pytest.approx(sk.r2_score(frame["y"], frame["y_hat"]), abs=TOLERANCE)
    assert r2.value is not None
    assert r2.value <= 0.0
    assert "predictions are constant" in r2.details["note"]


def test_mixed_type_regression_predictions_are_dropped_and_counted() -> None:
    frame = regression_frame()
    junk: list[object] = ["n/a", b"\xff\xfe", "x" * 10_000]
    frame["y_hat"] = pd.Series(junk + frame["y_hat"].iloc[3:].tolist(), dtype=object)

    records = regression(frame)

    assert by_key(records)[(Metric.MAE, DATASET)].details["dropped_invalid_prediction"] == 3
    kept = frame.iloc[3:].astype(float)
    assert value(records, Metric.MAE) == pytest.approx(
        sk.mean_absolute_error(kept["y"], kept["y_hat"]), abs=TOLERANCE
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking"}, "unknown task"),
        ({"task": "regression", "probability": "p"}, "regression takes no probability"),
        ({"task": "binary", "probability": {"a": "p"}}, "binary takes one probability column"),
        ({"task": "multiclass", "probability": "p"}, "multiclass takes a mapping"),
        ({"task": "multiclass", "probability": {0: "a", 1: "b"}}, "3+ classes"),
        ({"task": "multiclass", "probability": {1: "a", "1": "b", 2: "c"}}, "3+ classes"),
        ({"task": "binary", "min_labelled_rows": 0}, "min_labelled_rows"),
    ],
)
def test_bad_configuration_raises(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        compute_quality(binary_frame(), target="y", prediction="y_hat", **kwargs)


def test_non_finite_evidently_values_are_errors_not_ok() -> None:
    truth = np.random.default_rng(13).normal(1e200, 1e199, 40)  # squared errors overflow

    records = by_key(regression(pd.DataFrame({"y": truth, "y_hat": truth * 1.5})))

    assert records[(Metric.RMSE, DATASET)].status is MetricStatus.ERROR
    assert records[(Metric.RMSE, DATASET)].details["reason"] == "Evidently returned no finite value"
    assert records[(Metric.MAE, DATASET)].status is MetricStatus.OK


def test_an_evidently_failure_becomes_error_records() -> None:
    keys = [(Metric.RMSE, DATASET), (Metric.MAE, DATASET)]
    outcome = quality._Outcome(keys=keys)
    outcome.verdicts[(Metric.MAE, DATASET)] = quality.Verdict(MetricStatus.SKIPPED, "kept")
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    plan = [(Metric.RMSE, RMSE(regression_name="absent"))]  # no such regression task

    quality._run_safely(outcome, frame, DataDefinition(numerical_columns=["a"]), plan)

    assert outcome.verdicts[(Metric.RMSE, DATASET)].status is MetricStatus.ERROR
    assert outcome.verdicts[(Metric.RMSE, DATASET)].reason.startswith("Evidently failed: ")
    assert outcome.verdicts[(Metric.MAE, DATASET)].reason == "kept"


def test_predicted_class_without_probability_column_leaves_roc_auc_intact() -> None:
    frame = multiclass_frame(seed=14)
    frame.loc[:4, "y_hat"] = "fox"  # a class the model's probability output does not cover
    records = multiclass(frame)

    scores = frame[[MAPPING[label] for label in CLASSES]].to_numpy()
    expected = sk.roc_auc_score(frame["y"], scores, multi_class="ovr", labels=CLASSES)
    assert value(records, Metric.ROC_AUC) == pytest.approx(expected, abs=TOLERANCE)
    assert by_key(records)[(Metric.RECALL, "fox")].status is MetricStatus.SKIPPED
    assert (Metric.ROC_AUC, "fox") not in by_key(records)
    assert value(records, Metric.PRECISION) == pytest.approx(
        quiet(sk.precision_score, frame["y"], frame["y_hat"], average="macro"), abs=TOLERANCE
    )
