"""Multiwindow burn-rate rules (Google's SRE workbook, "Alerting on SLOs"): the rate at which an
SLO's error budget burns over a long and a short span, both from stored window events.

burn rate = the span's share of bad events / (1 - objective). At 1 the budget is spent exactly
by the end of the period; a page at 14.4 over 1 hour means 2% of a 30-day budget went in that
hour. The rule judges the lower of the two rates against ``factor``, so it fires only when both
spans burn fast (the long one: the burn is real; the short one: it is still going on) and clears
as soon as either falls back.

Daily windows cannot see an hour: there, spans are whole days (the evaluated window and the ones
before it), e.g. ``{long: 3d, short: 1d, factor: 2}``: a budget burning twice as fast as it may
over three days and still on the last one, which at that rate is gone in 15 days of a 30-day
period; or ``{long: 7d, short: 1d, factor: 1}`` for a slow leak. The objective is the one the
evaluated window stored its events against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitoring_lib.durations import format_duration
from monitoring_lib.policy.slo import Events, in_span, stored_events
from monitoring_lib.policy.thresholds import PooledKey, WindowMetrics
from monitoring_lib.records import MetricRecord, MetricStatus
from monitoring_lib.spec.policy import BurnRateThreshold, PolicySpec, Rule


def burn_rate_rules(rules: Sequence[Rule]) -> list[tuple[Rule, BurnRateThreshold]]:
    return [(r, r.threshold) for r in rules if isinstance(r.threshold, BurnRateThreshold)]


def _span(events: Mapping[datetime, Events], start: datetime, span: timedelta, objective: float
          ) -> tuple[float | None, dict[str, Any]]:  # fmt: skip
    counted = in_span(events, start, span)
    shown = {"span": format_duration(span), "good": counted.good, "total": counted.total,
             "windows": counted.windows}  # fmt: skip
    if counted.total == 0:
        return None, shown
    rate = counted.bad_share / (1 - objective)
    return rate, {**shown, "burn_rate": rate}


def burn_rate_record(
    rule: Rule,
    threshold: BurnRateThreshold,
    window_start: datetime,
    events: Mapping[datetime, Events],
) -> MetricRecord:
    """The lower of the long and short spans' burn rates, both in the details."""
    own = events.get(window_start)
    if own is None:
        why = f"this window stored no events for SLO {rule.column!r}"
        return MetricRecord(rule.metric, None, MetricStatus.INSUFFICIENT_DATA, rule.column,
                            details={"reason": why})  # fmt: skip
    long_rate, long = _span(events, window_start, threshold.long, own.objective)
    short_rate, short = _span(events, window_start, threshold.short, own.objective)
    details = {"kind": "burn_rate", "objective": own.objective, "long": long, "short": short}
    if long_rate is None or short_rate is None:
        why = "no event in the " + ("long" if long_rate is None else "short") + " span"
        return MetricRecord(rule.metric, None, MetricStatus.INSUFFICIENT_DATA, rule.column,
                            details={**details, "reason": why})  # fmt: skip
    return MetricRecord(
        rule.metric, min(long_rate, short_rate), column=rule.column, details=details
    )


def burn_rates(
    rules: Sequence[tuple[Rule, BurnRateThreshold]],
    window_start: datetime,
    events_by_slo: Mapping[str, Mapping[datetime, Events]],
) -> dict[PooledKey, MetricRecord]:
    """Every burn-rate rule's value for one window, keyed as ``WindowMetrics.record_for`` reads."""
    return {
        (rule.key, threshold.long): burn_rate_record(
            rule, threshold, window_start, events_by_slo.get(rule.column, {})
        )
        for rule, threshold in rules
    }


def with_burn_rates(
    session: Session, model: int, policy: PolicySpec, windows: Sequence[WindowMetrics]
) -> list[WindowMetrics]:
    """``windows`` with the burn rates of the policy's burn-rate rules among their pooled values."""
    rules = burn_rate_rules(policy.rules)
    if not rules or not windows:
        return list(windows)
    longest = max(threshold.long for _, threshold in rules)
    starts = [window.window_start for window in windows]
    names = sorted({rule.column for rule, _ in rules})
    events = stored_events(session, model, names, min(starts) - longest, max(starts))
    return [
        replace(window, pooled={**window.pooled, **burn_rates(rules, window.window_start, events)})
        for window in windows
    ]
