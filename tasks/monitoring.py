"""Thin Prefect tasks around monitoring_lib: names the UI shows, retries where there are side
effects, and the run's logger. Frames pass in memory, so these tasks never hash their inputs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from monitoring_lib.engine import WindowEvaluation, evaluate_window
from monitoring_lib.loading import WindowData, load_reference, load_window
from monitoring_lib.persist import persist_evaluation
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec import MonitorSpec
from monitoring_lib.store.engine import open_store
from monitoring_lib.store.repository import RunInfo, completed_windows, ensure_model
from monitoring_lib.windows import Window


@task(name="load window", cache_policy=NO_CACHE)
def load_window_task(spec: MonitorSpec, window: Window, as_of: datetime | None) -> WindowData:
    data = load_window(spec, window, as_of=as_of)
    get_run_logger().info(
        "%s %s: %d predictions, %d labelled, missing columns %s",
        spec.name,
        window.label,
        len(data.frame),
        data.labelled_rows,
        list(data.missing_columns) or "none",
    )
    return data


@task(name="load reference", cache_policy=NO_CACHE)
def load_reference_task(spec: MonitorSpec) -> pd.DataFrame:
    return load_reference(spec)


@task(name="profile, check, drift, quality", cache_policy=NO_CACHE)
def evaluate_window_task(
    spec: MonitorSpec,
    data: WindowData,
    reference: pd.DataFrame,
    artifacts: Path,
    write_report: bool,
) -> WindowEvaluation:
    evaluation = evaluate_window(
        spec, data, reference, artifacts=artifacts, write_report=write_report
    )
    get_run_logger().info("stage timings (s): %s", evaluation.timings)
    return evaluation


@task(name="persist window", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def persist_window_task(
    spec: MonitorSpec, window: Window, run: RunInfo, evaluation: WindowEvaluation
) -> int:
    """One transaction: the window's metrics, profile and report locations and run row."""
    sessions = open_store(DriftwiseSettings().store_url)
    with sessions.begin() as session:
        run_id = persist_evaluation(session, spec, window, run, evaluation)
    get_run_logger().info(
        "persisted %d metrics for %s %s", len(evaluation.records), spec.name, window.label
    )
    return run_id


@task(name="find completed windows", cache_policy=NO_CACHE)
def completed_windows_task(spec: MonitorSpec, windows: list[Window]) -> set[datetime]:
    sessions = open_store(DriftwiseSettings().store_url)
    with sessions.begin() as session:
        model = ensure_model(session, spec.name, spec.task.value)
        return completed_windows(session, model, [w.start for w in windows])
