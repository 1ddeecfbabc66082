"""The window's HTML report: Evidently configured from the spec, and driftwise's verdict on top."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from monitoring_lib.metrics.report_page import set_verdict
from monitoring_lib.metrics.reports import EvidentlyOptions
from monitoring_lib.pages.verdict import ReportSample, Verdict, banner
from monitoring_lib.pipeline.summary import WindowSummary
from monitoring_lib.records import Metric
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.policy import AbsoluteThreshold, Direction


def evidently_drift_share(spec: MonitorSpec) -> float:
    """The share at which Evidently calls the dataset drifted: the spec's ``drift.drift_share``,
    or a lower fixed threshold of a rule on ``drift.share``, so Evidently's dataset verdict
    flags the days the policy does."""
    shares = [spec.drift.drift_share]
    for rule in spec.policy.rules:
        threshold = rule.threshold
        if (
            rule.metric == Metric.DRIFT_SHARE
            and not rule.segment
            and rule.direction is Direction.ABOVE
            and isinstance(threshold, AbsoluteThreshold)
            and 0 < threshold.value <= 1
        ):
            shares.append(threshold.value)
    return min(shares)


def evidently_options(spec: MonitorSpec) -> EvidentlyOptions:
    """The spec's methods and thresholds, which Evidently's preset takes per column."""
    drift = spec.drift
    return EvidentlyOptions(
        drift_share=evidently_drift_share(spec),
        method=None if drift.method == "auto" else drift.method,
        threshold=drift.threshold,
        per_column_method={c: o.method for c, o in drift.per_column.items() if o.method},
        per_column_threshold={
            c: o.threshold for c, o in drift.per_column.items() if o.threshold is not None
        },
    )


def add_verdict(
    path: Path,
    spec: MonitorSpec,
    summary: WindowSummary,
    links: Sequence[tuple[str, str]] = (),
    sample: ReportSample | None = None,
) -> bool:
    """Put driftwise's status, drift share and the rules that fired at the top of the report,
    and how many rows of how many its panels show."""
    verdict = Verdict(
        model=summary.model,
        window=summary.window,
        status=summary.status,
        decision=summary.decision,
        drift_share=summary.drift_share,
        drifted_columns=summary.drifted_columns,
        reasons=summary.reasons,
        failed_checks=summary.failed_checks,
        drift_mode=spec.drift.mode,
        evidently_drift_share=evidently_drift_share(spec),
        sample=sample,
        links=links,
    )
    return set_verdict(path, banner(verdict))
