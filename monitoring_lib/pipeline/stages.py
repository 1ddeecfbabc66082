"""The stages every window goes through, whether it was loaded whole or read in chunks.

A run first gathers what the stages read (``Gathered``: profiles, a frame or sample for the
schema check and the report, a drift computation, the quality columns); then one stage list
turns that into records: row count, schema, data quality, drift, quality, and the HTML report.
``evaluate.evaluate_window`` gathers from frames in memory, ``streamed.evaluate_window_streamed``
from chunks and column groups; both end here, so they cannot disagree on what a window stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import pandas as pd

from monitoring_lib.io.loading import prediction_columns
from monitoring_lib.metrics import data_quality, reports, schema
from monitoring_lib.metrics.profiling import DatasetProfileView
from monitoring_lib.metrics.profiling import summary as profile_summary
from monitoring_lib.metrics.quality.counts import QualityCounts
from monitoring_lib.pages.verdict import ReportSample
from monitoring_lib.pipeline.quality import (
    QualityOutcome,
    estimated_quality,
    estimates_apply,
    realised_quality,
    reference_calibration,
)
from monitoring_lib.pipeline.report import evidently_options
from monitoring_lib.pipeline.signals import confidence_stage, multivariate_stage
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Task
from monitoring_lib.spec.monitor import MonitorSpec

T = TypeVar("T")


@dataclass(frozen=True)
class ReferenceProfileInfo:
    content_hash: str
    path: Path
    row_count: int


@dataclass(frozen=True)
class WindowEvaluation:
    """Everything one window produced; the caller persists it in one transaction."""

    records: list[MetricRecord]
    row_count: int
    profile_path: Path | None
    report_path: Path | None
    report_rows: int | None
    reference_profile: ReferenceProfileInfo
    timings: dict[str, float] = field(default_factory=dict)
    quality_counts: dict[str, QualityCounts] = field(default_factory=dict)
    """The window's quality counts by kind (realised, expected): the store keeps them."""
    report_sample: ReportSample | None = None
    """How many rows of how many the HTML report shows (None: no report)."""

    def by_key(self) -> dict[tuple[str, str, str], MetricRecord]:
        return {r.key: r for r in self.records}


class Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 4)

    def run(self, name: str, action: Callable[[], T]) -> T:
        with self.stage(name):
            return action()


@dataclass(frozen=True)
class Gathered:
    """What the stages read, however the window was gathered (whole, or in chunks)."""

    rows: int
    reference: ReferenceProfileInfo
    reference_view: DatasetProfileView
    view: DatasetProfileView
    profile_path: Path
    schema_frame: pd.DataFrame
    """The window's rows (or a uniform sample of them) with the columns that were seen."""
    reference_frame: pd.DataFrame
    """The reference (or a uniform sample): its dtypes, and one side of the report."""
    report_frame: pd.DataFrame
    """The window (or a uniform sample) for the HTML report."""
    drift: Callable[[], list[MetricRecord]]
    quality_frame: Callable[[], pd.DataFrame]
    """The columns quality needs, with the labels known so far."""
    reference_quality: Callable[[], pd.DataFrame] = pd.DataFrame
    """The reference's target, prediction and probabilities (read only to fit a calibration)."""
    service: Callable[[], list[MetricRecord]] = list
    """Service health (RED) and each SLO's good share (``metrics.service``)."""
    source_columns: Mapping[str, str] = field(default_factory=dict)
    """The prediction source's own columns (its header or schema), read or not."""
    window_columns: Callable[[Sequence[str]], Iterable[pd.DataFrame]] | None = None
    """Chunks of the window's rows with the named columns (None: ``schema_frame`` is whole)."""


def prediction_drift_column(spec: MonitorSpec) -> str | None:
    """Probabilities carry more signal than hard labels, so drift watches them when given."""
    probability = spec.columns.probability
    return probability if isinstance(probability, str) else spec.columns.prediction


def expected_columns(spec: MonitorSpec) -> list[str]:
    """The prediction log's columns plus the target, which labels join in (or the log carries)."""
    target = [spec.columns.target] if spec.columns.target else []
    return [*prediction_columns(spec), *target]


def row_count_record(rows: int) -> MetricRecord:
    if rows == 0:
        return MetricRecord(
            Metric.ROW_COUNT,
            0.0,
            MetricStatus.INSUFFICIENT_DATA,
            details={"reason": "no predictions in this window"},
        )
    return MetricRecord(Metric.ROW_COUNT, float(rows))


