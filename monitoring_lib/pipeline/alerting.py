"""From the policy's verdict to what alerts say: breaches that fire, rules that cleared, and
notices no metric rule raised (a rollback with no good version to go back to)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from monitoring_lib.alerts.outbox import previous_alert_states
from monitoring_lib.alerts.planning import AlertContext, Breach, DriftedColumn, plan_alerts
from monitoring_lib.policy.rules import Evaluation
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Decision, Severity
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.store.repository import AlertDraft, enqueue_alerts, ensure_model
from monitoring_lib.windows import Window


def alert_breaches(policy: PolicySpec, evaluation: Evaluation) -> tuple[list[Breach], set[str]]:
    """Firing rules that name an action (action 'none' only records), and the cleared rules."""
    directions = {rule.name: rule.direction.value for rule in policy.rules}
    firing = [
        Breach(
            rule=result.rule,
            metric=result.key[0],
            column=result.key[1],
            segment=result.key[2],
            value=result.value,
            threshold=result.threshold,
            severity=result.severity,
            direction=directions.get(result.rule, "above"),  # type: ignore[arg-type]
        )
        for result in evaluation.results
        if result.firing and result.action is not Decision.NONE
    ]
    cleared = {result.rule for result in evaluation.results if result.cleared}
    return firing, cleared


def top_drifted(records: Sequence[MetricRecord], limit: int = 5) -> tuple[DriftedColumn, ...]:
    """The most drifted columns, strongest effect first, for the alert message."""
    drifted = [
        r
        for r in records
        if r.metric == Metric.DRIFT_SCORE and r.segment == "" and r.status is MetricStatus.DRIFT
    ]
    drifted.sort(key=lambda r: -float(r.details.get("effect_size") or 0.0))
    return tuple(
        DriftedColumn(
            r.column, r.details.get("effect_size") or r.value, str(r.details.get("method", ""))
        )
        for r in drifted[:limit]
    )


def alert_context(
    model: str,
    window: Window,
    evaluation: Evaluation,
    records: Sequence[MetricRecord],
    *,
    run_url: str | None,
    report_url: str | None,
) -> AlertContext:
    return AlertContext(
        model=model,
        window_start=window.start,
        window_label=window.label,
        decision=evaluation.decision.value,
        top_drifted=top_drifted(records),
        prefect_run_url=run_url,
        report_url=report_url,
    )


def queue_breach_alerts(
    session: Session,
    spec: MonitorSpec,
    model: int,
    name: str,
    window: Window,
    verdict: Evaluation,
    records: Sequence[MetricRecord],
    *,
    policy: PolicySpec,
    run_url: str | None = None,
    report_url: str | None = None,
) -> list[AlertDraft]:
    """Queue what the window's verdict raises (firing and resolved rules, after the channels'
    cooldowns), under ``model`` (a roll-up's own models row for a week or month)."""
    firing, cleared = alert_breaches(policy, verdict)
    context = alert_context(name, window, verdict, records, run_url=run_url, report_url=report_url)
    previous = previous_alert_states(session, model, window.start)
    drafts = plan_alerts(context, firing, cleared, previous, spec.alerts)
    enqueue_alerts(session, model, window, drafts)
    return drafts


def queue_critical_notice(
    session: Session, spec: MonitorSpec, rule: str, reason: str, now: datetime
) -> int:
    """Queue a critical alert that no metric rule raised; how many outbox rows it added."""
    if not spec.alerts.channels:
        return 0
    breach = Breach(
        rule=rule, metric=reason[:200], value=None, threshold=None, severity=Severity.CRITICAL
    )
    model = ensure_model(session, spec.name, spec.task.value)
    context = AlertContext(
        model=spec.name,
        window_start=now,
        window_label=now.strftime("%Y-%m-%d %H:%M %Z"),
        decision=rule,
    )
    previous = previous_alert_states(session, model, now)
    drafts = plan_alerts(context, [breach], set(), previous, spec.alerts)
    enqueue_alerts(session, model, None, drafts)
    return len(drafts)
