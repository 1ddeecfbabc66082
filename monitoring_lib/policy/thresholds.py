"""What a rule compares a value with: a threshold computed for the window (absolute, from the
champion's baseline, or learned from the metric's history), and how many recent windows breached
it. Every threshold comes with the words that explain it, for alerts and replays."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitoring_lib.durations import format_duration
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.policy import Direction, MetricKey, Rule
from monitoring_lib.spec.thresholds import (
    AbsoluteThreshold,
    AnyThreshold,
    BaselineThreshold,
    BurnRateThreshold,
    CusumThreshold,
    LearnedThreshold,
    VolumeThreshold,
)

PooledKey = tuple[MetricKey, timedelta]
"""A pooled value's key: the metric's key and the span pooled."""


@dataclass(frozen=True)
class Level:
    """A computed threshold (value None when it cannot be computed) and how it was reached."""

    value: float | None
    text: str


def shown_number(value: float) -> str:
    return f"{value:.4g}"


def shown_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def subject(rule: Rule) -> str:
    parts = [f"column {rule.column!r}" if rule.column else "", rule.segment]
    where = ", ".join(p for p in parts if p)
    return f"{rule.metric} ({where})" if where else rule.metric


def usable_value(record: MetricRecord | None) -> tuple[float | None, str]:
    """The value a rule may judge, or None and why there is none."""
    if record is None:
        return None, "was not computed in this window"
    if record.metric in ALWAYS_MEASURED and record.value is not None:
        return record.value, ""
    if record.value is None or record.status in NO_DATA:
        why = record.details.get("reason")
        return None, f"has no usable value ({record.status}{': ' + str(why) if why else ''})"
    return record.value, ""


def threshold_level(
    spec: AnyThreshold,
    rule: Rule,
    earlier: Sequence[WindowMetrics],
    baseline: Mapping[str, float],
    at: datetime | None = None,
) -> Level:
    """The threshold ``spec`` gives for the window starting ``at``, preceded by ``earlier``
    (oldest first); a seasonal learned threshold needs ``at`` to know the window's slot."""
    if isinstance(spec, AbsoluteThreshold):
        return Level(spec.value, shown_number(spec.value))
    if isinstance(spec, BaselineThreshold):
        return _relative(spec, rule, baseline)
    if isinstance(spec, CusumThreshold):
        return Level(None, "a CUSUM has no threshold of its own per window")
    if isinstance(spec, BurnRateThreshold):
        spans = f"{format_duration(spec.long)} and {format_duration(spec.short)}"
        return Level(spec.factor, f"{shown_number(spec.factor)} over both {spans}")
    if isinstance(spec, VolumeThreshold):
        return _volume(spec, rule, earlier)
    if spec.seasonal and at is not None:
        earlier = same_slot(spec.seasonal, at, earlier)
    return _learned(spec, rule, earlier)


WEEK_HOURS = 168


def same_slot(seasonal: str, at: datetime, earlier: Sequence[WindowMetrics]) -> list[WindowMetrics]:
    """The windows of ``earlier`` in the same slot of the week as the one starting ``at``.

    Slots are told apart by elapsed time, so no time zone is needed: ``weekday`` keeps windows a
    whole number of weeks back with days rounded (a 23 h or 25 h DST day keeps local weekdays
    together); ``hour_of_week`` keeps those 168 h x n back, rounded to the hour (across a DST
    change the same local hour is one elapsed hour off, so it compares with the hour beside).
    """
    unit, period = (
        (timedelta(days=1), 7) if seasonal == "weekday" else (timedelta(hours=1), WEEK_HOURS)
    )
    kept = []
    for window in earlier:
        steps = round((at - window.window_start) / unit)
        if steps > 0 and steps % period == 0:
            kept.append(window)
    return kept


def baseline_name(metric: str) -> str:
    """The champion's entry a metric compares with: ``quality.accuracy`` for
    ``estimated.accuracy`` too (the champion's baseline is realised quality)."""
    prefix = "estimated."
    return f"quality.{metric.removeprefix(prefix)}" if metric.startswith(prefix) else metric


def _relative(spec: BaselineThreshold, rule: Rule, baseline: Mapping[str, float]) -> Level:
    name = spec.baseline_metric or baseline_name(rule.metric)
    base = baseline.get(name)
    if base is None or not math.isfinite(base):
        return Level(None, f"no champion baseline for {name}")
    if spec.delta is not None:
        sign = "+" if spec.delta >= 0 else "-"
        value, how = base + spec.delta, f"{sign} {shown_number(abs(spec.delta))}"
    else:
        ratio = spec.ratio if spec.ratio is not None else 1.0
        value, how = base * ratio, f"x {shown_number(ratio)}"
    return Level(value, f"{shown_number(value)} (champion's {shown_number(base)} {how})")


