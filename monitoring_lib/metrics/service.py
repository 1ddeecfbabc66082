"""Service health (RED) of one window: requests, error share, latency percentiles, and the good
and total events of each SLO, from the log's latency and status columns.

Counts are exact and mergeable (a window read in chunks adds them up chunk by chunk); latency
percentiles are exact when the window is in memory and read from the window profile's KLL sketch
(whylogs, the profile the run stores anyway) when it is streamed, with ``details.exact`` saying
which. A row without a status is not counted for errors; a row without a latency not for
latency.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring_lib.metrics.profiling import DatasetProfileView
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.columns import ColumnsSpec
from monitoring_lib.spec.service import ErrorSpec, ServiceSpec, SloSpec

PERCENTILES = ((Metric.SERVICE_LATENCY_P50, 0.50), (Metric.SERVICE_LATENCY_P95, 0.95),
               (Metric.SERVICE_LATENCY_P99, 0.99))  # fmt: skip


def error_flags(status: pd.Series, errors: ErrorSpec) -> tuple[np.ndarray, np.ndarray]:
    """(known, error) per row: whether the row has a status, and whether it is an error."""
    known = status.notna().to_numpy()
    if errors.at_least is not None:
        codes = pd.to_numeric(status, errors="coerce")
        return known, (codes >= errors.at_least).to_numpy()
    texts = {str(value).lower() for value in errors.values}
    as_text = status.astype("string").str.lower().isin(texts).fillna(False)
    return known, (status.isin(errors.values).fillna(False) | as_text).to_numpy(dtype=bool)


@dataclass
class ServiceCounts:
    """A window's service counts, added up chunk by chunk."""

    status_rows: int = 0
    errors: int = 0
    latency_rows: int = 0
    faster: dict[float, int] = field(default_factory=dict)
    """Per latency bound of the SLOs (ms): rows strictly faster."""

    def add(self, chunk: pd.DataFrame, columns: ColumnsSpec, service: ServiceSpec) -> None:
        """Count one chunk (the columns it lacks are counted from the chunks that have them)."""
        if columns.status and columns.status in chunk.columns:
            known, error = error_flags(chunk[columns.status], service.errors)
            self.status_rows += int(known.sum())
            self.errors += int((known & error).sum())
        if columns.latency and columns.latency in chunk.columns:
            latency = pd.to_numeric(chunk[columns.latency], errors="coerce").to_numpy(float)
            latency = latency[np.isfinite(latency)]
            self.latency_rows += len(latency)
            for bound in latency_bounds(service):
                self.faster[bound] = self.faster.get(bound, 0) + int((latency < bound).sum())

    def tap(
        self, chunks: Iterable[pd.DataFrame], columns: ColumnsSpec, service: ServiceSpec
    ) -> Iterator[pd.DataFrame]:
        """Pass chunks on unchanged, counting each on the way (one read serves both)."""
        for chunk in chunks:
            self.add(chunk, columns, service)
            yield chunk

    def merge(self, other: ServiceCounts) -> None:
        """Add the counts of other rows (another part of the window)."""
        self.status_rows += other.status_rows
        self.errors += other.errors
        self.latency_rows += other.latency_rows
        for bound, rows in other.faster.items():
            self.faster[bound] = self.faster.get(bound, 0) + rows

    def good_and_total(self, slo: SloSpec) -> tuple[int, int]:
        if slo.latency_below_ms is not None:
            return self.faster.get(slo.latency_below_ms, 0), self.latency_rows
        return self.status_rows - self.errors, self.status_rows


def latency_bounds(service: ServiceSpec) -> list[float]:
    return sorted({s.latency_below_ms for s in service.slos if s.latency_below_ms is not None})


def applies(columns: ColumnsSpec) -> bool:
    return bool(columns.service_columns)


def exact_percentiles(latency: pd.Series) -> dict[str, float]:
    values = pd.to_numeric(latency, errors="coerce").to_numpy(float)
    values = values[np.isfinite(values)]
    if not len(values):
        return {}
    return {str(m): float(np.quantile(values, q)) for m, q in PERCENTILES}


def sketched_percentiles(view: DatasetProfileView, column: str) -> dict[str, float]:
    """Latency percentiles from the window profile's KLL sketch (mergeable, approximate)."""
    profile = view.get_column(column)
    dist = profile.get_metric("distribution") if profile is not None else None
    if dist is None or dist.n == 0:
        return {}
    return {str(m): float(dist.get_quantile(q)) for m, q in PERCENTILES}


def service_records(
    rows: int,
    counts: ServiceCounts,
    percentiles: Mapping[str, float],
    columns: ColumnsSpec,
    service: ServiceSpec,
    *,
    exact: bool,
) -> list[MetricRecord]:
    """The window's RED metrics and each SLO's good share (good and total in details)."""
    if not applies(columns):
        return []
    records = [MetricRecord(Metric.SERVICE_REQUESTS, float(rows))]
    if columns.status:
        records.append(_share(Metric.SERVICE_ERROR_SHARE, counts.errors, counts.status_rows))
    if columns.latency:
        details = {"exact": exact, "rows": counts.latency_rows, "unit": "ms"}
        for metric, _ in PERCENTILES:
            value = percentiles.get(str(metric))
            if value is None:
                reason = "no row of the window has a latency"
                records.append(_lacking(metric, reason, **details))
            else:
                records.append(MetricRecord(metric, value, details=details))
    for slo in service.slos:
        good, total = counts.good_and_total(slo)
        record = _share(Metric.SLO_WINDOW_GOOD, good, total, objective=slo.objective, kind=slo.kind)
        records.append(_on_column(record, slo.name))
    return records


def _share(metric: str, part: int, total: int, **details: object) -> MetricRecord:
    counted = {"count": part, "total": total, **details}
    if total == 0:
        return _lacking(metric, "no row of the window counts towards it", **counted)
    return MetricRecord(metric, part / total, details=counted)


def _lacking(metric: str, reason: str, **details: object) -> MetricRecord:
    return MetricRecord(
        metric, None, MetricStatus.INSUFFICIENT_DATA, details={**details, "reason": reason}
    )


def _on_column(record: MetricRecord, column: str) -> MetricRecord:
    return MetricRecord(record.metric, record.value, record.status, column, details=record.details)


def service_of_frame(
    frame: pd.DataFrame, columns: ColumnsSpec, service: ServiceSpec
) -> list[MetricRecord]:
    """A window in memory: exact counts and percentiles."""
    if not applies(columns):
        return []
    counts = ServiceCounts()
    counts.add(frame, columns, service)
    latency = columns.latency
    percentiles = exact_percentiles(frame[latency]) if latency and latency in frame else {}
    return service_records(len(frame), counts, percentiles, columns, service, exact=True)
