"""SLO compliance and error budget over the period, and multiwindow burn-rate rules, from the good
and total events of stored windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from monitoring_lib.policy.burn_rate import burn_rate_rules, burn_rates
from monitoring_lib.policy.rules import Evaluation, replay
from monitoring_lib.policy.slo import Events, period_records
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.spec.service import SloSpec

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
REQUESTS = 10_000
AVAILABILITY = SloSpec(name="availability", objective=0.995, period=timedelta(days=30))


def daily_events(seed: int, error_rates: list[float]) -> dict[datetime, Events]:
    rng = np.random.default_rng(seed)
    return {
        T0 + day * DAY: Events(float(REQUESTS - rng.binomial(REQUESTS, rate)), REQUESTS, 0.995)
        for day, rate in enumerate(error_rates)
    }


def burn_policy(**threshold: Any) -> PolicySpec:
    rule = {
        "name": "availability-burn",
        "metric": "slo.burn_rate",
        "column": "availability",
        "direction": "above",
        "threshold": {"long": "3d", "short": "1d", "factor": 2, **threshold},
        "severity": "high",
    }
    return PolicySpec.model_validate({"rules": [rule]})


def judged(policy: PolicySpec, events: dict[datetime, Events]) -> list[Evaluation]:
    rules = burn_rate_rules(policy.rules)
    windows = [
        WindowMetrics(start, {}, burn_rates(rules, start, {"availability": events}))
        for start in sorted(events)
    ]
    return replay(policy, windows, baseline={})


def firing_days(evaluations: list[Evaluation]) -> list[int]:
    return [day for day, e in enumerate(evaluations) if e.results[0].firing]


@pytest.mark.parametrize("seed", range(10))
def test_a_healthy_service_never_burns_fast(seed: int) -> None:
    assert firing_days(judged(burn_policy(), daily_events(seed, [0.001] * 60))) == []


@pytest.mark.parametrize("seed", range(5))
def test_an_outage_day_fires_and_clears_when_the_short_span_recovers(seed: int) -> None:
    rates = [0.001] * 40
    rates[30] = 0.04  # 40 times the usual errors: eight times the budget's pace on its own
    evaluations = judged(burn_policy(), daily_events(seed, rates))
    assert firing_days(evaluations) == [30]
    assert evaluations[31].results[0].cleared
    result = evaluations[30].results[0]
    assert result.value is not None
    assert 2 < result.value < 4  # the long span's ~2.8, the lower of the two
    assert "over both 3d and 1d" in result.reason


@pytest.mark.parametrize("seed", range(5))
def test_a_slow_burn_needs_the_long_span_too(seed: int) -> None:
    rates = [0.001] * 20 + [0.02] * 10  # four times the budget's pace from day 20
    evaluations = judged(burn_policy(), daily_events(seed, rates))
    days = firing_days(evaluations)
    assert days[0] == 21  # day 20 alone burns at 4, but three days at ~1.5: not yet
    assert days == list(range(21, 30))


def test_compliance_and_budget_over_the_period_are_exact() -> None:
    events = {T0 + d * DAY: Events(9_990.0, 10_000.0, 0.995) for d in range(40)}
    events[T0 + 35 * DAY] = Events(9_000.0, 10_000.0, 0.995)  # a bad day
    at = T0 + 39 * DAY
    compliance, budget = period_records(AVAILABILITY, at, events)
    bad = 29 * 10 + 1_000
    assert compliance.value == pytest.approx(1 - bad / 300_000)
    assert budget.value == pytest.approx(1 - (bad / 300_000) / 0.005)
    assert compliance.details["windows"] == 30
    assert compliance.details["first_window"] == (T0 + 10 * DAY).isoformat()
    assert compliance.status is MetricStatus.OK  # 0.9957 >= 0.995, with 14% of the budget left
    worse = {**events, T0 + 38 * DAY: Events(9_500.0, 10_000.0, 0.995)}
    compliance, budget = period_records(AVAILABILITY, at, worse)
    assert compliance.status is MetricStatus.WARNING
    assert budget.value is not None
    assert budget.value < 0
    assert (compliance.metric, budget.metric) == (
        Metric.SLO_COMPLIANCE,
        Metric.SLO_BUDGET_REMAINING,
    )


def test_no_events_in_the_period_is_no_value_with_a_reason() -> None:
    records = period_records(AVAILABILITY, T0, {})
    assert [r.status for r in records] == [MetricStatus.INSUFFICIENT_DATA] * 2
    assert "no event" in records[0].details["reason"]


def test_a_window_without_events_gives_the_burn_rate_rule_no_data() -> None:
    events = daily_events(0, [0.001] * 5)
    del events[T0 + 4 * DAY]
    policy = burn_policy()
    window = WindowMetrics(
        T0 + 4 * DAY,
        {},
        burn_rates(burn_rate_rules(policy.rules), T0 + 4 * DAY, {"availability": events}),
    )
    result = replay(policy, [window], baseline={})[0].results[0]
    assert result.threshold is None
    assert "stored no events" in result.reason
