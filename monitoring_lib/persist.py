"""Persist one evaluated window: metrics, profile locations, report and run row, together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from monitoring_lib.engine import WindowEvaluation
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec import MonitorSpec
from monitoring_lib.store.repository import (
    AlertDraft,
    ProfileRef,
    RunInfo,
    ensure_model,
    record_reference_profile,
    replace_window,
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
    return replace_window(session, model, window, run, records, profiles, alerts)
