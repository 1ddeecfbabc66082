"""The threshold policy, evaluated purely: rule kinds, persistence, hysteresis, cooldowns, no data."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import monitoring_lib.policy.rules as policy_module
from monitoring_lib.policy.rules import Evaluation, RuleState, advance_state, evaluate, replay
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Decision, Severity
from monitoring_lib.spec.policy import PolicySpec

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def rule(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "drift",
        "metric": Metric.DRIFT_SHARE.value,
        "direction": "above",
        "threshold": 0.5,
        "action": "alert",
        **overrides,
    }


def spec(*rules: dict[str, Any], **settings: Any) -> PolicySpec:
    return PolicySpec.model_validate({"rules": list(rules), **settings})


def window(
    day: int,
    value: float | None,
    metric: str = Metric.DRIFT_SHARE,
    *,
    status: MetricStatus = MetricStatus.OK,
    column: str = "",
    reason: str = "",
) -> WindowMetrics:
    if value is None:
        return WindowMetrics(T0 + day * DAY, {})
    details = {"reason": reason} if reason else {}
    record = MetricRecord(metric, value, status=status, column=column, details=details)
    return WindowMetrics.of(T0 + day * DAY, [record])


def run(
    policy: PolicySpec,
    values: list[float | None],
    metric: str = Metric.DRIFT_SHARE,
    baseline: dict[str, float] | None = None,
) -> list[Evaluation]:
    windows = [window(day, v, metric) for day, v in enumerate(values)]
    return replay(policy, windows, baseline=baseline or {})


def one(policy: PolicySpec, value: float, **kwargs: Any) -> Evaluation:
    return run(policy, [value], **kwargs)[0]


# --- the rule kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "value", "breached"),
    [
        ("above", 0.51, True),
        ("above", 0.5, False),  # strictly beyond the threshold
        ("above", 0.2, False),
        ("below", 0.49, True),
        ("below", 0.5, False),
        ("below", 0.9, False),
    ],
)
def test_absolute_threshold(direction: str, value: float, breached: bool) -> None:
    evaluation = one(spec(rule(direction=direction)), value)
    result = evaluation.result("drift")
    assert result.threshold == 0.5
    assert result.breached is breached
    assert result.firing is breached
    assert evaluation.decision == (Decision.ALERT if breached else Decision.NONE)


@pytest.mark.parametrize(
    ("threshold", "baseline", "value", "expected_threshold", "breached"),
    [
        ({"delta": -0.05}, 0.91, 0.85, 0.86, True),
        ({"delta": -0.05}, 0.91, 0.87, 0.86, False),
        ({"ratio": 0.9}, 0.80, 0.71, 0.72, True),
        ({"ratio": 0.9}, 0.80, 0.73, 0.72, False),
    ],
)
def test_threshold_relative_to_the_champion_baseline(
    threshold: dict[str, float],
    baseline: float,
    value: float,
    expected_threshold: float,
    breached: bool,
) -> None:
    accuracy = rule(name="accuracy", metric=Metric.ACCURACY, direction="below", threshold=threshold)
    evaluation = one(
        spec(accuracy), value, metric=Metric.ACCURACY, baseline={Metric.ACCURACY: baseline}
    )
    result = evaluation.result("accuracy")
    assert result.threshold == pytest.approx(expected_threshold)
    assert result.breached is breached
    assert f"champion's {baseline:.4g}" in result.reason


def test_a_relative_rule_without_a_champion_reports_no_baseline_and_does_not_fire() -> None:
    accuracy = rule(metric=Metric.ACCURACY, direction="below", threshold={"delta": -0.05})
    evaluation = one(spec(accuracy), 0.1, metric=Metric.ACCURACY, baseline={})
    result = evaluation.result("drift")
    assert (result.breached, result.firing, result.threshold) == (False, False, None)
    assert "no champion baseline for quality.accuracy" in result.reason
    assert evaluation.decision is Decision.NONE


def test_a_relative_rule_can_name_another_baseline_entry() -> None:
    rmse = rule(metric=Metric.RMSE, threshold={"ratio": 1.2, "baseline_metric": "val.rmse"})
    result = one(spec(rmse), 13.0, metric=Metric.RMSE, baseline={"val.rmse": 10.0}).result("drift")
    assert result.threshold == pytest.approx(12.0)
    assert result.breached


HISTORY = [0.10, 0.12, 0.09, 0.11, 0.13, 0.10, 0.08, 0.12]


@pytest.mark.parametrize(
    ("direction", "k", "value", "breached"),
    [("above", 3, 0.20, True), ("above", 3, 0.14, False), ("below", 2, 0.05, True)],
)
def test_threshold_learned_from_history(
    direction: str, k: float, value: float, breached: bool
) -> None:
    learned = rule(direction=direction, threshold={"window": 6, "k": k})
    result = run(spec(learned), [*HISTORY, value])[-1].result("drift")
    recent = HISTORY[-6:]
    sign = 1 if direction == "above" else -1
    expected = statistics.fmean(recent) + sign * k * statistics.stdev(recent)
    assert result.threshold == pytest.approx(expected)
    assert result.breached is breached
    assert "over 6 windows" in result.reason


def test_a_learned_threshold_waits_for_enough_history_with_values() -> None:
    learned = rule(threshold={"window": 6, "k": 3, "min_history": 4})
    # Five past windows, but two have no usable value: 3 of the 4 needed.
    values: list[float | None] = [0.1, None, 0.1, None, 0.1, 0.9]
    result = run(spec(learned), values)[-1].result("drift")
    assert (result.threshold, result.breached, result.firing) == (None, False, False)
    assert "too little history" in result.reason
    assert "3 of the last 6 windows have a value, 4 needed" in result.reason


def test_a_flat_history_uses_the_std_floor() -> None:
    learned = rule(threshold={"window": 5, "k": 3, "min_std": 0.01})
    below, above = run(spec(learned), [0.1] * 5 + [0.12]), run(spec(learned), [0.1] * 5 + [0.14])
    assert below[-1].result("drift").threshold == pytest.approx(0.13)
    assert not below[-1].result("drift").breached
    assert above[-1].result("drift").breached


# --- persistence, hysteresis, cooldown ------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "first_firing"),
    [
        ([0.6, 0.4, 0.6], 2),  # 2 of the last 3
        ([0.6, 0.6], 1),
        ([0.6, 0.4, 0.4, 0.6], None),  # the first breach fell out of the last 3
        ([0.6, 0.4, 0.4, 0.6, 0.4, 0.6], 5),
        ([0.6, None, 0.6], 2),  # a window without data counts as no breach
    ],
)
def test_persistence_k_of_m(values: list[float | None], first_firing: int | None) -> None:
    persistent = rule(persistence={"breaches": 2, "windows": 3})
    evaluations = run(spec(persistent), values)
    firing = [i for i, e in enumerate(evaluations) if e.result("drift").firing]
    assert (firing[0] if firing else None) == first_firing
    if first_firing is not None:
        assert "2 of the last 3 windows breached (2 needed)" in evaluations[first_firing].reasons[0]


def test_persistence_judges_past_windows_against_their_own_learned_threshold() -> None:
    learned = rule(threshold={"window": 4, "k": 2}, persistence={"breaches": 2, "windows": 2})
    policy = spec(learned)
    assert policy.history_windows == 5
    # 0.3 breaches the threshold learned before it (0.12) but not today's (0.35, which 0.3 itself
    # inflates): it still counts towards the persistence of today's breach.
    evaluations = run(policy, [0.1, 0.11, 0.09, 0.1, 0.11, 0.3, 0.5])
    assert evaluations[-1].result("drift").threshold == pytest.approx(0.3507, abs=1e-3)
    assert [e.result("drift").firing for e in evaluations[4:]] == [False, False, True]


@pytest.mark.parametrize(
    ("clear", "values", "firing"),
    [
        (0.3, [0.6, 0.4, 0.45, 0.3, 0.6], [True, True, True, False, True]),
        (0.3, [0.6, 0.31, 0.29], [True, True, False]),
        (None, [0.6, 0.4, 0.6], [True, False, True]),  # clears where it fires
        (None, [0.6, 0.5], [True, False]),  # exactly at the threshold is back in range
    ],
)
def test_clearing_threshold_hysteresis(
    clear: float | None, values: list[float], firing: list[bool]
) -> None:
    evaluations = run(spec(rule(clear=clear)), values)
    assert [e.result("drift").firing for e in evaluations] == firing
    cleared = [e.result("drift").cleared for e in evaluations]
    assert cleared == [bool(i and firing[i - 1] and not f) for i, f in enumerate(firing)]


def test_a_rule_in_the_hysteresis_band_says_it_is_still_firing() -> None:
    evaluations = run(spec(rule(clear=0.3)), [0.6, 0.4, 0.2])
    assert "still firing since 2024-05-01 00:00 UTC (it clears at or below 0.3)" in (
        evaluations[1].result("drift").reason
    )
    assert "cleared (firing since 2024-05-01 00:00 UTC)" in evaluations[2].result("drift").reason
    assert evaluations[1].result("drift").firing_since == T0


@pytest.mark.parametrize(("cooldown", "acting_days"), [("3d", [0, 3, 6]), ("1d", list(range(8)))])
def test_a_firing_rule_acts_at_most_once_per_cooldown(
    cooldown: str, acting_days: list[int]
) -> None:
    evaluations = run(spec(rule(cooldown=cooldown)), [0.9] * 8)
    acted = [day for day, e in enumerate(evaluations) if e.decision is Decision.ALERT]
    assert acted == acting_days
    held = [e.result("drift") for day, e in enumerate(evaluations) if day not in acting_days]
    assert all(r.in_cooldown and r.firing for r in held)
    assert all("held back: this rule last acted (alert)" in r.reason for r in held)


def test_the_model_wide_retrain_cooldown_spans_rules() -> None:
    drift = rule(name="drift", action="retrain", cooldown="0d")
    accuracy = rule(name="accuracy", metric=Metric.ACCURACY, direction="below", threshold=0.8)
    accuracy["action"] = "retrain"
    windows = [window(0, 0.9), window(2, 0.7, Metric.ACCURACY), window(8, 0.7, Metric.ACCURACY)]
    evaluations = replay(spec(drift, accuracy), windows, baseline={})
    assert [e.decision for e in evaluations] == [Decision.RETRAIN, Decision.NONE, Decision.RETRAIN]
    held = evaluations[1].result("accuracy")
    assert held.in_cooldown
    assert "the model's last retrain was at 2024-05-01 00:00 UTC" in held.reason
    assert "runs until 2024-05-08 00:00 UTC" in held.reason


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"clear": 0.45},
        {"persistence": {"breaches": 2, "windows": 3}},
        {"cooldown": "0d"},
    ],
)
def test_a_metric_oscillating_around_its_threshold_retrains_at_most_once_per_cooldown(
    settings: dict[str, Any],
) -> None:
    oscillating = rule(action="retrain", **settings)
    values = [0.51 if day % 2 == 0 else 0.49 for day in range(30)]
    evaluations = run(spec(oscillating, retrain_cooldown="7d"), values)
    retrains = [e.window_start for e in evaluations if e.decision is Decision.RETRAIN]
    assert retrains, "a breaching metric must retrain at least once"
    gaps = [later - earlier for earlier, later in itertools.pairwise(retrains)]
    assert all(gap >= timedelta(days=7) for gap in gaps)
    assert len(retrains) <= math.ceil(30 / 7)


# --- severity, decisions, no data -----------------------------------------------------------------


def test_severity_and_decision_ordering() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.HIGH < Severity.CRITICAL
    assert Decision.NONE < Decision.ALERT < Decision.RETRAIN < Decision.ROLLBACK
    assert max([Decision.RETRAIN, Decision.NONE, Decision.ALERT]) is Decision.RETRAIN
    assert Decision.ALERT < "retrain"  # plain strings compare by rank, not alphabetically
    assert sorted(Severity, reverse=True)[0] is Severity.CRITICAL


@pytest.mark.parametrize(
    ("actions", "severities", "decision", "severity"),
    [
        (["alert", "retrain"], ["critical", "info"], Decision.RETRAIN, Severity.CRITICAL),
        (["none", "alert"], ["high", "warning"], Decision.ALERT, Severity.HIGH),
        (["none", "none"], ["info", "info"], Decision.NONE, Severity.INFO),
    ],
)
def test_the_strongest_decision_and_highest_severity_win(
    actions: list[str], severities: list[str], decision: Decision, severity: Severity
) -> None:
    rules = [
        rule(name=f"r{i}", action=action, severity=level)
        for i, (action, level) in enumerate(zip(actions, severities, strict=True))
    ]
    evaluation = one(spec(*rules), 0.9)
    assert evaluation.decision is decision
    assert evaluation.severity is severity
    assert len(evaluation.reasons) == 2
    assert all(reason.startswith("[") for reason in evaluation.reasons)


def test_a_rollback_supersedes_a_retrain_in_the_same_window() -> None:
    retrain = rule(name="retrain", action="retrain")
    rollback = rule(name="rollback", action="rollback", threshold=0.8)
    evaluations = run(spec(retrain, rollback), [0.9, 0.6])
    assert evaluations[0].decision is Decision.ROLLBACK
    superseded = evaluations[0].result("retrain")
    assert superseded.decision is Decision.NONE
    assert "superseded by the rollback" in superseded.reason
    # The retrain was not carried out, so no retrain cooldown holds the next window back.
    assert evaluations[1].decision is Decision.RETRAIN


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            MetricRecord(
                Metric.DRIFT_SHARE,
                None,
                MetricStatus.INSUFFICIENT_DATA,
                details={"reason": "only 3 rows"},
            ),
            "has no usable value (insufficient_data: only 3 rows)",
        ),
        (
            MetricRecord(Metric.DRIFT_SHARE, 0.9, MetricStatus.SKIPPED, details={"reason": "off"}),
            "has no usable value (skipped: off)",
        ),
        (
            MetricRecord(Metric.DRIFT_SHARE, math.nan),
            "has no usable value (error: value was not a finite number)",
        ),
    ],
)
def test_a_metric_without_usable_data_neither_breaches_nor_clears(
    record: MetricRecord, expected: str
) -> None:
    no_data = WindowMetrics.of(T0 + DAY, [record])
    evaluations = replay(spec(rule()), [window(0, 0.9), no_data], baseline={})
    result = evaluations[1].result("drift")
    assert (result.breached, result.cleared, result.decision) == (False, False, Decision.NONE)
    assert result.firing  # the firing carries over
    assert result.firing_since == T0
    assert f"no data: drift.share {expected}; it neither fires nor clears" in result.reason


def test_a_missing_metric_is_no_data_and_a_drift_status_still_counts() -> None:
    missing = one(spec(rule()), 0.9, metric=Metric.ACCURACY).result("drift")
    assert "drift.share was not computed in this window" in missing.reason
    assert not missing.firing
    drifted = replay(spec(rule()), [window(0, 0.7, status=MetricStatus.DRIFT)], baseline={})
    assert drifted[0].decision is Decision.ALERT


def test_column_and_segment_rules_read_their_own_key() -> None:
    income = rule(metric=Metric.DRIFT_SCORE, column="income", threshold=0.1)
    records = [
        MetricRecord(Metric.DRIFT_SCORE, 0.5, column="age"),
        MetricRecord(Metric.DRIFT_SCORE, 0.05, column="income"),
        MetricRecord(Metric.DRIFT_SCORE, 0.9, column="income", segment="region=north"),
    ]
    evaluation = replay(spec(income), [WindowMetrics.of(T0, records)], baseline={})[0]
    assert evaluation.result("drift").value == 0.05
    assert evaluation.decision is Decision.NONE
    assert evaluation.reasons == ("no rule fired (1 checked)",)


def test_advance_state_records_firing_and_the_last_action() -> None:
    policy = spec(rule(severity="high", cooldown="2d"))
    first = evaluate(
        policy,
        window_start=T0,
        current=window(0, 0.9).records,
        history=[],
        baseline={},
        state={"gone": RuleState(last_action_at=T0 - DAY)},
    )
    state = advance_state({"gone": RuleState(last_action_at=T0 - DAY)}, first)
    assert state["drift"] == RuleState(
        firing_since=T0, last_action_at=T0, last_action=Decision.ALERT, last_severity=Severity.HIGH
    )
    assert state["gone"].last_action_at == T0 - DAY  # rules no longer in the policy are kept
    second = evaluate(
        policy,
        window_start=T0 + DAY,
        current=window(1, 0.9).records,
        history=[window(0, 0.9)],
        baseline={},
        state=state,
    )
    assert advance_state(state, second)["drift"].last_action_at == T0  # held back: unchanged


def test_evaluation_refuses_a_naive_window_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(
            spec(rule()),
            window_start=datetime(2024, 5, 1),
            current={},
            history=[],
            baseline={},
            state={},
        )


# --- the spec -------------------------------------------------------------------------------------


def test_the_documented_example_parses_and_round_trips() -> None:
    example = yaml.safe_load(str(policy_module.__doc__).split("::", 1)[1])["policy"]
    policy = PolicySpec.model_validate(example)
    assert [r.name for r in policy.rules] == ["dataset-drift", "accuracy-drop", "income-drift"]
    assert policy.retrain_cooldown == timedelta(days=7)
    assert policy.rules[2].cooldown == timedelta(days=3)
    assert policy.history_windows == 14
    assert PolicySpec.model_validate(policy.model_dump()) == policy
    assert PolicySpec.model_validate(policy.model_dump(mode="json")) == policy


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"direction": "up"}, "rule 'drift': direction: Input should be 'above' or 'below'"),
        ({"threshold": {"foo": 1}}, "rule 'drift': threshold: expected a number, {value: ...}"),
        ({"threshold": {"delta": 1, "ratio": 2}}, "give exactly one of 'delta' or 'ratio'"),
        (
            {"threshold": {"value": 1, "x": 2}},
            "threshold.x: unknown key; expected one of: kind, value",
        ),
        (
            {"clear": 0.6},
            "rule 'drift': clear.value (0.6) must be at or below threshold.value (0.5)",
        ),
        ({"persistence": {"breaches": 3, "windows": 2}}, "breaches (3) cannot exceed windows (2)"),
        ({"cooldown": "3 days"}, "cooldown: '3 days' is not a duration like '1d', '7d'"),
        ({"action": "page"}, "rule 'drift': action: Input should be 'none', 'alert', 'retrain'"),
        ({"severity": "urgent"}, "rule 'drift': severity: Input should be 'info', 'warning'"),
        ({"threshold": {"window": 5, "k": 2, "min_history": 9}}, "min_history (9) cannot exceed"),
        ({"threshold": float("inf")}, "threshold.value: Input should be a finite number"),
        ({"colour": "red"}, "colour: unknown key; expected one of: name, metric, column"),
    ],
)
def test_spec_errors_name_the_rule_and_what_was_expected(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(rule(**bad))
    assert message in str(caught.value)


def test_rule_names_must_be_unique_and_direction_is_required() -> None:
    with pytest.raises(ValidationError, match="rule name 'drift' is used twice"):
        spec(rule(), rule())
    missing = rule()
    del missing["direction"]
    with pytest.raises(ValidationError, match="rule 'drift': direction: required key is missing"):
        spec(missing)


def test_a_below_rule_clears_above_its_threshold() -> None:
    with pytest.raises(ValidationError, match=r"clear.value \(0.4\) must be at or above"):
        spec(rule(direction="below", threshold=0.5, clear=0.4))
    accuracy = spec(rule(direction="below", threshold=0.5, clear=0.6))
    assert [e.result("drift").firing for e in run(accuracy, [0.4, 0.55, 0.6])] == [
        True,
        True,
        False,
    ]
