"""Which drift matters: for each column drifted in a window, how strongly its drift moved with
the model's quality loss over the stored history.

The measure is Spearman's rank correlation, over the stored windows that have both, of the
column's drift effect size (normed Wasserstein or Jensen-Shannon distance, comparable whatever
test scored the column) and the quality metric oriented as a loss (negated when higher is
better). A column whose drift came with lower quality before ranks high; one that drifts on
its own without hurting the model ranks low. Ranks, not values, so one extreme day does not
decide it; below ``impact.min_windows`` windows the record says there is not enough history.
It is a correlation over past windows, not a proof of cause: a column that drifts together with
the one that hurts scores as high.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitoring_lib.records import (
    DATASET,
    HIGHER_IS_BETTER,
    Metric,
    MetricRecord,
    MetricStatus,
)
from monitoring_lib.spec.base import Task
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.models import MetricRow
from monitoring_lib.store.repository import model_id

SIGNIFICANT = 0.05
"""p-value of a positive correlation below which a column's record is a warning."""


def impact_metric(spec: MonitorSpec) -> str:
    """The quality metric drift is correlated with."""
    if spec.impact.metric:
        return spec.impact.metric
    return Metric.RMSE if spec.task is Task.REGRESSION else Metric.ACCURACY


def drifted_columns(records: Sequence[MetricRecord]) -> list[str]:
    return sorted(
        r.column
        for r in records
        if r.metric == Metric.DRIFT_SCORE
        and r.segment == DATASET
        and r.status is MetricStatus.DRIFT
    )


def _effect(details: Mapping[str, object] | None) -> float | None:
    value = (details or {}).get("effect_size")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def impact_record(
    column: str, effects: Sequence[float], losses: Sequence[float], metric: str, min_windows: int
) -> MetricRecord:
    """One column's record from aligned per-window drift effects and quality losses."""
    details: dict[str, object] = {"quality_metric": metric, "windows": len(effects),
                                  "method": "spearman", "min_windows": min_windows}  # fmt: skip
    if len(effects) < min_windows:
        details["reason"] = (
            f"not enough history: {len(effects)} windows with both a drift score of {column!r} "
            f"and {metric}; {min_windows} needed"
        )
        return MetricRecord(
            Metric.DRIFT_IMPACT, None, MetricStatus.INSUFFICIENT_DATA, column, details=details
        )
    if np.ptp(effects) == 0 or np.ptp(losses) == 0:
        details["reason"] = f"the drift of {column!r} or {metric} did not vary over the history"
        return MetricRecord(
            Metric.DRIFT_IMPACT, None, MetricStatus.SKIPPED, column, details=details
        )
    rho, p_value = stats.spearmanr(effects, losses)
    rho, p_two = float(rho), float(p_value)
    p_positive = p_two / 2 if rho > 0 else 1 - p_two / 2
    details["p_value"] = p_positive
    status = MetricStatus.WARNING if p_positive <= SIGNIFICANT else MetricStatus.OK
    return MetricRecord(Metric.DRIFT_IMPACT, rho, status, column, details=details)


def _history(
    session: Session, model: int, metrics: Sequence[str], columns: Sequence[str],
    before: datetime, lookback: int,
) -> list[MetricRow]:  # fmt: skip
    starts = (
        select(MetricRow.window_start)
        .where(MetricRow.model_id == model, MetricRow.metric == Metric.DRIFT_SHARE,
               MetricRow.segment == DATASET, MetricRow.window_start < before)
        .order_by(MetricRow.window_start.desc())
        .limit(lookback)
    )  # fmt: skip
    query = select(MetricRow).where(
        MetricRow.model_id == model,
        MetricRow.segment == DATASET,
        MetricRow.metric.in_(metrics),
        MetricRow.column_name.in_([*columns, DATASET]),
        MetricRow.window_start.in_(starts.scalar_subquery()),
    )
    return list(session.scalars(query))


def impact_records(
    session: Session, spec: MonitorSpec, window_start: datetime, records: Sequence[MetricRecord]
) -> list[MetricRecord]:
    """``drift.impact`` of each column drifted in the window, from the stored windows before it
    and this window's own values."""
    columns = drifted_columns(records)
    if not columns:
        return []
    metric = impact_metric(spec)
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    effects: dict[str, dict[datetime, float]] = {c: {} for c in columns}
    losses: dict[datetime, float] = {}
    model = model_id(session, spec.name)
    rows = [] if model is None else _history(
        session, model, [Metric.DRIFT_SCORE, metric], columns, window_start,
        spec.impact.lookback_windows - 1,
    )  # fmt: skip
    current = [(window_start, r.metric, r.column, r.value, r.status, r.details) for r in records
               if r.segment == DATASET]  # fmt: skip
    stored = [(r.window_start, r.metric, r.column_name, r.value, MetricStatus(r.status), r.details)
              for r in rows]  # fmt: skip
    for start, name, column, value, status, details in [*stored, *current]:
        if name == metric and column == DATASET and status is MetricStatus.OK and value is not None:
            losses[start] = sign * value
        elif name == Metric.DRIFT_SCORE and column in effects:
            effect = _effect(details)
            if effect is not None:
                effects[column][start] = effect
    out = []
    for column in columns:
        common = sorted(set(effects[column]) & set(losses))
        out.append(
            impact_record(
                column, [effects[column][s] for s in common], [losses[s] for s in common],
                metric, spec.impact.min_windows,
            )
        )  # fmt: skip
    return out


def ranked_by_impact(records: Sequence[MetricRecord]) -> list[MetricRecord]:
    """Impact records, strongest correlation with quality loss first; no value last."""
    found = [r for r in records if r.metric == Metric.DRIFT_IMPACT and r.segment == DATASET]
    return sorted(found, key=lambda r: (r.value is None, -(r.value or 0.0), r.column))
