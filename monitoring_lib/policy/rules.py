"""The declarative threshold policy: rules over stored metrics give a Decision and its reasons.

Pure: no I/O and no clock. Time is the evaluated window's start; history, baseline and the rules'
previous state come from the caller (``monitoring_lib.policy_store`` reads them from the store), so
a replay over stored metrics reaches the decisions the live runs would have.

How one rule is read, window by window:

- *breach*: the value is beyond the threshold (strictly above, or strictly below);
- *firing* starts when this window breaches and at least ``persistence.breaches`` of the last
  ``persistence.windows`` windows (this one included) did; it lasts until a value is back on the
  good side of the clearing threshold (hysteresis: ``clear``, by default the trigger threshold);
- while firing, the rule takes its action at most once per cooldown (its own, and the model-wide
  ``actions.retrain.cooldown`` / ``policy.rollback_cooldown``), so a persisting problem re-alerts
  after the cooldown and a metric flapping around its threshold cannot retrain more often;
- *no data*: a missing value, or one stored as insufficient_data, skipped or error, neither breaches
  nor clears, and the reason says so. So does a threshold that cannot be computed yet (no champion
  baseline, too little history). ``window.row_count`` is the exception: an empty window stores 0,
  which a row-count rule (or the built-in ``data-missing`` rule) judges like any value.

Example (the ``policy:`` section of a monitor spec)::

    policy:
      rules:
        - name: dataset-drift
          metric: drift.share
          direction: above
          threshold: 0.5
          clear: 0.3                  # once firing, stays firing until the share is <= 0.3
          persistence: {breaches: 2, windows: 3}
          severity: high
          action: retrain
        - name: accuracy-drop
          metric: quality.accuracy
          direction: below
          threshold: {delta: -0.05}   # the champion's accuracy minus 0.05
          severity: critical
          action: rollback
        - name: income-drift
          metric: drift.score
          column: income
          direction: above
          threshold: {window: 14, k: 3, min_history: 7}   # mean + 3 std of the last 14 windows
          cooldown: 3d
          action: alert
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitoring_lib.policy.pooling import pool_statistics
from monitoring_lib.policy.sequential import evaluate_sequential
from monitoring_lib.policy.thresholds import (
    Level,
    PooledKey,
    WindowMetrics,
    beyond,
    recent_breaches,
    shown_number,
    shown_time,
    subject,
    threshold_level,
    usable_value,
)
from monitoring_lib.policy.verdicts import (
    Evaluation,
    RuleResult,
    RuleState,
    SequentialState,
    cooldown_hold,
    no_verdict,
)
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.base import Decision
from monitoring_lib.spec.policy import Direction, MetricKey, PolicySpec, Rule
from monitoring_lib.spec.thresholds import CusumThreshold

__all__ = [
    "Baseline", "Evaluation", "RuleResult", "RuleState", "SequentialState", "advance_state",
    "evaluate", "evaluate_rule", "replay",
]  # fmt: skip


@dataclass(frozen=True)
class _Verdict:
    breached: bool
    breaches: int
    """Breaching windows among the last ``persistence.windows``, this one included."""
    cleared: bool
    starts: bool
    since: datetime | None
    """When the firing began; None when the rule is not firing after this window."""


def _transition(
    rule: Rule,
    previous: RuleState,
    window_start: datetime,
    value: float,
    trigger: float,
    clear_at: float,
    earlier_breaches: int,
) -> _Verdict:
    """Firing starts on a persistent breach and lasts until the value is back past ``clear_at``."""
    breached = beyond(rule.direction, value, trigger)
    breaches = int(breached) + earlier_breaches
    back = value <= clear_at if rule.direction is Direction.ABOVE else value >= clear_at
    cleared = previous.firing and back
    starts = not previous.firing and breached and breaches >= rule.persistence.breaches
    since = window_start if starts else (None if cleared else previous.firing_since)
    return _Verdict(breached, breaches, cleared, starts, since)


def evaluate_rule(
    rule: Rule,
    policy: PolicySpec,
    *,
    window_start: datetime,
    current: Mapping[MetricKey, MetricRecord],
    history: Sequence[WindowMetrics],
    baseline: Mapping[str, float],
    state: Mapping[str, RuleState],
    pooled: Mapping[PooledKey, MetricRecord] | None = None,
    baseline_version: int | None = None,
) -> RuleResult:
    """One rule's verdict on the window starting at ``window_start``; ``pooled`` holds the
    window's pooled values, ``baseline_version`` the champion whose ``baseline`` it is."""
    previous = state.get(rule.name, RuleState())
    record = WindowMetrics(window_start, current, pooled or {}).record_for(rule)
    if isinstance(rule.threshold, CusumThreshold):
        return evaluate_sequential(
            rule, policy, window_start=window_start, record=record, previous=previous,
            state=state, baseline=baseline, baseline_version=baseline_version,
        )  # fmt: skip
    result = _threshold_rule(rule, policy, window_start, record, history, baseline, state)
    if rule.pool is None or record is None:
        return result
    return replace(result, statistics=pool_statistics(rule, record))


