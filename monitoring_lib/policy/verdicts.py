"""What the policy says about a window: each rule's verdict and state, the overall decision, and
the two verdicts every kind of rule shares (held back by a cooldown, no data to judge).

Kept apart from the evaluation itself (``rules``, ``sequential``) so that every kind of rule
builds the same results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitoring_lib.durations import format_duration
from monitoring_lib.policy.cusum import CusumState
from monitoring_lib.policy.thresholds import shown_time
from monitoring_lib.spec.base import Decision, Severity
from monitoring_lib.spec.policy import MetricKey, PolicySpec, Rule


@dataclass(frozen=True)
class SequentialState:
    """A CUSUM rule's memory: its statistic, and the champion version it accumulated against."""

    cusum: CusumState = field(default_factory=CusumState)
    champion: int | None = None


@dataclass(frozen=True)
class RuleState:
    """What the previous evaluations tell about one rule."""

    firing_since: datetime | None = None
    """Start of the window the current firing began in; None when not firing."""
    last_action_at: datetime | None = None
    """Start of the last window in which the rule acted (alert, retrain or rollback)."""
    last_action: Decision = Decision.NONE
    last_severity: Severity | None = None
    """The severity the rule last acted with."""
    sequential: SequentialState | None = None
    """A CUSUM rule's statistic after its last evaluated window; None for other rules."""

    @property
    def firing(self) -> bool:
        return self.firing_since is not None


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict on one window, with a reason a person can read in Slack."""

    rule: str
    key: MetricKey
    value: float | None
    threshold: float | None
    clear_threshold: float | None
    breached: bool
    firing: bool
    cleared: bool
    in_cooldown: bool
    severity: Severity
    action: Decision
    """The action the rule names."""
    decision: Decision
    """The action it takes in this window (NONE when held back, not firing or superseded)."""
    firing_since: datetime | None
    reason: str
    statistics: Mapping[str, Any] = field(default_factory=dict)
    """What a CUSUM or pooled rule computed beyond its value (statistic, pooled rows, ...)."""
    sequential: SequentialState | None = None
    """A CUSUM rule's state after this window (stored, and read by the next window)."""


@dataclass(frozen=True)
class Evaluation:
    """The policy's verdict on one window: the strongest rule decision, and why."""

    window_start: datetime
    decision: Decision
    severity: Severity | None
    """The highest severity among firing rules; None when nothing fires."""
    results: tuple[RuleResult, ...]
    reasons: tuple[str, ...]
    baseline_version: int | None = None
    """The champion version whose baseline relative and CUSUM rules compared with."""

    def result(self, rule: str) -> RuleResult:
        return next(r for r in self.results if r.rule == rule)


def cooldown_hold(
    rule: Rule,
    policy: PolicySpec,
    window_start: datetime,
    previous: RuleState,
    state: Mapping[str, RuleState],
) -> str | None:
    """Why a firing rule may not act in this window, if a cooldown holds it back."""
    own = rule.cooldown if rule.cooldown is not None else policy.cooldown
    last = previous.last_action_at
    if last is not None and window_start < last + own:
        return (
            f"held back: this rule last acted ({previous.last_action}) at {shown_time(last)} and "
            f"its cooldown of {format_duration(own)} runs until {shown_time(last + own)}"
        )
    model_wide = {
        Decision.RETRAIN: policy.retrain_cooldown,
        Decision.ROLLBACK: policy.rollback_cooldown,
    }
    if rule.action not in model_wide:
        return None
    times = [s.last_action_at for s in state.values() if s.last_action is rule.action]
    last = max((t for t in times if t is not None), default=None)
    limit = model_wide[rule.action]
    if last is not None and window_start < last + limit:
        return (
            f"held back: the model's last {rule.action} was at {shown_time(last)} and the "
            f"{rule.action} cooldown of {format_duration(limit)} runs until "
            f"{shown_time(last + limit)}"
        )
    return None


def no_verdict(rule: Rule, previous: RuleState, value: float | None, why: str) -> RuleResult:
    """A window that tells nothing about the rule: the firing state carries over unchanged."""
    carry = (
        f"; still firing since {shown_time(previous.firing_since)}" if previous.firing_since else ""
    )
    return RuleResult(
        rule=rule.name,
        key=rule.key,
        value=value,
        threshold=None,
        clear_threshold=None,
        breached=False,
        firing=previous.firing,
        cleared=False,
        in_cooldown=False,
        severity=rule.severity,
        action=rule.action,
        decision=Decision.NONE,
        firing_since=previous.firing_since,
        reason=f"[{rule.severity}] {rule.name}: no data: {why}; it neither fires nor clears{carry}",
    )
