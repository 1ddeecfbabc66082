"""One window in, records and artifacts out: the stages a monitor run shows, in order.

Each stage is a call into its adapter (profiling, data_quality, drift, quality, reports); this
module only decides what each gets, times it, and names the artifacts. It writes files under the
artifact folder but nothing to the store: persisting is one transaction, done by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd

from monitoring_lib import data_quality, drift, profiling, quality, reports
from monitoring_lib.artifacts import model_folder
from monitoring_lib.loading import WindowData, prediction_columns
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec import MonitorSpec, Task

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
    spec: MonitorSpec, reference: profiling.DatasetProfileView, view: profiling.DatasetProfileView
) -> list[MetricRecord]:
    """The window profile's summary metrics and its checks against constraints learnt from the
    reference profile: both need profiles only, however the window was read."""
    columns = spec.columns
    constraints = data_quality.derive_constraints(
        reference, numerical=columns.numerical, categorical=columns.categorical
    )
    summary = profiling.summary_records(
        view, numerical=columns.numerical, categorical=columns.categorical
    )
    return summary + data_quality.check_constraints(view, constraints)


def quality_records(spec: MonitorSpec, frame: pd.DataFrame) -> list[MetricRecord]:
    columns = spec.columns
    if columns.target is None or columns.prediction is None:
        return []
    probability = columns.probability if spec.task is not Task.REGRESSION else None
    return quality.compute_quality(
        frame,
        task=spec.task.value,
        target=columns.target,
        prediction=columns.prediction,
        probability=probability,
    )


def evaluate_window(
    spec: MonitorSpec,
    data: WindowData,
    reference: pd.DataFrame,
    *,
    artifacts: Path,
    write_report: bool = True,
    profile_workers: int = 1,
) -> WindowEvaluation:
    """Profile, check, measure drift and quality of one window against the reference.

    ``profile_workers`` processes may profile a large window (``DriftwiseSettings``).
    """
    clock = Stopwatch()
    columns = spec.columns
    folder = model_folder(artifacts, spec.name)
    frame, label = data.frame, data.window.label.replace(" ", "T").replace(":", "")
    settings = spec.drift

    digest = clock.run("reference_hash", lambda: profiling.content_hash_of_frame(reference))
    ref_view, ref_path = clock.run(
        "reference_profile",
        lambda: profiling.cached_reference_view(
            reference, folder / "reference", content_hash=digest, workers=profile_workers
        ),
    )
    reference_info = ReferenceProfileInfo(digest, ref_path, len(reference))
    records = [row_count_record(len(frame))]
    with clock.stage("schema"):
        records += data_quality.check_schema(
            frame,
            expected_columns=expected_columns(spec),
            reference_dtypes=data_quality.column_kinds(reference),
        )
    view = clock.run("profile", lambda: profiling.profile_frame(frame, workers=profile_workers))
    profile_path = profiling.write_view(view, folder / "profiles" / f"{label}.bin")
    records += clock.run("data_quality", lambda: profile_records(spec, ref_view, view))
    with clock.stage("drift"):
        records += drift.compute_drift(
            reference,
            frame,
            numerical=columns.numerical,
            categorical=columns.categorical,
            prediction=prediction_drift_column(spec),
            target=columns.target,
            segments=columns.segments,
            settings=settings,
        )
    records += clock.run("quality", lambda: quality_records(spec, frame))
    report_path, report_rows = None, None
    if write_report and len(frame):
        info = clock.run(
            "report",
            lambda: _report(spec, reference, frame, folder / "reports" / f"{label}.html", settings),
        )
        report_path, report_rows = info.path, info.current_rows_used
    return WindowEvaluation(
        records, len(frame), profile_path, report_path, report_rows, reference_info, clock.timings
    )


def _report(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    frame: pd.DataFrame,
    path: Path,
    settings: drift.DriftSettings,
) -> reports.ReportInfo:
    return reports.write_drift_report(
        reference,
        frame,
        numerical=spec.columns.numerical,
        categorical=spec.columns.categorical,
        path=path,
        sample_size=settings.report_sample_size,
        seed=settings.seed,
    )
