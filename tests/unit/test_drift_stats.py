"""driftwise's drift scores equal Evidently's own values for the same method and data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.metrics.drift.nulls import (
    null_wasserstein,
    null_wasserstein_uniform,
    quantile_support,
)
from monitoring_lib.metrics.drift.sketches import (
    NumericReference,
    NumericSketch,
    ks_from_sketch,
    sketch_counts,
    wasserstein_from_sketch,
)
from monitoring_lib.metrics.drift.stattests import (
    benjamini_hochberg,
    ks_sorted,
    sturges_edges,
    wasserstein_sorted,
)
from monitoring_lib.records import Metric, MetricRecord
from monitoring_lib.spec.drift import DriftSettings

NUMERICAL = ["x", "small_int"]
CATEGORICAL = ["color", "flag"]


def _frame(rows: int, seed: int, shift: float, new_color: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, rows)
    x[::37] = np.nan
    x[5] = np.inf
    colors = ["red", "green", "blue", "teal"] if new_color else ["red", "green", "blue"]
    return pd.DataFrame(
        {
            "x": x,
            "small_int": rng.integers(0, 10 + int(shift > 0), rows),
            "color": rng.choice(colors, rows),
            "flag": rng.choice(["no", "yes"], rows, p=[0.7 - shift / 5, 0.3 + shift / 5]),
        }
    )


def _evidently_values(
    ref: pd.DataFrame, cur: pd.DataFrame, pairs: list[tuple[str, str | None]]
) -> dict[str, float]:
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    report = Report([ValueDrift(column=c, method=m) for c, m in pairs])
    snapshot = report.run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    values = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            values[config["column"]] = metric["value"]
    return values


def _driftwise_values(
    ref: pd.DataFrame, cur: pd.DataFrame, settings: DriftSettings
) -> dict[str, MetricRecord]:
    records = compute_drift(
        ref, cur, numerical=NUMERICAL, categorical=CATEGORICAL, settings=settings
    )
    return {r.column: r for r in records if r.metric == Metric.DRIFT_SCORE}


CASES = [
    ("ks", ["x", "small_int"]),
    ("wasserstein", ["x", "small_int"]),
    ("psi", ["x", "small_int", "color", "flag"]),
    ("jensenshannon", ["x", "small_int", "color", "flag"]),
    ("chisquare", ["color", "flag"]),
    ("z", ["color", "flag"]),
]


@pytest.mark.parametrize(("method", "columns"), CASES)
@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_score_equals_evidently(method: str, columns: list[str], shift: float) -> None:
    ref, cur = _frame(700, 1, 0.0, False), _frame(400, 2, shift, shift > 0)
    expected = _evidently_values(ref, cur, [(c, method) for c in columns])
    settings = DriftSettings(mode="evidently", per_column={c: {"method": method} for c in columns})
    got = _driftwise_values(ref, cur, settings)
    for column in columns:
        assert got[column].details["method"] == method
        assert got[column].value == pytest.approx(expected[column], abs=1e-6, rel=1e-6), column


SMALL_REFERENCE = {"x": "ks", "small_int": "ks", "color": "chisquare", "flag": "z"}
LARGE_REFERENCE = {
    "x": "wasserstein",
    "small_int": "wasserstein",
    "color": "jensenshannon",
    "flag": "jensenshannon",
}


@pytest.mark.parametrize(
    ("ref_rows", "expected_methods"), [(700, SMALL_REFERENCE), (1500, LARGE_REFERENCE)]
)
def test_auto_picks_evidentlys_test_and_value(
    ref_rows: int, expected_methods: dict[str, str]
) -> None:
    ref, cur = _frame(ref_rows, 3, 0.0, False), _frame(500, 4, 0.3, True)
    expected = _evidently_values(ref, cur, [(c, None) for c in expected_methods])
    got = _driftwise_values(ref, cur, DriftSettings(mode="evidently"))
    for column, method in expected_methods.items():
        assert got[column].details["method"] == method
        assert got[column].value == pytest.approx(expected[column], abs=1e-6, rel=1e-6)


def test_ks_sketch_merges_exactly_across_chunks() -> None:
    rng = np.random.default_rng(5)
    ref = NumericReference.build(np.round(rng.normal(size=3000), 2), integer=False)
    cur = rng.normal(0.1, 1.2, 2500)
    sketches = [NumericSketch.of(ref, part, False) for part in np.array_split(cur, 7)]
    merged = sketches[0]
    for sketch in sketches[1:]:
        merged = merged.merge(sketch)
    whole = ks_sorted(ref.sorted_values, np.sort(cur))
    assert ks_from_sketch(ref.counts, merged.at, merged.gap_count) == whole


def test_wasserstein_sketch_is_exact_with_one_value_per_gap() -> None:
    rng = np.random.default_rng(6)
    ref_values = rng.normal(size=5000)
    ref = NumericReference.build(ref_values, integer=False)
    gaps = rng.choice(ref.unique.size - 1, 300, replace=False)
    cur = (ref.unique[gaps] + ref.unique[gaps + 1]) / 2  # at most one value per gap
    at, gap_count, gap_sum = sketch_counts(ref.unique, cur)
    assert gap_count.max() == 1
    approx = wasserstein_from_sketch(ref.unique, ref.counts, at, gap_count, gap_sum)
    assert approx == pytest.approx(wasserstein_sorted(ref.sorted_values, np.sort(cur)), rel=1e-9)


def test_sturges_edges_match_numpy() -> None:
    rng = np.random.default_rng(7)
    for values in (rng.normal(size=999), rng.integers(0, 30, 5000), np.full(50, 3.0)):
        expected = np.histogram_bin_edges(values, bins="sturges")
        got = sturges_edges(values.min(), values.max(), values.size, values.dtype.kind == "i")
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_benjamini_hochberg_matches_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.04, 0.16 / 3, 0.16 / 3, 0.2])


@pytest.mark.parametrize("rows", [300, 5_000])
def test_shared_null_draws_equal_a_fresh_draw_per_column(rows: int) -> None:
    """The cached resample matrix must give the null a per-column multinomial draw gives."""
    rng = np.random.default_rng(3)
    for values in (rng.normal(0, 1, 20_000), np.round(rng.lognormal(2, 1, 20_000), 2)):
        unique, counts = np.unique(values, return_counts=True)
        support, probs = quantile_support(unique, counts, 500)
        assert support.size == 500
        fresh = null_wasserstein(support, probs, rows, 50, np.random.default_rng(7))
        shared = null_wasserstein_uniform(support, rows, 50, 7)
        np.testing.assert_allclose(shared, fresh, rtol=1e-12, atol=1e-15)
