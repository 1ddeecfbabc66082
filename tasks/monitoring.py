"""Thin Prefect tasks around monitoring_lib: names the UI shows, retries where there are side
effects, and the run's logger. Frames pass in memory, so these tasks never hash their inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from monitoring_lib.alerts.channels.factory import channels_from_settings
from monitoring_lib.alerts.outbox import DeliveryReport, deliver_pending
from monitoring_lib.io.loading import WindowData, load_reference, load_window
from monitoring_lib.observability.prometheus import push_after_run
from monitoring_lib.pipeline.alerting import queue_critical_notice
from monitoring_lib.pipeline.distributed import dask_client, evaluate_window_on_cluster
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.late_labels import refresh_labels
from monitoring_lib.pipeline.persist import WindowOutcome, persist_window
from monitoring_lib.pipeline.rollups import fill_rollups, rollup_model_ids
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.pipeline.streamed import evaluate_window_streamed, rows_to_evaluate
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.window import ComputeSpec
from monitoring_lib.store.engine import open_store
from monitoring_lib.store.repository import RunInfo, completed_windows, ensure_model
from monitoring_lib.windows import Window
from tasks import timeouts
from tasks.retries import worth_retrying
from tasks.store import store_sessions


@task(name="load window", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
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


@task(name="load reference", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
def load_reference_task(spec: MonitorSpec) -> pd.DataFrame:
    return load_reference(spec)


@task(name="profile, check, drift, quality", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
def evaluate_window_task(
    spec: MonitorSpec,
    data: WindowData,
    reference: pd.DataFrame,
    artifacts: Path,
    write_report: bool,
) -> WindowEvaluation:
    evaluation = evaluate_window(
        spec, data, reference, artifacts=artifacts, write_report=write_report,
        profile_workers=DriftwiseSettings().profile_workers,
    )  # fmt: skip
    get_run_logger().info("stage timings (s): %s", evaluation.timings)
    return evaluation


@task(name="count rows", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
def count_rows_task(spec: MonitorSpec, window: Window) -> tuple[int, int]:
    """(window rows, reference rows), which decide whether the run loads its data whole."""
    window_rows, reference_rows = rows_to_evaluate(spec, window)
    get_run_logger().info(
        "%s %s: %d predictions, reference %d rows", spec.name, window.label, window_rows,
        reference_rows,
    )  # fmt: skip
    return window_rows, reference_rows


@task(
    name="profile, check, drift, quality (in chunks)",
    cache_policy=NO_CACHE,
    timeout_seconds=timeouts.STEP,
)
def evaluate_window_streamed_task(
    spec: MonitorSpec, window: Window, as_of: datetime | None, artifacts: Path, write_report: bool
) -> WindowEvaluation:
    """The same stages on a window read in chunks and column groups instead of loaded whole."""
    evaluation = evaluate_window_streamed(
        spec, window, artifacts=artifacts, as_of=as_of, write_report=write_report,
        profile_workers=DriftwiseSettings().profile_workers,
    )  # fmt: skip
    get_run_logger().info("stage timings (s): %s", evaluation.timings)
    return evaluation


@task(
    name="profile on Dask, check, drift, quality",
    cache_policy=NO_CACHE,
    timeout_seconds=timeouts.STEP,
)
def evaluate_window_on_cluster_task(
    spec: MonitorSpec,
    window: Window,
    as_of: datetime | None,
    artifacts: Path,
    write_report: bool,
    compute: ComputeSpec,
) -> WindowEvaluation:
    """The streamed stages with the window's profiling pass on the Dask workers; nothing is
    stored here, so a worker lost mid-window leaves nothing behind (persist comes after)."""
    with dask_client(compute) as client:
        evaluation = evaluate_window_on_cluster(
            spec, window, client, artifacts=artifacts, as_of=as_of, write_report=write_report
        )
    get_run_logger().info("stage timings (s): %s", evaluation.timings)
    return evaluation


@task(
    name="persist window, evaluate policy",
    cache_policy=NO_CACHE,
    timeout_seconds=timeouts.QUICK,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=worth_retrying,
)
def persist_window_task(
    spec: MonitorSpec,
    window: Window,
    run: RunInfo,
    evaluation: WindowEvaluation,
    raise_alerts: bool,
    run_url: str | None,
    use_current_reference: bool = False,
    report_url: str | None = None,
) -> WindowOutcome:
    """One transaction: metrics, profile and report locations, run row, policy verdict, alerts."""
    sessions = store_sessions()
    with sessions.begin() as session:
        outcome = persist_window(
            session, spec, window, run, evaluation, raise_alerts=raise_alerts, run_url=run_url,
            use_current_reference=use_current_reference, report_url=report_url,
        )  # fmt: skip
    logger = get_run_logger()
    logger.info("persisted %d metrics for %s %s", len(evaluation.records), spec.name, window.label)
    logger.info(
        "decision: %s; %s",
        outcome.evaluation.decision,
        "; ".join(outcome.evaluation.reasons) or "no rule fired",
    )
    return outcome


def with_secret_blocks(settings: DriftwiseSettings) -> DriftwiseSettings:
    """Slack secrets from Prefect Secret blocks, where settings name a block instead of a value."""
    updates: dict[str, SecretStr] = {}
    for field, block in (
        ("slack_token", settings.slack_token_block),
        ("slack_webhook_url", settings.slack_webhook_block),
    ):
        if getattr(settings, field) is None and block:
            updates[field] = SecretStr(str(Secret.load(block).get()))
    return settings.model_copy(update=updates) if updates else settings


@task(name="deliver alerts", cache_policy=NO_CACHE, timeout_seconds=timeouts.DELIVERY)
def deliver_alerts_task(spec: MonitorSpec) -> DeliveryReport:
    """Send what the outbox holds for this model (this window's and earlier runs' leftovers).

    No task retries: an alert Slack refused stays pending and the next run delivers it."""
    settings = with_secret_blocks(DriftwiseSettings())
    sessions = open_store(settings.store_url)
    configured = channels_from_settings(spec.alerts, settings)
    logger = get_run_logger()
    for problem in configured.problems:
        logger.warning(problem)
    with sessions() as session:
        models = [
            ensure_model(session, spec.name, spec.task.value),
            *rollup_model_ids(session, spec),
        ]
        session.commit()
    report = deliver_pending(sessions, configured.channels, now=datetime.now(UTC), model_id=models)
    logger.info(report.summary())
    return report


@task(name="find completed windows", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def completed_windows_task(
    spec: MonitorSpec, windows: list[Window], code_version: str | None = None
) -> set[datetime]:
    """Windows with a succeeded run (by ``code_version``, when given): a backfill skips them."""
    sessions = store_sessions()
    with sessions.begin() as session:
        model = ensure_model(session, spec.name, spec.task.value)
        return completed_windows(
            session, model, [w.start for w in windows], code_version=code_version
        )


@task(name="raise critical alert", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def critical_notice_task(spec: MonitorSpec, rule: str, reason: str, now: datetime) -> int:
    """Queue a critical alert that no metric rule raised (e.g. a rollback with no good version);
    the caller delivers it."""
    get_run_logger().error("%s: %s", spec.name, reason)
    with store_sessions().begin() as session:
        return queue_critical_notice(session, spec, rule, reason, now)


@task(
    name="rescore windows with late labels",
    cache_policy=NO_CACHE,
    timeout_seconds=timeouts.STEP,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=worth_retrying,
)
def refresh_labels_task(spec: MonitorSpec, as_of: datetime | None, since: datetime) -> int:
    """Quality of recent windows whose labels arrived since they ran; drift is left alone."""
    if spec.columns.target is None:
        return 0
    outcomes = refresh_labels(spec, store_sessions(), as_of=as_of, since=since)
    rescored = [o.window.label for o in outcomes if o.refreshed]
    if rescored:
        get_run_logger().info("rescored with late labels: %s", ", ".join(rescored))
    return len(rescored)


@task(name="push metrics", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def push_metrics_task(spec: MonitorSpec) -> None:
    """The model's latest values to the Pushgateway, when one is configured."""
    settings = DriftwiseSettings()
    result = push_after_run(spec.name, settings.store_url, settings)
    if result is not None:
        logger = get_run_logger()
        (logger.info if result.ok else logger.warning)(result.message)


@task(name="roll up completed weeks and months", cache_policy=NO_CACHE)
def fill_rollups_task(
    spec: MonitorSpec, start: datetime, end: datetime, raise_alerts: bool = False
) -> list[str]:
    """Merge the stored windows of every week or month that completes in (start, end], and
    queue the alerts the roll-ups' rules raise when asked."""
    artifacts = DriftwiseSettings().artifacts
    rollups = fill_rollups(store_sessions(), spec, start, end, artifacts, raise_alerts=raise_alerts)
    done = [f"{r.granularity} {r.period.label} ({r.windows} windows)" for r in rollups]
    if done:
        get_run_logger().info("rolled up: %s", "; ".join(done))
    return done
