"""Pooled values for stored windows: the quality counts of each pooled rule's span, read from
the store once for every window evaluated or replayed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitoring_lib.metrics.quality.counts import QualityCounts, counts_from_json, kind_of_metric
from monitoring_lib.policy.pooling import pooled_rules, pooled_values
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.store.counts import quality_counts_between


def _counts(
    session: Session, model: int, kinds: set[str], start: datetime, end: datetime
) -> dict[str, dict[datetime, QualityCounts]]:
    return {
        kind: {
            window: counts_from_json(data)
            for window, data in quality_counts_between(session, model, kind, start, end).items()
        }
        for kind in kinds
    }


def with_pooled(
    session: Session, model: int, policy: PolicySpec, windows: Sequence[WindowMetrics]
) -> list[WindowMetrics]:
    """``windows`` with the pooled values of the policy's pooled rules filled in."""
    rules = pooled_rules(policy.rules)
    if not rules or not windows:
        return list(windows)
    longest = max(rule.pool or timedelta(0) for rule in rules)
    starts = [window.window_start for window in windows]
    kinds = {kind for rule in rules if (kind := kind_of_metric(rule.metric)) is not None}
    counts = _counts(session, model, kinds, min(starts) - longest, max(starts) + timedelta(1))
    return [
        replace(window, pooled=pooled_values(rules, window.window_start, counts))
        for window in windows
    ]