def profile_records(
    spec: MonitorSpec, reference: DatasetProfileView, view: DatasetProfileView
) -> list[MetricRecord]:
    """The window profile's summary metrics and its checks against constraints learnt from the
    reference profile: both need profiles only, however the window was read."""
    columns = spec.columns
    constraints = data_quality.derive_constraints(
        reference, numerical=columns.numerical, categorical=columns.categorical
    )
    summary = profile_summary.summary_records(
        view, numerical=columns.numerical, categorical=columns.categorical
    )
    return summary + data_quality.check_constraints(view, constraints)


def quality_columns(spec: MonitorSpec) -> list[str]:
    """The columns quality reads: target, prediction and probabilities."""
    columns = spec.columns
    if columns.target is None or columns.prediction is None:
        return []
    probability = columns.probability if spec.task is not Task.REGRESSION else None
    extra = [probability] if isinstance(probability, str) else list((probability or {}).values())
    return [columns.target, columns.prediction, *extra]


def _schema(spec: MonitorSpec, gathered: Gathered) -> list[MetricRecord]:
    return schema.check_schema(
        gathered.schema_frame,
        expected_columns=expected_columns(spec),
        reference_dtypes=schema.column_kinds(gathered.reference_frame),
        source_columns=gathered.source_columns,
    )


def _data_quality(spec: MonitorSpec, gathered: Gathered) -> list[MetricRecord]:
    return profile_records(spec, gathered.reference_view, gathered.view)


def _drift(spec: MonitorSpec, gathered: Gathered) -> list[MetricRecord]:
    return gathered.drift()


def _service(spec: MonitorSpec, gathered: Gathered) -> list[MetricRecord]:
    return gathered.service()


def quality_outcome(spec: MonitorSpec, gathered: Gathered) -> QualityOutcome:
    """Realised quality of the labelled rows and, for a classifier with probabilities, quality
    estimated on every row with the reference's calibration (cached by its content hash)."""
    frame = gathered.quality_frame()
    outcome = realised_quality(spec, frame)
    if not estimates_apply(spec):
        return outcome
    calibration = reference_calibration(
        spec,
        gathered.reference_quality,
        gathered.reference.path.parent,
        gathered.reference.content_hash,
    )
    return outcome.plus(estimated_quality(spec, frame, calibration))


STAGES: tuple[tuple[str, Callable[[MonitorSpec, Gathered], list[MetricRecord]]], ...] = (
    ("schema", _schema),
    ("data_quality", _data_quality),
    ("drift", _drift),
    ("service", _service),
    ("multivariate", multivariate_stage),
    ("confidence", confidence_stage),
)
"""The record-producing stages, in the order a run shows them; quality comes last, with its
counts (``quality_outcome``)."""


def run_stages(
    spec: MonitorSpec, gathered: Gathered, clock: Stopwatch, report_path: Path | None
) -> WindowEvaluation:
    """Every stage on what was gathered, then the HTML report (when asked and there are rows)."""
    records = [row_count_record(gathered.rows)]
    for name, stage in STAGES:
        records += clock.run(name, partial(stage, spec, gathered))
    quality = clock.run("quality", partial(quality_outcome, spec, gathered))
    records += quality.records
    info = None
    if report_path is not None and gathered.rows:
        info = clock.run("report", partial(write_report, spec, gathered, report_path))
    return WindowEvaluation(
        records, gathered.rows, gathered.profile_path, info.path if info else None,
        info.current_rows_used if info else None, gathered.reference, clock.timings,
        quality.counts, info.sample if info else None,
    )  # fmt: skip


def write_report(spec: MonitorSpec, gathered: Gathered, path: Path) -> reports.ReportInfo:
    """Evidently's page on ``report.sample_rows`` rows a side, stating the sides' whole counts."""
    return reports.write_drift_report(
        gathered.reference_frame, gathered.report_frame,
        numerical=spec.columns.numerical, categorical=spec.columns.categorical,
        path=path, sample_size=spec.report.sample_rows, seed=spec.drift.seed,
        options=evidently_options(spec), title=f"{spec.name} {path.stem}",
        window_rows=gathered.rows, reference_rows=gathered.reference.row_count,
    )  # fmt: skip


def numeric_only(spec: MonitorSpec) -> frozenset[str]:
    """Features profiled without frequent items: numerical, and neither categorical nor a
    segment (only those have their items read, by summaries and data-quality rules)."""
    columns = spec.columns
    return frozenset(columns.numerical) - {*columns.categorical, *columns.segments}


def artifact_label(label: str) -> str:
    """A window label as a file name: '2024-03-01 06:00' -> '2024-03-01T0600'."""
    return label.replace(" ", "T").replace(":", "")
