"""SLOs over their period, and burn rates over spans, from the good and total events each window
stored (``slo.window_good``): no raw data is read again, and only windows are summed, so every
figure is in the window's time (a replay or a rerun finds the same).

A period or span covers the windows starting in (window start - span, window start], as pooled
rules do: ``30d`` on daily windows is the window and the 29 before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitoring_lib.durations import format_duration
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.service import SloSpec
from monitoring_lib.store.models import MetricRow


@dataclass(frozen=True)
class Events:
    """One window's good and total events of one SLO, and the objective it was kept against."""

    good: float
    total: float
    objective: float


def events_of(record: MetricRecord) -> Events | None:
    """The events a ``slo.window_good`` record holds (None when it holds none)."""
    return _events(record.details)


def _events(details: Mapping[str, Any] | None) -> Events | None:
    if details is None:
        return None
    try:
        return Events(float(details["count"]), float(details["total"]), float(details["objective"]))
    except (KeyError, TypeError, ValueError):
        return None


def stored_events(
    session: Session, model: int, names: Sequence[str], start: datetime, end: datetime
) -> dict[str, dict[datetime, Events]]:
    """Per SLO, the events of the stored windows starting in (start, end]."""
    found: dict[str, dict[datetime, Events]] = {name: {} for name in names}
    if not names:
        return found
    query = select(MetricRow).where(
        MetricRow.model_id == model,
        MetricRow.metric == Metric.SLO_WINDOW_GOOD.value,
        MetricRow.segment == "",
        MetricRow.column_name.in_(list(names)),
        MetricRow.window_start > start,
        MetricRow.window_start <= end,
    )
    for row in session.execute(query).scalars():
        events = _events(row.details)
        if events is not None:
            found[row.column_name][row.window_start] = events
    return found


@dataclass(frozen=True)
class SpanEvents:
    good: float
    total: float
    windows: int
    first: datetime | None

    @property
    def bad_share(self) -> float:
        return (self.total - self.good) / self.total


def in_span(
    events: Mapping[datetime, Events], window_start: datetime, span: timedelta
) -> SpanEvents:
    inside = sorted(s for s in events if window_start - span < s <= window_start)
    good = sum(events[s].good for s in inside)
    total = sum(events[s].total for s in inside)
    return SpanEvents(good, total, len(inside), inside[0] if inside else None)


def period_records(
    slo: SloSpec, window_start: datetime, events: Mapping[datetime, Events]
) -> list[MetricRecord]:
    """Compliance and error budget remaining of ``slo`` over its period up to this window."""
    span = in_span(events, window_start, slo.period)
    details: dict[str, Any] = {
        "period": format_duration(slo.period), "objective": slo.objective, "good": span.good,
        "total": span.total, "windows": span.windows,
        "first_window": span.first.isoformat() if span.first else None,
    }  # fmt: skip
    if span.total == 0:
        reason = f"no event counts towards {slo.name!r} in the {details['period']} up to here"
        lacking = MetricStatus.INSUFFICIENT_DATA
        return [
            MetricRecord(metric, None, lacking, slo.name, details={**details, "reason": reason})
            for metric in (Metric.SLO_COMPLIANCE, Metric.SLO_BUDGET_REMAINING)
        ]
    compliance = span.good / span.total
    remaining = 1 - span.bad_share / (1 - slo.objective)
    status = MetricStatus.OK if compliance >= slo.objective else MetricStatus.WARNING
    return [
        MetricRecord(Metric.SLO_COMPLIANCE, compliance, status, slo.name, details=details),
        MetricRecord(Metric.SLO_BUDGET_REMAINING, remaining, status, slo.name, details=details),
    ]


def slo_period_records(
    session: Session,
    model: int | None,
    slos: Sequence[SloSpec],
    window_start: datetime,
    window_records: Sequence[MetricRecord],
) -> list[MetricRecord]:
    """Every SLO's compliance and budget for a window about to be stored: its own events (from
    ``window_records``) and those the store holds for the earlier windows of the period."""
    if not slos:
        return []
    longest = max(slo.period for slo in slos)
    names = [slo.name for slo in slos]
    earlier = (
        stored_events(session, model, names, window_start - longest, window_start)
        if model is not None
        else {name: {} for name in names}
    )
    own = {
        r.column: counted
        for r in window_records
        if r.metric == Metric.SLO_WINDOW_GOOD and (counted := events_of(r)) is not None
    }
    records = []
    for slo in slos:
        events = {s: e for s, e in earlier.get(slo.name, {}).items() if s < window_start}
        if slo.name in own:
            events[window_start] = own[slo.name]
        records += period_records(slo, window_start, events)
    return records
