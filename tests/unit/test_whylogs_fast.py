"""The vectorised whylogs path builds what whylogs 1.6.4 builds, column by column and sketch by sketch.

Each test runs whylogs' own code (``PreprocessedColumn.apply``, ``DatasetProfile``) on the same
input and compares. Counts, types, frequent items, cardinality, mean and M2 must be identical:
the same values reach the same deterministic sketches in the same order. KLL compacts with random
coin flips, so quantiles are checked against the data within the sketch's rank error.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import whylogs
import whylogs_sketching
from whylogs.core import DatasetProfile
from whylogs.core.preprocessing import PreprocessedColumn

from monitoring_lib.metrics.profiling import (
    DatasetProfileView,
    profile_frame,
    read_view,
    write_view,
)
from monitoring_lib.metrics.profiling import fast as whylogs_fast
from monitoring_lib.metrics.profiling import single as profiling
from monitoring_lib.metrics.profiling import workers as profile_workers

RANK_ERROR = whylogs_sketching.kll_doubles_sketch.get_normalized_rank_error(1024, False)
"""Single-query rank error of whylogs' k=1024 KLL sketches (see test_profiling)."""
QUANTILE_KEYS = ("q_01", "q_05", "q_10", "q_25", "median", "q_75", "q_90", "q_95", "q_99")
QUANTILE_OF = dict(
    zip(QUANTILE_KEYS, (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99), strict=True)
)


def sample(rng: np.random.Generator, choices: list[Any], rows: int) -> list[Any]:
    return [choices[i] for i in rng.integers(0, len(choices), rows)]


def awkward_frame(rows: int, seed: int) -> pd.DataFrame:
    """Every kind of column the fast path covers, with its missing and odd values."""
    rng = np.random.default_rng(seed)
    floats = rng.normal(10.0, 3.0, rows)
    floats[rng.random(rows) < 0.05] = np.nan
    floats[rng.random(rows) < 0.01] = np.inf
    floats[rng.random(rows) < 0.01] = -np.inf
    ints = rng.integers(-50, 50, rows)
    missing = rng.random(rows) < 0.1
    words = ["web", "shop", "", "café", "😀 emoji", "nul\x00byte", None, np.nan]
    mixed = [1, 2.5, True, False, "text", None, np.nan, Decimal("1.5"), b"raw", [1, 2],
             np.array([3.0, 4.0]), {"a": 1}, np.int32(7), np.float32(0.5), np.bool_(True)]  # fmt: skip
    return pd.DataFrame(
        {
            "float": floats,
            "float32": floats.astype(np.float32),
            "whole_floats": np.where(missing, np.nan, ints.astype(float)),
            "int": ints,
            "uint": rng.integers(0, 2**40, rows).astype(np.uint64),
            "nullable_int": pd.array(np.where(missing, None, ints), dtype="Int64"),
            "nullable_float": pd.array(np.where(missing, None, floats), dtype="Float64"),
            "bool": rng.random(rows) < 0.3,
            "nullable_bool": pd.array(np.where(missing, None, ints > 0), dtype="boolean"),
            "text": pd.Series(sample(rng, words, rows), dtype=object),
            "string": pd.array(sample(rng, words[:-1], rows), dtype="string"),
            "distinct_text": [f"id-{i}" for i in rng.permutation(rows)],
            "mixed": pd.Series(sample(rng, mixed, rows), dtype=object),
            "huge": sample(rng, ["x" * 100_000, "y" * 300, "z", None], rows),
            "all_none": pd.Series([None] * rows, dtype=object),
            "category": pd.Categorical(sample(rng, ["a", "b", "c"], rows)),
            "when": pd.to_datetime(rng.integers(0, 10**9, rows), unit="s"),
            "when_utc": pd.to_datetime(
                np.where(missing, None, rng.integers(0, 10**9, rows) * 10**9), utc=True
            ),
        }
    )


