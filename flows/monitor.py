"""The daily monitor flow: one window of one model, end to end."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from prefect import flow, runtime
from prefect.states import State
from prefect.utilities.annotations import quote
from pydantic import BaseModel, Field

import driftwise
from flows.form import optional_in_form
from flows.retrain import RetrainParams, retrain_model
from flows.rollback import RollbackParams, rollback_model
from monitoring_lib.observability.logs import configure_logging, log_context
from monitoring_lib.pipeline.distributed import effective_compute
from monitoring_lib.pipeline.streamed import needs_streaming
from monitoring_lib.pipeline.summary import summarize
from monitoring_lib.policy.followup import FollowUp, follow_up, held_back
from monitoring_lib.policy.rules import Evaluation
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import MonitorSpec, load_spec
from monitoring_lib.store.repository import RunInfo
from monitoring_lib.windows import Window, resolve_window
from tasks import timeouts
from tasks.actions import mark_good_task, register_serving_model_task
from tasks.artifacts import degraded_state, publish_artifacts_task
from tasks.monitoring import (
    count_rows_task,
    deliver_alerts_task,
    evaluate_window_on_cluster_task,
    evaluate_window_streamed_task,
    evaluate_window_task,
    fill_rollups_task,
    load_reference_task,
    load_window_task,
    persist_window_task,
    push_metrics_task,
    refresh_labels_task,
)
from tasks.pages import history_page_task, page_links, report_verdict_task
from tasks.run_labels import label_this_run, model_tag, status_tag


class MonitorParams(BaseModel):
    """What one monitor run computes."""

    spec_path: str = Field(
        description="Path of the monitor spec (YAML) on the machine that runs the flow."
    )
    window_date: date | None = Field(
        default=None,
        json_schema_extra=optional_in_form,
        description=(
            "Local start date of the window to compute. "
            "Empty: the last whole window before the run's scheduled time."
        ),
    )
    window_end: datetime | None = Field(
        default=None,
        json_schema_extra=optional_in_form,
        description="End of the window to compute (sub-day windows, backfills); beats window_date.",
    )
    labels_as_of: datetime | None = Field(
        default=None,
        json_schema_extra=optional_in_form,
        description=(
            "Use only labels that had arrived by this time (needs columns.label_timestamp). "
            "Empty: every label present now."
        ),
    )
    write_report: bool = Field(
        default=True, description="Write the Evidently HTML report for the window."
    )
    write_history: bool = Field(
        default=True,
        description=(
            "Regenerate the model's history page after the window (a backfill writes it once, "
            "at its end)."
        ),
    )
    relabel_days: int = Field(
        default=7,
        ge=0,
        le=90,
        description="Rescore quality of the last N days of windows whose labels arrived since.",
    )
    send_alerts: bool = Field(
        default=True, description="Raise and deliver the alerts the policy calls for."
    )
    allow_actions: bool = Field(
        default=True, description="Start retraining or rollback when the policy decides so."
    )
    as_of: datetime | None = Field(
        default=None,
        description=(
            "The run's time: its window is the last whole one before it (unless window_date or "
            "window_end say otherwise), and every decision (cooldowns, the rollback period, "
            "promotions) is made as of it. Empty: labels_as_of, else the window's end when the "
            "window is given, else the run's scheduled time. Never the wall clock."
        ),
        json_schema_extra=optional_in_form,
    )
    use_current_reference: bool = Field(
        default=False,
        description=(
            "Rerun a stored window against today's reference even if it was computed against "
            "another (off: such a rerun is refused, so a past verdict is not silently changed)."
        ),
    )


def window_of(params: MonitorParams, spec: MonitorSpec) -> Window:
    """The run's window: from its parameters, else from its scheduled start time."""
    return resolve_window(
        spec.window.length,
        spec.window.timezone,
        day=params.window_date,
        end=params.window_end,
        scheduled=params.as_of or runtime.flow_run.scheduled_start_time,
    )


def decision_time(params: MonitorParams, window: Window) -> datetime:
    """The time every decision of the run is made as of: the same whether the window runs on
    its schedule, in a backfill, or again a year later (see ``MonitorParams.as_of``)."""
    if params.as_of is not None:
        return params.as_of
    if params.labels_as_of is not None:
        return params.labels_as_of
    if params.window_date is not None or params.window_end is not None:
        return window.end
    return runtime.flow_run.scheduled_start_time or window.end


def _run_name() -> str:
    """'credit-default 2019-04-01': the model and the window the run computes."""
    try:
        params = MonitorParams.model_validate(runtime.flow_run.parameters["params"])
        spec = load_spec(params.spec_path)
        window = window_of(params, spec)
    except Exception:  # a bad spec fails inside the run, with its own message
        return "monitor (invalid parameters)"
    return f"{spec.name} {window.label}"


@flow(
    name="monitor-model",
    flow_run_name=_run_name,
    log_prints=False,
    timeout_seconds=timeouts.FLOW,
)
def monitor_model(params: MonitorParams) -> dict[str, Any] | State:
    """Profile, check, measure drift and quality of one window; persist it; show what was seen.

    A window whose alerts could not all be delivered ends Completed, named 'Degraded'."""
    settings = DriftwiseSettings()
    configure_logging(settings.log_json)
    spec = load_spec(params.spec_path)
    window = window_of(params, spec)
    label_this_run(tags=[model_tag(spec.name)])
    with log_context(model=spec.name, window=window.label, run_id=str(runtime.flow_run.id or "")):
        return _monitor_window(params, settings, spec, window)


