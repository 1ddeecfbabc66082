"""The policy and the metric store: read history, baseline and rule states; write evaluations.

Functions take a Session and the caller owns the transaction, so a window's evaluation commits (or
not) with the rest of that window. Windows are the ones the runs table knows, oldest first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.orm import Session

from monitoring_lib.policy.rules import Evaluation, RuleResult, RuleState, evaluate, replay
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.base import Decision, Severity
from monitoring_lib.spec.policy import MetricKey, PolicySpec
from monitoring_lib.store.models import (
    MetricRow,
    ModelAlias,
    ModelVersion,
    PolicyEvaluation,
    Run,
    utcnow,
)
from monitoring_lib.store.repository import record_of, require_model_id

OVERALL = ""
"""The ``rule`` of the row holding a window's overall decision."""

CHAMPION = "champion"


def stored_window_starts(
    session: Session,
    model: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    last: int | None = None,
) -> list[datetime]:
    """Starts of the model's stored windows in [start, end), oldest first (only the ``last``)."""
    query = select(Run.window_start).where(Run.model_id == model)
    if start is not None:
        query = query.where(Run.window_start >= start)
    if end is not None:
        query = query.where(Run.window_start < end)
    query = query.order_by(Run.window_start.desc())
    if last is not None:
        query = query.limit(last)
    return sorted(session.execute(query).scalars())


def policy_windows(
    session: Session, model: int, keys: set[MetricKey], starts: Sequence[datetime]
) -> list[WindowMetrics]:
    """The stored records of ``keys`` in each window of ``starts`` (a window may have none)."""
    found: dict[datetime, list[MetricRecord]] = defaultdict(list)
    if keys and starts:
        key_columns = tuple_(MetricRow.metric, MetricRow.column_name, MetricRow.segment)
        query = select(MetricRow).where(
            MetricRow.model_id == model,
            MetricRow.window_start.in_(starts),
            key_columns.in_(sorted(keys)),
        )
        for row in session.execute(query).scalars():
            found[row.window_start].append(record_of(row))
    return [WindowMetrics.of(start, found[start]) for start in sorted(starts)]


def metric_history(
    session: Session, model: int, policy: PolicySpec, window_start: datetime
) -> list[WindowMetrics]:
    """The stored windows before ``window_start`` that the policy needs, oldest first."""
    if policy.history_windows == 0:
        return []
    starts = stored_window_starts(session, model, end=window_start, last=policy.history_windows)
    return policy_windows(session, model, policy.metric_keys, starts)


def champion_baseline(session: Session, model: int) -> dict[str, float]:
    """The metrics recorded with the version the 'champion' alias points to; {} without one."""
    query = (
        select(ModelVersion.metrics)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.model_id == model, ModelAlias.alias == CHAMPION)
    )
    metrics: dict[str, Any] = session.execute(query).scalar_one_or_none() or {}
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _latest_rows(session: Session, model: int, before: datetime, *, acted: bool) -> list[Any]:
    """Each rule's latest evaluation row before ``before`` (only rows that acted, if ``acted``)."""
    conditions = [
        PolicyEvaluation.model_id == model,
        PolicyEvaluation.window_start < before,
        PolicyEvaluation.rule != OVERALL,
    ]
    if acted:
        conditions.append(PolicyEvaluation.decision != Decision.NONE.value)
    latest = (
        select(PolicyEvaluation.rule, func.max(PolicyEvaluation.window_start).label("at"))
        .where(*conditions)
        .group_by(PolicyEvaluation.rule)
        .subquery()
    )
    query = select(PolicyEvaluation).join(
        latest,
        and_(
            PolicyEvaluation.model_id == model,
            PolicyEvaluation.rule == latest.c.rule,
            PolicyEvaluation.window_start == latest.c.at,
        ),
    )
    return list(session.execute(query).scalars())


