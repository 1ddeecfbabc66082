"""A window read in chunks and column groups gives the records of the same window loaded whole."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.io.sources import SourceError
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.stages import WindowEvaluation, expected_columns
from monitoring_lib.pipeline.streamed import (
    GroupedRead,
    UniformSample,
    column_groups,
    evaluate_window_streamed,
    needs_streaming,
    rows_to_evaluate,
)
from monitoring_lib.records import Metric, MetricRecord
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.window import MemorySpec
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project

DAY = date(2024, 5, 2)


def _small_chunks(folder: Path, chunk_rows: int = 300) -> MonitorSpec:
    spec = credit_spec(folder)
    # A 2 MB budget: three columns per drift group; 300-row chunks give several chunks
    # per pass and one profiling group, 5,000-row chunks four columns per profiling group.
    memory = {"max_cells_in_memory": 1, "chunk_rows": chunk_rows, "budget_mb": 2}
    return spec.model_copy(update={"memory": spec.memory.model_copy(update=memory)})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("credit"), [(DAY, demo_data.CHANGED)])


@pytest.fixture(scope="module", params=[300, 5_000])
def both(
    project: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[WindowEvaluation, WindowEvaluation]:
    spec = _small_chunks(project, request.param)
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    whole = evaluate_window(
        spec,
        load_window(spec, window),
        load_reference(spec),
        artifacts=tmp_path_factory.mktemp("whole"),
    )
    streamed = evaluate_window_streamed(spec, window, artifacts=tmp_path_factory.mktemp("streamed"))
    return whole, streamed


def _family(record: MetricRecord) -> str:
    return str(record.metric).split(".")[0]


def test_drift_quality_schema_and_counts_are_identical(
    both: tuple[WindowEvaluation, WindowEvaluation],
) -> None:
    whole, streamed = (e.by_key() for e in both)
    assert whole.keys() == streamed.keys()
    exact = [k for k, r in whole.items() if _family(r) not in ("profile", "dq")]
    assert {_family(whole[k]) for k in exact} >= {
        "window", "schema", "drift", "prediction_drift", "target_drift", "quality", "labels",
    }  # fmt: skip
    assert any(k[2].startswith("region=") for k in exact)  # segments too
    for key in exact:
        assert streamed[key] == whole[key], key
    drifted = {k[1] for k in exact if k[0] == Metric.DRIFT_SCORE and whole[k].status == "drift"}
    assert drifted  # the changed world drifts, so the comparison covers flagged columns
    # Multivariate errors and probabilities are summed on a fixed grid: chunking changes nothing.
    assert {k[0] for k in exact} >= {Metric.MULTIVARIATE_DRIFT, Metric.MEAN_PROBABILITY}


QUANTILE_LEVELS = {
    Metric.PROFILE_Q01: 0.01,
    Metric.PROFILE_Q25: 0.25,
    Metric.PROFILE_Q50: 0.50,
    Metric.PROFILE_Q75: 0.75,
    Metric.PROFILE_Q99: 0.99,
}
RANK_ERROR = 0.02
"""Rank error allowed to a KLL quantile (whylogs' sketches are randomised: ~1% at this size)."""


def test_profiles_agree_within_sketch_error(
    project: Path, both: tuple[WindowEvaluation, WindowEvaluation]
) -> None:
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    frame = load_window(credit_spec(project), window).frame
    whole, streamed = (e.by_key() for e in both)
    for key, record in whole.items():
        if _family(record) != "profile" or record.value is None:
            continue
        got = streamed[key].value
        assert got is not None, key
        level = QUANTILE_LEVELS.get(record.metric)
        if level is not None:  # between the true quantiles RANK_ERROR either side
            values = frame[key[1]].dropna().to_numpy(dtype=float)
            low, high = (min(max(level + d, 0.0), 1.0) for d in (-RANK_ERROR, RANK_ERROR))
            assert np.quantile(values, low) <= got <= np.quantile(values, high), key
        elif record.metric == Metric.PROFILE_CARDINALITY:
            assert got == pytest.approx(record.value, rel=0.05), key
        else:
            assert got == pytest.approx(record.value, rel=1e-6, abs=1e-9), key
    for key, record in whole.items():
        if _family(record) == "dq":
            assert streamed[key].status == record.status, key


def test_artifacts_and_reference_match(both: tuple[WindowEvaluation, WindowEvaluation]) -> None:
    whole, streamed = both
    assert streamed.row_count == whole.row_count == 2_000
    assert streamed.reference_profile.content_hash == whole.reference_profile.content_hash
    assert streamed.reference_profile.row_count == 8_000
    assert streamed.profile_path is not None
    assert streamed.profile_path.stat().st_size > 0
    assert streamed.report_path is not None
    assert "<html" in streamed.report_path.read_text()[:2_000].lower()
    assert streamed.report_rows == 2_000  # the whole window is below the report's sample size


def test_rows_are_counted_without_loading(project: Path) -> None:
    spec = credit_spec(project)
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    assert rows_to_evaluate(spec, window) == (2_000, 8_000)
    assert not needs_streaming(spec, 2_000, 8_000)
    assert needs_streaming(_small_chunks(project), 2_000, 8_000)
    cells = 10_000 * len(expected_columns(spec))  # the features, ids, scores and the target
    at_limit = spec.model_copy(update={"memory": MemorySpec(max_cells_in_memory=cells)})
    assert not needs_streaming(at_limit, 2_000, 8_000)
    assert needs_streaming(at_limit, 2_001, 8_000)
    empty = window_starting_on(DAY + timedelta(days=30), timedelta(days=1), ZONE)
    assert rows_to_evaluate(spec, empty) == (0, 8_000)


def test_a_reference_without_a_feature_names_file_and_column(project: Path, tmp_path: Path) -> None:
    pd.read_parquet(project / "reference.parquet").drop(columns=["income"]).to_parquet(
        tmp_path / "reference.parquet"
    )
    for name in ("log.parquet", "labels.parquet"):
        (tmp_path / name).symlink_to(project / name)
    spec = _small_chunks(tmp_path)
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    with pytest.raises(SourceError, match=r"reference\.parquet.*'income'"):
        evaluate_window_streamed(spec, window, artifacts=tmp_path / "artifacts")


@pytest.mark.parametrize("chunk", [1, 37, 1_000])
def test_uniform_sample_keeps_size_rows_in_order_and_is_uniform(chunk: int) -> None:
    rows = 5_000
    frame = pd.DataFrame({"i": range(rows)})
    counts = pd.Series(0, index=range(rows))
    for seed in range(40 if chunk > 1 else 8):  # one-row chunks: 5,000 adds a seed
        sample = UniformSample(500, seed)
        for start in range(0, rows, chunk):
            sample.add(frame.iloc[start : start + chunk])
        picked = sample.result(["i"])["i"]
        assert len(picked) == 500
        assert picked.is_unique
        assert picked.is_monotonic_increasing
        counts[picked.to_numpy()] += 1
    halves = counts.groupby(counts.index >= rows // 2).sum()
    assert abs(halves[True] - halves[False]) < 0.1 * counts.sum()  # no side of the window favoured


def test_column_groups_read_in_turn_give_a_sample_of_whole_rows() -> None:
    frame = pd.DataFrame({"a": range(10_000)}).assign(b=lambda f: f.a * 2, c=lambda f: -f.a)
    groups = column_groups(["a", "b", "c"], chunk_rows=1_000, budget_mb=0.1)
    assert groups == [["a"], ["b"], ["c"]]  # 0.1 MB holds one column of 1,000-row chunks

    def read(names: list[str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), 1_000):
            yield frame.iloc[start : start + 1_000][names]

    passes = GroupedRead(read, groups, 300, seed=5, keep=["c"])
    assert sum(len(chunk) for chunk in passes.chunks()) == 30_000
    assert passes.row_count == 10_000
    sample = passes.sample()
    assert list(sample.columns) == ["a", "b", "c"]
    assert len(sample) == 300
    assert (sample.b == 2 * sample.a).all()
    assert (sample.c == -sample.a).all()
    assert passes.kept_columns()["c"].tolist() == frame.c.tolist()


def test_a_source_that_changes_between_groups_is_an_error() -> None:
    calls = iter([3, 4])

    def read(names: list[str]) -> Iterator[pd.DataFrame]:
        yield pd.DataFrame({n: range(next(calls)) for n in names})

    passes = GroupedRead(read, [["a"], ["b"]], 10, seed=0)
    list(passes.chunks())
    with pytest.raises(SourceError, match=r"changed while it was read.*\[3, 4\]"):
        _ = passes.row_count
