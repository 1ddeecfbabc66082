"""A CUSUM rule, window by window: the metric standardised by its standard error against the
champion's baseline and accumulated (``policy.cusum``). It fires when the statistic exceeds
``h``, clears when it falls back to ``clear``, and starts afresh under a new champion.

The state each window leaves is stored with its evaluation (``statistics``) and read back by the
next one, so a live run, a rerun and a replay continue from the same statistic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from monitoring_lib.metrics.quality.intervals import QualityValue
from monitoring_lib.policy.cusum import CusumSpec, CusumState, CusumStep, cusum_update
from monitoring_lib.policy.thresholds import (
    baseline_name,
    shown_number,
    shown_time,
    subject,
    usable_value,
)
from monitoring_lib.policy.verdicts import (
    RuleResult,
    RuleState,
    SequentialState,
    cooldown_hold,
    no_verdict,
)
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.base import Decision
from monitoring_lib.spec.policy import PolicySpec, Rule
from monitoring_lib.spec.thresholds import CusumThreshold


def standard_error(record: MetricRecord, baseline: float) -> float | None:
    """The value's standard error as stored in its details; for a proportion (Wilson), the
    error it would have at the baseline, steadier than its own (``QualityValue.se_at``)."""
    details = record.details
    se, rows = details.get("se"), details.get("denominator_rows")
    if not isinstance(rows, int | float) or record.value is None:
        return None
    method = str(details.get("ci_method", ""))
    value = QualityValue(
        record.metric, record.column, record.value, se if isinstance(se, int | float) else None,
        None, None, float(rows), method, 0.95, proportion=method == "wilson",
    )  # fmt: skip
    at = value.se_at(baseline)
    return at if at is not None and math.isfinite(at) and at > 0 else None


def statistics(spec: CusumThreshold, memory: SequentialState, **extra: Any) -> dict[str, Any]:
    """What the evaluation row keeps: the state the next window continues from, and why."""
    state = memory.cusum
    return {
        "kind": "cusum",
        "statistic": state.statistic,
        "rising": state.rising,
        "firing": state.firing,
        "champion_version": memory.champion,
        "k": spec.k,
        "h": spec.h,
        "clear": CusumSpec(spec.k, spec.h, spec.clear).clear_level,
        **extra,
    }


def memory_of(data: Any) -> SequentialState | None:
    """The state stored by ``statistics`` (None when the row holds none)."""
    if not isinstance(data, dict) or data.get("kind") != "cusum":
        return None
    state = CusumState(
        float(data.get("statistic", 0.0)), int(data.get("rising", 0)), bool(data.get("firing"))
    )
    champion = data.get("champion_version")
    return SequentialState(state, int(champion) if champion is not None else None)


def _carried(rule: Rule, previous: RuleState, value: float | None, why: str) -> RuleResult:
    """No verdict: the statistic carries over, and is stored again for the next window."""
    spec = rule.threshold
    assert isinstance(spec, CusumThreshold)
    memory = previous.sequential or SequentialState()
    result = no_verdict(rule, previous, value, why)
    return replace(result, statistics=statistics(spec, memory), sequential=memory)


def evaluate_sequential(
    rule: Rule,
    policy: PolicySpec,
    *,
    window_start: datetime,
    record: MetricRecord | None,
    previous: RuleState,
    state: Mapping[str, RuleState],
    baseline: Mapping[str, float],
    baseline_version: int | None,
) -> RuleResult:
    """One CUSUM rule's verdict on one window."""
    spec = rule.threshold
    assert isinstance(spec, CusumThreshold)
    value, missing = usable_value(record)
    if value is None or record is None:
        return _carried(rule, previous, None, f"{subject(rule)} {missing}")
    name = spec.baseline_metric or baseline_name(rule.metric)
    base = baseline.get(name)
    if base is None or not math.isfinite(base):
        return _carried(rule, previous, value, f"no champion baseline for {name}")
    se = standard_error(record, base)
    if se is None:
        return _carried(rule, previous, value, f"{subject(rule)} has no standard error stored")
    memory = previous.sequential
    fresh = memory is None or memory.champion != baseline_version
    start = CusumState() if memory is None or fresh else memory.cusum
    step = cusum_update(
        start, value, baseline=base, se=se, direction=rule.direction.value,
        spec=CusumSpec(spec.k, spec.h, spec.clear),
    )  # fmt: skip
    after = SequentialState(step.state, baseline_version)
    was_firing = previous.firing and not fresh
    firing = step.state.firing
    since = window_start if step.fired else (previous.firing_since or window_start)
    hold = cooldown_hold(rule, policy, window_start, previous, state) if firing else None
    text = _observation(rule, value, base, se, step, spec)
    text += _outcome(rule, step, hold, was_firing, previous, fresh and memory is not None)
    return RuleResult(
        rule=rule.name,
        key=rule.key,
        value=value,
        threshold=base,
        clear_threshold=None,
        breached=firing,
        firing=firing,
        cleared=step.cleared or (fresh and previous.firing),
        in_cooldown=hold is not None,
        severity=rule.severity,
        action=rule.action,
        decision=rule.action if firing and hold is None else Decision.NONE,
        firing_since=since if firing else None,
        reason=f"[{rule.severity}] {rule.name}: {text}",
        statistics=statistics(spec, after, z=step.z, se=se, baseline=base, baseline_metric=name),
        sequential=after,
    )


def _observation(
    rule: Rule, value: float, base: float, se: float, step: CusumStep, spec: CusumThreshold
) -> str:
    z = step.z or 0.0
    side = "worse" if z > 0 else "better"
    text = (
        f"{subject(rule)} is {shown_number(value)}, {shown_number(abs(z))} standard errors "
        f"{side} than the champion's {shown_number(base)} (se {shown_number(se)}); "
        f"CUSUM {shown_number(step.state.statistic)} of h {shown_number(spec.h)} "
        f"(k {shown_number(spec.k)})"
    )
    if step.state.rising > 1 and step.state.statistic > 0:
        text += f", rising for {step.state.rising} windows"
    return text


def _outcome(
    rule: Rule,
    step: CusumStep,
    hold: str | None,
    was_firing: bool,
    previous: RuleState,
    new_champion: bool,
) -> str:
    if new_champion:
        prefix = "; a new champion: the CUSUM started afresh"
        if previous.firing_since is not None:
            prefix += f" (was firing since {shown_time(previous.firing_since)})"
    else:
        prefix = ""
    if step.cleared:
        return f"{prefix}; back to the clearing level: cleared, the statistic restarts at 0"
    if not step.state.firing:
        return prefix
    state = "fires" if step.fired else "still firing"
    if was_firing and previous.firing_since is not None:
        state = f"still firing since {shown_time(previous.firing_since)}"
    if rule.action is Decision.NONE:
        return f"{prefix}; {state}; no action configured"
    if hold is not None:
        return f"{prefix}; {state}; {rule.action} {hold}"
    return f"{prefix}; {state} -> {rule.action}"