def previous_states(session: Session, model: int, before: datetime) -> dict[str, RuleState]:
    """What the stored evaluations before ``before`` tell about each rule."""
    firing = {
        row.rule: row.firing_since for row in _latest_rows(session, model, before, acted=False)
    }
    acted = {row.rule: row for row in _latest_rows(session, model, before, acted=True)}
    states = {}
    for rule in firing.keys() | acted.keys():
        action = acted.get(rule)
        states[rule] = RuleState(
            firing_since=firing.get(rule),
            last_action_at=action.window_start if action else None,
            last_action=Decision(action.decision) if action else Decision.NONE,
            last_severity=Severity(action.severity) if action and action.severity else None,
        )
    return states


def _rule_row(result: RuleResult) -> dict[str, Any]:
    metric, column, segment = result.key
    return {
        "rule": result.rule,
        "metric": metric,
        "column_name": column,
        "segment": segment,
        "value": result.value,
        "threshold": result.threshold,
        "breached": result.breached,
        "firing": result.firing,
        "cleared": result.cleared,
        "in_cooldown": result.in_cooldown,
        "firing_since": result.firing_since,
        "decision": result.decision.value,
        "severity": result.severity.value,
        "action": result.action.value,
        "reasons": [result.reason],
    }


def _overall_row(evaluation: Evaluation) -> dict[str, Any]:
    results = evaluation.results
    return {
        "rule": OVERALL,
        "metric": "",
        "column_name": "",
        "segment": "",
        "value": None,
        "threshold": None,
        "breached": any(r.breached for r in results),
        "firing": any(r.firing for r in results),
        "cleared": any(r.cleared for r in results),
        "in_cooldown": any(r.in_cooldown for r in results),
        "firing_since": None,
        "decision": evaluation.decision.value,
        "severity": evaluation.severity.value if evaluation.severity else None,
        "action": evaluation.decision.value,
        "reasons": list(evaluation.reasons),
    }


def write_evaluation(
    session: Session, model: int, evaluation: Evaluation, *, evaluated_at: datetime | None = None
) -> None:
    """Replace the window's stored evaluation: one row per rule and one overall row."""
    session.execute(
        delete(PolicyEvaluation).where(
            PolicyEvaluation.model_id == model,
            PolicyEvaluation.window_start == evaluation.window_start,
        )
    )
    at = evaluated_at or utcnow()
    rows = [_rule_row(result) for result in evaluation.results] + [_overall_row(evaluation)]
    for row in rows:
        session.add(
            PolicyEvaluation(
                model_id=model, window_start=evaluation.window_start, evaluated_at=at, **row
            )
        )
    session.flush()


def decide_stored_window(
    session: Session, model_name: str, policy: PolicySpec, window_start: datetime
) -> Evaluation:
    """Evaluate one stored window against the policy and record the evaluation (no commit)."""
    model = require_model_id(session, model_name)
    current = policy_windows(session, model, policy.metric_keys, [window_start])[0]
    evaluation = evaluate(
        policy,
        window_start=window_start,
        current=current.records,
        history=metric_history(session, model, policy, window_start),
        baseline=champion_baseline(session, model),
        state=previous_states(session, model, window_start),
    )
    write_evaluation(session, model, evaluation)
    return evaluation


def replay_policy(
    session: Session,
    model_name: str,
    policy: PolicySpec,
    start: datetime,
    end: datetime,
    *,
    initial_state: Mapping[str, RuleState] | None = None,
) -> list[Evaluation]:
    """What the policy would have decided for each stored window in [start, end); writes nothing.

    Each window sees the ones before it (also those before ``start``, for learned thresholds and
    persistence), today's champion baseline, and the state its predecessors in the replay left,
    starting from ``initial_state`` (default: nothing firing, no past actions).
    """
    model = require_model_id(session, model_name)
    targets = stored_window_starts(session, model, start=start, end=end)
    lead = policy.history_windows
    earlier = stored_window_starts(session, model, end=start, last=lead) if lead else []
    windows = policy_windows(session, model, policy.metric_keys, [*earlier, *targets])
    return replay(
        policy,
        windows[len(earlier) :],
        baseline=champion_baseline(session, model),
        earlier=windows[: len(earlier)],
        state=initial_state,
    )
