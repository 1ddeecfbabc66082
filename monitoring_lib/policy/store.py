"""The policy and the metric store: read history, baseline and rule states; write evaluations.

Functions take a Session and the caller owns the transaction, so a window's evaluation commits (or
not) with the rest of that window. Windows are the ones the runs table knows, oldest first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.orm import Session

from monitoring_lib.policy.burn_rate import with_burn_rates
from monitoring_lib.policy.champions import (
    ChampionPeriod,
    champion_at,
    champion_periods,
    numeric_metrics,
)
from monitoring_lib.policy.pooled_store import with_pooled
from monitoring_lib.policy.rules import Evaluation, RuleResult, RuleState, evaluate, replay
from monitoring_lib.policy.sequential import memory_of
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.base import Decision, Severity
from monitoring_lib.spec.policy import MetricKey, PolicySpec
from monitoring_lib.store.models import (
    WINDOW,
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


def with_spans(
    session: Session, model: int, policy: PolicySpec, windows: Sequence[WindowMetrics]
) -> list[WindowMetrics]:
    """``windows`` with what rules over spans read: pooled quality and SLO burn rates."""
    return with_burn_rates(session, model, policy, with_pooled(session, model, policy, windows))


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
    return policy_windows(
        session, model, policy.metric_keys, history_starts(session, model, policy, window_start)
    )


def history_starts(
    session: Session, model: int, policy: PolicySpec, window_start: datetime
) -> list[datetime]:
    """Starts of the stored windows before ``window_start`` the policy reads: the last
    ``history_windows`` and, for seasonal thresholds, every one within ``history_span``."""
    last = policy.history_windows
    starts = (
        set(stored_window_starts(session, model, end=window_start, last=last)) if last else set()
    )
    if policy.history_span:
        since = window_start - policy.history_span
        starts.update(stored_window_starts(session, model, start=since, end=window_start))
    return sorted(starts)


def champion_baseline(session: Session, model: int) -> dict[str, float]:
    """The metrics recorded with the version the 'champion' alias points to; {} without one."""
    query = (
        select(ModelVersion.metrics)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.model_id == model, ModelAlias.alias == CHAMPION)
    )
    return numeric_metrics(session.execute(query).scalar_one_or_none())


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
    latest = {row.rule: row for row in _latest_rows(session, model, before, acted=False)}
    acted = {row.rule: row for row in _latest_rows(session, model, before, acted=True)}
    states = {}
    for rule in latest.keys() | acted.keys():
        action, last = acted.get(rule), latest.get(rule)
        states[rule] = RuleState(
            firing_since=last.firing_since if last else None,
            last_action_at=action.window_start if action else None,
            last_action=Decision(action.decision) if action else Decision.NONE,
            last_severity=Severity(action.severity) if action and action.severity else None,
            sequential=memory_of(last.statistics) if last else None,
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
        "statistics": dict(result.statistics) or None,
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
        "statistics": {"champion_version": evaluation.baseline_version},
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


def window_ends(
    session: Session, model: int, starts: Sequence[datetime]
) -> dict[datetime, datetime]:
    query = select(Run.window_start, Run.window_end).where(
        Run.model_id == model, Run.window_start.in_(list(starts))
    )
    return {start: end for start, end in session.execute(query)}


def champion_in_force(session: Session, model: int, window_start: datetime) -> ChampionPeriod:
    """The champion whose baseline a stored window is judged against (``champions``)."""
    end = window_ends(session, model, [window_start]).get(window_start, window_start)
    return champion_at(champion_periods(session, model), end)


def decide_stored_window(
    session: Session,
    model_name: str,
    policy: PolicySpec,
    window_start: datetime,
    *,
    granularity: str = WINDOW,
) -> Evaluation:
    """Evaluate one stored window against the policy and record the evaluation (no commit).

    Relative and CUSUM rules compare with the champion in force at the window (for a new
    window, today's); pooled rules read the stored quality counts of their span. Only the rules
    of ``granularity`` judge it (a roll-up's ``model_name`` is ``<model>@week``).
    """
    policy = policy.at(granularity)
    model = require_model_id(session, model_name)
    current = with_spans(
        session, model, policy, policy_windows(session, model, policy.metric_keys, [window_start])
    )[0]
    champion = champion_in_force(session, model, window_start)
    evaluation = evaluate(
        policy,
        window_start=window_start,
        current=current.records,
        history=with_spans(
            session, model, policy, metric_history(session, model, policy, window_start)
        ),
        baseline=champion.metrics,
        state=previous_states(session, model, window_start),
        pooled=current.pooled,
        baseline_version=champion.version,
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
    granularity: str = WINDOW,
) -> list[Evaluation]:
    """What the policy would have decided for each stored window in [start, end); writes nothing.

    Each window sees the ones before it (also those before ``start``, for learned thresholds and
    persistence), the baseline of the champion in force at it (``Evaluation.baseline_version``
    says which), and the state its predecessors in the replay left, starting from
    ``initial_state`` (default: nothing firing, no past actions). Only the rules of
    ``granularity`` are replayed.
    """
    policy = policy.at(granularity)
    model = require_model_id(session, model_name)
    targets = stored_window_starts(session, model, start=start, end=end)
    earlier = history_starts(session, model, policy, start)
    windows = policy_windows(session, model, policy.metric_keys, [*earlier, *targets])
    windows = with_spans(session, model, policy, windows)
    periods = champion_periods(session, model)
    ends = window_ends(session, model, targets)
    return replay(
        policy,
        windows[len(earlier) :],
        baseline=[champion_at(periods, ends.get(t, t)).baseline for t in targets],
        earlier=windows[: len(earlier)],
        state=initial_state,
    )
