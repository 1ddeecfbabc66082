"""whylogs profiling adapter: NumPy 2, chunking and merging, storage, cache, summary records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import whylogs_sketching

from monitoring_lib.metrics.profiling import (
    DatasetProfileView,
    cached_reference_view,
    content_hash_of_chunks,
    content_hash_of_frame,
    merge_views,
    profile_chunks,
    profile_frame,
    read_view,
    write_view,
)
from monitoring_lib.metrics.profiling.profiles import iter_frame_chunks
from monitoring_lib.metrics.profiling.summary import summary_records
from monitoring_lib.records import Metric, MetricRecord, MetricStatus

KLL_K = 1024
"""whylogs 1.6.4 builds its distribution sketches with ``kll_k_large`` = 1024."""

RANK_ERROR = whylogs_sketching.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
"""KLL's single-query rank error for k=1024: about 0.27% at 99% confidence.

KLL sketches are fully mergeable, so a merged (chunked or daily) sketch carries the same
guarantee as a single-pass one. The tests allow twice the bound: the sketch compacts with random
coin flips, and 2x puts a spurious failure across these few queries far below one in a million.
"""
QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    numbers = rng.normal(10.0, 3.0, rows)
    numbers[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "amount": numbers,
            "items": rng.integers(0, 50, rows),
            "channel": rng.choice(["web", "shop", "phone"], rows),
        }
    )


def by_key(records: list[MetricRecord]) -> dict[tuple[str, str], MetricRecord]:
    return {(r.metric, r.column): r for r in records}


def assert_quantiles_within_rank_error(view: DatasetProfileView, values: pd.Series) -> None:
    data = np.sort(values.dropna().to_numpy(dtype=float))
    dist = view.get_column(str(values.name)).get_metric("distribution")
    for q in QUANTILES:
        estimate = dist.get_quantile(q)
        rank_low = np.searchsorted(data, estimate, side="left") / len(data)
        rank_high = np.searchsorted(data, estimate, side="right") / len(data)
        assert rank_low - 2 * RANK_ERROR <= q <= rank_high + 2 * RANK_ERROR, (q, estimate)


def assert_profiles_agree(merged: DatasetProfileView, whole: DatasetProfileView) -> None:
    """Counts, min/max and frequent items exact; mean/std to float rounding."""
    for column in ("amount", "items", "channel"):
        a, b = merged.get_column(column), whole.get_column(column)
        assert sorted(a.get_metric_names()) == sorted(b.get_metric_names())
        for name in ("n", "null"):
            assert (
                getattr(a.get_metric("counts"), name).value
                == getattr(b.get_metric("counts"), name).value
            )
        items_a = {i.value: i.est for i in a.get_metric("frequent_items").strings}
        items_b = {i.value: i.est for i in b.get_metric("frequent_items").strings}
        if column != "amount":  # distinct floats overflow the sketch: estimates, not counts
            assert items_a == items_b
    for column in ("amount", "items"):
        da = merged.get_column(column).get_metric("distribution")
        db = whole.get_column(column).get_metric("distribution")
        assert (da.n, da.min, da.max) == (db.n, db.min, db.max)
        assert da.avg == pytest.approx(db.avg, rel=1e-9)
        assert da.stddev == pytest.approx(db.stddev, rel=1e-9)


def test_numpy2_alias_lets_whylogs_profile_mixed_dtypes() -> None:
    assert int(np.__version__.split(".")[0]) >= 2
    assert np.unicode_ is np.str_  # type: ignore[attr-defined]
    df = pd.DataFrame(
        {
            "int": [1, 2, 3],
            "float": [0.5, np.nan, 2.5],
            "text": ["a", "b", None],
            "flag": [True, False, True],
            "when": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            "category": pd.Categorical(["x", None, "y"]),
            "nullable_int": pd.array([1, None, 3], dtype="Int64"),
            "string": pd.array(["p", None, "q"], dtype="string"),
            "mixed": [1, "two", 3.0],
        }
    )
    view = profile_frame(df)
    assert sorted(view.get_columns()) == sorted(df.columns)
    for name in df.columns:
        assert view.get_column(name).get_metric("counts").n.value == 3
    assert view.get_column("text").get_metric("counts").null.value == 1
    assert {i.value for i in view.get_column("category").get_metric("frequent_items").strings} == {
        "x",
        "y",
    }


def test_chunked_profile_equals_single_pass_within_sketch_error() -> None:
    chunks = [frame(4_000, seed=seed) for seed in range(8)]
    for chunk in chunks[::3]:  # a NaN makes these chunks' int column float64: same metrics still
        chunk.loc[7, "items"] = np.nan
    df = pd.concat(chunks, ignore_index=True)
    whole = profile_frame(df)
    chunked = profile_chunks(chunks)
    assert_profiles_agree(chunked, whole)
    for view in (whole, chunked):
        assert_quantiles_within_rank_error(view, df["amount"])
        assert_quantiles_within_rank_error(view, df["items"])


def test_merged_daily_profiles_equal_the_weekly_profile() -> None:
    days = [frame(3_000, seed=day) for day in range(7)]
    weekly = profile_frame(pd.concat(days, ignore_index=True))
    rolled_up = merge_views(profile_frame(day) for day in days)
    assert_profiles_agree(rolled_up, weekly)
    assert_quantiles_within_rank_error(rolled_up, pd.concat(days)["amount"])


def test_chunks_profiled_in_worker_processes_match_one_process() -> None:
    df = frame(6_000, seed=3)
    parallel = profile_chunks(iter_frame_chunks(df, 1_000), workers=2)
    assert_profiles_agree(parallel, profile_chunks(iter_frame_chunks(df, 1_000)))


def test_merging_leaves_the_merged_views_unchanged() -> None:
    first, second = profile_frame(frame(100, seed=1)), profile_frame(frame(50, seed=2))
    merged = merge_views([first, second])
    assert merged.get_column("amount").get_metric("counts").n.value == 150
    assert first.get_column("amount").get_metric("counts").n.value == 100
    assert second.get_column("amount").get_metric("counts").n.value == 50


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: profile_chunks([], workers=0), "workers"),
        (lambda: list(iter_frame_chunks(frame(3, 1), 0)), "chunk_rows"),
        (lambda: profile_frame(pd.DataFrame([[1, 2]], columns=["a", "a"])), "duplicate"),
    ],
)
def test_bad_arguments_raise_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_no_chunks_give_an_empty_profile_whose_columns_are_skipped() -> None:
    records = summary_records(profile_chunks(iter([])), numerical=["amount"], categorical=[])
    assert records
    assert all(r.status is MetricStatus.SKIPPED for r in records)
    assert all("not in the profile" in r.details["reason"] for r in records)


def test_view_round_trips_through_a_file(tmp_path: Path) -> None:
    view = profile_frame(frame(500, seed=4))
    path = write_view(view, tmp_path / "daily" / "2024-01-01.bin")
    write_view(view, path)  # overwriting is atomic too
    assert sorted(p.name for p in path.parent.iterdir()) == ["2024-01-01.bin"]
    columns = {"numerical": ["amount", "items"], "categorical": ["channel"]}
    assert summary_records(read_view(path), **columns) == summary_records(view, **columns)


def test_reading_a_file_that_is_not_a_profile_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.bin"
    path.write_bytes(b"WHY1 not really a profile")
    with pytest.raises(ValueError, match=r"broken\.bin"):
        read_view(path)


def test_content_hash_follows_content_not_the_index() -> None:
    df = frame(200, seed=5)
    digest = content_hash_of_frame(df)
    assert content_hash_of_frame(df.copy().set_axis(range(100, 300))) == digest
    changed = df.copy()
    changed.loc[3, "channel"] = "fax"
    assert content_hash_of_frame(changed) != digest
    assert content_hash_of_frame(df.rename(columns={"items": "units"})) != digest
    assert content_hash_of_frame(df.astype({"items": float})) != digest
    unhashable = pd.DataFrame({"tags": [["a"], ["b", "c"]], "text": ["\udcff", "ok"]})
    assert content_hash_of_frame(unhashable) == content_hash_of_frame(unhashable.copy())


def test_reference_profile_is_reused_for_equal_content_and_rebuilt_otherwise(
    tmp_path: Path,
) -> None:
    reference = frame(1_000, seed=6)
    _view, path = cached_reference_view(reference, tmp_path)
    stamp = path.stat().st_mtime_ns
    again, same_path = cached_reference_view(reference.copy(), tmp_path)
    assert same_path == path
    assert path.stat().st_mtime_ns == stamp
    assert again.creation_timestamp == read_view(path).creation_timestamp

    changed = reference.copy()
    changed.loc[0, "amount"] = 99.0
    _, other_path = cached_reference_view(changed, tmp_path)
    assert other_path != path
    assert other_path.exists()

    path.write_bytes(b"truncated")
    rebuilt, rebuilt_path = cached_reference_view(reference, tmp_path)
    assert rebuilt_path == path
    assert read_view(path).get_column("amount") is not None
    assert rebuilt.get_column("amount").get_metric("counts").n.value == 1_000


def test_summary_records_read_each_metric_by_name() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, np.nan], "c": ["a", "a", "a", "b", None]})
    records = by_key(summary_records(profile_frame(df), numerical=["x"], categorical=["c"]))
    expected = {
        (Metric.PROFILE_COUNT, "x"): 5,
        (Metric.PROFILE_NULL_FRACTION, "x"): 0.2,
        (Metric.PROFILE_MEAN, "x"): 2.5,
        (Metric.PROFILE_STD, "x"): pytest.approx(1.2909944),
        (Metric.PROFILE_MIN, "x"): 1.0,
        (Metric.PROFILE_MAX, "x"): 4.0,
        (Metric.PROFILE_Q50, "x"): 3.0,
        (Metric.PROFILE_CARDINALITY, "x"): pytest.approx(4, rel=0.01),
        (Metric.PROFILE_FREQUENT_ITEMS, "c"): 2,
    }
    for key, value in expected.items():
        assert records[key].value == value, key
        assert records[key].status is MetricStatus.OK
    items = records[(Metric.PROFILE_FREQUENT_ITEMS, "c")].details["items"]
    assert [(i["value"], i["estimate"]) for i in items] == [("a", 3), ("b", 1)]
    assert (Metric.PROFILE_MEAN, "c") not in records
    assert (Metric.PROFILE_FREQUENT_ITEMS, "x") not in records


BAD_INPUTS = {
    "empty frame": (
        pd.DataFrame({"v": pd.Series([], dtype=float)}),
        Metric.PROFILE_MEAN,
        "no rows",
    ),
    "one row": (pd.DataFrame({"v": [4.0]}), Metric.PROFILE_STD, "one value"),
    "all NaN": (pd.DataFrame({"v": [np.nan] * 3}), Metric.PROFILE_MEAN, "every value is missing"),
    "all None": (pd.DataFrame({"v": [None] * 3}), Metric.PROFILE_Q50, "every value is missing"),
    "no numbers": (pd.DataFrame({"v": ["a", "b"]}), Metric.PROFILE_MEAN, "no value is a number"),
    "mixed types": (pd.DataFrame({"v": [1, "two", 3.0]}), Metric.PROFILE_COUNT, "not numbers"),
}


@pytest.mark.parametrize(("df", "metric", "reason"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_gives_a_status_and_a_reason(
    df: pd.DataFrame, metric: Metric, reason: str
) -> None:
    records = by_key(summary_records(profile_frame(df), numerical=["v"], categorical=["v"]))
    flagged = records[(metric, "v")]
    assert flagged.status is not MetricStatus.OK
    assert reason in flagged.details["reason"]
    for record in records.values():
        assert record.value is None or math.isfinite(record.value)
        assert record.status is not MetricStatus.OK or record.value is not None


def test_constant_column_has_zero_spread_and_infinities_count_as_missing() -> None:
    df = pd.DataFrame({"const": [7.0] * 4, "inf": [1.0, np.inf, -np.inf, 3.0]})
    records = by_key(summary_records(profile_frame(df), numerical=["const", "inf"], categorical=[]))
    assert records[(Metric.PROFILE_STD, "const")].value == 0.0
    assert records[(Metric.PROFILE_STD, "const")].status is MetricStatus.OK
    assert records[(Metric.PROFILE_MAX, "inf")].value == 3.0
    assert records[(Metric.PROFILE_MEAN, "inf")].value == 2.0
    assert records[(Metric.PROFILE_NULL_FRACTION, "inf")].value == 0.5


def test_non_utf8_bytes_and_very_long_strings_are_profiled() -> None:
    long_text = "x" * 200_000
    df = pd.DataFrame(
        {"text": [b"\xff\xfe", "caf\udce9", long_text, "plain"]}  # raw bytes, lone surrogate
    )
    records = by_key(summary_records(profile_frame(df), numerical=[], categorical=["text"]))
    items = records[(Metric.PROFILE_FREQUENT_ITEMS, "text")]
    assert items.status is MetricStatus.OK
    assert items.value == 4
    values = {i["value"] for i in items.details["items"]}
    assert "\\xff\\xfe" in values
    assert "plain" in values
    assert max(len(v) for v in values) == 128  # whylogs keeps a 128-character prefix
    assert records[(Metric.PROFILE_CARDINALITY, "text")].value == pytest.approx(4, rel=0.01)


def test_content_hash_does_not_depend_on_how_rows_are_chunked() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame(
        {"x": rng.normal(size=1_000), "c": rng.choice(["a", "b", None], 1_000), "n": range(1_000)}
    )
    whole = content_hash_of_frame(df)
    for size in (1, 7, 250, 999):
        digest, rows = content_hash_of_chunks(
            df.iloc[i : i + size] for i in range(0, len(df), size)
        )
        assert (digest, rows) == (whole, 1_000)
    swapped = df.copy()
    swapped.loc[[10, 11], "x"] = swapped.loc[[11, 10], "x"].to_numpy()
    assert content_hash_of_chunks([swapped.iloc[:500], swapped.iloc[500:]])[0] != whole
