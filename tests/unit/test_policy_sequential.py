"""CUSUM and pooled rules, evaluated purely: spec checks, accumulation, clearing, a new champion,
no data, and pooled values equal to the metric of all the pooled rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import accuracy_score

from monitoring_lib.metrics.quality.counts import classification_counts
from monitoring_lib.metrics.quality.values import find, quality_values
from monitoring_lib.policy.cusum import DEFAULT_H, DEFAULT_K
from monitoring_lib.policy.pooling import pooled_record, pooled_values
from monitoring_lib.policy.rules import Baseline, advance_state, evaluate, replay
from monitoring_lib.policy.sequential import memory_of, standard_error
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Decision
from monitoring_lib.spec.policy import PolicySpec, Rule
from monitoring_lib.spec.thresholds import CusumThreshold

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ROWS = 165
BASE = {"quality.accuracy": 0.94}
SE = math.sqrt(0.94 * 0.06 / ROWS)


def cusum_rule(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "accuracy-cusum",
        "metric": "quality.accuracy",
        "direction": "below",
        "threshold": "cusum",
        "action": "retrain",
        **overrides,
    }


def spec(*rules: dict[str, Any], **settings: Any) -> PolicySpec:
    return PolicySpec.model_validate({"rules": list(rules), **settings})


def accuracy_window(day: int, value: float | None) -> WindowMetrics:
    """One day's accuracy as the counts path stores it: Wilson, with its row count."""
    if value is None:
        return WindowMetrics(T0 + day * DAY, {})
    details = {"se": 0.02, "denominator_rows": ROWS, "ci_method": "wilson"}
    record = MetricRecord(Metric.ACCURACY, value, details=details)
    return WindowMetrics.of(T0 + day * DAY, [record])


def z_of(value: float) -> float:
    return (0.94 - value) / SE


# --- spec -----------------------------------------------------------------------------------


