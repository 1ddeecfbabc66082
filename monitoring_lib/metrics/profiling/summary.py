"""A whylogs profile read back as metric records: counts, nulls, moments, quantiles, cardinality
and frequent items per column, each with a status and, when it has no value, the reason."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from monitoring_lib.metrics.profiling.whylogs_api import (
    ColumnProfileView,
    DatasetProfileView,
    FrequentItem,
    FrequentItemsErrorType,
    SummaryConfig,
)
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus


def frequent_items_of(column: ColumnProfileView) -> tuple[list[FrequentItem], bool]:
    """A column's frequent items, most frequent first, and whether the list is exact.

    Exact means every distinct value is listed with its true count: the sketch holds up to 768
    distinct values (``fi_lg_max_k=10``) before it starts estimating and dropping rare ones.
    """
    metric = column.get_metric("frequent_items")
    if metric is None or metric.frequent_strings.value.is_empty():
        return [], True
    no_false_negatives = SummaryConfig(
        frequent_items_error_type=FrequentItemsErrorType.NO_FALSE_NEGATIVES
    )
    candidates = metric.to_summary_dict(no_false_negatives)["frequent_strings"]
    exact = all(item.lower == item.upper for item in candidates)
    if exact:
        return list(candidates), True
    return list(metric.to_summary_dict(SummaryConfig())["frequent_strings"]), False


@dataclass(frozen=True, slots=True)
class _Recorder:
    """Builds one column's records, so each call site states only the metric and the value."""

    column: str
    segment: str

    def __call__(
        self,
        metric: Metric,
        value: float | None,
        status: MetricStatus = MetricStatus.OK,
        **details: Any,
    ) -> MetricRecord:
        number = None if value is None else float(value)
        return MetricRecord(metric, number, status, self.column, self.segment, details)

    def lacking(self, metric: Metric, reason: str) -> MetricRecord:
        return self(metric, None, MetricStatus.INSUFFICIENT_DATA, reason=reason)


def _no_values_reason(column: ColumnProfileView, sketched: str) -> str:
    counts = column.get_metric("counts")
    if counts.n.value == 0:
        return "the window has no rows"
    if counts.null.value == counts.n.value:
        return "every value is missing"
    return f"no value is {sketched}"


def _count_records(
    column: ColumnProfileView, rec: _Recorder, numerical: bool
) -> list[MetricRecord]:
    counts, types = column.get_metric("counts"), column.get_metric("types")
    n, null = int(counts.n.value), int(counts.null.value)
    non_numeric = int(types.string.value + types.object.value + types.tensor.value)
    if numerical and non_numeric:
        reason = f"{non_numeric} of {n} values are not numbers; numeric statistics ignore them"
        count = rec(
            Metric.PROFILE_COUNT,
            n,
            MetricStatus.WARNING,
            null=null,
            non_numeric=non_numeric,
            reason=reason,
        )
    else:
        count = rec(Metric.PROFILE_COUNT, n, null=null)
    if n == 0:
        return [count, rec.lacking(Metric.PROFILE_NULL_FRACTION, "the window has no rows")]
    return [count, rec(Metric.PROFILE_NULL_FRACTION, null / n, null=null, n=n)]


def _numeric_records(column: ColumnProfileView, rec: _Recorder) -> list[MetricRecord]:
    dist = column.get_metric("distribution")
    if dist is None or dist.n == 0:
        reason = _no_values_reason(column, "a number")
        return [rec.lacking(metric, reason) for metric in _NUMERIC_METRICS]
    n, exact = int(dist.n), not dist.kll.value.is_estimation_mode()
    if n < 2:
        std = rec.lacking(Metric.PROFILE_STD, "one value has no spread")
    else:
        std = rec(Metric.PROFILE_STD, dist.stddev, n=n)
    records = [rec(Metric.PROFILE_MEAN, dist.avg, n=n), std]
    records += [rec(Metric.PROFILE_MIN, dist.min), rec(Metric.PROFILE_MAX, dist.max)]
    records += [rec(metric, dist.get_quantile(q), exact=exact) for metric, q in _QUANTILES]
    return records


def _cardinality_record(column: ColumnProfileView, rec: _Recorder) -> MetricRecord:
    hll = column.get_metric("cardinality")
    if hll is None or hll.estimate is None:
        reason = _no_values_reason(column, "a number, string or boolean")
        return rec.lacking(Metric.PROFILE_CARDINALITY, reason)
    return rec(Metric.PROFILE_CARDINALITY, hll.estimate, lower=hll.lower_1, upper=hll.upper_1)


def _frequent_items_record(column: ColumnProfileView, rec: _Recorder, top: int) -> MetricRecord:
    items, exact = frequent_items_of(column)
    if not items and exact:
        reason = _no_values_reason(column, "a number, string or boolean")
        return rec.lacking(Metric.PROFILE_FREQUENT_ITEMS, reason)
    listed = [
        {"value": i.value, "estimate": i.est, "lower": i.lower, "upper": i.upper} for i in items
    ]
    return rec(Metric.PROFILE_FREQUENT_ITEMS, len(items), items=listed[:top], exact=exact)


def summary_records(
    view: DatasetProfileView,
    *,
    numerical: Collection[str],
    categorical: Collection[str],
    segment: str = DATASET,
    top_items: int = 10,
) -> list[MetricRecord]:
    """Per-column summary metrics read from a profile by metric name.

    A listed column the profile lacks gets SKIPPED records (the schema check says why); a column
    without values gets INSUFFICIENT_DATA with a reason, never a NaN.
    """
    records: list[MetricRecord] = []
    for name in dict.fromkeys([*numerical, *categorical]):
        rec, column = _Recorder(name, segment), view.get_column(name)
        if column is None:
            metrics = [*_COMMON_METRICS, *(_NUMERIC_METRICS if name in numerical else ())]
            metrics += [Metric.PROFILE_FREQUENT_ITEMS] if name in categorical else []
            reason = "the column is not in the profile"
            records += [rec(m, None, MetricStatus.SKIPPED, reason=reason) for m in metrics]
            continue
        records += _count_records(column, rec, name in numerical)
        records.append(_cardinality_record(column, rec))
        records += _numeric_records(column, rec) if name in numerical else []
        records += [_frequent_items_record(column, rec, top_items)] if name in categorical else []
    return records


_QUANTILES = (
    (Metric.PROFILE_Q01, 0.01),
    (Metric.PROFILE_Q25, 0.25),
    (Metric.PROFILE_Q50, 0.50),
    (Metric.PROFILE_Q75, 0.75),
    (Metric.PROFILE_Q99, 0.99),
)


_NUMERIC_METRICS = (
    Metric.PROFILE_MEAN,
    Metric.PROFILE_STD,
    Metric.PROFILE_MIN,
    Metric.PROFILE_MAX,
    *(metric for metric, _ in _QUANTILES),
)


_COMMON_METRICS = (Metric.PROFILE_COUNT, Metric.PROFILE_NULL_FRACTION, Metric.PROFILE_CARDINALITY)
