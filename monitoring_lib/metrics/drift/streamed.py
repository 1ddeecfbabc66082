"""Drift of windows too large to hold whole: columns scored in groups sized to a memory budget.

A window and its reference are read as chunks of rows holding only the columns asked for (a
parquet dataset reads just those columns), one group of columns at a time. Each group is scored
in one of two ways, chosen from the row counts:

* ``exact``: a column of both sides fits the budget, so the group's columns are gathered whole
  and scored exactly as the in-memory ``compute_drift`` scores them (equal to Evidently);
  segments are scored too.
* ``sketch``: a single column does not fit, so the window is merged chunk by chunk into
  per-column sufficient statistics against the prepared reference (KS, PSI, Jensen-Shannon,
  chi-square and z exact; Wasserstein within the bound ``wasserstein_from_sketch`` states).
  Memory then follows the chunk size and the reference, never the window.

Either way the verdicts are decided once over all columns (one false-discovery family), so the
records equal the in-memory ones however the columns were grouped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.memory import (
    ColumnSpec,
    category_counts,
    column_specs,
    missing_column,
    records_for_window,
    score_in_memory,
    scoring_options,
    segment_values,
)
from monitoring_lib.metrics.drift.scoring import (
    ColumnProblem,
    ColumnScore,
    clean_numeric,
    score_categorical_counts,
    score_numeric,
)
from monitoring_lib.metrics.drift.sketches import NumericReference, NumericSketch
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus, segment_key
from monitoring_lib.spec.drift import DriftSettings

ColumnReader: TypeAlias = Callable[[Sequence[str]], Iterable[pd.DataFrame]]
"""Chunks of rows holding the named columns (those a source lacks are absent); re-callable."""
Result: TypeAlias = tuple[ColumnSpec, ColumnScore | ColumnProblem]

SCORING_BYTES_PER_ROW = 128
"""Transient memory of exactly scoring one column, per row of window plus reference: its float64
values and finite copy, sorted copies, uniques and counts, KS's merged CDFs and Wasserstein's
quantile grid (measured: 1.37 GB for one column of 10M + 1M rows, ~124 bytes a row)."""
HELD_BYTES_PER_ROW = 24
"""Memory of each column of a group while it waits to be scored, per row: the gathered column
(8-byte values or object pointers) and what reading it from Arrow leaves behind."""
SKETCH_BYTES_PER_REFERENCE_ROW = 200
"""Per reference row of a sketched column: the reference column, its sorted values, uniques and
counts, the window's counts and sums at each reference value, and each chunk's own counts while
they merge (measured: 1.56 GB for 8 columns of a 1M-row reference, ~195 bytes a row)."""


@dataclass(frozen=True)
class GroupPlan:
    """How a window's columns are read: in which groups, and scored exactly or by sketches."""

    mode: Literal["exact", "sketch"]
    groups: tuple[tuple[ColumnSpec, ...], ...]