def comparable(values: Any) -> Any:
    """Arrays and series as plain lists (NaN made comparable); None stays None."""
    if values is None:
        return None
    items = values.to_list() if isinstance(values, pd.Series) else list(values)
    return [
        "NaN" if isinstance(x, float) and math.isnan(x)
        else x.tolist() if isinstance(x, np.ndarray)
        else x
        for x in items
    ]  # fmt: skip


def assert_same_preprocessed(fast: PreprocessedColumn, plain: PreprocessedColumn) -> None:
    for name in ("len", "null_count", "nan_count", "inf_count", "bool_count"):
        assert getattr(fast, name) == getattr(plain, name), name
    assert fast.bool_count_where_true == plain.bool_count_where_true
    for part, name in [("numpy", "floats"), ("numpy", "ints"), ("numpy", "strings"),
                       ("pandas", "strings"), ("pandas", "tensors"), ("pandas", "objs")]:  # fmt: skip
        ours, theirs = getattr(getattr(fast, part), name), getattr(getattr(plain, part), name)
        assert comparable(ours) == comparable(theirs), (part, name)
        if ours is not None and len(ours) and part == "numpy":
            assert ours.dtype == theirs.dtype, (part, name)
    assert fast.list == plain.list


@pytest.mark.parametrize("column", list(awkward_frame(1, 0).columns))
def test_preprocessed_column_equals_whylogs_own(column: str) -> None:
    series = awkward_frame(3_000, seed=1)[column]
    assert_same_preprocessed(whylogs_fast.preprocess(series), PreprocessedColumn.apply(series))


EDGE_SERIES = {
    "empty float": pd.Series([], dtype=float),
    "empty object": pd.Series([], dtype=object),
    "all NaN": pd.Series([np.nan, np.nan]),
    "only infinities": pd.Series([np.inf, -np.inf, 1.0]),
    "all NA Int64": pd.Series([None, None], dtype="Int64"),
    "NaN and None in objects": pd.Series([None, np.nan, float("nan"), pd.NA, "a"], dtype=object),
    "one boolean": pd.Series([True]),
    "objects no text": pd.Series([b"x", {"k": 1}, (1, 2)], dtype=object),
    "huge uint64": pd.Series([2**63 + 5, 1], dtype=np.uint64),
    "string dtype all NA": pd.Series([None, None], dtype="string"),
    "empty datetime": pd.Series([], dtype="datetime64[ns]"),
    "all NaT": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns, UTC]"),
    "datetime with NaT": pd.Series([pd.Timestamp("2024-05-01", tz="UTC"), pd.NaT]),
}


@pytest.mark.parametrize("series", EDGE_SERIES.values(), ids=EDGE_SERIES.keys())
def test_edge_columns_equal_whylogs_own(series: pd.Series) -> None:
    assert_same_preprocessed(whylogs_fast.preprocess(series), PreprocessedColumn.apply(series))


def numbers_sketched(series: pd.Series) -> np.ndarray:
    """The values whylogs puts in a column's KLL sketch (its own preprocessing), sorted."""
    column = PreprocessedColumn.apply(series)
    parts = [np.asarray(a, dtype=float) for a in (column.numpy.floats, column.numpy.ints)
             if a is not None]  # fmt: skip
    parts.append(np.ones(column.bool_count_where_true))
    parts.append(np.zeros(column.bool_count - column.bool_count_where_true))
    return np.sort(np.concatenate(parts))


def assert_quantile_within_rank_error(data: np.ndarray, q: float, estimate: float) -> None:
    rank_low = np.searchsorted(data, estimate, side="left") / len(data)
    rank_high = np.searchsorted(data, estimate, side="right") / len(data)
    assert rank_low - 2 * RANK_ERROR <= q <= rank_high + 2 * RANK_ERROR, (q, estimate)