def _threshold_rule(
    rule: Rule,
    policy: PolicySpec,
    window_start: datetime,
    record: MetricRecord | None,
    history: Sequence[WindowMetrics],
    baseline: Mapping[str, float],
    state: Mapping[str, RuleState],
) -> RuleResult:
    """A rule with an absolute, baseline or learned threshold (and persistence, hysteresis)."""
    previous = state.get(rule.name, RuleState())
    value, missing = usable_value(record)
    if value is None:
        return no_verdict(rule, previous, None, f"{subject(rule)} {missing}")
    trigger = threshold_level(rule.threshold, rule, history, baseline, window_start)
    if trigger.value is None:
        return no_verdict(rule, previous, value, trigger.text)
    clear = (
        threshold_level(rule.clear, rule, history, baseline, window_start).value
        if rule.clear is not None
        else None
    )
    # A clearing threshold past the trigger would clear a rule that still breaches: cap it.
    bound = min if rule.direction is Direction.ABOVE else max
    clear_at = bound(trigger.value, trigger.value if clear is None else clear)
    earlier = recent_breaches(rule, history, baseline)
    verdict = _transition(rule, previous, window_start, value, trigger.value, clear_at, earlier)
    firing = verdict.since is not None
    hold = cooldown_hold(rule, policy, window_start, previous, state) if firing else None
    text = _observation(rule, value, trigger, verdict.breached, verdict.breaches)
    text += _outcome(rule, verdict, previous, hold, clear_at)
    return RuleResult(
        rule=rule.name,
        key=rule.key,
        value=value,
        threshold=trigger.value,
        clear_threshold=clear_at,
        breached=verdict.breached,
        firing=firing,
        cleared=verdict.cleared,
        in_cooldown=hold is not None,
        severity=rule.severity,
        action=rule.action,
        decision=rule.action if firing and hold is None else Decision.NONE,
        firing_since=verdict.since,
        reason=f"[{rule.severity}] {rule.name}: {text}",
    )


def _observation(rule: Rule, value: float, trigger: Level, breached: bool, breaches: int) -> str:
    side = rule.direction.value if breached else f"not {rule.direction.value}"
    text = f"{subject(rule)} is {shown_number(value)}, {side} {trigger.text}"
    needed = rule.persistence
    if breached and needed.windows > 1:
        text += (
            f"; {breaches} of the last {needed.windows} windows breached ({needed.breaches} needed)"
        )
    return text


def _outcome(
    rule: Rule,
    verdict: _Verdict,
    previous: RuleState,
    hold: str | None,
    clear_at: float,
) -> str:
    """What the verdict means: fired, still firing, cleared, held back or nothing."""
    side = "below" if rule.direction is Direction.ABOVE else "above"
    if verdict.cleared and previous.firing_since is not None:
        since = shown_time(previous.firing_since)
        level = shown_number(clear_at)
        return f"; at or {side} the clearing level {level}: cleared (firing since {since})"
    if verdict.since is None:
        return ""
    state = "fires" if verdict.starts else f"still firing since {shown_time(verdict.since)}"
    if not verdict.breached:
        state += f" (it clears at or {side} {shown_number(clear_at)})"
    if rule.action is Decision.NONE:
        return f"; {state}; no action configured"
    if hold is not None:
        return f"; {state}; {rule.action} {hold}"
    return f"; {state} -> {rule.action}"


def _supersede(results: list[RuleResult], decision: Decision) -> list[RuleResult]:
    """A retrain in a window that rolls back is not carried out; say so, and do not count it."""
    if decision is not Decision.ROLLBACK:
        return results
    return [
        replace(r, decision=Decision.NONE, reason=f"{r.reason} (superseded by the rollback)")
        if r.decision is Decision.RETRAIN
        else r
        for r in results
    ]


