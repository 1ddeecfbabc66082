"""Persist one evaluated window: metrics, profile locations, report and run row, the policy's
evaluation and the alerts it raises, all in the caller's one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from monitoring_lib.pipeline.alerting import queue_breach_alerts
from monitoring_lib.pipeline.counts_store import store_quality_counts
from monitoring_lib.pipeline.impact import impact_records
from monitoring_lib.pipeline.reruns import check_rerun_reference, record_run_reference
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.policy import store as policy_store
from monitoring_lib.policy.rules import Evaluation
from monitoring_lib.policy.slo import slo_period_records
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.repository import (
    AlertDraft,
    ProfileRef,
    RunInfo,
    ensure_model,
    model_id,
    record_reference_profile,
    replace_window,
    require_model_id,
)
from monitoring_lib.windows import Window


def persist_evaluation(
    session: Session,
    spec: MonitorSpec,
    window: Window,
    run: RunInfo,
    evaluation: WindowEvaluation,
    *,
    extra_records: Sequence[MetricRecord] = (),
    alerts: Sequence[AlertDraft] = (),
) -> int:
    """Write the window inside the caller's transaction; returns the run id."""
    model = ensure_model(session, spec.name, spec.task.value)
    reference = evaluation.reference_profile
    record_reference_profile(
        session, model, reference.content_hash, reference.path.as_uri(), reference.row_count
    )
    profiles = []
    if evaluation.profile_path is not None:
        profiles.append(
            ProfileRef(uri=evaluation.profile_path.as_uri(), row_count=evaluation.row_count)
        )
    report = evaluation.report_path.as_uri() if evaluation.report_path else None
    run = replace(
        run,
        row_count=evaluation.row_count,
        timings={**evaluation.timings, **run.timings},
        report_uri=report,
        report_rows=evaluation.report_rows,
    )
    records = [*evaluation.records, *extra_records]
    run_id = replace_window(session, model, window, run, records, profiles, alerts)
    store_quality_counts(session, model, window, run_id, evaluation.quality_counts)
    record_run_reference(session, run_id, reference.content_hash)
    return run_id


@dataclass(frozen=True)
class WindowOutcome:
    run_id: int
    evaluation: Evaluation
    alerts_queued: int
    baseline: dict[str, float]
    """The metrics of the champion in force at the window, which relative rules compared with."""
    records: tuple[MetricRecord, ...] = ()
    """Records computed from the store while persisting (SLO compliance and budget, and
    ``drift.impact`` of each drifted column)."""


def persist_window(
    session: Session,
    spec: MonitorSpec,
    window: Window,
    run: RunInfo,
    evaluation: WindowEvaluation,
    *,
    raise_alerts: bool = True,
    run_url: str | None = None,
    use_current_reference: bool = False,
    report_url: str | None = None,
) -> WindowOutcome:
    """Write the window, evaluate the policy on it (and its history), queue the alerts it raises.

    Alerts link the report at ``report_url`` (an http(s) URL), else at its file.
    A rerun computed against another reference than the window's first run is refused
    (``reruns.ReferenceChangedError``) unless ``use_current_reference``.
    """
    reference = evaluation.reference_profile
    check_rerun_reference(
        session, spec.name, window, reference.content_hash, reference.row_count,
        use_current=use_current_reference,
    )  # fmt: skip
    slo_records = slo_period_records(
        session, model_id(session, spec.name), spec.service.slos, window.start, evaluation.records
    )
    impact = impact_records(session, spec, window.start, evaluation.records)
    from_store = [*slo_records, *impact]
    run_id = persist_evaluation(session, spec, window, run, evaluation, extra_records=from_store)
    session.flush()
    model = require_model_id(session, spec.name)
    verdict = policy_store.decide_stored_window(session, spec.name, spec.policy, window.start)
    drafts: list[AlertDraft] = []
    if raise_alerts and spec.alerts.channels:
        report = report_url or (evaluation.report_path.as_uri() if evaluation.report_path else None)
        drafts = queue_breach_alerts(
            session, spec, model, spec.name, window, verdict, evaluation.records,
            policy=spec.policy, run_url=run_url, report_url=report,
        )  # fmt: skip
    return WindowOutcome(
        run_id,
        verdict,
        len(drafts),
        policy_store.champion_in_force(session, model, window.start).metrics,
        tuple(from_store),
    )
