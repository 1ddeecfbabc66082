"""A window read in parts (each from its first row's offset) and merged in order keeps what one
pass over the window keeps: the sample, the row counts, the quality columns, the service counts.
This is what lets a Dask run store the records of a local run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from monitoring_lib.io.parts import source_parts
from monitoring_lib.metrics.service import ServiceCounts
from monitoring_lib.pipeline.streamed import GroupedRead
from monitoring_lib.spec.columns import ColumnsSpec
from monitoring_lib.spec.service import ServiceSpec
from monitoring_lib.spec.sources import FileSource, SqlSource

FRAME = pd.DataFrame({"a": range(10_000)}).assign(b=lambda f: f.a * 2, c=lambda f: -f.a)


def _reader(frame: pd.DataFrame, chunk: int):  # type: ignore[no-untyped-def]
    def read(names: list[str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), chunk):
            yield frame.iloc[start : start + chunk][names].reset_index(drop=True)

    return read


@pytest.mark.parametrize("bounds", [[0, 10_000], [0, 3_001, 3_002, 10_000], [0, 1, 5_000, 10_000]])
def test_parts_merged_in_order_are_the_one_pass(bounds: list[int]) -> None:
    groups = [["a"], ["b", "c"]]
    whole = GroupedRead(_reader(FRAME, 700), groups, 300, seed=5, keep=["c"])
    list(whole.chunks())
    parts = []
    for start, end in itertools.pairwise(bounds):
        part = GroupedRead(_reader(FRAME.iloc[start:end], 700), groups, 300, 5, ["c"], start)
        list(part.chunks())
        parts.append(part)
    merged = GroupedRead.merged(parts)
    assert merged.row_count == whole.row_count == 10_000
    pd.testing.assert_frame_equal(merged.sample(), whole.sample())
    pd.testing.assert_frame_equal(merged.kept_columns(), whole.kept_columns())
    assert list(merged.seen) == list(whole.seen)


def test_service_counts_of_parts_add_up() -> None:
    frame = pd.DataFrame({"status": ["ok", "error", "ok", None], "latency": [5, 50, 500, None]})
    columns = ColumnsSpec.model_validate(
        {"timestamp": "ts", "id": "id", "status": "status", "latency": "latency",
         "numerical": ["x"]}
    )  # fmt: skip
    service = ServiceSpec.model_validate(
        {"slos": [{"name": "fast", "latency_below_ms": 100, "objective": 0.99}]}
    )
    whole, first, second = ServiceCounts(), ServiceCounts(), ServiceCounts()
    whole.add(frame, columns, service)
    first.add(frame.iloc[:1], columns, service)
    second.add(frame.iloc[1:], columns, service)
    first.merge(second)
    assert first == whole


def test_a_glob_is_one_part_per_file_in_reading_order(tmp_path: Path) -> None:
    for name in ["b.csv", "a.csv", "c.parquet"]:
        path = tmp_path / name
        if name.endswith(".csv"):
            FRAME.head(3).to_csv(path, index=False)
        else:
            FRAME.head(3).to_parquet(path)
    parts = source_parts(FileSource(path="*"), tmp_path, "predictions")
    assert [Path(p.where).name for p in parts] == ["c.parquet", "a.csv", "b.csv"]  # as read
    sql = SqlSource(query="select 1", url_env="X")
    assert [p.source for p in source_parts(sql, tmp_path, "predictions")] == [sql]
