"""One window too large to load whole: gathered in chunks, then the same stages as in memory.

The window and the reference are read as chunks of rows, never whole: one pass over the window
profiles it and keeps a bounded uniform sample (for the schema check and the HTML report) and
the few columns quality needs; drift reads the columns in groups sized to a memory budget
(:mod:`monitoring_lib.metrics.drift.streamed`). Peak memory follows the chunk size and the
budget, not the window. The records are those the in-memory path gives for the same rows: drift
and quality exactly, profiles within sketch error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd

from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.io.loading import load_labels, reference_log_columns
from monitoring_lib.io.sources import (
    SourceError,
    count_rows,
    describe,
    iter_source,
    read_all,
    window_filter,
)
from monitoring_lib.metrics import profiling
from monitoring_lib.metrics.drift.streamed import ColumnReader, compute_drift_streamed
from monitoring_lib.metrics.service import ServiceCounts, service_records, sketched_percentiles
from monitoring_lib.pipeline.stages import (
    Gathered,
    ReferenceProfileInfo,
    Stopwatch,
    WindowEvaluation,
    artifact_label,
    expected_columns,
    numeric_only,
    prediction_drift_column,
    quality_columns,
    run_stages,
)
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.windows import Window


def reference_columns(spec: MonitorSpec) -> list[str]:
    """The reference columns a run reads: features, prediction(s) and target."""
    wanted = reference_log_columns(spec)
    return wanted + ([spec.columns.target] if spec.columns.target else [])


def rows_to_evaluate(spec: MonitorSpec, window: Window) -> tuple[int, int]:
    """(window rows, reference rows), counted without loading either."""
    columns = spec.columns
    window_rows = count_rows(
        spec.sources.predictions,
        spec.base_dir,
        "predictions",
        columns=[columns.timestamp],
        time_filter=window_filter(spec, window),
    )
    reference_rows = count_rows(
        spec.sources.reference, spec.base_dir, "reference", columns=columns.features[:1]
    )
    return window_rows, reference_rows


def needs_streaming(spec: MonitorSpec, window_rows: int, reference_rows: int) -> bool:
    """Whether a window is read in chunks rather than loaded whole (see ``memory`` in the spec)."""
    cells = (window_rows + reference_rows) * len(expected_columns(spec))
    return cells > spec.memory.max_cells_in_memory


class UniformSample:
    """A uniform sample without replacement of rows seen chunk by chunk: the ``size`` rows with
    the smallest random keys. Only rows whose key beats the current cut are copied.

    ``offset`` starts the key stream at that row, so the parts of a window sampled apart (each
    from its first row's offset) and then merged in order keep the rows one pass would keep.
    """

    def __init__(self, size: int, seed: int, offset: int = 0) -> None:
        bits = np.random.PCG64(seed)  # what default_rng(seed) draws from: one output a key
        bits.advance(offset)
        self.size, self.rng = size, np.random.Generator(bits)
        self.frame: pd.DataFrame | None = None
        self.keys = np.empty(0)

    def add(self, chunk: pd.DataFrame) -> None:
        self.add_keyed(chunk, self.rng.random(len(chunk)))

    def merge(self, later: UniformSample) -> None:
        """Take in the sample of the rows that follow this one's."""
        if later.frame is not None:
            self.add_keyed(later.frame, later.keys)

    def add_keyed(self, chunk: pd.DataFrame, keys: np.ndarray) -> None:
        if self.frame is not None and len(self.frame) >= self.size:
            beats = keys < self.keys.max()
            chunk, keys = chunk.loc[beats], keys[beats]
        if self.frame is None:
            frame = chunk.reset_index(drop=True)
        else:
            frame = pd.concat([self.frame, chunk], ignore_index=True)
        keys = np.concatenate([self.keys, keys])
        if len(frame) > self.size:
            keep = np.sort(np.argpartition(keys, self.size)[: self.size])
            frame, keys = frame.iloc[keep].reset_index(drop=True), keys[keep]
        self.frame, self.keys = frame, keys

    def result(self, columns: Sequence[str]) -> pd.DataFrame:
        if self.frame is None:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
        return self.frame


def window_reader(
    spec: MonitorSpec,
    window: Window | None,
    labels: pd.DataFrame | None,
    header: dict[str, str] | None = None,
) -> ColumnReader:
    """Chunks of the predictions (in the window) or of the reference, with labels joined;
    ``header`` collects the prediction source's own columns."""
    columns, chunk_rows = spec.columns, spec.memory.chunk_rows

    def read(names: Sequence[str]) -> Iterator[pd.DataFrame]:
        wanted = list(names)
        if window is None:
            yield from iter_source(
                spec.sources.reference, spec.base_dir, "reference", columns=wanted,
                chunk_rows=chunk_rows,
            )  # fmt: skip
            return
        join = labels is not None and columns.target in wanted
        read_names = [c for c in wanted if not (join and c == columns.target)]
        read_names = list(dict.fromkeys([*read_names, columns.timestamp, columns.id]))
        for chunk in iter_source(
            spec.sources.predictions, spec.base_dir, "predictions", columns=read_names,
            time_filter=window_filter(spec, window), chunk_rows=chunk_rows, header=header,
        ):  # fmt: skip
            if join and labels is not None and columns.id in chunk.columns:
                chunk = chunk.merge(labels, on=columns.id, how="left", validate="many_to_one")
            yield chunk[[c for c in wanted if c in chunk.columns]]

    return read


def window_labels(spec: MonitorSpec, window: Window, as_of: datetime | None) -> pd.DataFrame | None:
    if spec.sources.labels is None or spec.columns.target is None:
        return None
    id_column = spec.columns.id
    ids = [
        chunk[id_column]
        for chunk in window_reader(spec, window, None)([id_column])
        if id_column in chunk.columns
    ]
    return load_labels(spec, pd.concat(ids) if ids else pd.Series(dtype="object"), as_of)


PROFILE_BYTES_PER_CELL = 90
"""Peak bytes per cell of a chunk read from parquet and profiled: Arrow's buffers, the pandas
frame with its string objects and whylogs' working copies (measured: 2.2 GB above the
interpreter for 250k rows x 100 columns read at once)."""


def column_groups(names: Sequence[str], chunk_rows: int, budget_mb: float) -> list[list[str]]:
    """Consecutive groups of columns whose chunks fit the budget when read and profiled."""
    size = max(1, int(budget_mb * 1024 * 1024 // (chunk_rows * PROFILE_BYTES_PER_CELL)))
    names = list(names)
    return [names[i : i + size] for i in range(0, len(names), size)]


class GroupedRead:
    """Reads column groups one after another, keeping what the run needs besides the chunks.

    Every group is read in the same chunks, so one seed picks the same rows of each group: the
    per-group samples line up into one sample of whole rows. ``offset`` is the row the read
    starts at within the window (a part of it read elsewhere, see ``merged``).
    """

    def __init__(
        self,
        read: ColumnReader,
        groups: list[list[str]],
        sample_size: int,
        seed: int,
        keep: Sequence[str] = (),
        offset: int = 0,
    ) -> None:
        self.read, self.groups, self.keep = read, groups, list(keep)
        self.sample_size, self.seed, self.offset = sample_size, seed, offset
        self.rows: list[int] = []
        self.sampled: list[UniformSample] = []
        self.kept: list[pd.DataFrame] = []
        self.seen: dict[str, None] = {}

    def chunks(self) -> Iterator[pd.DataFrame]:
        for group in self.groups:
            sample, rows, kept = UniformSample(self.sample_size, self.seed, self.offset), 0, []
            wanted = [c for c in self.keep if c in group]
            for chunk in self.read(group):
                rows += len(chunk)
                if len(chunk):  # a file with no row in the window shows no column
                    self.seen.update(dict.fromkeys(map(str, chunk.columns)))
                sample.add(chunk)
                if wanted:
                    kept.append(chunk[[c for c in wanted if c in chunk.columns]])
                yield chunk
            self.rows.append(rows)
            self.sampled.append(sample)
            if kept:
                self.kept.append(pd.concat(kept, ignore_index=True))

    @staticmethod
    def merged(parts: Sequence[GroupedRead]) -> GroupedRead:
        """The passes over consecutive parts of a window as one pass over the whole window."""
        first = parts[0]
        whole = GroupedRead(no_read, first.groups, first.sample_size, first.seed, first.keep)
        for index in range(len(first.groups)):
            sample = UniformSample(first.sample_size, first.seed)
            for part in parts:
                sample.merge(part.sampled[index])
            whole.sampled.append(sample)
            whole.rows.append(sum(part.rows[index] for part in parts))
        kept = [part.kept_columns() for part in parts if part.kept]
        whole.kept = [pd.concat(kept, ignore_index=True)] if kept else []
        for part in parts:
            whole.seen.update(part.seen)
        return whole

    @property
    def row_count(self) -> int:
        if len(set(self.rows)) > 1:
            raise SourceError(
                f"the source changed while it was read: its column groups gave {self.rows} rows"
            )
        return self.rows[0] if self.rows else 0

    def sample(self) -> pd.DataFrame:
        frames = [s.result(g) for s, g in zip(self.sampled, self.groups, strict=False)]
        return pd.concat(frames, axis=1) if frames else pd.DataFrame()

    def kept_columns(self) -> pd.DataFrame:
        return pd.concat(self.kept, axis=1) if self.kept else pd.DataFrame()


def no_read(names: Sequence[str]) -> Iterator[pd.DataFrame]:
    return iter(())


def _groups(spec: MonitorSpec, names: Sequence[str]) -> list[list[str]]:
    return column_groups(names, spec.memory.chunk_rows, spec.memory.budget_mb)


def profile_pass(
    spec: MonitorSpec,
    read: ColumnReader,
    workers: int,
    counts: ServiceCounts,
    header: dict[str, str] | None = None,
    offset: int = 0,
) -> tuple[profiling.DatasetProfileView, GroupedRead]:
    """Profile the window (or its part from row ``offset`` on) in one pass that also samples
    it, keeps the quality columns and counts service health (``counts``). ``header`` is filled
    by ``read`` itself here; a pass that reads elsewhere fills it with what it saw."""
    seed, size = spec.drift.seed + 1, spec.drift.report_sample_size
    groups = _groups(spec, expected_columns(spec))
    passes = GroupedRead(read, groups, size, seed, quality_columns(spec), offset)
    chunks = counts.tap(passes.chunks(), spec.columns, spec.service)
    lean = numeric_only(spec)
    return profiling.profile_chunks(chunks, workers=workers, numeric_only=lean), passes


ProfilePass: TypeAlias = Callable[
    [MonitorSpec, ColumnReader, int, ServiceCounts, dict[str, str]],
    tuple[profiling.DatasetProfileView, GroupedRead],
]
"""The window's profiling pass: (spec, window reader, profile workers, counts and header to
fill)."""


def _service_streamed(
    spec: MonitorSpec, rows: int, counts: ServiceCounts, view: profiling.DatasetProfileView
) -> list[MetricRecord]:
    latency = spec.columns.latency
    percentiles = sketched_percentiles(view, latency) if latency else {}
    return service_records(rows, counts, percentiles, spec.columns, spec.service, exact=False)


def _reference_pass(
    spec: MonitorSpec, read: ColumnReader, wanted: list[str]
) -> tuple[str, int, pd.DataFrame]:
    """Content hash, row count and a uniform sample of the reference, in one read."""
    passes = GroupedRead(
        read, _groups(spec, wanted), spec.drift.report_sample_size, spec.drift.seed
    )
    digest, _ = profiling.content_hash_of_chunks(passes.chunks())
    rows = passes.row_count  # also checks that every column group saw the same rows
    where = describe(spec.sources.reference, spec.base_dir)
    if rows == 0:
        raise SourceError(f"reference source {where} has no rows")
    frame = passes.sample()
    absent = [c for c in spec.columns.features if c not in frame.columns]
    if absent:
        raise SourceError(
            f"reference source {where}: no column {', '.join(repr(c) for c in absent)}; "
            f"it has {list(frame.columns)}"
        )
    return digest, rows, frame


def evaluate_window_streamed(
    spec: MonitorSpec,
    window: Window,
    *,
    artifacts: Path,
    as_of: datetime | None = None,
    write_report: bool = True,
    profile_workers: int = 1,
    profile: ProfilePass | None = None,
) -> WindowEvaluation:
    """Profile, check, measure drift and quality of a window read in chunks and column groups.

    ``profile_workers`` processes may profile the window's columns (``DriftwiseSettings``);
    ``profile`` replaces the one profiling pass (``profile_pass``), e.g. by one on a cluster.
    """
    clock = Stopwatch()
    columns = spec.columns
    folder = model_folder(artifacts, spec.name)
    label = artifact_label(window.label)
    ref_read = window_reader(spec, None, None)
    ref_wanted = reference_columns(spec)
    digest, ref_rows, ref_sample = clock.run(
        "reference_hash", lambda: _reference_pass(spec, ref_read, ref_wanted)
    )
    ref_view, ref_path = clock.run(
        "reference_profile",
        lambda: profiling.cached_reference_view_of_chunks(
            lambda: (c for g in _groups(spec, ref_wanted) for c in ref_read(g)),
            folder / "reference",
            content_hash=digest,
            workers=profile_workers,
            numeric_only=numeric_only(spec),
        ),
    )
    labels = clock.run("labels", lambda: window_labels(spec, window, as_of))
    header: dict[str, str] = {}
    read = window_reader(spec, window, labels, header)
    counts = ServiceCounts()
    view, passes = clock.run(
        "profile",
        lambda: (profile or profile_pass)(spec, read, profile_workers, counts, header),
    )
    rows, sample = passes.row_count, passes.sample()
    gathered = Gathered(
        rows=rows,
        reference=ReferenceProfileInfo(digest, ref_path, ref_rows),
        reference_view=ref_view,
        view=view,
        profile_path=profiling.write_view(view, folder / "profiles" / f"{label}.bin"),
        schema_frame=sample[[c for c in passes.seen if c in sample.columns]],
        reference_frame=ref_sample,
        report_frame=sample,
        drift=lambda: compute_drift_streamed(
            ref_read,
            read,
            reference_rows=ref_rows,
            window_rows=rows,
            numerical=columns.numerical,
            categorical=columns.categorical,
            prediction=prediction_drift_column(spec),
            target=columns.target,
            column_types=ref_sample,
            segments=columns.segments,
            settings=spec.drift,
            budget_mb=spec.memory.budget_mb,
        ),
        quality_frame=passes.kept_columns,
        window_columns=read,
        reference_quality=lambda: read_all(
            iter(ref_read(quality_columns(spec))), quality_columns(spec)
        ),
        service=lambda: _service_streamed(spec, rows, counts, view),
        source_columns=header,
    )
    report = folder / "reports" / f"{label}.html" if write_report else None
    return run_stages(spec, gathered, clock, report)