def plan_groups(
    specs: Sequence[ColumnSpec], reference_rows: int, window_rows: int, budget_mb: float
) -> GroupPlan:
    """Largest groups whose working memory fits the budget (at least one column per group).

    Exact groups hold their columns while one of them at a time is scored, so the budget pays
    for one column's scoring plus every held column.
    """
    budget = budget_mb * 1024 * 1024
    rows = reference_rows + window_rows
    if rows * (SCORING_BYTES_PER_ROW + HELD_BYTES_PER_ROW) <= budget:
        mode: Literal["exact", "sketch"] = "exact"
        size = int((budget - rows * SCORING_BYTES_PER_ROW) // max(rows * HELD_BYTES_PER_ROW, 1))
    else:
        mode = "sketch"
        size = int(budget // max(reference_rows * SKETCH_BYTES_PER_REFERENCE_ROW, 1))
    size = max(1, size)
    groups = tuple(tuple(specs[i : i + size]) for i in range(0, len(specs), size))
    return GroupPlan(mode, groups)


def read_columns(reader: ColumnReader, names: Sequence[str]) -> pd.DataFrame:
    """The named columns of every chunk, gathered into one frame (absent columns stay absent)."""
    chunks = list(reader(list(names)))
    frames = [chunk for chunk in chunks if len(chunk)]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    if not frames:  # keep the columns an empty read still tells
        return chunks[0].iloc[:0] if chunks else pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def compute_drift_streamed(
    reference: ColumnReader,
    window: ColumnReader,
    *,
    reference_rows: int,
    window_rows: int,
    numerical: Sequence[str],
    categorical: Sequence[str],
    column_types: pd.DataFrame,
    prediction: str | None = None,
    target: str | None = None,
    segments: Sequence[str] = (),
    settings: DriftSettings | None = None,
    budget_mb: float = 512,
) -> list[MetricRecord]:
    """Drift records of a window read group by group; equal to ``compute_drift`` in exact mode.

    ``column_types`` is a frame whose dtypes type the prediction and target columns, as the
    reference's do in ``compute_drift`` (a sample of the reference serves: a reader has no frame
    to look at before the first read).
    """
    settings = settings or DriftSettings()
    specs = column_specs(column_types, numerical, categorical, prediction, target)
    plan = plan_groups(specs, reference_rows, window_rows, budget_mb)
    if plan.mode == "sketch":
        sketched = [
            r for group in plan.groups for r in _sketch_group(reference, window, group, settings)
        ]
        return records_for_window(sketched, settings, DATASET) + _segments_skipped(
            segments, budget_mb
        )
    planned = _plan_segments(reference, window, segments, settings)
    results: list[Result] = []
    by_segment: dict[str, list[Result]] = {key: [] for _, key, _ in planned.testable}
    for group in plan.groups:
        group_results, segment_results = _exact_group(reference, window, group, planned, settings)
        results += group_results
        for key, found in segment_results.items():
            by_segment[key] += found
    records = records_for_window(results, settings, DATASET)
    for key, found in by_segment.items():
        records += records_for_window(found, settings, key)
    return records + planned.skipped


@dataclass(frozen=True)
class _Segments:
    testable: list[tuple[str, str, object]]
    """(segment column, segment key, value) of each segment to score."""
    skipped: list[MetricRecord]


def _plan_segments(
    reference: ColumnReader, window: ColumnReader, columns: Sequence[str], settings: DriftSettings
) -> _Segments:
    testable: list[tuple[str, str, object]] = []
    skipped: list[MetricRecord] = []
    for column in columns:
        ref, cur = read_columns(reference, [column]), read_columns(window, [column])
        found, problems = segment_values(ref.get(column), cur.get(column), column, settings)
        testable += [(column, key, value) for key, value in found]
        skipped += problems
    return _Segments(testable, skipped)


def _exact_group(
    reference: ColumnReader,
    window: ColumnReader,
    group: Sequence[ColumnSpec],
    segments: _Segments,
    settings: DriftSettings,
) -> tuple[list[Result], dict[str, list[Result]]]:
    names = [spec.name for spec in group]
    extra = [c for c, _, _ in segments.testable if c not in names]
    wanted = list(dict.fromkeys([*names, *extra]))
    ref, cur = read_columns(reference, wanted), read_columns(window, wanted)
    results = [(spec, score_in_memory(ref, cur, spec, settings)) for spec in group]
    by_segment: dict[str, list[Result]] = {}
    for column, key, value in segments.testable:
        ref_part, cur_part = ref[ref[column] == value], cur[cur[column] == value]
        by_segment[key] = [
            (spec, score_in_memory(ref_part, cur_part, spec, settings))
            for spec in group
            if spec.name != column
        ]
    return results, by_segment


def _segments_skipped(columns: Sequence[str], budget_mb: float) -> list[MetricRecord]:
    reason = (
        f"a column of this window does not fit the drift memory budget ({budget_mb:g} MB), "
        "so it was tested from chunk sketches, which are not split by segment"
    )
    return [
        MetricRecord(
            Metric.DRIFT_SHARE,
            None,
            MetricStatus.SKIPPED,
            DATASET,
            segment_key(column, ""),
            {"reason": reason},
        )
        for column in columns
    ]


# --- sketches: one pass over the window per group ---------------------------------------------

ChunkState: TypeAlias = NumericSketch | pd.Series | ColumnProblem


def _chunk_state(
    spec: ColumnSpec, chunk: pd.DataFrame, prepared: NumericReference | ColumnProblem | None
) -> ChunkState:
    problem = missing_column(chunk, spec.name, "current window")
    if problem:
        return problem
    if spec.kind == "categorical":
        return category_counts(chunk[spec.name], "current window")
    cleaned = clean_numeric(chunk[spec.name], "current window")
    if (
        isinstance(prepared, ColumnProblem)
        or prepared is None
        or isinstance(cleaned, ColumnProblem)
    ):
        return prepared if isinstance(prepared, ColumnProblem) else cleaned
    return NumericSketch.of(prepared, *cleaned)


def _merge_state(old: ChunkState | None, new: ChunkState) -> ChunkState:
    if old is None or isinstance(new, ColumnProblem):
        return new
    if isinstance(old, ColumnProblem):
        return old
    if isinstance(old, NumericSketch) and isinstance(new, NumericSketch):
        return old.merge(new)
    return old.add(new, fill_value=0)  # type: ignore[union-attr]


def _prepare_reference(
    reference: pd.DataFrame, spec: ColumnSpec
) -> NumericReference | ColumnProblem:
    problem = missing_column(reference, spec.name, "reference")
    if problem:
        return problem
    cleaned = clean_numeric(reference[spec.name], "reference")
    if isinstance(cleaned, ColumnProblem):
        return cleaned
    if cleaned[0].size == 0:
        return ColumnProblem(MetricStatus.INSUFFICIENT_DATA, "the reference has no non-null values")
    return NumericReference.build(*cleaned)


def _needs_bins(state: ChunkState | None, prepared: object, method: str) -> bool:
    return (
        isinstance(state, NumericSketch)
        and isinstance(prepared, NumericReference)
        and prepared.binned
        and method in ("psi", "jensenshannon")
    )


def _sketch_group(
    reference: ColumnReader,
    window: ColumnReader,
    group: Sequence[ColumnSpec],
    settings: DriftSettings,
) -> list[Result]:
    names = [spec.name for spec in group]
    ref = read_columns(reference, names)
    prepared = {s.name: _prepare_reference(ref, s) for s in group if s.kind == "numerical"}
    states: dict[str, ChunkState] = {}
    for chunk in window(names):
        for spec in group:
            state = _chunk_state(spec, chunk, prepared.get(spec.name))
            states[spec.name] = _merge_state(states.get(spec.name), state)
    binned = [
        s.name
        for s in group
        if _needs_bins(states.get(s.name), prepared.get(s.name), settings.method_for(s.name))
    ]
    if binned:
        _fill_bins(window, binned, states, prepared)
    return [
        (spec, _score_state(spec, states.get(spec.name), prepared.get(spec.name), ref, settings))
        for spec in group
    ]


def _fill_bins(
    window: ColumnReader,
    names: Sequence[str],
    states: dict[str, ChunkState],
    prepared: dict[str, NumericReference | ColumnProblem],
) -> None:
    """Second pass: Evidently's Sturges edges depend on the whole window's min, max and size."""
    edges = {n: states[n].edges(prepared[n]) for n in names}  # type: ignore[union-attr,arg-type]
    totals = {n: np.zeros(e.size - 1) for n, e in edges.items()}
    for chunk in window(list(names)):
        for name in names:
            cleaned = clean_numeric(chunk[name], "current window")
            if not isinstance(cleaned, ColumnProblem):
                totals[name] += np.histogram(cleaned[0], edges[name])[0]
    for name in names:
        sketch = states[name]
        assert isinstance(sketch, NumericSketch)
        states[name] = NumericSketch(**{**sketch.__dict__, "bins": totals[name]})


def _score_state(
    spec: ColumnSpec,
    state: ChunkState | None,
    prepared: NumericReference | ColumnProblem | None,
    reference: pd.DataFrame,
    settings: DriftSettings,
) -> ColumnScore | ColumnProblem:
    method, threshold = settings.method_for(spec.name), settings.threshold_for(spec.name)
    options = scoring_options(settings)
    if state is None:
        return ColumnProblem(MetricStatus.INSUFFICIENT_DATA, "the current window had no rows")
    if isinstance(state, ColumnProblem):
        return state
    if isinstance(prepared, ColumnProblem):
        return prepared
    if isinstance(state, NumericSketch) and prepared is not None:
        return score_numeric(
            prepared, state.to_window(prepared, method), method, threshold, options
        )
    ref_counts = missing_column(reference, spec.name, "reference") or category_counts(
        reference[spec.name], "reference"
    )
    if isinstance(ref_counts, ColumnProblem):
        return ref_counts
    return score_categorical_counts(ref_counts, state, method, threshold, options)
