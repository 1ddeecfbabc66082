"""The daily monitor flow: one window of one model, end to end."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from prefect import flow, runtime
from prefect.utilities.annotations import quote
from pydantic import BaseModel, Field

from driftwise import __version__
from flows.retrain import RetrainParams, retrain_model
from flows.rollback import RollbackParams, rollback_model
from monitoring_lib.observability.logs import configure_logging, log_context
from monitoring_lib.pipeline.streamed import needs_streaming
from monitoring_lib.pipeline.summary import summarize
from monitoring_lib.policy.followup import FollowUp, follow_up
from monitoring_lib.policy.rules import Evaluation
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import MonitorSpec, load_spec
from monitoring_lib.store.repository import RunInfo
from monitoring_lib.windows import Window, resolve_window
from tasks.actions import mark_good_task, register_serving_model_task
from tasks.artifacts import publish_artifacts_task
from tasks.monitoring import (
    count_rows_task,
    deliver_alerts_task,
    evaluate_window_streamed_task,
    evaluate_window_task,
    fill_rollups_task,
    load_reference_task,
    load_window_task,
    persist_window_task,
    push_metrics_task,
    refresh_labels_task,
)


class MonitorParams(BaseModel):
    """What one monitor run computes."""

    spec_path: str = Field(
        description="Path of the monitor spec (YAML) on the machine that runs the flow."
    )
    window_date: date | None = Field(
        default=None,
        description=(
            "Local start date of the window to compute. "
            "Empty: the last whole window before the run's scheduled time."
        ),
    )
    window_end: datetime | None = Field(
        default=None,
        description="End of the window to compute (sub-day windows, backfills); beats window_date.",
    )
    labels_as_of: datetime | None = Field(
        default=None,
        description=(
            "Use only labels that had arrived by this time (needs columns.label_timestamp). "
            "Empty: every label present now."
        ),
    )
    write_report: bool = Field(
        default=True, description="Write the Evidently HTML report for the window."
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
        scheduled=runtime.flow_run.scheduled_start_time,
    )


def _run_name() -> str:
    """'credit-default 2019-04-01': the model and the window the run computes."""
    try:
        params = MonitorParams.model_validate(runtime.flow_run.parameters["params"])
        spec = load_spec(params.spec_path)
        window = window_of(params, spec)
    except Exception:  # a bad spec fails inside the run, with its own message
        return "monitor (invalid parameters)"
    return f"{spec.name} {window.label}"


@flow(name="monitor-model", flow_run_name=_run_name, log_prints=False)
def monitor_model(params: MonitorParams) -> dict[str, Any]:
    """Profile, check, measure drift and quality of one window; persist it; show what was seen."""
    settings = DriftwiseSettings()
    configure_logging(settings.log_json)
    spec = load_spec(params.spec_path)
    window = window_of(params, spec)
    with log_context(model=spec.name, window=window.label, run_id=str(runtime.flow_run.id or "")):
        return _monitor_window(params, settings, spec, window)


def _monitor_window(
    params: MonitorParams, settings: DriftwiseSettings, spec: MonitorSpec, window: Window
) -> dict[str, Any]:
    """The steps of one monitor run, in the order the UI shows them."""
    started = datetime.now(window.start.tzinfo)

    if params.relabel_days:
        since = window.start - timedelta(days=params.relabel_days)
        refresh_labels_task(spec, params.labels_as_of, since)
    window_rows, reference_rows = count_rows_task(spec, window)
    if needs_streaming(spec, window_rows, reference_rows):
        evaluation = evaluate_window_streamed_task(
            spec, window, params.labels_as_of, settings.artifacts, params.write_report
        )
    else:
        data = load_window_task(spec, window, params.labels_as_of)
        reference = load_reference_task(spec)
        evaluation = evaluate_window_task(
            spec, data, reference, settings.artifacts, params.write_report
        )

    register_serving_model_task(spec, runtime.flow_run.scheduled_start_time or window.end)
    run = RunInfo(
        status="succeeded",
        started_at=started,
        finished_at=datetime.now(window.start.tzinfo),
        code_version=__version__,
        flow_run_id=str(runtime.flow_run.id or "") or None,
    )
    # quote(): Prefect would otherwise walk the hundreds of records looking for futures, twice
    # per task call; they are plain values computed above.
    outcome = persist_window_task(
        spec, window, run, quote(evaluation), params.send_alerts, runtime.flow_run.ui_url,
        params.use_current_reference,
    )  # fmt: skip
    verdict = outcome.evaluation
    if spec.rollups:
        fill_rollups_task(spec, window.start, window.end)
    if params.send_alerts and spec.alerts.channels:
        deliver_alerts_task(spec)
    if settings.pushgateway_url is not None:
        push_metrics_task(spec)

    as_of = params.labels_as_of or runtime.flow_run.scheduled_start_time
    action = act_on(verdict, spec, params, window, as_of) if params.allow_actions else None

    report = str(evaluation.report_path) if evaluation.report_path else None
    reasons = [*verdict.reasons, *([action] if action else [])]
    summary = summarize(
        spec.name,
        window.label,
        [*evaluation.records, *outcome.records],
        decision=verdict.decision.value,
        reasons=reasons,
        report_path=report,
    )
    publish_artifacts_task(summary, quote(evaluation.records), outcome.baseline)
    return {"window_start": window.start.isoformat(), **summary.__dict__, "status": summary.status}


def act_on(
    verdict: Evaluation, spec: MonitorSpec, params: MonitorParams, window: Window, as_of: datetime
) -> str | None:
    """Start the subflow the verdict calls for, or let a long-serving champion earn 'good'."""
    step = follow_up(verdict, spec.actions)
    if step is FollowUp.RETRAIN:
        retrain = RetrainParams(
            spec_path=params.spec_path,
            reasons=list(verdict.reasons),
            as_of=as_of,
            window_start=window.start,
        )
        return f"retraining: {retrain_model(retrain)['status']}"
    if step is FollowUp.ROLLBACK:
        rollback = RollbackParams(
            spec_path=params.spec_path,
            reason="; ".join(verdict.reasons),
            decided_by="policy",
            as_of=as_of,
        )
        return f"rollback: {rollback_model(rollback)['status']}"
    if step is FollowUp.MARK_GOOD:
        mark_good_task(spec, as_of)
    return None