def assert_same_profile(
    fast: DatasetProfileView, plain: DatasetProfileView, df: pd.DataFrame, *, tracked: bool = True
) -> None:
    """``tracked``: both views come from tracking, not from a file (which keeps no success count)."""
    assert sorted(fast.get_columns()) == sorted(plain.get_columns())
    for name, ours in fast.get_columns().items():
        theirs = plain.get_column(name)
        assert sorted(ours.get_metric_names()) == sorted(theirs.get_metric_names()), name
        summary, expected = ours.to_summary_dict(), theirs.to_summary_dict()
        assert summary.keys() == expected.keys(), name
        for key, value in expected.items():
            if key.removeprefix("distribution/") in QUANTILE_KEYS and value is not None:
                q = QUANTILE_OF[key.removeprefix("distribution/")]
                assert_quantile_within_rank_error(numbers_sketched(df[name]), q, summary[key])
            elif key == "frequent_items/frequent_strings":  # ties come back in any order
                assert sorted(summary[key], key=str) == sorted(value, key=str), name
            elif key == "distribution/stddev":
                assert summary[key] == pytest.approx(value, rel=1e-12, nan_ok=True), (name, key)
            else:
                assert comparable([summary[key]]) == comparable([value]), (name, key)
        moments = [(d.mean.value, d.m2.value) for d in (ours.get_metric("distribution"),
                                                           theirs.get_metric("distribution"))]  # fmt: skip
        assert comparable(moments[0]) == comparable(moments[1]), name  # NaN once an inf is in
        if tracked:
            assert (ours._success_count, ours._failure_count) == (
                theirs._success_count, theirs._failure_count
            ), name  # fmt: skip


def profile_with(profile_class: type[DatasetProfile], df: pd.DataFrame) -> DatasetProfileView:
    profile = profile_class(schema=profiling._uniform_schema())
    profile.track(pandas=df)
    return profile.view()


@pytest.mark.parametrize("rows", [7, 3_000])  # exact sketches, then compacting ones
def test_fast_profile_of_raw_columns_equals_whylogs_profile(rows: int) -> None:
    df = awkward_frame(rows, seed=rows)
    fast = profile_with(whylogs_fast.FastDatasetProfile, df)
    assert_same_profile(fast, profile_with(DatasetProfile, df), df)


def test_profile_frame_equals_whylogs_on_the_same_prepared_frame() -> None:
    df = awkward_frame(3_000, seed=2)
    df["text"] = df["text"].where(df.index % 97 != 0, "caf\udce9")  # a lone surrogate
    df["bytes"] = [b"\xff\xfe", "ok", None] * 1_000
    df["category_with_nan"] = pd.Categorical(["a", None, "b"] * 1_000)  # raw whylogs fails on it
    prepared = profiling._whylogs_ready(df)
    assert_same_profile(profile_frame(df), profile_with(DatasetProfile, prepared), prepared)


def test_boolean_distribution_merges_chunks_exactly_as_whylogs() -> None:
    # 2_001 trues: two whole chunks of 1_000 and a chunk of one (whylogs' Welford branch).
    flags = pd.Series([True] * 2_001 + [False] * 1_500)
    df = pd.DataFrame({"flag": flags, "objects": flags.astype(object)})
    fast, plain = (profile_with(c, df) for c in (whylogs_fast.FastDatasetProfile, DatasetProfile))
    for name in df.columns:
        ours, theirs = (v.get_column(name).get_metric("distribution") for v in (fast, plain))
        assert (ours.n, ours.mean.value, ours.m2.value) == (
            theirs.n,
            theirs.mean.value,
            theirs.m2.value,
        )
        assert ours.mean.value == pytest.approx(2_001 / 3_501)