def evaluate(
    policy: PolicySpec,
    *,
    window_start: datetime,
    current: Mapping[MetricKey, MetricRecord],
    history: Sequence[WindowMetrics],
    baseline: Mapping[str, float],
    state: Mapping[str, RuleState],
    pooled: Mapping[PooledKey, MetricRecord] | None = None,
    baseline_version: int | None = None,
) -> Evaluation:
    """The policy's verdict on one window; ``history`` holds the windows before it, oldest first.

    ``baseline`` is the champion's (version ``baseline_version``); ``pooled`` the window's
    pooled values for rules with a ``pool``.
    """
    if window_start.tzinfo is None:
        raise ValueError("window_start must be timezone-aware")
    results = [
        evaluate_rule(
            rule,
            policy,
            window_start=window_start,
            current=current,
            history=history,
            baseline=baseline,
            state=state,
            pooled=pooled,
            baseline_version=baseline_version,
        )
        for rule in policy.rules
    ]
    decision = max((r.decision for r in results), default=Decision.NONE)
    results = _supersede(results, decision)
    reasons = [r.reason for r in results if r.firing or r.cleared]
    if not reasons:
        silent = sum(r.threshold is None for r in results)
        without = f", {silent} without data" if silent else ""
        reasons = [f"no rule fired ({len(results)} checked{without})"]
    return Evaluation(
        window_start=window_start,
        decision=decision,
        severity=max((r.severity for r in results if r.firing), default=None),
        results=tuple(results),
        reasons=tuple(reasons),
        baseline_version=baseline_version,
    )


def advance_state(state: Mapping[str, RuleState], evaluation: Evaluation) -> dict[str, RuleState]:
    """The rule states after ``evaluation``: the next window's ``state``."""
    after = dict(state)
    for result in evaluation.results:
        before = state.get(result.rule, RuleState())
        acted = result.decision is not Decision.NONE
        after[result.rule] = RuleState(
            firing_since=result.firing_since,
            last_action_at=evaluation.window_start if acted else before.last_action_at,
            last_action=result.decision if acted else before.last_action,
            last_severity=result.severity if acted else before.last_severity,
            sequential=result.sequential,
        )
    return after


@dataclass(frozen=True)
class Baseline:
    """A champion's baseline metrics and its version (None: no champion)."""

    metrics: Mapping[str, float]
    version: int | None = None


def needed_history(
    policy: PolicySpec, seen: Sequence[WindowMetrics], window_start: datetime
) -> list[WindowMetrics]:
    """The windows of ``seen`` (oldest first) the policy reads for the next window: the last
    ``history_windows`` and those within ``history_span`` (seasonal thresholds)."""
    first = max(0, len(seen) - policy.history_windows)
    since = window_start - policy.history_span
    return [w for i, w in enumerate(seen) if i >= first or w.window_start >= since]


def replay(
    policy: PolicySpec,
    windows: Sequence[WindowMetrics],
    *,
    baseline: Mapping[str, float] | Sequence[Baseline],
    earlier: Sequence[WindowMetrics] = (),
    state: Mapping[str, RuleState] | None = None,
) -> list[Evaluation]:
    """Evaluate ``windows`` in order, each seeing the ones before it and the state they left.

    ``baseline`` is one champion's metrics for every window, or each window's own ``Baseline``
    (the champion in force then); ``earlier`` holds the windows before the first (for learned
    thresholds and persistence); ``state`` the rule states before it (default: nothing firing,
    no past actions).
    """
    if isinstance(baseline, Mapping):
        baselines: Sequence[Baseline] = [Baseline(baseline)] * len(windows)
    elif len(baseline) != len(windows):
        raise ValueError(f"{len(baseline)} baselines for {len(windows)} windows")
    else:
        baselines = baseline
    seen = [*earlier]
    current_state: Mapping[str, RuleState] = state or {}
    evaluations = []
    for window, champion in zip(windows, baselines, strict=True):
        history = needed_history(policy, seen, window.window_start)
        evaluation = evaluate(
            policy,
            window_start=window.window_start,
            current=window.records,
            history=history,
            baseline=champion.metrics,
            state=current_state,
            pooled=window.pooled,
            baseline_version=champion.version,
        )
        evaluations.append(evaluation)
        current_state = advance_state(current_state, evaluation)
        seen.append(window)
    return evaluations
