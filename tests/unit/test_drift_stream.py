"""Drift of windows read column group by column group: the same records as in memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.metrics.drift.streamed import (
    HELD_BYTES_PER_ROW,
    SCORING_BYTES_PER_ROW,
    compute_drift_streamed,
    plan_groups,
)
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus, segment_key
from monitoring_lib.spec.drift import DriftSettings
from tests.unit.test_drift import CAT, NUM, _frame

MB = 1024 * 1024


class Reader:
    """A frame served in chunks of the asked columns only, counting the reads and columns."""

    def __init__(self, frame: pd.DataFrame, chunk_rows: int) -> None:
        self.frame, self.chunk_rows = frame, chunk_rows
        self.reads: list[list[str]] = []

    def __call__(self, names: Sequence[str]) -> Iterator[pd.DataFrame]:
        self.reads.append(list(names))
        present = [n for n in names if n in self.frame.columns]
        for start in range(0, len(self.frame), self.chunk_rows):
            yield self.frame.iloc[start : start + self.chunk_rows][present]


def _streamed(
    ref: pd.DataFrame, cur: pd.DataFrame, budget_mb: float, **kw: object
) -> tuple[list[MetricRecord], Reader, Reader]:
    ref_reader, cur_reader = Reader(ref, 1_700), Reader(cur, 450)
    records = compute_drift_streamed(
        ref_reader,
        cur_reader,
        reference_rows=len(ref),
        window_rows=len(cur),
        column_types=ref,
        numerical=NUM,
        categorical=CAT,
        budget_mb=budget_mb,
        **kw,  # type: ignore[arg-type]
    )
    return records, ref_reader, cur_reader


def _keyed(records: list[MetricRecord]) -> dict[tuple[str, str, str], MetricRecord]:
    keyed = {r.key: r for r in records}
    assert len(keyed) == len(records)
    return keyed


def _column_cost_mb(ref_rows: int, cur_rows: int, columns: int = 1) -> float:
    """The budget that fits exact groups of ``columns`` columns."""
    rows = ref_rows + cur_rows
    return rows * (SCORING_BYTES_PER_ROW + HELD_BYTES_PER_ROW * columns) / MB


@pytest.mark.parametrize("columns_per_group", [1, 3, 100])
def test_exact_groups_give_the_in_memory_records(columns_per_group: int) -> None:
    rng = np.random.default_rng(5)
    ref, cur = _frame(8_000, rng), _frame(2_500, rng, shift=0.6, new_category=0.05)
    extra = {"prediction": "score", "target": "label", "segments": ["region"]}
    whole = _keyed(compute_drift(ref, cur, numerical=NUM, categorical=CAT, **extra))  # type: ignore[arg-type]
    budget = _column_cost_mb(len(ref), len(cur), columns_per_group)
    records, ref_reader, cur_reader = _streamed(ref, cur, budget, **extra)
    assert len(ref_reader.reads) == len(cur_reader.reads)
    assert _keyed(records) == whole
    assert any(key[2] == segment_key("region", "north") for key in whole)
    tested = len(NUM) + len(CAT) + 2
    groups = -(-tested // columns_per_group)
    assert len(cur_reader.reads) == groups + 1  # one read per group, one to plan the segments
    assert max(len(names) for names in cur_reader.reads) <= columns_per_group + 1


def test_sketch_groups_when_a_column_exceeds_the_budget() -> None:
    rng = np.random.default_rng(8)
    ref, cur = _frame(6_000, rng), _frame(2_000, rng, shift=0.5, new_category=0.1)
    settings = DriftSettings(per_column={"n2": {"method": "ks"}, "n3": {"method": "psi"}})
    whole = _keyed(
        compute_drift(
            ref, cur, numerical=NUM, categorical=CAT, prediction="score", settings=settings
        )
    )
    budget = _column_cost_mb(len(ref), len(cur)) * 0.9
    records, _, cur_reader = _streamed(
        ref, cur, budget, prediction="score", settings=settings, segments=["region"]
    )
    keyed = _keyed(records)
    skipped = keyed.pop((Metric.DRIFT_SHARE, DATASET, segment_key("region", "")))
    assert skipped.status is MetricStatus.SKIPPED
    assert "memory budget" in skipped.details["reason"]
    assert keyed.keys() == whole.keys()
    for key, expected in whole.items():
        got = keyed[key]
        assert got.status is expected.status, key
        if expected.details.get("method") == "wasserstein":  # the sketch's documented bound
            assert got.value == pytest.approx(expected.value, abs=1e-3)
        else:
            assert got.value == pytest.approx(expected.value, rel=1e-9, abs=1e-12), key
    assert keyed[(Metric.DRIFT_SCORE, "n0", DATASET)].status is MetricStatus.DRIFT
    assert keyed[(Metric.DRIFT_SCORE, "c0", DATASET)].status is MetricStatus.DRIFT
    assert ["n3"] in cur_reader.reads  # the second pass that fills PSI's bins for n3 alone


def test_a_column_missing_from_the_window_is_an_error_record_as_in_memory() -> None:
    rng = np.random.default_rng(2)
    ref, cur = _frame(3_000, rng), _frame(1_000, rng).drop(columns=["n4"])
    whole = _keyed(compute_drift(ref, cur, numerical=NUM, categorical=CAT))
    records, _, _ = _streamed(ref, cur, _column_cost_mb(len(ref), len(cur), 2))
    keyed = _keyed(records)
    assert keyed == whole
    assert keyed[(Metric.DRIFT_SCORE, "n4", DATASET)].status is MetricStatus.ERROR


def test_plan_picks_exact_groups_then_sketches_and_never_an_empty_group() -> None:
    specs = list(range(10))  # plan_groups only slices the sequence
    rows = 1_000_000
    exact = plan_groups(specs, rows, rows, budget_mb=_column_cost_mb(rows, rows, 4))  # type: ignore[arg-type]
    assert exact.mode == "exact"
    assert [len(g) for g in exact.groups] == [4, 4, 2]
    sketch = plan_groups(specs, rows, 50 * rows, budget_mb=_column_cost_mb(rows, rows, 4))  # type: ignore[arg-type]
    assert sketch.mode == "sketch"
    tiny = plan_groups(specs, rows, rows, budget_mb=1)  # type: ignore[arg-type]
    assert tiny.mode == "sketch"
    assert [len(g) for g in tiny.groups] == [1] * 10