def _learned(spec: LearnedThreshold, rule: Rule, earlier: Sequence[WindowMetrics]) -> Level:
    recent = (usable_value(w.record_for(rule))[0] for w in earlier[-spec.window :])
    values = [v for v in recent if v is not None]
    if len(values) < spec.needed:
        which = f"same-{spec.seasonal.replace('_', '-')} windows" if spec.seasonal else "windows"
        return Level(
            None,
            f"too little history to learn a threshold: {len(values)} of the last "
            f"{spec.window} {which} have a value, {spec.needed} needed",
        )
    mean, spread = statistics.fmean(values), max(statistics.stdev(values), spec.min_std)
    above = rule.direction is Direction.ABOVE
    value = mean + spec.k * spread if above else mean - spec.k * spread
    how = f"{'+' if above else '-'} {shown_number(spec.k)} std {shown_number(spread)}"
    which = f"same-{spec.seasonal.replace('_', '-')} windows" if spec.seasonal else "windows"
    return Level(
        value, f"{shown_number(value)} (mean {shown_number(mean)} {how} over {len(values)} {which})"
    )


def _volume(spec: VolumeThreshold, rule: Rule, earlier: Sequence[WindowMetrics]) -> Level:
    """A share of the median volume of the stored windows before this one, never below
    ``min_rows``; until enough windows are stored, ``min_rows`` alone (an empty window)."""
    recent = (usable_value(w.record_for(rule))[0] for w in earlier[-spec.window :])
    values = [v for v in recent if v is not None]
    floor = shown_number(spec.min_rows)
    if len(values) < spec.min_history:
        return Level(
            spec.min_rows,
            f"{floor} (no volume learned yet: {len(values)} of the last {spec.window} windows "
            f"stored, {spec.min_history} needed)",
        )
    volume = statistics.median(values)
    value = max(spec.min_rows, spec.fraction * volume)
    return Level(
        value,
        f"{shown_number(value)} ({shown_number(spec.fraction)} of the median volume "
        f"{shown_number(volume)} over {len(values)} windows, at least {floor})",
    )


def beyond(direction: Direction, value: float, threshold: float) -> bool:
    return value > threshold if direction is Direction.ABOVE else value < threshold


def recent_breaches(
    rule: Rule, history: Sequence[WindowMetrics], baseline: Mapping[str, float]
) -> int:
    """Breaching windows among the ``persistence.windows - 1`` before this one."""
    count = 0
    first = max(0, len(history) - (rule.persistence.windows - 1))
    for index in range(first, len(history)):
        value = usable_value(history[index].record_for(rule))[0]
        at = history[index].window_start
        threshold = threshold_level(rule.threshold, rule, history[:index], baseline, at).value
        if value is not None and threshold is not None:
            count += beyond(rule.direction, value, threshold)
    return count


ALWAYS_MEASURED = frozenset({Metric.ROW_COUNT})
"""Metrics whose stored value is a measurement whatever its status: a window's row count of 0
is insufficient data for every other metric, and exactly what a row-count rule is there for."""

NO_DATA = frozenset({MetricStatus.INSUFFICIENT_DATA, MetricStatus.SKIPPED, MetricStatus.ERROR})
"""Statuses whose value says nothing about the model (drift and failed values still count)."""


@dataclass(frozen=True)
class WindowMetrics:
    """One stored window's records, by (metric, column, segment)."""

    window_start: datetime
    records: Mapping[MetricKey, MetricRecord]
    pooled: Mapping[PooledKey, MetricRecord] = field(default_factory=dict)
    """Pooled values (``policy.pooling``) of the rules with a ``pool``, by key and span."""

    @classmethod
    def of(cls, window_start: datetime, records: Iterable[MetricRecord]) -> WindowMetrics:
        return cls(window_start, {record.key: record for record in records})

    def record_for(self, rule: Rule) -> MetricRecord | None:
        """What ``rule`` judges in this window: its metric's record, or the pooled one."""
        if rule.pool is not None:
            return self.pooled.get((rule.key, rule.pool))
        if isinstance(rule.threshold, BurnRateThreshold):  # the slower of its two spans
            return self.pooled.get((rule.key, rule.threshold.long))
        return self.records.get(rule.key)
