"""Seasonal learned thresholds: a weekly pattern fires a plain learned threshold every Monday,
not one learned from the same weekday (or hour of the week); a real anomaly fires both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from monitoring_lib.policy.rules import Evaluation, replay
from monitoring_lib.policy.thresholds import WindowMetrics, same_slot
from monitoring_lib.records import Metric, MetricRecord
from monitoring_lib.spec.policy import PolicySpec

MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def row_count_rule(threshold: dict[str, Any]) -> PolicySpec:
    rule = {
        "name": "row-count",
        "metric": Metric.ROW_COUNT.value,
        "direction": "above",
        "threshold": threshold,
        "action": "alert",
    }
    return PolicySpec.model_validate({"rules": [rule]})


def weekly_rows(seed: int, days: int, *, monday: float = 3000.0) -> list[float]:
    """Daily row counts around 1,000 with Mondays around ``monday`` (the weekend's backlog)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 30, days)
    return [(monday if day % 7 == 0 else 1000.0) + noise[day] for day in range(days)]


def windows(values: list[float], step: timedelta = DAY) -> list[WindowMetrics]:
    return [
        WindowMetrics.of(MONDAY + i * step, [MetricRecord(Metric.ROW_COUNT, value)])
        for i, value in enumerate(values)
    ]


def fired(evaluations: list[Evaluation]) -> list[int]:
    return [i for i, e in enumerate(evaluations) if e.results[0].breached]


PLAIN = {"window": 14, "k": 2}
SEASONAL = {"window": 4, "k": 2, "min_std": 50, "seasonal": "weekday"}


@pytest.mark.parametrize("seed", range(5))
def test_a_weekly_pattern_fires_the_plain_threshold_and_not_the_seasonal_one(seed: int) -> None:
    values = weekly_rows(seed, 70)
    plain = fired(replay(row_count_rule(PLAIN), windows(values), baseline={}))
    seasonal = fired(replay(row_count_rule(SEASONAL), windows(values), baseline={}))
    mondays = {day for day in range(35, 70) if day % 7 == 0}
    assert mondays <= set(plain)  # every Monday once there is history
    assert seasonal == []


@pytest.mark.parametrize("seed", range(5))
def test_a_real_anomaly_still_fires_the_seasonal_threshold(seed: int) -> None:
    values = weekly_rows(seed, 70)
    values[52] = 2000.0  # a Wednesday with twice its rows
    values[63] = 6000.0  # a Monday with twice a Monday's rows
    seasonal = replay(row_count_rule(SEASONAL), windows(values), baseline={})
    assert fired(seasonal) == [52, 63]
    reason = seasonal[52].results[0].reason
    assert "same-weekday windows" in reason
    assert "over 4" in reason


def test_hour_of_week_compares_sub_day_windows_with_the_same_hour_of_the_week() -> None:
    rng = np.random.default_rng(7)
    hours = 24 * 7 * 6
    # Hourly traffic with a peak at 09:00 on Mondays only.
    values = [(900.0 if (i % 168) == 9 else 100.0) + rng.normal(0, 5) for i in range(hours)]
    plain = {"window": 48, "k": 2}
    seasonal = {"window": 3, "k": 3, "min_std": 20, "seasonal": "hour_of_week"}
    plain_fired = fired(replay(row_count_rule(plain), windows(values, HOUR), baseline={}))
    seasonal_fired = fired(replay(row_count_rule(seasonal), windows(values, HOUR), baseline={}))
    assert {168 * week + 9 for week in range(1, 6)} <= set(plain_fired)
    assert seasonal_fired == []
    values[168 * 5 + 30] = 400.0  # Tuesday 06:00 of the last week, four times its usual
    seasonal_fired = fired(replay(row_count_rule(seasonal), windows(values, HOUR), baseline={}))
    assert seasonal_fired == [168 * 5 + 30]


def test_the_same_weekday_survives_a_dst_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    starts = [datetime(2024, 3, 18, tzinfo=berlin) + i * DAY for i in range(14)]  # DST on 31 March
    history = [WindowMetrics(s.astimezone(UTC), {}) for s in starts]
    at = datetime(2024, 4, 1, tzinfo=berlin).astimezone(UTC)  # a Monday, 22:00 UTC before it
    kept = same_slot("weekday", at, history)
    assert [w.window_start.astimezone(berlin).weekday() for w in kept] == [0, 0]


def test_a_seasonal_policy_reads_weeks_of_history() -> None:
    policy = row_count_rule(SEASONAL)
    assert policy.history_span == timedelta(weeks=6)
