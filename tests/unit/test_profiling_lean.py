"""Numerical columns profiled without frequent items: the rest of the profile is unchanged, the
summary and data-quality records are the same, and plain whylogs reads the stored file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import whylogs as why

from monitoring_lib.metrics.data_quality import check_constraints, derive_constraints
from monitoring_lib.metrics.profiling import (
    cached_reference_view,
    profile_chunks,
    profile_frame,
    write_view,
)
from monitoring_lib.metrics.profiling.profiles import iter_frame_chunks
from monitoring_lib.metrics.profiling.summary import summary_records

NUMERICAL, CATEGORICAL = ["amount", "count"], ["region", "code"]


def frame(rows: int = 3_000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, rows).round(2)
    amount[::17] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "count": rng.poisson(3, rows),
            "region": rng.choice(["north", "south", None], rows),
            "code": rng.integers(0, 5, rows).astype(float),  # a numeric code read as a category
        }
    )


def test_numeric_only_columns_lose_frequent_items_and_nothing_else(tmp_path: Path) -> None:
    df = frame()
    full = profile_frame(df)
    lean = profile_frame(df, numeric_only=["amount", "count"])
    for name in df.columns:
        kept, dropped = full.get_column(name), lean.get_column(name)
        expected = set(kept.get_metric_names()) - (
            {"frequent_items"} if name in NUMERICAL else set()
        )
        assert set(dropped.get_metric_names()) == expected, name
        for metric in expected - {"frequent_items", "distribution", "cardinality"}:
            assert (
                dropped.get_metric(metric).to_summary_dict()
                == kept.get_metric(metric).to_summary_dict()
            )
    summary = {"numerical": NUMERICAL, "categorical": CATEGORICAL}
    as_records = [(r.key, r.value, r.status, r.details) for r in summary_records(full, **summary)]
    lean_records = [(r.key, r.status) for r in summary_records(lean, **summary)]
    assert lean_records == [(key, status) for key, _, status, _ in as_records]

    path = write_view(lean, tmp_path / "lean.bin")
    plain = why.read(str(path)).view()  # whylogs as shipped reads what the monitor stores
    assert plain.get_column("amount").get_metric("counts").n.value == len(df)
    assert plain.get_column("amount").get_metric("frequent_items") is None
    assert plain.get_column("region").get_metric("frequent_items") is not None


def test_lean_profiles_give_the_same_data_quality_findings() -> None:
    reference, window = frame(seed=1), frame(rows=800, seed=2)
    window.loc[::50, "region"] = "west"  # a category the reference never had
    checks = {}
    for lean in ((), ("amount", "count")):
        constraints = derive_constraints(
            profile_frame(reference, numeric_only=lean),
            numerical=NUMERICAL,
            categorical=CATEGORICAL,
        )
        records = check_constraints(profile_frame(window, numeric_only=lean), constraints)
        checks[lean] = sorted((r.key, r.value, r.status) for r in records)
    assert checks[()] == checks[("amount", "count")]
    assert any(value for key, value, _ in checks[()] if key[1] == "region")


def test_chunked_lean_profiles_and_the_reference_cache_key(tmp_path: Path) -> None:
    df = frame()
    chunked = profile_chunks(iter_frame_chunks(df, 700), numeric_only=["amount"])
    assert chunked.get_column("amount").get_metric("frequent_items") is None
    assert chunked.get_column("count").get_metric("frequent_items") is not None
    _, full_path = cached_reference_view(df, tmp_path)
    lean_view, lean_path = cached_reference_view(df, tmp_path, numeric_only=["amount"])
    assert lean_path != full_path  # a spec that lists items of a column gets a profile with them
    assert lean_view.get_column("amount").get_metric("frequent_items") is None
