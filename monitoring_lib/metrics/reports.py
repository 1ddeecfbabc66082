"""Evidently's HTML drift report, drawn from bounded uniform samples of the window.

Evidently needs minutes and gigabytes on million-row windows, and at 100k x 50 its report on
50k-row samples took three times the rest of a run; the stored verdicts come from
:mod:`monitoring_lib.drift` on every row, the report is only for people, and a seeded sample of a
few thousand rows a side (``report.sample_rows``) draws the same picture. The page says how many
rows of how many it shows (``ReportSample``). Evidently is configured with the spec's methods,
thresholds and drift share where its API takes them (``EvidentlyOptions``), and the page says
driftwise's own verdict at the top (``report_page.set_verdict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from monitoring_lib.metrics.report_page import save_report
from monitoring_lib.pages.verdict import ReportSample

DEFAULT_SAMPLE_ROWS = 5_000


@dataclass(frozen=True)
class ReportInfo:
    """Where the report went and how many rows of each side it saw."""

    path: Path
    reference_rows_used: int
    current_rows_used: int
    sample: ReportSample


class DriftPanels(DataDriftPreset):  # type: ignore[misc]
    """``DataDriftPreset`` as its page shows it: evidently 0.7's preset also runs a ``ValueDrift``
    metric per column (a drift test and a plotly figure each, half of a 5,000-row report's time)
    whose results its own ``render`` never shows: the page is the dataset verdict and the drift
    table, computed by ``render``. Without those metrics the page's widgets are the same
    (``tests/unit/test_reports.py``)."""

    def generate_metrics(self, context: Any) -> list[Any]:
        return []


@dataclass(frozen=True)
class EvidentlyOptions:
    """What Evidently's DataDriftPreset takes from the spec (None: Evidently's own default)."""

    drift_share: float = 0.5
    method: str | None = None
    threshold: float | None = None
    per_column_method: Mapping[str, str] = field(default_factory=dict)
    per_column_threshold: Mapping[str, float] = field(default_factory=dict)

    def preset(self, columns: list[str], page_only: bool = True) -> DataDriftPreset:
        """The preset; ``page_only``: without the metrics its page does not show."""
        methods = {c: m for c, m in self.per_column_method.items() if c in columns}
        thresholds = {c: t for c, t in self.per_column_threshold.items() if c in columns}
        return (DriftPanels if page_only else DataDriftPreset)(
            columns=columns,
            drift_share=self.drift_share,
            method=self.method,
            threshold=self.threshold,
            per_column_method=methods or None,
            per_column_threshold=thresholds or None,
        )


def uniform_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows drawn uniformly without replacement (all rows if fewer)."""
    if len(frame) <= size:
        return frame
    return frame.sample(n=size, random_state=seed)


def write_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    path: Path | str,
    sample_size: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    options: EvidentlyOptions | None = None,
    title: str = "Drift report",
    window_rows: int | None = None,
    reference_rows: int | None = None,
) -> ReportInfo:
    """Write Evidently's DataDriftPreset page for samples of ``reference`` and ``current``.

    ``window_rows`` and ``reference_rows`` are the sides' whole row counts when the frames are
    already samples (a window read in chunks); the page states them. Raises ValueError for empty
    inputs: Evidently cannot draw a report without rows.
    """
    if reference.empty or current.empty:
        raise ValueError("a drift report needs rows in both the reference and the current window")
    columns = [*numerical, *categorical]
    ref_sample = uniform_sample(reference[columns], sample_size, seed)
    cur_sample = uniform_sample(current[columns], sample_size, seed + 1)
    definition = DataDefinition(
        numerical_columns=list(numerical), categorical_columns=list(categorical)
    )
    preset = (options or EvidentlyOptions()).preset(columns)
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur_sample, data_definition=definition),
        Dataset.from_pandas(ref_sample, data_definition=definition),
    )
    sample = ReportSample(
        window_used=len(cur_sample),
        window_rows=max(window_rows or 0, len(current)),
        reference_used=len(ref_sample),
        reference_rows=max(reference_rows or 0, len(reference)),
    )
    target = save_report(snapshot, Path(path), title, sample.sentence())
    return ReportInfo(target, len(ref_sample), len(cur_sample), sample)
