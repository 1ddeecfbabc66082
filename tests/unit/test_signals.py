"""Multivariate drift, prediction confidence and drift impact on small synthetic data: each sees
the change it is for, and stays quiet on unchanged data across seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.metrics import multivariate
from monitoring_lib.metrics.confidence import confidence_records, count_chunks
from monitoring_lib.metrics.multivariate import (
    ReconstructionModel,
    cached_model,
    fit_model,
    multivariate_records,
    window_errors,
)
from monitoring_lib.pipeline.impact import impact_record
from monitoring_lib.pipeline.summary import summarize, summary_markdown
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.signals import ConfidenceSettings, MultivariateSettings

NUMERICAL = ["x", "y", *(f"z{i}" for i in range(6))]
SETTINGS = MultivariateSettings()


def _features(rows: int, correlation: float, rng: np.random.Generator) -> pd.DataFrame:
    """x and y correlated, six independent columns and a categorical one: marginals are the
    same whatever the sign of the correlation."""
    x = rng.normal(size=rows)
    y = correlation * x + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    data = {"x": x, "y": y, **{f"z{i}": rng.normal(size=rows) for i in range(6)}}
    return pd.DataFrame({**data, "kind": rng.choice(["a", "b", "c"], size=rows)})


def _verdict(model: ReconstructionModel | str, window: pd.DataFrame) -> MetricRecord:
    records = multivariate_records(model, window_errors(model, [window]), SETTINGS, 0)  # type: ignore[arg-type]
    assert [r.metric for r in records] == [Metric.MULTIVARIATE_ERROR, Metric.MULTIVARIATE_DRIFT]
    assert records[0].status == records[1].status
    return records[1]


@pytest.mark.parametrize("rows", [300, 2_000])
def test_a_flipped_correlation_is_flagged_and_unchanged_data_is_not(rows: int) -> None:
    flagged, quiet = 0, 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        model = fit_model(_features(4_000, 0.9, rng), NUMERICAL, ["kind"], SETTINGS, key=str(seed))
        assert isinstance(model, ReconstructionModel)
        quiet += _verdict(model, _features(rows, 0.9, rng)).status is MetricStatus.OK
        flipped = _verdict(model, _features(rows, -0.9, rng))
        flagged += flipped.status is MetricStatus.DRIFT and flipped.value == 1.0
    assert (flagged, quiet) == (12, 12)


def test_the_flip_is_invisible_column_by_column() -> None:
    """What makes the test meaningful: each marginal of the flipped window matches the reference."""
    rng = np.random.default_rng(1)
    same, flipped = _features(20_000, 0.9, rng), _features(20_000, -0.9, rng)
    for column in ("x", "y"):
        assert abs(same[column].std() - flipped[column].std()) < 0.03
        assert abs(same[column].mean() - flipped[column].mean()) < 0.03


def test_chunks_add_up_to_the_whole_window_and_missing_columns_are_named() -> None:
    rng = np.random.default_rng(3)
    model = fit_model(_features(2_000, 0.9, rng), NUMERICAL, ["kind"], SETTINGS)
    assert isinstance(model, ReconstructionModel)
    window = _features(1_000, -0.9, rng)
    whole = window_errors(model, [window])
    parts = window_errors(model, [window.iloc[:300], window.iloc[300:700], window.iloc[700:]])
    assert not isinstance(whole, str)
    assert not isinstance(parts, str)
    assert (parts.rows, parts.total) == (whole.rows, whole.total)  # however the rows split
    problem = window_errors(model, [window.drop(columns=["y"])])
    assert problem == "the current window has no column 'y'"
    record = multivariate_records(model, problem, SETTINGS, 0)[0]
    assert (record.value, record.status) == (None, MetricStatus.ERROR)


def test_too_few_rows_or_columns_give_reasons_not_verdicts() -> None:
    rng = np.random.default_rng(4)
    model = fit_model(_features(2_000, 0.9, rng), NUMERICAL, [], SETTINGS)
    small = _verdict(model, _features(50, 0.9, rng))
    assert small.status is MetricStatus.INSUFFICIENT_DATA
    assert "needs 100" in small.details["reason"]
    assert "at least two" in str(fit_model(_features(2_000, 0.9, rng), ["x"], [], SETTINGS))
    assert "rows" in str(fit_model(_features(150, 0.9, rng), NUMERICAL, [], SETTINGS))


def test_missing_values_and_an_empty_column_do_not_break_the_fit() -> None:
    rng = np.random.default_rng(6)
    reference = _features(2_000, 0.9, rng)
    reference.loc[::7, "x"] = np.nan
    reference["z0"] = np.nan
    model = fit_model(reference, NUMERICAL, ["kind"], SETTINGS)
    assert isinstance(model, ReconstructionModel)
    window = _features(500, 0.9, rng)
    window.loc[::5, "y"] = None
    window["z0"] = np.nan
    assert _verdict(model, window).status is MetricStatus.OK
    assert _verdict(model, _features(500, -0.9, rng).assign(z0=np.nan)).status is MetricStatus.DRIFT


def test_the_model_is_fitted_once_per_reference_and_the_null_once_per_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    reference = _features(2_000, 0.9, rng)
    first = cached_model(
        reference, NUMERICAL, ["kind"], SETTINGS, cache_dir=tmp_path, content_hash="abc"
    )
    assert isinstance(first, ReconstructionModel)
    (cached,) = tmp_path.glob("multivariate-abc-*.json")
    # Read back, even from a frame it could not fit on: the file is the model.
    again = cached_model(
        reference.iloc[:0], NUMERICAL, ["kind"], SETTINGS, cache_dir=tmp_path, content_hash="abc"
    )
    assert isinstance(again, ReconstructionModel)
    assert again == first
    assert np.array_equal(again.components, first.components)
    assert np.array_equal(again.holdout_errors, first.holdout_errors)
    window = _features(400, 0.9, rng)
    assert _verdict(again, window) == _verdict(first, window)
    before = multivariate.null_means.cache_info().hits
    _verdict(first, _features(400, 0.9, rng))
    assert multivariate.null_means.cache_info().hits == before + 1
    cached.write_text("{not json")
    refit = cached_model(
        reference, NUMERICAL, ["kind"], SETTINGS, cache_dir=tmp_path, content_hash="abc"
    )
    assert isinstance(refit, ReconstructionModel)


# --- prediction confidence ---------------------------------------------------------------------

CONFIDENCE = ConfidenceSettings()


def _binary_log(rows: int, rng: np.random.Generator, spread: float = 2.0) -> pd.DataFrame:
    score = 1 / (1 + np.exp(-rng.normal(-0.5, spread, size=rows)))
    return pd.DataFrame({"p": score, "pred": (score >= 0.5).astype(int)})


def _binary(window: pd.DataFrame, reference: pd.DataFrame) -> dict[tuple[str, str], MetricRecord]:
    count = lambda frame: count_chunks([frame], "pred", {"1": "p"}, CONFIDENCE, binary=True)  # noqa: E731
    records = confidence_records(count(window), count(reference), CONFIDENCE, binary=True)
    return {(r.metric, r.column): r for r in records}


def test_unchanged_predictions_are_quiet_across_seeds() -> None:
    for seed in range(15):
        rng = np.random.default_rng(seed)
        found = _binary(_binary_log(500, rng), _binary_log(5_000, rng))
        assert set(found) == {
            (Metric.LOW_CONFIDENCE_SHARE, ""), (Metric.MEAN_PROBABILITY, ""),
            (Metric.CLASS_SHIFT, ""), (Metric.CLASS_SHARE, "0"), (Metric.CLASS_SHARE, "1"),
        }  # fmt: skip
        assert {r.status for r in found.values()} == {MetricStatus.OK}, seed


def test_a_less_confident_model_is_flagged_with_the_reference_beside() -> None:
    rng = np.random.default_rng(0)
    reference = _binary_log(5_000, rng)
    found = _binary(_binary_log(500, rng, spread=0.6), reference)
    low = found[(Metric.LOW_CONFIDENCE_SHARE, "")]
    p = reference["p"]
    assert low.details["reference_share"] == pytest.approx(((p >= 0.4) & (p <= 0.6)).mean())
    assert low.status is MetricStatus.DRIFT
    assert low.value > 2 * low.details["reference_share"]
    assert low.details["band"] == [0.4, 0.6]


def test_a_shifted_class_distribution_is_flagged_per_class() -> None:
    rng = np.random.default_rng(2)
    classes = ["cat", "dog", "eel"]

    def log(rows: int, weights: list[float]) -> pd.DataFrame:
        probs = rng.dirichlet([2, 2, 2], size=rows)
        top = rng.choice(3, size=rows, p=weights)
        probs[np.arange(rows), top] += 1.5
        probs /= probs.sum(axis=1, keepdims=True)
        return pd.DataFrame(
            {"pred": np.array(classes)[top], **{c: probs[:, i] for i, c in enumerate(classes)}}
        )

    columns = {c: c for c in classes}
    settings = ConfidenceSettings(top_below=0.5)

    def run(window: pd.DataFrame, reference: pd.DataFrame) -> dict[tuple[str, str], MetricRecord]:
        counts = [
            count_chunks([f], "pred", columns, settings, binary=False) for f in (window, reference)
        ]
        return {
            (r.metric, r.column): r for r in confidence_records(*counts, settings, binary=False)
        }

    reference = log(3_000, [0.5, 0.3, 0.2])
    quiet = run(log(600, [0.5, 0.3, 0.2]), reference)
    assert {r.status for r in quiet.values()} == {MetricStatus.OK}
    assert {c for m, c in quiet if m == Metric.MEAN_PROBABILITY} == set(classes)
    shifted = run(log(600, [0.2, 0.3, 0.5]), reference)
    assert shifted[(Metric.CLASS_SHIFT, "")].status is MetricStatus.DRIFT
    assert shifted[(Metric.CLASS_SHARE, "eel")].status is MetricStatus.DRIFT
    assert shifted[(Metric.CLASS_SHARE, "eel")].details["reference_share"] == pytest.approx(
        (reference["pred"] == "eel").mean()
    )


def test_a_missing_probability_column_is_named() -> None:
    rng = np.random.default_rng(0)
    window = _binary_log(100, rng).drop(columns=["p"])
    found = _binary(window, _binary_log(100, rng))
    assert {r.status for r in found.values()} == {MetricStatus.ERROR}
    assert "no column 'p'" in found[(Metric.LOW_CONFIDENCE_SHARE, "")].details["reason"]


def test_a_band_must_be_ordered_inside_zero_and_one() -> None:
    with pytest.raises(ValueError, match="lower < upper"):
        ConfidenceSettings(low=(0.6, 0.4))


# --- which drift matters ---------------------------------------------------------------------


def test_drift_that_moved_with_quality_loss_ranks_high_and_noise_does_not() -> None:
    rng = np.random.default_rng(0)
    effects = rng.uniform(0, 0.3, size=30)
    hurting = impact_record(
        "income", effects, 0.5 * effects + rng.normal(0, 0.02, 30), "quality.accuracy", 8
    )
    assert hurting.value is not None
    assert hurting.value > 0.8
    assert hurting.status is MetricStatus.WARNING
    assert hurting.details["windows"] == 30
    warnings = 0
    for seed in range(20):
        noise = np.random.default_rng(seed)
        quiet = impact_record(
            "age", noise.uniform(size=30), noise.normal(size=30), "quality.accuracy", 8
        )
        warnings += quiet.status is MetricStatus.WARNING
    assert warnings <= 3  # a one-sided 5% test on 20 seeds


def test_too_little_history_says_so() -> None:
    record = impact_record("income", [0.1, 0.2], [0.0, 0.1], "quality.accuracy", 8)
    assert (record.value, record.status) == (None, MetricStatus.INSUFFICIENT_DATA)
    assert record.details["reason"].startswith("not enough history: 2 windows")


def test_the_summary_shows_the_signals_and_ranks_drifted_columns_by_impact() -> None:
    records = [
        MetricRecord(Metric.ROW_COUNT, 500.0),
        MetricRecord(Metric.DRIFT_SCORE, 0.3, MetricStatus.DRIFT, "age"),
        MetricRecord(Metric.DRIFT_SCORE, 0.3, MetricStatus.DRIFT, "income"),
        MetricRecord(Metric.MULTIVARIATE_ERROR, 2.9, MetricStatus.DRIFT,
                     details={"reference_error": 2.3, "threshold": 2.4}),
        MetricRecord(Metric.LOW_CONFIDENCE_SHARE, 0.1, details={"reference_share": 0.05}),
        MetricRecord(Metric.DRIFT_IMPACT, 0.2, MetricStatus.OK, "age",
                     details={"windows": 20, "quality_metric": "quality.accuracy"}),
        MetricRecord(Metric.DRIFT_IMPACT, 0.7, MetricStatus.WARNING, "income",
                     details={"windows": 20, "quality_metric": "quality.accuracy"}),
    ]  # fmt: skip
    text = summary_markdown(summarize("m", "2024-05-02", records))
    assert "multivariate drift: reconstruction error 2.900 against 2.300" in text
    assert "**(drift)**" in text
    assert "low-confidence predictions: 0.100 of rows (reference 0.050)" in text
    assert text.index("| `income` | 0.70 | 20 |") < text.index("| `age` | 0.20 | 20 |")


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(["a", "b", None, "zz", "a", "c"], dtype=object),
        pd.Series([1, 2, 3, 2, 7]),
        pd.Series(pd.Categorical(["b", None, "a", "q"])),
        pd.Series([], dtype=object),
    ],
)
def test_one_hot_rows_mark_exactly_their_kept_value(series: pd.Series) -> None:
    kept = ["a", "b", "2", "\x00missing"]
    encoded = multivariate._onehot(series, kept)
    text = ["\x00missing" if pd.isna(v) else str(v) for v in series]
    expected = np.array([[float(value == k) for k in kept] for value in text]).reshape(-1, 4)
    np.testing.assert_array_equal(encoded, expected)