def _monitor_window(
    params: MonitorParams, settings: DriftwiseSettings, spec: MonitorSpec, window: Window
) -> dict[str, Any] | State:
    """The steps of one monitor run, in the order the UI shows them."""
    started = datetime.now(window.start.tzinfo)

    if params.relabel_days:
        since = window.start - timedelta(days=params.relabel_days)
        refresh_labels_task(spec, params.labels_as_of, since)
    window_rows, reference_rows = count_rows_task(spec, window)
    compute = effective_compute(spec, settings)
    if compute.mode != "local":  # asked for a cluster: the window is streamed through it
        evaluation = evaluate_window_on_cluster_task(
            spec, window, params.labels_as_of, settings.artifacts, params.write_report, compute
        )
    elif needs_streaming(spec, window_rows, reference_rows):
        evaluation = evaluate_window_streamed_task(
            spec, window, params.labels_as_of, settings.artifacts, params.write_report
        )
    else:
        data = load_window_task(spec, window, params.labels_as_of)
        reference = load_reference_task(spec)
        evaluation = evaluate_window_task(
            spec, data, reference, settings.artifacts, params.write_report
        )

    as_of = decision_time(params, window)
    register_serving_model_task(spec, as_of)
    run = RunInfo(
        status="succeeded",
        started_at=started,
        finished_at=datetime.now(window.start.tzinfo),
        code_version=driftwise.__version__,
        flow_run_id=str(runtime.flow_run.id or "") or None,
    )
    links = page_links(settings, spec.name, evaluation.report_path)
    report_url = links[0][1] if evaluation.report_path else None
    persist = persist_window_task.with_options(timeout_seconds=settings.persist_timeout_seconds)
    outcome = persist(
        spec, window, run, quote(evaluation), params.send_alerts, runtime.flow_run.ui_url,
        params.use_current_reference, report_url,
    )  # fmt: skip
    verdict = outcome.evaluation
    if spec.rollups:
        fill_rollups_task(spec, window.start, window.end, params.send_alerts)
    delivery = deliver_alerts_task(spec) if params.send_alerts and spec.alerts.channels else None
    if settings.pushgateway_url is not None:
        push_metrics_task(spec)

    action = (
        act_on(verdict, spec, params, window, as_of, evaluation.row_count)
        if params.allow_actions
        else None
    )

    report = str(evaluation.report_path) if evaluation.report_path else None
    reasons = [*verdict.reasons, *([action] if action else [])]
    records = [*evaluation.records, *outcome.records]
    summary = summarize(
        spec.name,
        window.label,
        records,
        decision=verdict.decision.value,
        reasons=reasons,
        report_path=report,
        rule_fired=any(result.firing for result in verdict.results),
        links=links,
    )
    if params.write_history:
        history_page_task(spec, settings.artifacts)
    if evaluation.report_path:
        report_verdict_task(spec, summary, evaluation.report_path, evaluation.report_sample)
    publish_artifacts_task(summary, quote(records), outcome.baseline)
    label_this_run(
        tags=[status_tag(summary.status)], name=f"{spec.name} {window.label} {summary.status}"
    )
    start = window.start.isoformat()
    result = {"window_start": start, **summary.__dict__, "status": summary.status}
    if delivery is not None and delivery.degraded:
        return degraded_state(spec.name, f"alert delivery: {delivery.summary()}", result)
    return result


def outcome_line(action: str, result: dict[str, Any]) -> str:
    """'retraining: rejected: challenger quality.roc_auc 0.81 vs champion 0.8: +0.0091 < margin
    0.01, ...': what a subflow did and why, for the summary and the demo, not only its log."""
    why = "; ".join(str(reason) for reason in result.get("reasons", []))
    return f"{action}: {result['status']}" + (f": {why}" if why else "")


def act_on(
    verdict: Evaluation,
    spec: MonitorSpec,
    params: MonitorParams,
    window: Window,
    as_of: datetime,
    rows: int | None = None,
) -> str | None:
    """Start the subflow the verdict calls for, or let a long-serving champion earn 'good'
    (neither on an empty window)."""
    step = follow_up(verdict, spec.actions, rows=rows)
    if step is FollowUp.RETRAIN:
        retrain = RetrainParams(
            spec_path=params.spec_path,
            reasons=list(verdict.reasons),
            as_of=as_of,
            window_start=window.start,
        )
        return outcome_line("retraining", retrain_model(retrain))
    if step is FollowUp.ROLLBACK:
        rollback = RollbackParams(
            spec_path=params.spec_path,
            reason="; ".join(verdict.reasons),
            decided_by="policy",
            as_of=as_of,
        )
        return outcome_line("rollback", rollback_model(rollback))
    if step is FollowUp.MARK_GOOD:
        mark_good_task(spec, as_of)
    return held_back(verdict, rows)
