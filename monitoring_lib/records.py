"""The records every stage returns and the metric store keeps.

One vocabulary for the whole engine: profiling, data quality, drift and quality adapters all
return ``MetricRecord`` values, so the store, the policy and the dashboards never need to know
which library produced a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

DATASET = ""
"""The ``column`` (or ``segment``) key of a dataset-level metric: key columns are never NULL."""


class MetricStatus(StrEnum):
    """What a stored value means; a value is never stored without one."""

    OK = "ok"
    WARNING = "warning"
    DRIFT = "drift"
    FAILED = "failed"
    """A data-quality constraint or schema check did not hold."""
    SKIPPED = "skipped"
    """Not computed on purpose (e.g. ROC AUC with one class); ``details['reason']`` says why."""
    INSUFFICIENT_DATA = "insufficient_data"
    ERROR = "error"


class Metric(StrEnum):
    """Metric names as stored. Dotted prefixes group families for views and dashboards."""

    ROW_COUNT = "window.row_count"
    LABEL_COVERAGE = "labels.coverage"

    PROFILE_COUNT = "profile.count"
    PROFILE_NULL_FRACTION = "profile.null_fraction"
    PROFILE_MEAN = "profile.mean"
    PROFILE_STD = "profile.std"
    PROFILE_MIN = "profile.min"
    PROFILE_MAX = "profile.max"
    PROFILE_Q01 = "profile.q01"
    PROFILE_Q25 = "profile.q25"
    PROFILE_Q50 = "profile.q50"
    PROFILE_Q75 = "profile.q75"
    PROFILE_Q99 = "profile.q99"
    PROFILE_CARDINALITY = "profile.cardinality"
    PROFILE_FREQUENT_ITEMS = "profile.frequent_items"

    SCHEMA_MISSING_COLUMN = "schema.missing_column"
    SCHEMA_EXTRA_COLUMN = "schema.extra_column"
    SCHEMA_DTYPE_CHANGED = "schema.dtype_changed"
    DQ_NOT_NULL = "dq.not_null"
    DQ_RANGE = "dq.range"
    DQ_ALLOWED_CATEGORIES = "dq.allowed_categories"

    DRIFT_SCORE = "drift.score"
    DRIFT_SHARE = "drift.share"
    DRIFT_COUNT = "drift.count"
    PREDICTION_DRIFT = "prediction_drift.score"
    TARGET_DRIFT = "target_drift.score"

    ACCURACY = "quality.accuracy"
    PRECISION = "quality.precision"
    RECALL = "quality.recall"
    F1 = "quality.f1"
    ROC_AUC = "quality.roc_auc"
    LOG_LOSS = "quality.log_loss"
    RMSE = "quality.rmse"
    MAE = "quality.mae"
    MAPE = "quality.mape"
    R2 = "quality.r2"

    ESTIMATED_ACCURACY = "estimated.accuracy"
    """Quality estimated before labels arrive, from probabilities calibrated on the reference."""
    ESTIMATED_PRECISION = "estimated.precision"
    ESTIMATED_RECALL = "estimated.recall"
    ESTIMATED_F1 = "estimated.f1"
    ESTIMATED_ROC_AUC = "estimated.roc_auc"

    SERVICE_REQUESTS = "service.requests"
    """Service health (RED): requests, error share and latency percentiles (ms) of the window."""
    SERVICE_ERROR_SHARE = "service.error_share"
    SERVICE_LATENCY_P50 = "service.latency_p50"
    SERVICE_LATENCY_P95 = "service.latency_p95"
    SERVICE_LATENCY_P99 = "service.latency_p99"
    SLO_WINDOW_GOOD = "slo.window_good"
    """Per SLO (column = its name): the window's share of good events, good and total in details."""
    SLO_COMPLIANCE = "slo.compliance"
    """Per SLO: the share of good events over the SLO period up to this window."""
    SLO_BUDGET_REMAINING = "slo.budget_remaining"
    """Per SLO: the share of the period's error budget left (negative when overspent)."""
    SLO_BURN_RATE = "slo.burn_rate"
    """Per SLO: how fast the budget burns (1: exactly spent by the period's end); rules only."""
    MULTIVARIATE_ERROR = "multivariate.reconstruction_error"
    """Mean distance of the window's rows to the reference's principal subspace."""
    MULTIVARIATE_DRIFT = "multivariate.drift"
    """1 when the joint distribution of the features drifted, else 0."""
    LOW_CONFIDENCE_SHARE = "prediction.low_confidence_share"
    CLASS_SHARE = "prediction.class_share"
    """Per predicted class (the column key), its share of the window's predictions."""
    CLASS_SHIFT = "prediction.class_shift"
    """Jensen-Shannon distance of the predicted class distribution from the reference's."""
    MEAN_PROBABILITY = "prediction.mean_probability"
    DRIFT_IMPACT = "drift.impact"
    """Per drifted column: Spearman correlation of its drift with quality loss over history."""


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """One value for one (metric, column, segment) of a window.

    ``column`` and ``segment`` are ``''`` at dataset level; a segment is ``'name=value'``.
    A NaN or infinite value is stored as ``None`` and must then carry a non-OK status.
    """

    metric: str
    value: float | None
    status: MetricStatus = MetricStatus.OK
    column: str = DATASET
    segment: str = DATASET
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            object.__setattr__(self, "value", None)
            if self.status is MetricStatus.OK:
                object.__setattr__(self, "status", MetricStatus.ERROR)
                reason = self.details.get("reason", "value was not a finite number")
                object.__setattr__(self, "details", {**self.details, "reason": reason})
        if self.value is None and self.status is MetricStatus.OK:
            raise ValueError(
                f"metric {self.metric!r} column {self.column!r}: a missing value needs a status "
                "other than 'ok' and a reason"
            )

    @property
    def key(self) -> tuple[str, str, str]:
        """The part of the store's natural key a window's records must not repeat."""
        return (self.metric, self.column, self.segment)


def segment_key(column: str, value: object) -> str:
    """The ``segment`` key of one segment value, stable across runs."""
    return f"{column}={value}"


HIGHER_IS_BETTER = frozenset(
    {Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1, Metric.ROC_AUC, Metric.R2}
)
LOWER_IS_BETTER = frozenset({Metric.LOG_LOSS, Metric.RMSE, Metric.MAE, Metric.MAPE})
_CLASSIFICATION = (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1, Metric.ROC_AUC,
                   Metric.LOG_LOSS)  # fmt: skip
TASK_METRICS: dict[str, tuple[str, ...]] = {  # the quality metrics each task stores
    "binary": _CLASSIFICATION,
    "multiclass": _CLASSIFICATION,
    "regression": (Metric.RMSE, Metric.MAE, Metric.MAPE, Metric.R2),
}


def metric_direction(metric: str) -> Literal["higher", "lower"] | None:
    """Which way is better for a gate metric; None for a metric the gate cannot compare."""
    if metric in HIGHER_IS_BETTER:
        return "higher"
    return "lower" if metric in LOWER_IS_BETTER else None