def test_cusum_threshold_defaults_are_the_modules_and_forms_are_read() -> None:
    short = Rule.model_validate(cusum_rule())
    assert isinstance(short.threshold, CusumThreshold)
    assert (short.threshold.k, short.threshold.h) == (DEFAULT_K, DEFAULT_H)
    explicit = Rule.model_validate(cusum_rule(threshold={"k": 0.25, "h": 8}))
    assert isinstance(explicit.threshold, CusumThreshold)
    assert (explicit.threshold.k, explicit.threshold.h) == (0.25, 8)
    pooled = Rule.model_validate(cusum_rule(threshold={"delta": -0.02}, pool="7d"))
    assert pooled.pool == timedelta(days=7)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metric": "drift.share"}, "needs a standard error"),
        ({"persistence": {"breaches": 2, "windows": 3}}, "accumulates evidence"),
        ({"clear": 0.9}, "clears on its statistic"),
        ({"pool": "7d"}, "windows would overlap"),
        ({"threshold": {"kind": "cusum", "h": 2, "clear": 3}}, r"clear \(3.0\) must be below h"),
        ({"threshold": 0.9, "clear": "cusum"}, "a CUSUM is a trigger"),
        ({"threshold": 0.9, "pool": "7d", "metric": "drift.share"}, "not kept as counts"),
        ({"threshold": {"window": 7, "k": 2}, "pool": "7d"}, "learned threshold"),
        ({"threshold": 0.9, "pool": "0d"}, "positive"),
    ],
)
def test_invalid_sequential_and_pooled_rules_are_refused(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(cusum_rule(**overrides))


# --- CUSUM ----------------------------------------------------------------------------------


def test_cusum_accumulates_a_small_drop_that_no_single_window_shows() -> None:
    drop = 0.94 - 1.35 * SE  # the drop: 1.35 standard errors a day
    values = [0.94] * 5 + [drop] * 10
    evaluations = replay(spec(cusum_rule()), [accuracy_window(d, v) for d, v in enumerate(values)],
                         baseline=BASE)  # fmt: skip

    statistics = [e.result("accuracy-cusum").statistics["statistic"] for e in evaluations]
    per_day = z_of(drop) - DEFAULT_K
    fired_on = next(i for i, e in enumerate(evaluations) if e.decision is Decision.RETRAIN)
    assert statistics[:5] == [0.0] * 5
    assert statistics[5] == pytest.approx(per_day)
    assert fired_on == 5 + math.floor(DEFAULT_H / per_day)  # first day the sum passes h
    result = evaluations[fired_on].result("accuracy-cusum")
    assert result.firing
    assert result.breached
    assert result.threshold == 0.94
    assert "fires -> retrain" in result.reason
    assert result.statistics["z"] == pytest.approx(z_of(drop))
    assert result.statistics["se"] == pytest.approx(SE)  # the error at the baseline, not 0.02
    assert all(e.result("accuracy-cusum").firing for e in evaluations[fired_on:])


def test_cusum_clears_when_the_metric_is_back_and_restarts_from_zero() -> None:
    values = [0.80, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94, 0.94]
    policy = spec(cusum_rule(action="alert"))
    evaluations = replay(policy, [accuracy_window(d, v) for d, v in enumerate(values)],
                         baseline=BASE)  # fmt: skip

    results = [e.result("accuracy-cusum") for e in evaluations]
    assert results[0].firing  # one window 7 standard errors down: at once
    assert results[0].statistics["statistic"] == DEFAULT_H  # capped while firing
    cleared = next(i for i, r in enumerate(results) if r.cleared)
    # back at baseline (z = 0) the statistic falls by k a window, from h to h / 2
    assert cleared == math.ceil((DEFAULT_H / 2) / DEFAULT_K)
    assert all(r.firing for r in results[:cleared])
    assert not results[cleared].firing
    assert results[cleared].statistics["statistic"] == 0.0
    assert "cleared" in results[cleared].reason


def test_a_window_without_a_value_carries_the_statistic_over() -> None:
    values = [0.90, None, 0.90]
    evaluations = replay(spec(cusum_rule()), [accuracy_window(d, v) for d, v in enumerate(values)],
                         baseline=BASE)  # fmt: skip
    first, gap, last = (e.result("accuracy-cusum") for e in evaluations)
    assert gap.statistics["statistic"] == first.statistics["statistic"] > 0
    assert "no data" in gap.reason
    assert last.statistics["statistic"] == pytest.approx(2 * first.statistics["statistic"])


def test_a_new_champion_starts_the_cusum_afresh() -> None:
    windows = [accuracy_window(d, 0.92) for d in range(6)]
    baselines = [Baseline(BASE, 1)] * 3 + [Baseline({"quality.accuracy": 0.93}, 2)] * 3
    evaluations = replay(spec(cusum_rule(action="alert")), windows, baseline=baselines)

    statistics = [e.result("accuracy-cusum").statistics["statistic"] for e in evaluations]
    assert statistics[2] > statistics[1] > statistics[0] > 0
    new_se = math.sqrt(0.93 * 0.07 / ROWS)
    assert statistics[3] == pytest.approx(max(0.0, (0.93 - 0.92) / new_se - DEFAULT_K))
    assert "a new champion" in evaluations[3].result("accuracy-cusum").reason
    assert [e.baseline_version for e in evaluations] == [1, 1, 1, 2, 2, 2]


def test_the_state_survives_its_stored_form() -> None:
    policy = spec(cusum_rule())
    first = evaluate(policy, window_start=T0, current=accuracy_window(0, 0.9).records, history=[],
                     baseline=BASE, state={}, baseline_version=4)  # fmt: skip
    stored = first.result("accuracy-cusum").statistics
    memory = memory_of(dict(stored))
    assert memory is not None
    assert memory.champion == 4
    assert memory.cusum.statistic == pytest.approx(z_of(0.9) - DEFAULT_K)
    assert advance_state({}, first)["accuracy-cusum"].sequential == memory


def test_cusum_without_a_champion_baseline_or_a_standard_error_does_not_judge() -> None:
    policy = spec(cusum_rule())
    no_baseline = evaluate(policy, window_start=T0, current=accuracy_window(0, 0.5).records,
                           history=[], baseline={}, state={})  # fmt: skip
    assert (
        "no champion baseline for quality.accuracy" in no_baseline.result("accuracy-cusum").reason
    )
    assert not no_baseline.result("accuracy-cusum").firing
    bare = {Metric.ACCURACY.value: MetricRecord(Metric.ACCURACY, 0.5)}
    keyed = {(k, "", ""): v for k, v in bare.items()}
    without_se = evaluate(policy, window_start=T0, current=keyed, history=[], baseline=BASE,
                          state={})  # fmt: skip
    assert "no standard error" in without_se.result("accuracy-cusum").reason


def test_estimated_metrics_compare_with_the_realised_baseline_using_their_own_se() -> None:
    rule = cusum_rule(metric="estimated.accuracy")
    record = MetricRecord("estimated.accuracy", 0.93, details={"se": 0.005, "ci_method": "cbpe",
                                                               "denominator_rows": 900})  # fmt: skip
    assert standard_error(record, 0.94) == 0.005
    evaluation = evaluate(spec(rule), window_start=T0, current={record.key: record}, history=[],
                          baseline=BASE, state={})  # fmt: skip
    result = evaluation.result("accuracy-cusum")
    assert result.statistics["baseline_metric"] == "quality.accuracy"
    assert result.statistics["z"] == pytest.approx((0.94 - 0.93) / 0.005)


# --- pooled ---------------------------------------------------------------------------------


def daily_counts(days: int, seed: int = 0) -> dict[datetime, Any]:
    rng = np.random.default_rng(seed)
    counts = {}
    for day in range(days):
        rows = ROWS + 40 * day  # windows of different sizes: pooling is not a mean of days
        truth = (rng.random(rows) < 0.3).astype(int)
        predicted = np.where(rng.random(rows) < 0.92, truth, 1 - truth)
        counts[T0 + day * DAY] = (
            truth,
            predicted,
            classification_counts(truth, predicted, positive=1),
        )
    return counts


def test_a_pooled_value_is_the_metric_of_all_pooled_rows() -> None:
    days = daily_counts(10)
    rule = Rule.model_validate(cusum_rule(threshold=0.93, pool="7d"))
    at = T0 + 9 * DAY
    record = pooled_record(rule, at, {start: c for start, (_, _, c) in days.items()})

    inside = [days[T0 + d * DAY] for d in range(3, 10)]
    truth = np.concatenate([t for t, _, _ in inside])
    predicted = np.concatenate([p for _, p, _ in inside])
    assert record.value == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
    daily_mean = np.mean([accuracy_score(t, p) for t, p, _ in inside])
    assert record.details["pooled_windows"] == 7
    assert record.details["pooled_rows"] == len(truth)
    assert record.details["ci_lower"] < record.value < record.details["ci_upper"]
    assert abs(record.value - daily_mean) > 1e-6


def test_a_pooled_rule_judges_the_pooled_value_and_reports_its_rows() -> None:
    days = daily_counts(8, seed=3)
    counts = {"realised": {start: c for start, (_, _, c) in days.items()}}
    policy = spec(cusum_rule(name="weekly", threshold=0.99, pool="7d", action="alert"))
    windows = [
        WindowMetrics(start, {}, pooled_values(policy.rules, start, counts)) for start in days
    ]
    evaluations = replay(policy, windows, baseline=BASE)

    last = evaluations[-1].result("weekly")
    assert last.firing  # a 0.92 model is below 0.99 on a week of rows
    assert last.statistics["kind"] == "pool"
    assert last.statistics["pooled_rows"] == sum(ROWS + 40 * d for d in range(1, 8))
    assert last.statistics["pool"] == "7d"
    first = evaluations[0].result("weekly")
    assert first.statistics["pooled_windows"] == 1
    expected = find(quality_values(counts["realised"][T0]), "quality.accuracy")
    assert first.value == pytest.approx(expected.value)


def test_a_pooled_span_without_enough_rows_has_no_value() -> None:
    rule = Rule.model_validate(cusum_rule(threshold=0.9, pool="3d"))
    tiny = classification_counts([1, 0, 1], [1, 0, 0], positive=1)
    record = pooled_record(rule, T0, {T0: tiny})
    assert record.value is None
    assert record.status is MetricStatus.INSUFFICIENT_DATA
    assert "3 rows in the 3d pooled; 30 needed" in record.details["reason"]
    empty = pooled_record(rule, T0, {T0 - 5 * DAY: tiny})
    assert "no window in the 3d" in empty.details["reason"]