def test_fast_profiles_are_read_back_and_merged_by_plain_whylogs(tmp_path: Path) -> None:
    df = awkward_frame(2_000, seed=3)
    view = profile_frame(df)
    path = write_view(view, tmp_path / "profile.bin")
    for restored in (
        DatasetProfileView.read(str(path)),
        DatasetProfileView.deserialize(view.serialize()),
    ):
        assert_same_profile(restored, view, profiling._whylogs_ready(df), tracked=False)
    merged = read_view(path).merge(view)
    assert merged.get_column("text").get_metric("counts").n.value == 4_000


TEXT_COLUMNS = {
    "plain text": ["a", None, "é", "😀"] * 5_000,
    "surrogate in one block": ["a"] * 9_000 + ["x\udcffy"] + ["b", None] * 3_000,
    "bytes and objects": [b"\xff", "a", 3, None, b"ok"] * 10,
    "all missing": [None] * 5,
}


@pytest.mark.parametrize("values", TEXT_COLUMNS.values(), ids=TEXT_COLUMNS.keys())
def test_clean_text_equals_cleaning_each_value(values: list[Any]) -> None:
    series = pd.Series(values, dtype=object)
    cleaned = whylogs_fast.clean_text(series)
    assert cleaned.tolist() == [whylogs_fast.clean_text_value(v) for v in values]
    assert all(isinstance(v, str) and v.encode("utf-8") for v in cleaned if isinstance(v, str))


def test_the_installed_whylogs_is_the_release_the_fast_path_reproduces() -> None:
    # Upgrading whylogs makes profile_frame fall back to plain whylogs; this flags it to re-check.
    assert whylogs.__version__ == whylogs_fast.PATCHED_WHYLOGS
    assert isinstance(profiling._new_profile(None), whylogs_fast.FastDatasetProfile)


# --- column groups in worker processes (monitoring_lib.profile_workers) --------------------------


def test_column_groups_cover_every_column_once_with_balanced_costs() -> None:
    df = awkward_frame(10, seed=4)
    groups = profile_workers.column_groups(df, 5)
    assert len(groups) == 5
    assert sorted(p for group in groups for p in group) == list(range(df.shape[1]))
    costs = [sum(profile_workers._cost_per_row(df.iloc[:, p]) for p in g) for g in groups]
    assert max(costs) - min(costs) <= max(profile_workers._cost_per_row(df[c]) for c in df)
    assert len(profile_workers.column_groups(df[["float", "int"]], 5)) == 2


def test_columns_profiled_in_worker_processes_equal_one_process() -> None:
    df = awkward_frame(3_000, seed=5)
    stamp = datetime(2024, 5, 1, tzinfo=UTC)
    with profile_workers.ColumnGroupProfiler(2, start_after_cells=0, min_shared_cells=0) as pool:
        deadline = time.monotonic() + 120  # the forkserver's first start imports whylogs
        while pool.groups_in_workers == 0 and time.monotonic() < deadline:
            view = pool.profile(df, dataset_timestamp=stamp)
    assert pool.groups_in_workers > 0
    assert list(view.get_columns()) == [str(c) for c in df.columns]
    assert view.dataset_timestamp == stamp
    prepared = profiling._whylogs_ready(df)
    assert_same_profile(view, profile_frame(df), prepared, tracked=False)
    restored = DatasetProfileView.deserialize(view.serialize())
    assert_same_profile(restored, view, prepared, tracked=False)


def test_small_windows_never_start_worker_processes() -> None:
    with profile_workers.ColumnGroupProfiler(4) as pool:
        for _ in range(3):
            view = pool.profile(awkward_frame(2_000, seed=6))
    assert not pool.pool_started
    assert view.get_column("text").get_metric("counts").n.value == 2_000


def test_duplicate_column_names_fail_before_any_work_is_sent() -> None:
    df = pd.DataFrame(np.zeros((10, 3)), columns=["a", "b", "a"])
    with (
        profile_workers.ColumnGroupProfiler(2, start_after_cells=0, min_shared_cells=0) as pool,
        pytest.raises(ValueError, match="duplicate"),
    ):
        pool.profile(df)
    assert not pool.pool_started
